//! Commands: everything that can change engine state. Fixed-size, `Copy`, no heap.
//!
//! Every command carries the sequence number and the time the sequencer stamped on it, so
//! the engine never reads a clock and a replay of the journal gives the same events.

use crate::risk::RiskCommand;
use crate::types::{
    AccountId, InstrumentId, OrdType, OrderId, Phase, Price, Qty, Seq, SessionId, Side, StpGroup,
    StpMode, StrategyId, TimeInForce, TimestampNs,
};

/// A stamped command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Command {
    /// Sequence number stamped by the sequencer.
    pub seq: Seq,
    /// Time stamped by the sequencer.
    pub timestamp: TimestampNs,
    /// What to do.
    pub kind: CommandKind,
}

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CommandKind {
    /// Enter a new order.
    NewOrder(NewOrder),
    /// Cancel one order.
    Cancel(CancelOrder),
    /// Cancel/replace one order.
    Replace(ReplaceOrder),
    /// Cancel many orders of one account.
    MassCancel(MassCancel),
    /// Time has passed: expire GTD orders whose expiry is at or before the command's time.
    Clock,
    /// End of the trading day: expire every DAY order (and GTD orders that are due).
    EndOfDay,
    /// Change an instrument's trading phase.
    SetPhase {
        /// Which instrument.
        instrument: InstrumentId,
        /// The new phase.
        phase: Phase,
    },
    /// Pre-trade risk and kill-switch control.
    Risk(RiskCommand),
}

/// A new order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewOrder {
    /// Engine order id (unique among live orders; the gateway never reuses one).
    pub order_id: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Owner account.
    pub account: AccountId,
    /// Strategy within the account.
    pub strategy: StrategyId,
    /// Source session.
    pub session: SessionId,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (ignored for market and stop orders).
    pub price: Price,
    /// Trigger price of stop and stop-limit orders.
    pub stop_price: Price,
    /// Total order quantity.
    pub qty: Qty,
    /// Iceberg display quantity; zero means fully displayed.
    pub display_qty: Qty,
    /// Post-only: rejected if it would take liquidity.
    pub post_only: bool,
    /// Self-trade prevention mode.
    pub stp_mode: StpMode,
    /// Self-trade prevention group; zero means the account.
    pub stp_group: StpGroup,
    /// Expiry of a GTD order.
    pub expire_time: TimestampNs,
    /// A hash of the client's order id, for the duplicate-ClOrdID check.
    pub client_ref: u64,
}

/// A cancel request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CancelOrder {
    /// The order to cancel.
    pub order_id: OrderId,
    /// The account that asks; must own the order.
    pub account: AccountId,
    /// Source session.
    pub session: SessionId,
}

/// A cancel/replace request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplaceOrder {
    /// The order to change (it keeps its engine id).
    pub order_id: OrderId,
    /// The account that asks; must own the order.
    pub account: AccountId,
    /// Source session.
    pub session: SessionId,
    /// New limit price.
    pub price: Price,
    /// New stop price (stop orders not yet triggered).
    pub stop_price: Price,
    /// New total order quantity, filled quantity included (as FIX OrderQty).
    pub qty: Qty,
    /// A hash of the new client order id.
    pub client_ref: u64,
}

/// A mass cancel: every order of the account, optionally one instrument, optionally one side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MassCancel {
    /// Whose orders.
    pub account: AccountId,
    /// Only this instrument, if set.
    pub instrument: Option<InstrumentId>,
    /// Only this side, if set.
    pub side: Option<Side>,
    /// Source session.
    pub session: SessionId,
}

const _: () = assert!(core::mem::size_of::<Command>() <= 128);

impl Command {
    /// A command with the given stamp.
    #[must_use]
    pub const fn new(seq: Seq, timestamp: TimestampNs, kind: CommandKind) -> Self {
        Command {
            seq,
            timestamp,
            kind,
        }
    }
}
