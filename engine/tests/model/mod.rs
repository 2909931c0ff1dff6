//! A reference model of `docs/matching-rules.md`, written for clarity, not speed.
//!
//! Every live order (resting limit order or untriggered stop) sits in one flat `Vec`. Every
//! question about the book ("best ask", "does this level exist", "how many levels") is a
//! linear scan over that `Vec`. There are no indexes, no levels, no linked lists: nothing the
//! fast engine does is repeated here, so a shared mistake is unlikely.
//!
//! The model reads the spec literally; the places where the spec leaves room are marked
//! `READING:` and listed in the report to the lead.
#![allow(dead_code)]

pub mod generate;

use arbiter_engine::{
    AccountId, CancelOrder, CancelReason, Command, CommandKind, EngineConfig, Event, InstrumentId,
    InstrumentRegistry, MassCancel, NewOrder, OrdType, OrderId, Phase, Price, Qty, RejectReason,
    RejectedKind, ReplaceOrder, Side, StpGroup, StpMode, TimeInForce, TimestampNs, Trade,
};

/// Instrument parameters the model needs, copied out of the registry.
#[derive(Clone, Debug)]
pub struct ModelInstrument {
    pub tick: i64,
    pub lot: u64,
    pub qty_min: u64,
    pub qty_max: u64,
    pub price_min: i64,
    pub price_max: i64,
    pub collar_ticks: u32,
}

/// One live order: resting in the limit book, or waiting in the stop book.
#[derive(Clone, Debug)]
pub struct ModelOrder {
    pub id: OrderId,
    pub instrument: InstrumentId,
    pub account: AccountId,
    pub side: Side,
    /// Current type. A triggered stop-limit that rests is a `Limit` from then on.
    pub ord_type: OrdType,
    pub tif: TimeInForce,
    /// Limit price; 0 for Market and Stop.
    pub price: i64,
    /// Trigger price; meaningful only while `in_stop_book`.
    pub stop_price: i64,
    /// Total quantity (FIX OrderQty), filled included; changed by replace.
    pub qty: u64,
    /// Sum of traded quantity.
    pub filled: u64,
    /// Open quantity (hidden included).
    pub leaves: u64,
    /// Displayed quantity (== leaves unless an iceberg).
    pub visible: u64,
    /// Iceberg display quantity; 0 = fully displayed.
    pub display: u64,
    pub post_only: bool,
    pub stp_mode: StpMode,
    pub stp_group: StpGroup,
    pub expire_time: u64,
    /// Position in "original acceptance" order; never changes.
    pub accept_seq: u64,
    /// Position in time priority (limit level or stop book); renewed when the order goes to
    /// the back (rest, refresh, replace without priority).
    pub time_seq: u64,
    /// Waiting in the stop book (untriggered) rather than resting in the limit book.
    pub in_stop_book: bool,
}

impl ModelOrder {
    fn stp_key(&self) -> (u8, u32) {
        stp_key(self.stp_group, self.account)
    }
}

fn stp_key(group: StpGroup, account: AccountId) -> (u8, u32) {
    if group.0 != 0 {
        (1, group.0)
    } else {
        (0, account.0)
    }
}

/// An order while it is the taker (it is not in `orders` while matching).
type Taker = ModelOrder;

/// Switches for places where the engine is known to differ from the spec text.
///
/// `Model::new` reads the spec literally (every switch `true`). The equivalence test uses
/// `Readings::engine()`, which turns off only the divergences already reported to the lead
/// (each has an `#[ignore]`d test in `regressions.rs`), so fuzzing can go on past them.
/// When the engine is fixed, flip the switch back and delete it.
#[derive(Clone, Copy, Debug)]
pub struct Readings {
    /// Rule 10: a StopLimit that is not IOC/FOK "could rest" at its limit price, so a new
    /// level there on a full limit ladder is `BookFull` at arrival (and on replace).
    pub stop_limit_reserves_limit_level: bool,
}

impl Readings {
    /// The spec, read literally.
    pub const fn spec() -> Self {
        Readings {
            stop_limit_reserves_limit_level: true,
        }
    }

    /// The spec, less the divergences reported in `regressions.rs`.
    pub const fn engine() -> Self {
        Readings {
            stop_limit_reserves_limit_level: true,
        }
    }
}

/// The reference book.
#[derive(Clone, Debug)]
pub struct Model {
    pub readings: Readings,
    pub config: EngineConfig,
    pub instruments: Vec<ModelInstrument>,
    pub phases: Vec<Phase>,
    pub last_price: Vec<Option<i64>>,
    /// Every live order, in no particular order.
    pub orders: Vec<ModelOrder>,
    accept_counter: u64,
    time_counter: u64,
}

/// Does a taker with this (optional) limit cross a maker at `maker_price`?
fn crosses(taker_side: Side, limit: Option<i64>, maker_price: i64) -> bool {
    match (taker_side, limit) {
        (_, None) => true,
        (Side::Buy, Some(limit)) => maker_price <= limit,
        (Side::Sell, Some(limit)) => maker_price >= limit,
    }
}

impl Model {
    /// The spec, read literally.
    pub fn new(config: EngineConfig, registry: &InstrumentRegistry) -> Model {
        Model::with_readings(config, registry, Readings::spec())
    }

    pub fn with_readings(
        config: EngineConfig,
        registry: &InstrumentRegistry,
        readings: Readings,
    ) -> Model {
        let instruments: Vec<ModelInstrument> = registry
            .iter()
            .map(|i| ModelInstrument {
                tick: i.tick_size.0,
                lot: i.lot_size.0,
                qty_min: i.qty_min.0,
                qty_max: i.qty_max.0,
                price_min: i.price_min.0,
                price_max: i.price_max.0,
                collar_ticks: i.market_collar_ticks,
            })
            .collect();
        Model {
            readings,
            config,
            phases: registry.iter().map(|i| i.initial_phase).collect(),
            last_price: vec![None; instruments.len()],
            instruments,
            orders: Vec::new(),
            accept_counter: 0,
            time_counter: 0,
        }
    }

    fn next_time(&mut self) -> u64 {
        self.time_counter += 1;
        self.time_counter
    }

    // ------------------------------------------------------------------ book queries

    /// Index of the best resting (limit book) order on a side: best price, then earliest.
    fn best_index(&self, instrument: InstrumentId, side: Side) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (index, order) in self.orders.iter().enumerate() {
            if order.in_stop_book || order.instrument != instrument || order.side != side {
                continue;
            }
            best = match best {
                None => Some(index),
                Some(current) => {
                    if self.ranks_before(order, &self.orders[current]) {
                        Some(index)
                    } else {
                        Some(current)
                    }
                }
            };
        }
        best
    }

    /// Price-time priority between two resting orders of the same side.
    fn ranks_before(&self, a: &ModelOrder, b: &ModelOrder) -> bool {
        let better_price = match a.side {
            Side::Buy => a.price > b.price,
            Side::Sell => a.price < b.price,
        };
        if a.price != b.price {
            return better_price;
        }
        a.time_seq < b.time_seq
    }

    /// Resting orders of one side in priority order.
    fn side_in_priority(&self, instrument: InstrumentId, side: Side) -> Vec<ModelOrder> {
        let mut list: Vec<ModelOrder> = self
            .orders
            .iter()
            .filter(|o| !o.in_stop_book && o.instrument == instrument && o.side == side)
            .cloned()
            .collect();
        list.sort_by(|a, b| {
            let price_order = match side {
                Side::Buy => b.price.cmp(&a.price),
                Side::Sell => a.price.cmp(&b.price),
            };
            price_order.then(a.time_seq.cmp(&b.time_seq))
        });
        list
    }

    pub fn best_price(&self, instrument: InstrumentId, side: Side) -> Option<i64> {
        self.best_index(instrument, side)
            .map(|index| self.orders[index].price)
    }

    /// Distinct prices on one side of the limit book (or stop prices of the stop book).
    fn ladder(&self, instrument: InstrumentId, side: Side, stop_book: bool) -> Vec<i64> {
        let mut prices: Vec<i64> = self
            .orders
            .iter()
            .filter(|o| o.in_stop_book == stop_book && o.instrument == instrument && o.side == side)
            .map(|o| if stop_book { o.stop_price } else { o.price })
            .collect();
        prices.sort_unstable();
        prices.dedup();
        prices
    }

    /// Would resting at `price` need a new level on a ladder that is already full?
    fn needs_level_on_full_ladder(
        &self,
        instrument: InstrumentId,
        side: Side,
        stop_book: bool,
        price: i64,
    ) -> bool {
        let ladder = self.ladder(instrument, side, stop_book);
        !ladder.contains(&price) && ladder.len() >= self.config.levels_per_side_max as usize
    }

    fn find(&self, id: OrderId) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    // ------------------------------------------------------------------ commands

    /// Applies one command and returns its events, in order.
    pub fn apply(&mut self, command: &Command) -> Vec<Event> {
        let mut events = Vec::new();
        match command.kind {
            CommandKind::NewOrder(new) => self.new_order(command.timestamp, &new, &mut events),
            CommandKind::Cancel(cancel) => self.cancel(&cancel, &mut events),
            CommandKind::Replace(replace) => self.replace(&replace, &mut events),
            CommandKind::MassCancel(mass) => self.mass_cancel(&mass, &mut events),
            CommandKind::Clock => self.expire_gtd(command.timestamp, &mut events),
            CommandKind::EndOfDay => {
                self.expire_day(&mut events);
                self.expire_gtd(command.timestamp, &mut events);
            }
            CommandKind::SetPhase { instrument, phase } => {
                if (instrument.0 as usize) < self.instruments.len() {
                    self.phases[instrument.0 as usize] = phase;
                    events.push(Event::PhaseChanged { instrument, phase });
                } else {
                    events.push(Event::Rejected {
                        // READING: a control command names no order: order id 0.
                        order_id: OrderId(0),
                        reason: RejectReason::UnknownInstrument,
                        kind: RejectedKind::Control,
                    });
                }
            }
            // Risk commands are outside the matching rules; the generator never makes them.
            CommandKind::Risk(_) => unreachable!("the model covers matching only"),
        }
        self.stop_check(&mut events);
        events
    }

    fn validate_new(&self, timestamp: TimestampNs, new: &NewOrder) -> Result<(), RejectReason> {
        use RejectReason as R;
        // 1.
        let Some(inst) = self.instruments.get(new.instrument.0 as usize) else {
            return Err(R::UnknownInstrument);
        };
        // 2.
        if new.account.0 >= self.config.accounts_max {
            return Err(R::UnknownAccount);
        }
        // 3.
        match self.phases[new.instrument.0 as usize] {
            Phase::Halted => return Err(R::InstrumentHalted),
            Phase::Closed => return Err(R::InstrumentClosed),
            Phase::Continuous => {}
        }
        // 4.
        let t = new.ord_type;
        let has_price = matches!(t, OrdType::Limit | OrdType::StopLimit);
        let has_stop = matches!(t, OrdType::Stop | OrdType::StopLimit);
        let ioc_fok = matches!(new.tif, TimeInForce::Ioc | TimeInForce::Fok);
        let invalid = new.qty.0 == 0
            || new.display_qty > new.qty
            || (has_price && new.price.0 < 1)
            || (has_stop && new.stop_price.0 < 1)
            || (new.post_only && t != OrdType::Limit)
            || (new.post_only && ioc_fok)
            || (new.display_qty.0 > 0 && ioc_fok)
            || (new.display_qty.0 > 0 && matches!(t, OrdType::Market | OrdType::Stop))
            || (has_stop && new.tif == TimeInForce::Fok);
        if invalid {
            return Err(R::InvalidOrder);
        }
        // 5.
        check_qty(inst, new.qty.0)?;
        // 6.
        check_prices(
            inst,
            has_price.then_some(new.price.0),
            has_stop.then_some(new.stop_price.0),
        )?;
        // 7.
        if new.tif == TimeInForce::Gtd && new.expire_time <= timestamp {
            return Err(R::InvalidExpireTime);
        }
        // 8.
        if self.find(new.order_id).is_some() {
            return Err(R::DuplicateOrderId);
        }
        // 9.
        if new.post_only {
            if let Some(best) = self.best_price(new.instrument, new.side.opposite()) {
                if crosses(new.side, Some(new.price.0), best) {
                    return Err(R::PostOnlyWouldCross);
                }
            }
        }
        // 10.
        if self.orders.len() >= self.config.orders_max as usize {
            return Err(R::BookFull);
        }
        // A Limit not IOC/FOK may rest at `price` in the limit book; so may a StopLimit not
        // IOC/FOK once triggered (the spec lists it); any stop rests now in the stop book at
        // `stop_price`. Each of these ladders is checked.
        let limit_ladder = t == OrdType::Limit
            || (t == OrdType::StopLimit && self.readings.stop_limit_reserves_limit_level);
        if limit_ladder
            && !ioc_fok
            && self.needs_level_on_full_ladder(new.instrument, new.side, false, new.price.0)
        {
            return Err(R::BookFull);
        }
        if has_stop
            && self.needs_level_on_full_ladder(new.instrument, new.side, true, new.stop_price.0)
        {
            return Err(R::BookFull);
        }
        // 11.
        if new.tif == TimeInForce::Fok {
            let limit = match t {
                OrdType::Market => self.market_limit(new.instrument, new.side),
                _ => Some(new.price.0),
            };
            let key = stp_key(new.stp_group, new.account);
            let mut sum: u64 = 0;
            for maker in self.side_in_priority(new.instrument, new.side.opposite()) {
                if !crosses(new.side, limit, maker.price) {
                    break;
                }
                if new.stp_mode != StpMode::Off && maker.stp_key() == key {
                    if new.stp_mode == StpMode::CancelResting {
                        continue;
                    }
                    break;
                }
                sum += maker.visible;
            }
            if sum < new.qty.0 {
                return Err(R::FokNotFillable);
            }
        }
        Ok(())
    }

    fn market_limit(&self, instrument: InstrumentId, side: Side) -> Option<i64> {
        let inst = &self.instruments[instrument.0 as usize];
        if inst.collar_ticks == 0 {
            return None;
        }
        let best = self.best_price(instrument, side.opposite())?;
        let width = i64::from(inst.collar_ticks) * inst.tick;
        Some(match side {
            Side::Buy => best + width,
            Side::Sell => best - width,
        })
    }

    fn new_order(&mut self, timestamp: TimestampNs, new: &NewOrder, events: &mut Vec<Event>) {
        if let Err(reason) = self.validate_new(timestamp, new) {
            events.push(Event::Rejected {
                order_id: new.order_id,
                reason,
                kind: RejectedKind::NewOrder,
            });
            return;
        }
        let is_stop = matches!(new.ord_type, OrdType::Stop | OrdType::StopLimit);
        let price = match new.ord_type {
            OrdType::Limit | OrdType::StopLimit => new.price.0,
            OrdType::Market | OrdType::Stop => 0,
        };
        self.accept_counter += 1;
        let time_seq = self.next_time();
        let order = ModelOrder {
            id: new.order_id,
            instrument: new.instrument,
            account: new.account,
            side: new.side,
            ord_type: new.ord_type,
            tif: new.tif,
            price,
            stop_price: if is_stop { new.stop_price.0 } else { 0 },
            qty: new.qty.0,
            filled: 0,
            leaves: new.qty.0,
            visible: new.qty.0,
            display: new.display_qty.0,
            post_only: new.post_only,
            stp_mode: new.stp_mode,
            stp_group: new.stp_group,
            expire_time: new.expire_time.0,
            accept_seq: self.accept_counter,
            time_seq,
            in_stop_book: is_stop,
        };
        events.push(Event::Accepted {
            order_id: new.order_id,
            instrument: new.instrument,
            side: new.side,
            ord_type: new.ord_type,
            price: Price(price),
            qty: new.qty,
            display_qty: new.display_qty,
        });
        if is_stop {
            self.orders.push(order);
        } else {
            self.run_taker(order, events);
        }
    }

    /// Matches an incoming order (new, triggered, or replaced-and-re-entering) and then
    /// rests or cancels what is left.
    fn run_taker(&mut self, mut taker: Taker, events: &mut Vec<Event>) {
        debug_assert!(!taker.in_stop_book);
        let is_market = taker.ord_type == OrdType::Market;
        let limit = if is_market {
            self.market_limit(taker.instrument, taker.side)
        } else {
            Some(taker.price)
        };
        let taker_key = taker.stp_key();
        // Bounded: every iteration removes a maker, fills something, or ends.
        loop {
            if taker.leaves == 0 {
                break;
            }
            let Some(maker_index) = self.best_index(taker.instrument, taker.side.opposite()) else {
                break;
            };
            let maker_price = self.orders[maker_index].price;
            if !crosses(taker.side, limit, maker_price) {
                break;
            }
            if taker.stp_mode != StpMode::Off && self.orders[maker_index].stp_key() == taker_key {
                match taker.stp_mode {
                    StpMode::Off => unreachable!(),
                    StpMode::CancelResting => {
                        let maker = self.orders.remove(maker_index);
                        events.push(cancelled(&maker, maker.leaves, CancelReason::SelfTrade));
                        continue;
                    }
                    StpMode::CancelAggressor => {
                        events.push(cancelled(&taker, taker.leaves, CancelReason::SelfTrade));
                        return;
                    }
                    StpMode::CancelBoth => {
                        let maker = self.orders.remove(maker_index);
                        events.push(cancelled(&maker, maker.leaves, CancelReason::SelfTrade));
                        events.push(cancelled(&taker, taker.leaves, CancelReason::SelfTrade));
                        return;
                    }
                    StpMode::DecrementAndCancel => {
                        let d = taker.leaves.min(self.orders[maker_index].leaves);
                        let maker = &mut self.orders[maker_index];
                        maker.leaves -= d;
                        maker.visible = maker.visible.min(maker.leaves);
                        let event = cancelled(maker, d, CancelReason::SelfTrade);
                        if maker.leaves == 0 {
                            self.orders.remove(maker_index);
                        }
                        events.push(event);
                        taker.leaves -= d;
                        events.push(cancelled(&taker, d, CancelReason::SelfTrade));
                        if taker.leaves == 0 {
                            return;
                        }
                        continue;
                    }
                }
            }
            // A fill.
            let maker = &mut self.orders[maker_index];
            let qty = taker.leaves.min(maker.visible);
            assert!(qty > 0, "model: resting order with nothing visible");
            maker.leaves -= qty;
            maker.visible -= qty;
            maker.filled += qty;
            taker.leaves -= qty;
            taker.filled += qty;
            events.push(Event::Trade(Trade {
                maker_order_id: maker.id,
                taker_order_id: taker.id,
                instrument: taker.instrument,
                taker_side: taker.side,
                price: Price(maker.price),
                qty: Qty(qty),
                maker_leaves: Qty(maker.leaves),
                taker_leaves: Qty(taker.leaves),
            }));
            self.last_price[taker.instrument.0 as usize] = Some(maker_price);
            if maker.leaves == 0 {
                self.orders.remove(maker_index);
            } else if maker.visible == 0 {
                maker.visible = maker.display.min(maker.leaves);
                let (id, instrument, visible) = (maker.id, maker.instrument, maker.visible);
                let time_seq = self.next_time();
                self.orders[maker_index].time_seq = time_seq;
                events.push(Event::Refreshed {
                    order_id: id,
                    instrument,
                    visible: Qty(visible),
                });
            }
        }
        if taker.leaves == 0 {
            return;
        }
        if is_market {
            events.push(cancelled(
                &taker,
                taker.leaves,
                CancelReason::MarketRemainder,
            ));
            return;
        }
        match taker.tif {
            TimeInForce::Ioc => {
                events.push(cancelled(&taker, taker.leaves, CancelReason::IocRemainder));
            }
            TimeInForce::Fok => panic!("model: FOK passed its check but was not filled"),
            TimeInForce::Day | TimeInForce::Gtc | TimeInForce::Gtd => {
                // READING (spec gap): only a triggered stop-limit can find no room here; it
                // is cancelled with `BookFull` (the engine's choice; the spec names no rule).
                if self.needs_level_on_full_ladder(taker.instrument, taker.side, false, taker.price)
                {
                    events.push(cancelled(&taker, taker.leaves, CancelReason::BookFull));
                    return;
                }
                taker.visible = if taker.display > 0 {
                    taker.display.min(taker.leaves)
                } else {
                    taker.leaves
                };
                taker.time_seq = self.next_time();
                self.orders.push(taker);
            }
        }
    }

    fn cancel(&mut self, cancel: &CancelOrder, events: &mut Vec<Event>) {
        match self.find(cancel.order_id) {
            Some(index) if self.orders[index].account == cancel.account => {
                let order = self.orders.remove(index);
                events.push(cancelled(&order, order.leaves, CancelReason::Requested));
            }
            _ => events.push(Event::Rejected {
                order_id: cancel.order_id,
                reason: RejectReason::UnknownOrder,
                kind: RejectedKind::Cancel,
            }),
        }
    }

    fn validate_replace(&self, index: usize, replace: &ReplaceOrder) -> Result<(), RejectReason> {
        let order = &self.orders[index];
        let inst = &self.instruments[order.instrument.0 as usize];
        let has_price = matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit);
        let has_stop = order.in_stop_book;
        let ioc_fok = matches!(order.tif, TimeInForce::Ioc | TimeInForce::Fok);
        check_qty(inst, replace.qty.0)?;
        check_prices(
            inst,
            has_price.then_some(replace.price.0),
            has_stop.then_some(replace.stop_price.0),
        )?;
        if order.post_only {
            if let Some(best) = self.best_price(order.instrument, order.side.opposite()) {
                if crosses(order.side, Some(replace.price.0), best) {
                    return Err(RejectReason::PostOnlyWouldCross);
                }
            }
        }
        // READING: the ladder is looked at as it is before the order leaves its level, and
        // the same ladders as for a new order are checked.
        let limit_ladder = order.ord_type == OrdType::Limit
            || (order.ord_type == OrdType::StopLimit
                && self.readings.stop_limit_reserves_limit_level);
        if limit_ladder
            && !ioc_fok
            && self.needs_level_on_full_ladder(order.instrument, order.side, false, replace.price.0)
        {
            return Err(RejectReason::BookFull);
        }
        if has_stop
            && self.needs_level_on_full_ladder(
                order.instrument,
                order.side,
                true,
                replace.stop_price.0,
            )
        {
            return Err(RejectReason::BookFull);
        }
        Ok(())
    }

    fn replace(&mut self, replace: &ReplaceOrder, events: &mut Vec<Event>) {
        let reject = |reason| Event::Rejected {
            order_id: replace.order_id,
            reason,
            kind: RejectedKind::Replace,
        };
        // 1.
        let index = match self.find(replace.order_id) {
            Some(index) if self.orders[index].account == replace.account => index,
            _ => {
                events.push(reject(RejectReason::UnknownOrder));
                return;
            }
        };
        // 2.
        match self.phases[self.orders[index].instrument.0 as usize] {
            Phase::Halted => {
                events.push(reject(RejectReason::InstrumentHalted));
                return;
            }
            Phase::Closed => {
                events.push(reject(RejectReason::InstrumentClosed));
                return;
            }
            Phase::Continuous => {}
        }
        // 3.
        if self.orders[index].ord_type == OrdType::Market {
            events.push(reject(RejectReason::NotModifiable));
            return;
        }
        // 4. READING: "filled" is the traded quantity; an STP decrement is not a fill.
        let filled = self.orders[index].filled;
        if replace.qty.0 <= filled {
            let order = self.orders.remove(index);
            events.push(cancelled(
                &order,
                order.leaves,
                CancelReason::ReplacedToFilled,
            ));
            return;
        }
        let new_leaves = replace.qty.0 - filled;
        // 5.
        if let Err(reason) = self.validate_replace(index, replace) {
            events.push(reject(reason));
            return;
        }
        let order = &self.orders[index];
        let has_price = matches!(order.ord_type, OrdType::Limit | OrdType::StopLimit);
        let has_stop = order.in_stop_book;
        let new_price = if has_price {
            replace.price.0
        } else {
            order.price
        };
        let new_stop = if has_stop {
            replace.stop_price.0
        } else {
            order.stop_price
        };
        // 6.
        if new_price == order.price && new_stop == order.stop_price && new_leaves < order.leaves {
            let order = &mut self.orders[index];
            order.qty = replace.qty.0;
            order.leaves = new_leaves;
            order.visible = order.visible.min(new_leaves);
            events.push(Event::Replaced {
                order_id: order.id,
                instrument: order.instrument,
                price: Price(order.price),
                leaves: Qty(new_leaves),
                priority_kept: true,
            });
            return;
        }
        // 7.
        let mut order = self.orders.remove(index);
        order.price = new_price;
        order.stop_price = new_stop;
        order.qty = replace.qty.0;
        order.leaves = new_leaves;
        order.visible = if order.display > 0 {
            order.display.min(new_leaves)
        } else {
            new_leaves
        };
        events.push(Event::Replaced {
            order_id: order.id,
            instrument: order.instrument,
            price: Price(order.price),
            leaves: Qty(new_leaves),
            priority_kept: false,
        });
        if order.in_stop_book {
            order.time_seq = self.next_time();
            self.orders.push(order);
        } else {
            self.run_taker(order, events);
        }
    }

    fn live_in_acceptance_order(&self) -> Vec<ModelOrder> {
        let mut list = self.orders.clone();
        list.sort_by_key(|o| o.accept_seq);
        list
    }

    fn remove_and_cancel(&mut self, id: OrderId, reason: CancelReason, events: &mut Vec<Event>) {
        let index = self.find(id).expect("model: order to cancel is live");
        let order = self.orders.remove(index);
        events.push(cancelled(&order, order.leaves, reason));
    }

    fn mass_cancel(&mut self, mass: &MassCancel, events: &mut Vec<Event>) {
        if mass.account.0 >= self.config.accounts_max {
            events.push(Event::Rejected {
                order_id: OrderId(0),
                reason: RejectReason::UnknownAccount,
                kind: RejectedKind::Control,
            });
            return;
        }
        let mut count: u32 = 0;
        for order in self.live_in_acceptance_order() {
            let matches = order.account == mass.account
                && (mass.instrument.is_none() || mass.instrument == Some(order.instrument))
                && (mass.side.is_none() || mass.side == Some(order.side));
            if matches {
                self.remove_and_cancel(order.id, CancelReason::MassCancel, events);
                count += 1;
            }
        }
        events.push(Event::MassCancelled {
            account: mass.account,
            count,
        });
    }

    fn expire_day(&mut self, events: &mut Vec<Event>) {
        for order in self.live_in_acceptance_order() {
            if order.tif == TimeInForce::Day {
                self.remove_and_cancel(order.id, CancelReason::Expired, events);
            }
        }
    }

    fn expire_gtd(&mut self, now: TimestampNs, events: &mut Vec<Event>) {
        let mut due: Vec<ModelOrder> = self
            .orders
            .iter()
            .filter(|o| o.tif == TimeInForce::Gtd && o.expire_time <= now.0)
            .cloned()
            .collect();
        due.sort_by_key(|o| (o.expire_time, o.accept_seq));
        for order in due {
            self.remove_and_cancel(order.id, CancelReason::Expired, events);
        }
    }

    /// The stop check, run after every command.
    ///
    /// READING: the phase of the instrument is not looked at (the spec names none).
    fn stop_check(&mut self, events: &mut Vec<Event>) {
        let mut budget = self.config.stop_triggers_per_command_max;
        for instrument_index in 0..self.instruments.len() {
            let instrument = InstrumentId(u32::try_from(instrument_index).unwrap());
            loop {
                if budget == 0 {
                    return;
                }
                let Some(last) = self.last_price[instrument_index] else {
                    break;
                };
                let eligible = |o: &&ModelOrder, side: Side| {
                    o.in_stop_book
                        && o.instrument == instrument
                        && o.side == side
                        && match side {
                            Side::Buy => last >= o.stop_price,
                            Side::Sell => last <= o.stop_price,
                        }
                };
                let buy = self
                    .orders
                    .iter()
                    .filter(|o| eligible(o, Side::Buy))
                    .min_by_key(|o| (o.stop_price, o.time_seq))
                    .map(|o| o.id);
                let sell = self
                    .orders
                    .iter()
                    .filter(|o| eligible(o, Side::Sell))
                    .min_by_key(|o| (-o.stop_price, o.time_seq))
                    .map(|o| o.id);
                let Some(id) = buy.or(sell) else {
                    break;
                };
                budget -= 1;
                let index = self.find(id).unwrap();
                let mut order = self.orders.remove(index);
                events.push(Event::Triggered {
                    order_id: order.id,
                    instrument: order.instrument,
                });
                order.in_stop_book = false;
                order.ord_type = match order.ord_type {
                    OrdType::Stop => OrdType::Market,
                    OrdType::StopLimit => OrdType::Limit,
                    other => panic!("model: {other:?} in the stop book"),
                };
                order.visible = if order.display > 0 {
                    order.display.min(order.leaves)
                } else {
                    order.leaves
                };
                self.run_taker(order, events);
            }
        }
    }

    // ------------------------------------------------------------------ invariants

    /// Checks the model's own state; returns a description of the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        for (index, _) in self.instruments.iter().enumerate() {
            let instrument = InstrumentId(u32::try_from(index).unwrap());
            if let (Some(bid), Some(ask)) = (
                self.best_price(instrument, Side::Buy),
                self.best_price(instrument, Side::Sell),
            ) {
                if bid >= ask {
                    return Err(format!(
                        "instrument {index}: crossed book, bid {bid} >= ask {ask}"
                    ));
                }
            }
            let bids = self.ladder(instrument, Side::Buy, false).len();
            let asks = self.ladder(instrument, Side::Sell, false).len();
            let max = self.config.levels_per_side_max as usize;
            // Triggered stop-limits may exceed the ladder (see the READING in stop_check).
            let _ = (bids, asks, max);
        }
        if self.orders.len() > self.config.orders_max as usize {
            return Err(format!("{} live orders > orders_max", self.orders.len()));
        }
        for order in &self.orders {
            if order.leaves == 0 {
                return Err(format!("order {:?}: live with no leaves", order.id));
            }
            if order.filled + order.leaves > order.qty {
                return Err(format!(
                    "order {:?}: filled {} + leaves {} > qty {}",
                    order.id, order.filled, order.leaves, order.qty
                ));
            }
            if !order.in_stop_book && (order.visible == 0 || order.visible > order.leaves) {
                return Err(format!(
                    "order {:?}: visible {} leaves {}",
                    order.id, order.visible, order.leaves
                ));
            }
            if order.display > 0 && !order.in_stop_book && order.visible > order.display {
                return Err(format!("order {:?}: visible above display", order.id));
            }
            if self.orders.iter().filter(|o| o.id == order.id).count() != 1 {
                return Err(format!("order {:?}: live twice", order.id));
            }
        }
        Ok(())
    }
}

fn cancelled(order: &ModelOrder, qty: u64, reason: CancelReason) -> Event {
    Event::Cancelled {
        order_id: order.id,
        instrument: order.instrument,
        qty: Qty(qty),
        reason,
    }
}

fn check_qty(inst: &ModelInstrument, qty: u64) -> Result<(), RejectReason> {
    if qty % inst.lot != 0 {
        return Err(RejectReason::QtyOffLot);
    }
    if qty < inst.qty_min {
        return Err(RejectReason::QtyBelowMin);
    }
    if qty > inst.qty_max {
        return Err(RejectReason::QtyAboveMax);
    }
    Ok(())
}

fn check_prices(
    inst: &ModelInstrument,
    price: Option<i64>,
    stop_price: Option<i64>,
) -> Result<(), RejectReason> {
    // READING: the limit price is checked (tick, then band) before the stop price.
    for p in [price, stop_price].iter().flatten() {
        if p.rem_euclid(inst.tick) != 0 {
            return Err(RejectReason::PriceOffTick);
        }
        if *p < inst.price_min || *p > inst.price_max {
            return Err(RejectReason::PriceOutsideBand);
        }
    }
    Ok(())
}
