//! The public book: what the feed shows. Per instrument an L3 book (orders by id in
//! price-time priority, displayed quantity only), its L2 aggregation, the phase, the
//! instrument's static data and session statistics.
//!
//! The publisher and every receiver keep a [`MarketBooks`] and change it only through
//! [`MarketBooks::apply`] with feed messages, so a receiver that applied the same messages
//! holds the same book as the publisher, by construction. The hidden part of an iceberg is
//! never in this book.

use std::collections::{BTreeMap, HashMap};

use arbiter_engine::{InstrumentId, OrderId, Phase, Price, Qty, Side};

use crate::error::BookError;
use crate::message::{FeedMessage, InstrumentInfo, SessionStats};

/// One order as the feed shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderEntry {
    /// Engine order id.
    pub order_id: OrderId,
    /// Price.
    pub price: Price,
    /// Displayed quantity (always positive).
    pub qty: Qty,
}

/// One aggregated price level (L2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LevelEntry {
    /// Price.
    pub price: Price,
    /// Sum of displayed quantities.
    pub qty: Qty,
    /// Number of orders.
    pub count: u32,
}

#[derive(Clone, Debug, Default)]
struct Level {
    qty_total: u64,
    /// Arrival counter -> order: iteration order is time priority.
    orders: BTreeMap<u64, OrderId>,
}

#[derive(Clone, Copy, Debug)]
struct Resting {
    instrument: InstrumentId,
    side: Side,
    price: Price,
    qty: Qty,
    arrival: u64,
}

/// One instrument's public book and figures.
#[derive(Clone, Debug, Default)]
pub struct InstrumentBook {
    /// Static data, once the directory message was seen.
    pub info: Option<InstrumentInfo>,
    /// Trading phase (closed until an instrument state message says otherwise).
    pub phase: Phase,
    /// Session statistics from trade prints.
    pub stats: SessionStats,
    /// `[bids, asks]`, each by price ascending.
    sides: [BTreeMap<Price, Level>; 2],
}

impl InstrumentBook {
    fn levels_best_first(&self, side: Side) -> Box<dyn Iterator<Item = (&Price, &Level)> + '_> {
        let ladder = &self.sides[side.index()];
        match side {
            Side::Buy => Box::new(ladder.iter().rev()),
            Side::Sell => Box::new(ladder.iter()),
        }
    }

    /// L2: aggregated levels of one side, best first.
    #[must_use]
    pub fn levels(&self, side: Side, levels_max: usize) -> Vec<LevelEntry> {
        self.levels_best_first(side)
            .take(levels_max)
            .map(|(&price, level)| LevelEntry {
                price,
                qty: Qty(level.qty_total),
                count: u32::try_from(level.orders.len()).expect("fewer than 2^32 orders"),
            })
            .collect()
    }

    /// The best level of one side.
    #[must_use]
    pub fn best(&self, side: Side) -> Option<LevelEntry> {
        self.levels(side, 1).first().copied()
    }

    /// Number of orders in the book (both sides).
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.sides
            .iter()
            .flat_map(|ladder| ladder.values())
            .map(|level| level.orders.len())
            .sum()
    }
}

/// Every instrument's public book; the state a feed describes.
#[derive(Clone, Debug)]
pub struct MarketBooks {
    instruments: BTreeMap<InstrumentId, InstrumentBook>,
    orders: HashMap<OrderId, Resting>,
    next_arrival: u64,
    orders_max: usize,
}

impl MarketBooks {
    /// An empty set of books holding at most `orders_max` orders in total.
    ///
    /// The order index is allocated up front: a feed that shows more orders than the engine
    /// can hold is corrupt, and [`BookError::Full`] says so instead of growing.
    #[must_use]
    pub fn with_capacity(orders_max: usize) -> Self {
        MarketBooks {
            instruments: BTreeMap::new(),
            orders: HashMap::with_capacity(orders_max),
            next_arrival: 0,
            orders_max,
        }
    }

    /// Drops every order, instrument and figure (before a snapshot is applied).
    pub fn clear(&mut self) {
        self.instruments.clear();
        self.orders.clear();
        self.next_arrival = 0;
    }

    /// One instrument's book.
    #[must_use]
    pub fn instrument(&self, instrument: InstrumentId) -> Option<&InstrumentBook> {
        self.instruments.get(&instrument)
    }

    /// All instruments in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentBook)> {
        self.instruments.iter().map(|(&id, book)| (id, book))
    }

    /// Orders in the books.
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Whether an order is shown, and where: (instrument, side, price, displayed quantity).
    #[must_use]
    pub fn order(&self, order_id: OrderId) -> Option<(InstrumentId, Side, Price, Qty)> {
        self.orders
            .get(&order_id)
            .map(|o| (o.instrument, o.side, o.price, o.qty))
    }

    /// L3: one side's orders in priority order (best price first, then time).
    #[must_use]
    pub fn orders_by_priority(&self, instrument: InstrumentId, side: Side) -> Vec<OrderEntry> {
        let Some(book) = self.instruments.get(&instrument) else {
            return Vec::new();
        };
        book.levels_best_first(side)
            .flat_map(|(&price, level)| {
                level.orders.values().map(move |&order_id| OrderEntry {
                    order_id,
                    price,
                    qty: self.orders[&order_id].qty,
                })
            })
            .collect()
    }

    fn book_mut(&mut self, instrument: InstrumentId) -> &mut InstrumentBook {
        self.instruments.entry(instrument).or_default()
    }

    fn insert(
        &mut self,
        instrument: InstrumentId,
        order_id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), BookError> {
        if self.orders.contains_key(&order_id) {
            return Err(BookError::DuplicateOrder(order_id));
        }
        if self.orders.len() >= self.orders_max {
            return Err(BookError::Full);
        }
        if qty.0 == 0 {
            // A zero display is not an order on the book; the publisher never sends it.
            return Err(BookError::QtyTooLarge(order_id));
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let level = self.book_mut(instrument).sides[side.index()]
            .entry(price)
            .or_default();
        level.qty_total += qty.0;
        level.orders.insert(arrival, order_id);
        self.orders.insert(
            order_id,
            Resting {
                instrument,
                side,
                price,
                qty,
                arrival,
            },
        );
        Ok(())
    }

    fn remove(&mut self, order_id: OrderId) -> Result<(), BookError> {
        let order = self
            .orders
            .remove(&order_id)
            .ok_or(BookError::UnknownOrder(order_id))?;
        let ladder = &mut self.book_mut(order.instrument).sides[order.side.index()];
        let level = ladder
            .get_mut(&order.price)
            .expect("a shown order has a level");
        let removed = level.orders.remove(&order.arrival);
        debug_assert_eq!(removed, Some(order_id));
        level.qty_total -= order.qty.0;
        if level.orders.is_empty() {
            debug_assert_eq!(level.qty_total, 0);
            ladder.remove(&order.price);
        }
        Ok(())
    }

    /// Takes `qty` off an order's display; removes it when nothing is displayed.
    fn take(&mut self, order_id: OrderId, qty: Qty) -> Result<(), BookError> {
        let order = self
            .orders
            .get_mut(&order_id)
            .ok_or(BookError::UnknownOrder(order_id))?;
        if qty > order.qty {
            return Err(BookError::QtyTooLarge(order_id));
        }
        if qty == order.qty {
            return self.remove(order_id);
        }
        order.qty.0 -= qty.0;
        let order = *order;
        let level = self.book_mut(order.instrument).sides[order.side.index()]
            .get_mut(&order.price)
            .expect("a shown order has a level");
        level.qty_total -= qty.0;
        Ok(())
    }

    /// Applies one feed message. A refusal leaves the book unchanged.
    ///
    /// # Errors
    /// [`BookError`] when the message does not fit the book (unknown or duplicate order, a
    /// quantity above the displayed one, capacity): the feed was corrupted or messages were
    /// lost, and the caller must recover from a snapshot.
    pub fn apply(&mut self, message: &FeedMessage) -> Result<(), BookError> {
        match *message {
            FeedMessage::AddOrder {
                instrument,
                order_id,
                side,
                price,
                qty,
                ..
            } => self.insert(instrument, order_id, side, price, qty),
            FeedMessage::Reduce {
                order_id,
                reduced_qty,
                ..
            } => self.take(order_id, reduced_qty),
            FeedMessage::Delete { order_id, .. } => self.remove(order_id),
            FeedMessage::Replace {
                instrument,
                order_id,
                side,
                price,
                qty,
                ..
            } => {
                // Absent is fine: an iceberg whose slice was executed to zero left the book
                // and its refresh brings it back.
                if self.orders.contains_key(&order_id) {
                    self.remove(order_id)?;
                }
                self.insert(instrument, order_id, side, price, qty)
            }
            FeedMessage::Execute {
                order_id,
                executed_qty,
                ..
            } => self.take(order_id, executed_qty),
            FeedMessage::Trade {
                instrument,
                price,
                qty,
                ..
            } => {
                self.book_mut(instrument).stats.record(price, qty);
                Ok(())
            }
            FeedMessage::InstrumentDirectory(info) => {
                self.book_mut(info.instrument).info = Some(info);
                Ok(())
            }
            FeedMessage::InstrumentState {
                instrument, phase, ..
            } => {
                self.book_mut(instrument).phase = phase;
                Ok(())
            }
            FeedMessage::Statistics { instrument, stats } => {
                self.book_mut(instrument).stats = stats;
                Ok(())
            }
            FeedMessage::SystemEvent { .. } | FeedMessage::RetransmitRefusal { .. } => Ok(()),
        }
    }

    /// Whether two sets of books show the same thing: instruments, phases, statistics and
    /// every order in priority order. (Internal arrival counters may differ.)
    #[must_use]
    pub fn same_as(&self, other: &MarketBooks) -> bool {
        self.instruments.len() == other.instruments.len()
            && self.instruments.iter().zip(other.instruments.iter()).all(
                |((id, a), (other_id, b))| {
                    id == other_id
                        && a.info == b.info
                        && a.phase == b.phase
                        && a.stats == b.stats
                        && [Side::Buy, Side::Sell].iter().all(|&side| {
                            self.orders_by_priority(*id, side)
                                == other.orders_by_priority(*id, side)
                        })
                },
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::TimestampNs;

    fn add(id: u64, side: Side, price: i64, qty: u64) -> FeedMessage {
        FeedMessage::AddOrder {
            timestamp: TimestampNs(0),
            instrument: InstrumentId(0),
            order_id: OrderId(id),
            side,
            price: Price(price),
            qty: Qty(qty),
        }
    }

    #[test]
    fn levels_aggregate_and_priority_is_price_then_time() {
        let mut books = MarketBooks::with_capacity(16);
        for message in [
            add(1, Side::Buy, 10, 5),
            add(2, Side::Buy, 11, 1),
            add(3, Side::Buy, 10, 2),
            add(4, Side::Sell, 12, 7),
        ] {
            books.apply(&message).unwrap();
        }
        let bids = books.orders_by_priority(InstrumentId(0), Side::Buy);
        let ids: Vec<u64> = bids.iter().map(|o| o.order_id.0).collect();
        assert_eq!(ids, [2, 1, 3]);
        let book = books.instrument(InstrumentId(0)).unwrap();
        assert_eq!(
            book.levels(Side::Buy, 9),
            [
                LevelEntry {
                    price: Price(11),
                    qty: Qty(1),
                    count: 1
                },
                LevelEntry {
                    price: Price(10),
                    qty: Qty(7),
                    count: 2
                },
            ]
        );
        assert_eq!(book.best(Side::Sell).unwrap().price, Price(12));
    }

    #[test]
    fn inconsistent_messages_are_refused_and_change_nothing() {
        let mut books = MarketBooks::with_capacity(1);
        books.apply(&add(1, Side::Buy, 10, 5)).unwrap();
        assert_eq!(
            books.apply(&add(1, Side::Buy, 10, 5)),
            Err(BookError::DuplicateOrder(OrderId(1)))
        );
        assert_eq!(books.apply(&add(2, Side::Buy, 10, 5)), Err(BookError::Full));
        let execute = FeedMessage::Execute {
            timestamp: TimestampNs(0),
            instrument: InstrumentId(0),
            order_id: OrderId(1),
            executed_qty: Qty(6),
            match_number: crate::MatchNumber(1),
        };
        assert_eq!(
            books.apply(&execute),
            Err(BookError::QtyTooLarge(OrderId(1)))
        );
        assert_eq!(books.order(OrderId(1)).unwrap().3, Qty(5));
    }
}
