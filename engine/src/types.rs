//! Newtypes for every quantity that crosses a crate boundary, and the small enums of an order.

/// A price in the instrument's integer price units; the tick size is a multiple of one unit.
///
/// The gateway turns a decimal price into units with the instrument's scale, so the engine
/// only ever compares and adds integers.
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
pub struct Price(pub i64);

/// A quantity in the instrument's integer quantity units; the lot size is a multiple of one unit.
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
pub struct Qty(pub u64);

/// An engine order id, chosen by the gateway (session bits + counter) and carried in the command.
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
pub struct OrderId(pub u64);

/// A dense instrument index, `0..instruments.len()`.
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
pub struct InstrumentId(pub u32);

/// A firm: the top of the risk hierarchy.
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
pub struct FirmId(pub u32);

/// A dense account index (a trader or an algo), `0..accounts_max`.
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
pub struct AccountId(pub u32);

/// A dense strategy index, `0..strategies_max`.
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
pub struct StrategyId(pub u32);

/// The FIX session (or other source) a command came from.
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
pub struct SessionId(pub u32);

/// The sequence number the sequencer stamped on a command.
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
pub struct Seq(pub u64);

/// Nanoseconds since the Unix epoch, stamped by the sequencer; the engine never reads a clock.
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
pub struct TimestampNs(pub u64);

/// A self-trade-prevention group: orders of one group never trade with each other.
/// Zero means "the order's account is its group".
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
pub struct StpGroup(pub u32);

/// The side of an order.
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
#[repr(u8)]
pub enum Side {
    /// Bid.
    #[default]
    Buy = 1,
    /// Offer.
    Sell = 2,
}

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Index for per-side arrays: buy 0, sell 1.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize - 1
    }
}

/// Order type.
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
#[repr(u8)]
pub enum OrdType {
    /// Executes at its limit price or better; may rest.
    #[default]
    Limit = 1,
    /// Executes against the book within the instrument's collar; the rest is cancelled.
    Market = 2,
    /// Becomes a market order when the last trade price reaches the stop price.
    Stop = 3,
    /// Becomes a limit order when the last trade price reaches the stop price.
    StopLimit = 4,
}

/// Time in force.
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
#[repr(u8)]
pub enum TimeInForce {
    /// Expires at the end-of-day command.
    #[default]
    Day = 0,
    /// Good till cancelled.
    Gtc = 1,
    /// Immediate or cancel: fills what crosses, cancels the rest.
    Ioc = 3,
    /// Fill or kill: fills completely on arrival or is rejected.
    Fok = 4,
    /// Good till date: expires when a clock command passes its expiry time.
    Gtd = 6,
}

/// What happens when an order would trade with an order of its own STP group.
/// The aggressor's mode decides.
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
#[repr(u8)]
pub enum StpMode {
    /// Self-trades are allowed.
    #[default]
    Off = 0,
    /// Cancel the resting order and go on matching.
    CancelResting = 1,
    /// Cancel the rest of the aggressor.
    CancelAggressor = 2,
    /// Cancel both the resting order and the rest of the aggressor.
    CancelBoth = 3,
    /// Reduce both by the smaller open quantity; cancel whichever reaches zero.
    DecrementAndCancel = 4,
}

/// The trading phase of an instrument. Auction phases will be added after `Continuous`.
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
#[repr(u8)]
pub enum Phase {
    /// No trading, no new orders; cancels allowed.
    #[default]
    Closed = 0,
    /// Trading suspended; cancels allowed, new orders and replaces refused.
    Halted = 1,
    /// Continuous trading.
    Continuous = 2,
}
