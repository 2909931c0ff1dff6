//! The public book: what the feed shows. Per instrument an L3 book (orders by id in
//! price-time priority, displayed quantity only), its L2 aggregation, the phase, the
//! instrument's static data and session statistics.
//!
//! The publisher and every receiver keep a [`MarketBooks`] and change it only through
//! [`MarketBooks::apply`] with feed messages, so a receiver that applied the same messages
//! holds the same book as the publisher, by construction. The hidden part of an iceberg is
//! never in this book.
//!
//! # Layout (no allocation after an instrument is first seen)
//!
//! - Orders live in one arena of [`BookCapacity::orders_max`] slots with a free list, found
//!   by id through the engine's open-addressing [`IdIndex`]. Each level's orders form a
//!   doubly linked FIFO through the slots (time priority; O(1) removal anywhere).
//! - Each side of an instrument is a ladder: levels in an array sorted so that the best is
//!   last, as the engine's ladders are, with capacity
//!   [`BookCapacity::levels_per_side_max`] reserved when the instrument is first seen. Most
//!   activity is at the top, where inserting or removing a level moves little.
//! - A full arena or ladder refuses the message ([`BookError::Full`],
//!   [`BookError::LevelsFull`]) and leaves the book unchanged; nothing grows.

use arbiter_engine::{EngineConfig, IdIndex, InstrumentId, OrderId, Phase, Price, Qty, Side};

use crate::error::BookError;
use crate::message::{FeedMessage, InstrumentInfo, SessionStats};

/// "No slot": the end of a level's list.
const NIL: u32 = u32::MAX;

/// Price levels per side when only `orders_max` is given: the engine's default.
pub const LEVELS_PER_SIDE_DEFAULT: usize = 1 << 16;

/// Instruments a set of books takes before refusing new ones (each reserves its ladders).
pub const INSTRUMENTS_MAX: usize = 1 << 16;

/// How much a [`MarketBooks`] holds. Take the engine's figures
/// ([`BookCapacity::from_engine`]): the public book never shows more orders or levels than
/// the engine holds, so a publisher sized so is never refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookCapacity {
    /// Orders shown, all instruments together.
    pub orders_max: usize,
    /// Price levels per side per instrument.
    pub levels_per_side_max: usize,
}

impl BookCapacity {
    /// `orders_max` orders and at most [`LEVELS_PER_SIDE_DEFAULT`] levels per side (never
    /// more levels than orders).
    #[must_use]
    pub fn orders(orders_max: usize) -> Self {
        BookCapacity {
            orders_max,
            levels_per_side_max: orders_max.min(LEVELS_PER_SIDE_DEFAULT),
        }
    }

    /// The engine's capacities (its limit-book levels per side, its live orders).
    #[must_use]
    pub fn from_engine(config: &EngineConfig) -> Self {
        BookCapacity {
            orders_max: config.orders_max as usize,
            levels_per_side_max: config.levels_per_side_max as usize,
        }
    }

    /// `orders_max` as the arena's u32 size (capped: a larger arena would not fit memory).
    fn orders_u32(self) -> u32 {
        u32::try_from(self.orders_max).unwrap_or(u32::MAX - 1)
    }
}

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

/// A price level: aggregates and the ends of its FIFO of order slots.
#[derive(Clone, Copy, Debug)]
struct Level {
    price: Price,
    qty_total: u64,
    count: u32,
    head: u32,
    tail: u32,
}

const _: () = assert!(size_of::<Level>() == 32);

impl Level {
    fn entry(&self) -> LevelEntry {
        LevelEntry {
            price: self.price,
            qty: Qty(self.qty_total),
            count: self.count,
        }
    }
}

/// One side's levels, sorted so that the best is last. The vector's capacity is the
/// side's level limit: it is reserved once and never grows.
#[derive(Debug)]
struct Ladder {
    levels: Vec<Level>,
    /// Bids: a higher price is better.
    higher_is_better: bool,
}

impl Ladder {
    fn new(capacity: usize, higher_is_better: bool) -> Self {
        Ladder {
            levels: Vec::with_capacity(capacity),
            higher_is_better,
        }
    }

    fn is_full(&self) -> bool {
        self.levels.len() == self.levels.capacity()
    }

    /// Orders levels worst to best (the array order).
    #[inline]
    fn order(&self, level: Price, price: Price) -> std::cmp::Ordering {
        if self.higher_is_better {
            level.cmp(&price)
        } else {
            price.cmp(&level)
        }
    }

    /// The level at `price`: `Ok(position)` or `Err(insert position)`. Looks at the best
    /// level first, where most activity is.
    #[inline]
    fn find(&self, price: Price) -> Result<usize, usize> {
        let len = self.levels.len();
        match self.levels.last() {
            None => return Err(0),
            Some(best) if best.price == price => return Ok(len - 1),
            Some(best) if self.order(best.price, price).is_lt() => return Err(len),
            Some(_) => {}
        }
        self.levels
            .binary_search_by(|level| self.order(level.price, price))
    }

    fn iter_best_first(&self) -> impl Iterator<Item = &Level> + '_ {
        self.levels.iter().rev()
    }

    /// Copies `source` into this ladder's reserved space (no allocation when it fits).
    fn copy_from(&mut self, source: &Ladder) {
        self.levels.clear();
        self.levels.extend_from_slice(&source.levels);
        self.higher_is_better = source.higher_is_better;
    }
}

impl Clone for Ladder {
    /// Keeps the reserved capacity (a derived clone would shrink it to the live levels,
    /// and the copy would then refuse new levels).
    fn clone(&self) -> Self {
        let mut ladder = Ladder::new(self.levels.capacity(), self.higher_is_better);
        ladder.levels.extend_from_slice(&self.levels);
        ladder
    }
}

/// One instrument's public book and figures.
#[derive(Clone, Debug)]
pub struct InstrumentBook {
    /// Static data, once the directory message was seen.
    pub info: Option<InstrumentInfo>,
    /// Trading phase (closed until an instrument state message says otherwise).
    pub phase: Phase,
    /// Session statistics from trade prints.
    pub stats: SessionStats,
    /// The instrument.
    id: InstrumentId,
    /// `[bids, asks]`, each best last.
    sides: [Ladder; 2],
}

impl Default for InstrumentBook {
    /// A book with no room for levels (books made by [`MarketBooks`] reserve theirs).
    fn default() -> Self {
        InstrumentBook::with_levels(InstrumentId(0), 0)
    }
}

impl InstrumentBook {
    fn with_levels(id: InstrumentId, levels_per_side_max: usize) -> Self {
        InstrumentBook {
            id,
            info: None,
            phase: Phase::default(),
            stats: SessionStats::default(),
            sides: [
                Ladder::new(levels_per_side_max, true),
                Ladder::new(levels_per_side_max, false),
            ],
        }
    }

    fn copy_from(&mut self, source: &InstrumentBook) {
        self.id = source.id;
        self.info = source.info;
        self.phase = source.phase;
        self.stats = source.stats;
        for (ladder, from) in self.sides.iter_mut().zip(&source.sides) {
            ladder.copy_from(from);
        }
    }

    /// L2 without allocating: aggregated levels of one side, best first.
    pub fn levels_iter(&self, side: Side) -> impl Iterator<Item = LevelEntry> + '_ {
        self.sides[side.index()].iter_best_first().map(Level::entry)
    }

    /// L2: aggregated levels of one side, best first.
    #[must_use]
    pub fn levels(&self, side: Side, levels_max: usize) -> Vec<LevelEntry> {
        self.levels_iter(side).take(levels_max).collect()
    }

    /// The best level of one side.
    #[must_use]
    pub fn best(&self, side: Side) -> Option<LevelEntry> {
        self.sides[side.index()].levels.last().map(Level::entry)
    }

    /// Number of orders in the book (both sides).
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.sides
            .iter()
            .flat_map(|ladder| ladder.levels.iter())
            .map(|level| level.count as usize)
            .sum()
    }
}

/// One shown order in the arena.
#[derive(Clone, Copy, Debug)]
struct Slot {
    order_id: OrderId,
    /// Index into [`MarketBooks::books`].
    book: u32,
    side: Side,
    price: Price,
    qty: Qty,
    prev: u32,
    next: u32,
}

const EMPTY_SLOT: Slot = Slot {
    order_id: OrderId(0),
    book: 0,
    side: Side::Buy,
    price: Price(0),
    qty: Qty(0),
    prev: NIL,
    next: NIL,
};

/// Every instrument's public book; the state a feed describes.
pub struct MarketBooks {
    capacity: BookCapacity,
    /// Instrument books in the order they were first seen (slots point here).
    books: Vec<InstrumentBook>,
    /// `(id, index into books)`, sorted by id.
    by_id: Vec<(InstrumentId, u32)>,
    slots: Vec<Slot>,
    /// Free slots, popped from the end.
    free: Vec<u32>,
    /// Order id -> slot.
    index: IdIndex,
}

impl std::fmt::Debug for MarketBooks {
    /// A summary: the arena is too large to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketBooks")
            .field("capacity", &self.capacity)
            .field("instruments", &self.books.len())
            .field("orders", &self.index.len())
            .finish_non_exhaustive()
    }
}

impl Clone for MarketBooks {
    /// Keeps every reserved capacity, so the copy refuses nothing the original takes.
    fn clone(&self) -> Self {
        let mut free = Vec::with_capacity(self.free.capacity());
        free.extend_from_slice(&self.free);
        let mut by_id = Vec::with_capacity(self.by_id.capacity());
        by_id.extend_from_slice(&self.by_id);
        MarketBooks {
            capacity: self.capacity,
            books: self.books.clone(),
            by_id,
            slots: self.slots.clone(),
            free,
            index: self.index.clone(),
        }
    }
}

impl MarketBooks {
    /// An empty set of books holding at most `orders_max` orders in total and
    /// `min(orders_max, LEVELS_PER_SIDE_DEFAULT)` levels per side.
    #[must_use]
    pub fn with_capacity(orders_max: usize) -> Self {
        Self::with_capacities(BookCapacity::orders(orders_max))
    }

    /// An empty set of books of the given capacity.
    ///
    /// The order arena and index are allocated (and written) now; each instrument reserves
    /// its ladders when first seen. A feed that shows more than this is refused with
    /// [`BookError::Full`] or [`BookError::LevelsFull`] instead of growing.
    #[must_use]
    pub fn with_capacities(capacity: BookCapacity) -> Self {
        let orders = capacity.orders_u32();
        let mut free = Vec::with_capacity(orders as usize);
        free.extend((0..orders).rev());
        MarketBooks {
            capacity,
            books: Vec::new(),
            by_id: Vec::new(),
            slots: vec![EMPTY_SLOT; orders as usize],
            free,
            index: IdIndex::with_capacity(orders),
        }
    }

    /// What these books hold at most.
    #[must_use]
    pub fn capacity(&self) -> BookCapacity {
        self.capacity
    }

    /// Drops every order, instrument and figure (before a snapshot is applied).
    pub fn clear(&mut self) {
        self.books.clear();
        self.by_id.clear();
        self.index.clear();
        self.free.clear();
        self.free.extend((0..self.capacity.orders_u32()).rev());
    }

    /// Makes these books equal to `source`, reusing their memory: no allocation when both
    /// have the same capacity and these books already had room for `source`'s instruments.
    pub fn copy_from(&mut self, source: &MarketBooks) {
        if self.capacity != source.capacity {
            *self = source.clone();
            return;
        }
        self.books.truncate(source.books.len());
        let shared = self.books.len();
        for (book, from) in self.books.iter_mut().zip(&source.books) {
            book.copy_from(from);
        }
        self.books.extend(source.books[shared..].iter().cloned());
        self.by_id.clone_from(&source.by_id);
        self.slots.copy_from_slice(&source.slots);
        self.free.clone_from(&source.free);
        self.index.clone_from(&source.index);
    }

    fn book_index(&self, instrument: InstrumentId) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&instrument, |&(id, _)| id)
            .ok()
            .map(|position| self.by_id[position].1 as usize)
    }

    /// The book of `instrument`, created (its ladders reserved) when first seen.
    fn book_index_or_insert(&mut self, instrument: InstrumentId) -> Result<usize, BookError> {
        match self.by_id.binary_search_by_key(&instrument, |&(id, _)| id) {
            Ok(position) => Ok(self.by_id[position].1 as usize),
            Err(position) => {
                if self.books.len() >= INSTRUMENTS_MAX {
                    return Err(BookError::InstrumentsFull);
                }
                let index = self.books.len();
                self.books.push(InstrumentBook::with_levels(
                    instrument,
                    self.capacity.levels_per_side_max,
                ));
                let index_u32 = u32::try_from(index).expect("below INSTRUMENTS_MAX");
                self.by_id.insert(position, (instrument, index_u32));
                Ok(index)
            }
        }
    }

    fn book_mut(&mut self, instrument: InstrumentId) -> Result<&mut InstrumentBook, BookError> {
        let index = self.book_index_or_insert(instrument)?;
        Ok(&mut self.books[index])
    }

    /// One instrument's book.
    #[must_use]
    pub fn instrument(&self, instrument: InstrumentId) -> Option<&InstrumentBook> {
        self.book_index(instrument).map(|index| &self.books[index])
    }

    /// All instruments in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &InstrumentBook)> {
        self.by_id
            .iter()
            .map(|&(id, index)| (id, &self.books[index as usize]))
    }

    /// Orders in the books.
    #[must_use]
    pub fn order_count(&self) -> usize {
        self.index.len() as usize
    }

    /// Whether an order is shown, and where: (instrument, side, price, displayed quantity).
    #[must_use]
    pub fn order(&self, order_id: OrderId) -> Option<(InstrumentId, Side, Price, Qty)> {
        let slot = &self.slots[self.index.get(order_id.0)? as usize];
        let instrument = self.books[slot.book as usize].id;
        Some((instrument, slot.side, slot.price, slot.qty))
    }

    /// Whether an order is shown.
    #[must_use]
    pub fn contains(&self, order_id: OrderId) -> bool {
        self.index.get(order_id.0).is_some()
    }

    /// L3 without allocating: one side's orders in priority order (best price first, then
    /// time).
    pub fn orders_iter(
        &self,
        instrument: InstrumentId,
        side: Side,
    ) -> impl Iterator<Item = OrderEntry> + '_ {
        let levels = self
            .instrument(instrument)
            .map(|book| book.sides[side.index()].levels.as_slice())
            .unwrap_or_default();
        levels.iter().rev().flat_map(move |level| {
            let mut cursor = level.head;
            // Bounded by the level's count.
            (0..level.count).map(move |_| {
                let slot = &self.slots[cursor as usize];
                cursor = slot.next;
                OrderEntry {
                    order_id: slot.order_id,
                    price: slot.price,
                    qty: slot.qty,
                }
            })
        })
    }

    /// L3: one side's orders in priority order (best price first, then time).
    #[must_use]
    pub fn orders_by_priority(&self, instrument: InstrumentId, side: Side) -> Vec<OrderEntry> {
        self.orders_iter(instrument, side).collect()
    }

    /// Whether an order of `qty` at `price` fits, `leaving` (a slot) having left first.
    fn check_room(
        &self,
        order_id: OrderId,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        leaving: Option<u32>,
    ) -> Result<(), BookError> {
        if qty.0 == 0 {
            // A zero display is not an order on the book; the publisher never sends it.
            return Err(BookError::QtyTooLarge(order_id));
        }
        let Some(book) = self.book_index(instrument) else {
            if self.books.len() >= INSTRUMENTS_MAX {
                return Err(BookError::InstrumentsFull);
            }
            if self.capacity.levels_per_side_max == 0 {
                return Err(BookError::LevelsFull(instrument));
            }
            return Ok(());
        };
        let ladder = &self.books[book].sides[side.index()];
        // The leaving order, if it sits on this ladder.
        let leaving = leaving
            .map(|slot| self.slots[slot as usize])
            .filter(|slot| slot.book as usize == book && slot.side == side);
        match ladder.find(price) {
            Ok(position) => {
                let level = &ladder.levels[position];
                let staying = match leaving {
                    Some(slot) if slot.price == price => level.qty_total - slot.qty.0,
                    _ => level.qty_total,
                };
                staying
                    .checked_add(qty.0)
                    .map(|_| ())
                    .ok_or(BookError::QtyTooLarge(order_id))
            }
            Err(_) if !ladder.is_full() => Ok(()),
            Err(_) => {
                // Full, unless the leaving order empties its level on this ladder.
                let empties = leaving.is_some_and(|slot| {
                    ladder
                        .find(slot.price)
                        .is_ok_and(|position| ladder.levels[position].count == 1)
                });
                if empties {
                    Ok(())
                } else {
                    Err(BookError::LevelsFull(instrument))
                }
            }
        }
    }

    /// Adds an order at the back of its level: the common path, one pass, every check
    /// before the first change.
    fn insert(
        &mut self,
        instrument: InstrumentId,
        order_id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), BookError> {
        if qty.0 == 0 {
            // A zero display is not an order on the book; the publisher never sends it.
            return Err(BookError::QtyTooLarge(order_id));
        }
        if self.contains(order_id) {
            return Err(BookError::DuplicateOrder(order_id));
        }
        if self.index.is_full() || self.free.is_empty() {
            return Err(BookError::Full);
        }
        if self.capacity.levels_per_side_max == 0 {
            return Err(BookError::LevelsFull(instrument));
        }
        // A new instrument has empty ladders with room: nothing below refuses it.
        let book = self.book_index_or_insert(instrument)?;
        let ladder = &mut self.books[book].sides[side.index()];
        let position = match ladder.find(price) {
            Ok(position) => {
                if ladder.levels[position]
                    .qty_total
                    .checked_add(qty.0)
                    .is_none()
                {
                    return Err(BookError::QtyTooLarge(order_id));
                }
                position
            }
            Err(_) if ladder.is_full() => return Err(BookError::LevelsFull(instrument)),
            Err(position) => {
                ladder.levels.insert(
                    position,
                    Level {
                        price,
                        qty_total: 0,
                        count: 0,
                        head: NIL,
                        tail: NIL,
                    },
                );
                position
            }
        };
        let slot = self.free.pop().expect("checked above");
        let level = &mut ladder.levels[position];
        let tail = level.tail;
        self.slots[slot as usize] = Slot {
            order_id,
            book: u32::try_from(book).expect("below INSTRUMENTS_MAX"),
            side,
            price,
            qty,
            prev: tail,
            next: NIL,
        };
        if tail == NIL {
            level.head = slot;
        } else {
            self.slots[tail as usize].next = slot;
        }
        level.tail = slot;
        level.count += 1;
        level.qty_total += qty.0;
        self.index.insert(order_id.0, slot);
        Ok(())
    }

    /// Unlinks a slot from its level (dropping an emptied level) and frees it.
    fn remove_slot(&mut self, slot: u32) {
        let order = self.slots[slot as usize];
        let ladder = &mut self.books[order.book as usize].sides[order.side.index()];
        let position = ladder.find(order.price).expect("a shown order has a level");
        let level = &mut ladder.levels[position];
        if order.prev == NIL {
            level.head = order.next;
        } else {
            self.slots[order.prev as usize].next = order.next;
        }
        if order.next == NIL {
            level.tail = order.prev;
        } else {
            self.slots[order.next as usize].prev = order.prev;
        }
        level.count -= 1;
        level.qty_total -= order.qty.0;
        if level.count == 0 {
            debug_assert_eq!(level.qty_total, 0);
            ladder.levels.remove(position);
        }
        self.free.push(slot);
    }

    fn remove(&mut self, order_id: OrderId) -> Result<(), BookError> {
        let slot = self
            .index
            .remove(order_id.0)
            .ok_or(BookError::UnknownOrder(order_id))?;
        self.remove_slot(slot);
        Ok(())
    }

    /// Takes `qty` off an order's display; removes it when nothing is displayed.
    fn take(&mut self, order_id: OrderId, qty: Qty) -> Result<(), BookError> {
        let slot = self
            .index
            .get(order_id.0)
            .ok_or(BookError::UnknownOrder(order_id))?;
        let order = &mut self.slots[slot as usize];
        if qty > order.qty {
            return Err(BookError::QtyTooLarge(order_id));
        }
        if qty == order.qty {
            return self.remove(order_id);
        }
        order.qty.0 -= qty.0;
        let order = *order;
        let ladder = &mut self.books[order.book as usize].sides[order.side.index()];
        let position = ladder.find(order.price).expect("a shown order has a level");
        ladder.levels[position].qty_total -= qty.0;
        Ok(())
    }

    /// Leave the current place, append at the back of `price` (or enter when absent).
    fn replace(
        &mut self,
        instrument: InstrumentId,
        order_id: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<(), BookError> {
        // Absent is fine: an iceberg whose slice was executed to zero left the book and
        // its refresh brings it back.
        let Some(slot) = self.index.get(order_id.0) else {
            return self.insert(instrument, order_id, side, price, qty);
        };
        self.check_room(order_id, instrument, side, price, qty, Some(slot))?;
        self.index.remove(order_id.0);
        self.remove_slot(slot);
        let inserted = self.insert(instrument, order_id, side, price, qty);
        debug_assert_eq!(inserted, Ok(()), "room checked before the removal");
        inserted
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
            } => self.replace(instrument, order_id, side, price, qty),
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
                self.book_mut(instrument)?.stats.record(price, qty);
                Ok(())
            }
            FeedMessage::InstrumentDirectory(info) => {
                self.book_mut(info.instrument)?.info = Some(info);
                Ok(())
            }
            FeedMessage::InstrumentState {
                instrument, phase, ..
            } => {
                self.book_mut(instrument)?.phase = phase;
                Ok(())
            }
            FeedMessage::Statistics { instrument, stats } => {
                self.book_mut(instrument)?.stats = stats;
                Ok(())
            }
            FeedMessage::SystemEvent { .. } | FeedMessage::RetransmitRefusal { .. } => Ok(()),
        }
    }

    /// Whether two sets of books show the same thing: instruments, phases, statistics and
    /// every order in priority order. (Arena slots and capacities may differ.)
    #[must_use]
    pub fn same_as(&self, other: &MarketBooks) -> bool {
        self.by_id.len() == other.by_id.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((id, a), (other_id, b))| {
                    id == other_id
                        && a.info == b.info
                        && a.phase == b.phase
                        && a.stats == b.stats
                        && [Side::Buy, Side::Sell].iter().all(|&side| {
                            self.orders_iter(id, side).eq(other.orders_iter(id, side))
                                && a.levels_iter(side).eq(b.levels_iter(side))
                        })
                })
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

    #[test]
    fn full_ladders_refuse_and_change_nothing() {
        let mut books = MarketBooks::with_capacities(BookCapacity {
            orders_max: 8,
            levels_per_side_max: 2,
        });
        for message in [
            add(1, Side::Buy, 10, 5),
            add(2, Side::Buy, 11, 1),
            add(3, Side::Buy, 11, 2),
        ] {
            books.apply(&message).unwrap();
        }
        assert_eq!(
            books.apply(&add(4, Side::Buy, 12, 1)),
            Err(BookError::LevelsFull(InstrumentId(0)))
        );
        let replace = |id, price| FeedMessage::Replace {
            timestamp: TimestampNs(0),
            instrument: InstrumentId(0),
            order_id: OrderId(id),
            side: Side::Buy,
            price: Price(price),
            qty: Qty(3),
        };
        // Order 2 shares its level: moving it needs a third level. Refused, book unchanged.
        let before = books.orders_by_priority(InstrumentId(0), Side::Buy);
        assert_eq!(
            books.apply(&replace(2, 9)),
            Err(BookError::LevelsFull(InstrumentId(0)))
        );
        assert_eq!(books.orders_by_priority(InstrumentId(0), Side::Buy), before);
        // Order 1 is alone at 10: its level frees as it moves.
        books.apply(&replace(1, 9)).unwrap();
        let levels: Vec<i64> = books
            .instrument(InstrumentId(0))
            .unwrap()
            .levels_iter(Side::Buy)
            .map(|l| l.price.0)
            .collect();
        assert_eq!(levels, [11, 9]);
        // A clone keeps the reserved room.
        let mut copy = books.clone();
        copy.apply(&FeedMessage::Delete {
            timestamp: TimestampNs(0),
            instrument: InstrumentId(0),
            order_id: OrderId(1),
        })
        .unwrap();
        copy.apply(&add(5, Side::Buy, 13, 1)).unwrap();
        let mut again = MarketBooks::with_capacities(books.capacity());
        again.copy_from(&copy);
        assert!(again.same_as(&copy));
        assert!(!again.same_as(&books));
    }

    #[test]
    fn time_priority_survives_removal_in_the_middle() {
        let mut books = MarketBooks::with_capacity(8);
        for id in 1..=4 {
            books.apply(&add(id, Side::Sell, 20, id)).unwrap();
        }
        books
            .apply(&FeedMessage::Delete {
                timestamp: TimestampNs(0),
                instrument: InstrumentId(0),
                order_id: OrderId(2),
            })
            .unwrap();
        books.apply(&add(2, Side::Sell, 20, 9)).unwrap();
        let ids: Vec<u64> = books
            .orders_iter(InstrumentId(0), Side::Sell)
            .map(|o| o.order_id.0)
            .collect();
        assert_eq!(ids, [1, 3, 4, 2]);
        let best = books.instrument(InstrumentId(0)).unwrap().best(Side::Sell);
        assert_eq!(best.map(|l| (l.qty.0, l.count)), Some((17, 4)));
        assert_eq!(
            books.order(OrderId(2)),
            Some((InstrumentId(0), Side::Sell, Price(20), Qty(9)))
        );
    }
}
