//! Market data entries (one NoMDEntries group entry each) and how the bodies of W and X
//! write them.

use arbiter_engine::{OrderId, Price, Qty};

use super::request::{EntryType, ReqId};
use crate::dictionary::tag;
use crate::encode::MessageBuilder;

/// MDUpdateAction (279).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// `0`.
    New = b'0' as isize,
    /// `1`.
    Change = b'1' as isize,
    /// `2`.
    Delete = b'2' as isize,
}

/// One market data entry waiting to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) action: Action,
    pub(crate) entry_type: EntryType,
    /// MDEntryPx (270).
    pub(crate) price: Option<Price>,
    /// MDEntrySize (271).
    pub(crate) size: Option<Qty>,
    /// NumberOfOrders (346), price levels only.
    pub(crate) orders: Option<u32>,
    /// The order (MDEntryID 278, or OrderID 37 in a FIX.4.4 W), order by order only.
    pub(crate) order_id: Option<OrderId>,
}

/// Filler for preallocated entry arrays.
pub(crate) const ENTRY_NONE: Entry = Entry {
    action: Action::New,
    entry_type: EntryType::Bid,
    price: None,
    size: None,
    orders: None,
    order_id: None,
};

/// A trade or statistic entry: volume has only a size, a trade both, the rest a price.
pub(crate) fn stat_entry(entry_type: EntryType, price: Price, qty: Qty) -> Entry {
    let volume = entry_type == EntryType::Volume;
    Entry {
        action: Action::New,
        entry_type,
        price: (!volume).then_some(price),
        size: (volume || entry_type == EntryType::Trade).then_some(qty),
        orders: None,
        order_id: None,
    }
}

/// The body of an X: `entries` of one instrument, RptSeq from `first_rpt_seq` on.
pub(crate) fn write_increment(
    b: &mut MessageBuilder<'_>,
    req_id: &ReqId,
    symbol: &[u8],
    decimals: u32,
    entries: &[Entry],
    first_rpt_seq: u64,
) {
    b.push_str(tag::MD_REQ_ID, req_id.as_bytes());
    b.push_u64(tag::NO_MD_ENTRIES, entries.len() as u64);
    for (i, entry) in entries.iter().enumerate() {
        b.push_char(tag::MD_UPDATE_ACTION, entry.action as u8);
        b.push_char(tag::MD_ENTRY_TYPE, entry.entry_type.fix());
        if let Some(order_id) = entry.order_id {
            b.push_u64(tag::MD_ENTRY_ID, order_id.0);
        }
        b.push_str(tag::SYMBOL, symbol);
        if let Some(price) = entry.price {
            b.push_decimal(tag::MD_ENTRY_PX, price.0, decimals);
        }
        if let Some(size) = entry.size {
            b.push_u64(tag::MD_ENTRY_SIZE, size.0);
        }
        if let Some(orders) = entry.orders {
            b.push_u64(tag::NUMBER_OF_ORDERS, u64::from(orders));
        }
        b.push_u64(tag::RPT_SEQ, first_rpt_seq + i as u64);
    }
}

/// The body of a W. `fixt` is `Some((RptSeq, MDBookType))` on FIX.5.0SP2, which also
/// names orders in MDEntryID (278); FIX.4.4 names them in OrderID (37).
pub(crate) fn write_snapshot(
    b: &mut MessageBuilder<'_>,
    req_id: &ReqId,
    symbol: &[u8],
    decimals: u32,
    fixt: Option<(u64, u64)>,
    entries: &[Entry],
) {
    b.push_str(tag::MD_REQ_ID, req_id.as_bytes());
    b.push_str(tag::SYMBOL, symbol);
    if let Some((rpt_seq, book_type)) = fixt {
        b.push_u64(tag::RPT_SEQ, rpt_seq);
        b.push_u64(tag::MD_BOOK_TYPE, book_type);
    }
    b.push_u64(tag::NO_MD_ENTRIES, entries.len() as u64);
    for entry in entries {
        b.push_char(tag::MD_ENTRY_TYPE, entry.entry_type.fix());
        if let (Some(order_id), Some(_)) = (entry.order_id, fixt) {
            b.push_u64(tag::MD_ENTRY_ID, order_id.0);
        }
        if let Some(price) = entry.price {
            b.push_decimal(tag::MD_ENTRY_PX, price.0, decimals);
        }
        if let Some(size) = entry.size {
            b.push_u64(tag::MD_ENTRY_SIZE, size.0);
        }
        if let (Some(order_id), None) = (entry.order_id, fixt) {
            b.push_u64(tag::ORDER_ID, order_id.0);
        }
        if let Some(orders) = entry.orders {
            b.push_u64(tag::NUMBER_OF_ORDERS, u64::from(orders));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::dictionary::FixVersion;

    #[test]
    fn increment_body() {
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"X");
        let entries = [
            Entry {
                action: Action::Change,
                entry_type: EntryType::Bid,
                price: Some(Price(10_050)),
                size: Some(Qty(7)),
                orders: Some(2),
                order_id: None,
            },
            stat_entry(EntryType::Volume, Price(1), Qty(30)),
        ];
        let id = ReqId::new(b"R").unwrap();
        write_increment(&mut b, &id, b"XYZ", 2, &entries, 41);
        let msg = b.finish().unwrap();
        let text = String::from_utf8_lossy(decode(msg).unwrap().as_bytes()).replace('\x01', "|");
        assert!(
            text.contains(
                "262=R|268=2|279=1|269=0|55=XYZ|270=100.5|271=7|346=2|83=41|279=0|269=B|55=XYZ|271=30|83=42|"
            ),
            "{text}"
        );
    }
}
