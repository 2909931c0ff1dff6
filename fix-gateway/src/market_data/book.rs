//! The FIX side's copy of the public book, preallocated: per instrument two price
//! ladders (sorted arrays, best price last so that changes near the top move little)
//! whose levels chain their orders in time priority, an order table, the trading phase
//! and session statistics.
//!
//! It is changed one primitive step at a time (add, take, remove an order) and each
//! step says what it did to the level (changed, inserted, removed, at which rank from
//! the best) and to the order, which is exactly what a price-level subscription of any
//! depth and an order-by-order subscription need to write their increments.
//! Capacity is fixed at start-up: a step that would grow it is refused.

use std::collections::HashMap;

use arbiter_engine::{InstrumentId, OrderId, Phase, Price, Qty, Side};

const NIL: u32 = u32::MAX;

/// Why a step does not fit the book (the feed and this copy disagree, or a capacity
/// configured below the engine's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MdBookError {
    /// The order is already in the book.
    DuplicateOrder(OrderId),
    /// The order is not in the book.
    UnknownOrder(OrderId),
    /// The instrument id is beyond the configured instruments.
    UnknownInstrument(InstrumentId),
    /// A quantity of zero, or above what the order shows.
    BadQty(OrderId),
    /// Orders or levels capacity reached.
    Full,
}

impl core::fmt::Display for MdBookError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MdBookError::DuplicateOrder(id) => write!(f, "order {} already shown", id.0),
            MdBookError::UnknownOrder(id) => write!(f, "order {} not shown", id.0),
            MdBookError::UnknownInstrument(id) => write!(f, "instrument {} unknown", id.0),
            MdBookError::BadQty(id) => write!(f, "bad quantity for order {}", id.0),
            MdBookError::Full => write!(f, "market data book capacity reached"),
        }
    }
}

impl std::error::Error for MdBookError {}

/// One aggregated price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdLevel {
    /// Price.
    pub price: Price,
    /// Sum of displayed quantities.
    pub qty: Qty,
    /// Number of orders.
    pub count: u32,
    head: u32,
    tail: u32,
}

#[derive(Clone, Copy, Debug)]
struct OrderNode {
    order_id: OrderId,
    instrument: InstrumentId,
    side: Side,
    price: Price,
    qty: Qty,
    prev: u32,
    next: u32,
}

/// What a step did to a price level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelChange {
    /// Quantity or count changed; the level stays at `rank`.
    Changed,
    /// A new level now at `rank`.
    Inserted,
    /// The level at `rank` (before the step) is gone.
    Removed,
}

/// What a step did to the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderChange {
    /// Entered at the back of its level.
    New,
    /// Displayed quantity down in place.
    Changed,
    /// Left the book.
    Deleted,
}

/// The effect of one primitive step, for the subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// What happened to the level.
    pub level: LevelChange,
    /// Rank from the best (0 = best): after the step for `Changed` / `Inserted`, before
    /// it for `Removed`.
    pub rank: usize,
    /// The level's price.
    pub price: Price,
    /// The level's quantity after the step (0 when removed).
    pub level_qty: Qty,
    /// The level's order count after the step.
    pub level_count: u32,
    /// What happened to the order.
    pub order: OrderChange,
    /// The order.
    pub order_id: OrderId,
    /// The order's displayed quantity after the step (0 when deleted).
    pub order_qty: Qty,
}

/// Session statistics from trades.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MdStats {
    /// Trades so far.
    pub trade_count: u64,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Latest trade price.
    pub last: Price,
    /// Latest trade quantity.
    pub last_qty: Qty,
    /// Traded volume.
    pub volume: Qty,
}

#[derive(Debug)]
struct Ladder {
    /// Sorted by [`key`] ascending: the best price is last.
    levels: Vec<MdLevel>,
    orders: usize,
}

/// Sort key that puts the best price last on both sides.
fn key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price.0,
        Side::Sell => -price.0,
    }
}

#[derive(Debug)]
struct InstrumentState {
    ladders: [Ladder; 2],
    phase: Phase,
    stats: MdStats,
}

/// Every instrument's book as the FIX market data shows it.
#[derive(Debug)]
pub struct MdBooks {
    instruments: Vec<InstrumentState>,
    nodes: Vec<OrderNode>,
    free: Vec<u32>,
    index: HashMap<OrderId, u32>,
    orders_max: usize,
    levels_max: usize,
}

impl MdBooks {
    /// Books for `instruments` instruments (ids `0..instruments`), at most `orders_max`
    /// orders in total and `levels_max` levels per side, all allocated now.
    #[must_use]
    pub fn new(instruments: usize, orders_max: usize, levels_max: usize) -> Self {
        let ladder = || Ladder {
            levels: Vec::with_capacity(levels_max),
            orders: 0,
        };
        MdBooks {
            instruments: (0..instruments)
                .map(|_| InstrumentState {
                    ladders: [ladder(), ladder()],
                    phase: Phase::Closed,
                    stats: MdStats::default(),
                })
                .collect(),
            nodes: Vec::with_capacity(orders_max),
            free: Vec::with_capacity(orders_max),
            index: HashMap::with_capacity(orders_max),
            orders_max,
            levels_max,
        }
    }

    /// Number of instruments.
    #[must_use]
    pub fn instrument_count(&self) -> usize {
        self.instruments.len()
    }

    fn state(&self, instrument: InstrumentId) -> Option<&InstrumentState> {
        self.instruments.get(instrument.0 as usize)
    }

    /// The level at `rank` from the best.
    #[must_use]
    pub fn level(&self, instrument: InstrumentId, side: Side, rank: usize) -> Option<MdLevel> {
        let levels = &self.state(instrument)?.ladders[side.index()].levels;
        let index = levels.len().checked_sub(rank + 1)?;
        levels.get(index).copied()
    }

    /// Number of levels on one side.
    #[must_use]
    pub fn level_count(&self, instrument: InstrumentId, side: Side) -> usize {
        self.state(instrument)
            .map_or(0, |s| s.ladders[side.index()].levels.len())
    }

    /// Number of orders on one side.
    #[must_use]
    pub fn order_count(&self, instrument: InstrumentId, side: Side) -> usize {
        self.state(instrument)
            .map_or(0, |s| s.ladders[side.index()].orders)
    }

    /// Calls `each(order_id, price, qty)` for one side's orders in priority order.
    pub fn for_each_order(
        &self,
        instrument: InstrumentId,
        side: Side,
        mut each: impl FnMut(OrderId, Price, Qty),
    ) {
        let Some(state) = self.state(instrument) else {
            return;
        };
        for level in state.ladders[side.index()].levels.iter().rev() {
            let mut at = level.head;
            // Bounded by the order capacity: the chain is acyclic by construction.
            for _ in 0..self.orders_max {
                let Some(node) = self.nodes.get(at as usize) else {
                    break;
                };
                each(node.order_id, node.price, node.qty);
                at = node.next;
            }
        }
    }

    /// The trading phase.
    #[must_use]
    pub fn phase(&self, instrument: InstrumentId) -> Phase {
        self.state(instrument).map_or(Phase::Closed, |s| s.phase)
    }

    /// Sets the trading phase.
    pub fn set_phase(&mut self, instrument: InstrumentId, phase: Phase) {
        if let Some(state) = self.instruments.get_mut(instrument.0 as usize) {
            state.phase = phase;
        }
    }

    /// The session statistics.
    #[must_use]
    pub fn stats(&self, instrument: InstrumentId) -> MdStats {
        self.state(instrument)
            .map_or(MdStats::default(), |s| s.stats)
    }

    /// Records a trade; returns the statistics before and after.
    pub fn record_trade(
        &mut self,
        instrument: InstrumentId,
        price: Price,
        qty: Qty,
    ) -> Option<(MdStats, MdStats)> {
        let stats = &mut self.instruments.get_mut(instrument.0 as usize)?.stats;
        let before = *stats;
        if stats.trade_count == 0 {
            stats.open = price;
            stats.high = price;
            stats.low = price;
        }
        stats.trade_count += 1;
        stats.high = stats.high.max(price);
        stats.low = stats.low.min(price);
        stats.last = price;
        stats.last_qty = qty;
        stats.volume.0 += qty.0;
        Some((before, *stats))
    }

    /// The order's instrument, if shown.
    #[must_use]
    pub fn order_instrument(&self, order_id: OrderId) -> Option<InstrumentId> {
        let at = *self.index.get(&order_id)?;
        Some(self.nodes[at as usize].instrument)
    }

    /// Whether the order is shown.
    #[must_use]
    pub fn contains(&self, order_id: OrderId) -> bool {
        self.index.contains_key(&order_id)
    }

    /// Adds an order at the back of its level.
    ///
    /// # Errors
    /// Duplicate order, zero quantity, unknown instrument, capacity.
    pub fn add(
        &mut self,
        instrument: InstrumentId,
        order_id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<Step, MdBookError> {
        if self.index.contains_key(&order_id) {
            return Err(MdBookError::DuplicateOrder(order_id));
        }
        if qty.0 == 0 {
            return Err(MdBookError::BadQty(order_id));
        }
        let levels_max = self.levels_max;
        let state = self
            .instruments
            .get_mut(instrument.0 as usize)
            .ok_or(MdBookError::UnknownInstrument(instrument))?;
        let ladder = &mut state.ladders[side.index()];
        let search = ladder
            .levels
            .binary_search_by_key(&key(side, price), |l| key(side, l.price));
        if search.is_err() && ladder.levels.len() >= levels_max {
            return Err(MdBookError::Full);
        }
        let at = match self.free.pop() {
            Some(at) => at,
            None if self.nodes.len() < self.orders_max => {
                #[allow(clippy::cast_possible_truncation)] // orders_max < u32::MAX
                let at = self.nodes.len() as u32;
                self.nodes.push(OrderNode {
                    order_id,
                    instrument,
                    side,
                    price,
                    qty,
                    prev: NIL,
                    next: NIL,
                });
                at
            }
            None => return Err(MdBookError::Full),
        };
        let (index, level_change) = match search {
            Ok(index) => (index, LevelChange::Changed),
            Err(index) => {
                ladder.levels.insert(
                    index,
                    MdLevel {
                        price,
                        qty: Qty(0),
                        count: 0,
                        head: NIL,
                        tail: NIL,
                    },
                );
                (index, LevelChange::Inserted)
            }
        };
        let level = &mut ladder.levels[index];
        let prev = level.tail;
        if prev == NIL {
            level.head = at;
        } else {
            self.nodes[prev as usize].next = at;
        }
        level.tail = at;
        level.qty.0 += qty.0;
        level.count += 1;
        ladder.orders += 1;
        self.nodes[at as usize] = OrderNode {
            order_id,
            instrument,
            side,
            price,
            qty,
            prev,
            next: NIL,
        };
        self.index.insert(order_id, at);
        let level = ladder.levels[index];
        Ok(Step {
            instrument,
            side,
            level: level_change,
            rank: ladder.levels.len() - 1 - index,
            price,
            level_qty: level.qty,
            level_count: level.count,
            order: OrderChange::New,
            order_id,
            order_qty: qty,
        })
    }

    /// Takes `qty` off an order's display; removes the order when nothing is left.
    ///
    /// # Errors
    /// Unknown order, zero quantity or more than shown.
    pub fn take(&mut self, order_id: OrderId, qty: Qty) -> Result<Step, MdBookError> {
        let at = *self
            .index
            .get(&order_id)
            .ok_or(MdBookError::UnknownOrder(order_id))?;
        let node = self.nodes[at as usize];
        if qty.0 == 0 || qty > node.qty {
            return Err(MdBookError::BadQty(order_id));
        }
        if qty == node.qty {
            return self.remove(order_id);
        }
        self.nodes[at as usize].qty.0 -= qty.0;
        let ladder = &mut self.instruments[node.instrument.0 as usize].ladders[node.side.index()];
        let index = ladder
            .levels
            .binary_search_by_key(&key(node.side, node.price), |l| key(node.side, l.price))
            .map_err(|_| MdBookError::UnknownOrder(order_id))?;
        let rank = ladder.levels.len() - 1 - index;
        let level = &mut ladder.levels[index];
        level.qty.0 -= qty.0;
        Ok(Step {
            instrument: node.instrument,
            side: node.side,
            level: LevelChange::Changed,
            rank,
            price: node.price,
            level_qty: level.qty,
            level_count: level.count,
            order: OrderChange::Changed,
            order_id,
            order_qty: Qty(node.qty.0 - qty.0),
        })
    }

    /// Removes an order.
    ///
    /// # Errors
    /// Unknown order.
    pub fn remove(&mut self, order_id: OrderId) -> Result<Step, MdBookError> {
        let at = self
            .index
            .remove(&order_id)
            .ok_or(MdBookError::UnknownOrder(order_id))?;
        let node = self.nodes[at as usize];
        if node.prev != NIL {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next != NIL {
            self.nodes[node.next as usize].prev = node.prev;
        }
        self.free.push(at);
        let ladder = &mut self.instruments[node.instrument.0 as usize].ladders[node.side.index()];
        ladder.orders -= 1;
        let Ok(index) = ladder
            .levels
            .binary_search_by_key(&key(node.side, node.price), |l| key(node.side, l.price))
        else {
            debug_assert!(false, "a shown order has a level");
            return Err(MdBookError::UnknownOrder(order_id));
        };
        let rank = ladder.levels.len() - 1 - index;
        let level = &mut ladder.levels[index];
        if level.head == at {
            level.head = node.next;
        }
        if level.tail == at {
            level.tail = node.prev;
        }
        level.qty.0 -= node.qty.0;
        level.count -= 1;
        let (level_qty, level_count) = (level.qty, level.count);
        let level_change = if level_count == 0 {
            debug_assert_eq!(level_qty, Qty(0));
            ladder.levels.remove(index);
            LevelChange::Removed
        } else {
            LevelChange::Changed
        };
        Ok(Step {
            instrument: node.instrument,
            side: node.side,
            level: level_change,
            rank,
            price: node.price,
            level_qty,
            level_count,
            order: OrderChange::Deleted,
            order_id,
            order_qty: Qty(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_report_ranks_and_priority() {
        let mut books = MdBooks::new(1, 8, 4);
        let i = InstrumentId(0);
        let s = books
            .add(i, OrderId(1), Side::Buy, Price(10), Qty(5))
            .unwrap();
        assert_eq!((s.level, s.rank), (LevelChange::Inserted, 0));
        let s = books
            .add(i, OrderId(2), Side::Buy, Price(11), Qty(1))
            .unwrap();
        assert_eq!((s.level, s.rank), (LevelChange::Inserted, 0));
        let s = books
            .add(i, OrderId(3), Side::Buy, Price(10), Qty(2))
            .unwrap();
        assert_eq!(
            (s.level, s.rank, s.level_qty),
            (LevelChange::Changed, 1, Qty(7))
        );
        let mut ids = Vec::new();
        books.for_each_order(i, Side::Buy, |id, _, _| ids.push(id.0));
        assert_eq!(ids, [2, 1, 3]);
        let s = books.take(OrderId(1), Qty(2)).unwrap();
        assert_eq!(
            (s.order, s.order_qty, s.level_qty),
            (OrderChange::Changed, Qty(3), Qty(5))
        );
        let s = books.remove(OrderId(2)).unwrap();
        assert_eq!((s.level, s.rank), (LevelChange::Removed, 0));
        assert_eq!(books.level(i, Side::Buy, 0).unwrap().price, Price(10));
        assert_eq!(
            books.take(OrderId(1), Qty(9)),
            Err(MdBookError::BadQty(OrderId(1)))
        );
        let s = books.take(OrderId(1), Qty(3)).unwrap();
        assert_eq!(s.order, OrderChange::Deleted);
        let s = books
            .add(i, OrderId(4), Side::Sell, Price(12), Qty(1))
            .unwrap();
        assert_eq!(s.rank, 0);
        let s = books
            .add(i, OrderId(5), Side::Sell, Price(13), Qty(1))
            .unwrap();
        assert_eq!(s.rank, 1);
        assert_eq!(
            books.add(i, OrderId(5), Side::Sell, Price(13), Qty(1)),
            Err(MdBookError::DuplicateOrder(OrderId(5)))
        );
    }
}
