//! `arbiter-bench md`: encode and packetize a recorded event stream, no network.
//!
//! The stream is recorded first by running a real engine on the seeded simulated flow of
//! `arbiter_market_data::sim` (every command kind) until `--events` events exist. Then each
//! event goes through the publisher: the book builder, the message encoder, the
//! retransmission window and the packetizer (packets are counted, not sent), plus each
//! command's end (resting the taker, sending the last packet, committing the window).
//!
//! # How it is timed
//!
//! The work per event is tens of nanoseconds, about what reading the clock costs
//! (`Instant::now`, a vDSO `clock_gettime`, some 20 ns), so timing each event would
//! measure mostly the clock. Instead the clock is read once per batch of
//! `--batch` consecutive events (64 by default; the end of one batch is the start of the
//! next, so nothing between batches goes untimed), and each batch gives one sample: its
//! time divided by its events, the mean cost per event in that batch (command ends are
//! counted in the batch where they happen). `encode_p50_ns` / `encode_p99_ns` are
//! percentiles of those per-batch means, rounded to whole nanoseconds; a slow event shows
//! up diluted by its batch. The clock's own cost, measured before the run, is printed on
//! the line before the last (`clock_ns`), and adds about `clock_ns / batch` to every
//! sample. `events_per_sec` is all events over the whole timed loop. `--batch 1` times
//! every event alone (clock included), as the first version of this benchmark did.
//!
//! `--clock cpu` reads the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, a system call)
//! instead of the wall clock, for a shared machine: a batch during which the thread was
//! preempted then counts only the time it ran, not the time other processes had the core
//! (their cache pollution still counts). `events_per_sec` is then over CPU time too.
//!
//! Last line: `events=N packets=P encode_p50_ns=A encode_p99_ns=B events_per_sec=C`.
use std::time::Instant;

use arbiter_engine::{Event, OrderId, Qty, Seq, TimestampNs};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{BookCapacity, Publisher, SessionName};
use clap::{Args, ValueEnum};

/// The clock that times batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// Wall-clock time (`Instant`, vDSO).
    Wall,
    /// This thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`).
    Cpu,
}

impl Clock {
    /// Nanoseconds on this clock since an arbitrary origin.
    fn now_ns(self, origin: Instant) -> u64 {
        match self {
            Clock::Wall => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Clock::Cpu => thread_cpu_ns(),
        }
    }
}

#[allow(unsafe_code)]
fn thread_cpu_ns() -> u64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is available on Linux");
    u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000_000
        + u64::try_from(time.tv_nsec).unwrap_or(0)
}

/// Arguments of `arbiter-bench md`.
#[derive(Args, Debug)]
pub struct MdArgs {
    /// Events to encode.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Seed of the simulated flow.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Retransmission window of the publisher, in messages.
    #[arg(long, default_value_t = 1 << 16)]
    pub window: usize,
    /// Events per timed batch (see the module docs).
    #[arg(long, default_value_t = 64)]
    pub batch: u64,
    /// Clock that times the batches (see the module docs).
    #[arg(long, value_enum, default_value_t = Clock::Wall)]
    pub clock: Clock,
}

struct Recorded {
    seq: Seq,
    timestamp: TimestampNs,
    events: Vec<Event>,
    /// Iceberg display sizes of the command's new order.
    display: Option<(OrderId, Qty)>,
}

fn record(args: &MdArgs, config: &FlowConfig) -> Vec<Recorded> {
    let mut engine = sim::engine(config);
    let mut rng = SplitMix64(args.seed);
    let mut flow = Flow::new(*config, move || rng.next_u64());
    let mut commands = Vec::new();
    let mut total = 0u64;
    while total < args.events {
        let command = flow.next_command(&engine);
        let mut events = Vec::new();
        engine.apply(&command.command, &mut events);
        let display = events.iter().find_map(|event| match event {
            Event::Accepted { order_id, .. } if command.display_qty.0 > 0 => {
                Some((*order_id, command.display_qty))
            }
            _ => None,
        });
        let room = usize::try_from(args.events - total).unwrap_or(usize::MAX);
        events.truncate(room);
        total += events.len() as u64;
        commands.push(Recorded {
            seq: command.command.seq,
            timestamp: command.command.timestamp,
            events,
            display,
        });
    }
    commands
}

fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) * per_mille) / 1000]
}

/// The cost of one clock read (median of many back-to-back pairs), in ns.
fn clock_ns(clock: Clock, origin: Instant) -> u64 {
    let mut costs: Vec<u64> = (0..1001)
        .map(|_| {
            let t0 = clock.now_ns(origin);
            let t1 = clock.now_ns(origin);
            t1.saturating_sub(t0)
        })
        .collect();
    costs.sort_unstable();
    costs[costs.len() / 2]
}

/// Runs the benchmark.
///
/// # Errors
/// A text when `--events` or `--batch` is zero, or the publisher refuses an event.
pub fn run(args: &MdArgs) -> Result<(), String> {
    if args.events == 0 || args.batch == 0 {
        return Err("--events and --batch must be positive".into());
    }
    let config = FlowConfig::default();
    let commands = record(args, &config);
    let mut publisher = Publisher::with_capacities(
        SessionName::from_text("BENCH"),
        &sim::registry(&config),
        BookCapacity::from_engine(&sim::engine_config(&config)),
        args.window.max(1),
    );
    let mut packets = 0u64;
    let mut bytes = 0u64;
    let mut send = |packet: &[u8]| {
        packets += 1;
        bytes += packet.len() as u64;
    };
    publisher.flush(&mut send);
    let origin = Instant::now();
    let clock = clock_ns(args.clock, origin);
    let samples_max = usize::try_from(args.events / args.batch + 1).unwrap_or(0);
    let mut samples: Vec<u64> = Vec::with_capacity(samples_max);
    let mut events = 0u64;
    let mut in_batch = 0u64;
    let started = args.clock.now_ns(origin);
    let mut batch_start = started;
    for command in &commands {
        for event in &command.events {
            publisher
                .on_event(command.seq, command.timestamp, event)
                .map_err(|e| format!("publisher refused an event: {e}"))?;
            if let (Event::Accepted { order_id, .. }, Some((id, display))) =
                (event, command.display)
            {
                if *order_id == id {
                    publisher.set_display_qty(id, display);
                }
            }
            publisher.pump(&mut send);
            events += 1;
            in_batch += 1;
            if in_batch == args.batch {
                let now = args.clock.now_ns(origin);
                let batch_ns = now.saturating_sub(batch_start);
                samples.push((batch_ns + in_batch / 2) / in_batch);
                batch_start = now;
                in_batch = 0;
            }
        }
        publisher
            .on_command_end(command.seq, &mut send)
            .map_err(|e| format!("publisher refused a command end: {e}"))?;
    }
    let ended = args.clock.now_ns(origin);
    if let Some(per_event) = ended.saturating_sub(batch_start).checked_div(in_batch) {
        samples.push(per_event);
    }
    let elapsed_ns = ended.saturating_sub(started).max(1);
    samples.sort_unstable();
    let events_per_sec = (events as f64 * 1e9 / elapsed_ns as f64).round() as u64;
    println!(
        "commands={} messages={} bytes={} elapsed_ms={} clock={:?} batch={} batches={} clock_ns={clock}",
        commands.len(),
        publisher.builder().next_seq().0 - 1,
        bytes,
        elapsed_ns / 1_000_000,
        args.clock,
        args.batch,
        samples.len(),
    );
    println!(
        "events={events} packets={packets} encode_p50_ns={} encode_p99_ns={} events_per_sec={events_per_sec}",
        percentile(&samples, 500),
        percentile(&samples, 990)
    );
    Ok(())
}
