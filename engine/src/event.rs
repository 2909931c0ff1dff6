//! Events: everything the engine tells the outside world. Fixed-size, `Copy`, no heap.

use crate::reason::{CancelReason, RejectReason};
use crate::risk::RiskEvent;
use crate::types::{AccountId, InstrumentId, OrdType, OrderId, Phase, Price, Qty, Side};

/// One thing that happened. A command causes zero or more events, in a defined order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A new order passed every check and entered the engine.
    Accepted {
        /// The order.
        order_id: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
        /// Its side.
        side: Side,
        /// Its type.
        ord_type: OrdType,
        /// Its limit price (zero for market and stop orders).
        price: Price,
        /// Its total quantity.
        qty: Qty,
        /// Iceberg display quantity; zero when fully displayed.
        display_qty: Qty,
    },
    /// A command was refused; nothing changed.
    Rejected {
        /// The order the command named.
        order_id: OrderId,
        /// Why.
        reason: RejectReason,
        /// What kind of command was refused.
        kind: RejectedKind,
    },
    /// Two orders traded.
    Trade(Trade),
    /// An order left the book (or an incoming order's rest was dropped) without trading.
    Cancelled {
        /// The order.
        order_id: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
        /// The quantity that was open and is now cancelled.
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A cancel/replace took effect.
    Replaced {
        /// The order (same engine id).
        order_id: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
        /// New limit price.
        price: Price,
        /// New open quantity.
        leaves: Qty,
        /// Whether the order kept its time priority.
        priority_kept: bool,
    },
    /// A stop order's trigger price was reached; it now enters as a market or limit order.
    Triggered {
        /// The order.
        order_id: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
    },
    /// An iceberg showed a new slice and went to the back of its level.
    Refreshed {
        /// The order.
        order_id: OrderId,
        /// Its instrument.
        instrument: InstrumentId,
        /// The newly displayed quantity.
        visible: Qty,
    },
    /// An instrument changed phase.
    PhaseChanged {
        /// The instrument.
        instrument: InstrumentId,
        /// The new phase.
        phase: Phase,
    },
    /// A mass cancel finished.
    MassCancelled {
        /// Whose orders.
        account: AccountId,
        /// How many orders were cancelled.
        count: u32,
    },
    /// Risk: kill switches, approvals, limit changes and breaches.
    Risk(RiskEvent),
}

/// The kind of command a [`Event::Rejected`] refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum RejectedKind {
    /// A new order.
    NewOrder = 1,
    /// A cancel.
    Cancel = 2,
    /// A cancel/replace.
    Replace = 3,
    /// A mass cancel, phase change or other control command.
    Control = 4,
}

/// A fill between a resting (maker) and an incoming (taker) order, at the maker's price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trade {
    /// The resting order.
    pub maker_order_id: OrderId,
    /// The incoming order.
    pub taker_order_id: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// The taker's side.
    pub taker_side: Side,
    /// Execution price (the maker's).
    pub price: Price,
    /// Executed quantity.
    pub qty: Qty,
    /// Maker's open quantity after this fill.
    pub maker_leaves: Qty,
    /// Taker's open quantity after this fill.
    pub taker_leaves: Qty,
}

const _: () = assert!(core::mem::size_of::<Event>() <= 64);

/// Where the engine writes its events. The engine calls it in order; it must not fail.
pub trait EventSink {
    /// Receives one event.
    fn emit(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event) {
        self.push(event);
    }
}
