//! The gateway's view of orders: who owns each engine order, its client ids and its fill
//! state, rebuilt from events (live, and on restart from the journal's replay).
//! Preallocated: a full table refuses new orders instead of growing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use arbiter_engine::{InstrumentId, OrdType, OrderId, Price, Qty, Side, TimeInForce};

/// A client order id, stored inline (FIX ClOrdID up to 32 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Ord, PartialOrd, Serialize, Deserialize,
)]
pub struct ClientId {
    len: u8,
    bytes: [u8; ClientId::BYTES_MAX],
}

impl ClientId {
    /// Longest accepted ClOrdID.
    pub const BYTES_MAX: usize = 32;

    /// `None` when empty or longer than [`ClientId::BYTES_MAX`].
    #[must_use]
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.is_empty() || bytes.len() > Self::BYTES_MAX {
            return None;
        }
        let mut id = ClientId::default();
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        id.len = bytes.len() as u8;
        Some(id)
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A stable 64-bit hash (FNV-1a), journaled for the engine's duplicate check.
    #[must_use]
    pub fn hash64(&self) -> u64 {
        self.as_bytes().iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

/// What the gateway remembers of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// FIX session that owns it.
    pub session: u32,
    /// Current ClOrdID (changes on replace).
    pub client_id: ClientId,
    /// Previous ClOrdID (OrigClOrdID on the replace report).
    pub orig_client_id: ClientId,
    /// Account index.
    pub account: u32,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Order type as sent.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price.
    pub price: Price,
    /// Stop price.
    pub stop_price: Price,
    /// OrderQty.
    pub qty: Qty,
    /// CumQty.
    pub cum_qty: Qty,
    /// LeavesQty.
    pub leaves: Qty,
    /// Sum of price × qty over fills, for AvgPx.
    pub notional: i128,
}

impl OrderRecord {
    /// AvgPx in price units (rounded down), zero before the first fill.
    #[must_use]
    pub fn avg_price(&self) -> i64 {
        if self.cum_qty.0 == 0 {
            0
        } else {
            (self.notional / i128::from(self.cum_qty.0)) as i64
        }
    }

    /// OrdStatus (39) while the order lives.
    #[must_use]
    pub fn live_status(&self) -> u8 {
        if self.leaves.0 == 0 && self.cum_qty.0 > 0 {
            b'2'
        } else if self.cum_qty.0 > 0 {
            b'1'
        } else {
            b'0'
        }
    }
}

/// Orders by engine id, and engine ids by (session, ClOrdID).
#[derive(Debug)]
pub struct OrderTable {
    orders: HashMap<u64, OrderRecord>,
    client_ids: HashMap<(u32, ClientId), u64>,
    capacity: usize,
    next_order_id: u64,
}

impl OrderTable {
    /// A table for `capacity` orders and client ids (tables are sized at twice that so that
    /// they never reallocate).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        OrderTable {
            orders: HashMap::with_capacity(capacity * 2),
            client_ids: HashMap::with_capacity(capacity * 2),
            capacity,
            next_order_id: 1,
        }
    }

    /// The next engine order id to hand out.
    pub fn allocate_order_id(&mut self) -> OrderId {
        let id = self.next_order_id;
        self.next_order_id += 1;
        OrderId(id)
    }

    /// Whether a new client id fits.
    #[must_use]
    pub fn has_room(&self) -> bool {
        // A live order holds at most two client ids (its current and its previous one).
        self.client_ids.len() < self.capacity * 2 && self.orders.len() < self.capacity
    }

    /// The order a session's ClOrdID names.
    #[must_use]
    pub fn lookup_client(&self, session: u32, client_id: &ClientId) -> Option<OrderId> {
        self.client_ids
            .get(&(session, *client_id))
            .map(|&id| OrderId(id))
    }

    /// Claims a client id for an order; false if the session used it already.
    pub fn claim_client(&mut self, session: u32, client_id: ClientId, order: OrderId) -> bool {
        if self.client_ids.contains_key(&(session, client_id)) {
            return false;
        }
        self.client_ids.insert((session, client_id), order.0);
        self.next_order_id = self.next_order_id.max(order.0 + 1);
        true
    }

    /// Forgets a client id (its order finished or was refused), so the table stays bounded
    /// by the live orders. Duplicate ClOrdIDs within the day are still refused by the
    /// engine's per-session check.
    pub fn release_client(&mut self, session: u32, client_id: &ClientId) {
        self.client_ids.remove(&(session, *client_id));
    }

    /// Records a new order.
    pub fn insert(&mut self, order: OrderId, record: OrderRecord) {
        self.next_order_id = self.next_order_id.max(order.0 + 1);
        self.orders.insert(order.0, record);
    }

    /// An order's record.
    #[must_use]
    pub fn get(&self, order: OrderId) -> Option<&OrderRecord> {
        self.orders.get(&order.0)
    }

    /// An order's record, to update.
    pub fn get_mut(&mut self, order: OrderId) -> Option<&mut OrderRecord> {
        self.orders.get_mut(&order.0)
    }

    /// Every order the table holds, in no particular order (admin reports, the replay
    /// tool's read-outs; not the order path).
    pub fn iter(&self) -> impl Iterator<Item = (OrderId, &OrderRecord)> {
        self.orders
            .iter()
            .map(|(&id, record)| (OrderId(id), record))
    }

    /// Forgets a finished order (its client id stays claimed for the day).
    pub fn remove(&mut self, order: OrderId) -> Option<OrderRecord> {
        self.orders.remove(&order.0)
    }
}

/// The serialized form of an [`OrderTable`], entries sorted so that equal tables give equal
/// bytes.
#[derive(Serialize, Deserialize)]
pub struct OrderTableImage {
    capacity: usize,
    next_order_id: u64,
    orders: Vec<(u64, OrderRecord)>,
    client_ids: Vec<((u32, ClientId), u64)>,
}

impl OrderTable {
    /// The table's state, for a snapshot.
    #[must_use]
    pub fn image(&self) -> OrderTableImage {
        let mut orders: Vec<(u64, OrderRecord)> = self
            .orders
            .iter()
            .map(|(&id, &record)| (id, record))
            .collect();
        orders.sort_unstable_by_key(|(id, _)| *id);
        let mut client_ids: Vec<((u32, ClientId), u64)> = self
            .client_ids
            .iter()
            .map(|(&key, &id)| (key, id))
            .collect();
        client_ids.sort_unstable_by_key(|(key, _)| *key);
        OrderTableImage {
            capacity: self.capacity,
            next_order_id: self.next_order_id,
            orders,
            client_ids,
        }
    }

    /// Loads a snapshot's state into this (preallocated, same capacity) table. The maps keep
    /// the capacity they were built with: contents beyond the table's capacity are refused
    /// rather than grown into.
    ///
    /// # Errors
    /// A text when the image was taken with another capacity or does not fit.
    pub fn restore(&mut self, image: OrderTableImage) -> Result<(), String> {
        if image.capacity != self.capacity {
            return Err(format!(
                "order table capacity {} in the snapshot, {} configured",
                image.capacity, self.capacity
            ));
        }
        if image.orders.len() > self.capacity * 2 || image.client_ids.len() > self.capacity * 2 {
            return Err("order table snapshot larger than the table".to_owned());
        }
        self.orders.clear();
        self.client_ids.clear();
        self.orders.extend(image.orders);
        self.client_ids.extend(image.client_ids);
        self.next_order_id = image.next_order_id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_unique_per_session() {
        let mut table = OrderTable::with_capacity(4);
        let a = ClientId::new(b"A").unwrap();
        assert!(table.claim_client(1, a, OrderId(7)));
        assert!(!table.claim_client(1, a, OrderId(8)));
        assert!(table.claim_client(2, a, OrderId(8)));
        assert_eq!(table.lookup_client(1, &a), Some(OrderId(7)));
        assert_eq!(table.allocate_order_id(), OrderId(9));
    }

    #[test]
    fn released_client_ids_free_their_room() {
        let mut table = OrderTable::with_capacity(1);
        let a = ClientId::new(b"A").unwrap();
        let b = ClientId::new(b"B").unwrap();
        assert!(table.claim_client(1, a, OrderId(1)));
        assert!(table.claim_client(1, b, OrderId(2)));
        assert!(!table.has_room(), "two ids fill a one-order table");
        table.release_client(1, &a);
        table.release_client(1, &b);
        assert!(table.has_room());
        assert_eq!(table.lookup_client(1, &a), None);
    }

    #[test]
    fn client_id_length_is_bounded() {
        assert!(ClientId::new(b"").is_none());
        assert!(ClientId::new(&[b'x'; 33]).is_none());
        assert!(ClientId::new(&[b'x'; 32]).is_some());
    }
}
