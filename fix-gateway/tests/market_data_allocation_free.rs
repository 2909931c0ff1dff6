//! After start-up, `MdSubscriptions::on_feed_message` and `poll` neither allocate nor
//! free heap memory: book changes, increments, snapshots (subscribe, conflation
//! recovery, MDUpdateType=0) and status messages all use what `MdSubscriptions::new`
//! allocated. The feed is recorded first (the engine and the market-data builder run
//! outside the counted region); a counting `#[global_allocator]` counts this thread's
//! heap operations while replaying it into sessions of every kind, one of them with a
//! queue that fills and drains.

mod md_common;

use arbiter_hardware::alloc_count::{self, CountingAllocator};

use arbiter_engine::Event;
use arbiter_fix::market_data::{MdSessionConfig, MdSink, MdSubscriptions};
use arbiter_fix::{decode, FixVersion, Header, MessageBuilder, SessionId, TimestampPrecision};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{BookBuilder, FeedMessage};
use md_common::{md_config, md_instruments, raw};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Encodes into one preallocated buffer and only counts.
struct CountingSink {
    buf: Vec<u8>,
    room: [usize; 6],
    messages: u64,
    bytes: u64,
}

impl MdSink for CountingSink {
    fn room_bytes(&self, session: SessionId) -> usize {
        self.room[session.0 as usize]
    }

    fn send(
        &mut self,
        session: SessionId,
        msg_type: &[u8],
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        let mut b = MessageBuilder::new(&mut self.buf, FixVersion::Fixt11, msg_type);
        b.header(&Header {
            sender_comp_id: b"ARBITER",
            target_comp_id: b"CLIENT01",
            msg_seq_num: self.messages + 1,
            sending_time_ns: 1_700_000_000_000_000_000,
            precision: TimestampPrecision::Millis,
            orig_sending_time_ns: None,
        });
        body(&mut b);
        let Ok(bytes) = b.finish() else {
            return false;
        };
        let room = &mut self.room[session.0 as usize];
        *room = room.saturating_sub(bytes.len());
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        true
    }
}

fn record_feed(seed: u64, commands: usize) -> Vec<FeedMessage> {
    let config = FlowConfig::default();
    let mut engine = sim::engine(&config);
    let mut builder = BookBuilder::with_capacities(
        &sim::registry(&config),
        arbiter_market_data::BookCapacity::from_engine(engine.config()),
    );
    let mut rng = SplitMix64(seed);
    let mut flow = Flow::new(config, move || rng.next_u64());
    let mut feed: Vec<FeedMessage> = builder.drain().map(|s| s.message).collect();
    let mut events = Vec::new();
    for _ in 0..commands {
        let sim = flow.next_command(&engine);
        events.clear();
        engine.apply(&sim.command, &mut events);
        for event in &events {
            builder
                .on_event(sim.command.seq, sim.command.timestamp, event)
                .unwrap();
            if let Event::Accepted { order_id, .. } = *event {
                if sim.display_qty.0 > 0 {
                    builder.set_display_qty(order_id, sim.display_qty);
                }
            }
        }
        builder.on_command_end(sim.command.seq).unwrap();
        feed.extend(builder.drain().map(|s| s.message));
    }
    feed
}

#[test]
fn market_data_path_does_not_allocate() {
    let feed = record_feed(11, 20_000);
    let mut md = MdSubscriptions::new(md_config(6), md_instruments(2));
    let mut sink = CountingSink {
        buf: vec![0; 8192],
        room: [usize::MAX / 2; 6],
        messages: 0,
        bytes: 0,
    };
    let requests = [
        "262=A|263=1|264=1|267=2|269=0|269=1|",
        "262=B|263=1|264=5|267=4|269=0|269=1|269=2|269=B|",
        "262=C|263=1|264=0|267=8|269=0|269=1|269=2|269=4|269=5|269=7|269=8|269=B|",
        "262=D|263=1|264=0|266=N|267=3|269=0|269=1|269=2|",
        "262=E|263=1|264=2|265=0|267=2|269=0|269=1|",
        "262=F|263=1|264=0|266=N|267=2|269=0|269=1|",
    ];
    for (s, request) in requests.iter().enumerate() {
        let session = SessionId(u32::try_from(s).unwrap());
        md.open_session(
            session,
            MdSessionConfig {
                allowed: true,
                subscriptions_max: 8,
                version: FixVersion::Fixt11,
            },
        );
        let bytes = raw(
            FixVersion::Fixt11,
            &format!("35=V|49=C|56=S|34=2|52=20240101-00:00:00|{request}146=2|55=SIM0|55=SIM1|"),
        );
        assert!(md.on_request(session, &decode(&bytes).unwrap(), &mut sink));
        let status = raw(
            FixVersion::Fixt11,
            "35=e|49=C|56=S|34=3|52=20240101-00:00:00|324=S|55=SIM0|263=1|",
        );
        assert!(md.on_request(session, &decode(&status).unwrap(), &mut sink));
    }
    let mut room = SplitMix64(5);
    let half = feed.len() / 2;
    for (i, message) in feed.iter().enumerate() {
        if i == half {
            alloc_count::start();
        }
        // Session 5's queue fills and drains.
        sink.room[5] = match room.next_u64() % 8 {
            0..=2 => 0,
            3 => 900,
            _ => usize::MAX / 2,
        };
        md.on_feed_message(message, &mut sink).unwrap();
        md.poll(&mut sink);
    }
    let counted = alloc_count::stop();
    let (allocations, frees) = (counted.allocations, counted.deallocations);
    let counters = md.counters();
    println!(
        "feed messages {} sent {} ({} bytes) {counters:?}",
        feed.len(),
        sink.messages,
        sink.bytes
    );
    assert!(counters.conflations > 10 && counters.recoveries > 10);
    assert_eq!((allocations, frees), (0, 0));
}
