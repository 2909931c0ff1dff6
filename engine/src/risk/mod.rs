//! Pre-trade risk and the kill switch, inside the engine's single writer.
//!
//! Hierarchy: firm → account → strategy (plus the session an order came from). Limits are set
//! per scope (global, firm, account, strategy, session), optionally for one instrument; for
//! a per-order limit the tightest applicable value wins, for an aggregate (position, open
//! notional, daily loss, rate) each scope's own figure is held to its own limit.
//!
//! Everything here is preallocated from [`RiskConfig`] and the engine's
//! [`EngineConfig`](crate::EngineConfig) at construction: the order path never allocates. The
//! default [`RiskConfig`] configures no limit, no trading hours, no restriction and no
//! duplicate-ClOrdID check, so an engine built with [`Engine::new`](crate::Engine::new)
//! behaves exactly as the matching rules say. The checks and their order are described in
//! `docs/risk.md`.

pub(crate) mod approvals;
mod command;
mod compliance;
pub(crate) mod kill_switch;
mod limits;
mod positions;
pub(crate) mod state;
mod velocity;

pub use command::{RiskCommand, RiskEvent};
pub(crate) use state::Risk;

use crate::types::{AccountId, FirmId, InstrumentId, SessionId, StrategyId};

/// Nanoseconds in a day: trading hours are times of day in UTC.
pub const DAY_NS: u64 = 86_400_000_000_000;

/// The most approvals a rule may require (the approver list of a pending request is inline).
pub const APPROVALS_REQUIRED_MAX: u32 = 8;

/// An operator (a person at a risk or admin desk), as configured in [`RiskConfig::operators`].
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct OperatorId(pub u32);

/// What an operator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum OperatorRole {
    /// May set limits, reference prices and restrictions, and activate kill switches.
    Admin = 1,
    /// Everything an admin may do, and may approve releases and bypasses (two-person rule).
    RiskManager = 2,
}

/// A configured operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Operator {
    /// Its id, as carried by risk commands.
    pub id: OperatorId,
    /// Its role.
    pub role: OperatorRole,
}

/// Where a limit applies.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum RiskScope {
    /// Every order.
    Global,
    /// Every account of the firm.
    Firm(FirmId),
    /// One account.
    Account(AccountId),
    /// One strategy.
    Strategy(StrategyId),
    /// One session (rate limits only).
    Session(SessionId),
}

/// What a limit bounds. Stable numbering (journaled).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum LimitKind {
    /// Per order: quantity. Any scope but session; per instrument allowed.
    MaxOrderQty = 1,
    /// Per order: price × quantity (market orders: reference or last price). Any scope but
    /// session; per instrument allowed.
    MaxOrderNotional = 2,
    /// Per order: limit price at most this many basis points from the reference price.
    PriceDeviationBps = 3,
    /// Per order: limit price at most this many ticks from the reference price.
    PriceDeviationTicks = 4,
    /// Worst-case long position (position + open buys + order) per instrument. Firm, account,
    /// strategy; per instrument allowed (without instrument: the same bound in every one).
    LongPosition = 5,
    /// Worst-case short position (open sells + order − position) per instrument.
    ShortPosition = 6,
    /// Gross open notional (credit): Σ price × leaves of open orders plus the order.
    /// Firm, account, strategy; no instrument.
    OpenNotional = 7,
    /// Daily loss: realised + unrealised P&L (marked to the last trade) below −limit stops
    /// new orders for the day. Firm, account, strategy; no instrument.
    DailyLoss = 8,
    /// Accepted new orders per velocity window. Account, session; no instrument.
    OrdersPerWindow = 9,
    /// Messages (new, cancel, replace, mass cancel) per velocity window. Account, session.
    MessagesPerWindow = 10,
}

/// How many [`LimitKind`]s there are.
pub const LIMIT_KINDS: usize = 10;

impl LimitKind {
    /// All kinds, in numbering order.
    pub const ALL: [LimitKind; LIMIT_KINDS] = [
        LimitKind::MaxOrderQty,
        LimitKind::MaxOrderNotional,
        LimitKind::PriceDeviationBps,
        LimitKind::PriceDeviationTicks,
        LimitKind::LongPosition,
        LimitKind::ShortPosition,
        LimitKind::OpenNotional,
        LimitKind::DailyLoss,
        LimitKind::OrdersPerWindow,
        LimitKind::MessagesPerWindow,
    ];

    /// The kind with this number.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<LimitKind> {
        if value >= 1 && value as usize <= LIMIT_KINDS {
            Some(Self::ALL[value as usize - 1])
        } else {
            None
        }
    }

    #[inline]
    pub(crate) const fn index(self) -> usize {
        self as usize - 1
    }

    /// Whether a limit of this kind may be set on this scope, for one instrument or not.
    #[must_use]
    pub const fn applies_to(self, scope: RiskScope, per_instrument: bool) -> bool {
        use LimitKind as K;
        match self {
            K::MaxOrderQty
            | K::MaxOrderNotional
            | K::PriceDeviationBps
            | K::PriceDeviationTicks => !matches!(scope, RiskScope::Session(_)),
            K::LongPosition | K::ShortPosition => matches!(
                scope,
                RiskScope::Firm(_) | RiskScope::Account(_) | RiskScope::Strategy(_)
            ),
            K::OpenNotional | K::DailyLoss => {
                !per_instrument
                    && matches!(
                        scope,
                        RiskScope::Firm(_) | RiskScope::Account(_) | RiskScope::Strategy(_)
                    )
            }
            K::OrdersPerWindow | K::MessagesPerWindow => {
                !per_instrument && matches!(scope, RiskScope::Account(_) | RiskScope::Session(_))
            }
        }
    }
}

/// A limit in the start-up configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LimitSetting {
    /// Where.
    pub scope: RiskScope,
    /// Only this instrument, if set.
    pub instrument: Option<InstrumentId>,
    /// What.
    pub kind: LimitKind,
    /// The bound; [`NO_LIMIT`] removes it.
    pub value: u64,
}

/// The value that means "no limit".
pub const NO_LIMIT: u64 = u64::MAX;

/// A pre-trade check an approved bypass may skip (one account, until end of day).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum RiskCheck {
    /// Trading hours.
    TradingHours = 0,
    /// Max order quantity and notional.
    OrderSize = 1,
    /// Price deviation from the reference.
    PriceDeviation = 2,
    /// Position limits.
    Position = 3,
    /// Open notional (credit).
    Credit = 4,
    /// Daily loss.
    DailyLoss = 5,
    /// Order and message rates.
    Velocity = 6,
    /// Restricted instruments.
    Restricted = 7,
}

impl RiskCheck {
    /// The check with this number.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<RiskCheck> {
        Some(match value {
            0 => RiskCheck::TradingHours,
            1 => RiskCheck::OrderSize,
            2 => RiskCheck::PriceDeviation,
            3 => RiskCheck::Position,
            4 => RiskCheck::Credit,
            5 => RiskCheck::DailyLoss,
            6 => RiskCheck::Velocity,
            7 => RiskCheck::Restricted,
            _ => return None,
        })
    }

    #[inline]
    pub(crate) const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// What a kill switch covers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum KillScope {
    /// Everything.
    Global,
    /// One instrument.
    Instrument(InstrumentId),
    /// One account.
    Account(AccountId),
    /// One strategy.
    Strategy(StrategyId),
    /// One session.
    Session(SessionId),
}

/// What fired a kill switch. Stable numbering.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum KillTrigger {
    /// An operator's command.
    #[default]
    Operator = 1,
    /// The daily loss rule (figure: P&L, limit: the loss limit).
    DailyLoss = 2,
    /// The velocity rule (figure: count in the window, limit: the limit).
    Velocity = 3,
    /// A position beyond its limit after a limit change (figure: position, limit: limit).
    PositionLimit = 4,
    /// The gateway: the session disconnected (cancel on disconnect).
    Gateway = 5,
}

impl KillTrigger {
    /// The trigger with this number.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<KillTrigger> {
        Some(match value {
            1 => KillTrigger::Operator,
            2 => KillTrigger::DailyLoss,
            3 => KillTrigger::Velocity,
            4 => KillTrigger::PositionLimit,
            5 => KillTrigger::Gateway,
            _ => return None,
        })
    }

    /// A short text.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            KillTrigger::Operator => "operator",
            KillTrigger::DailyLoss => "daily loss limit",
            KillTrigger::Velocity => "velocity limit",
            KillTrigger::PositionLimit => "position limit",
            KillTrigger::Gateway => "gateway",
        }
    }
}

/// Why a kill switch was activated: the operator picks one, automatic rules set theirs.
/// Stable numbering; the text is derived from the code.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum KillReason {
    /// No more detail.
    #[default]
    Unspecified = 0,
    /// A suspected malfunctioning algorithm.
    RunawayAlgo = 1,
    /// A fat-finger order or a burst of them.
    FatFinger = 2,
    /// A market event.
    MarketEvent = 3,
    /// A regulator or compliance asked.
    Compliance = 4,
    /// End of a test or drill.
    Drill = 5,
    /// Automatic: the daily loss limit was breached.
    DailyLossBreach = 16,
    /// Automatic: a velocity limit was breached.
    VelocityBreach = 17,
    /// Automatic: a position is beyond its limit.
    PositionBreach = 18,
    /// Gateway: the session disconnected.
    SessionDisconnected = 19,
}

impl KillReason {
    /// The reason with this number.
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<KillReason> {
        Some(match value {
            0 => KillReason::Unspecified,
            1 => KillReason::RunawayAlgo,
            2 => KillReason::FatFinger,
            3 => KillReason::MarketEvent,
            4 => KillReason::Compliance,
            5 => KillReason::Drill,
            16 => KillReason::DailyLossBreach,
            17 => KillReason::VelocityBreach,
            18 => KillReason::PositionBreach,
            19 => KillReason::SessionDisconnected,
            _ => return None,
        })
    }

    /// A short text.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            KillReason::Unspecified => "unspecified",
            KillReason::RunawayAlgo => "runaway algorithm",
            KillReason::FatFinger => "fat finger",
            KillReason::MarketEvent => "market event",
            KillReason::Compliance => "compliance request",
            KillReason::Drill => "drill",
            KillReason::DailyLossBreach => "daily loss limit breached",
            KillReason::VelocityBreach => "velocity limit breached",
            KillReason::PositionBreach => "position limit breached",
            KillReason::SessionDisconnected => "session disconnected",
        }
    }
}

/// Something that needs the two-person rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ApprovalAction {
    /// Release an active kill switch.
    Release(KillScope),
    /// Let one account skip one pre-trade check until end of day.
    Bypass {
        /// Whose orders.
        account: AccountId,
        /// Which check.
        check: RiskCheck,
    },
}

/// Why an approval was refused. Stable numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum ApprovalRefusal {
    /// The operator is not configured.
    UnknownOperator = 1,
    /// The operator is not a risk manager.
    WrongRole = 2,
    /// The operator already approved this request.
    SameOperator = 3,
    /// The action does not apply (kill switch not active, id out of range).
    NotApplicable = 4,
    /// Too many requests are pending.
    TooManyPending = 5,
}

/// An instrument's daily trading hours, as times of day in UTC nanoseconds. `open < close`
/// is a day session; `open > close` wraps midnight (e.g. 22:00–06:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct TradingHours {
    /// Opening time of day (inclusive).
    pub open_ns: u64,
    /// Closing time of day (exclusive).
    pub close_ns: u64,
}

impl TradingHours {
    /// Whether `timestamp_ns` (since the epoch, UTC) falls within the hours.
    #[must_use]
    pub const fn contains(self, timestamp_ns: u64) -> bool {
        let time_of_day = timestamp_ns % DAY_NS;
        if self.open_ns <= self.close_ns {
            time_of_day >= self.open_ns && time_of_day < self.close_ns
        } else {
            time_of_day >= self.open_ns || time_of_day < self.close_ns
        }
    }
}

/// Which automatic rules also fire the kill switch of the breaching scope.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AutoKill {
    /// Daily loss breach of a strategy or account kills that strategy or account.
    pub daily_loss: bool,
    /// Velocity breach of an account or session kills that account or session.
    pub velocity: bool,
    /// A position found beyond its limit after a fill kills that strategy or account.
    pub position: bool,
}

/// Risk configuration, fixed at construction (limits, restrictions and reference prices
/// change later through [`RiskCommand`]s).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RiskConfig {
    /// Firms: firm ids must be below this.
    pub firms_max: u32,
    /// The firm of each account; accounts not listed belong to firm 0.
    pub account_firms: Vec<(AccountId, FirmId)>,
    /// Operators allowed to send risk commands.
    pub operators: Vec<Operator>,
    /// Distinct risk managers needed for a release or bypass (the N of 2-of-N is the number
    /// of configured risk managers). At most [`APPROVALS_REQUIRED_MAX`].
    pub approvals_required: u32,
    /// How long a request waits for its approvals, on command timestamps.
    pub approval_window_ns: u64,
    /// Requests pending at once; more are refused.
    pub approvals_pending_max: u32,
    /// Trading hours per instrument; instruments not listed trade whenever their phase allows.
    pub trading_hours: Vec<(InstrumentId, TradingHours)>,
    /// The sliding window of the rate limits.
    pub velocity_window_ns: u64,
    /// Timestamps remembered per account and session for the rate limits: a rate limit must
    /// be below this. Memory: 16 bytes × this (rounded up to a power of two) × (accounts +
    /// sessions).
    pub velocity_events_max: u32,
    /// ClOrdID hashes remembered per session per day; zero disables the duplicate check.
    /// When a session's set is full its new orders are rejected (never grow).
    pub client_refs_per_session_max: u32,
    /// Per-instrument limit entries (scope, instrument) across all scopes.
    pub instrument_limits_max: u32,
    /// Limits in force at start-up.
    pub limits: Vec<LimitSetting>,
    /// Instruments each account may not trade at start-up.
    pub restricted: Vec<(AccountId, InstrumentId)>,
    /// Automatic kill rules.
    pub auto_kill: AutoKill,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            firms_max: 16,
            account_firms: Vec::new(),
            operators: Vec::new(),
            approvals_required: 2,
            approval_window_ns: 300_000_000_000,
            approvals_pending_max: 16,
            trading_hours: Vec::new(),
            velocity_window_ns: 1_000_000_000,
            velocity_events_max: 64,
            client_refs_per_session_max: 0,
            instrument_limits_max: 1024,
            limits: Vec::new(),
            restricted: Vec::new(),
            auto_kill: AutoKill::default(),
        }
    }
}

/// A kill switch's state, for status requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KillStatus {
    /// Whether new orders in scope are refused.
    pub active: bool,
    /// What fired it last.
    pub trigger: KillTrigger,
    /// Why.
    pub reason: KillReason,
    /// Who (operator commands; zero otherwise).
    pub operator: OperatorId,
    /// When (command timestamp).
    pub activated_at: crate::TimestampNs,
    /// A release waiting for more approvals, if any.
    pub pending_release: Option<PendingApproval>,
}

/// A request waiting for approvals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingApproval {
    /// What it asks.
    pub action: ApprovalAction,
    /// When the first approval came (command timestamp).
    pub requested_at: crate::TimestampNs,
    /// It expires after this time.
    pub expires_at: crate::TimestampNs,
    /// Approvals so far.
    pub approvals: u32,
    /// The operator of the first approval.
    pub requested_by: OperatorId,
}

/// How much of a limit is used, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Utilisation {
    /// Where.
    pub scope: RiskScope,
    /// Which instrument (for per-instrument figures).
    pub instrument: Option<InstrumentId>,
    /// What.
    pub kind: LimitKind,
    /// The current figure (worst-case position, open notional, loss, count in window; zero
    /// for per-order limits, which have no running figure).
    pub used: i128,
    /// The limit in force for that figure.
    pub limit: u64,
}

impl Utilisation {
    /// `used / limit`, for dashboards.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn ratio(&self) -> f64 {
        if self.limit == 0 {
            return if self.used > 0 { f64::INFINITY } else { 0.0 };
        }
        self.used as f64 / self.limit as f64
    }
}
