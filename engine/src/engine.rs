//! The state machine: `apply(command) -> events`. One writer, no I/O, no clock, no allocation
//! after construction.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::command::{CancelOrder, Command, CommandKind, MassCancel, NewOrder, ReplaceOrder};
use crate::config::EngineConfig;
use crate::digest::Digest;
use crate::event::{Event, EventSink, RejectedKind, Trade};
use crate::instrument::{Instrument, InstrumentRegistry};
use crate::ladder::{Ladder, LevelPool, NIL};
use crate::orders::{OrderView, Orders, Slot};
use crate::reason::{CancelReason, RejectReason};
use crate::risk::{Risk, RiskConfig};
use crate::types::{
    AccountId, InstrumentId, OrdType, OrderId, Phase, Price, Qty, Side, StpMode, TimeInForce,
    TimestampNs,
};

/// Matching steps one incoming order may take before its remainder is treated as unmatched.
/// Each step fills, cancels or refreshes one resting order, so only a pathological book
/// (a huge iceberg with a tiny display) comes near it.
const MATCH_STEPS_PER_ORDER_MAX: u32 = 1 << 20;

/// One instrument's books and trading state.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Book {
    /// Limit orders: `[bids, asks]`.
    sides: [Ladder; 2],
    /// Untriggered stops: `[buy stops, sell stops]`; the next to trigger is best.
    stops: [Ladder; 2],
    phase: Phase,
    last_price: Option<Price>,
    /// Set when the last price moved or a stop arrived: the stop check must look here.
    stops_dirty: bool,
}

/// The matching and risk engine of one shard.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    instruments: InstrumentRegistry,
    books: Vec<Book>,
    levels: LevelPool,
    orders: Orders,
    /// GTD expiries by (time, acceptance); entries of dead orders are skipped when popped.
    expiries: BinaryHeap<Reverse<(u64, u64, u32)>>,
    any_stops_dirty: bool,
    trades_total: u64,
    /// Pre-trade risk and kill switches (see `risk/`).
    risk: Risk,
    /// The start-up risk configuration, recorded in snapshots to refuse a restore under
    /// another one.
    risk_config: RiskConfig,
}

#[path = "risk/engine_hooks.rs"]
mod risk_hooks;

#[path = "snapshot.rs"]
pub(crate) mod snapshot;

impl Engine {
    /// Builds an engine with every arena preallocated and no risk limits.
    ///
    /// # Panics
    /// If a capacity in `config` is zero.
    #[must_use]
    pub fn new(config: EngineConfig, instruments: InstrumentRegistry) -> Self {
        Self::with_risk(config, instruments, &RiskConfig::default())
    }

    /// Builds an engine with every arena preallocated and the given risk configuration.
    ///
    /// # Panics
    /// If a capacity in `config` is zero, or `risk` is inconsistent
    /// ([`RiskConfig::validate`]).
    #[must_use]
    pub fn with_risk(
        config: EngineConfig,
        instruments: InstrumentRegistry,
        risk: &RiskConfig,
    ) -> Self {
        assert!(config.orders_max > 0, "orders_max must be positive");
        assert!(
            config.levels_per_side_max > 0,
            "levels_per_side_max must be positive"
        );
        assert!(config.accounts_max > 0, "accounts_max must be positive");
        assert!(config.strategies_max > 0, "strategies_max must be positive");
        assert!(config.sessions_max > 0, "sessions_max must be positive");
        let risk_config = risk;
        let risk = Risk::new(&config, &instruments, risk);
        let books = instruments
            .iter()
            .map(|instrument| Book {
                sides: [
                    Ladder::with_capacity(config.levels_per_side_max, true),
                    Ladder::with_capacity(config.levels_per_side_max, false),
                ],
                stops: [
                    Ladder::with_capacity(config.levels_per_side_max, false),
                    Ladder::with_capacity(config.levels_per_side_max, true),
                ],
                phase: instrument.initial_phase,
                last_price: None,
                stops_dirty: false,
            })
            .collect();
        Engine {
            config,
            books,
            levels: LevelPool::with_capacity(config.orders_max),
            orders: Orders::with_capacity(
                config.orders_max,
                config.accounts_max,
                config.strategies_max,
                config.sessions_max,
            ),
            expiries: BinaryHeap::with_capacity(config.orders_max as usize * 2),
            instruments,
            any_stops_dirty: false,
            trades_total: 0,
            risk,
            risk_config: risk_config.clone(),
        }
    }

    /// The instruments this engine trades.
    #[must_use]
    pub fn instruments(&self) -> &InstrumentRegistry {
        &self.instruments
    }

    /// The capacities it was built with.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Applies one command, emitting its events in order.
    pub fn apply<S: EventSink>(&mut self, command: &Command, sink: &mut S) {
        self.risk_before_command(command, sink);
        match command.kind {
            CommandKind::NewOrder(order) => self.new_order(command.timestamp, &order, sink),
            CommandKind::Cancel(cancel) => self.cancel(&cancel, sink),
            CommandKind::Replace(replace) => self.replace(&replace, sink),
            CommandKind::MassCancel(mass) => self.mass_cancel(&mass, sink),
            CommandKind::Clock => self.expire_due(command.timestamp, sink),
            CommandKind::EndOfDay => {
                self.expire_day_orders(sink);
                self.expire_due(command.timestamp, sink);
            }
            CommandKind::SetPhase { instrument, phase } => match self.book_mut(instrument) {
                Some(book) => {
                    book.phase = phase;
                    sink.emit(Event::PhaseChanged { instrument, phase });
                }
                None => sink.emit(Event::Rejected {
                    order_id: OrderId(0),
                    reason: RejectReason::UnknownInstrument,
                    kind: RejectedKind::Control,
                }),
            },
            CommandKind::Risk(risk) => self.apply_risk(command.timestamp, &risk, sink),
        }
        if self.any_stops_dirty {
            self.check_stops(sink);
        }
        self.risk_after_command(sink);
    }

    fn book_mut(&mut self, instrument: InstrumentId) -> Option<&mut Book> {
        self.books.get_mut(instrument.0 as usize)
    }

    // ----- new orders -------------------------------------------------------------------

    fn new_order<S: EventSink>(&mut self, now: TimestampNs, order: &NewOrder, sink: &mut S) {
        if let Err(reason) = self
            .validate_new(now, order)
            .and_then(|()| self.risk_check_new(order))
        {
            sink.emit(Event::Rejected {
                order_id: order.order_id,
                reason,
                kind: RejectedKind::NewOrder,
            });
            return;
        }
        let stp_key = if order.stp_group.0 != 0 {
            (1u64 << 32) | u64::from(order.stp_group.0)
        } else {
            u64::from(order.account.0)
        };
        let slot = Slot {
            id: order.order_id,
            instrument: order.instrument,
            account: order.account,
            strategy: order.strategy,
            session: order.session,
            side: order.side,
            ord_type: order.ord_type,
            tif: order.tif,
            stp_mode: order.stp_mode,
            stp_key,
            post_only: order.post_only,
            price: if matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit) {
                order.price
            } else {
                Price(0)
            },
            stop_price: if matches!(order.ord_type, OrdType::Stop | OrdType::StopLimit) {
                order.stop_price
            } else {
                Price(0)
            },
            qty: order.qty,
            filled: Qty(0),
            leaves: order.qty,
            visible: order.qty,
            display: order.display_qty,
            expire_time: order.expire_time,
            client_ref: order.client_ref,
            ..Slot::default()
        };
        let index = self.orders.insert(slot);
        self.risk_on_accept(index);
        let slot = self.orders.get(index);
        sink.emit(Event::Accepted {
            order_id: slot.id,
            instrument: slot.instrument,
            side: slot.side,
            ord_type: slot.ord_type,
            price: slot.price,
            qty: slot.qty,
            display_qty: slot.display,
        });
        if order.tif == TimeInForce::Gtd {
            self.push_expiry(index);
        }
        if matches!(order.ord_type, OrdType::Stop | OrdType::StopLimit) {
            self.rest_stop(index);
        } else {
            self.execute(index, sink);
        }
    }

    fn validate_new(&self, now: TimestampNs, order: &NewOrder) -> Result<(), RejectReason> {
        let instrument = self
            .instruments
            .get(order.instrument)
            .ok_or(RejectReason::UnknownInstrument)?;
        if order.account.0 >= self.config.accounts_max {
            return Err(RejectReason::UnknownAccount);
        }
        let book = &self.books[order.instrument.0 as usize];
        phase_allows_orders(book.phase)?;
        self.risk_gate(now, order)?;
        if !well_formed(order) {
            return Err(RejectReason::InvalidOrder);
        }
        check_qty(instrument, order.qty)?;
        if matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit) {
            check_price(instrument, order.price)?;
        }
        if matches!(order.ord_type, OrdType::Stop | OrdType::StopLimit) {
            check_price(instrument, order.stop_price)?;
        }
        if order.tif == TimeInForce::Gtd && order.expire_time <= now {
            return Err(RejectReason::InvalidExpireTime);
        }
        if self.orders.lookup(order.order_id).is_some() {
            return Err(RejectReason::DuplicateOrderId);
        }
        if order.post_only && self.crosses_best(book, order.side, order.price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        if !self.orders.has_free_slot() {
            return Err(RejectReason::BookFull);
        }
        let side = order.side.index();
        let needs_room = match order.ord_type {
            OrdType::Stop => book.stops[side].needs_room(order.stop_price),
            // A stop-limit reserves room for where it will rest once triggered, too.
            OrdType::StopLimit => {
                book.stops[side].needs_room(order.stop_price)
                    || (!matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok)
                        && book.sides[side].needs_room(order.price))
            }
            OrdType::Limit if !matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok) => {
                book.sides[side].needs_room(order.price)
            }
            _ => false,
        };
        if needs_room {
            return Err(RejectReason::BookFull);
        }
        if order.tif == TimeInForce::Fok {
            let limit = match order.ord_type {
                OrdType::Market => self.market_limit(instrument, book, order.side),
                _ => Some(order.price),
            };
            let stp_key = if order.stp_group.0 != 0 {
                (1u64 << 32) | u64::from(order.stp_group.0)
            } else {
                u64::from(order.account.0)
            };
            if !self.fok_fillable(book, order.side, limit, order.qty, order.stp_mode, stp_key) {
                return Err(RejectReason::FokNotFillable);
            }
        }
        Ok(())
    }

    /// Whether an order at `price` on `side` would trade with the best opposite level.
    fn crosses_best(&self, book: &Book, side: Side, price: Price) -> bool {
        match book.sides[side.opposite().index()].best() {
            Some(level) => crosses(side, price, self.levels.get(level).price),
            None => false,
        }
    }

    /// The furthest price a market order may reach: the collar from the best opposite price.
    fn market_limit(&self, instrument: &Instrument, book: &Book, side: Side) -> Option<Price> {
        if instrument.market_collar_ticks == 0 {
            return None;
        }
        let best = self
            .levels
            .get(book.sides[side.opposite().index()].best()?)
            .price;
        let width = i64::from(instrument.market_collar_ticks) * instrument.tick_size.0;
        Some(match side {
            Side::Buy => Price(best.0.saturating_add(width)),
            Side::Sell => Price(best.0.saturating_sub(width)),
        })
    }

    /// Walks crossing visible liquidity in priority order (see docs/matching-rules.md).
    fn fok_fillable(
        &self,
        book: &Book,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        stp_mode: StpMode,
        stp_key: u64,
    ) -> bool {
        let mut available = 0u64;
        for level_index in book.sides[side.opposite().index()].iter_best_first() {
            let level = self.levels.get(level_index);
            if let Some(limit) = limit {
                if !crosses(side, limit, level.price) {
                    break;
                }
            }
            let mut cursor = level.head;
            while cursor != NIL {
                let resting = self.orders.get(cursor);
                if stp_mode != StpMode::Off && resting.stp_key == stp_key {
                    if stp_mode != StpMode::CancelResting {
                        return false;
                    }
                } else {
                    available += resting.visible.0;
                    if available >= qty.0 {
                        return true;
                    }
                }
                cursor = resting.next;
            }
        }
        false
    }

    // ----- matching ---------------------------------------------------------------------

    /// Runs an accepted (or triggered, or re-entering) order as the taker, then rests it,
    /// cancels its remainder or frees it.
    fn execute<S: EventSink>(&mut self, taker: u32, sink: &mut S) {
        let t = *self.orders.get(taker);
        let instrument_index = t.instrument.0 as usize;
        let limit = match t.ord_type {
            OrdType::Market => {
                let instrument = self.instruments.get(t.instrument).expect("validated");
                self.market_limit(instrument, &self.books[instrument_index], t.side)
            }
            _ => Some(t.price),
        };
        let finished = self.match_against_book(taker, limit, sink);
        if finished {
            self.remove_order(taker);
            return;
        }
        let t = *self.orders.get(taker);
        let reason = match (t.ord_type, t.tif) {
            (OrdType::Market, _) => Some(CancelReason::MarketRemainder),
            (_, TimeInForce::Ioc | TimeInForce::Fok) => Some(CancelReason::IocRemainder),
            _ => None,
        };
        if let Some(reason) = reason {
            sink.emit(Event::Cancelled {
                order_id: t.id,
                instrument: t.instrument,
                qty: t.leaves,
                reason,
            });
            self.remove_order(taker);
            return;
        }
        if self.books[instrument_index].sides[t.side.index()].needs_room(t.price) {
            // Only a triggered stop-limit can get here: its room was not reserved.
            sink.emit(Event::Cancelled {
                order_id: t.id,
                instrument: t.instrument,
                qty: t.leaves,
                reason: CancelReason::BookFull,
            });
            self.remove_order(taker);
            return;
        }
        let slot = self.orders.get_mut(taker);
        slot.visible = displayed(slot.display, slot.leaves);
        self.link_back(taker, false);
    }

    /// Matches the taker against the opposite side. Returns true when the taker is done
    /// (fully filled or cancelled by self-trade prevention) and must be freed.
    fn match_against_book<S: EventSink>(
        &mut self,
        taker: u32,
        limit: Option<Price>,
        sink: &mut S,
    ) -> bool {
        let t = *self.orders.get(taker);
        let instrument_index = t.instrument.0 as usize;
        let opposite = t.side.opposite().index();
        for _ in 0..MATCH_STEPS_PER_ORDER_MAX {
            let taker_leaves = self.orders.get(taker).leaves;
            if taker_leaves.0 == 0 {
                return true;
            }
            let Some(level_index) = self.books[instrument_index].sides[opposite].best() else {
                return false;
            };
            let level = *self.levels.get(level_index);
            if let Some(limit) = limit {
                if !crosses(t.side, limit, level.price) {
                    return false;
                }
            }
            let maker = level.head;
            debug_assert_ne!(maker, NIL, "a level in a ladder is never empty");
            let m = *self.orders.get(maker);
            if t.stp_mode != StpMode::Off && m.stp_key == t.stp_key {
                if self.prevent_self_trade(taker, maker, sink) {
                    return true;
                }
                continue;
            }
            let qty = Qty(taker_leaves.0.min(m.visible.0));
            debug_assert!(qty.0 > 0);
            let m = {
                let maker_slot = self.orders.get_mut(maker);
                maker_slot.visible.0 -= qty.0;
                maker_slot.leaves.0 -= qty.0;
                maker_slot.filled.0 += qty.0;
                *maker_slot
            };
            let taker_slot = self.orders.get_mut(taker);
            taker_slot.leaves.0 -= qty.0;
            taker_slot.filled.0 += qty.0;
            let taker_leaves = taker_slot.leaves;
            let book = &mut self.books[instrument_index];
            book.last_price = Some(level.price);
            book.stops_dirty = true;
            self.any_stops_dirty = true;
            self.trades_total += 1;
            self.risk_on_fill(maker, taker, level.price, qty);
            sink.emit(Event::Trade(Trade {
                maker_order_id: m.id,
                taker_order_id: t.id,
                instrument: t.instrument,
                taker_side: t.side,
                price: level.price,
                qty,
                maker_leaves: m.leaves,
                taker_leaves,
            }));
            if m.leaves.0 == 0 {
                self.unlink(maker);
                self.remove_order(maker);
            } else if m.visible.0 == 0 {
                self.unlink(maker);
                let slot = self.orders.get_mut(maker);
                slot.visible = displayed(slot.display, slot.leaves);
                let visible = slot.visible;
                self.link_back(maker, false);
                sink.emit(Event::Refreshed {
                    order_id: m.id,
                    instrument: m.instrument,
                    visible,
                });
            }
        }
        false
    }

    /// Applies the taker's STP mode against one resting order of the same key. Returns true
    /// when the taker is done.
    fn prevent_self_trade<S: EventSink>(&mut self, taker: u32, maker: u32, sink: &mut S) -> bool {
        let t = *self.orders.get(taker);
        let m = *self.orders.get(maker);
        let cancel_maker = |sink: &mut S, qty: Qty| {
            sink.emit(Event::Cancelled {
                order_id: m.id,
                instrument: m.instrument,
                qty,
                reason: CancelReason::SelfTrade,
            });
        };
        match t.stp_mode {
            StpMode::Off => unreachable!("checked by the caller"),
            StpMode::CancelResting => {
                self.cancel_live(maker, CancelReason::SelfTrade, sink);
                false
            }
            StpMode::CancelAggressor => {
                self.cancel_taker_rest(taker, t.leaves, sink);
                true
            }
            StpMode::CancelBoth => {
                self.cancel_live(maker, CancelReason::SelfTrade, sink);
                self.cancel_taker_rest(taker, t.leaves, sink);
                true
            }
            StpMode::DecrementAndCancel => {
                let decrement = Qty(t.leaves.0.min(m.leaves.0));
                cancel_maker(sink, decrement);
                self.risk_on_reduce(maker, decrement);
                self.risk_on_reduce(taker, decrement);
                let maker_slot = self.orders.get_mut(maker);
                maker_slot.leaves.0 -= decrement.0;
                maker_slot.visible = Qty(maker_slot.visible.0.min(maker_slot.leaves.0));
                if maker_slot.leaves.0 == 0 {
                    self.unlink(maker);
                    self.remove_order(maker);
                }
                let taker_slot = self.orders.get_mut(taker);
                taker_slot.leaves.0 -= decrement.0;
                let taker_done = taker_slot.leaves.0 == 0;
                // The incoming order's part is reported too, so that a reader of events alone
                // (market data) knows its open quantity.
                sink.emit(Event::Cancelled {
                    order_id: t.id,
                    instrument: t.instrument,
                    qty: decrement,
                    reason: CancelReason::SelfTrade,
                });
                if taker_done {
                    return true;
                }
                false
            }
        }
    }

    fn cancel_taker_rest<S: EventSink>(&mut self, taker: u32, qty: Qty, sink: &mut S) {
        let slot = self.orders.get_mut(taker);
        slot.leaves = Qty(0);
        sink.emit(Event::Cancelled {
            order_id: slot.id,
            instrument: slot.instrument,
            qty,
            reason: CancelReason::SelfTrade,
        });
    }

    // ----- book maintenance -------------------------------------------------------------

    /// Links an order at the back of its level (limit book, or stop book when `stop`),
    /// creating the level if needed. Capacity was checked by the caller.
    fn link_back(&mut self, index: u32, stop: bool) {
        let slot = *self.orders.get(index);
        let book = &mut self.books[slot.instrument.0 as usize];
        let (ladder, price) = if stop {
            (&mut book.stops[slot.side.index()], slot.stop_price)
        } else {
            (&mut book.sides[slot.side.index()], slot.price)
        };
        let level_index = match ladder.find(price) {
            Ok(position) => ladder.level_at(position),
            Err(position) => {
                let level_index = self.levels.allocate(price);
                ladder.insert(position, price, level_index);
                level_index
            }
        };
        let level = self.levels.get_mut(level_index);
        let tail = level.tail;
        level.tail = index;
        if tail == NIL {
            level.head = index;
        }
        level.count += 1;
        if tail != NIL {
            self.orders.get_mut(tail).next = index;
        }
        let slot = self.orders.get_mut(index);
        slot.level = level_index;
        slot.prev = tail;
        slot.next = NIL;
        slot.in_stop_book = stop;
    }

    /// Takes an order out of its level (and the level out of its ladder if it empties).
    fn unlink(&mut self, index: u32) {
        self.unlink_with(index, false);
    }

    /// Takes an order out of its level. When the level empties it leaves the ladder now, or,
    /// with `defer`, stays there empty and the ladder is marked for one
    /// [`Ladder::remove_empty`] pass at the end of a batch (kill switch): nothing may read the
    /// ladder in between.
    fn unlink_with(&mut self, index: u32, defer: bool) {
        let slot = *self.orders.get(index);
        debug_assert_ne!(slot.level, NIL);
        let level = self.levels.get_mut(slot.level);
        match slot.prev {
            NIL => level.head = slot.next,
            prev => self.orders.get_mut(prev).next = slot.next,
        }
        let level = self.levels.get_mut(slot.level);
        match slot.next {
            NIL => level.tail = slot.prev,
            next => self.orders.get_mut(next).prev = slot.prev,
        }
        let level = self.levels.get_mut(slot.level);
        level.count -= 1;
        if level.count == 0 {
            let price = level.price;
            let book = &mut self.books[slot.instrument.0 as usize];
            let ladder = if slot.in_stop_book {
                &mut book.stops[slot.side.index()]
            } else {
                &mut book.sides[slot.side.index()]
            };
            if defer {
                ladder.empty_levels = true;
            } else {
                let position = ladder.find(price).expect("a linked level is in its ladder");
                ladder.remove(position);
                self.levels.release(slot.level);
            }
        }
        let slot = self.orders.get_mut(index);
        slot.level = NIL;
        slot.prev = NIL;
        slot.next = NIL;
        slot.in_stop_book = false;
    }

    fn rest_stop(&mut self, index: u32) {
        self.link_back(index, true);
        let instrument = self.orders.get(index).instrument;
        self.books[instrument.0 as usize].stops_dirty = true;
        self.any_stops_dirty = true;
    }

    fn push_expiry(&mut self, index: u32) {
        if self.expiries.len() == self.expiries.capacity() {
            // Drop entries of orders that are gone; never grow.
            let orders = &self.orders;
            self.expiries.retain(|Reverse((_, accepted_no, slot))| {
                let slot = orders.get(*slot);
                slot.accepted_no == *accepted_no && slot.level != NIL
            });
        }
        let slot = self.orders.get(index);
        self.expiries
            .push(Reverse((slot.expire_time.0, slot.accepted_no, index)));
    }

    /// Removes a live order and reports it cancelled.
    fn cancel_live<S: EventSink>(&mut self, index: u32, reason: CancelReason, sink: &mut S) {
        let slot = *self.orders.get(index);
        sink.emit(Event::Cancelled {
            order_id: slot.id,
            instrument: slot.instrument,
            qty: slot.leaves,
            reason,
        });
        self.unlink(index);
        self.remove_order(index);
    }

    // ----- cancel, replace, mass cancel ----------------------------------------------

    fn owned(&self, order_id: OrderId, account: AccountId) -> Option<u32> {
        let index = self.orders.lookup(order_id)?;
        (self.orders.get(index).account == account).then_some(index)
    }

    fn cancel<S: EventSink>(&mut self, cancel: &CancelOrder, sink: &mut S) {
        match self.owned(cancel.order_id, cancel.account) {
            Some(index) => self.cancel_live(index, CancelReason::Requested, sink),
            None => sink.emit(Event::Rejected {
                order_id: cancel.order_id,
                reason: RejectReason::UnknownOrder,
                kind: RejectedKind::Cancel,
            }),
        }
    }

    fn replace<S: EventSink>(&mut self, replace: &ReplaceOrder, sink: &mut S) {
        let reject = |sink: &mut S, reason| {
            sink.emit(Event::Rejected {
                order_id: replace.order_id,
                reason,
                kind: RejectedKind::Replace,
            });
        };
        let Some(index) = self.owned(replace.order_id, replace.account) else {
            return reject(sink, RejectReason::UnknownOrder);
        };
        let slot = *self.orders.get(index);
        if let Err(reason) = phase_allows_orders(self.books[slot.instrument.0 as usize].phase) {
            return reject(sink, reason);
        }
        if slot.ord_type == OrdType::Market {
            return reject(sink, RejectReason::NotModifiable);
        }
        if replace.qty <= slot.filled {
            return self.cancel_live(index, CancelReason::ReplacedToFilled, sink);
        }
        if let Err(reason) = self
            .validate_replace(&slot, replace)
            .and_then(|()| self.risk_check_replace(index, &slot, replace))
        {
            return reject(sink, reason);
        }
        let new_leaves = Qty(replace.qty.0 - slot.filled.0);
        let new_price = if matches!(slot.ord_type, OrdType::Limit | OrdType::StopLimit) {
            replace.price
        } else {
            slot.price
        };
        let new_stop = if slot.in_stop_book {
            replace.stop_price
        } else {
            slot.stop_price
        };
        if new_price == slot.price && new_stop == slot.stop_price && new_leaves < slot.leaves {
            let slot = self.orders.get_mut(index);
            slot.qty = replace.qty;
            slot.leaves = new_leaves;
            slot.visible = Qty(slot.visible.0.min(new_leaves.0));
            slot.client_ref = replace.client_ref;
            self.risk_on_replace(index);
            let slot = self.orders.get(index);
            sink.emit(Event::Replaced {
                order_id: slot.id,
                instrument: slot.instrument,
                price: slot.price,
                leaves: new_leaves,
                priority_kept: true,
            });
            return;
        }
        let was_stop = slot.in_stop_book;
        self.unlink(index);
        let slot = self.orders.get_mut(index);
        slot.qty = replace.qty;
        slot.leaves = new_leaves;
        slot.visible = displayed(slot.display, new_leaves);
        slot.price = new_price;
        slot.stop_price = new_stop;
        slot.client_ref = replace.client_ref;
        self.risk_on_replace(index);
        let slot = self.orders.get(index);
        sink.emit(Event::Replaced {
            order_id: slot.id,
            instrument: slot.instrument,
            price: new_price,
            leaves: new_leaves,
            priority_kept: false,
        });
        if was_stop {
            self.rest_stop(index);
        } else {
            // Re-enter as an incoming order; visible is recomputed when it rests.
            self.orders.get_mut(index).visible = new_leaves;
            self.execute(index, sink);
        }
    }

    fn validate_replace(&self, slot: &Slot, replace: &ReplaceOrder) -> Result<(), RejectReason> {
        let instrument = self.instruments.get(slot.instrument).expect("live order");
        let book = &self.books[slot.instrument.0 as usize];
        check_qty(instrument, replace.qty)?;
        if matches!(slot.ord_type, OrdType::Limit | OrdType::StopLimit) {
            check_price(instrument, replace.price)?;
        }
        if slot.in_stop_book {
            check_price(instrument, replace.stop_price)?;
        }
        let side = slot.side.index();
        if slot.in_stop_book {
            if replace.stop_price != slot.stop_price
                && book.stops[side].needs_room(replace.stop_price)
            {
                return Err(RejectReason::BookFull);
            }
            // A stop-limit keeps room for where it will rest once triggered.
            if slot.ord_type == OrdType::StopLimit
                && !matches!(slot.tif, TimeInForce::Ioc | TimeInForce::Fok)
                && book.sides[side].needs_room(replace.price)
            {
                return Err(RejectReason::BookFull);
            }
            return Ok(());
        }
        if slot.post_only && self.crosses_best(book, slot.side, replace.price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        if replace.price != slot.price && book.sides[side].needs_room(replace.price) {
            return Err(RejectReason::BookFull);
        }
        Ok(())
    }

    fn mass_cancel<S: EventSink>(&mut self, mass: &MassCancel, sink: &mut S) {
        if mass.account.0 >= self.config.accounts_max {
            sink.emit(Event::Rejected {
                order_id: OrderId(0),
                reason: RejectReason::UnknownAccount,
                kind: RejectedKind::Control,
            });
            return;
        }
        let mut count = 0u32;
        let mut cursor = self.orders.accounts[mass.account.0 as usize].head;
        // Bounded: each step moves to the next live order of the account.
        while cursor != NIL {
            let slot = *self.orders.get(cursor);
            let next = slot.account_next;
            let instrument_matches = mass.instrument.is_none_or(|i| i == slot.instrument);
            let side_matches = mass.side.is_none_or(|s| s == slot.side);
            if instrument_matches && side_matches {
                self.cancel_live(cursor, CancelReason::MassCancel, sink);
                count += 1;
            }
            cursor = next;
        }
        sink.emit(Event::MassCancelled {
            account: mass.account,
            count,
        });
    }

    // ----- time ---------------------------------------------------------------------------

    fn expire_due<S: EventSink>(&mut self, now: TimestampNs, sink: &mut S) {
        while let Some(&Reverse((expire_time, accepted_no, index))) = self.expiries.peek() {
            if expire_time > now.0 {
                break;
            }
            self.expiries.pop();
            let slot = self.orders.get(index);
            if slot.accepted_no == accepted_no && slot.level != NIL {
                self.cancel_live(index, CancelReason::Expired, sink);
            }
        }
    }

    fn expire_day_orders<S: EventSink>(&mut self, sink: &mut S) {
        let mut cursor = self.orders.all.head;
        while cursor != NIL {
            let slot = *self.orders.get(cursor);
            let next = slot.all_next;
            if slot.tif == TimeInForce::Day {
                self.cancel_live(cursor, CancelReason::Expired, sink);
            }
            cursor = next;
        }
    }

    // ----- stops --------------------------------------------------------------------------

    fn check_stops<S: EventSink>(&mut self, sink: &mut S) {
        let mut budget = self.config.stop_triggers_per_command_max;
        let mut still_dirty = false;
        for instrument_index in 0..self.books.len() {
            if !self.books[instrument_index].stops_dirty {
                continue;
            }
            loop {
                let Some(index) = self.next_triggered_stop(instrument_index) else {
                    self.books[instrument_index].stops_dirty = false;
                    break;
                };
                if budget == 0 {
                    still_dirty = true;
                    break;
                }
                budget -= 1;
                self.unlink(index);
                let slot = self.orders.get_mut(index);
                slot.ord_type = match slot.ord_type {
                    OrdType::StopLimit => OrdType::Limit,
                    _ => OrdType::Market,
                };
                sink.emit(Event::Triggered {
                    order_id: slot.id,
                    instrument: slot.instrument,
                });
                self.execute(index, sink);
            }
        }
        self.any_stops_dirty = still_dirty;
    }

    fn next_triggered_stop(&self, instrument_index: usize) -> Option<u32> {
        let book = &self.books[instrument_index];
        let last = book.last_price?;
        if let Some(level) = book.stops[Side::Buy.index()].best() {
            let level = self.levels.get(level);
            if last >= level.price {
                return Some(level.head);
            }
        }
        if let Some(level) = book.stops[Side::Sell.index()].best() {
            let level = self.levels.get(level);
            if last <= level.price {
                return Some(level.head);
            }
        }
        None
    }

    // ----- read-outs ----------------------------------------------------------------------

    /// A live order, by id.
    #[must_use]
    pub fn order(&self, order_id: OrderId) -> Option<OrderView> {
        self.orders
            .lookup(order_id)
            .map(|index| OrderView::from(self.orders.get(index)))
    }

    /// How many orders are live (resting or waiting as stops).
    #[must_use]
    pub fn live_orders(&self) -> u32 {
        self.orders.live_count()
    }

    /// How many trades since start.
    #[must_use]
    pub fn trades_total(&self) -> u64 {
        self.trades_total
    }

    /// An instrument's phase.
    #[must_use]
    pub fn phase(&self, instrument: InstrumentId) -> Option<Phase> {
        self.books.get(instrument.0 as usize).map(|book| book.phase)
    }

    /// An instrument's last trade price.
    #[must_use]
    pub fn last_price(&self, instrument: InstrumentId) -> Option<Price> {
        self.books.get(instrument.0 as usize)?.last_price
    }

    /// Aggregated levels of one side, best first: (price, displayed quantity, order count).
    /// Not for the hot path: it walks the orders.
    #[must_use]
    pub fn depth(
        &self,
        instrument: InstrumentId,
        side: Side,
        levels_max: usize,
    ) -> Vec<(Price, Qty, u32)> {
        let Some(book) = self.books.get(instrument.0 as usize) else {
            return Vec::new();
        };
        book.sides[side.index()]
            .iter_best_first()
            .take(levels_max)
            .map(|level_index| {
                let level = self.levels.get(level_index);
                let visible = self.level_orders(level_index).map(|o| o.visible.0).sum();
                (level.price, Qty(visible), level.count)
            })
            .collect()
    }

    /// Orders of one side in priority order (L3), untriggered stops excluded.
    pub fn orders_by_priority(
        &self,
        instrument: InstrumentId,
        side: Side,
    ) -> impl Iterator<Item = OrderView> + '_ {
        self.books
            .get(instrument.0 as usize)
            .into_iter()
            .flat_map(move |book| book.sides[side.index()].iter_best_first())
            .flat_map(move |level| self.level_orders(level).map(OrderView::from))
    }

    fn level_orders(&self, level_index: u32) -> impl Iterator<Item = &Slot> + '_ {
        let mut cursor = self.levels.get(level_index).head;
        std::iter::from_fn(move || {
            if cursor == NIL {
                return None;
            }
            let slot = self.orders.get(cursor);
            cursor = slot.next;
            Some(slot)
        })
    }

    /// A hash of the canonical state: every book's orders in priority order with all their
    /// fields, stops, phases, last prices and the acceptance order. Independent of memory
    /// layout, so two engines that saw the same commands give the same digest.
    #[must_use]
    pub fn digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.u64(self.books.len() as u64);
        for book in &self.books {
            digest.u64(book.phase as u64);
            digest.i64(book.last_price.map_or(i64::MIN, |p| p.0));
            for ladder in book.sides.iter().chain(book.stops.iter()) {
                digest.u64(ladder.len() as u64);
                for level_index in ladder.iter_best_first() {
                    digest.i64(self.levels.get(level_index).price.0);
                    for slot in self.level_orders(level_index) {
                        digest_slot(&mut digest, slot);
                    }
                }
            }
        }
        let mut cursor = self.orders.all.head;
        while cursor != NIL {
            let slot = self.orders.get(cursor);
            digest.u64(slot.id.0);
            cursor = slot.all_next;
        }
        digest.u64(u64::from(self.orders.live_count()));
        digest.u64(self.trades_total);
        self.risk.digest(&mut digest);
        digest.finish()
    }
}

fn digest_slot(digest: &mut Digest, slot: &Slot) {
    digest.u64(slot.id.0);
    digest.u64(u64::from(slot.account.0));
    digest.u64(u64::from(slot.strategy.0));
    digest.u64(u64::from(slot.session.0));
    digest.u64(slot.side as u64);
    digest.u64(slot.ord_type as u64);
    digest.u64(slot.tif as u64);
    digest.u64(slot.stp_mode as u64);
    digest.u64(slot.stp_key);
    digest.u64(u64::from(slot.post_only));
    digest.i64(slot.price.0);
    digest.i64(slot.stop_price.0);
    digest.u64(slot.qty.0);
    digest.u64(slot.filled.0);
    digest.u64(slot.leaves.0);
    digest.u64(slot.visible.0);
    digest.u64(slot.display.0);
    digest.u64(slot.expire_time.0);
    digest.u64(slot.client_ref);
}

#[inline]
fn crosses(side: Side, limit: Price, resting: Price) -> bool {
    match side {
        Side::Buy => resting <= limit,
        Side::Sell => resting >= limit,
    }
}

#[inline]
fn displayed(display: Qty, leaves: Qty) -> Qty {
    if display.0 == 0 {
        leaves
    } else {
        Qty(display.0.min(leaves.0))
    }
}

fn phase_allows_orders(phase: Phase) -> Result<(), RejectReason> {
    match phase {
        Phase::Continuous => Ok(()),
        Phase::Halted => Err(RejectReason::InstrumentHalted),
        Phase::Closed => Err(RejectReason::InstrumentClosed),
    }
}

fn well_formed(order: &NewOrder) -> bool {
    let limit_priced = matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit);
    let stop = matches!(order.ord_type, OrdType::Stop | OrdType::StopLimit);
    let immediate = matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok);
    let iceberg = order.display_qty.0 > 0;
    !(order.qty.0 == 0
        || order.display_qty > order.qty
        || (limit_priced && order.price.0 < 1)
        || (stop && order.stop_price.0 < 1)
        || (order.post_only && order.ord_type != OrdType::Limit)
        || (order.post_only && immediate)
        || (iceberg && immediate)
        || (iceberg && matches!(order.ord_type, OrdType::Market | OrdType::Stop))
        || (stop && order.tif == TimeInForce::Fok))
}

fn check_qty(instrument: &Instrument, qty: Qty) -> Result<(), RejectReason> {
    if qty.0 % instrument.lot_size.0 != 0 {
        return Err(RejectReason::QtyOffLot);
    }
    if qty < instrument.qty_min {
        return Err(RejectReason::QtyBelowMin);
    }
    if qty > instrument.qty_max {
        return Err(RejectReason::QtyAboveMax);
    }
    Ok(())
}

fn check_price(instrument: &Instrument, price: Price) -> Result<(), RejectReason> {
    if price.0 % instrument.tick_size.0 != 0 {
        return Err(RejectReason::PriceOffTick);
    }
    if price < instrument.price_min || price > instrument.price_max {
        return Err(RejectReason::PriceOutsideBand);
    }
    Ok(())
}
