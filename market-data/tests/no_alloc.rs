//! After warm-up, publishing neither allocates nor frees heap memory: the book builder
//! (private order arena, public [`MarketBooks`]), the message encoder, the retransmission
//! window and the packetizer, per event and per command end; and so does the snapshot
//! follower applying the published messages to its replica.
//!
//! A counting `#[global_allocator]` (as `engine/tests/no_alloc.rs`) counts allocations,
//! reallocations and frees made by this thread while a flag is set. The event stream is
//! recorded first from a real engine on the seeded simulated flow (`sim`, every command
//! kind: limit, market, stop, stop-limit, icebergs, STP, cancels, replaces, mass cancels,
//! halts); that recording allocates and is not counted. Then [`WARM_UP_COMMANDS`] commands
//! go through the publisher uncounted, and [`COUNTED_COMMANDS`] more counted, with a `send`
//! that only counts packets. The counted stream is checked to hold every kind of event the
//! builder handles, so the test cannot pass by publishing nothing.

use std::cell::Cell;

use arbiter_hardware::alloc_count::{self, CountingAllocator};

use arbiter_engine::{Event, OrderId, Qty, Seq, TimestampNs};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{BookCapacity, MarketBooks, Publisher, SessionName};

/// Commands published while counting.
const COUNTED_COMMANDS: usize = 60_000;
/// Commands published before counting starts.
const WARM_UP_COMMANDS: usize = 10_000;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

struct Recorded {
    seq: Seq,
    timestamp: TimestampNs,
    events: Vec<Event>,
    display: Option<(OrderId, Qty)>,
}

fn record(config: &FlowConfig, commands: usize) -> Vec<Recorded> {
    let mut engine = sim::engine(config);
    let mut rng = SplitMix64(7);
    let mut flow = Flow::new(*config, move || rng.next_u64());
    (0..commands)
        .map(|_| {
            let command = flow.next_command(&engine);
            let mut events = Vec::new();
            engine.apply(&command.command, &mut events);
            let display = events.iter().find_map(|event| match event {
                Event::Accepted { order_id, .. } if command.display_qty.0 > 0 => {
                    Some((*order_id, command.display_qty))
                }
                _ => None,
            });
            Recorded {
                seq: command.command.seq,
                timestamp: command.command.timestamp,
                events,
                display,
            }
        })
        .collect()
}

/// Event kinds seen: accepted, trade, refreshed, cancelled, replaced, triggered,
/// phase changed, mass cancelled.
fn kinds(commands: &[Recorded]) -> [u64; 8] {
    let mut seen = [0u64; 8];
    for event in commands.iter().flat_map(|c| &c.events) {
        let kind = match event {
            Event::Accepted { .. } => 0,
            Event::Trade(_) => 1,
            Event::Refreshed { .. } => 2,
            Event::Cancelled { .. } => 3,
            Event::Replaced { .. } => 4,
            Event::Triggered { .. } => 5,
            Event::PhaseChanged { .. } => 6,
            Event::MassCancelled { .. } => 7,
            _ => continue,
        };
        seen[kind] += 1;
    }
    seen
}

fn publish(
    publisher: &mut Publisher,
    command: &Recorded,
    send: &mut impl FnMut(&[u8]),
) -> Result<(), String> {
    for event in &command.events {
        publisher
            .on_event(command.seq, command.timestamp, event)
            .map_err(|e| e.to_string())?;
        if let (Event::Accepted { order_id, .. }, Some((id, display))) = (event, command.display) {
            if *order_id == id {
                publisher.set_display_qty(id, display);
            }
        }
        publisher.pump(send);
    }
    publisher
        .on_command_end(command.seq, send)
        .map_err(|e| e.to_string())
}

#[test]
fn publishing_allocates_nothing_after_warm_up() {
    let config = FlowConfig::default();
    let commands = record(&config, WARM_UP_COMMANDS + COUNTED_COMMANDS);
    let (warm_up, counted) = commands.split_at(WARM_UP_COMMANDS);
    let seen = kinds(counted);
    assert!(seen.iter().all(|&n| n > 0), "every event kind: {seen:?}");

    let mut publisher = Publisher::with_capacities(
        SessionName::from_text("NOALLOC"),
        &sim::registry(&config),
        BookCapacity::from_engine(&sim::engine_config(&config)),
        1 << 12,
    );
    let mut follower = publisher.snapshot_follower();
    let packets = Cell::new(0u64);
    let mut send = |_: &[u8]| packets.set(packets.get() + 1);
    publisher.flush(&mut send);
    for command in warm_up {
        publish(&mut publisher, command, &mut send).unwrap();
        follower.catch_up();
    }
    let (messages_before, packets_before) = (publisher.builder().next_seq().0, packets.get());

    alloc_count::start();
    let mut result = Ok(());
    let mut applied = 0u64;
    for command in counted {
        result = publish(&mut publisher, command, &mut send);
        if result.is_err() {
            break;
        }
        applied += follower.catch_up();
    }
    let heap = alloc_count::stop();
    let (allocations, deallocations) = (heap.allocations, heap.deallocations);

    result.unwrap();
    let messages = publisher.builder().next_seq().0 - messages_before;
    eprintln!(
        "counted {} commands: {messages} messages, {} packets, follower applied {applied}, \
         events by kind {seen:?}",
        counted.len(),
        packets.get() - packets_before,
    );
    assert!(messages > 0 && packets.get() > packets_before);
    assert_eq!(applied, messages, "the follower kept up with every message");
    assert!(!follower.is_stale());
    assert!(follower.books().same_as(publisher.builder().books()));
    assert_eq!(
        (allocations, deallocations),
        (0, 0),
        "heap operations while publishing"
    );
    // The replica really is a separate set of books of the same capacity.
    let books: &MarketBooks = follower.books();
    assert_eq!(books.capacity(), publisher.builder().books().capacity());
}
