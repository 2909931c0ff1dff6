//! Comparing books: a feed's [`MarketBooks`] with another's (feed against a rebuilt
//! publisher), and with the engine's own read-outs (`Engine::orders_by_priority`,
//! `Engine::depth`, phases, last prices). Both give the first difference, located by
//! instrument, side and position, or what was compared. Used by the property tests and by
//! `arbiter-md check`; not for the hot path (it collects every order).

use std::fmt;

use arbiter_engine::{Engine, InstrumentId, Phase, Price, Side};

use crate::book::{InstrumentBook, LevelEntry, MarketBooks, OrderEntry};
use crate::message::{InstrumentInfo, SessionStats};

/// What two equal sets of books held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compared {
    /// Instruments compared.
    pub instruments: usize,
    /// Orders compared (both sides of every instrument).
    pub orders: usize,
    /// Price levels compared.
    pub levels: usize,
}

/// Where and how two sets of books first differ. The two sides are called *left* and
/// *right*: the arguments of the comparison in order; [`BookDifference::describe`] names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookDifference {
    /// The instrument.
    pub instrument: InstrumentId,
    /// What differs.
    pub kind: DifferenceKind,
}

/// The part of an instrument's book that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The instrument is on one side only (`left`: whether the left side has it).
    Presence {
        /// Whether the left side has it.
        left: bool,
    },
    /// Static data (directory).
    Info {
        /// Left.
        left: Option<InstrumentInfo>,
        /// Right.
        right: Option<InstrumentInfo>,
    },
    /// Trading phase.
    Phase {
        /// Left.
        left: Phase,
        /// Right.
        right: Phase,
    },
    /// Session statistics.
    Stats {
        /// Left.
        left: SessionStats,
        /// Right.
        right: SessionStats,
    },
    /// Last trade price (the feed's statistics against the engine's last price).
    LastPrice {
        /// Left.
        left: Option<Price>,
        /// Right.
        right: Option<Price>,
    },
    /// The L3 order at `position` (0: best) of a side; `None`: that side has fewer orders.
    Order {
        /// Side.
        side: Side,
        /// Place in priority order.
        position: usize,
        /// Left.
        left: Option<OrderEntry>,
        /// Right.
        right: Option<OrderEntry>,
    },
    /// The L2 level at `level` (0: best) of a side; `None`: that side has fewer levels.
    Level {
        /// Side.
        side: Side,
        /// Level index.
        level: usize,
        /// Left.
        left: Option<LevelEntry>,
        /// Right.
        right: Option<LevelEntry>,
    },
}

fn order_text(order: Option<&OrderEntry>) -> String {
    order.map_or_else(
        || "none".to_owned(),
        |o| format!("order {} {}@{}", o.order_id.0, o.qty.0, o.price.0),
    )
}

fn level_text(level: Option<&LevelEntry>) -> String {
    level.map_or_else(
        || "none".to_owned(),
        |l| format!("{}@{} ({} orders)", l.qty.0, l.price.0, l.count),
    )
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "bid",
        Side::Sell => "ask",
    }
}

impl BookDifference {
    /// One line naming the two sides, e.g. `instrument 0 bid order #2: feed order 7 5@100,
    /// engine order 9 5@100`.
    #[must_use]
    pub fn describe(&self, left: &str, right: &str) -> String {
        let id = self.instrument.0;
        match &self.kind {
            DifferenceKind::Presence { left: on_left } => {
                let (has, lacks) = if *on_left {
                    (left, right)
                } else {
                    (right, left)
                };
                format!("instrument {id}: in the {has} books, not in the {lacks} books")
            }
            DifferenceKind::Info { left: l, right: r } => {
                format!("instrument {id} directory: {left} {l:?}, {right} {r:?}")
            }
            DifferenceKind::Phase { left: l, right: r } => {
                format!("instrument {id} phase: {left} {l:?}, {right} {r:?}")
            }
            DifferenceKind::Stats { left: l, right: r } => {
                format!("instrument {id} statistics: {left} {l:?}, {right} {r:?}")
            }
            DifferenceKind::LastPrice { left: l, right: r } => {
                let text =
                    |p: &Option<Price>| p.map_or_else(|| "none".to_owned(), |p| p.0.to_string());
                format!(
                    "instrument {id} last price: {left} {}, {right} {}",
                    text(l),
                    text(r)
                )
            }
            DifferenceKind::Order {
                side,
                position,
                left: l,
                right: r,
            } => format!(
                "instrument {id} {} order #{position}: {left} {}, {right} {}",
                side_word(*side),
                order_text(l.as_ref()),
                order_text(r.as_ref())
            ),
            DifferenceKind::Level {
                side,
                level,
                left: l,
                right: r,
            } => format!(
                "instrument {id} {} level #{level}: {left} {}, {right} {}",
                side_word(*side),
                level_text(l.as_ref()),
                level_text(r.as_ref())
            ),
        }
    }
}

impl fmt::Display for BookDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("left", "right"))
    }
}

impl std::error::Error for BookDifference {}

/// The first index where two lists differ, with both entries.
fn first_mismatch<T: PartialEq + Copy>(
    left: &[T],
    right: &[T],
) -> Option<(usize, Option<T>, Option<T>)> {
    (0..left.len().max(right.len()))
        .map(|i| (i, left.get(i).copied(), right.get(i).copied()))
        .find(|(_, l, r)| l != r)
}

/// Compares one side's L3 orders and L2 levels; counts what was compared.
fn compare_side(
    instrument: InstrumentId,
    side: Side,
    (left_orders, right_orders): (&[OrderEntry], &[OrderEntry]),
    (left_levels, right_levels): (&[LevelEntry], &[LevelEntry]),
    compared: &mut Compared,
) -> Result<(), Box<BookDifference>> {
    if let Some((position, left, right)) = first_mismatch(left_orders, right_orders) {
        return Err(Box::new(BookDifference {
            instrument,
            kind: DifferenceKind::Order {
                side,
                position,
                left,
                right,
            },
        }));
    }
    if let Some((level, left, right)) = first_mismatch(left_levels, right_levels) {
        return Err(Box::new(BookDifference {
            instrument,
            kind: DifferenceKind::Level {
                side,
                level,
                left,
                right,
            },
        }));
    }
    compared.orders += left_orders.len();
    compared.levels += left_levels.len();
    Ok(())
}

/// Compares two sets of books (a receiver's with a publisher's, say) as
/// [`MarketBooks::same_as`] does, and says where they first differ: instruments, directory,
/// phase, statistics, then each side's orders in priority order and levels.
///
/// # Errors
/// The first [`BookDifference`] (left: `left`, right: `right`).
pub fn compare_books(
    left: &MarketBooks,
    right: &MarketBooks,
) -> Result<Compared, Box<BookDifference>> {
    let mut compared = Compared::default();
    let mut rights = right.iter().peekable();
    for (id, book) in left.iter() {
        // Both iterate in id order: an id below the left's is on the right only.
        if let Some(&(right_id, _)) = rights.peek() {
            if right_id < id {
                return Err(Box::new(BookDifference {
                    instrument: right_id,
                    kind: DifferenceKind::Presence { left: false },
                }));
            }
        }
        let Some(other) = right.instrument(id) else {
            return Err(Box::new(BookDifference {
                instrument: id,
                kind: DifferenceKind::Presence { left: true },
            }));
        };
        rights.next();
        compare_instrument(id, (left, book), (right, other), &mut compared)?;
        compared.instruments += 1;
    }
    if let Some((right_id, _)) = rights.next() {
        return Err(Box::new(BookDifference {
            instrument: right_id,
            kind: DifferenceKind::Presence { left: false },
        }));
    }
    Ok(compared)
}

fn compare_instrument(
    id: InstrumentId,
    (left, a): (&MarketBooks, &InstrumentBook),
    (right, b): (&MarketBooks, &InstrumentBook),
    compared: &mut Compared,
) -> Result<(), Box<BookDifference>> {
    let differ = |kind| {
        Err(Box::new(BookDifference {
            instrument: id,
            kind,
        }))
    };
    if a.info != b.info {
        return differ(DifferenceKind::Info {
            left: a.info,
            right: b.info,
        });
    }
    if a.phase != b.phase {
        return differ(DifferenceKind::Phase {
            left: a.phase,
            right: b.phase,
        });
    }
    if a.stats != b.stats {
        return differ(DifferenceKind::Stats {
            left: a.stats,
            right: b.stats,
        });
    }
    for side in [Side::Buy, Side::Sell] {
        compare_side(
            id,
            side,
            (
                &left.orders_by_priority(id, side),
                &right.orders_by_priority(id, side),
            ),
            (&a.levels(side, usize::MAX), &b.levels(side, usize::MAX)),
            compared,
        )?;
    }
    Ok(())
}

/// Compares the public books with the engine's own: every instrument the engine has must be
/// in `books` with the engine's phase, each side's orders in the engine's priority order with
/// the engine's visible quantity (untriggered stops and hidden iceberg quantity are never
/// shown), the engine's levels (`Engine::depth`), and, once an instrument traded, the
/// engine's last price. `books` may hold no instrument the engine lacks.
///
/// # Errors
/// The first [`BookDifference`] (left: `books`, right: the engine).
pub fn compare_with_engine(
    books: &MarketBooks,
    engine: &Engine,
) -> Result<Compared, Box<BookDifference>> {
    let mut compared = Compared::default();
    let mut id = InstrumentId(0);
    while let Some(phase) = engine.phase(id) {
        let Some(book) = books.instrument(id) else {
            return Err(Box::new(BookDifference {
                instrument: id,
                kind: DifferenceKind::Presence { left: false },
            }));
        };
        let differ = |kind| {
            Err(Box::new(BookDifference {
                instrument: id,
                kind,
            }))
        };
        if book.phase != phase {
            return differ(DifferenceKind::Phase {
                left: book.phase,
                right: phase,
            });
        }
        for side in [Side::Buy, Side::Sell] {
            let engine_orders: Vec<OrderEntry> = engine
                .orders_by_priority(id, side)
                .map(|o| OrderEntry {
                    order_id: o.id,
                    price: o.price,
                    qty: o.visible,
                })
                .collect();
            let engine_levels: Vec<LevelEntry> = engine
                .depth(id, side, usize::MAX)
                .into_iter()
                .map(|(price, qty, count)| LevelEntry { price, qty, count })
                .collect();
            compare_side(
                id,
                side,
                (&books.orders_by_priority(id, side), &engine_orders),
                (&book.levels(side, usize::MAX), &engine_levels),
                &mut compared,
            )?;
        }
        let last = engine.last_price(id);
        if book.stats.trade_count > 0 && last != Some(book.stats.last) {
            return differ(DifferenceKind::LastPrice {
                left: Some(book.stats.last),
                right: last,
            });
        }
        compared.instruments += 1;
        id.0 += 1;
    }
    if let Some((extra, _)) = books.iter().find(|(i, _)| i.0 >= id.0) {
        return Err(Box::new(BookDifference {
            instrument: extra,
            kind: DifferenceKind::Presence { left: true },
        }));
    }
    Ok(compared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::{
        Command, CommandKind, EngineConfig, Instrument, InstrumentRegistry, NewOrder, OrderId, Qty,
        Seq, TimeInForce, TimestampNs,
    };

    use crate::builder::BookBuilder;
    use crate::message::FeedMessage;

    fn add(books: &mut MarketBooks, id: u64, side: Side, price: i64, qty: u64) {
        books
            .apply(&FeedMessage::AddOrder {
                timestamp: TimestampNs(0),
                instrument: InstrumentId(0),
                order_id: OrderId(id),
                side,
                price: Price(price),
                qty: Qty(qty),
            })
            .unwrap();
    }

    #[test]
    fn books_report_the_first_differing_order_and_presence() {
        let mut left = MarketBooks::with_capacity(8);
        let mut right = MarketBooks::with_capacity(8);
        for books in [&mut left, &mut right] {
            add(books, 1, Side::Buy, 10, 5);
            add(books, 2, Side::Sell, 12, 5);
        }
        assert_eq!(
            compare_books(&left, &right),
            Ok(Compared {
                instruments: 1,
                orders: 2,
                levels: 2
            })
        );
        add(&mut left, 3, Side::Buy, 10, 4);
        let difference = compare_books(&left, &right).unwrap_err();
        assert_eq!(
            difference.kind,
            DifferenceKind::Order {
                side: Side::Buy,
                position: 1,
                left: Some(OrderEntry {
                    order_id: OrderId(3),
                    price: Price(10),
                    qty: Qty(4)
                }),
                right: None,
            }
        );
        assert_eq!(
            difference.describe("feed", "journal"),
            "instrument 0 bid order #1: feed order 3 4@10, journal none"
        );
        let empty = MarketBooks::with_capacity(8);
        assert_eq!(
            compare_books(&empty, &right).unwrap_err().kind,
            DifferenceKind::Presence { left: false }
        );
    }

    #[test]
    fn books_from_events_equal_the_engine_and_a_changed_quantity_is_found() {
        let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "DEMO")]).unwrap();
        let mut engine = Engine::new(EngineConfig::default(), registry.clone());
        let mut builder = BookBuilder::new(&registry, 64);
        let mut events = Vec::new();
        for (seq, (price, qty, display)) in [(100, 5, 0), (100, 7, 0), (101, 30, 10)]
            .into_iter()
            .enumerate()
        {
            let order = NewOrder {
                order_id: OrderId(seq as u64 + 1),
                side: Side::Sell,
                price: Price(price),
                qty: Qty(qty),
                display_qty: Qty(display),
                tif: TimeInForce::Gtc,
                ..NewOrder::default()
            };
            let seq = Seq(seq as u64 + 1);
            let command = Command::new(seq, TimestampNs(1), CommandKind::NewOrder(order));
            events.clear();
            engine.apply(&command, &mut events);
            for event in &events {
                builder.on_event(seq, TimestampNs(1), event).unwrap();
            }
            builder.on_command_end(seq).unwrap();
        }
        assert_eq!(
            compare_with_engine(builder.books(), &engine),
            Ok(Compared {
                instruments: 1,
                orders: 3,
                levels: 2
            })
        );
        // The iceberg shows its display size, not its open quantity.
        let mut shown = builder.books().clone();
        shown
            .apply(&FeedMessage::Reduce {
                timestamp: TimestampNs(2),
                instrument: InstrumentId(0),
                order_id: OrderId(2),
                reduced_qty: Qty(1),
            })
            .unwrap();
        let difference = compare_with_engine(&shown, &engine).unwrap_err();
        assert_eq!(
            difference.describe("feed", "engine"),
            "instrument 0 ask order #1: feed order 2 6@100, engine order 2 7@100"
        );
    }
}
