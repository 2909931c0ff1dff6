//! The bounded fuzz run CI executes: frame + decode + validate + session on arbitrary
//! bytes and on mutated valid messages must never panic; encode/decode round-trips.
mod common;
use arbiter_fix::{
    decode, frame, validate, FixVersion, FrameResult, MessageBuilder, TimestampPrecision,
};
use common::*;
use proptest::prelude::*;

fn valid_messages(h: &Harness) -> Vec<Vec<u8>> {
    let now = ts(h.now);
    [
        format!("35=A|49=CLIENT|56=ARB|34=1|52={now}|{}", h.logon_fields()),
        format!("35=D|49=CLIENT|56=ARB|34=2|52={now}|{NOS}453=2|448=A|447=D|452=1|448=B|"),
        format!("35=2|49=CLIENT|56=ARB|34=3|52={now}|7=1|16=0|"),
        format!("35=4|49=CLIENT|56=ARB|34=4|52={now}|123=Y|36=9|"),
        format!("35=1|49=CLIENT|56=ARB|34=9|52={now}|112=X|"),
        format!("35=5|49=CLIENT|56=ARB|34=10|52={now}|"),
    ]
    .iter()
    .map(|b| wrap(h.version, b))
    .collect()
}

fn run_everything(bytes: &[u8], version: FixVersion) {
    let _ = frame(bytes);
    if let Ok(m) = decode(bytes) {
        let _ = validate(&m, version);
        let _ = m.get_price_decimal(44, 4);
        let _ = m.get_utc_timestamp_ns(52);
        let _ = m.group(&arbiter_fix::dictionary::PARTIES).count();
    }
    let mut h = Harness::new(version);
    let n = h.feed(bytes);
    assert!(n <= bytes.len());
    h.timer(h.now + 100 * SEC);
    h.sent();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for v in VERSIONS {
            run_everything(&bytes, v);
        }
    }

    #[test]
    fn mutated_conversations_never_panic(
        picks in proptest::collection::vec((0usize..6, any::<u16>(), any::<u8>(), 0u8..4), 1..12)
    ) {
        for v in VERSIONS {
            let mut h = Harness::new(v);
            let messages = valid_messages(&h);
            let mut stream = Vec::new();
            for (which, pos, byte, op) in &picks {
                let mut m = messages[*which].clone();
                let p = *pos as usize % m.len();
                match op {
                    0 => m[p] = *byte,
                    1 => { m.remove(p); }
                    2 => m.insert(p, *byte),
                    _ => {}
                }
                stream.extend_from_slice(&m);
            }
            run_everything(&stream, v);
            let n = h.feed(&stream);
            prop_assert!(n <= stream.len());
        }
    }

    #[test]
    fn encode_decode_round_trip(
        clordid in "[A-Za-z0-9]{1,20}",
        qty in 1i64..1_000_000_000,
        price in -1_000_000_000i64..1_000_000_000,
        scale in 0u32..8,
        side in prop_oneof![Just(b'1'), Just(b'2'), Just(b'5')],
        seq in 1u64..u64::MAX / 2,
        time_ns in 0u64..4_102_444_800_000_000_000,
        parties in proptest::collection::vec("[A-Z]{1,8}", 0..4),
    ) {
        for v in VERSIONS {
            let mut buf = [0u8; 1024];
            let mut b = MessageBuilder::new(&mut buf, v, b"D");
            b.header(&arbiter_fix::Header {
                sender_comp_id: b"CLIENT", target_comp_id: b"ARB", msg_seq_num: seq,
                sending_time_ns: time_ns, precision: TimestampPrecision::Micros,
                orig_sending_time_ns: None,
            });
            b.push_str(11, clordid.as_bytes());
            if !parties.is_empty() {
                b.push_u64(453, parties.len() as u64);
                for p in &parties {
                    b.push_str(448, p.as_bytes());
                    b.push_char(447, b'D');
                }
            }
            b.push_char(54, side);
            b.push_timestamp(60, time_ns, TimestampPrecision::Micros);
            b.push_char(40, b'2');
            b.push_decimal(38, qty, 0);
            b.push_decimal(44, price, scale);
            let bytes = b.finish().unwrap();
            prop_assert_eq!(frame(bytes), FrameResult::Complete(bytes.len()));
            let m = decode(bytes).unwrap();
            prop_assert!(validate(&m, v).is_ok(), "{:?}", validate(&m, v).err());
            prop_assert_eq!(m.get_str(11).unwrap(), clordid.as_str());
            prop_assert_eq!(m.msg_seq_num(), Some(seq));
            prop_assert_eq!(m.get_price_decimal(44, scale).unwrap(), price);
            prop_assert_eq!(m.get_price_decimal(38, 0).unwrap(), qty);
            prop_assert_eq!(m.get_utc_timestamp_ns(52).unwrap(), time_ns / 1000 * 1000);
            let got: Vec<_> = m.group(&arbiter_fix::dictionary::PARTIES)
                .map(|e| e.get(448).unwrap().to_vec()).collect();
            let want: Vec<_> = parties.iter().map(|p| p.as_bytes().to_vec()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
