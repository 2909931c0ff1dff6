//! Why the engine refused or cancelled something. The numbers are stable across versions:
//! add new reasons at the end, never renumber.

/// Why a command was refused. Stable numbering: journals and FIX mappings depend on it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum RejectReason {
    /// The instrument id is not in the registry.
    UnknownInstrument = 1,
    /// The price is not a multiple of the tick size.
    PriceOffTick = 2,
    /// The price is outside the instrument's static band.
    PriceOutsideBand = 3,
    /// The quantity is not a multiple of the lot size.
    QtyOffLot = 4,
    /// The quantity is below the instrument's minimum.
    QtyBelowMin = 5,
    /// The quantity is above the instrument's maximum.
    QtyAboveMax = 6,
    /// No live order with that id (or it belongs to another account).
    UnknownOrder = 7,
    /// A live order already has that id.
    DuplicateOrderId = 8,
    /// The preallocated book is full; the engine never grows.
    BookFull = 9,
    /// A post-only order would have taken liquidity.
    PostOnlyWouldCross = 10,
    /// A fill-or-kill order could not be filled completely on arrival.
    FokNotFillable = 11,
    /// The instrument is halted.
    InstrumentHalted = 12,
    /// The instrument is closed.
    InstrumentClosed = 13,
    /// The combination of fields is not valid (e.g. a stop without a stop price).
    InvalidOrder = 14,
    /// A GTD order whose expiry is not in the future.
    InvalidExpireTime = 15,
    /// The account id is not configured.
    UnknownAccount = 16,
    /// The order cannot be modified this way (e.g. a market order).
    NotModifiable = 17,
    /// Risk: quantity above the per-order maximum.
    RiskMaxOrderQty = 32,
    /// Risk: notional above the per-order maximum.
    RiskMaxOrderNotional = 33,
    /// Risk: price too far from the reference price.
    RiskPriceDeviation = 34,
    /// Risk: a position limit would be breached if all open orders filled.
    RiskPositionLimit = 35,
    /// Risk: the gross open notional (credit) limit would be breached.
    RiskCreditLimit = 36,
    /// Risk: the daily loss limit is breached.
    RiskDailyLoss = 37,
    /// Risk: too many orders or messages in the window.
    RiskVelocity = 38,
    /// Compliance: the instrument is restricted for this account.
    RiskRestrictedInstrument = 39,
    /// Compliance: duplicate ClOrdID within the session's day.
    RiskDuplicateClOrdId = 40,
    /// A kill switch covers this order.
    KillSwitchActive = 41,
    /// The instrument is outside its trading hours.
    OutsideTradingHours = 42,
    /// The operator lacks the role or approval for this action.
    NotAuthorized = 43,
    /// The strategy id is not below the configured `strategies_max`.
    UnknownStrategy = 44,
    /// The session id is not below the configured `sessions_max`.
    UnknownSession = 45,
    /// Compliance: the session's preallocated ClOrdID set for the day is full (it never grows).
    RiskClOrdIdCapacity = 46,
}

impl RejectReason {
    /// A short human-readable text, stable enough to show to a client.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            RejectReason::UnknownInstrument => "unknown instrument",
            RejectReason::PriceOffTick => "price not a multiple of the tick size",
            RejectReason::PriceOutsideBand => "price outside the instrument's price band",
            RejectReason::QtyOffLot => "quantity not a multiple of the lot size",
            RejectReason::QtyBelowMin => "quantity below the minimum",
            RejectReason::QtyAboveMax => "quantity above the maximum",
            RejectReason::UnknownOrder => "unknown order",
            RejectReason::DuplicateOrderId => "duplicate order id",
            RejectReason::BookFull => "book full",
            RejectReason::PostOnlyWouldCross => "post-only order would cross",
            RejectReason::FokNotFillable => "fill-or-kill order not fillable",
            RejectReason::InstrumentHalted => "instrument halted",
            RejectReason::InstrumentClosed => "instrument closed",
            RejectReason::InvalidOrder => "invalid order",
            RejectReason::InvalidExpireTime => "expire time not in the future",
            RejectReason::UnknownAccount => "unknown account",
            RejectReason::NotModifiable => "order cannot be modified",
            RejectReason::RiskMaxOrderQty => "risk: order quantity above limit",
            RejectReason::RiskMaxOrderNotional => "risk: order notional above limit",
            RejectReason::RiskPriceDeviation => "risk: price too far from reference",
            RejectReason::RiskPositionLimit => "risk: position limit",
            RejectReason::RiskCreditLimit => "risk: credit limit",
            RejectReason::RiskDailyLoss => "risk: daily loss limit breached",
            RejectReason::RiskVelocity => "risk: message rate limit",
            RejectReason::RiskRestrictedInstrument => "compliance: restricted instrument",
            RejectReason::RiskDuplicateClOrdId => "compliance: duplicate ClOrdID",
            RejectReason::KillSwitchActive => "kill switch active",
            RejectReason::OutsideTradingHours => "outside trading hours",
            RejectReason::NotAuthorized => "not authorized",
            RejectReason::UnknownStrategy => "unknown strategy",
            RejectReason::UnknownSession => "unknown session",
            RejectReason::RiskClOrdIdCapacity => "compliance: ClOrdID capacity for the day reached",
        }
    }
}

/// Why a resting or incoming order was cancelled. Stable numbering.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum CancelReason {
    /// The owner asked.
    Requested = 1,
    /// The unfilled rest of an IOC order.
    IocRemainder = 2,
    /// The unfilled rest of a market order (no more liquidity within the collar).
    MarketRemainder = 3,
    /// Self-trade prevention.
    SelfTrade = 4,
    /// A DAY or GTD order expired.
    Expired = 5,
    /// A mass cancel request.
    MassCancel = 6,
    /// A kill switch.
    KillSwitch = 7,
    /// A replace down to or below the filled quantity.
    ReplacedToFilled = 8,
    /// The session disconnected and was configured to cancel on disconnect.
    CancelOnDisconnect = 9,
    /// A triggered stop-limit found no room for a new price level.
    BookFull = 10,
}

impl CancelReason {
    /// A short human-readable text.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            CancelReason::Requested => "cancelled on request",
            CancelReason::IocRemainder => "IOC remainder cancelled",
            CancelReason::MarketRemainder => "market order remainder cancelled",
            CancelReason::SelfTrade => "self-trade prevention",
            CancelReason::Expired => "expired",
            CancelReason::MassCancel => "mass cancel",
            CancelReason::KillSwitch => "kill switch",
            CancelReason::ReplacedToFilled => "replaced to or below filled quantity",
            CancelReason::CancelOnDisconnect => "cancel on disconnect",
            CancelReason::BookFull => "book full",
        }
    }
}
