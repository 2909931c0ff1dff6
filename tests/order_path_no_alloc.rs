//! The gateway's order path neither allocates nor frees once started (STYLE.md rule 4):
//! a NewOrderSingle mapped to a request, its MsgSeqNum journaled beside the ClOrdID, the
//! engine's events turned into ExecutionReports (encoded), and a session mark encoded with
//! its request id. The engine's own path has its test (engine/tests/no_alloc.rs).
//!
//! A counting `#[global_allocator]` counts this thread's heap operations while a flag is set.

use arbiter::fix_app::FixSender;
use arbiter::messages::mark_request_id;
use arbiter::session_ledger::SessionMark;
use arbiter_engine::wire::RecordOrigin;
use arbiter_engine::{Command, Event, EventSink, Seq, TimestampNs};
use arbiter_fix::{decode, FixVersion, MessageBuilder};
use arbiter_hardware::alloc_count::{self, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Encodes every report into one buffer, as the acceptor would before writing it.
struct Encoder {
    buffer: Vec<u8>,
    reports: u32,
}

impl FixSender for Encoder {
    fn send_app(
        &mut self,
        _session: u32,
        msg_type: &[u8],
        fill: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        let mut builder = MessageBuilder::new(&mut self.buffer, FixVersion::Fix44, msg_type);
        fill(&mut builder);
        assert_eq!(msg_type, b"8", "only ExecutionReports");
        self.reports += 1;
        true
    }
}

/// The engine's events of one command, in a buffer with room for them.
struct Events(Vec<Event>);

impl EventSink for Events {
    fn emit(&mut self, event: Event) {
        self.0.push(event);
    }
}

fn new_order_single(seq: u64, cl_ord_id: &str, side: &str, price: &str) -> Vec<u8> {
    let body = format!(
        "35=D\x0149=CLIENT1\x0156=ARBITER\x0134={seq}\x0152=20261126-10:00:00.000\x01\
         11={cl_ord_id}\x0155=AAPL\x0154={side}\x0138=10\x0140=2\x0144={price}\x0159=0\x01\
         60=20261126-10:00:00.000\x01"
    );
    let mut message = format!("8=FIX.4.4\x019={}\x01{body}", body.len());
    let checksum: u32 = message.bytes().map(u32::from).sum::<u32>() % 256;
    message.push_str(&format!("10={checksum:03}\x01"));
    message.into_bytes()
}

#[test]
fn mapping_an_order_and_reporting_it_does_not_allocate() {
    let config = arbiter_config::Config::default_demo();
    let mut app = arbiter::state::new_gateway(&config);
    let mut engine = config.engine();
    let mut sender = Encoder {
        buffer: vec![0; 4096],
        reports: 0,
    };
    let mut events = Events(Vec::with_capacity(64));
    // Resting orders on both sides that never cross.
    let messages: Vec<Vec<u8>> = (0..600u64)
        .map(|n| {
            let (side, price) = if n % 2 == 0 {
                ("1", "100.00")
            } else {
                ("2", "101.00")
            };
            new_order_single(n + 2, &format!("NA-{n}"), side, price)
        })
        .collect();
    let mut run = |range: std::ops::Range<usize>, sender: &mut Encoder| {
        for (n, raw) in messages[range.clone()].iter().enumerate() {
            let seq = (range.start + n) as u64 + 1;
            let msg = decode(raw).expect("a valid message");
            let request = app
                .on_app_message(0, &msg, sender)
                .expect("an order for the sequencer");
            let annotation = request.annotation.with_origin(RecordOrigin {
                session: 0,
                msg_seq: msg.msg_seq_num().unwrap(),
            });
            assert!(annotation.as_bytes().len() > request.annotation.as_bytes().len());
            events.0.clear();
            let command = Command::new(Seq(seq), TimestampNs(seq), request.kind);
            engine.apply(&command, &mut events);
            for event in &events.0 {
                app.on_event(
                    request.request_id,
                    Seq(seq),
                    TimestampNs(seq),
                    event,
                    Some(&mut *sender),
                );
            }
            app.on_done(request.request_id);

            let mark = SessionMark {
                session: 0,
                reset: false,
                creation_ns: seq,
                next_target: seq + 1,
                sender_through: 1 << 18,
            };
            std::hint::black_box((mark.encode(), mark_request_id(&mark)));
        }
    };
    // Warm-up: first touches of tables and buffers happen before the count.
    run(0..100, &mut sender);
    alloc_count::start();
    run(100..600, &mut sender);
    let counts = alloc_count::stop();
    assert_eq!(counts, alloc_count::AllocCounts::default());
    // An ExecutionReport (New) per order to its session, and its copy to the demo's
    // drop-copy session.
    assert_eq!(sender.reports, 1200);
}
