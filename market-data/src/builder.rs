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
//! # Memory and capacity
//!
//! Nothing is allocated per event: the private orders sit in an arena of
//! [`BookCapacity::orders_max`] slots found through the engine's [`IdIndex`], the public book
//! is a [`MarketBooks`] of the same capacity, and the pending messages go to a vector
//! reserved at start-up ([`PENDING_MESSAGES_RESERVED`]; drain it at least every few hundred
//! events, as [`crate::Publisher`] does after each one). Sized from the engine's
//! configuration ([`BookCapacity::from_engine`]) the builder never runs out, since it
//! never shows more than the engine holds. Sized smaller, it refuses: the first event that
//! does not fit returns a [`BookError`], and so does every later one (the feed stops
//! rather than publish a wrong book; [`BookBuilder::failure`]).
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

use arbiter_engine::{
    Event, IdIndex, InstrumentId, InstrumentRegistry, OrdType, OrderId, Price, Qty, Seq, Side,
    TimestampNs,
};

use crate::book::{BookCapacity, MarketBooks};
use crate::error::BookError;
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

/// Messages the pending vector holds before it would have to grow: one event produces at
/// most four (finish the taker, execute, print, delete the taker).
pub const PENDING_MESSAGES_RESERVED: usize = 1024;

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

const EMPTY_PRIVATE: Private = Private {
    instrument: InstrumentId(0),
    side: Side::Buy,
    ord_type: OrdType::Limit,
    price: Price(0),
    leaves: Qty(0),
    visible: Qty(0),
    display: None,
    stage: Stage::Stop,
};

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
///     builder.on_event(command.seq, command.timestamp, event).unwrap();
/// }
/// builder.on_command_end(command.seq).unwrap();
/// let bids = builder.books().orders_by_priority(InstrumentId(0), Side::Buy);
/// assert_eq!(bids[0].qty, Qty(5));
/// ```
#[derive(Debug)]
pub struct BookBuilder {
    books: MarketBooks,
    /// Private view of every live order, in slots found through `index`.
    orders: Vec<Private>,
    free: Vec<u32>,
    index: IdIndex,
    taker: Option<OrderId>,
    next_seq: FeedSeq,
    next_match: MatchNumber,
    out: Vec<Sequenced>,
    last_command: Seq,
    timestamp: TimestampNs,
    /// The first refusal; sticky.
    failure: Option<BookError>,
}

impl BookBuilder {
    /// A builder for a feed session that starts at journal position zero. The instrument
    /// directory, each instrument's initial phase and a start-of-messages system event are
    /// the first messages (sequence 1 on).
    ///
    /// `orders_max` bounds the live orders (take the engine's `orders_max`); levels per side
    /// are [`BookCapacity::orders`]'s. Prefer [`BookBuilder::with_capacities`] with
    /// [`BookCapacity::from_engine`].
    #[must_use]
    pub fn new(registry: &InstrumentRegistry, orders_max: usize) -> Self {
        Self::with_capacities(registry, BookCapacity::orders(orders_max))
    }

    /// A builder whose arenas are sized by `capacity` (allocated now, never grown).
    #[must_use]
    pub fn with_capacities(registry: &InstrumentRegistry, capacity: BookCapacity) -> Self {
        let orders = u32::try_from(capacity.orders_max).unwrap_or(u32::MAX - 1);
        let mut free = Vec::with_capacity(orders as usize);
        free.extend((0..orders).rev());
        let mut builder = BookBuilder {
            books: MarketBooks::with_capacities(capacity),
            orders: vec![EMPTY_PRIVATE; orders as usize],
            free,
            index: IdIndex::with_capacity(orders),
            taker: None,
            next_seq: FeedSeq(1),
            next_match: MatchNumber(1),
            out: Vec::with_capacity(PENDING_MESSAGES_RESERVED),
            last_command: Seq(0),
            timestamp: TimestampNs(0),
            failure: None,
        };
        for instrument in registry.iter() {
            builder.emit_start(FeedMessage::InstrumentDirectory(
                InstrumentInfo::from_instrument(instrument),
            ));
            builder.emit_start(FeedMessage::InstrumentState {
                timestamp: TimestampNs(0),
                instrument: instrument.id,
                phase: instrument.initial_phase,
            });
        }
        builder.emit_start(FeedMessage::SystemEvent {
            timestamp: TimestampNs(0),
            code: SystemEventCode::StartOfMessages,
            journal_seq: Seq(0),
        });
        builder
    }

    /// A start-up message: a refusal (more instruments than the books take) is sticky.
    fn emit_start(&mut self, message: FeedMessage) {
        if self.failure.is_none() {
            if let Err(error) = self.emit(message) {
                self.failure = Some(error);
            }
        }
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

    /// The refusal that stopped the builder, if any (see the module docs): from then on it
    /// produces nothing, and the feed must be rebuilt with larger capacities.
    #[must_use]
    pub fn failure(&self) -> Option<BookError> {
        self.failure
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
        if let Some(order) = self.order_mut(order_id) {
            debug_assert_ne!(order.stage, Stage::Resting, "set before the order rests");
            order.display = (display.0 > 0).then_some(display);
        }
    }

    fn order_mut(&mut self, order_id: OrderId) -> Option<&mut Private> {
        let slot = self.index.get(order_id.0)?;
        Some(&mut self.orders[slot as usize])
    }

    fn insert_order(&mut self, order_id: OrderId, order: Private) -> Result<(), BookError> {
        if let Some(existing) = self.order_mut(order_id) {
            debug_assert!(false, "the engine never accepts a live order id twice");
            *existing = order;
            return Ok(());
        }
        if self.index.is_full() {
            return Err(BookError::Full);
        }
        let slot = self.free.pop().ok_or(BookError::Full)?;
        self.orders[slot as usize] = order;
        self.index.insert(order_id.0, slot);
        Ok(())
    }

    fn remove_order(&mut self, order_id: OrderId) -> Option<Private> {
        let slot = self.index.remove(order_id.0)?;
        self.free.push(slot);
        Some(self.orders[slot as usize])
    }

    /// Applies the message to the public book, then numbers and queues it. A message the
    /// book refuses is not published.
    fn emit(&mut self, message: FeedMessage) -> Result<(), BookError> {
        self.books.apply(&message)?;
        self.out.push(Sequenced {
            seq: self.next_seq,
            message,
        });
        self.next_seq.0 += 1;
        Ok(())
    }

    /// Applies one event of the command with journal sequence `seq` stamped `timestamp`.
    ///
    /// # Errors
    /// [`BookError`] when the event needs more room than the builder's capacities (an
    /// order arena or a ladder is full), and for every event after such a refusal
    /// ([`BookBuilder::failure`]). The messages queued before it stay valid.
    ///
    /// # Panics
    /// In debug builds, when the events contradict each other (an engine bug), e.g. a trade
    /// whose maker is not resting.
    pub fn on_event(
        &mut self,
        seq: Seq,
        timestamp: TimestampNs,
        event: &Event,
    ) -> Result<(), BookError> {
        if let Some(error) = self.failure {
            return Err(error);
        }
        debug_assert!(seq >= self.last_command, "commands arrive in journal order");
        self.timestamp = timestamp;
        let result = self.apply_event(timestamp, event);
        if let Err(error) = result {
            self.failure = Some(error);
        }
        result
    }

    fn apply_event(&mut self, timestamp: TimestampNs, event: &Event) -> Result<(), BookError> {
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
                self.finish_taker()?;
                let stop = matches!(ord_type, OrdType::Stop | OrdType::StopLimit);
                self.insert_order(
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
                )?;
                if !stop {
                    self.taker = Some(order_id);
                }
                Ok(())
            }
            Event::Triggered { order_id, .. } => {
                self.finish_taker()?;
                if let Some(order) = self.order_mut(order_id) {
                    debug_assert_eq!(order.stage, Stage::Stop);
                    order.ord_type = match order.ord_type {
                        OrdType::StopLimit => OrdType::Limit,
                        _ => OrdType::Market,
                    };
                    order.stage = Stage::Incoming { shown: false };
                    self.taker = Some(order_id);
                }
                Ok(())
            }
            Event::Trade(trade) => self.on_trade(&trade),
            Event::Refreshed {
                order_id, visible, ..
            } => {
                let Some(order) = self.order_mut(order_id) else {
                    debug_assert!(false, "refresh of an unknown order");
                    return Ok(());
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
                self.emit(message)
            }
            Event::Cancelled { order_id, qty, .. } => self.on_cancelled(order_id, qty),
            Event::Replaced {
                order_id,
                price,
                leaves,
                priority_kept,
                ..
            } => {
                self.finish_taker()?;
                self.on_replaced(order_id, price, leaves, priority_kept)
            }
            Event::PhaseChanged { instrument, phase } => {
                self.finish_taker()?;
                self.emit(FeedMessage::InstrumentState {
                    timestamp,
                    instrument,
                    phase,
                })
            }
            // Rejected, MassCancelled, Risk and variants added later: no book change, but
            // they never come in the middle of a taker's matching.
            _ => self.finish_taker(),
        }
    }

    /// Ends the command with journal sequence `seq`: the taker, if any, rests now.
    ///
    /// # Errors
    /// As [`BookBuilder::on_event`].
    pub fn on_command_end(&mut self, seq: Seq) -> Result<(), BookError> {
        if let Some(error) = self.failure {
            return Err(error);
        }
        let result = self.finish_taker();
        match result {
            Ok(()) => self.last_command = seq,
            Err(error) => self.failure = Some(error),
        }
        result
    }

    fn on_trade(&mut self, trade: &arbiter_engine::Trade) -> Result<(), BookError> {
        let timestamp = self.timestamp;
        if self.taker != Some(trade.taker_order_id) {
            debug_assert!(false, "a trade's taker is the current taker");
            self.finish_taker()?;
        }
        let Some(maker) = self.order_mut(trade.maker_order_id) else {
            debug_assert!(false, "a trade's maker is a live order");
            return Ok(());
        };
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
        })?;
        self.emit(FeedMessage::Trade {
            timestamp,
            instrument,
            match_number,
            aggressor_side: trade.taker_side,
            price: trade.price,
            qty: trade.qty,
        })?;
        if trade.maker_leaves.0 == 0 {
            // The execute took its whole display: it already left the public book.
            self.remove_order(trade.maker_order_id);
        }
        if let Some(taker) = self.order_mut(trade.taker_order_id) {
            taker.leaves = trade.taker_leaves;
            if trade.taker_leaves.0 == 0 {
                self.drop_order(trade.taker_order_id)?;
            }
        }
        Ok(())
    }

    fn on_cancelled(&mut self, order_id: OrderId, qty: Qty) -> Result<(), BookError> {
        let Some(order) = self.order_mut(order_id) else {
            debug_assert!(false, "cancel of an unknown order");
            return Ok(());
        };
        if qty >= order.leaves {
            return self.drop_order(order_id);
        }
        // A partial cancel: self-trade decrement of a resting order.
        order.leaves.0 -= qty.0;
        if order.stage == Stage::Resting {
            self.reduce_visible_to_leaves(order_id)?;
        }
        Ok(())
    }

    fn on_replaced(
        &mut self,
        order_id: OrderId,
        price: Price,
        leaves: Qty,
        priority_kept: bool,
    ) -> Result<(), BookError> {
        let Some(order) = self.order_mut(order_id) else {
            debug_assert!(false, "replace of an unknown order");
            return Ok(());
        };
        match order.stage {
            Stage::Stop => {
                order.leaves = leaves;
                order.price = price;
            }
            Stage::Resting if priority_kept => {
                debug_assert_eq!(order.price, price);
                order.leaves = leaves;
                self.reduce_visible_to_leaves(order_id)?;
            }
            Stage::Resting => {
                order.leaves = leaves;
                order.price = price;
                order.stage = Stage::Incoming { shown: true };
                self.taker = Some(order_id);
            }
            Stage::Incoming { .. } => debug_assert!(false, "replace of an incoming order"),
        }
        Ok(())
    }

    /// `visible = min(visible, leaves)`, published as a reduce.
    fn reduce_visible_to_leaves(&mut self, order_id: OrderId) -> Result<(), BookError> {
        let timestamp = self.timestamp;
        let Some(order) = self.order_mut(order_id) else {
            debug_assert!(false, "live order");
            return Ok(());
        };
        let visible = order.visible.min(order.leaves);
        if visible == order.visible {
            return Ok(());
        }
        let reduced_qty = Qty(order.visible.0 - visible.0);
        order.visible = visible;
        let message = FeedMessage::Reduce {
            timestamp,
            instrument: order.instrument,
            order_id,
            reduced_qty,
        };
        self.emit(message)
    }

    /// The order is gone: delete it from the book if it is shown there.
    fn drop_order(&mut self, order_id: OrderId) -> Result<(), BookError> {
        let Some(order) = self.remove_order(order_id) else {
            debug_assert!(false, "live order");
            return Ok(());
        };
        if self.taker == Some(order_id) {
            self.taker = None;
        }
        let shown = match order.stage {
            Stage::Resting | Stage::Incoming { shown: true } => self.books.contains(order_id),
            _ => false,
        };
        if shown {
            self.emit(FeedMessage::Delete {
                timestamp: self.timestamp,
                instrument: order.instrument,
                order_id,
            })?;
        }
        Ok(())
    }

    /// The taker's matching is over: rest what is open.
    fn finish_taker(&mut self) -> Result<(), BookError> {
        let Some(order_id) = self.taker.take() else {
            return Ok(());
        };
        let timestamp = self.timestamp;
        let Some(order) = self.order_mut(order_id) else {
            return Ok(());
        };
        let Stage::Incoming { shown } = order.stage else {
            debug_assert!(false, "the taker is incoming");
            return Ok(());
        };
        if order.leaves.0 == 0 || order.ord_type == OrdType::Market {
            debug_assert!(
                false,
                "a done or market taker is cancelled or filled by the engine"
            );
            return self.drop_order(order_id);
        }
        order.visible = order.display.map_or(order.leaves, |d| d.min(order.leaves));
        order.stage = Stage::Resting;
        let (instrument, side, price, qty) =
            (order.instrument, order.side, order.price, order.visible);
        let message = if shown {
            FeedMessage::Replace {
                timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            }
        } else {
            FeedMessage::AddOrder {
                timestamp,
                instrument,
                order_id,
                side,
                price,
                qty,
            }
        };
        self.emit(message)
    }

    /// Live orders the builder tracks (resting and stops).
    #[must_use]
    pub fn live_orders(&self) -> usize {
        self.index.len() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::{
        Command, CommandKind, Engine, EngineConfig, Instrument, NewOrder, TimeInForce,
    };

    fn new_order(id: u64, price: i64) -> Command {
        Command::new(
            Seq(id),
            TimestampNs(id),
            CommandKind::NewOrder(NewOrder {
                order_id: OrderId(id),
                price: Price(price),
                qty: Qty(5),
                tif: TimeInForce::Gtc,
                ..NewOrder::default()
            }),
        )
    }

    /// A builder smaller than the engine refuses the first order that does not fit, keeps
    /// refusing, and never panics or publishes a book that differs from what it refused.
    #[test]
    fn capacity_exhaustion_is_a_sticky_refusal() {
        let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "CAP")]).unwrap();
        let mut engine = Engine::new(EngineConfig::default(), registry.clone());
        let mut builder = BookBuilder::with_capacities(
            &registry,
            BookCapacity {
                orders_max: 8,
                levels_per_side_max: 2,
            },
        );
        let mut events = Vec::new();
        let mut results = Vec::new();
        for id in 1..=4 {
            let command = new_order(id, 100 + i64::try_from(id).unwrap());
            events.clear();
            engine.apply(&command, &mut events);
            for event in &events {
                results.push(builder.on_event(command.seq, command.timestamp, event));
            }
            results.push(builder.on_command_end(command.seq));
        }
        let first_error = results.iter().position(Result::is_err).unwrap();
        assert_eq!(
            results[first_error],
            Err(BookError::LevelsFull(InstrumentId(0)))
        );
        assert!(results[first_error..].iter().all(Result::is_err));
        assert_eq!(
            builder.failure(),
            Some(BookError::LevelsFull(InstrumentId(0)))
        );
        let shown: Vec<u64> = builder
            .books()
            .orders_iter(InstrumentId(0), Side::Buy)
            .map(|o| o.order_id.0)
            .collect();
        assert_eq!(shown, [2, 1], "the two orders that fit");
        let adds = builder
            .pending()
            .iter()
            .filter(|m| matches!(m.message, FeedMessage::AddOrder { .. }))
            .count();
        assert_eq!(adds, 2, "the refused add was not published");
    }
}
