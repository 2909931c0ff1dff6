//! Interval logs written by `HlogWriter` read back with hdrhistogram's own
//! `IntervalLogIterator` and deserializer, tags and counts intact; rotation by size.

use std::time::{Duration, SystemTime};

use arbiter_perf::{latency_histogram, read_hlog, HlogConfig, HlogWriter, Stage};
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

fn base64(text: &str) -> Vec<u8> {
    // Test-only decoder, independent of the crate's.
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().take_while(|&c| c != b'=') {
        let v = table.iter().position(|&t| t == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn written_logs_read_back_with_the_crate_iterator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.hlog");
    let start = SystemTime::now();
    {
        let mut writer = HlogWriter::create(HlogConfig::single(&path)).unwrap();
        for interval in 0..3u32 {
            for (k, stage) in Stage::ALL.iter().enumerate() {
                let mut h = latency_histogram();
                for v in 0..(100 * (k as u64 + 1)) {
                    h.record(1_000 + v * 10 + u64::from(interval)).unwrap();
                }
                writer
                    .write(
                        stage.name(),
                        start + Duration::from_secs(u64::from(interval)),
                        Duration::from_secs(1),
                        &h,
                    )
                    .unwrap();
            }
        }
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("#[StartTime: "));
    assert!(text.contains("#[BaseTime: "));
    assert!(text.contains(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    ));
    let bytes = std::fs::read(&path).unwrap();
    let mut deserializer = Deserializer::new();
    let mut seen = 0;
    let mut base_time = None;
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.unwrap() {
            LogEntry::BaseTime(t) => base_time = Some(t),
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(i) => {
                let stage = Stage::from_name(i.tag().unwrap().as_str()).unwrap();
                let h: Histogram<u64> = deserializer
                    .deserialize(&mut std::io::Cursor::new(base64(i.encoded_histogram())))
                    .unwrap();
                assert_eq!(h.len(), 100 * (stage.index() as u64 + 1));
                assert_eq!(i.duration(), Duration::from_secs(1));
                assert!((i.max() - h.max() as f64).abs() < 1.0, "max column in ns");
                assert_eq!(
                    i.start_timestamp().as_secs(),
                    seen / Stage::ALL.len() as u64
                );
                seen += 1;
            }
        }
    }
    assert!(base_time.is_some());
    assert_eq!(seen, 3 * Stage::ALL.len() as u64);
    // The crate's own reader agrees.
    let intervals = read_hlog(&path).unwrap();
    assert_eq!(intervals.len(), 3 * Stage::ALL.len());
    assert_eq!(intervals[9].tag.as_deref(), Some("wire_to_wire"));
    assert_eq!(intervals[9].histogram.len(), 1000);
}

#[test]
fn rotation_by_size_starts_new_files_with_headers() {
    let dir = tempfile::tempdir().unwrap();
    let config = HlogConfig {
        path: dir.path().join("rot.hlog"),
        rotate_bytes: Some(2_000),
        rotate_after: None,
    };
    let mut writer = HlogWriter::create(config).unwrap();
    let mut h = latency_histogram();
    for v in 1..5000u64 {
        h.record(v * 13).unwrap();
    }
    for i in 0..20u64 {
        writer
            .write(
                "wire_to_wire",
                SystemTime::now(),
                Duration::from_millis(100 + i),
                &h,
            )
            .unwrap();
    }
    writer.flush().unwrap();
    let files = writer.files().to_vec();
    assert!(files.len() > 1, "{files:?}");
    assert!(files[0].ends_with("rot.0000.hlog"));
    let mut total = 0;
    for f in &files {
        let intervals = read_hlog(f).unwrap();
        assert!(std::fs::read_to_string(f).unwrap().starts_with("#Arbiter"));
        total += intervals.len();
    }
    assert_eq!(total, 20);
}
