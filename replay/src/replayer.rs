//! Re-running commands through the engine, keeping what the engine forgets: the static
//! fields of every live order (instrument, account, strategy, ClOrdID, ...) so that events
//! naming only an order id can be filtered and exported, and the lifecycle step each event
//! makes (new, partially filled, filled, cancelled, ...).
use std::collections::HashMap;

use arbiter_engine::{
    AccountId, CancelReason, Command, CommandKind, Engine, Event, InstrumentId, OrdType, OrderId,
    Price, Qty, RejectReason, Side, StrategyId, TimeInForce,
};

use crate::venue::Venue;

/// The longest client order id kept (the journal's annotation limit).
pub const CLIENT_ORDER_ID_BYTES_MAX: usize = arbiter_engine::wire::ANNOTATION_BYTES_MAX;

/// A client order id (the record's annotation) kept inline so [`OrderInfo`] stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientOrderId {
    bytes: [u8; CLIENT_ORDER_ID_BYTES_MAX],
    len: u8,
}

impl ClientOrderId {
    /// From annotation bytes (cut at [`CLIENT_ORDER_ID_BYTES_MAX`]).
    #[must_use]
    pub fn new(annotation: &[u8]) -> ClientOrderId {
        let len = annotation.len().min(CLIENT_ORDER_ID_BYTES_MAX);
        let mut bytes = [0u8; CLIENT_ORDER_ID_BYTES_MAX];
        bytes[..len].copy_from_slice(&annotation[..len]);
        ClientOrderId {
            bytes,
            len: u8::try_from(len).expect("at most 64"),
        }
    }

    /// The text (lossy UTF-8).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)]).into_owned()
    }
}

impl std::fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.text())
    }
}

/// What the tool remembers of an order from its NewOrder (and later Replace) command.
#[derive(Clone, Copy, Debug)]
pub struct OrderInfo {
    /// Engine order id.
    pub order_id: OrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Account (the trader or algo).
    pub account: AccountId,
    /// Strategy.
    pub strategy: StrategyId,
    /// Side.
    pub side: Side,
    /// Order type.
    pub ord_type: OrdType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Current limit price.
    pub price: Price,
    /// Current total quantity (changes on replace).
    pub qty: Qty,
    /// Filled so far.
    pub filled: Qty,
    /// The current client order id.
    pub client_order_id: ClientOrderId,
}

/// An order's status after one lifecycle step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Accepted by the engine.
    New,
    /// Refused on entry.
    Rejected,
    /// Traded, quantity remains open.
    PartiallyFilled,
    /// Traded, nothing remains.
    Filled,
    /// Cancelled (on request, IOC/market remainder, STP, mass cancel, kill switch, ...).
    Cancelled,
    /// A DAY or GTD order expired.
    Expired,
    /// Price or quantity changed by a cancel/replace.
    Replaced,
    /// A stop order was triggered.
    Triggered,
    /// An iceberg showed a new slice.
    Refreshed,
    /// A cancel or replace of this order was refused; the order is unchanged.
    ModifyRejected,
}

impl OrderStatus {
    /// The status word used in exports (`PARTIALLY_FILLED`, ...).
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::Replaced => "REPLACED",
            OrderStatus::Triggered => "TRIGGERED",
            OrderStatus::Refreshed => "REFRESHED",
            OrderStatus::ModifyRejected => "MODIFY_REJECTED",
        }
    }
}

/// One lifecycle step of one order, caused by one event of the current command.
#[derive(Clone, Copy, Debug)]
pub struct OrderStep {
    /// Index of the event in [`Replayer::events`].
    pub event_index: usize,
    /// The order as it stands after this step.
    pub order: OrderInfo,
    /// The status after this step.
    pub status: OrderStatus,
    /// Open quantity after this step.
    pub leaves: Qty,
    /// Quantity of this fill (zero when not a fill).
    pub last_qty: Qty,
    /// Price of this fill (zero when not a fill).
    pub last_price: Price,
    /// Reject reason, for rejections.
    pub reject_reason: Option<RejectReason>,
    /// Cancel reason, for cancellations and expiries.
    pub cancel_reason: Option<CancelReason>,
}

/// An engine plus the order memory and per-command outputs the commands need.
#[derive(Debug)]
pub struct Replayer {
    /// The engine being rebuilt.
    pub engine: Engine,
    /// The configuration names come from.
    pub venue: Venue,
    /// Events of the last applied command, in order.
    pub events: Vec<Event>,
    /// Lifecycle steps of the last applied command (only when tracking).
    pub steps: Vec<OrderStep>,
    track: bool,
    orders: HashMap<OrderId, OrderInfo>,
    /// The order of a NewOrder refused as a duplicate id (the live one keeps the id's slot).
    refused: Option<OrderInfo>,
    finished: Vec<OrderId>,
}

impl Replayer {
    /// A replayer on a fresh engine. `track` keeps order information and lifecycle steps
    /// (needed by filters on instrument/account/strategy and by exports; costs a hash map
    /// of live orders).
    #[must_use]
    pub fn new(venue: Venue, track: bool) -> Replayer {
        Replayer {
            engine: venue.engine(),
            venue,
            events: Vec::with_capacity(64),
            steps: Vec::with_capacity(64),
            track,
            orders: HashMap::new(),
            refused: None,
            finished: Vec::new(),
        }
    }

    /// A replayer on an engine restored from a snapshot, knowing `orders` (the live orders
    /// with what the snapshot keeps of them, see [`crate::resume`]).
    #[must_use]
    pub fn resumed(
        venue: Venue,
        engine: Engine,
        track: bool,
        orders: impl IntoIterator<Item = OrderInfo>,
    ) -> Replayer {
        let orders = if track {
            orders.into_iter().map(|o| (o.order_id, o)).collect()
        } else {
            HashMap::new()
        };
        Replayer {
            engine,
            venue,
            events: Vec::with_capacity(64),
            steps: Vec::with_capacity(64),
            track,
            orders,
            refused: None,
            finished: Vec::new(),
        }
    }

    /// What is known of an order: a live one, or one that finished in the last command.
    #[must_use]
    pub fn order(&self, order_id: OrderId) -> Option<&OrderInfo> {
        self.orders
            .get(&order_id)
            .or(self.refused.as_ref().filter(|o| o.order_id == order_id))
    }

    /// Applies one command; its events are then in [`Replayer::events`] and its lifecycle
    /// steps in [`Replayer::steps`].
    pub fn apply(&mut self, command: &Command, annotation: &[u8]) {
        self.events.clear();
        if !self.track {
            self.engine.apply(command, &mut self.events);
            return;
        }
        self.steps.clear();
        self.refused = None;
        let mut replaced_from = None;
        for id in self.finished.drain(..) {
            self.orders.remove(&id);
        }
        match command.kind {
            CommandKind::NewOrder(o) => {
                let info = OrderInfo {
                    order_id: o.order_id,
                    instrument: o.instrument,
                    account: o.account,
                    strategy: o.strategy,
                    side: o.side,
                    ord_type: o.ord_type,
                    tif: o.tif,
                    price: o.price,
                    qty: o.qty,
                    filled: Qty(0),
                    client_order_id: ClientOrderId::new(annotation),
                };
                match self.orders.entry(o.order_id) {
                    std::collections::hash_map::Entry::Occupied(_) => self.refused = Some(info),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(info);
                    }
                }
            }
            CommandKind::Replace(r) => {
                if let Some(info) = self.orders.get_mut(&r.order_id) {
                    if !annotation.is_empty() {
                        replaced_from = Some((r.order_id, info.client_order_id));
                        info.client_order_id = ClientOrderId::new(annotation);
                    }
                }
            }
            _ => {}
        }
        self.engine.apply(command, &mut self.events);
        for index in 0..self.events.len() {
            self.track_event(index, command);
        }
        // As the gateway: a refused replace leaves the order's ClOrdID as it was (the
        // refusal's own step shows the one requested).
        if let Some((order_id, before)) = replaced_from {
            let replaced = self
                .events
                .iter()
                .any(|e| matches!(e, Event::Replaced { order_id: id, .. } if *id == order_id));
            if !replaced {
                if let Some(info) = self.orders.get_mut(&order_id) {
                    info.client_order_id = before;
                }
            }
        }
    }

    fn step(&mut self, index: usize, order_id: OrderId, status: OrderStatus, leaves: Qty) {
        let Some(order) = self.order(order_id).copied() else {
            return;
        };
        self.steps.push(OrderStep {
            event_index: index,
            order,
            status,
            leaves,
            last_qty: Qty(0),
            last_price: Price(0),
            reject_reason: None,
            cancel_reason: None,
        });
    }

    fn finish(&mut self, order_id: OrderId) {
        if !self.finished.contains(&order_id) {
            self.finished.push(order_id);
        }
    }

    fn track_event(&mut self, index: usize, command: &Command) {
        match self.events[index] {
            Event::Accepted { order_id, qty, .. } => {
                self.step(index, order_id, OrderStatus::New, qty);
            }
            Event::Rejected {
                order_id, reason, ..
            } => {
                let is_new =
                    matches!(command.kind, CommandKind::NewOrder(o) if o.order_id == order_id);
                let (status, leaves) = if is_new {
                    let refused_duplicate = self.refused.is_some_and(|o| o.order_id == order_id);
                    if !refused_duplicate {
                        self.finish(order_id);
                    }
                    (OrderStatus::Rejected, Qty(0))
                } else {
                    let leaves = self
                        .engine
                        .order(order_id)
                        .map_or(Qty(0), |view| view.leaves);
                    (OrderStatus::ModifyRejected, leaves)
                };
                self.step(index, order_id, status, leaves);
                if let Some(step) = self.steps.last_mut() {
                    if step.event_index == index {
                        step.reject_reason = Some(reason);
                    }
                }
            }
            Event::Trade(trade) => {
                for (order_id, leaves) in [
                    (trade.maker_order_id, trade.maker_leaves),
                    (trade.taker_order_id, trade.taker_leaves),
                ] {
                    if let Some(info) = self.orders.get_mut(&order_id) {
                        info.filled = Qty(info.filled.0 + trade.qty.0);
                    }
                    let status = if leaves.0 == 0 {
                        self.finish(order_id);
                        OrderStatus::Filled
                    } else {
                        OrderStatus::PartiallyFilled
                    };
                    self.step(index, order_id, status, leaves);
                    if let Some(step) = self.steps.last_mut() {
                        if step.event_index == index && step.order.order_id == order_id {
                            step.last_qty = trade.qty;
                            step.last_price = trade.price;
                        }
                    }
                }
            }
            Event::Cancelled {
                order_id, reason, ..
            } => {
                self.finish(order_id);
                let status = if reason == CancelReason::Expired {
                    OrderStatus::Expired
                } else {
                    OrderStatus::Cancelled
                };
                self.step(index, order_id, status, Qty(0));
                if let Some(step) = self.steps.last_mut() {
                    if step.event_index == index {
                        step.cancel_reason = Some(reason);
                    }
                }
            }
            Event::Replaced {
                order_id,
                price,
                leaves,
                ..
            } => {
                if let Some(info) = self.orders.get_mut(&order_id) {
                    info.price = price;
                    info.qty = Qty(info.filled.0 + leaves.0);
                }
                self.step(index, order_id, OrderStatus::Replaced, leaves);
            }
            Event::Triggered { order_id, .. } => {
                let leaves = self.engine.order(order_id).map_or(Qty(0), |v| v.leaves);
                let leaves = if leaves.0 == 0 {
                    self.order(order_id)
                        .map_or(Qty(0), |o| Qty(o.qty.0 - o.filled.0.min(o.qty.0)))
                } else {
                    leaves
                };
                self.step(index, order_id, OrderStatus::Triggered, leaves);
            }
            Event::Refreshed { order_id, .. } => {
                let leaves = self.engine.order(order_id).map_or(Qty(0), |v| v.leaves);
                self.step(index, order_id, OrderStatus::Refreshed, leaves);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use arbiter_engine::{NewOrder, ReplaceOrder, Seq, SessionId, TimestampNs};

    use super::*;

    fn command(seq: u64, kind: CommandKind) -> Command {
        Command {
            seq: Seq(seq),
            // 2024-03-01T10:00:00Z: inside the demo's trading hours.
            timestamp: TimestampNs(1_709_287_200_000_000_000 + seq),
            kind,
        }
    }

    #[test]
    fn a_refused_replace_keeps_the_client_order_id() {
        let venue = Venue::parse(arbiter_config::DEFAULT_CONFIG).unwrap();
        let mut replayer = Replayer::new(venue, true);
        let new = CommandKind::NewOrder(NewOrder {
            order_id: OrderId(1),
            instrument: InstrumentId(0),
            account: AccountId(1),
            session: SessionId(1),
            side: Side::Buy,
            ord_type: OrdType::Limit,
            tif: TimeInForce::Gtc,
            price: Price(15_000),
            qty: Qty(10),
            client_ref: 1,
            ..NewOrder::default()
        });
        replayer.apply(&command(1, new), b"A");
        assert!(matches!(replayer.events[0], Event::Accepted { .. }));
        let replace = |qty, client_ref| {
            CommandKind::Replace(ReplaceOrder {
                order_id: OrderId(1),
                account: AccountId(1),
                session: SessionId(1),
                price: Price(15_001),
                stop_price: Price(0),
                qty: Qty(qty),
                client_ref,
            })
        };
        // Above the instrument's qty_max: refused; the refusal's step names the requested id, the order not.
        replayer.apply(&command(2, replace(2_000_000, 2)), b"B");
        assert!(
            matches!(replayer.events[0], Event::Rejected { .. }),
            "{:?}",
            replayer.events
        );
        assert_eq!(replayer.steps[0].status, OrderStatus::ModifyRejected);
        assert_eq!(replayer.steps[0].order.client_order_id.text(), "B");
        assert_eq!(
            replayer.order(OrderId(1)).unwrap().client_order_id.text(),
            "A"
        );
        replayer.apply(&command(3, replace(8, 3)), b"C");
        assert!(matches!(replayer.events[0], Event::Replaced { .. }));
        assert_eq!(
            replayer.order(OrderId(1)).unwrap().client_order_id.text(),
            "C"
        );
    }
}
