//! Market data harness: a test sink that frames what `MdSubscriptions` sends (with a
//! queue room the test controls), and a FIX client model that rebuilds books from the
//! decoded W and X messages and checks RptSeq.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use arbiter_engine::{Engine, InstrumentId, Side};
use arbiter_fix::dictionary::{tag, MD_FULL_ENTRIES, MD_INC_ENTRIES};
use arbiter_fix::market_data::{MdConfig, MdInstrument, MdSink, RequestLimits};
use arbiter_fix::{
    decode, parse_decimal, validate, FixVersion, Header, Message, MessageBuilder, SessionId,
    TimestampPrecision,
};

/// Price decimals of every test instrument: engine price 1000 is "10" on the wire.
pub const DECIMALS: u32 = 2;

pub fn md_config(sessions: usize) -> MdConfig {
    MdConfig {
        sessions_max: sessions,
        subscriptions_per_session_max: 16,
        subscriptions_max: 256,
        orders_max: 1 << 14,
        levels_per_side_max: 64,
        limits: RequestLimits {
            depth_max: 10,
            full_depth: true,
        },
        message_bytes_max: 8192,
        trading_session_id: "DAY",
    }
}

pub fn md_instruments(count: u32) -> Vec<MdInstrument> {
    (0..count)
        .map(|i| {
            let mut instrument = MdInstrument::from_engine(
                &arbiter_engine::Instrument::simple(i, &format!("SIM{i}")),
                DECIMALS,
            );
            if i == 0 {
                instrument.currency = Some(*b"EUR");
                instrument.isin = Some(*b"XS0000000001");
            }
            instrument
        })
        .collect()
}

/// Frames every message with a header into a buffer of `message_bytes_max` and keeps
/// them per session; `room[session]` shrinks by what is sent.
#[derive(Debug)]
pub struct TestSink {
    pub versions: Vec<FixVersion>,
    pub room: Vec<usize>,
    pub out: Vec<Vec<Vec<u8>>>,
    pub seq: Vec<u64>,
    pub encode_failures: u64,
    buf: Vec<u8>,
}

impl TestSink {
    pub fn new(versions: Vec<FixVersion>, message_bytes_max: usize) -> Self {
        let n = versions.len();
        TestSink {
            versions,
            room: vec![usize::MAX / 2; n],
            out: vec![Vec::new(); n],
            seq: vec![1; n],
            encode_failures: 0,
            buf: vec![0; message_bytes_max],
        }
    }

    pub fn take(&mut self, session: usize) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out[session])
    }
}

impl MdSink for TestSink {
    fn room_bytes(&self, session: SessionId) -> usize {
        self.room[session.0 as usize]
    }

    fn send(
        &mut self,
        session: SessionId,
        msg_type: &[u8],
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        let s = session.0 as usize;
        let mut b = MessageBuilder::new(&mut self.buf, self.versions[s], msg_type);
        b.header(&Header {
            sender_comp_id: b"ARBITER",
            target_comp_id: b"CLIENT01",
            msg_seq_num: self.seq[s],
            sending_time_ns: 1_700_000_000_000_000_000,
            precision: TimestampPrecision::Millis,
            orig_sending_time_ns: None,
        });
        body(&mut b);
        match b.finish() {
            Ok(bytes) => {
                assert!(
                    bytes.len() <= self.room[s],
                    "sent {} bytes with room {}",
                    bytes.len(),
                    self.room[s]
                );
                self.room[s] -= bytes.len();
                self.seq[s] += 1;
                self.out[s].push(bytes.to_vec());
                true
            }
            Err(_) => {
                self.encode_failures += 1;
                false
            }
        }
    }
}

/// `body` ("35=V|262=...|") as a decodable message.
pub fn raw(version: FixVersion, body: &str) -> Vec<u8> {
    let begin = match version {
        FixVersion::Fix44 => "FIX.4.4",
        FixVersion::Fixt11 => "FIXT.1.1",
    };
    format!("8={begin}|9=0|{body}10=000|")
        .replace('|', "\x01")
        .into_bytes()
}

/// One subscription's picture of one instrument, as a client rebuilds it.
#[derive(Clone, Debug, Default)]
pub struct ClientBook {
    /// [bids, offers]: price -> (size, orders).
    pub levels: [BTreeMap<i64, (u64, u32)>; 2],
    /// [bids, offers]: (id, price, size) in priority order.
    pub orders: [Vec<(u64, i64, u64)>; 2],
    pub trades: u64,
    pub last: Option<(i64, u64)>,
    pub open: Option<i64>,
    pub close: Option<i64>,
    pub high: Option<i64>,
    pub low: Option<i64>,
    pub volume: Option<u64>,
    pub rpt_seq: u64,
    pub snapshots: u64,
}

impl ClientBook {
    /// Levels best first.
    pub fn levels_best_first(&self, side: Side) -> Vec<(i64, u64, u32)> {
        let ladder = self.levels[side.index()]
            .iter()
            .map(|(&p, &(q, c))| (p, q, c));
        match side {
            Side::Buy => ladder.rev().collect(),
            Side::Sell => ladder.collect(),
        }
    }

    fn insert_order(&mut self, side: Side, id: u64, price: i64, qty: u64) -> Result<(), String> {
        let list = &mut self.orders[side.index()];
        if list.iter().any(|o| o.0 == id) {
            return Err(format!("new for order {id} already shown"));
        }
        let worse = |p: i64| match side {
            Side::Buy => p < price,
            Side::Sell => p > price,
        };
        let at = list.iter().position(|o| worse(o.1)).unwrap_or(list.len());
        list.insert(at, (id, price, qty));
        Ok(())
    }
}

/// A FIX client of one session: books per (MDReqID, Symbol), every message checked
/// against the dictionary.
#[derive(Debug)]
pub struct Client {
    pub version: FixVersion,
    pub books: HashMap<(String, String), ClientBook>,
    pub rejects: Vec<(String, Option<u8>, String)>,
    pub statuses: Vec<(String, u64)>,
    pub session_statuses: Vec<u64>,
    pub security_lists: Vec<Vec<u8>>,
    pub messages: u64,
}

fn text(value: Option<&[u8]>) -> String {
    String::from_utf8_lossy(value.unwrap_or_default()).into_owned()
}

fn side_of(entry_type: u8) -> Option<Side> {
    match entry_type {
        b'0' => Some(Side::Buy),
        b'1' => Some(Side::Sell),
        _ => None,
    }
}

fn number(value: Option<&[u8]>, what: &str) -> Result<u64, String> {
    value
        .and_then(arbiter_fix::parse_u64)
        .ok_or_else(|| format!("{what} missing or bad"))
}

fn price(value: Option<&[u8]>) -> Result<i64, String> {
    value
        .and_then(|v| parse_decimal(v, DECIMALS))
        .ok_or_else(|| "MDEntryPx missing or bad".to_string())
}

impl Client {
    pub fn new(version: FixVersion) -> Self {
        Client {
            version,
            books: HashMap::new(),
            rejects: Vec::new(),
            statuses: Vec::new(),
            session_statuses: Vec::new(),
            security_lists: Vec::new(),
            messages: 0,
        }
    }

    pub fn book(&self, req_id: &str, symbol: &str) -> Option<&ClientBook> {
        self.books.get(&(req_id.to_string(), symbol.to_string()))
    }

    pub fn apply_all(&mut self, messages: &[Vec<u8>]) -> Result<(), String> {
        for m in messages {
            self.apply(m).map_err(|e| {
                format!("{e} in {}", String::from_utf8_lossy(m).replace('\x01', "|"))
            })?;
        }
        Ok(())
    }

    pub fn apply(&mut self, bytes: &[u8]) -> Result<(), String> {
        let msg = decode(bytes).map_err(|e| e.to_string())?;
        validate(&msg, self.version).map_err(|e| format!("invalid: {e:?}"))?;
        self.messages += 1;
        match msg.msg_type() {
            b"W" => self.on_snapshot(&msg),
            b"X" => self.on_increment(&msg),
            b"Y" => {
                self.rejects.push((
                    text(msg.get(tag::MD_REQ_ID)),
                    msg.get(tag::MD_REQ_REJ_REASON).map(|r| r[0]),
                    text(msg.get(tag::TEXT)),
                ));
                Ok(())
            }
            b"f" => {
                let status = number(msg.get(tag::SECURITY_TRADING_STATUS), "326")?;
                self.statuses.push((text(msg.get(tag::SYMBOL)), status));
                Ok(())
            }
            b"h" => {
                self.session_statuses
                    .push(number(msg.get(tag::TRAD_SES_STATUS), "340")?);
                Ok(())
            }
            b"y" => {
                self.security_lists.push(bytes.to_vec());
                Ok(())
            }
            other => Err(format!(
                "unexpected MsgType {}",
                String::from_utf8_lossy(other)
            )),
        }
    }

    fn on_snapshot(&mut self, msg: &Message<'_>) -> Result<(), String> {
        let key = (text(msg.get(tag::MD_REQ_ID)), text(msg.get(tag::SYMBOL)));
        let book = self.books.entry(key).or_default();
        let rpt_seq = book.rpt_seq + 1;
        match (self.version, msg.get(tag::RPT_SEQ)) {
            (FixVersion::Fixt11, Some(value)) => {
                let seq = number(Some(value), "83")?;
                // After a conflation the W takes the next number: no gap either.
                if seq != rpt_seq {
                    return Err(format!("W RptSeq {seq}, expected {rpt_seq}"));
                }
            }
            (FixVersion::Fixt11, None) => return Err("FIXT W without RptSeq".into()),
            (FixVersion::Fix44, Some(_)) => return Err("FIX.4.4 W with RptSeq".into()),
            (FixVersion::Fix44, None) => {}
        }
        if self.version == FixVersion::Fixt11 {
            let book_type = number(msg.get(tag::MD_BOOK_TYPE), "1021")?;
            if !(1..=3).contains(&book_type) {
                return Err(format!("MDBookType {book_type}"));
            }
        } else if msg.get(tag::MD_BOOK_TYPE).is_some() {
            return Err("FIX.4.4 W with MDBookType".into());
        }
        *book = ClientBook {
            rpt_seq,
            snapshots: book.snapshots + 1,
            ..ClientBook::default()
        };
        let id_tag = match self.version {
            FixVersion::Fix44 => tag::ORDER_ID,
            FixVersion::Fixt11 => tag::MD_ENTRY_ID,
        };
        for entry in msg.group(&MD_FULL_ENTRIES) {
            let entry_type = entry.get(tag::MD_ENTRY_TYPE).ok_or("269 missing")?[0];
            if let Some(side) = side_of(entry_type) {
                let px = price(entry.get(tag::MD_ENTRY_PX))?;
                let size = number(entry.get(tag::MD_ENTRY_SIZE), "271")?;
                if let Some(id) = entry.get(id_tag) {
                    let id = number(Some(id), "order id")?;
                    book.insert_order(side, id, px, size)?;
                } else {
                    let count = number(entry.get(tag::NUMBER_OF_ORDERS), "346")?;
                    let count = u32::try_from(count).map_err(|e| e.to_string())?;
                    if book.levels[side.index()]
                        .insert(px, (size, count))
                        .is_some()
                    {
                        return Err(format!("W with price {px} twice"));
                    }
                }
            } else {
                Self::statistic(
                    book,
                    entry_type,
                    entry.get(tag::MD_ENTRY_PX),
                    entry.get(tag::MD_ENTRY_SIZE),
                )?;
            }
        }
        Ok(())
    }

    fn statistic(
        book: &mut ClientBook,
        entry_type: u8,
        px: Option<&[u8]>,
        size: Option<&[u8]>,
    ) -> Result<(), String> {
        match entry_type {
            b'2' => {
                book.trades += 1;
                book.last = Some((price(px)?, number(size, "271")?));
            }
            b'4' => book.open = Some(price(px)?),
            b'5' => book.close = Some(price(px)?),
            b'7' => book.high = Some(price(px)?),
            b'8' => book.low = Some(price(px)?),
            b'B' => book.volume = Some(number(size, "271")?),
            other => return Err(format!("unexpected MDEntryType {}", other as char)),
        }
        Ok(())
    }

    fn on_increment(&mut self, msg: &Message<'_>) -> Result<(), String> {
        let req_id = text(msg.get(tag::MD_REQ_ID));
        for entry in msg.group(&MD_INC_ENTRIES) {
            let symbol = text(entry.get(tag::SYMBOL));
            let book = self
                .books
                .get_mut(&(req_id.clone(), symbol.clone()))
                .ok_or_else(|| format!("X for {req_id}/{symbol} before its W"))?;
            let seq = number(entry.get(tag::RPT_SEQ), "83")?;
            if seq != book.rpt_seq + 1 {
                return Err(format!("RptSeq {seq} after {}", book.rpt_seq));
            }
            book.rpt_seq = seq;
            let action = entry.get(tag::MD_UPDATE_ACTION).ok_or("279 missing")?[0];
            let entry_type = entry.get(tag::MD_ENTRY_TYPE).ok_or("269 missing")?[0];
            let Some(side) = side_of(entry_type) else {
                if action != b'0' {
                    return Err("statistic entry not new".into());
                }
                Self::statistic(
                    book,
                    entry_type,
                    entry.get(tag::MD_ENTRY_PX),
                    entry.get(tag::MD_ENTRY_SIZE),
                )?;
                continue;
            };
            let px = price(entry.get(tag::MD_ENTRY_PX))?;
            if let Some(id) = entry.get(tag::MD_ENTRY_ID) {
                let id = number(Some(id), "278")?;
                let list = &mut book.orders[side.index()];
                let at = list.iter().position(|o| o.0 == id);
                match (action, at) {
                    (b'0', _) => {
                        let size = number(entry.get(tag::MD_ENTRY_SIZE), "271")?;
                        book.insert_order(side, id, px, size)?;
                    }
                    (b'1', Some(at)) => {
                        list[at].2 = number(entry.get(tag::MD_ENTRY_SIZE), "271")?;
                    }
                    (b'2', Some(at)) => {
                        list.remove(at);
                    }
                    _ => return Err(format!("action {} for unknown order {id}", action as char)),
                }
            } else {
                let ladder = &mut book.levels[side.index()];
                match action {
                    b'0' | b'1' => {
                        let size = number(entry.get(tag::MD_ENTRY_SIZE), "271")?;
                        let count = number(entry.get(tag::NUMBER_OF_ORDERS), "346")?;
                        let count = u32::try_from(count).map_err(|e| e.to_string())?;
                        let old = ladder.insert(px, (size, count));
                        if (action == b'0') != old.is_none() {
                            return Err(format!("action {} at price {px}", action as char));
                        }
                    }
                    b'2' => {
                        ladder
                            .remove(&px)
                            .ok_or_else(|| format!("delete of absent level {px}"))?;
                    }
                    _ => return Err("bad 279".into()),
                }
            }
        }
        Ok(())
    }
}

/// Compares one client book with the engine: price levels (best `depth`, `None` = all)
/// or orders.
pub fn same_as_engine(
    book: &ClientBook,
    engine: &Engine,
    instrument: InstrumentId,
    depth: Option<usize>,
    orders: bool,
) -> Result<(), String> {
    for side in [Side::Buy, Side::Sell] {
        if orders {
            let want: Vec<(u64, i64, u64)> = engine
                .orders_by_priority(instrument, side)
                .map(|o| (o.id.0, o.price.0, o.visible.0))
                .collect();
            if book.orders[side.index()] != want {
                return Err(format!(
                    "{side:?} orders differ\n engine {want:?}\n client {:?}",
                    book.orders[side.index()]
                ));
            }
        } else {
            let want: Vec<(i64, u64, u32)> = engine
                .depth(instrument, side, depth.unwrap_or(usize::MAX))
                .iter()
                .map(|l| (l.0 .0, l.1 .0, l.2))
                .collect();
            let got = book.levels_best_first(side);
            if got != want {
                return Err(format!(
                    "{side:?} levels differ\n engine {want:?}\n client {got:?}"
                ));
            }
        }
    }
    Ok(())
}
