//! frame + decode + validate must never panic on any bytes.
#![no_main]
use arbiter_fix::{decode, frame, validate, FixVersion, FrameResult};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while !rest.is_empty() {
        match frame(rest) {
            FrameResult::Complete(n) => {
                if let Ok(m) = decode(&rest[..n]) {
                    let _ = validate(&m, FixVersion::Fix44);
                    let _ = validate(&m, FixVersion::Fixt11);
                }
                rest = &rest[n..];
            }
            FrameResult::Garbled(_, skip) => rest = &rest[skip..],
            FrameResult::Incomplete => break,
        }
    }
    if let Ok(m) = decode(data) {
        let _ = validate(&m, FixVersion::Fix44);
        let _ = m.get_price_decimal(44, 4);
        let _ = m.get_utc_timestamp_ns(52);
    }
});
