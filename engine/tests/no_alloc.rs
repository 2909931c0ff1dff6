//! After warm-up, `Engine::apply` neither allocates nor frees heap memory, whatever the
//! command: every arena is sized at `Engine::new` (docs/matching-rules.md, STYLE.md rule 4).
//!
//! A counting `#[global_allocator]` counts allocations, reallocations and frees made by
//! this thread while a flag is set. The test builds an engine, runs a warm-up of
//! [`WARM_UP_COMMANDS`] random commands (its counts are only printed), resets the counts,
//! runs [`COUNTED_COMMANDS`] more, and asserts both counts are zero. The command stream covers every command kind and order type: limit
//! (GTC, DAY, GTD, IOC, FOK, post-only, icebergs), market, stop and stop-limit orders, all
//! STP modes, cancels and replaces (right and wrong account, unknown ids, to or below the
//! filled quantity), mass cancels with and without filters, clock ticks, end of day, phase
//! changes (halted and closed instruments), and invalid orders of many kinds; the book is
//! small enough that `BookFull` also happens. The stream itself is generated without
//! allocating (fixed arrays, a SplitMix64), and the sink only counts.

use arbiter_hardware::alloc_count::{self, CountingAllocator};
use std::time::Instant;

use arbiter_engine::{
    AccountId, CancelOrder, CancelReason, Command, CommandKind, Engine, EngineConfig, Event,
    EventSink, Instrument, InstrumentId, InstrumentRegistry, MassCancel, NewOrder, OrdType,
    OrderId, Phase, Price, Qty, ReplaceOrder, Seq, Side, StpGroup, StpMode, TimeInForce,
    TimestampNs,
};

/// Commands applied while counting.
const COUNTED_COMMANDS: u64 = 1_000_000;
/// Commands applied before counting starts.
const WARM_UP_COMMANDS: u64 = 100_000;
const INSTRUMENTS: usize = 3;
const ACCOUNTS_MAX: u32 = 6;
/// Recently added orders that may rest, for cancels and replaces to pick from.
const RECENT_ORDERS: usize = 256;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// SplitMix64: a seeded generator that needs no heap.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(bound);
        u64::try_from(wide >> 64).expect("high half fits")
    }

    fn index(&mut self, bound: usize) -> usize {
        usize::try_from(self.below(bound as u64)).expect("fits")
    }

    fn signed(&mut self, magnitude: i64) -> i64 {
        let span = u64::try_from(2 * magnitude + 1).expect("positive");
        i64::try_from(self.below(span)).expect("small") - magnitude
    }

    fn per_mille(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Counts events by kind; keeps the last trade price per instrument for stop prices.
struct CountingSink {
    accepted: u64,
    rejected: u64,
    trades: u64,
    cancelled: u64,
    expired: u64,
    self_trade_cancels: u64,
    replaced: u64,
    triggered: u64,
    refreshed: u64,
    phase_changed: u64,
    mass_cancelled: u64,
    book_full: u64,
    /// Rejections by `RejectReason as usize`.
    reject_reasons: [u64; 64],
    last_price: [i64; INSTRUMENTS],
}

impl Default for CountingSink {
    fn default() -> Self {
        CountingSink {
            accepted: 0,
            rejected: 0,
            trades: 0,
            cancelled: 0,
            expired: 0,
            self_trade_cancels: 0,
            replaced: 0,
            triggered: 0,
            refreshed: 0,
            phase_changed: 0,
            mass_cancelled: 0,
            book_full: 0,
            reject_reasons: [0; 64],
            last_price: [0; INSTRUMENTS],
        }
    }
}

impl EventSink for CountingSink {
    fn emit(&mut self, event: Event) {
        match event {
            Event::Accepted { .. } => self.accepted += 1,
            Event::Rejected { reason, .. } => {
                self.rejected += 1;
                self.reject_reasons[reason as usize] += 1;
                if reason == arbiter_engine::RejectReason::BookFull {
                    self.book_full += 1;
                }
            }
            Event::Trade(trade) => {
                self.trades += 1;
                if let Some(last) = self.last_price.get_mut(trade.instrument.0 as usize) {
                    *last = trade.price.0;
                }
            }
            Event::Cancelled { reason, .. } => {
                self.cancelled += 1;
                match reason {
                    CancelReason::Expired => self.expired += 1,
                    CancelReason::SelfTrade => self.self_trade_cancels += 1,
                    _ => {}
                }
            }
            Event::Replaced { .. } => self.replaced += 1,
            Event::Triggered { .. } => self.triggered += 1,
            Event::Refreshed { .. } => self.refreshed += 1,
            Event::PhaseChanged { .. } => self.phase_changed += 1,
            Event::MassCancelled { .. } => self.mass_cancelled += 1,
            Event::Risk(_) => {}
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Recent {
    order_id: u64,
    account: u32,
    instrument: u32,
    ord_type: u8,
    side: u8,
    price: i64,
}

/// Instrument 0: tick 1 lot 1 around 1,000. Instrument 1: tick 5, lot 10, a 20-tick market
/// collar, around 5,000. Instrument 2: like 0, around 2,000, starts closed.
fn registry() -> InstrumentRegistry {
    let plain = Instrument::simple(0, "PLAIN");
    let mut coarse = Instrument::simple(1, "COARSE");
    coarse.tick_size = Price(5);
    coarse.lot_size = Qty(10);
    coarse.qty_min = Qty(10);
    coarse.qty_max = Qty(100_000);
    coarse.price_min = Price(5);
    coarse.price_max = Price(1_000_000);
    coarse.market_collar_ticks = 20;
    let mut closed = Instrument::simple(2, "LATE");
    closed.initial_phase = Phase::Closed;
    InstrumentRegistry::new(vec![plain, coarse, closed]).expect("valid instruments")
}

struct Workload {
    rng: Rng,
    seq: u64,
    now_ns: u64,
    next_order_id: u64,
    recent: [Recent; RECENT_ORDERS],
    recent_next: usize,
}

impl Workload {
    fn mid(instrument: usize) -> i64 {
        [1_000, 5_000, 2_000][instrument]
    }

    fn tick(instrument: usize) -> i64 {
        [1, 5, 1][instrument]
    }

    fn lot(instrument: usize) -> u64 {
        [1, 10, 1][instrument]
    }

    fn account(&mut self) -> u32 {
        // Mostly 4 accounts (so STP meets self orders), rarely an unknown one.
        if self.rng.per_mille(5) {
            ACCOUNTS_MAX + 3
        } else {
            u32::try_from(self.rng.below(4)).expect("small")
        }
    }

    fn side(&mut self) -> Side {
        if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Near the mid, on the passive side 80 % of the time (so a book builds up) and
    /// through the mid otherwise; rarely far out (new levels, `BookFull` on levels), rarely
    /// off tick or outside the band.
    fn price(&mut self, instrument: usize, side: Side) -> i64 {
        let tick = Self::tick(instrument);
        let roll = self.rng.below(1000);
        if roll < 5 {
            return Self::mid(instrument) + 1; // off tick on instrument 1
        }
        if roll < 8 {
            return -tick; // below the band
        }
        let spread = if roll < 60 { 400 } else { 12 };
        let mut offset = self.rng.signed(spread).abs();
        if roll < 800 {
            offset = -offset; // passive: below the mid for a buy, above for a sell
        }
        let offset = match side {
            Side::Buy => offset,
            Side::Sell => -offset,
        };
        (Self::mid(instrument) + tick * offset).max(tick)
    }

    fn stop_price(&mut self, instrument: usize, last: i64) -> i64 {
        let tick = Self::tick(instrument);
        let base = if last > 0 {
            last - last % tick
        } else {
            Self::mid(instrument)
        };
        (base + tick * self.rng.signed(4)).max(tick)
    }

    fn qty(&mut self, instrument: usize) -> u64 {
        let lot = Self::lot(instrument);
        let roll = self.rng.below(1000);
        if roll < 3 {
            return 0;
        }
        if roll < 6 && lot > 1 {
            return lot + 1; // off lot
        }
        lot * (1 + self.rng.below(if roll < 100 { 200 } else { 20 }))
    }

    fn stamp(&mut self, kind: CommandKind) -> Command {
        self.seq += 1;
        self.now_ns += 1 + self.rng.below(2_000);
        Command::new(Seq(self.seq), TimestampNs(self.now_ns), kind)
    }

    fn remember(&mut self, recent: Recent) {
        self.recent[self.recent_next] = recent;
        self.recent_next = (self.recent_next + 1) % RECENT_ORDERS;
    }

    fn pick_recent(&mut self) -> Recent {
        self.recent[self.rng.index(RECENT_ORDERS)]
    }

    fn new_order(&mut self, last_price: &[i64; INSTRUMENTS]) -> Command {
        let instrument = self.rng.index(INSTRUMENTS);
        let account = self.account();
        let side = self.side();
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let qty = self.qty(instrument);
        let mut order = NewOrder {
            order_id: OrderId(order_id),
            instrument: InstrumentId(u32::try_from(instrument).expect("small")),
            account: AccountId(account),
            side,
            qty: Qty(qty),
            client_ref: self.rng.next_u64(),
            ..NewOrder::default()
        };
        // Order type and time in force.
        let roll = self.rng.below(1000);
        order.ord_type = match roll {
            0..=59 => OrdType::Market,
            60..=109 => OrdType::Stop,
            110..=159 => OrdType::StopLimit,
            _ => OrdType::Limit,
        };
        order.tif = match self.rng.below(100) {
            0..=34 => TimeInForce::Day,
            35..=64 => TimeInForce::Gtc,
            65..=79 => TimeInForce::Gtd,
            80..=91 => TimeInForce::Ioc,
            _ => TimeInForce::Fok,
        };
        if order.ord_type != OrdType::Market && order.ord_type != OrdType::Stop {
            order.price = Price(self.price(instrument, side));
        }
        if order.ord_type == OrdType::Stop || order.ord_type == OrdType::StopLimit {
            order.stop_price = Price(self.stop_price(instrument, last_price[instrument]));
            if order.tif == TimeInForce::Fok && !self.rng.per_mille(50) {
                order.tif = TimeInForce::Gtc; // FOK stops are invalid: keep a few only
            }
        }
        if order.tif == TimeInForce::Gtd {
            // Mostly in the future (expires after a few hundred commands), rarely past.
            order.expire_time = TimestampNs(if self.rng.per_mille(20) {
                self.now_ns
            } else {
                self.now_ns + 1 + self.rng.below(1_000_000)
            });
        }
        // Icebergs: 15 % of resting limit types.
        if (order.ord_type == OrdType::Limit || order.ord_type == OrdType::StopLimit)
            && order.tif != TimeInForce::Ioc
            && order.tif != TimeInForce::Fok
            && qty > 0
            && self.rng.per_mille(150)
        {
            let lot = Self::lot(instrument);
            order.display_qty = Qty(lot * (1 + self.rng.below((qty / lot).clamp(1, 5))));
        }
        if order.ord_type == OrdType::Limit && self.rng.per_mille(50) {
            order.post_only = true;
        }
        // Self-trade prevention: 30 % of orders, every mode, sometimes by group.
        if self.rng.per_mille(300) {
            order.stp_mode = match self.rng.below(4) {
                0 => StpMode::CancelResting,
                1 => StpMode::CancelAggressor,
                2 => StpMode::CancelBoth,
                _ => StpMode::DecrementAndCancel,
            };
            if self.rng.per_mille(300) {
                order.stp_group = StpGroup(1 + u32::try_from(self.rng.below(2)).expect("small"));
            }
        }
        // A few malformed combinations and duplicate ids.
        match self.rng.below(1000) {
            0 => order.display_qty = Qty(qty + 1),
            1 => order.post_only = true,
            2 => order.order_id = OrderId(self.pick_recent().order_id),
            3 => order.instrument = InstrumentId(7),
            _ => {}
        }
        let may_rest = order.ord_type != OrdType::Market
            && order.tif != TimeInForce::Ioc
            && order.tif != TimeInForce::Fok;
        if may_rest {
            self.remember(Recent {
                order_id: order.order_id.0,
                account,
                instrument: order.instrument.0,
                ord_type: order.ord_type as u8,
                side: side as u8,
                price: order.price.0,
            });
        }
        self.stamp(CommandKind::NewOrder(order))
    }

    fn cancel(&mut self) -> Command {
        let recent = self.pick_recent();
        let account = if self.rng.per_mille(900) {
            recent.account
        } else {
            self.account()
        };
        let order_id = if self.rng.per_mille(20) {
            self.next_order_id + 1_000 // never used
        } else {
            recent.order_id
        };
        self.stamp(CommandKind::Cancel(CancelOrder {
            order_id: OrderId(order_id),
            account: AccountId(account),
            ..CancelOrder::default()
        }))
    }

    fn replace(&mut self, last_price: &[i64; INSTRUMENTS]) -> Command {
        let recent = self.pick_recent();
        let instrument = (recent.instrument as usize).min(INSTRUMENTS - 1);
        let account = if self.rng.per_mille(950) {
            recent.account
        } else {
            self.account()
        };
        let is_stop =
            recent.ord_type == OrdType::Stop as u8 || recent.ord_type == OrdType::StopLimit as u8;
        let side = if recent.side == Side::Sell as u8 {
            Side::Sell
        } else {
            Side::Buy
        };
        let price = if self.rng.per_mille(400) {
            recent.price // same price: a smaller quantity keeps priority
        } else {
            self.price(instrument, side)
        };
        let stop_price = if is_stop {
            self.stop_price(instrument, last_price[instrument])
        } else {
            0
        };
        // Total quantity: small values often fall to or below the filled quantity.
        let qty = self.qty(instrument);
        let client_ref = self.rng.next_u64();
        self.stamp(CommandKind::Replace(ReplaceOrder {
            order_id: OrderId(recent.order_id),
            account: AccountId(account),
            price: Price(price),
            stop_price: Price(stop_price),
            qty: Qty(qty),
            client_ref,
            ..ReplaceOrder::default()
        }))
    }

    fn mass_cancel(&mut self) -> Command {
        let account = self.account();
        let instrument = if self.rng.below(2) == 0 {
            None
        } else {
            Some(InstrumentId(
                u32::try_from(self.rng.below(4)).expect("small"),
            ))
        };
        let side = match self.rng.below(3) {
            0 => None,
            1 => Some(Side::Buy),
            _ => Some(Side::Sell),
        };
        self.stamp(CommandKind::MassCancel(MassCancel {
            account: AccountId(account),
            instrument,
            side,
            ..MassCancel::default()
        }))
    }

    fn set_phase(&mut self) -> Command {
        let instrument = InstrumentId(u32::try_from(self.rng.below(4)).expect("small"));
        let phase = match self.rng.below(100) {
            0..=5 => Phase::Halted,
            6..=8 => Phase::Closed,
            _ => Phase::Continuous,
        };
        self.stamp(CommandKind::SetPhase { instrument, phase })
    }

    fn next(&mut self, last_price: &[i64; INSTRUMENTS]) -> Command {
        match self.rng.below(1000) {
            0..=539 => self.new_order(last_price),
            540..=789 => self.cancel(),
            790..=939 => self.replace(last_price),
            940..=944 => self.mass_cancel(),
            945..=954 => self.new_order(last_price),
            955..=989 => self.stamp(CommandKind::Clock),
            990 => self.stamp(CommandKind::EndOfDay),
            991..=995 => self.new_order(last_price),
            _ => self.set_phase(),
        }
    }
}

#[test]
fn apply_never_allocates_after_warm_up() {
    let config = EngineConfig {
        orders_max: 256,
        levels_per_side_max: 24,
        accounts_max: ACCOUNTS_MAX,
        stop_triggers_per_command_max: 16,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(config, registry());
    let mut sink = CountingSink::default();
    let mut workload = Workload {
        rng: Rng(0x5EED_0FA1_10C0),
        seq: 0,
        now_ns: 1_000_000_000,
        next_order_id: 1,
        recent: [Recent::default(); RECENT_ORDERS],
        recent_next: 0,
    };

    alloc_count::start();
    for _ in 0..WARM_UP_COMMANDS {
        let command = workload.next(&sink.last_price);
        engine.apply(&command, &mut sink);
    }
    let warm_up = alloc_count::stop();
    let (warm_up_allocations, warm_up_deallocations) = (warm_up.allocations, warm_up.deallocations);

    let start = Instant::now();
    alloc_count::start();
    for _ in 0..COUNTED_COMMANDS {
        let command = workload.next(&sink.last_price);
        engine.apply(&command, &mut sink);
    }
    let counted = alloc_count::stop();
    let (allocations, deallocations) = (counted.allocations, counted.deallocations);
    let elapsed = start.elapsed();

    // Printed with --nocapture; the counts show the workload reached every path.
    let digest = engine.digest();
    println!(
        "{COUNTED_COMMANDS} commands in {elapsed:?}: warm-up allocations {warm_up_allocations} \
         frees {warm_up_deallocations}; digest {digest:#x}; accepted {} rejected {} \
         (book full {}) trades {} cancelled {} (expired {}, self-trade {}) replaced {} \
         triggered {} refreshed {} phase changes {} mass cancels {}",
        sink.accepted,
        sink.rejected,
        sink.book_full,
        sink.trades,
        sink.cancelled,
        sink.expired,
        sink.self_trade_cancels,
        sink.replaced,
        sink.triggered,
        sink.refreshed,
        sink.phase_changed,
        sink.mass_cancelled,
    );
    println!(
        "rejections by reason number: {:?}",
        sink.reject_reasons
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        allocations, 0,
        "heap allocations during apply after warm-up"
    );
    assert_eq!(deallocations, 0, "heap frees during apply after warm-up");

    // The workload must have reached the paths it claims to cover.
    for (what, count) in [
        ("accepted", sink.accepted),
        ("rejected", sink.rejected),
        ("book full rejections", sink.book_full),
        ("trades", sink.trades),
        ("expired", sink.expired),
        ("self-trade cancels", sink.self_trade_cancels),
        ("replaced", sink.replaced),
        ("triggered", sink.triggered),
        ("refreshed", sink.refreshed),
        ("phase changes", sink.phase_changed),
        ("mass cancels", sink.mass_cancelled),
    ] {
        assert!(count > 0, "the workload produced no {what}");
    }
}
