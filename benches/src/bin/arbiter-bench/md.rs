//! `arbiter-bench md`: encode and packetize a recorded event stream, no network.
//!
//! The stream is recorded first by running a real engine on the seeded simulated flow of
//! `arbiter_market_data::sim` (every command kind) until `--events` events exist. Then each
//! event goes through the publisher: the book builder, the message encoder, the
//! retransmission window and the packetizer (packets are counted, not sent). One sample
//! per event: `on_event` plus encoding its messages; the command-end work (resting the
//! taker, sending the last packet) is added to the command's last event.
//!
//! Last line: `events=N packets=P encode_p50_ns=A encode_p99_ns=B events_per_sec=C`.
use std::time::Instant;

use arbiter_engine::{Event, OrderId, Qty, Seq, TimestampNs};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{Publisher, SessionName};
use clap::Args;

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

/// Runs the benchmark.
///
/// # Errors
/// A text when `--events` is zero.
pub fn run(args: &MdArgs) -> Result<(), String> {
    if args.events == 0 {
        return Err("--events must be positive".into());
    }
    let config = FlowConfig::default();
    let commands = record(args, &config);
    let mut publisher = Publisher::new(
        SessionName::from_text("BENCH"),
        &sim::registry(&config),
        sim::engine_config(&config).orders_max as usize,
        args.window.max(1),
    );
    let mut packets = 0u64;
    let mut bytes = 0u64;
    let mut send = |packet: &[u8]| {
        packets += 1;
        bytes += packet.len() as u64;
    };
    publisher.flush(&mut send);
    let mut samples: Vec<u64> = Vec::with_capacity(usize::try_from(args.events).unwrap_or(0));
    let started = Instant::now();
    for command in &commands {
        for event in &command.events {
            let t0 = Instant::now();
            publisher.on_event(command.seq, command.timestamp, event);
            if let (Event::Accepted { order_id, .. }, Some((id, display))) =
                (event, command.display)
            {
                if *order_id == id {
                    publisher.set_display_qty(id, display);
                }
            }
            publisher.pump(&mut send);
            samples.push(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        let t0 = Instant::now();
        publisher.on_command_end(command.seq, &mut send);
        let end_ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if let Some(last) = samples.last_mut() {
            *last += end_ns;
        }
    }
    let elapsed = started.elapsed();
    let events = samples.len() as u64;
    samples.sort_unstable();
    let events_per_sec = (events as f64 / elapsed.as_secs_f64()).round() as u64;
    println!(
        "commands={} messages={} bytes={} elapsed_ms={}",
        commands.len(),
        publisher.builder().next_seq().0 - 1,
        bytes,
        elapsed.as_millis()
    );
    println!(
        "events={events} packets={packets} encode_p50_ns={} encode_p99_ns={} events_per_sec={events_per_sec}",
        percentile(&samples, 500),
        percentile(&samples, 990)
    );
    Ok(())
}
