//! From the engine's event stream to feed messages and the public book.
//!
//! [`BookBuilder`] sees only what the engine emits ([`Event`]), plus the journal sequence
//! and time of each command. It keeps a private view of every live order (open quantity,
//! whether it is a stop, what display size is known), decides what the public book shows,
//! and numbers the resulting [`FeedMessage`]s. The same journal gives the same messages with
//! the same numbers.
//!
//! # How each event changes the book
//!
//! An order's life in the builder: *stop* (untriggered, never shown) → *incoming* (the
//! current taker of the command) → *resting* (shown) → gone.
//!
//! | event | builder | feed |
//! |---|---|---|
//! | `Accepted` Stop/StopLimit | record as stop (price = limit of a stop-limit) | — |
//! | `Accepted` Limit/Market | finish the previous taker; this order becomes the taker with `leaves = qty` | — |
//! | `Triggered` | finish the previous taker; the stop becomes the taker (Stop → Market, StopLimit → Limit) | — |
//! | `Trade` | maker: `leaves = maker_leaves`, `visible -= qty`; taker: `leaves = taker_leaves` | `E` (maker, qty), then `P` print; taker done at 0: `D` if it was shown |
//! | `Refreshed { visible }` | the maker's new slice; `visible < leaves` proves `display = visible` | `U` (same price, `visible`, back of level) |
//! | `Cancelled { qty >= leaves }` | order gone (stop, taker or resting) | `D` if it was shown |
//! | `Cancelled { qty < leaves }` | decrement-and-cancel of a maker: `leaves -= qty`, `visible = min(visible, leaves)` | `X` by the drop in `visible`, if any |
//! | `Replaced { priority_kept: true }` | `leaves` down in place, `visible = min(visible, leaves)` | `X` by the drop in `visible`, if any |
//! | `Replaced { priority_kept: false }` of a stop | new price/leaves, still a stop | — |
//! | `Replaced { priority_kept: false }` of a resting order | new price/leaves; it becomes the taker (it stays shown at its old place meanwhile) | at its finish: `U` if it rests, `D` if it is done |
//! | `PhaseChanged` | finish the previous taker | `H` |
//! | anything else (`Rejected`, `MassCancelled`, `Risk`, future variants) | finish the previous taker | — |
//! | command end ([`BookBuilder::on_command_end`]) | finish the taker | — |
//!
//! *Finishing the taker*: the engine rests an incoming limit order silently (no event) once
//! its matching is over, and its next work (a triggered stop, a risk action, the next
//! command) always starts with one of the events that finish the taker above. If the taker
//! still has open quantity it rests at the back of its price: `A` (or `U` for a re-entering
//! replaced order) with `visible = min(display, leaves)` (`leaves` when the display size is
//! unknown). A market taker with open quantity cannot rest; the engine always cancels it.
//!
//! # What the events cannot tell (see `docs/market-data.md`)
//!
//! - **Iceberg display size.** `Accepted` has no display quantity, so a resting iceberg is
//!   shown with its full open quantity until its first `Refreshed` proves the display size.
//!   That publishes hidden quantity. [`BookBuilder::set_display_qty`] takes it out of band
//!   until the engine adds `display_qty` to `Accepted`.
//! - **Decrement-and-cancel of the taker.** When a self-trade decrement removes a whole
//!   resting order and the taker goes on with less, only the maker's `Cancelled` is emitted;
//!   the same events come from `CancelResting`, which leaves the taker whole. A taker that
//!   then rests is shown with too much quantity until its next trade tells its leaves.

use std::collections::HashMap;

use arbiter_engine::{
    Event, InstrumentId, InstrumentRegistry, OrdType, OrderId, Price, Qty, Seq, Side, TimestampNs,
};

use crate::book::MarketBooks;
use crate::message::{FeedMessage, FeedSeq, InstrumentInfo, MatchNumber, SystemEventCode};

/// A feed message with its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequenced {
    /// Its place in the feed.
    pub seq: FeedSeq,
    /// The message.
    pub message: FeedMessage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// An untriggered stop: not in the book.
    Stop,
    /// The current taker. `shown`: a replaced resting order still shown at its old place.
    Incoming { shown: bool },
    /// In the book.
    Resting,
}

#[derive(Clone, Copy, Debug)]
struct Private {
    instrument: InstrumentId,
    side: Side,
    /// Current type (a triggered stop turns Market, a triggered stop-limit Limit).
    ord_type: OrdType,
    price: Price,
    /// Open quantity, hidden included.
    leaves: Qty,
    /// What the book shows (resting orders only).
    visible: Qty,
    /// The iceberg display size, when known (`Some(0)` is never stored).
    display: Option<Qty>,
    stage: Stage,
}

/// Builds the public book and the numbered feed from engine events.
///
/// # Example
/// ```
/// use arbiter_engine::*;
/// use arbiter_market_data::BookBuilder;
///
/// let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "DEMO")]).unwrap();
/// let mut engine = Engine::new(EngineConfig::default(), registry.clone());
/// let mut builder = BookBuilder::new(&registry, 1024);
/// let order = NewOrder { order_id: OrderId(1), price: Price(100), qty: Qty(5),
///     tif: TimeInForce::Gtc, ..NewOrder::default() };
/// let command = Command::new(Seq(1), TimestampNs(1), CommandKind::NewOrder(order));
/// let mut events = Vec::new();
/// engine.apply(&command, &mut events);
/// for event in &events {
///     builder.on_event(command.seq, command.timestamp, event);
/// }
/// builder.on_command_end(command.seq);
/// let bids = builder.books().orders_by_priority(InstrumentId(0), Side::Buy);
/// assert_eq!(bids[0].qty, Qty(5));
/// ```
#[derive(Debug)]
pub struct BookBuilder {
    books: MarketBooks,
    orders: HashMap<OrderId, Private>,
    taker: Option<OrderId>,
    next_seq: FeedSeq,
    next_match: MatchNumber,
    out: Vec<Sequenced>,
    last_command: Seq,
    timestamp: TimestampNs,
}

impl BookBuilder {
    /// A builder for a feed session that starts at journal position zero. The instrument
    /// directory, each instrument's initial phase and a start-of-messages system event are
    /// the first messages (sequence 1 on).
    ///
    /// `orders_max` bounds the live orders (take the engine's `orders_max`).
    #[must_use]
    pub fn new(registry: &InstrumentRegistry, orders_max: usize) -> Self {
        let mut builder = BookBuilder {
            books: MarketBooks::with_capacity(orders_max),
            orders: HashMap::with_capacity(orders_max),
            taker: None,
            next_seq: FeedSeq(1),
            next_match: MatchNumber(1),
            out: Vec::with_capacity(1024),
            last_command: Seq(0),
            timestamp: TimestampNs(0),
        };
        for instrument in registry.iter() {
            builder.emit(FeedMessage::InstrumentDirectory(
                InstrumentInfo::from_instrument(instrument),
            ));
            builder.emit(FeedMessage::InstrumentState {
                timestamp: TimestampNs(0),
                instrument: instrument.id,
                phase: instrument.initial_phase,
            });
        }
        builder.emit(FeedMessage::SystemEvent {
            timestamp: TimestampNs(0),
            code: SystemEventCode::StartOfMessages,
            journal_seq: Seq(0),
        });
        builder
    }

    /// The public book after the messages produced so far.
    #[must_use]
    pub fn books(&self) -> &MarketBooks {
        &self.books
    }

    /// The sequence number the next message will get.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.next_seq
    }

    /// The journal sequence of the last finished command.
    #[must_use]
    pub fn last_command(&self) -> Seq {
        self.last_command
    }

    /// Messages produced and not yet taken, in sequence order.
    #[must_use]
    pub fn pending(&self) -> &[Sequenced] {
        &self.out
    }

    /// Takes the messages produced so far (the caller packetizes them).
    pub fn drain(&mut self) -> std::vec::Drain<'_, Sequenced> {
        self.out.drain(..)
    }

    /// The iceberg display size of an order just accepted, until the engine puts it in
    /// `Event::Accepted` itself. Call it right after the order's `Accepted` event; a zero
    /// `display` means fully displayed.
    pub fn set_display_qty(&mut self, order_id: OrderId, display: Qty) {
        if let Some(order) = self.orders.get_mut(&order_id) {
            debug_assert_ne!(order.stage, Stage::Resting, "set before the order rests");
            order.display = (display.0 > 0).then_some(display);
        }
    }

    fn emit(&mut self, message: FeedMessage) {
        let applied = self.books.apply(&message);
        debug_assert_eq!(
            applied,
            Ok(()),
            "the builder's own message must fit its book"
        );
        self.out.push(Sequenced {
            seq: self.next_seq,
            message,
        });
        self.next_seq.0 += 1;
    }

    /// Applies one event of the command with journal sequence `seq` stamped `timestamp`.
    ///
    /// # Panics
    /// In debug builds, when the events contradict each other (an engine bug), e.g. a trade
    /// whose maker is not resting.
    pub fn on_event(&mut self, seq: Seq, timestamp: TimestampNs, event: &Event) {
        debug_assert!(seq >= self.last_command, "commands arrive in journal order");
        self.timestamp = timestamp;
        match *event {
            Event::Accepted {
                order_id,
                instrument,
                side,
                ord_type,
                price,
                qty,
                display_qty,
            } => {
                self.finish_taker();
                let stop = matches!(ord_type, OrdType::Stop | OrdType::StopLimit);
                self.orders.insert(
                    order_id,
                    Private {
                        instrument,
                        side,
                        ord_type,
                        price,
                        leaves: qty,
                        visible: Qty(0),
                        display: (display_qty.0 > 0).then_some(display_qty),
                        stage: if stop {
                            Stage::Stop
                        } else {
                            Stage::Incoming { shown: false }
                        },
                    },
                );
                if !stop {
                    self.taker = Some(order_id);
                }
            }
            Event::Triggered { order_id, .. } => {
                self.finish_taker();
                if let Some(order) = self.orders.get_mut(&order_id) {
                    debug_assert_eq!(order.stage, Stage::Stop);
                    order.ord_type = match order.ord_type {
                        OrdType::StopLimit => OrdType::Limit,
                        _ => OrdType::Market,
                    };
                    order.stage = Stage::Incoming { shown: false };
                    self.taker = Some(order_id);
                }
            }
            Event::Trade(trade) => self.on_trade(&trade),
            Event::Refreshed {
                order_id, visible, ..
            } => {
                let Some(order) = self.orders.get_mut(&order_id) else {
                    debug_assert!(false, "refresh of an unknown order");
                    return;
                };
                debug_assert_eq!(order.stage, Stage::Resting);
                if visible < order.leaves {
                    order.display = Some(visible);
                }
                order.visible = visible;
                let message = FeedMessage::Replace {
                    timestamp,
                    instrument: order.instrument,
                    order_id,
                    side: order.side,
                    price: order.price,
                    qty: visible,
                };
                self.emit(message);
            }
            Event::Cancelled { order_id, qty, .. } => self.on_cancelled(order_id, qty),
            Event::Replaced {
                order_id,
                price,
                leaves,
                priority_kept,
                ..
            } => {
                self.finish_taker();
                self.on_replaced(order_id, price, leaves, priority_kept);
            }
            Event::PhaseChanged { instrument, phase } => {
                self.finish_taker();
                self.emit(FeedMessage::InstrumentState {
                    timestamp,
                    instrument,
                    phase,
                });
            }
            // Rejected, MassCancelled, Risk and variants added later: no book change, but
            // they never come in the middle of a taker's matching.
            _ => self.finish_taker(),
        }
    }

    /// Ends the command with journal sequence `seq`: the taker, if any, rests now.
    pub fn on_command_end(&mut self, seq: Seq) {
        self.finish_taker();
        self.last_command = seq;
    }

    fn on_trade(&mut self, trade: &arbiter_engine::Trade) {
        let timestamp = self.timestamp;
        if self.taker != Some(trade.taker_order_id) {
            debug_assert!(false, "a trade's taker is the current taker");
            self.finish_taker();
        }
        let maker = self
            .orders
            .get_mut(&trade.maker_order_id)
            .expect("a trade's maker is a live order");
        debug_assert_eq!(maker.stage, Stage::Resting);
        debug_assert!(trade.qty <= maker.visible);
        maker.leaves = trade.maker_leaves;
        maker.visible = Qty(maker.visible.0.saturating_sub(trade.qty.0));
        let match_number = self.next_match;
        self.next_match.0 += 1;
        let instrument = trade.instrument;
        self.emit(FeedMessage::Execute {
            timestamp,
            instrument,
            order_id: trade.maker_order_id,
            executed_qty: trade.qty,
            match_number,
        });
        self.emit(FeedMessage::Trade {
            timestamp,
            instrument,
            match_number,
            aggressor_side: trade.taker_side,
            price: trade.price,
            qty: trade.qty,
        });
        if trade.maker_leaves.0 == 0 {
            // The execute took its whole display: it already left the public book.
            self.orders.remove(&trade.maker_order_id);
        }
        if let Some(taker) = self.orders.get_mut(&trade.taker_order_id) {
            taker.leaves = trade.taker_leaves;
            if trade.taker_leaves.0 == 0 {
                self.drop_order(trade.taker_order_id);
            }
        }
    }

    fn on_cancelled(&mut self, order_id: OrderId, qty: Qty) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            debug_assert!(false, "cancel of an unknown order");
            return;
        };
        if qty >= order.leaves {
            self.drop_order(order_id);
            return;
        }
        // A partial cancel: self-trade decrement of a resting order.
        order.leaves.0 -= qty.0;
        if order.stage == Stage::Resting {
            self.reduce_visible_to_leaves(order_id);
        }
    }

    fn on_replaced(&mut self, order_id: OrderId, price: Price, leaves: Qty, priority_kept: bool) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            debug_assert!(false, "replace of an unknown order");
            return;
        };
        match order.stage {
            Stage::Stop => {
                order.leaves = leaves;
                order.price = price;
            }
            Stage::Resting if priority_kept => {
                debug_assert_eq!(order.price, price);
                order.leaves = leaves;
                self.reduce_visible_to_leaves(order_id);
            }
            Stage::Resting => {
                order.leaves = leaves;
                order.price = price;
                order.stage = Stage::Incoming { shown: true };
                self.taker = Some(order_id);
            }
            Stage::Incoming { .. } => debug_assert!(false, "replace of an incoming order"),
        }
    }

    /// `visible = min(visible, leaves)`, published as a reduce.
    fn reduce_visible_to_leaves(&mut self, order_id: OrderId) {
        let order = self.orders.get_mut(&order_id).expect("live order");
        let visible = order.visible.min(order.leaves);
        if visible == order.visible {
            return;
        }
        let reduced_qty = Qty(order.visible.0 - visible.0);
        order.visible = visible;
        let message = FeedMessage::Reduce {
            timestamp: self.timestamp,
            instrument: order.instrument,
            order_id,
            reduced_qty,
        };
        self.emit(message);
    }

    /// The order is gone: delete it from the book if it is shown there.
    fn drop_order(&mut self, order_id: OrderId) {
        let order = self.orders.remove(&order_id).expect("live order");
        if self.taker == Some(order_id) {
            self.taker = None;
        }
        let shown = match order.stage {
            Stage::Resting | Stage::Incoming { shown: true } => {
                self.books.order(order_id).is_some()
            }
            _ => false,
        };
        if shown {
            self.emit(FeedMessage::Delete {
                timestamp: self.timestamp,
                instrument: order.instrument,
                order_id,
            });
        }
    }

    /// The taker's matching is over: rest what is open.
    fn finish_taker(&mut self) {
        let Some(order_id) = self.taker.take() else {
            return;
        };
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        let Stage::Incoming { shown } = order.stage else {
            debug_assert!(false, "the taker is incoming");
            return;
        };
        if order.leaves.0 == 0 || order.ord_type == OrdType::Market {
            debug_assert!(
                false,
                "a done or market taker is cancelled or filled by the engine"
            );
            self.drop_order(order_id);
            return;
        }
        order.visible = order.display.map_or(order.leaves, |d| d.min(order.leaves));
        order.stage = Stage::Resting;
        let (instrument, side, price, qty) =
            (order.instrument, order.side, order.price, order.visible);
        let message = if shown {
            FeedMessage::Replace {
                timestamp: self.timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            }
        } else {
            FeedMessage::AddOrder {
                timestamp: self.timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            }
        };
        self.emit(message);
    }

    /// Live orders the builder tracks (resting and stops).
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }
}
