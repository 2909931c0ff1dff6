//! FIX market data: MarketDataRequest (V), SecurityListRequest (x),
//! SecurityStatusRequest (e) and TradingSessionStatusRequest (g) in;
//! MarketDataSnapshotFullRefresh (W), MarketDataIncrementalRefresh (X),
//! MarketDataRequestReject (Y), SecurityList (y), SecurityStatus (f) and
//! TradingSessionStatus (h) out, for FIX.4.4 and FIXT.1.1 / FIX.5.0SP2 sessions.
//!
//! # Wiring (what the caller does)
//!
//! One [`MdSubscriptions`] lives on the thread that owns the sessions (the gateway
//! thread), because it writes into their outbound queues:
//!
//! 1. At start-up: `MdSubscriptions::new(MdConfig, instruments)` with one
//!    [`MdInstrument`] per engine instrument (index = `InstrumentId`), built with
//!    [`MdInstrument::from_engine`] and the configured price decimals; currency and ISIN
//!    where configured. Everything is allocated here.
//! 2. Implement [`MdSink`] over the sessions: `room_bytes` is how many bytes the
//!    session's outbound queue can still take (0 when full), `send` builds the message
//!    with the session's header (`Gateway::send` / `Session::send`) and lets the body
//!    closure write the body through the [`MessageBuilder`](crate::MessageBuilder).
//! 3. On logon: [`MdSubscriptions::open_session`] with the session's entitlement
//!    ([`MdSessionConfig`]: allowed or not, maximum subscriptions, FIX version); on
//!    logout or disconnect: [`MdSubscriptions::close_session`].
//! 4. For each application message: [`MdSubscriptions::on_request`] answers V, x, e and g
//!    (and returns false for any other type).
//! 5. For each feed message of the market-data crate's
//!    [`BookBuilder`](arbiter_market_data::BookBuilder), in sequence order, including the
//!    start-up ones (`InstrumentState` gives each instrument its phase):
//!    [`MdSubscriptions::on_feed_message`].
//! 6. Every loop turn (or whenever a queue drained): [`MdSubscriptions::poll`], which
//!    returns at once unless a session is conflated.
//!
//! # What the subscriber sees
//!
//! - **Price levels** (266=Y, or absent): entries keyed by MDEntryPx (270), with
//!   MDEntrySize (271) and NumberOfOrders (346). With MarketDepth N the subscriber holds
//!   exactly the best N levels per side: a level that enters the top N comes as
//!   `279=0` new, one pushed out as `279=2` delete (by price), a changed one as `279=1`.
//!   264=0 is full depth (when [`RequestLimits::full_depth`]); 264 above
//!   [`RequestLimits::depth_max`] is refused with 281=5.
//! - **Order by order** (266=N, full depth only): one entry per order, MDEntryID (278) =
//!   engine order id, in priority order in the W; `279=0` appends the order at the back
//!   of its price level, `279=1` changes its displayed size in place (priority kept),
//!   `279=2` deletes it; a replace that loses priority is a delete then a new. FIX.4.4
//!   has no MDEntryID in W, so a FIX.4.4 W names the order in OrderID (37).
//! - **Trades and statistics**: trade (269=2: price and size of each print), opening
//!   (4: first trade), closing (5: last trade price when the instrument closes), high (7),
//!   low (8) and volume (B: 271 = volume so far). Increments carry them as `279=0`; a
//!   statistic's latest value replaces the previous one.
//! - **MDUpdateType** 1 (or absent): W then X; 0: a new W after every change.
//! - FIX.5.0SP2 W also carry RptSeq (83) and MDBookType (1021: 1 top of book, 2 price
//!   depth, 3 order depth); MDStreamID (1500) is in the dictionary but not sent.
//! - **SecurityStatus** (f) answers e, and with 263=1 comes on every phase change:
//!   326 = 2 halted, 3 resumed after a halt, 17 open, 18 closed; TransactTime (60) is the
//!   sequencer time of the change. **TradingSessionStatus** (h) answers g, and with
//!   263=1 comes on every phase change of any instrument: 340 = 2 while an instrument
//!   trades, 1 when none trades and one is halted, 3 when all are closed.
//! - **SecurityList** (y) for 559=4 (all) or 559=0 (one Symbol): Symbol, MinPriceIncrement
//!   (969, the tick size), RoundLot (561, the lot size), MinTradeVol (562), Currency (15)
//!   and SecurityID (48) with 22=4 (ISIN) where configured, TotNoRelatedSym (393), in
//!   fragments of what fits one message (LastFragment 893 on FIX.5.0SP2).
//!
//! # RptSeq
//!
//! Each subscription (one MDReqID and one instrument) numbers what it sends: every X
//! entry carries the next RptSeq (83), and every W takes one number too (it carries it in
//! 83 on FIX.5.0SP2; on FIX.4.4, whose W has no RptSeq, the first X entry after a W
//! carries the W's number + 1). So a subscriber sees 1, 2, 3, ... without gaps; after a
//! W it restarts its book and its check from the W's number.
//!
//! # Conflation
//!
//! Before each message, the queue's room is checked against an upper bound of the
//! message's size ([`MESSAGE_OVERHEAD_BYTES`] + [`ENTRY_BYTES_MAX`] per entry), so
//! a send never overflows the session's outbox (which would disconnect it). When there
//! is not enough room, or `send` fails, the session becomes **conflated**: no more
//! increments for it; every subscription that misses an update is marked dirty (a flag,
//! not a queue). [`MdSubscriptions::poll`] sends each dirty subscription a fresh W with
//! the latest state, once the room allows, and clears the conflation when none is left.
//! RptSeq continues across it: the W takes the next number after the last one sent. The
//! session's orders are never affected: market data only ever uses the room left.
//!
//! A snapshot bigger than one message (a deep order-by-order book) is a W with the first
//! entries followed by X messages of `279=0` entries with the rest, in priority order.
//!
//! # Rejects (Y, 281 and 58)
//!
//! Unknown symbol 0, duplicate MDReqID (of a live subscription of the session) 1,
//! too many subscriptions, a full queue for a snapshot or more than 8 symbols 2, market
//! data not allowed 3, SubscriptionRequestType 4, MarketDepth 5, MDUpdateType 6,
//! AggregatedBook 7, MDEntryType (Arbiter serves 0 1 2 4 5 7 8 B) 8. No 281 (text only)
//! for an unusable MDReqID or an unsubscribe of an unknown one. A flood of requests is
//! answered request by request; answers that find no room are dropped and counted
//! ([`MdCounters::answers_dropped`]), never queued.

mod book;
mod entries;
mod request;
mod subscriptions;

pub use book::{LevelChange, MdBookError, MdBooks, MdLevel, MdStats, OrderChange, Step};
pub use request::{
    parse_market_data_request, parse_security_list_request, parse_security_status_request,
    parse_trading_session_status_request, BookView, EntryType, EntryTypes, MarketDataRequest,
    MdReject, MdRejectReason, ReqId, RequestLimits, SecurityListRequest, SecurityListScope,
    StatusRequest, SubscriptionType, SymbolLookup, REQ_ID_LEN_MAX, SYMBOLS_PER_REQUEST_MAX,
};
pub use subscriptions::{
    MdConfig, MdCounters, MdInstrument, MdSessionConfig, MdSink, MdSubscriptions, ENTRY_BYTES_MAX,
    MESSAGE_OVERHEAD_BYTES, SYMBOL_LEN_MAX,
};
