//! Criterion benchmarks of the engine's hot operations, named `engine/<operation>/<param>`.
//!
//! Every book benchmark starts from a prefilled book of `depth` resting orders: `depth / 2`
//! per side, spread round-robin over `min(depth / 2, 200)` levels per side around a mid, all
//! quantity 10, one account, STP off. The measured operations never cross, so the depth
//! stays put:
//!
//! - `engine/new_order/depth_N`: a passive GTC add at a random existing level (back of its
//!   queue). Adds are timed in batches of [`BATCH`]; the batch's cancels run untimed after
//!   it, so the book holds between N and N + 16 orders. Time is per add.
//! - `engine/cancel/depth_N`: cancel of a random resting order (anywhere in its queue),
//!   timed in batches; the cancelled orders are re-added untimed (new ids, same levels).
//! - `engine/replace/move_depth_N`: a random resting order moves to another level of its
//!   side (loses priority, no trade).
//! - `engine/replace/reduce_depth_N`: a random resting order's total goes 10 -> 9 at the
//!   same price (keeps priority); it is put back to 10 untimed (which sends it to the back).
//! - `engine/market_sweep/10_levels`: a market buy of 100 against 10 ask levels of one
//!   order of 10 each: 10 trades and 10 emptied levels. The asks are rebuilt untimed before
//!   every iteration (`iter_batched`, `PerIteration`, so each sample also holds one clock
//!   read pair, about 20-40 ns).
//!
//! Batching amortises the two clock reads over 16 operations (about 2 ns each).
use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use arbiter_benches::rng::SplitMix64;
use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, Engine, EngineConfig, Event, EventSink,
    InstrumentId, InstrumentRegistry, NewOrder, OrdType, OrderId, Price, Qty, ReplaceOrder, Seq,
    Side, TimeInForce, TimestampNs,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// Operations timed between two clock reads.
const BATCH: usize = 16;
/// The mid price; bids below it, asks above.
const MID_TICKS: i64 = 100_000;
/// Levels per side, at most.
const LEVELS_PER_SIDE_MAX: usize = 200;
/// Quantity of every resting order.
const RESTING_QTY: u64 = 10;
const ACCOUNT: AccountId = AccountId(0);
const INSTRUMENT: InstrumentId = InstrumentId(0);

/// Counts events and sums traded quantity, so the work is observable.
#[derive(Default)]
struct CountingSink {
    events: u64,
    traded_qty: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn emit(&mut self, event: Event) {
        self.events += 1;
        if let Event::Trade(trade) = event {
            self.traded_qty += trade.qty.0;
        }
    }
}

#[derive(Clone, Copy)]
struct Resting {
    order_id: u64,
    side: Side,
    price_ticks: i64,
}

/// An engine with a prefilled book and the list of its resting orders.
struct BookBench {
    engine: Engine,
    sink: CountingSink,
    rng: SplitMix64,
    seq: u64,
    next_order_id: u64,
    levels_per_side: usize,
    resting: Vec<Resting>,
}

fn registry() -> InstrumentRegistry {
    InstrumentRegistry::new(vec![arbiter_engine::Instrument::simple(
        INSTRUMENT.0,
        "BENCH",
    )])
    .expect("valid instrument")
}

fn level_price(side: Side, level: usize) -> i64 {
    let offset = i64::try_from(level).expect("small") + 1;
    match side {
        Side::Buy => MID_TICKS - offset,
        Side::Sell => MID_TICKS + offset,
    }
}

impl BookBench {
    fn new(depth: usize) -> Self {
        let config = EngineConfig {
            orders_max: u32::try_from(depth + 4 * 1024).expect("fits"),
            levels_per_side_max: 1024,
            accounts_max: 2,
            ..EngineConfig::default()
        };
        let mut bench = BookBench {
            engine: Engine::new(config, registry()),
            sink: CountingSink::default(),
            rng: SplitMix64::new(42),
            seq: 0,
            next_order_id: 1,
            levels_per_side: (depth / 2).clamp(1, LEVELS_PER_SIDE_MAX),
            resting: Vec::with_capacity(depth),
        };
        for index in 0..depth {
            let side = if index % 2 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let price_ticks = level_price(side, (index / 2) % bench.levels_per_side);
            let order_id = bench.add(side, price_ticks, RESTING_QTY);
            bench.resting.push(Resting {
                order_id,
                side,
                price_ticks,
            });
        }
        assert_eq!(bench.sink.traded_qty, 0, "the prefill must not trade");
        bench
    }

    fn stamp(&mut self, kind: CommandKind) -> Command {
        self.seq += 1;
        Command::new(Seq(self.seq), TimestampNs(self.seq), kind)
    }

    fn add_command(&mut self, side: Side, price_ticks: i64, qty: u64) -> (u64, Command) {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let command = self.stamp(CommandKind::NewOrder(NewOrder {
            order_id: OrderId(order_id),
            instrument: INSTRUMENT,
            account: ACCOUNT,
            side,
            ord_type: OrdType::Limit,
            tif: TimeInForce::Gtc,
            price: Price(price_ticks),
            qty: Qty(qty),
            ..NewOrder::default()
        }));
        (order_id, command)
    }

    fn add(&mut self, side: Side, price_ticks: i64, qty: u64) -> u64 {
        let (order_id, command) = self.add_command(side, price_ticks, qty);
        self.engine.apply(&command, &mut self.sink);
        order_id
    }

    fn cancel_command(&mut self, order_id: u64) -> Command {
        self.stamp(CommandKind::Cancel(CancelOrder {
            order_id: OrderId(order_id),
            account: ACCOUNT,
            ..CancelOrder::default()
        }))
    }

    fn replace_command(&mut self, order_id: u64, price_ticks: i64, qty: u64) -> Command {
        self.stamp(CommandKind::Replace(ReplaceOrder {
            order_id: OrderId(order_id),
            account: ACCOUNT,
            price: Price(price_ticks),
            qty: Qty(qty),
            ..ReplaceOrder::default()
        }))
    }

    fn random_side(&mut self) -> Side {
        if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn random_level(&mut self) -> usize {
        let levels = u64::try_from(self.levels_per_side).expect("fits");
        usize::try_from(self.rng.below(levels)).expect("fits")
    }

    fn random_resting_index(&mut self) -> usize {
        self.random_below(self.resting.len())
    }

    fn random_below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).expect("fits");
        usize::try_from(self.rng.below(bound)).expect("fits")
    }

    /// A random resting order not yet picked in this batch: picks `0..slot` sit at the end of
    /// `resting`, the pick is swapped next to them. Returns its index.
    fn distinct_pick(&mut self, slot: usize) -> usize {
        let unpicked = self.resting.len() - slot;
        let index = self.random_below(unpicked);
        self.resting.swap(index, unpicked - 1);
        unpicked - 1
    }

    /// Applies `commands`, returning the time it took.
    fn timed(&mut self, commands: &[Command]) -> Duration {
        let start = Instant::now();
        for command in commands {
            self.engine.apply(black_box(command), &mut self.sink);
        }
        start.elapsed()
    }

    fn untimed(&mut self, commands: &[Command]) {
        for command in commands {
            self.engine.apply(command, &mut self.sink);
        }
    }

    /// Runs `iterations` operations in batches; `batch` fills `size` commands to time and
    /// the commands that restore the book afterwards, returning how many of the latter.
    fn run_batches(
        &mut self,
        iterations: u64,
        batch: impl Fn(&mut Self, &mut [Command; BATCH], &mut [Command; BATCH], usize) -> usize,
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0_u64;
        let filler = self.cancel_command(0);
        let mut measured = [filler; BATCH];
        let mut restore = [filler; BATCH];
        while done < iterations {
            let size = usize::try_from((iterations - done).min(BATCH as u64)).expect("small");
            let restore_size = batch(self, &mut measured, &mut restore, size);
            total += self.timed(&measured[..size]);
            self.untimed(&restore[..restore_size]);
            done += size as u64;
        }
        total
    }
}

fn new_order_batch(
    bench: &mut BookBench,
    measured: &mut [Command; BATCH],
    restore: &mut [Command; BATCH],
    size: usize,
) -> usize {
    for slot in 0..size {
        let side = bench.random_side();
        let level = bench.random_level();
        let (order_id, command) = bench.add_command(side, level_price(side, level), RESTING_QTY);
        measured[slot] = command;
        restore[slot] = bench.cancel_command(order_id);
    }
    size
}

/// Cancels random resting orders; the restore commands re-add them (new ids, same levels).
fn cancel_batch(
    bench: &mut BookBench,
    measured: &mut [Command; BATCH],
    restore: &mut [Command; BATCH],
    size: usize,
) -> usize {
    for slot in 0..size {
        let last = bench.distinct_pick(slot);
        let victim = bench.resting[last];
        measured[slot] = bench.cancel_command(victim.order_id);
        let (order_id, command) = bench.add_command(victim.side, victim.price_ticks, RESTING_QTY);
        restore[slot] = command;
        bench.resting[last].order_id = order_id;
    }
    size
}

fn replace_move_batch(
    bench: &mut BookBench,
    measured: &mut [Command; BATCH],
    _restore: &mut [Command; BATCH],
    size: usize,
) -> usize {
    for command in &mut measured[..size] {
        let index = bench.random_resting_index();
        let order = bench.resting[index];
        let level = bench.random_level();
        let price_ticks = level_price(order.side, level);
        *command = bench.replace_command(order.order_id, price_ticks, RESTING_QTY);
        bench.resting[index].price_ticks = price_ticks;
    }
    // Nothing to restore: the orders stay at their new levels.
    0
}

fn replace_reduce_batch(
    bench: &mut BookBench,
    measured: &mut [Command; BATCH],
    restore: &mut [Command; BATCH],
    size: usize,
) -> usize {
    for slot in 0..size {
        // Distinct picks within a batch, so every reduce starts from 10.
        let last = bench.distinct_pick(slot);
        let order = bench.resting[last];
        measured[slot] = bench.replace_command(order.order_id, order.price_ticks, RESTING_QTY - 1);
        restore[slot] = bench.replace_command(order.order_id, order.price_ticks, RESTING_QTY);
    }
    size
}

fn criterion_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

fn new_order(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/new_order");
    for depth in [10, 1_000, 100_000] {
        let mut bench = BookBench::new(depth);
        group.bench_function(format!("depth_{depth}"), |b| {
            b.iter_custom(|iterations| bench.run_batches(iterations, new_order_batch));
        });
        assert_eq!(bench.sink.traded_qty, 0);
    }
    group.finish();
}

fn cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/cancel");
    for depth in [1_000, 100_000] {
        let mut bench = BookBench::new(depth);
        group.bench_function(format!("depth_{depth}"), |b| {
            b.iter_custom(|iterations| bench.run_batches(iterations, cancel_batch));
        });
        assert_eq!(bench.sink.traded_qty, 0);
    }
    group.finish();
}

fn replace(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine/replace");
    for depth in [1_000, 100_000] {
        let mut bench = BookBench::new(depth);
        group.bench_function(format!("move_depth_{depth}"), |b| {
            b.iter_custom(|iterations| bench.run_batches(iterations, replace_move_batch));
        });
        group.bench_function(format!("reduce_depth_{depth}"), |b| {
            b.iter_custom(|iterations| bench.run_batches(iterations, replace_reduce_batch));
        });
        assert_eq!(bench.sink.traded_qty, 0);
    }
    group.finish();
}

fn market_sweep(c: &mut Criterion) {
    const LEVELS: usize = 10;
    let mut group = c.benchmark_group("engine/market_sweep");
    // 1,000 bids stay in the book throughout; the asks are rebuilt before every sweep.
    let bench = RefCell::new(BookBench::new(0));
    {
        let mut bench = bench.borrow_mut();
        bench.levels_per_side = LEVELS;
        for index in 0..1_000 {
            let price_ticks = level_price(Side::Buy, index % 100);
            bench.add(Side::Buy, price_ticks, RESTING_QTY);
        }
    }
    let traded_before = bench.borrow().sink.traded_qty;
    let mut sweeps = 0_u64;
    group.bench_function(format!("{LEVELS}_levels"), |b| {
        b.iter_batched(
            || {
                let mut bench = bench.borrow_mut();
                for level in 0..LEVELS {
                    bench.add(Side::Sell, level_price(Side::Sell, level), RESTING_QTY);
                }
                let (_, command) = bench.add_command(Side::Buy, 0, RESTING_QTY * LEVELS as u64);
                let CommandKind::NewOrder(mut order) = command.kind else {
                    unreachable!("add_command makes a new order")
                };
                order.ord_type = OrdType::Market;
                order.tif = TimeInForce::Ioc;
                Command {
                    kind: CommandKind::NewOrder(order),
                    ..command
                }
            },
            |command| {
                let mut bench = bench.borrow_mut();
                let bench = &mut *bench;
                bench.engine.apply(&command, &mut bench.sink);
                sweeps += 1;
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
    let traded = bench.borrow().sink.traded_qty - traded_before;
    assert_eq!(
        traded,
        sweeps * RESTING_QTY * LEVELS as u64,
        "every sweep takes all 10 levels"
    );
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = new_order, cancel, replace, market_sweep
}
criterion_main!(benches);
