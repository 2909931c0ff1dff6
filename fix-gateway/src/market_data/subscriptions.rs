//! Per-session market data subscriptions: requests in, W / X / Y / y / f / h out, with
//! conflation for subscribers that cannot keep up. See the [module docs](super) for the
//! contract with the caller.

use std::collections::HashMap;

use arbiter_engine::{Instrument, InstrumentId, Phase, Price, Qty, Side, TimestampNs};
use arbiter_market_data::FeedMessage;

use super::book::{LevelChange, MdBookError, MdBooks, MdStats, OrderChange, Step};
use super::entries::{stat_entry, write_increment, write_snapshot, Action, Entry, ENTRY_NONE};
use super::request::{
    parse_market_data_request, parse_security_list_request, parse_security_status_request,
    parse_trading_session_status_request, BookView, EntryType, EntryTypes, MdReject,
    MdRejectReason, ReqId, RequestLimits, SecurityListScope, StatusRequest, SubscriptionType,
    SymbolLookup,
};
use crate::decode::Message;
use crate::dictionary::{tag, FixVersion};
use crate::encode::MessageBuilder;
use crate::session::SessionId;
use crate::time::TimestampPrecision;

/// Upper bound of the bytes one market data entry (a NoMDEntries or NoRelatedSym
/// group entry) takes: 279, 269, 278 (20 digits), 55 (32 bytes), 83, 270, 271, 346.
pub const ENTRY_BYTES_MAX: usize = 176;
/// Bytes reserved per message for the standard header, the trailer and the fields
/// outside the group.
pub const MESSAGE_OVERHEAD_BYTES: usize = 512;
/// Longest symbol served (so that [`ENTRY_BYTES_MAX`] holds).
pub const SYMBOL_LEN_MAX: usize = 32;
/// Most entries one book change produces for one subscription (a replace that moves
/// a level in and out of a depth-limited book: 4; a trade with its statistics: 5).
const PENDING_MAX: usize = 8;

/// Where the messages go: the caller's sessions.
///
/// The daemon implements it over the gateway: `room_bytes` is what the session's
/// outbox can still take, `send` is `Gateway::send` (header, sequence number, store).
pub trait MdSink {
    /// Bytes the session's outbound queue can still take; 0 when it is full.
    fn room_bytes(&self, session: SessionId) -> usize;
    /// Sends one application message of type `msg_type` whose body `body` writes.
    /// False when it was not sent (the subscription is then conflated).
    fn send(
        &mut self,
        session: SessionId,
        msg_type: &[u8],
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool;
}

/// Static data of one instrument, as the SecurityList shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MdInstrument {
    /// Symbol (55), at most [`SYMBOL_LEN_MAX`] bytes.
    pub symbol: String,
    /// Price units per 1 of the FIX price: FIX price = units / 10^decimals.
    pub price_decimals: u32,
    /// Tick size in price units (MinPriceIncrement 969).
    pub tick_size: Price,
    /// Lot size (RoundLot 561).
    pub lot_size: Qty,
    /// Smallest order quantity (MinTradeVol 562).
    pub qty_min: Qty,
    /// Currency (15), where configured.
    pub currency: Option<[u8; 3]>,
    /// ISIN, sent as SecurityID (48) with SecurityIDSource (22) = 4, where configured.
    pub isin: Option<[u8; 12]>,
}

impl MdInstrument {
    /// From the engine's instrument and the configured price decimals; no currency or
    /// ISIN (the engine does not know them).
    #[must_use]
    pub fn from_engine(instrument: &Instrument, price_decimals: u32) -> Self {
        MdInstrument {
            symbol: instrument.symbol.clone(),
            price_decimals,
            tick_size: instrument.tick_size,
            lot_size: instrument.lot_size,
            qty_min: instrument.qty_min,
            currency: None,
            isin: None,
        }
    }
}

/// Bounds of the market data service, fixed at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdConfig {
    /// Sessions (ids `0..sessions_max`).
    pub sessions_max: usize,
    /// Most subscriptions one session may hold (each instrument of a request, and each
    /// SecurityStatus subscription, is one).
    pub subscriptions_per_session_max: usize,
    /// Most subscriptions across all sessions.
    pub subscriptions_max: usize,
    /// Orders the books hold (the engine's `orders_max`).
    pub orders_max: usize,
    /// Price levels per side (the engine's `levels_per_side_max`).
    pub levels_per_side_max: usize,
    /// MarketDepth limits.
    pub limits: RequestLimits,
    /// Largest message written (the sessions' encode buffer); at least
    /// [`MESSAGE_OVERHEAD_BYTES`] + 8 × [`ENTRY_BYTES_MAX`].
    pub message_bytes_max: usize,
    /// TradingSessionID (336) of the venue's one trading session.
    pub trading_session_id: &'static str,
}

impl Default for MdConfig {
    fn default() -> Self {
        MdConfig {
            sessions_max: 64,
            subscriptions_per_session_max: 64,
            subscriptions_max: 4096,
            orders_max: 1 << 16,
            levels_per_side_max: 1024,
            limits: RequestLimits {
                depth_max: 100,
                full_depth: true,
            },
            message_bytes_max: 8192,
            trading_session_id: "CONTINUOUS",
        }
    }
}

/// What one session may do, given when it logs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdSessionConfig {
    /// Market data allowed (entitlement); otherwise every request is refused.
    pub allowed: bool,
    /// Most subscriptions (at most [`MdConfig::subscriptions_per_session_max`]).
    pub subscriptions_max: usize,
    /// The session's FIX version (FIX.4.4 and FIX.5.0SP2 differ in W).
    pub version: FixVersion,
}

/// Counters of the market data service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdCounters {
    /// Incremental refreshes (X) sent.
    pub increments: u64,
    /// Full refreshes (W) sent.
    pub snapshots: u64,
    /// Rejects (Y) sent.
    pub rejects: u64,
    /// Times a session went from live to conflated.
    pub conflations: u64,
    /// Times a conflated session caught up.
    pub recoveries: u64,
    /// Answers to requests not sent because the session's queue had no room.
    pub answers_dropped: u64,
    /// Feed messages that did not fit the books (a bug or a capacity mismatch).
    pub book_errors: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamKind {
    Book {
        view: BookView,
        entry_types: EntryTypes,
        full_refresh: bool,
    },
    SecurityStatus,
}

#[derive(Clone, Copy, Debug)]
struct Stream {
    session: SessionId,
    req_id: ReqId,
    instrument: InstrumentId,
    kind: StreamKind,
    /// Last RptSeq used.
    rpt_seq: u64,
    /// Missed updates: needs a fresh snapshot.
    dirty: bool,
    /// In the touched list of the current feed message.
    touched: bool,
    pending: [Entry; PENDING_MAX],
    pending_len: usize,
}

#[derive(Debug)]
struct SessionMd {
    open: bool,
    config: MdSessionConfig,
    streams: Vec<u32>,
    /// Some stream (or the trading session status) missed updates.
    conflated: bool,
    trading_status: Option<ReqId>,
    trading_status_dirty: bool,
}

fn side_type(side: Side) -> EntryType {
    match side {
        Side::Buy => EntryType::Bid,
        Side::Sell => EntryType::Offer,
    }
}

/// SecurityTradingStatus (326) of a phase; `previous` tells a resume from an open.
fn trading_status(phase: Phase, previous: Option<Phase>) -> u64 {
    match (phase, previous) {
        (Phase::Halted, _) => 2,
        (Phase::Continuous, Some(Phase::Halted)) => 3,
        (Phase::Continuous, _) => 17,
        (Phase::Closed, _) => 18,
    }
}

/// FIX market data for every session: subscriptions, the books they read, conflation.
///
/// Allocation happens in [`MdSubscriptions::new`] only.
#[derive(Debug)]
pub struct MdSubscriptions {
    config: MdConfig,
    instruments: Vec<MdInstrument>,
    symbols: HashMap<Box<[u8]>, InstrumentId>,
    books: MdBooks,
    streams: Vec<Option<Stream>>,
    free: Vec<u32>,
    by_instrument: Vec<Vec<u32>>,
    sessions: Vec<SessionMd>,
    touched: Vec<u32>,
    scratch: Vec<Entry>,
    entries_per_message: usize,
    conflated_sessions: usize,
    counters: MdCounters,
}

impl MdSubscriptions {
    /// The service for `instruments` (id = index), every table allocated now.
    ///
    /// # Panics
    /// When a symbol is longer than [`SYMBOL_LEN_MAX`] or `message_bytes_max` cannot
    /// hold one book change (configuration errors, found at start-up).
    #[must_use]
    pub fn new(config: MdConfig, instruments: Vec<MdInstrument>) -> Self {
        assert!(
            config.message_bytes_max >= MESSAGE_OVERHEAD_BYTES + PENDING_MAX * ENTRY_BYTES_MAX,
            "message_bytes_max too small for one book change"
        );
        let mut symbols = HashMap::with_capacity(instruments.len());
        for (i, instrument) in instruments.iter().enumerate() {
            assert!(
                !instrument.symbol.is_empty() && instrument.symbol.len() <= SYMBOL_LEN_MAX,
                "symbol {:?} must be 1..={SYMBOL_LEN_MAX} bytes",
                instrument.symbol
            );
            let id = InstrumentId(u32::try_from(i).expect("fewer than 2^32 instruments"));
            symbols.insert(instrument.symbol.as_bytes().into(), id);
        }
        let total = config.subscriptions_max;
        let snapshot_entries = 2 * config.orders_max.max(config.levels_per_side_max) + 8;
        MdSubscriptions {
            books: MdBooks::new(
                instruments.len(),
                config.orders_max,
                config.levels_per_side_max,
            ),
            by_instrument: (0..instruments.len())
                .map(|_| Vec::with_capacity(total))
                .collect(),
            sessions: (0..config.sessions_max)
                .map(|_| SessionMd {
                    open: false,
                    config: MdSessionConfig {
                        allowed: false,
                        subscriptions_max: 0,
                        version: FixVersion::Fix44,
                    },
                    streams: Vec::with_capacity(config.subscriptions_per_session_max),
                    conflated: false,
                    trading_status: None,
                    trading_status_dirty: false,
                })
                .collect(),
            streams: vec![None; total],
            free: (0..u32::try_from(total).expect("fewer than 2^32 subscriptions"))
                .rev()
                .collect(),
            touched: Vec::with_capacity(total),
            scratch: Vec::with_capacity(snapshot_entries),
            entries_per_message: (config.message_bytes_max - MESSAGE_OVERHEAD_BYTES)
                / ENTRY_BYTES_MAX,
            conflated_sessions: 0,
            counters: MdCounters::default(),
            symbols,
            instruments,
            config,
        }
    }

    /// The books as the FIX market data shows them.
    #[must_use]
    pub fn books(&self) -> &MdBooks {
        &self.books
    }

    /// Counters.
    #[must_use]
    pub fn counters(&self) -> MdCounters {
        self.counters
    }

    /// Subscriptions a session holds.
    #[must_use]
    pub fn subscription_count(&self, session: SessionId) -> usize {
        self.sessions
            .get(session.0 as usize)
            .map_or(0, |s| s.streams.len())
    }

    /// Whether a session is conflated (missed updates and waits for room).
    #[must_use]
    pub fn is_conflated(&self, session: SessionId) -> bool {
        self.sessions
            .get(session.0 as usize)
            .is_some_and(|s| s.conflated)
    }

    /// The instrument of a symbol.
    #[must_use]
    pub fn instrument(&self, symbol: &[u8]) -> Option<InstrumentId> {
        self.symbols.get(symbol).copied()
    }

    /// A session logged on: market data allowed or not, with its bounds. Drops what it
    /// had before.
    pub fn open_session(&mut self, session: SessionId, config: MdSessionConfig) {
        self.close_session(session);
        if let Some(state) = self.sessions.get_mut(session.0 as usize) {
            state.open = true;
            state.config = MdSessionConfig {
                subscriptions_max: config
                    .subscriptions_max
                    .min(self.config.subscriptions_per_session_max),
                ..config
            };
        }
    }

    /// A session logged out or disconnected: its subscriptions end.
    pub fn close_session(&mut self, session: SessionId) {
        let Some(state) = self.sessions.get_mut(session.0 as usize) else {
            return;
        };
        // Bounded by the session's subscriptions, which only shrink here.
        while let Some(id) = state.streams.pop() {
            if let Some(stream) = self.streams[id as usize].take() {
                let list = &mut self.by_instrument[stream.instrument.0 as usize];
                if let Some(at) = list.iter().position(|&s| s == id) {
                    list.swap_remove(at);
                }
                self.free.push(id);
            }
        }
        if state.conflated {
            self.conflated_sessions -= 1;
        }
        state.open = false;
        state.conflated = false;
        state.trading_status = None;
        state.trading_status_dirty = false;
    }

    fn remove_stream(&mut self, id: u32) {
        if let Some(stream) = self.streams[id as usize].take() {
            let list = &mut self.by_instrument[stream.instrument.0 as usize];
            if let Some(at) = list.iter().position(|&s| s == id) {
                list.swap_remove(at);
            }
            self.free.push(id);
        }
    }

    fn lookup(&self) -> impl SymbolLookup + '_ {
        |symbol: &[u8]| self.symbols.get(symbol).copied()
    }

    /// Answers an application message if it is a market data request (V, x, e, g);
    /// false for any other message type (not for this module).
    pub fn on_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) -> bool {
        match msg.msg_type() {
            b"V" => self.on_market_data_request(session, msg, sink),
            b"x" => self.on_security_list_request(session, msg, sink),
            b"e" => self.on_security_status_request(session, msg, sink),
            b"g" => self.on_trading_session_status_request(session, msg, sink),
            _ => return false,
        }
        true
    }

    fn session_open(&self, session: SessionId) -> Option<&SessionMd> {
        self.sessions
            .get(session.0 as usize)
            .filter(|state| state.open)
    }

    fn version(&self, session: SessionId) -> FixVersion {
        self.session_open(session)
            .map_or(FixVersion::Fix44, |s| s.config.version)
    }

    /// Sends if the queue has room for `bytes`; counts a drop otherwise.
    fn answer(
        &mut self,
        session: SessionId,
        bytes: usize,
        msg_type: &[u8],
        sink: &mut impl MdSink,
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        if sink.room_bytes(session) < bytes || !sink.send(session, msg_type, body) {
            self.counters.answers_dropped += 1;
            return false;
        }
        true
    }

    fn send_reject(&mut self, session: SessionId, reject: &MdReject, sink: &mut impl MdSink) {
        let sent = self.answer(
            session,
            MESSAGE_OVERHEAD_BYTES,
            b"Y",
            sink,
            &mut |b: &mut MessageBuilder<'_>| {
                b.push_str(tag::MD_REQ_ID, reject.req_id.as_bytes());
                if let Some(code) = reject.reason.code() {
                    b.push_char(tag::MD_REQ_REJ_REASON, code);
                }
                b.push_str(tag::TEXT, reject.text.as_bytes());
            },
        );
        if sent {
            self.counters.rejects += 1;
        }
    }

    /// MarketDataRequest (V): a W per instrument (snapshot, subscribe), nothing
    /// (unsubscribe), or a Y.
    pub fn on_market_data_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) {
        if let Err(reject) = self.market_data_request(session, msg, sink) {
            self.send_reject(session, &reject, sink);
        }
    }

    fn market_data_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) -> Result<(), MdReject> {
        let request = parse_market_data_request(msg, &self.config.limits, &self.lookup())?;
        let reject = |reason, text| MdReject {
            req_id: request.req_id,
            reason,
            text,
        };
        let Some(state) = self.session_open(session) else {
            return Err(reject(
                MdRejectReason::InsufficientPermissions,
                "session not logged on for market data",
            ));
        };
        if !state.config.allowed {
            return Err(reject(
                MdRejectReason::InsufficientPermissions,
                "market data not allowed for this session",
            ));
        }
        let same_id = |s: &&u32| {
            self.streams[**s as usize].is_some_and(|stream| {
                stream.req_id == request.req_id && matches!(stream.kind, StreamKind::Book { .. })
            })
        };
        let duplicate = state.streams.iter().any(|s| same_id(&s));
        let entry_types = request.entry_types;
        let view = request.view;
        let full_refresh = request.full_refresh_updates;
        match request.subscription {
            SubscriptionType::Unsubscribe => {
                if !duplicate {
                    return Err(reject(
                        MdRejectReason::Other,
                        "no subscription with this MDReqID (262) to end",
                    ));
                }
                self.unsubscribe(session, |stream| {
                    stream.req_id == request.req_id
                        && matches!(stream.kind, StreamKind::Book { .. })
                });
                Ok(())
            }
            _ if duplicate => Err(reject(
                MdRejectReason::DuplicateMdReqId,
                "MDReqID (262) already names a subscription of this session",
            )),
            SubscriptionType::Snapshot => {
                let kind = StreamKind::Book {
                    view,
                    entry_types,
                    full_refresh: false,
                };
                let needed: usize = request
                    .instruments()
                    .iter()
                    .map(|&i| self.snapshot_bytes(i, kind))
                    .sum();
                if sink.room_bytes(session) < needed {
                    return Err(reject(
                        MdRejectReason::InsufficientBandwidth,
                        "outbound queue full: snapshot refused, ask again later",
                    ));
                }
                for &instrument in request.instruments() {
                    let mut stream = Stream {
                        session,
                        req_id: request.req_id,
                        instrument,
                        kind,
                        rpt_seq: 0,
                        dirty: false,
                        touched: false,
                        pending: [ENTRY_NONE; PENDING_MAX],
                        pending_len: 0,
                    };
                    self.send_snapshot(&mut stream, sink);
                }
                Ok(())
            }
            SubscriptionType::SnapshotAndUpdates => {
                let count = request.instruments().len();
                if state.streams.len() + count > state.config.subscriptions_max {
                    return Err(reject(
                        MdRejectReason::InsufficientBandwidth,
                        "too many subscriptions for this session",
                    ));
                }
                if self.free.len() < count {
                    return Err(reject(
                        MdRejectReason::InsufficientBandwidth,
                        "market data subscription capacity reached",
                    ));
                }
                let kind = StreamKind::Book {
                    view,
                    entry_types,
                    full_refresh,
                };
                for &instrument in request.instruments() {
                    self.subscribe(session, request.req_id, instrument, kind, sink);
                }
                Ok(())
            }
        }
    }

    /// Adds a stream and sends its first snapshot (or marks it dirty without room).
    fn subscribe(
        &mut self,
        session: SessionId,
        req_id: ReqId,
        instrument: InstrumentId,
        kind: StreamKind,
        sink: &mut impl MdSink,
    ) {
        let Some(id) = self.free.pop() else {
            return;
        };
        let mut stream = Stream {
            session,
            req_id,
            instrument,
            kind,
            rpt_seq: 0,
            dirty: false,
            touched: false,
            pending: [ENTRY_NONE; PENDING_MAX],
            pending_len: 0,
        };
        let conflated = self.sessions[session.0 as usize].conflated;
        let sent = !conflated
            && sink.room_bytes(session) >= self.first_message_bytes(&stream)
            && self.send_first(&mut stream, sink);
        if !sent {
            stream.dirty = true;
            self.conflate(session);
        }
        self.streams[id as usize] = Some(stream);
        self.by_instrument[instrument.0 as usize].push(id);
        self.sessions[session.0 as usize].streams.push(id);
    }

    fn first_message_bytes(&self, stream: &Stream) -> usize {
        match stream.kind {
            StreamKind::Book { .. } => self.snapshot_bytes(stream.instrument, stream.kind),
            StreamKind::SecurityStatus => MESSAGE_OVERHEAD_BYTES,
        }
    }

    fn send_first(&mut self, stream: &mut Stream, sink: &mut impl MdSink) -> bool {
        match stream.kind {
            StreamKind::Book { .. } => self.send_snapshot(stream, sink),
            StreamKind::SecurityStatus => {
                let phase = self.books.phase(stream.instrument);
                self.send_security_status(stream, phase, None, None, sink)
            }
        }
    }

    fn unsubscribe(&mut self, session: SessionId, matches: impl Fn(&Stream) -> bool) {
        let mut at = 0;
        // Bounded by the session's stream count, which only shrinks here.
        while let Some(&id) = self.sessions[session.0 as usize].streams.get(at) {
            if self.streams[id as usize].as_ref().is_some_and(&matches) {
                self.remove_stream(id);
                self.sessions[session.0 as usize].streams.swap_remove(at);
            } else {
                at += 1;
            }
        }
        self.refresh_conflated(session);
    }

    /// Clears the conflated flag when nothing of the session is dirty any more.
    fn refresh_conflated(&mut self, session: SessionId) {
        let state = &self.sessions[session.0 as usize];
        if !state.conflated || state.trading_status_dirty {
            return;
        }
        let any_dirty = state
            .streams
            .iter()
            .any(|&id| self.streams[id as usize].is_some_and(|s| s.dirty));
        if !any_dirty {
            self.sessions[session.0 as usize].conflated = false;
            self.conflated_sessions -= 1;
            self.counters.recoveries += 1;
        }
    }

    /// Something sent to the session was lost on the way (the caller dropped a message it
    /// had accepted, e.g. its connection had no room left after all): every subscription
    /// of the session gets a fresh snapshot, and its status subscriptions a fresh status,
    /// once [`MdSubscriptions::poll`] finds room.
    pub fn conflate_session(&mut self, session: SessionId) {
        let Some(state) = self.sessions.get(session.0 as usize) else {
            return;
        };
        if !state.open {
            return;
        }
        for &id in &state.streams {
            if let Some(stream) = self.streams[id as usize].as_mut() {
                stream.dirty = true;
            }
        }
        let state = &mut self.sessions[session.0 as usize];
        if state.trading_status.is_some() {
            state.trading_status_dirty = true;
        }
        self.conflate(session);
    }

    fn conflate(&mut self, session: SessionId) {
        let state = &mut self.sessions[session.0 as usize];
        if !state.conflated {
            state.conflated = true;
            self.conflated_sessions += 1;
            self.counters.conflations += 1;
        }
    }

    /// SecurityListRequest (x): a SecurityList (y), in fragments of what fits a message.
    pub fn on_security_list_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) {
        let request = parse_security_list_request(msg, &self.lookup());
        let allowed = self.session_open(session).is_some_and(|s| s.config.allowed);
        let count = self.instruments.len();
        let (result, range) = match request.scope {
            _ if !allowed => (3, 0..0),
            SecurityListScope::All => (0, 0..count),
            SecurityListScope::Symbol(Some(id)) => (0, id.0 as usize..id.0 as usize + 1),
            SecurityListScope::Symbol(None) => (2, 0..0),
            SecurityListScope::Unsupported => (1, 0..0),
        };
        let version = self.version(session);
        let total = range.len();
        let per_message = self.entries_per_message;
        let mut start = range.start;
        // One message even for an empty list; bounded by the instrument count.
        loop {
            let end = (start + per_message).min(range.end);
            let instruments = &self.instruments[start..end];
            let last = end == range.end;
            let bytes = MESSAGE_OVERHEAD_BYTES + instruments.len() * ENTRY_BYTES_MAX;
            let mut body = |b: &mut MessageBuilder<'_>| {
                b.push_str(tag::SECURITY_REQ_ID, request.req_id.as_bytes());
                b.push_str(tag::SECURITY_RESPONSE_ID, request.req_id.as_bytes());
                b.push_u64(tag::SECURITY_REQUEST_RESULT, result);
                b.push_u64(tag::TOT_NO_RELATED_SYM, total as u64);
                if version == FixVersion::Fixt11 {
                    b.push_bool(tag::LAST_FRAGMENT, last);
                }
                if !instruments.is_empty() {
                    b.push_u64(tag::NO_RELATED_SYM, instruments.len() as u64);
                }
                for instrument in instruments {
                    b.push_str(tag::SYMBOL, instrument.symbol.as_bytes());
                    if let Some(isin) = &instrument.isin {
                        b.push_str(tag::SECURITY_ID, isin);
                        b.push_char(tag::SECURITY_ID_SOURCE, b'4');
                    }
                    b.push_decimal(
                        tag::MIN_PRICE_INCREMENT,
                        instrument.tick_size.0,
                        instrument.price_decimals,
                    );
                    if let Some(currency) = &instrument.currency {
                        b.push_str(tag::CURRENCY, currency);
                    }
                    b.push_u64(tag::ROUND_LOT, instrument.lot_size.0);
                    b.push_u64(tag::MIN_TRADE_VOL, instrument.qty_min.0);
                }
            };
            let sent = sink.room_bytes(session) >= bytes && sink.send(session, b"y", &mut body);
            if !sent {
                self.counters.answers_dropped += 1;
                return;
            }
            if last {
                return;
            }
            start = end;
        }
    }

    /// SecurityStatusRequest (e): a SecurityStatus (f) now and, with 263=1, on every
    /// phase change of the instrument.
    pub fn on_security_status_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) {
        let request = parse_security_status_request(msg, &self.lookup());
        let Some(state) = self.session_open(session) else {
            self.counters.answers_dropped += 1;
            return;
        };
        let refusal = if !state.config.allowed {
            Some("market data not allowed for this session")
        } else if request.instrument.is_none() {
            Some("unknown Symbol (55)")
        } else if request.subscription == SubscriptionType::SnapshotAndUpdates
            && (state.streams.len() >= state.config.subscriptions_max || self.free.is_empty())
        {
            Some("too many subscriptions for this session")
        } else {
            None
        };
        let Some(instrument) = request.instrument.filter(|_| refusal.is_none()) else {
            self.refuse_security_status(session, &request, msg, refusal.unwrap_or(""), sink);
            return;
        };
        match request.subscription {
            SubscriptionType::Unsubscribe => self.unsubscribe(session, |stream| {
                stream.req_id == request.req_id && stream.kind == StreamKind::SecurityStatus
            }),
            SubscriptionType::Snapshot => {
                let mut stream = Stream {
                    session,
                    req_id: request.req_id,
                    instrument,
                    kind: StreamKind::SecurityStatus,
                    rpt_seq: 0,
                    dirty: false,
                    touched: false,
                    pending: [ENTRY_NONE; PENDING_MAX],
                    pending_len: 0,
                };
                if sink.room_bytes(session) < MESSAGE_OVERHEAD_BYTES
                    || !self.send_first(&mut stream, sink)
                {
                    self.counters.answers_dropped += 1;
                }
            }
            SubscriptionType::SnapshotAndUpdates => self.subscribe(
                session,
                request.req_id,
                instrument,
                StreamKind::SecurityStatus,
                sink,
            ),
        }
    }

    fn refuse_security_status(
        &mut self,
        session: SessionId,
        request: &StatusRequest,
        msg: &Message<'_>,
        text: &str,
        sink: &mut impl MdSink,
    ) {
        let symbol = msg
            .get(tag::SYMBOL)
            .and_then(ReqId::new)
            .unwrap_or(ReqId::UNKNOWN);
        self.answer(
            session,
            MESSAGE_OVERHEAD_BYTES,
            b"f",
            sink,
            &mut |b: &mut MessageBuilder<'_>| {
                b.push_str(tag::SECURITY_STATUS_REQ_ID, request.req_id.as_bytes());
                b.push_str(tag::SYMBOL, symbol.as_bytes());
                // 20: unknown or invalid.
                b.push_u64(tag::SECURITY_TRADING_STATUS, 20);
                b.push_str(tag::TEXT, text.as_bytes());
            },
        );
    }

    /// TradingSessionStatusRequest (g): a TradingSessionStatus (h) now and, with 263=1,
    /// on every phase change of any instrument.
    pub fn on_trading_session_status_request(
        &mut self,
        session: SessionId,
        msg: &Message<'_>,
        sink: &mut impl MdSink,
    ) {
        let request = parse_trading_session_status_request(msg);
        let Some(state) = self.session_open(session) else {
            self.counters.answers_dropped += 1;
            return;
        };
        if !state.config.allowed {
            let id = self.config.trading_session_id;
            self.answer(
                session,
                MESSAGE_OVERHEAD_BYTES,
                b"h",
                sink,
                &mut |b: &mut MessageBuilder<'_>| {
                    b.push_str(tag::TRAD_SES_REQ_ID, request.req_id.as_bytes());
                    b.push_str(tag::TRADING_SESSION_ID, id.as_bytes());
                    // 6: request rejected.
                    b.push_u64(tag::TRAD_SES_STATUS, 6);
                    b.push_str(tag::TEXT, b"market data not allowed for this session");
                },
            );
            return;
        }
        let state = &mut self.sessions[session.0 as usize];
        match request.subscription {
            SubscriptionType::Unsubscribe => {
                state.trading_status = None;
                state.trading_status_dirty = false;
                self.refresh_conflated(session);
                return;
            }
            SubscriptionType::SnapshotAndUpdates => state.trading_status = Some(request.req_id),
            SubscriptionType::Snapshot => {}
        }
        if !self.send_trading_session_status(session, Some(request.req_id), false, sink)
            && request.subscription == SubscriptionType::SnapshotAndUpdates
        {
            self.sessions[session.0 as usize].trading_status_dirty = true;
            self.conflate(session);
        }
    }

    /// TradSesStatus (340) of the venue: open when an instrument trades, halted when
    /// none trades and one is halted, closed otherwise.
    fn venue_status(&self) -> u64 {
        let mut status = 3;
        for i in 0..self.books.instrument_count() {
            #[allow(clippy::cast_possible_truncation)] // instrument ids are u32
            match self.books.phase(InstrumentId(i as u32)) {
                Phase::Continuous => return 2,
                Phase::Halted => status = 1,
                Phase::Closed => {}
            }
        }
        status
    }

    fn send_trading_session_status(
        &mut self,
        session: SessionId,
        req_id: Option<ReqId>,
        unsolicited: bool,
        sink: &mut impl MdSink,
    ) -> bool {
        let status = self.venue_status();
        let id = self.config.trading_session_id;
        sink.room_bytes(session) >= MESSAGE_OVERHEAD_BYTES
            && sink.send(session, b"h", &mut |b: &mut MessageBuilder<'_>| {
                if let Some(req_id) = &req_id {
                    b.push_str(tag::TRAD_SES_REQ_ID, req_id.as_bytes());
                }
                b.push_str(tag::TRADING_SESSION_ID, id.as_bytes());
                b.push_u64(tag::TRAD_SES_STATUS, status);
                b.push_bool(tag::UNSOLICITED_INDICATOR, unsolicited);
            })
    }

    fn send_security_status(
        &mut self,
        stream: &Stream,
        phase: Phase,
        previous: Option<Phase>,
        time: Option<TimestampNs>,
        sink: &mut impl MdSink,
    ) -> bool {
        let symbol = self.instruments[stream.instrument.0 as usize]
            .symbol
            .as_bytes();
        let id = self.config.trading_session_id;
        let status = trading_status(phase, previous);
        sink.send(stream.session, b"f", &mut |b: &mut MessageBuilder<'_>| {
            b.push_str(tag::SECURITY_STATUS_REQ_ID, stream.req_id.as_bytes());
            b.push_str(tag::SYMBOL, symbol);
            b.push_bool(tag::UNSOLICITED_INDICATOR, time.is_some());
            b.push_u64(tag::SECURITY_TRADING_STATUS, status);
            b.push_str(tag::TRADING_SESSION_ID, id.as_bytes());
            if let Some(time) = time {
                b.push_timestamp(tag::TRANSACT_TIME, time.0, TimestampPrecision::Millis);
            }
        })
    }

    /// Applies one feed message (in feed sequence order) and sends the increments it
    /// causes.
    ///
    /// # Errors
    /// [`MdBookError`] when the message does not fit the books (a feed bug or a capacity
    /// below the engine's); the books are unchanged by the failing step and every
    /// subscription of the instrument is marked for a fresh snapshot.
    pub fn on_feed_message(
        &mut self,
        message: &FeedMessage,
        sink: &mut impl MdSink,
    ) -> Result<(), MdBookError> {
        let result = self.apply(message, sink);
        if let Err(error) = result {
            self.counters.book_errors += 1;
            if let Some(instrument) = feed_instrument(message) {
                self.dirty_instrument(instrument);
            }
            self.flush(sink);
            return Err(error);
        }
        self.flush(sink);
        Ok(())
    }

    fn apply(&mut self, message: &FeedMessage, sink: &mut impl MdSink) -> Result<(), MdBookError> {
        match *message {
            FeedMessage::AddOrder {
                instrument,
                order_id,
                side,
                price,
                qty,
                ..
            } => {
                let step = self.books.add(instrument, order_id, side, price, qty)?;
                self.on_step(&step);
            }
            FeedMessage::Reduce {
                order_id,
                reduced_qty: qty,
                ..
            }
            | FeedMessage::Execute {
                order_id,
                executed_qty: qty,
                ..
            } => {
                let step = self.books.take(order_id, qty)?;
                self.on_step(&step);
            }
            FeedMessage::Delete { order_id, .. } => {
                let step = self.books.remove(order_id)?;
                self.on_step(&step);
            }
            FeedMessage::Replace {
                instrument,
                order_id,
                side,
                price,
                qty,
                ..
            } => {
                // Absent is fine: an iceberg whose slice traded to zero comes back.
                if self.books.contains(order_id) {
                    let step = self.books.remove(order_id)?;
                    self.on_step(&step);
                }
                let step = self.books.add(instrument, order_id, side, price, qty)?;
                self.on_step(&step);
            }
            FeedMessage::Trade {
                instrument,
                price,
                qty,
                ..
            } => {
                let (before, after) = self
                    .books
                    .record_trade(instrument, price, qty)
                    .ok_or(MdBookError::UnknownInstrument(instrument))?;
                self.on_trade(instrument, price, qty, &before, &after);
            }
            FeedMessage::InstrumentState {
                timestamp,
                instrument,
                phase,
            } => {
                if instrument.0 as usize >= self.books.instrument_count() {
                    return Err(MdBookError::UnknownInstrument(instrument));
                }
                let previous = self.books.phase(instrument);
                self.books.set_phase(instrument, phase);
                self.on_phase(instrument, phase, previous, timestamp, sink);
            }
            FeedMessage::Statistics { .. }
            | FeedMessage::InstrumentDirectory(_)
            | FeedMessage::SystemEvent { .. }
            | FeedMessage::RetransmitRefusal { .. } => {}
        }
        Ok(())
    }

    fn dirty_instrument(&mut self, instrument: InstrumentId) {
        let Some(list) = self.by_instrument.get(instrument.0 as usize) else {
            return;
        };
        for i in 0..list.len() {
            let id = self.by_instrument[instrument.0 as usize][i];
            if let Some(stream) = self.streams[id as usize].as_mut() {
                stream.dirty = true;
                stream.pending_len = 0;
                let session = stream.session;
                self.conflate(session);
            }
        }
    }

    /// Queues `entry` on a stream; a full queue degrades to a fresh snapshot.
    fn push(stream: &mut Stream, touched: &mut Vec<u32>, id: u32, entry: Entry) {
        if stream.dirty {
            return;
        }
        if !stream.touched {
            stream.touched = true;
            touched.push(id);
        }
        if stream.pending_len == PENDING_MAX {
            debug_assert!(false, "one book change never needs more entries");
            stream.dirty = true;
            return;
        }
        stream.pending[stream.pending_len] = entry;
        stream.pending_len += 1;
    }

    fn on_step(&mut self, step: &Step) {
        let books = &self.books;
        let Some(list) = self.by_instrument.get(step.instrument.0 as usize) else {
            return;
        };
        for &id in list {
            let Some(stream) = self.streams[id as usize].as_mut() else {
                continue;
            };
            let StreamKind::Book {
                view,
                entry_types,
                full_refresh,
            } = stream.kind
            else {
                continue;
            };
            let entry_type = side_type(step.side);
            if !entry_types.contains(entry_type) {
                continue;
            }
            if full_refresh {
                // Marks the stream touched: the flush sends a W.
                if !stream.touched && !stream.dirty {
                    stream.touched = true;
                    self.touched.push(id);
                }
                continue;
            }
            let level_entry = |action, price: Price, qty: Qty, count: u32| Entry {
                action,
                entry_type,
                price: Some(price),
                size: (action != Action::Delete).then_some(qty),
                orders: (action != Action::Delete).then_some(count),
                order_id: None,
            };
            match view {
                BookView::Levels { depth } => {
                    let depth = depth.map_or(usize::MAX, |d| d as usize);
                    if step.rank >= depth {
                        continue;
                    }
                    let (price, qty, count) = (step.price, step.level_qty, step.level_count);
                    match step.level {
                        LevelChange::Changed => {
                            let entry = level_entry(Action::Change, price, qty, count);
                            Self::push(stream, &mut self.touched, id, entry);
                        }
                        LevelChange::Inserted => {
                            let entry = level_entry(Action::New, price, qty, count);
                            Self::push(stream, &mut self.touched, id, entry);
                            // The level pushed out of the top `depth`.
                            let out = (depth != usize::MAX)
                                .then(|| books.level(step.instrument, step.side, depth))
                                .flatten();
                            if let Some(out) = out {
                                let entry = level_entry(Action::Delete, out.price, Qty(0), 0);
                                Self::push(stream, &mut self.touched, id, entry);
                            }
                        }
                        LevelChange::Removed => {
                            let entry = level_entry(Action::Delete, price, Qty(0), 0);
                            Self::push(stream, &mut self.touched, id, entry);
                            // The level that moved into the top `depth`.
                            if depth != usize::MAX {
                                if let Some(within) =
                                    books.level(step.instrument, step.side, depth - 1)
                                {
                                    let entry = level_entry(
                                        Action::New,
                                        within.price,
                                        within.qty,
                                        within.count,
                                    );
                                    Self::push(stream, &mut self.touched, id, entry);
                                }
                            }
                        }
                    }
                }
                BookView::Orders => {
                    let action = match step.order {
                        OrderChange::New => Action::New,
                        OrderChange::Changed => Action::Change,
                        OrderChange::Deleted => Action::Delete,
                    };
                    let entry = Entry {
                        action,
                        entry_type,
                        price: Some(step.price),
                        size: (action != Action::Delete).then_some(step.order_qty),
                        orders: None,
                        order_id: Some(step.order_id),
                    };
                    Self::push(stream, &mut self.touched, id, entry);
                }
            }
        }
    }

    fn on_trade(
        &mut self,
        instrument: InstrumentId,
        price: Price,
        qty: Qty,
        before: &MdStats,
        after: &MdStats,
    ) {
        let Some(list) = self.by_instrument.get(instrument.0 as usize) else {
            return;
        };
        let first = before.trade_count == 0;
        let entries = [
            (EntryType::Trade, true, price, qty),
            (EntryType::Opening, first, after.open, Qty(0)),
            (
                EntryType::High,
                first || after.high != before.high,
                after.high,
                Qty(0),
            ),
            (
                EntryType::Low,
                first || after.low != before.low,
                after.low,
                Qty(0),
            ),
            (EntryType::Volume, true, Price(0), after.volume),
        ];
        for &id in list {
            let Some(stream) = self.streams[id as usize].as_mut() else {
                continue;
            };
            let StreamKind::Book {
                entry_types,
                full_refresh,
                ..
            } = stream.kind
            else {
                continue;
            };
            for &(entry_type, changed, price, qty) in &entries {
                if !changed || !entry_types.contains(entry_type) {
                    continue;
                }
                if full_refresh {
                    if !stream.touched && !stream.dirty {
                        stream.touched = true;
                        self.touched.push(id);
                    }
                    continue;
                }
                Self::push(
                    stream,
                    &mut self.touched,
                    id,
                    stat_entry(entry_type, price, qty),
                );
            }
        }
    }

    fn on_phase(
        &mut self,
        instrument: InstrumentId,
        phase: Phase,
        previous: Phase,
        timestamp: TimestampNs,
        sink: &mut impl MdSink,
    ) {
        let stats = self.books.stats(instrument);
        let closing = phase == Phase::Closed && previous != Phase::Closed && stats.trade_count > 0;
        for i in 0..self.by_instrument[instrument.0 as usize].len() {
            let id = self.by_instrument[instrument.0 as usize][i];
            let Some(mut stream) = self.streams[id as usize] else {
                continue;
            };
            match stream.kind {
                StreamKind::Book {
                    entry_types,
                    full_refresh,
                    ..
                } => {
                    if !closing || !entry_types.contains(EntryType::Closing) {
                        continue;
                    }
                    if full_refresh {
                        if !stream.touched && !stream.dirty {
                            stream.touched = true;
                            self.touched.push(id);
                        }
                    } else {
                        let entry = stat_entry(EntryType::Closing, stats.last, Qty(0));
                        Self::push(&mut stream, &mut self.touched, id, entry);
                    }
                }
                StreamKind::SecurityStatus => {
                    let session = stream.session;
                    let sent = !stream.dirty
                        && !self.sessions[session.0 as usize].conflated
                        && sink.room_bytes(session) >= MESSAGE_OVERHEAD_BYTES
                        && self.send_security_status(
                            &stream,
                            phase,
                            Some(previous),
                            Some(timestamp),
                            sink,
                        );
                    if !sent {
                        stream.dirty = true;
                        self.conflate(session);
                    }
                }
            }
            self.streams[id as usize] = Some(stream);
        }
        for s in 0..self.sessions.len() {
            #[allow(clippy::cast_possible_truncation)] // sessions_max fits SessionId
            let session = SessionId(s as u32);
            let state = &self.sessions[s];
            if !state.open || state.trading_status.is_none() {
                continue;
            }
            let sent = !state.conflated
                && self.send_trading_session_status(session, state.trading_status, true, sink);
            if !sent {
                self.sessions[s].trading_status_dirty = true;
                self.conflate(session);
            }
        }
    }

    /// Sends one X (or W for MDUpdateType=0) per touched subscription.
    fn flush(&mut self, sink: &mut impl MdSink) {
        let mut touched = std::mem::take(&mut self.touched);
        for &id in &touched {
            let Some(mut stream) = self.streams[id as usize] else {
                continue;
            };
            stream.touched = false;
            let session = stream.session;
            let conflated = self.sessions[session.0 as usize].conflated;
            let full_refresh = matches!(
                stream.kind,
                StreamKind::Book {
                    full_refresh: true,
                    ..
                }
            );
            if !stream.dirty && (full_refresh || stream.pending_len > 0) {
                let sent = !conflated
                    && if full_refresh {
                        sink.room_bytes(session)
                            >= self.snapshot_bytes(stream.instrument, stream.kind)
                            && self.send_snapshot(&mut stream, sink)
                    } else {
                        sink.room_bytes(session)
                            >= MESSAGE_OVERHEAD_BYTES + stream.pending_len * ENTRY_BYTES_MAX
                            && self.send_increment(&mut stream, sink)
                    };
                if !sent {
                    stream.dirty = true;
                }
            }
            stream.pending_len = 0;
            if stream.dirty {
                self.conflate(session);
            }
            self.streams[id as usize] = Some(stream);
        }
        touched.clear();
        self.touched = touched;
    }

    fn send_increment(&mut self, stream: &mut Stream, sink: &mut impl MdSink) -> bool {
        let symbol = self.instruments[stream.instrument.0 as usize]
            .symbol
            .as_bytes();
        let decimals = self.instruments[stream.instrument.0 as usize].price_decimals;
        let entries = &stream.pending[..stream.pending_len];
        let first = stream.rpt_seq + 1;
        let sent = sink.send(stream.session, b"X", &mut |b: &mut MessageBuilder<'_>| {
            write_increment(b, &stream.req_id, symbol, decimals, entries, first);
        });
        if sent {
            stream.rpt_seq += entries.len() as u64;
            self.counters.increments += 1;
        }
        sent
    }

    /// Upper bound of the bytes a snapshot of `instrument` takes (W plus its X
    /// continuations).
    fn snapshot_bytes(&self, instrument: InstrumentId, kind: StreamKind) -> usize {
        let entries = self.snapshot_entry_count(instrument, kind);
        let messages = entries.div_ceil(self.entries_per_message).max(1);
        messages * MESSAGE_OVERHEAD_BYTES + entries * ENTRY_BYTES_MAX
    }

    fn snapshot_entry_count(&self, instrument: InstrumentId, kind: StreamKind) -> usize {
        let StreamKind::Book {
            view, entry_types, ..
        } = kind
        else {
            return 0;
        };
        let mut count = 0;
        for side in [Side::Buy, Side::Sell] {
            if !entry_types.contains(side_type(side)) {
                continue;
            }
            count += match view {
                BookView::Levels { depth } => {
                    let levels = self.books.level_count(instrument, side);
                    depth.map_or(levels, |d| levels.min(d as usize))
                }
                BookView::Orders => self.books.order_count(instrument, side),
            };
        }
        count + 5
    }

    /// Fills `scratch` with the snapshot entries of a stream.
    fn snapshot_entries(&mut self, stream: &Stream) {
        self.scratch.clear();
        let StreamKind::Book {
            view, entry_types, ..
        } = stream.kind
        else {
            return;
        };
        let instrument = stream.instrument;
        let scratch = &mut self.scratch;
        for side in [Side::Buy, Side::Sell] {
            let entry_type = side_type(side);
            if !entry_types.contains(entry_type) {
                continue;
            }
            match view {
                BookView::Levels { depth } => {
                    let levels = self.books.level_count(instrument, side);
                    let shown = depth.map_or(levels, |d| levels.min(d as usize));
                    for rank in 0..shown {
                        if let Some(level) = self.books.level(instrument, side, rank) {
                            scratch.push(Entry {
                                action: Action::New,
                                entry_type,
                                price: Some(level.price),
                                size: Some(level.qty),
                                orders: Some(level.count),
                                order_id: None,
                            });
                        }
                    }
                }
                BookView::Orders => {
                    self.books
                        .for_each_order(instrument, side, |order_id, price, qty| {
                            scratch.push(Entry {
                                action: Action::New,
                                entry_type,
                                price: Some(price),
                                size: Some(qty),
                                orders: None,
                                order_id: Some(order_id),
                            });
                        });
                }
            }
        }
        let stats = self.books.stats(instrument);
        if stats.trade_count > 0 {
            let closed = self.books.phase(instrument) == Phase::Closed;
            for (entry_type, shown, price, qty) in [
                (EntryType::Trade, true, stats.last, stats.last_qty),
                (EntryType::Opening, true, stats.open, Qty(0)),
                (EntryType::Closing, closed, stats.last, Qty(0)),
                (EntryType::High, true, stats.high, Qty(0)),
                (EntryType::Low, true, stats.low, Qty(0)),
                (EntryType::Volume, true, Price(0), stats.volume),
            ] {
                if shown && entry_types.contains(entry_type) {
                    scratch.push(stat_entry(entry_type, price, qty));
                }
            }
        }
    }

    /// Sends a W with the first entries of the snapshot and X messages of `New`
    /// entries with the rest. The W takes one RptSeq.
    fn send_snapshot(&mut self, stream: &mut Stream, sink: &mut impl MdSink) -> bool {
        self.snapshot_entries(stream);
        let version = self.version(stream.session);
        let symbol = self.instruments[stream.instrument.0 as usize]
            .symbol
            .as_bytes();
        let decimals = self.instruments[stream.instrument.0 as usize].price_decimals;
        let per_message = self.entries_per_message;
        let (head, rest) = self.scratch.split_at(self.scratch.len().min(per_message));
        let rpt_seq = stream.rpt_seq + 1;
        // MDBookType (1021): 1 top of book, 2 price depth, 3 order depth.
        let book_type = match stream.kind {
            StreamKind::Book {
                view: BookView::Orders,
                ..
            } => 3,
            StreamKind::Book {
                view: BookView::Levels { depth: Some(1) },
                ..
            } => 1,
            _ => 2,
        };
        let sent = sink.send(stream.session, b"W", &mut |b: &mut MessageBuilder<'_>| {
            let fixt = (version == FixVersion::Fixt11).then_some((rpt_seq, book_type));
            write_snapshot(b, &stream.req_id, symbol, decimals, fixt, head);
        });
        if !sent {
            return false;
        }
        stream.rpt_seq = rpt_seq;
        self.counters.snapshots += 1;
        for chunk in rest.chunks(per_message) {
            let first = stream.rpt_seq + 1;
            let sent = sink.send(stream.session, b"X", &mut |b: &mut MessageBuilder<'_>| {
                write_increment(b, &stream.req_id, symbol, decimals, chunk, first);
            });
            if !sent {
                // The client holds a partial snapshot: the next W replaces it.
                return false;
            }
            stream.rpt_seq += chunk.len() as u64;
            self.counters.increments += 1;
        }
        true
    }

    /// Catches conflated sessions up while their queues have room: a fresh W for each
    /// subscription that missed updates, the current status for status subscriptions.
    /// Call it whenever a session's queue may have drained (each loop turn is fine: it
    /// returns at once when no session is conflated). Returns the messages sent.
    pub fn poll(&mut self, sink: &mut impl MdSink) -> u32 {
        if self.conflated_sessions == 0 {
            return 0;
        }
        let mut sent = 0;
        for s in 0..self.sessions.len() {
            if !self.sessions[s].conflated {
                continue;
            }
            #[allow(clippy::cast_possible_truncation)] // sessions_max fits SessionId
            let session = SessionId(s as u32);
            sent += self.recover(session, sink);
            self.refresh_conflated(session);
        }
        sent
    }

    fn recover(&mut self, session: SessionId, sink: &mut impl MdSink) -> u32 {
        let mut sent = 0;
        if self.sessions[session.0 as usize].trading_status_dirty {
            let req_id = self.sessions[session.0 as usize].trading_status;
            if !self.send_trading_session_status(session, req_id, true, sink) {
                return sent;
            }
            self.sessions[session.0 as usize].trading_status_dirty = false;
            sent += 1;
        }
        for i in 0..self.sessions[session.0 as usize].streams.len() {
            let id = self.sessions[session.0 as usize].streams[i];
            let Some(mut stream) = self.streams[id as usize] else {
                continue;
            };
            if !stream.dirty {
                continue;
            }
            if sink.room_bytes(session) < self.first_message_bytes(&stream) {
                // Wait for more room; the rest stays dirty.
                return sent;
            }
            if self.send_first(&mut stream, sink) {
                stream.dirty = false;
                sent += 1;
            }
            self.streams[id as usize] = Some(stream);
            if stream.dirty {
                return sent;
            }
        }
        sent
    }
}

fn feed_instrument(message: &FeedMessage) -> Option<InstrumentId> {
    match *message {
        FeedMessage::AddOrder { instrument, .. }
        | FeedMessage::Reduce { instrument, .. }
        | FeedMessage::Delete { instrument, .. }
        | FeedMessage::Replace { instrument, .. }
        | FeedMessage::Execute { instrument, .. }
        | FeedMessage::Trade { instrument, .. }
        | FeedMessage::InstrumentState { instrument, .. }
        | FeedMessage::Statistics { instrument, .. } => Some(instrument),
        _ => None,
    }
}
