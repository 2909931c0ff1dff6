//! Incoming market data requests (V, x, e, g) as typed, fixed-size structs.
//!
//! Parsing never panics and never allocates: a request that Arbiter cannot serve comes
//! back as an [`MdReject`] (MDReqRejReason (281) plus a text) for a
//! MarketDataRequestReject (Y). Checks that need the session's state (entitlement,
//! duplicate MDReqID, subscription count) are made by
//! [`MdSubscriptions`](super::MdSubscriptions), which owns that state.

use arbiter_engine::InstrumentId;

use crate::decode::{parse_u64, Message};
use crate::dictionary::{tag, MD_ENTRY_TYPES, RELATED_SYM};

/// Longest request id (MDReqID, SecurityReqID, SecurityStatusReqID, TradSesReqID) kept.
pub const REQ_ID_LEN_MAX: usize = 32;
/// Most instruments (NoRelatedSym entries) in one MarketDataRequest.
pub const SYMBOLS_PER_REQUEST_MAX: usize = 8;

/// A request id, copied out of the message (fixed size, no heap).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReqId {
    bytes: [u8; REQ_ID_LEN_MAX],
    len: u8,
}

impl ReqId {
    /// Stands for an absent or unusable id in a reject (the field is required in Y).
    pub const UNKNOWN: ReqId = ReqId {
        bytes: *b"?\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        len: 1,
    };

    /// The id, if `value` is 1..=[`REQ_ID_LEN_MAX`] bytes without SOH.
    #[must_use]
    pub fn new(value: &[u8]) -> Option<ReqId> {
        if value.is_empty() || value.len() > REQ_ID_LEN_MAX || value.contains(&crate::SOH) {
            return None;
        }
        let mut bytes = [0u8; REQ_ID_LEN_MAX];
        bytes[..value.len()].copy_from_slice(value);
        #[allow(clippy::cast_possible_truncation)] // at most REQ_ID_LEN_MAX
        Some(ReqId {
            bytes,
            len: value.len() as u8,
        })
    }

    /// The id's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for ReqId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ReqId({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// MDReqRejReason (281): why a MarketDataRequest is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MdRejectReason {
    /// `0`: unknown symbol.
    UnknownSymbol = b'0',
    /// `1`: duplicate MDReqID.
    DuplicateMdReqId = b'1',
    /// `2`: insufficient bandwidth (used for "too many subscriptions").
    InsufficientBandwidth = b'2',
    /// `3`: insufficient permissions (market data not allowed for the session).
    InsufficientPermissions = b'3',
    /// `4`: unsupported SubscriptionRequestType.
    UnsupportedSubscriptionRequestType = b'4',
    /// `5`: unsupported MarketDepth.
    UnsupportedMarketDepth = b'5',
    /// `6`: unsupported MDUpdateType.
    UnsupportedMdUpdateType = b'6',
    /// `7`: unsupported AggregatedBook.
    UnsupportedAggregatedBook = b'7',
    /// `8`: unsupported MDEntryType.
    UnsupportedMdEntryType = b'8',
    /// No FIX code fits (unparseable MDReqID, unsubscribe of an unknown MDReqID): the
    /// reject carries only a text, 281 is omitted.
    Other = 0,
}

impl MdRejectReason {
    /// The 281 value, `None` for [`MdRejectReason::Other`].
    #[must_use]
    pub fn code(self) -> Option<u8> {
        match self {
            MdRejectReason::Other => None,
            reason => Some(reason as u8),
        }
    }
}

/// A refused request: the id to echo, the reason and a fixed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdReject {
    /// The request's id ([`ReqId::UNKNOWN`] when it had none usable).
    pub req_id: ReqId,
    /// MDReqRejReason (281).
    pub reason: MdRejectReason,
    /// Text (58).
    pub text: &'static str,
}

/// SubscriptionRequestType (263).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionType {
    /// `0`: one snapshot.
    Snapshot,
    /// `1`: a snapshot, then updates.
    SnapshotAndUpdates,
    /// `2`: stop the updates of an earlier request with the same id.
    Unsubscribe,
}

impl SubscriptionType {
    fn parse(value: Option<&[u8]>) -> Option<SubscriptionType> {
        match value? {
            b"0" => Some(SubscriptionType::Snapshot),
            b"1" => Some(SubscriptionType::SnapshotAndUpdates),
            b"2" => Some(SubscriptionType::Unsubscribe),
            _ => None,
        }
    }
}

/// How a subscription shows the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookView {
    /// AggregatedBook=Y: price levels, at most `depth` per side (`None`: all levels).
    Levels {
        /// MarketDepth; `None` is full depth (264=0).
        depth: Option<u32>,
    },
    /// AggregatedBook=N: every order, full depth, named by its order id.
    Orders,
}

/// The MDEntryTypes (269) Arbiter serves, as bits of [`EntryTypes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryType {
    /// `0`: bid.
    Bid = 0,
    /// `1`: offer.
    Offer = 1,
    /// `2`: trade.
    Trade = 2,
    /// `4`: opening price (first trade of the session).
    Opening = 3,
    /// `5`: closing price (last trade price when the instrument closes).
    Closing = 4,
    /// `7`: session high.
    High = 5,
    /// `8`: session low.
    Low = 6,
    /// `B`: traded volume.
    Volume = 7,
}

impl EntryType {
    /// Every served type.
    pub const ALL: [EntryType; 8] = [
        EntryType::Bid,
        EntryType::Offer,
        EntryType::Trade,
        EntryType::Opening,
        EntryType::Closing,
        EntryType::High,
        EntryType::Low,
        EntryType::Volume,
    ];

    /// From the 269 value; `None` for a type Arbiter does not serve.
    #[must_use]
    pub fn from_fix(value: u8) -> Option<EntryType> {
        Some(match value {
            b'0' => EntryType::Bid,
            b'1' => EntryType::Offer,
            b'2' => EntryType::Trade,
            b'4' => EntryType::Opening,
            b'5' => EntryType::Closing,
            b'7' => EntryType::High,
            b'8' => EntryType::Low,
            b'B' => EntryType::Volume,
            _ => return None,
        })
    }

    /// The 269 value.
    #[must_use]
    pub fn fix(self) -> u8 {
        b"0124578B"[self as usize]
    }
}

/// A set of [`EntryType`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryTypes(u8);

impl EntryTypes {
    /// Every served type.
    pub const ALL: EntryTypes = EntryTypes(0xff);

    /// Adds a type.
    pub fn insert(&mut self, entry: EntryType) {
        self.0 |= 1 << entry as u8;
    }

    /// Whether `entry` is in the set.
    #[must_use]
    pub fn contains(self, entry: EntryType) -> bool {
        self.0 & (1 << entry as u8) != 0
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Finds the instrument of a Symbol (55).
pub trait SymbolLookup {
    /// The instrument named `symbol`, `None` if there is none.
    fn instrument(&self, symbol: &[u8]) -> Option<InstrumentId>;
}

impl<F: Fn(&[u8]) -> Option<InstrumentId>> SymbolLookup for F {
    fn instrument(&self, symbol: &[u8]) -> Option<InstrumentId> {
        self(symbol)
    }
}

/// Limits a MarketDataRequest is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimits {
    /// Largest MarketDepth (264) accepted for a price-level book.
    pub depth_max: u32,
    /// Whether full depth (264=0) is served.
    pub full_depth: bool,
}

/// A parsed MarketDataRequest (V).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketDataRequest {
    /// MDReqID (262).
    pub req_id: ReqId,
    /// SubscriptionRequestType (263).
    pub subscription: SubscriptionType,
    /// AggregatedBook (266) and MarketDepth (264).
    pub view: BookView,
    /// MDUpdateType (265) is 0: every update is a full refresh (W) instead of an X.
    pub full_refresh_updates: bool,
    /// MDEntryTypes asked for.
    pub entry_types: EntryTypes,
    instruments: [InstrumentId; SYMBOLS_PER_REQUEST_MAX],
    instrument_count: u8,
}

impl MarketDataRequest {
    /// The instruments asked for (empty for an unsubscribe).
    #[must_use]
    pub fn instruments(&self) -> &[InstrumentId] {
        &self.instruments[..usize::from(self.instrument_count)]
    }
}

fn reject(req_id: ReqId, reason: MdRejectReason, text: &'static str) -> MdReject {
    MdReject {
        req_id,
        reason,
        text,
    }
}

/// Parses and checks a MarketDataRequest (V).
///
/// An unsubscribe needs only MDReqID and 263=2; everything else is checked in this
/// order: SubscriptionRequestType, MarketDepth, MDUpdateType, AggregatedBook, the
/// MDEntryTypes, then the symbols.
///
/// # Errors
/// [`MdReject`] with the FIX reason and a text for the first problem.
pub fn parse_market_data_request(
    msg: &Message<'_>,
    limits: &RequestLimits,
    symbols: &impl SymbolLookup,
) -> Result<MarketDataRequest, MdReject> {
    use MdRejectReason as R;
    let req_id = match msg.get(tag::MD_REQ_ID) {
        None => return Err(reject(ReqId::UNKNOWN, R::Other, "MDReqID (262) missing")),
        Some(value) => ReqId::new(value).ok_or(reject(
            ReqId::UNKNOWN,
            R::Other,
            "MDReqID (262) empty or longer than 32 bytes",
        ))?,
    };
    let Some(subscription) = SubscriptionType::parse(msg.get(tag::SUBSCRIPTION_REQUEST_TYPE))
    else {
        return Err(reject(
            req_id,
            R::UnsupportedSubscriptionRequestType,
            "SubscriptionRequestType (263) must be 0, 1 or 2",
        ));
    };
    let mut request = MarketDataRequest {
        req_id,
        subscription,
        view: BookView::Levels { depth: None },
        full_refresh_updates: false,
        entry_types: EntryTypes::default(),
        instruments: [InstrumentId(0); SYMBOLS_PER_REQUEST_MAX],
        instrument_count: 0,
    };
    if subscription == SubscriptionType::Unsubscribe {
        return Ok(request);
    }
    let depth = match msg.get(tag::MARKET_DEPTH).map(parse_u64) {
        Some(Some(0)) if limits.full_depth => None,
        Some(Some(0)) => {
            return Err(reject(
                req_id,
                R::UnsupportedMarketDepth,
                "full depth (264=0) is not served",
            ))
        }
        Some(Some(depth)) if depth <= u64::from(limits.depth_max) => {
            #[allow(clippy::cast_possible_truncation)] // at most depth_max
            Some(depth as u32)
        }
        Some(Some(_)) => {
            return Err(reject(
                req_id,
                R::UnsupportedMarketDepth,
                "MarketDepth (264) beyond the configured limit",
            ))
        }
        _ => {
            return Err(reject(
                req_id,
                R::UnsupportedMarketDepth,
                "MarketDepth (264) missing or not a number",
            ))
        }
    };
    request.full_refresh_updates = match msg.get(tag::MD_UPDATE_TYPE) {
        None | Some(b"1") => false,
        Some(b"0") => true,
        Some(_) => {
            return Err(reject(
                req_id,
                R::UnsupportedMdUpdateType,
                "MDUpdateType (265) must be 0 or 1",
            ))
        }
    };
    let aggregated = match msg.get(tag::AGGREGATED_BOOK) {
        None | Some(b"Y") => true,
        Some(b"N") => false,
        Some(_) => {
            return Err(reject(
                req_id,
                R::UnsupportedAggregatedBook,
                "AggregatedBook (266) must be Y or N",
            ))
        }
    };
    request.view = if aggregated {
        BookView::Levels { depth }
    } else if depth.is_none() {
        BookView::Orders
    } else {
        return Err(reject(
            req_id,
            R::UnsupportedMarketDepth,
            "an order-by-order book (266=N) is served at full depth (264=0) only",
        ));
    };
    for entry in msg.group(&MD_ENTRY_TYPES) {
        match entry.get(tag::MD_ENTRY_TYPE) {
            Some(&[value]) => match EntryType::from_fix(value) {
                Some(entry_type) => request.entry_types.insert(entry_type),
                None => {
                    return Err(reject(
                        req_id,
                        R::UnsupportedMdEntryType,
                        "MDEntryType (269) not served: 0 1 2 4 5 7 8 B are",
                    ))
                }
            },
            _ => {
                return Err(reject(
                    req_id,
                    R::UnsupportedMdEntryType,
                    "MDEntryType (269) must be one character",
                ))
            }
        }
    }
    if request.entry_types.is_empty() {
        return Err(reject(
            req_id,
            R::UnsupportedMdEntryType,
            "no MDEntryType (267/269) asked for",
        ));
    }
    for entry in msg.group(&RELATED_SYM) {
        let Some(symbol) = entry.get(tag::SYMBOL) else {
            return Err(reject(req_id, R::UnknownSymbol, "Symbol (55) missing"));
        };
        let Some(instrument) = symbols.instrument(symbol) else {
            return Err(reject(req_id, R::UnknownSymbol, "unknown Symbol (55)"));
        };
        let count = usize::from(request.instrument_count);
        if count == SYMBOLS_PER_REQUEST_MAX {
            return Err(reject(
                req_id,
                R::InsufficientBandwidth,
                "more than 8 symbols (146) in one request",
            ));
        }
        if request.instruments[..count].contains(&instrument) {
            return Err(reject(
                req_id,
                R::UnknownSymbol,
                "the same Symbol (55) twice in one request",
            ));
        }
        request.instruments[count] = instrument;
        request.instrument_count += 1;
    }
    if request.instrument_count == 0 {
        return Err(reject(
            req_id,
            R::UnknownSymbol,
            "no Symbol (146/55) asked for",
        ));
    }
    Ok(request)
}

/// SecurityListRequestType (559) values Arbiter serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityListScope {
    /// `0`: one symbol; `None` when it is unknown (the answer lists nothing).
    Symbol(Option<InstrumentId>),
    /// `4`: every instrument.
    All,
    /// Any other type: answered with SecurityRequestResult (560) = 1.
    Unsupported,
}

/// A parsed SecurityListRequest (x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityListRequest {
    /// SecurityReqID (320).
    pub req_id: ReqId,
    /// What to list.
    pub scope: SecurityListScope,
}

/// Parses a SecurityListRequest (x). Never fails: an unusable id becomes
/// [`ReqId::UNKNOWN`], an unsupported type [`SecurityListScope::Unsupported`].
#[must_use]
pub fn parse_security_list_request(
    msg: &Message<'_>,
    symbols: &impl SymbolLookup,
) -> SecurityListRequest {
    let req_id = msg
        .get(tag::SECURITY_REQ_ID)
        .and_then(ReqId::new)
        .unwrap_or(ReqId::UNKNOWN);
    let scope = match msg.get(tag::SECURITY_LIST_REQUEST_TYPE) {
        Some(b"4") => SecurityListScope::All,
        Some(b"0") => {
            SecurityListScope::Symbol(msg.get(tag::SYMBOL).and_then(|s| symbols.instrument(s)))
        }
        _ => SecurityListScope::Unsupported,
    };
    SecurityListRequest { req_id, scope }
}

/// A parsed SecurityStatusRequest (e) or TradingSessionStatusRequest (g).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusRequest {
    /// SecurityStatusReqID (324) or TradSesReqID (335).
    pub req_id: ReqId,
    /// SubscriptionRequestType (263); unparseable is a snapshot.
    pub subscription: SubscriptionType,
    /// The instrument (e only; `None` for g or an unknown symbol).
    pub instrument: Option<InstrumentId>,
}

fn subscription_or_snapshot(msg: &Message<'_>) -> SubscriptionType {
    SubscriptionType::parse(msg.get(tag::SUBSCRIPTION_REQUEST_TYPE))
        .unwrap_or(SubscriptionType::Snapshot)
}

/// Parses a SecurityStatusRequest (e).
#[must_use]
pub fn parse_security_status_request(
    msg: &Message<'_>,
    symbols: &impl SymbolLookup,
) -> StatusRequest {
    StatusRequest {
        req_id: msg
            .get(tag::SECURITY_STATUS_REQ_ID)
            .and_then(ReqId::new)
            .unwrap_or(ReqId::UNKNOWN),
        subscription: subscription_or_snapshot(msg),
        instrument: msg.get(tag::SYMBOL).and_then(|s| symbols.instrument(s)),
    }
}

/// Parses a TradingSessionStatusRequest (g).
#[must_use]
pub fn parse_trading_session_status_request(msg: &Message<'_>) -> StatusRequest {
    StatusRequest {
        req_id: msg
            .get(tag::TRAD_SES_REQ_ID)
            .and_then(ReqId::new)
            .unwrap_or(ReqId::UNKNOWN),
        subscription: subscription_or_snapshot(msg),
        instrument: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    const LIMITS: RequestLimits = RequestLimits {
        depth_max: 10,
        full_depth: true,
    };

    fn lookup(symbol: &[u8]) -> Option<InstrumentId> {
        match symbol {
            b"AAA" => Some(InstrumentId(0)),
            b"BBB" => Some(InstrumentId(1)),
            _ => None,
        }
    }

    fn parse(body: &str) -> Result<MarketDataRequest, MdReject> {
        let raw = format!("8=FIX.4.4|9=1|35=V|{body}10=000|").replace('|', "\x01");
        let msg = decode(raw.as_bytes()).unwrap();
        parse_market_data_request(&msg, &LIMITS, &lookup)
    }

    #[test]
    fn parses_a_subscription() {
        let request =
            parse("262=R1|263=1|264=5|265=1|267=2|269=0|269=1|146=2|55=AAA|55=BBB|").unwrap();
        assert_eq!(request.req_id.as_bytes(), b"R1");
        assert_eq!(request.subscription, SubscriptionType::SnapshotAndUpdates);
        assert_eq!(request.view, BookView::Levels { depth: Some(5) });
        assert!(request.entry_types.contains(EntryType::Offer));
        assert!(!request.entry_types.contains(EntryType::Trade));
        assert_eq!(request.instruments(), [InstrumentId(0), InstrumentId(1)]);
        let orders = parse("262=R2|263=0|264=0|266=N|267=1|269=0|146=1|55=AAA|").unwrap();
        assert_eq!(orders.view, BookView::Orders);
    }

    #[test]
    fn rejects_with_reasons() {
        let reason = |body: &str| parse(body).unwrap_err().reason;
        use MdRejectReason as R;
        assert_eq!(
            reason("262=R|263=1|264=1|267=1|269=0|146=1|55=ZZZ|"),
            R::UnknownSymbol
        );
        assert_eq!(
            reason("262=R|263=1|264=11|267=1|269=0|146=1|55=AAA|"),
            R::UnsupportedMarketDepth
        );
        assert_eq!(
            reason("262=R|263=1|264=1|266=N|267=1|269=0|146=1|55=AAA|"),
            R::UnsupportedMarketDepth
        );
        assert_eq!(
            reason("262=R|263=1|264=1|267=1|269=9|146=1|55=AAA|"),
            R::UnsupportedMdEntryType
        );
        assert_eq!(
            reason("262=R|263=7|264=1|267=1|269=0|146=1|55=AAA|"),
            R::UnsupportedSubscriptionRequestType
        );
        assert_eq!(
            reason("262=R|263=1|264=1|265=2|267=1|269=0|146=1|55=AAA|"),
            R::UnsupportedMdUpdateType
        );
        assert_eq!(
            reason("262=R|263=1|264=1|266=X|267=1|269=0|146=1|55=AAA|"),
            R::UnsupportedAggregatedBook
        );
        let missing = parse("263=1|").unwrap_err();
        assert_eq!(missing.req_id, ReqId::UNKNOWN);
        assert_eq!(missing.reason.code(), None);
        assert_eq!(
            parse("262=R|263=2|").unwrap().subscription,
            SubscriptionType::Unsubscribe
        );
    }
}
