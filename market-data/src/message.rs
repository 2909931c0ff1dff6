//! Feed messages: fixed-layout little-endian records (zerocopy), one struct per type.
//!
//! Every layout starts with a one-byte type letter and is `#[repr(C)]` over byte-aligned
//! little-endian integers, so it has no padding and its size is pinned by a `const` assert.
//! The exact field table is in `docs/market-data.md`; a decoder must check the length
//! prefix against [`message_len`] before looking at the body, which [`FeedMessage::decode`]
//! does.

use arbiter_engine::{InstrumentId, OrderId, Phase, Price, Qty, Seq, Side, TimestampNs};
use zerocopy::byteorder::little_endian::{I128, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::DecodeError;

/// The feed schema version carried in every packet and snapshot header. Bump it on any
/// layout change; receivers refuse a version they do not know.
pub const SCHEMA_VERSION: u16 = 1;

/// A feed sequence number: the position of a message in the feed, from 1, contiguous.
///
/// Derived deterministically from the journal: the publisher numbers the messages it
/// derives from the journal's events in order, so the same journal gives the same feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedSeq(pub u64);

/// A trade's number in the feed: 1, 2, ... across all instruments, in journal order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchNumber(pub u64);

/// Message type letters (the first byte of every message).
pub mod message_type {
    /// An order entered the book at the back of its level.
    pub const ADD_ORDER: u8 = b'A';
    /// An order's displayed quantity went down in place (priority kept).
    pub const REDUCE: u8 = b'X';
    /// An order left the book.
    pub const DELETE: u8 = b'D';
    /// An order left its place and re-entered at the back of a level (new price/quantity).
    pub const REPLACE: u8 = b'U';
    /// A resting order traded (its displayed quantity goes down by the executed quantity).
    pub const EXECUTE: u8 = b'E';
    /// A trade print.
    pub const TRADE: u8 = b'P';
    /// Static data of one instrument.
    pub const INSTRUMENT_DIRECTORY: u8 = b'R';
    /// An instrument's trading phase.
    pub const INSTRUMENT_STATE: u8 = b'H';
    /// A session-level event.
    pub const SYSTEM_EVENT: u8 = b'S';
    /// Session statistics of one instrument (snapshots only).
    pub const STATISTICS: u8 = b'T';
    /// A refused retransmission request (retransmission responses only).
    pub const RETRANSMIT_REFUSAL: u8 = b'J';
}

/// `A`: add order. 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AddOrderWire {
    /// `b'A'`.
    pub message_type: u8,
    /// 1 buy, 2 sell.
    pub side: u8,
    /// Zero.
    pub reserved: [u8; 2],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time of the command, ns since the epoch.
    pub timestamp_ns: U64,
    /// Engine order id.
    pub order_id: U64,
    /// Limit price in price units.
    pub price: I64,
    /// Displayed quantity.
    pub qty: U64,
}

/// `X`: reduce (displayed quantity down in place). 32 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ReduceWire {
    /// `b'X'`.
    pub message_type: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time.
    pub timestamp_ns: U64,
    /// Engine order id.
    pub order_id: U64,
    /// By how much the displayed quantity goes down (never to zero: that is a delete).
    pub reduced_qty: U64,
}

/// `D`: delete. 24 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DeleteWire {
    /// `b'D'`.
    pub message_type: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time.
    pub timestamp_ns: U64,
    /// Engine order id.
    pub order_id: U64,
}

/// `U`: replace (leave the current place, append at the back of `price`). Same layout as
/// add order, 40 bytes.
pub type ReplaceWire = AddOrderWire;

/// `E`: execute (a resting order traded). 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ExecuteWire {
    /// `b'E'`.
    pub message_type: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time.
    pub timestamp_ns: U64,
    /// The resting (maker) order.
    pub order_id: U64,
    /// Executed quantity (taken from the displayed quantity).
    pub executed_qty: U64,
    /// The trade's match number; the `P` print with the same number follows.
    pub match_number: U64,
}

/// `P`: trade print. 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TradeWire {
    /// `b'P'`.
    pub message_type: u8,
    /// The aggressor's side: 1 buy, 2 sell.
    pub aggressor_side: u8,
    /// Zero.
    pub reserved: [u8; 2],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time.
    pub timestamp_ns: U64,
    /// Match number, 1, 2, ... across the feed.
    pub match_number: U64,
    /// Execution price (the maker's).
    pub price: I64,
    /// Executed quantity.
    pub qty: U64,
}

/// `R`: instrument directory. 72 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct InstrumentDirectoryWire {
    /// `b'R'`.
    pub message_type: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Instrument id.
    pub instrument: U32,
    /// Symbol, ASCII, right-padded with zero bytes (longer symbols are cut at 16 bytes).
    pub symbol: [u8; 16],
    /// Tick size in price units.
    pub tick_size: I64,
    /// Lot size in quantity units.
    pub lot_size: U64,
    /// Smallest order quantity.
    pub qty_min: U64,
    /// Largest order quantity.
    pub qty_max: U64,
    /// Lowest price.
    pub price_min: I64,
    /// Highest price.
    pub price_max: I64,
}

/// `H`: instrument state (trading phase). 16 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct InstrumentStateWire {
    /// `b'H'`.
    pub message_type: u8,
    /// 0 closed, 1 halted, 2 continuous.
    pub phase: u8,
    /// Zero.
    pub reserved: [u8; 2],
    /// Instrument id.
    pub instrument: U32,
    /// Sequencer time.
    pub timestamp_ns: U64,
}

/// `S`: system event. 24 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SystemEventWire {
    /// `b'S'`.
    pub message_type: u8,
    /// `b'O'` start of messages.
    pub event_code: u8,
    /// Zero.
    pub reserved: [u8; 6],
    /// Sequencer time.
    pub timestamp_ns: U64,
    /// The journal sequence number of the command being published (zero at start).
    pub journal_seq: U64,
}

/// `T`: session statistics of one instrument (snapshots only). 72 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct StatisticsWire {
    /// `b'T'`.
    pub message_type: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Instrument id.
    pub instrument: U32,
    /// Number of trades so far; zero means open/high/low/last are meaningless (zero).
    pub trade_count: U64,
    /// First trade price.
    pub open: I64,
    /// Highest trade price.
    pub high: I64,
    /// Lowest trade price.
    pub low: I64,
    /// Latest trade price.
    pub last: I64,
    /// Sum of trade quantities.
    pub volume: U64,
    /// Sum of price * quantity (VWAP = notional / volume).
    pub notional: I128,
}

/// `J`: retransmission refused. 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RetransmitRefusalWire {
    /// `b'J'`.
    pub message_type: u8,
    /// Why: see [`crate::RefusalReason`].
    pub reason: u8,
    /// The count asked for.
    pub requested_count: U16,
    /// Zero.
    pub reserved: [u8; 4],
    /// The first sequence number asked for.
    pub requested_seq: U64,
    /// First sequence number still in the window (0 when the window is empty).
    pub window_first: U64,
    /// Next sequence number the feed will publish.
    pub next_seq: U64,
    /// Zero.
    pub reserved2: U64,
}

const _: () = assert!(size_of::<AddOrderWire>() == 40);
const _: () = assert!(size_of::<ReduceWire>() == 32);
const _: () = assert!(size_of::<DeleteWire>() == 24);
const _: () = assert!(size_of::<ExecuteWire>() == 40);
const _: () = assert!(size_of::<TradeWire>() == 40);
const _: () = assert!(size_of::<InstrumentDirectoryWire>() == 72);
const _: () = assert!(size_of::<InstrumentStateWire>() == 16);
const _: () = assert!(size_of::<SystemEventWire>() == 24);
const _: () = assert!(size_of::<StatisticsWire>() == 72);
const _: () = assert!(size_of::<RetransmitRefusalWire>() == 40);

/// The largest message; window slots are this big.
pub const MESSAGE_BYTES_MAX: usize = 72;
const _: () = assert!(size_of::<InstrumentDirectoryWire>() == MESSAGE_BYTES_MAX);
const _: () = assert!(size_of::<StatisticsWire>() <= MESSAGE_BYTES_MAX);
const _: () = assert!(size_of::<AddOrderWire>() <= MESSAGE_BYTES_MAX);
const _: () = assert!(
    MESSAGE_BYTES_MAX <= u8::MAX as usize,
    "window slots store u8 lengths"
);

/// The exact length of a message of this type, or `None` for an unknown type.
#[must_use]
pub const fn message_len(message_type: u8) -> Option<usize> {
    Some(match message_type {
        message_type::ADD_ORDER | message_type::REPLACE => size_of::<AddOrderWire>(),
        message_type::REDUCE => size_of::<ReduceWire>(),
        message_type::DELETE => size_of::<DeleteWire>(),
        message_type::EXECUTE => size_of::<ExecuteWire>(),
        message_type::TRADE => size_of::<TradeWire>(),
        message_type::INSTRUMENT_DIRECTORY => size_of::<InstrumentDirectoryWire>(),
        message_type::INSTRUMENT_STATE => size_of::<InstrumentStateWire>(),
        message_type::SYSTEM_EVENT => size_of::<SystemEventWire>(),
        message_type::STATISTICS => size_of::<StatisticsWire>(),
        message_type::RETRANSMIT_REFUSAL => size_of::<RetransmitRefusalWire>(),
        _ => return None,
    })
}

/// System event codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SystemEventCode {
    /// The first message of a feed session after the instrument directory.
    StartOfMessages = b'O',
}

/// Session statistics of one instrument, maintained from trade prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionStats {
    /// Trades so far.
    pub trade_count: u64,
    /// First trade price (meaningless while `trade_count` is 0).
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Latest trade price.
    pub last: Price,
    /// Sum of quantities.
    pub volume: Qty,
    /// Sum of price * quantity, exact.
    pub notional: i128,
}

impl SessionStats {
    /// Adds one trade.
    pub fn record(&mut self, price: Price, qty: Qty) {
        if self.trade_count == 0 {
            self.open = price;
            self.high = price;
            self.low = price;
        }
        self.trade_count += 1;
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.last = price;
        self.volume.0 += qty.0;
        self.notional += i128::from(price.0) * i128::from(qty.0);
    }

    /// Volume-weighted average price, for display (exact figures: `notional / volume`).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn vwap(&self) -> Option<f64> {
        (self.volume.0 > 0).then(|| self.notional as f64 / self.volume.0 as f64)
    }
}

/// Static data of an instrument as the feed carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentInfo {
    /// Id.
    pub instrument: InstrumentId,
    /// Symbol, zero-padded ASCII.
    pub symbol: [u8; 16],
    /// Tick size.
    pub tick_size: Price,
    /// Lot size.
    pub lot_size: Qty,
    /// Smallest order quantity.
    pub qty_min: Qty,
    /// Largest order quantity.
    pub qty_max: Qty,
    /// Lowest price.
    pub price_min: Price,
    /// Highest price.
    pub price_max: Price,
}

impl InstrumentInfo {
    /// The feed's view of an engine instrument (symbol cut to 16 bytes).
    #[must_use]
    pub fn from_instrument(instrument: &arbiter_engine::Instrument) -> Self {
        let mut symbol = [0u8; 16];
        let bytes = instrument.symbol.as_bytes();
        let len = bytes.len().min(16);
        symbol[..len].copy_from_slice(&bytes[..len]);
        InstrumentInfo {
            instrument: instrument.id,
            symbol,
            tick_size: instrument.tick_size,
            lot_size: instrument.lot_size,
            qty_min: instrument.qty_min,
            qty_max: instrument.qty_max,
            price_min: instrument.price_min,
            price_max: instrument.price_max,
        }
    }

    /// The symbol as text (up to the first zero byte; non-UTF-8 bytes replaced).
    #[must_use]
    pub fn symbol_text(&self) -> String {
        let end = self.symbol.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.symbol[..end]).into_owned()
    }
}

/// Why a retransmission request was refused. Stable numbering (it is on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RefusalReason {
    /// The count was zero.
    ZeroCount = 1,
    /// The count was above [`crate::RETRANSMIT_COUNT_MAX`].
    CountTooLarge = 2,
    /// The first message asked for has left the window: use the snapshot service.
    BeforeWindow = 3,
    /// The first message asked for has not been published yet (or sequence 0).
    NotYetPublished = 4,
    /// The request names another session.
    WrongSession = 5,
    /// The request is not 20 bytes.
    Malformed = 6,
}

impl RefusalReason {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            1 => RefusalReason::ZeroCount,
            2 => RefusalReason::CountTooLarge,
            3 => RefusalReason::BeforeWindow,
            4 => RefusalReason::NotYetPublished,
            5 => RefusalReason::WrongSession,
            6 => RefusalReason::Malformed,
            _ => return None,
        })
    }
}

/// One decoded feed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedMessage {
    /// `A`: an order entered at the back of its level.
    AddOrder {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Order.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Displayed quantity.
        qty: Qty,
    },
    /// `X`: displayed quantity down in place.
    Reduce {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Order.
        order_id: OrderId,
        /// By how much.
        reduced_qty: Qty,
    },
    /// `D`: the order left the book.
    Delete {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Order.
        order_id: OrderId,
    },
    /// `U`: the order left its place and is appended at the back of `price`.
    Replace {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Order.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// New price.
        price: Price,
        /// New displayed quantity.
        qty: Qty,
    },
    /// `E`: a resting order traded.
    Execute {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// The resting order.
        order_id: OrderId,
        /// Executed quantity.
        executed_qty: Qty,
        /// Match number (the `P` print that follows has the same).
        match_number: MatchNumber,
    },
    /// `P`: trade print.
    Trade {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Match number.
        match_number: MatchNumber,
        /// Aggressor side.
        aggressor_side: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
    },
    /// `R`: instrument directory.
    InstrumentDirectory(InstrumentInfo),
    /// `H`: instrument phase.
    InstrumentState {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// Instrument.
        instrument: InstrumentId,
        /// Phase.
        phase: Phase,
    },
    /// `S`: system event.
    SystemEvent {
        /// Sequencer time.
        timestamp: TimestampNs,
        /// What.
        code: SystemEventCode,
        /// Journal sequence number of the command.
        journal_seq: Seq,
    },
    /// `T`: statistics (snapshots only).
    Statistics {
        /// Instrument.
        instrument: InstrumentId,
        /// Figures.
        stats: SessionStats,
    },
    /// `J`: retransmission refused (retransmission responses only).
    RetransmitRefusal {
        /// Why.
        reason: RefusalReason,
        /// First sequence asked for.
        requested_seq: FeedSeq,
        /// Count asked for.
        requested_count: u16,
        /// First sequence in the window (0 when empty).
        window_first: FeedSeq,
        /// Next sequence to be published.
        next_seq: FeedSeq,
    },
}

fn side_byte(side: Side) -> u8 {
    side as u8
}

fn side_from(byte: u8) -> Result<Side, DecodeError> {
    match byte {
        1 => Ok(Side::Buy),
        2 => Ok(Side::Sell),
        _ => Err(DecodeError::BadField("side")),
    }
}

fn phase_from(byte: u8) -> Result<Phase, DecodeError> {
    match byte {
        0 => Ok(Phase::Closed),
        1 => Ok(Phase::Halted),
        2 => Ok(Phase::Continuous),
        _ => Err(DecodeError::BadField("phase")),
    }
}

fn put<T: IntoBytes + Immutable>(wire: &T, out: &mut [u8]) -> usize {
    let bytes = wire.as_bytes();
    out[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}

fn read<T: FromBytes + KnownLayout + Immutable + Unaligned + Copy>(
    bytes: &[u8],
) -> Result<T, DecodeError> {
    T::read_from_bytes(bytes).map_err(|_| DecodeError::BadLength)
}

impl FeedMessage {
    /// The type letter.
    #[must_use]
    pub const fn message_type(&self) -> u8 {
        match self {
            FeedMessage::AddOrder { .. } => message_type::ADD_ORDER,
            FeedMessage::Reduce { .. } => message_type::REDUCE,
            FeedMessage::Delete { .. } => message_type::DELETE,
            FeedMessage::Replace { .. } => message_type::REPLACE,
            FeedMessage::Execute { .. } => message_type::EXECUTE,
            FeedMessage::Trade { .. } => message_type::TRADE,
            FeedMessage::InstrumentDirectory(_) => message_type::INSTRUMENT_DIRECTORY,
            FeedMessage::InstrumentState { .. } => message_type::INSTRUMENT_STATE,
            FeedMessage::SystemEvent { .. } => message_type::SYSTEM_EVENT,
            FeedMessage::Statistics { .. } => message_type::STATISTICS,
            FeedMessage::RetransmitRefusal { .. } => message_type::RETRANSMIT_REFUSAL,
        }
    }

    /// The encoded length.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        message_len(self.message_type()).expect("every variant has a layout")
    }

    /// Writes the message into `out` and returns its length.
    ///
    /// # Panics
    /// If `out` is shorter than [`FeedMessage::encoded_len`] ([`MESSAGE_BYTES_MAX`] always
    /// suffices).
    pub fn encode(&self, out: &mut [u8]) -> usize {
        let written = match *self {
            FeedMessage::AddOrder {
                timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            }
            | FeedMessage::Replace {
                timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            } => put(
                &AddOrderWire {
                    message_type: self.message_type(),
                    side: side_byte(side),
                    reserved: [0; 2],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                    order_id: U64::new(order_id.0),
                    price: I64::new(price.0),
                    qty: U64::new(qty.0),
                },
                out,
            ),
            FeedMessage::Reduce {
                timestamp,
                instrument,
                order_id,
                reduced_qty,
            } => put(
                &ReduceWire {
                    message_type: message_type::REDUCE,
                    reserved: [0; 3],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                    order_id: U64::new(order_id.0),
                    reduced_qty: U64::new(reduced_qty.0),
                },
                out,
            ),
            FeedMessage::Delete {
                timestamp,
                instrument,
                order_id,
            } => put(
                &DeleteWire {
                    message_type: message_type::DELETE,
                    reserved: [0; 3],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                    order_id: U64::new(order_id.0),
                },
                out,
            ),
            FeedMessage::Execute {
                timestamp,
                instrument,
                order_id,
                executed_qty,
                match_number,
            } => put(
                &ExecuteWire {
                    message_type: message_type::EXECUTE,
                    reserved: [0; 3],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                    order_id: U64::new(order_id.0),
                    executed_qty: U64::new(executed_qty.0),
                    match_number: U64::new(match_number.0),
                },
                out,
            ),
            FeedMessage::Trade {
                timestamp,
                instrument,
                match_number,
                aggressor_side,
                price,
                qty,
            } => put(
                &TradeWire {
                    message_type: message_type::TRADE,
                    aggressor_side: side_byte(aggressor_side),
                    reserved: [0; 2],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                    match_number: U64::new(match_number.0),
                    price: I64::new(price.0),
                    qty: U64::new(qty.0),
                },
                out,
            ),
            FeedMessage::InstrumentDirectory(info) => put(
                &InstrumentDirectoryWire {
                    message_type: message_type::INSTRUMENT_DIRECTORY,
                    reserved: [0; 3],
                    instrument: U32::new(info.instrument.0),
                    symbol: info.symbol,
                    tick_size: I64::new(info.tick_size.0),
                    lot_size: U64::new(info.lot_size.0),
                    qty_min: U64::new(info.qty_min.0),
                    qty_max: U64::new(info.qty_max.0),
                    price_min: I64::new(info.price_min.0),
                    price_max: I64::new(info.price_max.0),
                },
                out,
            ),
            FeedMessage::InstrumentState {
                timestamp,
                instrument,
                phase,
            } => put(
                &InstrumentStateWire {
                    message_type: message_type::INSTRUMENT_STATE,
                    phase: phase as u8,
                    reserved: [0; 2],
                    instrument: U32::new(instrument.0),
                    timestamp_ns: U64::new(timestamp.0),
                },
                out,
            ),
            FeedMessage::SystemEvent {
                timestamp,
                code,
                journal_seq,
            } => put(
                &SystemEventWire {
                    message_type: message_type::SYSTEM_EVENT,
                    event_code: code as u8,
                    reserved: [0; 6],
                    timestamp_ns: U64::new(timestamp.0),
                    journal_seq: U64::new(journal_seq.0),
                },
                out,
            ),
            FeedMessage::Statistics { instrument, stats } => put(
                &StatisticsWire {
                    message_type: message_type::STATISTICS,
                    reserved: [0; 3],
                    instrument: U32::new(instrument.0),
                    trade_count: U64::new(stats.trade_count),
                    open: I64::new(stats.open.0),
                    high: I64::new(stats.high.0),
                    low: I64::new(stats.low.0),
                    last: I64::new(stats.last.0),
                    volume: U64::new(stats.volume.0),
                    notional: I128::new(stats.notional),
                },
                out,
            ),
            FeedMessage::RetransmitRefusal {
                reason,
                requested_seq,
                requested_count,
                window_first,
                next_seq,
            } => put(
                &RetransmitRefusalWire {
                    message_type: message_type::RETRANSMIT_REFUSAL,
                    reason: reason as u8,
                    requested_count: U16::new(requested_count),
                    reserved: [0; 4],
                    requested_seq: U64::new(requested_seq.0),
                    window_first: U64::new(window_first.0),
                    next_seq: U64::new(next_seq.0),
                    reserved2: U64::new(0),
                },
                out,
            ),
        };
        debug_assert_eq!(written, self.encoded_len());
        written
    }

    /// Decodes one message body (without its length prefix). The length must be exactly
    /// the type's length.
    ///
    /// # Errors
    /// [`DecodeError`] for an empty body, an unknown type, a wrong length or a bad field
    /// value. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<FeedMessage, DecodeError> {
        let &kind = bytes.first().ok_or(DecodeError::BadLength)?;
        let len = message_len(kind).ok_or(DecodeError::UnknownType(kind))?;
        if bytes.len() != len {
            return Err(DecodeError::BadLength);
        }
        Ok(match kind {
            message_type::ADD_ORDER | message_type::REPLACE => {
                let w: AddOrderWire = read(bytes)?;
                let timestamp = TimestampNs(w.timestamp_ns.get());
                let instrument = InstrumentId(w.instrument.get());
                let order_id = OrderId(w.order_id.get());
                let side = side_from(w.side)?;
                let price = Price(w.price.get());
                let qty = Qty(w.qty.get());
                if kind == message_type::ADD_ORDER {
                    FeedMessage::AddOrder {
                        timestamp,
                        instrument,
                        order_id,
                        side,
                        price,
                        qty,
                    }
                } else {
                    FeedMessage::Replace {
                        timestamp,
                        instrument,
                        order_id,
                        side,
                        price,
                        qty,
                    }
                }
            }
            message_type::REDUCE => {
                let w: ReduceWire = read(bytes)?;
                FeedMessage::Reduce {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    instrument: InstrumentId(w.instrument.get()),
                    order_id: OrderId(w.order_id.get()),
                    reduced_qty: Qty(w.reduced_qty.get()),
                }
            }
            message_type::DELETE => {
                let w: DeleteWire = read(bytes)?;
                FeedMessage::Delete {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    instrument: InstrumentId(w.instrument.get()),
                    order_id: OrderId(w.order_id.get()),
                }
            }
            message_type::EXECUTE => {
                let w: ExecuteWire = read(bytes)?;
                FeedMessage::Execute {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    instrument: InstrumentId(w.instrument.get()),
                    order_id: OrderId(w.order_id.get()),
                    executed_qty: Qty(w.executed_qty.get()),
                    match_number: MatchNumber(w.match_number.get()),
                }
            }
            message_type::TRADE => {
                let w: TradeWire = read(bytes)?;
                FeedMessage::Trade {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    instrument: InstrumentId(w.instrument.get()),
                    match_number: MatchNumber(w.match_number.get()),
                    aggressor_side: side_from(w.aggressor_side)?,
                    price: Price(w.price.get()),
                    qty: Qty(w.qty.get()),
                }
            }
            message_type::INSTRUMENT_DIRECTORY => {
                let w: InstrumentDirectoryWire = read(bytes)?;
                FeedMessage::InstrumentDirectory(InstrumentInfo {
                    instrument: InstrumentId(w.instrument.get()),
                    symbol: w.symbol,
                    tick_size: Price(w.tick_size.get()),
                    lot_size: Qty(w.lot_size.get()),
                    qty_min: Qty(w.qty_min.get()),
                    qty_max: Qty(w.qty_max.get()),
                    price_min: Price(w.price_min.get()),
                    price_max: Price(w.price_max.get()),
                })
            }
            message_type::INSTRUMENT_STATE => {
                let w: InstrumentStateWire = read(bytes)?;
                FeedMessage::InstrumentState {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    instrument: InstrumentId(w.instrument.get()),
                    phase: phase_from(w.phase)?,
                }
            }
            message_type::SYSTEM_EVENT => {
                let w: SystemEventWire = read(bytes)?;
                let code = match w.event_code {
                    b'O' => SystemEventCode::StartOfMessages,
                    _ => return Err(DecodeError::BadField("event_code")),
                };
                FeedMessage::SystemEvent {
                    timestamp: TimestampNs(w.timestamp_ns.get()),
                    code,
                    journal_seq: Seq(w.journal_seq.get()),
                }
            }
            message_type::STATISTICS => {
                let w: StatisticsWire = read(bytes)?;
                FeedMessage::Statistics {
                    instrument: InstrumentId(w.instrument.get()),
                    stats: SessionStats {
                        trade_count: w.trade_count.get(),
                        open: Price(w.open.get()),
                        high: Price(w.high.get()),
                        low: Price(w.low.get()),
                        last: Price(w.last.get()),
                        volume: Qty(w.volume.get()),
                        notional: w.notional.get(),
                    },
                }
            }
            message_type::RETRANSMIT_REFUSAL => {
                let w: RetransmitRefusalWire = read(bytes)?;
                FeedMessage::RetransmitRefusal {
                    reason: RefusalReason::from_u8(w.reason)
                        .ok_or(DecodeError::BadField("reason"))?,
                    requested_seq: FeedSeq(w.requested_seq.get()),
                    requested_count: w.requested_count.get(),
                    window_first: FeedSeq(w.window_first.get()),
                    next_seq: FeedSeq(w.next_seq.get()),
                }
            }
            _ => return Err(DecodeError::UnknownType(kind)),
        })
    }

    /// The instrument the message is about, if any.
    #[must_use]
    pub const fn instrument(&self) -> Option<InstrumentId> {
        match *self {
            FeedMessage::AddOrder { instrument, .. }
            | FeedMessage::Reduce { instrument, .. }
            | FeedMessage::Delete { instrument, .. }
            | FeedMessage::Replace { instrument, .. }
            | FeedMessage::Execute { instrument, .. }
            | FeedMessage::Trade { instrument, .. }
            | FeedMessage::InstrumentState { instrument, .. }
            | FeedMessage::Statistics { instrument, .. } => Some(instrument),
            FeedMessage::InstrumentDirectory(info) => Some(info.instrument),
            FeedMessage::SystemEvent { .. } | FeedMessage::RetransmitRefusal { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips() {
        let ts = TimestampNs(123);
        let i = InstrumentId(7);
        let messages = [
            FeedMessage::AddOrder {
                timestamp: ts,
                instrument: i,
                order_id: OrderId(9),
                side: Side::Sell,
                price: Price(-5),
                qty: Qty(3),
            },
            FeedMessage::Replace {
                timestamp: ts,
                instrument: i,
                order_id: OrderId(9),
                side: Side::Buy,
                price: Price(5),
                qty: Qty(3),
            },
            FeedMessage::Reduce {
                timestamp: ts,
                instrument: i,
                order_id: OrderId(1),
                reduced_qty: Qty(2),
            },
            FeedMessage::Delete {
                timestamp: ts,
                instrument: i,
                order_id: OrderId(1),
            },
            FeedMessage::Execute {
                timestamp: ts,
                instrument: i,
                order_id: OrderId(1),
                executed_qty: Qty(4),
                match_number: MatchNumber(77),
            },
            FeedMessage::Trade {
                timestamp: ts,
                instrument: i,
                match_number: MatchNumber(77),
                aggressor_side: Side::Buy,
                price: Price(100),
                qty: Qty(4),
            },
            FeedMessage::InstrumentDirectory(InstrumentInfo::from_instrument(
                &arbiter_engine::Instrument::simple(7, "A-VERY-LONG-SYMBOL-NAME"),
            )),
            FeedMessage::InstrumentState {
                timestamp: ts,
                instrument: i,
                phase: Phase::Halted,
            },
            FeedMessage::SystemEvent {
                timestamp: ts,
                code: SystemEventCode::StartOfMessages,
                journal_seq: Seq(4),
            },
            FeedMessage::Statistics {
                instrument: i,
                stats: SessionStats {
                    trade_count: 2,
                    open: Price(1),
                    high: Price(3),
                    low: Price(1),
                    last: Price(3),
                    volume: Qty(9),
                    notional: -(1 << 100),
                },
            },
            FeedMessage::RetransmitRefusal {
                reason: RefusalReason::BeforeWindow,
                requested_seq: FeedSeq(1),
                requested_count: 5,
                window_first: FeedSeq(10),
                next_seq: FeedSeq(20),
            },
        ];
        for message in messages {
            let mut buf = [0u8; MESSAGE_BYTES_MAX];
            let len = message.encode(&mut buf);
            assert_eq!(len, message.encoded_len());
            assert_eq!(buf[0], message.message_type());
            assert_eq!(FeedMessage::decode(&buf[..len]), Ok(message));
            assert!(FeedMessage::decode(&buf[..len - 1]).is_err());
        }
    }

    #[test]
    fn decode_rejects_garbage_without_panicking() {
        assert_eq!(FeedMessage::decode(&[]), Err(DecodeError::BadLength));
        assert_eq!(
            FeedMessage::decode(b"?"),
            Err(DecodeError::UnknownType(b'?'))
        );
        let mut buf = [0u8; 40];
        buf[0] = b'A';
        buf[1] = 9;
        assert_eq!(
            FeedMessage::decode(&buf),
            Err(DecodeError::BadField("side"))
        );
    }
}
