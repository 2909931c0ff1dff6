//! Criterion benchmarks for the FIX codec: decode+validate a NewOrderSingle and
//! encode an ExecutionReport into a preallocated buffer; the per-order entitlement check;
//! FIX market data: one book change turned into a MarketDataIncrementalRefresh (X) per
//! subscriber.
use std::time::Duration;

use arbiter_engine::{Instrument, InstrumentId, OrderId, Price, Qty, Side, TimestampNs};
use arbiter_fix::market_data::{
    MdConfig, MdInstrument, MdSessionConfig, MdSink, MdSubscriptions, RequestLimits,
};
use arbiter_fix::SessionId;
use arbiter_market_data::FeedMessage;

use arbiter_fix::{
    checksum, decode, frame, validate, FixVersion, FrameResult, Header, Message, MessageBuilder,
    TimestampPrecision,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn new_order_single() -> Vec<u8> {
    let body = "35=D|49=CLIENT|56=ARB|34=1234|52=20240229-12:34:56.789123|11=ORD-000001234|1=ACC1|\
453=2|448=TRADER1|447=D|452=11|448=FIRM|447=D|452=1|55=XYZ|54=1|60=20240229-12:34:56.789000|\
38=100|40=2|44=101.25|59=0|"
        .replace('|', "\x01");
    let mut msg = format!("8=FIX.4.4\x019={}\x01{body}", body.len()).into_bytes();
    let sum = checksum(&msg);
    msg.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    msg
}

fn bench(c: &mut Criterion) {
    let nos = new_order_single();
    assert_eq!(frame(&nos), FrameResult::Complete(nos.len()));
    assert!(validate(&decode(&nos).unwrap(), FixVersion::Fix44).is_ok());
    c.bench_function("fix/decode/new_order_single", |b| {
        b.iter(|| {
            let bytes = black_box(&nos[..]);
            let FrameResult::Complete(n) = frame(bytes) else {
                unreachable!()
            };
            let msg = decode(&bytes[..n]).unwrap();
            let def = validate(&msg, FixVersion::Fix44).unwrap();
            black_box((def, msg.get_price_decimal(44, 4).unwrap(), msg.len()))
        });
    });
    // The same with one Message kept across calls (`Message::decode_into`): no field
    // table to set up or move per message.
    let mut reused = Message::empty(&nos);
    c.bench_function("fix/decode/new_order_single_into", |b| {
        b.iter(|| {
            let bytes = black_box(&nos[..]);
            let FrameResult::Complete(n) = frame(bytes) else {
                unreachable!()
            };
            reused.decode_into(&bytes[..n]).unwrap();
            let def = validate(&reused, FixVersion::Fix44).unwrap();
            black_box((def, reused.get_price_decimal(44, 4).unwrap(), reused.len()))
        });
    });
    let mut buf = vec![0u8; 1024];
    c.bench_function("fix/encode/execution_report", |b| {
        let mut seq = 1u64;
        b.iter(|| {
            seq += 1;
            let mut m = MessageBuilder::new(&mut buf, FixVersion::Fix44, b"8");
            m.header(&Header {
                sender_comp_id: b"ARB",
                target_comp_id: b"CLIENT",
                msg_seq_num: seq,
                sending_time_ns: 1_709_210_096_789_123_456 + seq,
                precision: TimestampPrecision::Micros,
                orig_sending_time_ns: None,
            });
            m.push_str(37, b"O-123456");
            m.push_str(11, b"ORD-000001234");
            m.push_u64(17, black_box(seq));
            m.push_char(150, b'F');
            m.push_char(39, b'1');
            m.push_str(55, b"XYZ");
            m.push_char(54, b'1');
            m.push_decimal(38, 100, 0);
            m.push_decimal(44, 1_012_500, 4);
            m.push_decimal(32, 40, 0);
            m.push_decimal(31, 1_012_500, 4);
            m.push_decimal(151, 60, 0);
            m.push_decimal(14, 40, 0);
            m.push_decimal(6, 1_012_500, 4);
            m.push_timestamp(60, 1_709_210_096_789_123_456, TimestampPrecision::Micros);
            black_box(m.finish().unwrap().len())
        });
    });
}

/// Frames each message with a header into one buffer (what a session does before
/// queueing it) and drops it.
struct FramingSink {
    buf: Vec<u8>,
    sent: u64,
}

impl MdSink for FramingSink {
    fn room_bytes(&self, _session: SessionId) -> usize {
        usize::MAX / 2
    }

    fn send(
        &mut self,
        _session: SessionId,
        msg_type: &[u8],
        body: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        self.sent += 1;
        let mut m = MessageBuilder::new(&mut self.buf, FixVersion::Fixt11, msg_type);
        m.header(&Header {
            sender_comp_id: b"ARBITER",
            target_comp_id: b"CLIENT01",
            msg_seq_num: self.sent,
            sending_time_ns: 1_709_210_096_789_123_456,
            precision: TimestampPrecision::Micros,
            orig_sending_time_ns: None,
        });
        body(&mut m);
        black_box(m.finish().map(<[u8]>::len)).is_ok()
    }
}

fn add(order_id: u64, side: Side, price: i64) -> FeedMessage {
    FeedMessage::AddOrder {
        timestamp: TimestampNs(1),
        instrument: InstrumentId(0),
        order_id: OrderId(order_id),
        side,
        price: Price(price),
        qty: Qty(5),
    }
}

/// A book of 20 levels per side, `subscribers` sessions each subscribed to it (price
/// levels at depth 10, or order by order).
fn market_data_setup(subscribers: u32, orders: bool) -> (MdSubscriptions, FramingSink) {
    let config = MdConfig {
        sessions_max: subscribers as usize,
        subscriptions_max: subscribers as usize,
        orders_max: 1 << 12,
        levels_per_side_max: 64,
        limits: RequestLimits {
            depth_max: 10,
            full_depth: true,
        },
        ..MdConfig::default()
    };
    let instrument = MdInstrument::from_engine(&Instrument::simple(0, "XYZ"), 2);
    let mut md = MdSubscriptions::new(config, vec![instrument]);
    let mut sink = FramingSink {
        buf: vec![0; 8192],
        sent: 0,
    };
    for level in 0..20 {
        md.on_feed_message(&add(1 + level, Side::Buy, 1000 - level as i64), &mut sink)
            .unwrap();
        md.on_feed_message(
            &add(101 + level, Side::Sell, 1001 + level as i64),
            &mut sink,
        )
        .unwrap();
    }
    let request = if orders {
        "262=R|263=1|264=0|266=N|267=2|269=0|269=1|146=1|55=XYZ|"
    } else {
        "262=R|263=1|264=10|267=2|269=0|269=1|146=1|55=XYZ|"
    };
    let raw = format!(
        "8=FIXT.1.1\x019=0\x0135=V\x01{}10=000\x01",
        request.replace('|', "\x01")
    );
    for s in 0..subscribers {
        let session = SessionId(s);
        md.open_session(
            session,
            MdSessionConfig {
                allowed: true,
                subscriptions_max: 1,
                version: FixVersion::Fixt11,
            },
        );
        assert!(md.on_request(session, &decode(raw.as_bytes()).unwrap(), &mut sink));
    }
    (md, sink)
}

/// One book change per iteration (an order joins the third bid level, then leaves it):
/// one X per subscriber.
fn bench_market_data(c: &mut Criterion) {
    for (name, subscribers, orders) in [
        ("fix/md/increment/levels_subscribers_1", 1, false),
        ("fix/md/increment/levels_subscribers_10", 10, false),
        ("fix/md/increment/levels_subscribers_100", 100, false),
        ("fix/md/increment/orders_subscribers_1", 1, true),
    ] {
        let (mut md, mut sink) = market_data_setup(subscribers, orders);
        let mut next = 0u64;
        let sent_before = sink.sent;
        c.bench_function(name, |b| {
            b.iter(|| {
                next += 1;
                let message = if next % 2 == 1 {
                    add(1000 + next, Side::Buy, 998)
                } else {
                    FeedMessage::Delete {
                        timestamp: TimestampNs(2),
                        instrument: InstrumentId(0),
                        order_id: OrderId(1000 + next - 1),
                    }
                };
                md.on_feed_message(black_box(&message), &mut sink).unwrap();
            });
        });
        assert_eq!(sink.sent - sent_before, next * u64::from(subscribers));
    }
}

/// The entitlement check every order passes (docs/security.md, "Entitlements"): the
/// Account (1) name to an id, then the session's bit. 64 accounts of 8 firms; the session
/// is entitled to 4 of them; names alternate between entitled, same-firm-not-entitled and
/// another firm's.
fn bench_entitlement(c: &mut Criterion) {
    use arbiter_fix::entitlement::{AccountNames, Entitlement};
    let names: Vec<String> = (0..64).map(|i| format!("ACC{i:04}")).collect();
    let table = AccountNames::new(names.iter().map(String::as_str).zip(0..), 64);
    let mut entitled = Entitlement::new(64);
    for id in [8, 9, 10, 11] {
        entitled.grant(id);
    }
    c.bench_function("fix/entitlement/bitset", |b| {
        let mut id = 0u32;
        b.iter(|| {
            id = (id + 5) & 63;
            black_box(entitled.allows(black_box(id)))
        });
    });
    let asked: Vec<&[u8]> = [9, 12, 40, 8]
        .iter()
        .map(|&i| names[i].as_bytes())
        .collect();
    c.bench_function("fix/entitlement/name_and_bitset", |b| {
        let mut n = 0usize;
        b.iter(|| {
            n = (n + 1) & 3;
            let name = black_box(asked[n]);
            black_box(table.id(name).is_some_and(|id| entitled.allows(id)))
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench, bench_entitlement, bench_market_data
}
criterion_main!(benches);
