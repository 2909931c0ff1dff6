//! Loops the codec hot paths for instruction-count profiling, e.g.
//! `valgrind --tool=callgrind target/release/examples/codec_loop decode 100000`.
//!
//! Uses the same messages as the `fix` criterion bench.
use std::hint::black_box;

use arbiter_fix::{
    checksum, decode, frame, validate, FixVersion, FrameResult, Header, Message, MessageBuilder,
    TimestampPrecision,
};

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

fn decode_loop(n: u64) -> u64 {
    let nos = new_order_single();
    let mut acc = 0u64;
    for _ in 0..n {
        let bytes = black_box(&nos[..]);
        let FrameResult::Complete(len) = frame(bytes) else {
            unreachable!()
        };
        let msg = decode(&bytes[..len]).unwrap();
        let def = validate(&msg, FixVersion::Fix44).unwrap();
        let px = msg.get_price_decimal(44, 4).unwrap();
        black_box(def);
        acc = acc.wrapping_add(px as u64 + msg.len() as u64);
    }
    acc
}

fn decode_into_loop(n: u64) -> u64 {
    let nos = new_order_single();
    let mut msg = Message::empty(&nos);
    let mut acc = 0u64;
    for _ in 0..n {
        let bytes = black_box(&nos[..]);
        let FrameResult::Complete(len) = frame(bytes) else {
            unreachable!()
        };
        msg.decode_into(&bytes[..len]).unwrap();
        let def = validate(&msg, FixVersion::Fix44).unwrap();
        let px = msg.get_price_decimal(44, 4).unwrap();
        black_box(def);
        acc = acc.wrapping_add(px as u64 + msg.len() as u64);
    }
    acc
}

fn encode_loop(n: u64) -> u64 {
    let mut buf = vec![0u8; 1024];
    let mut acc = 0u64;
    for seq in 2..n + 2 {
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
        acc = acc.wrapping_add(black_box(m.finish().unwrap()).len() as u64);
    }
    acc
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "both".to_string());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let acc = match what.as_str() {
        "decode" => decode_loop(n),
        "decode_into" => decode_into_loop(n),
        "encode" => encode_loop(n),
        _ => decode_loop(n).wrapping_add(encode_loop(n)),
    };
    println!("{what} x{n}: {acc}");
}
