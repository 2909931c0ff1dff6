//! `arbiter-bench book` and `arbiter-bench gen`: replay and generate order-flow files.
//!
//! `book` loads the whole file (parsing is not timed), then replays it twice through a
//! fresh engine each time:
//!
//! 1. untimed, for `elapsed_ms` and `ops_per_sec` (no clock reads inside the loop);
//! 2. timing every `apply` with `Instant` into an HdrHistogram, for the percentiles.
//!
//! Both passes must agree on every count, the checksum and the engine digest (a free
//! determinism check). The last line is the machine-read summary:
//!
//! ```text
//! engine=arbiter cmds=N trades=T traded_qty=Q elapsed_ms=E ops_per_sec=O p50_ns=A p99_ns=B p999_ns=C checksum=K
//! ```
use std::path::PathBuf;

use arbiter_benches::flow;
use arbiter_benches::generate::{self, FlowKind};
use arbiter_benches::naive;
use arbiter_benches::replay::{self, Prepared};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;

/// Arguments of `arbiter-bench book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The order-flow file to replay.
    pub file: PathBuf,
    /// Also replay the file through the naive reference matcher and fail on any difference
    /// in trades, traded quantity, rejects or checksum.
    #[arg(long)]
    pub verify: bool,
    /// Engine order slots instead of one per `A` and `M` line plus a margin. The engine's
    /// id index and arenas are sized from it, so a flow with a million adds but a few
    /// thousand resting orders otherwise pays for a table far larger than the caches.
    /// Too small a value shows up as `BookFull` rejects (and fails `--verify`).
    #[arg(long)]
    pub orders_max: Option<u32>,
}

/// Workload kinds of `arbiter-bench gen`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// A few thousand resting orders; adds, cancels, replaces and market orders.
    Mixed,
    /// The same around 100,000 resting orders.
    Deep,
    /// Non-crossing adds and cancels only.
    Addcancel,
}

/// Arguments of `arbiter-bench gen`.
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Which workload.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Lines to write, prefill phase included.
    #[arg(long)]
    pub count: u64,
    /// Seed: the same seed, kind and count always give the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Replays an order-flow file and prints the summary line.
///
/// # Errors
/// An unreadable or malformed file, a flow too large for one engine, passes that disagree,
/// or (with `--verify`) a difference from the naive matcher.
pub fn run(args: &BookArgs) -> Result<(), String> {
    let ops = flow::load(&args.file)?;
    let mut prepared = Prepared::new(&ops)?;
    if let Some(orders_max) = args.orders_max {
        prepared.config.orders_max = orders_max;
    }
    let stats = prepared.stats;
    println!(
        "file={} adds={} markets={} cancels={} replaces={} distinct_prices={} \
         orders_max={} levels_per_side_max={}",
        args.file.display(),
        stats.adds,
        stats.markets,
        stats.cancels,
        stats.replaces,
        stats.distinct_prices,
        prepared.config.orders_max,
        prepared.config.levels_per_side_max,
    );

    let throughput = replay::run_untimed(&prepared);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|error| format!("histogram: {error}"))?;
    let latency = replay::run_timed(&prepared, &mut histogram);
    if throughput.totals != latency.totals || throughput.digest != latency.digest {
        return Err(format!(
            "the two passes disagree (engine not deterministic?): untimed {:?} digest {:#x}, \
             timed {:?} digest {:#x}",
            throughput.totals, throughput.digest, latency.totals, latency.digest
        ));
    }

    let totals = throughput.totals;
    println!(
        "rejects={} events={} digest={:#018x} live_orders={} best_bid={:?} best_ask={:?} \
         timed_pass_ms={} clock_overhead_ns={} max_ns={} mean_ns={:.1}",
        totals.rejects,
        throughput.events,
        throughput.digest,
        throughput.end.live_orders,
        throughput.end.best_bid_ticks,
        throughput.end.best_ask_ticks,
        latency.elapsed.as_millis(),
        replay::clock_overhead_ns(),
        histogram.max(),
        histogram.mean(),
    );
    if let Some(cpu_ns) = throughput.cpu_ns {
        // On a shared machine wall time includes waiting for a CPU; on-CPU time does not.
        let commands = prepared.commands.len() as u128;
        println!(
            "untimed_pass_cpu_ms={} ops_per_cpu_sec={} (wall {} ms)",
            cpu_ns / 1_000_000,
            commands * 1_000_000_000 / u128::from(cpu_ns.max(1)),
            throughput.elapsed.as_millis(),
        );
    }
    if args.verify {
        let reference = naive::replay(&ops);
        if reference.totals() != totals || reference.end_state() != throughput.end {
            return Err(format!(
                "engine and naive matcher differ: engine {totals:?} {:?}, naive {:?} {:?}",
                throughput.end,
                reference.totals(),
                reference.end_state()
            ));
        }
        println!("verify=ok (naive matcher agrees)");
    }

    let commands = prepared.commands.len() as u64;
    let elapsed_ns = throughput.elapsed.as_nanos().max(1);
    let ops_per_sec = u128::from(commands) * 1_000_000_000 / elapsed_ns;
    println!(
        "engine=arbiter cmds={commands} trades={} traded_qty={} elapsed_ms={} ops_per_sec={ops_per_sec} \
         p50_ns={} p99_ns={} p999_ns={} checksum={}",
        totals.trades,
        totals.traded_qty,
        throughput.elapsed.as_millis(),
        histogram.value_at_quantile(0.50),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        totals.checksum,
    );
    Ok(())
}

/// Writes a seeded order-flow file.
///
/// # Errors
/// The output file cannot be written.
pub fn gen(args: &GenArgs) -> Result<(), String> {
    let kind = match args.kind {
        Kind::Mixed => FlowKind::Mixed,
        Kind::Deep => FlowKind::Deep,
        Kind::Addcancel => FlowKind::AddCancel,
    };
    let (ops, book) = generate::generate_with_book(kind, args.count, args.seed);
    let file = std::fs::File::create(&args.out)
        .map_err(|error| format!("{}: {error}", args.out.display()))?;
    let header = format!(
        "arbiter order flow: kind={} count={} seed={}",
        kind.name(),
        args.count,
        args.seed
    );
    generate::write_flow(&ops, &header, file)
        .map_err(|error| format!("{}: {error}", args.out.display()))?;
    let stats = flow::FlowStats::of(&ops);
    println!(
        "wrote {} lines to {}: adds={} markets={} cancels={} replaces={} distinct_prices={}",
        ops.len(),
        args.out.display(),
        stats.adds,
        stats.markets,
        stats.cancels,
        stats.replaces,
        stats.distinct_prices,
    );
    let expected = book.totals();
    println!(
        "expected (naive matcher): trades={} traded_qty={} rejects={} checksum={} resting_at_end={}",
        expected.trades,
        expected.traded_qty,
        expected.rejects,
        expected.checksum,
        book.live_count(),
    );
    Ok(())
}
