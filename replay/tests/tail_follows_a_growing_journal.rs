//! `tail` prints records as a writer appends them, and stops at its bounds.
mod common;

use std::time::Duration;

use arbiter_engine::Side;
use arbiter_replay::synthetic::JournalBuilder;
use clap::Parser;
use common::{limit, path_str, AAPL, CONFIG, SEGMENT_BYTES, START_NS};

#[test]
fn tail_prints_records_written_after_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = JournalBuilder::create(dir.path(), SEGMENT_BYTES).unwrap();
    builder.config(START_NS, CONFIG).unwrap();
    builder
        .command(
            START_NS + 1,
            &limit(1, AAPL, 1, Side::Sell, 15_000, 10),
            b"A",
        )
        .unwrap();
    let path = dir.path().to_path_buf();
    // 1 config + 1 command now, 600 commands later (enough to roll into new segments).
    let total = 602u64;
    let follower = std::thread::spawn(move || {
        let max = total.to_string();
        let cli = arbiter_replay::Cli::try_parse_from([
            "arbiter-replay",
            "tail",
            path_str(&path),
            "--max-records",
            &max,
            "--timeout",
            "20",
        ])
        .unwrap();
        let mut out = Vec::new();
        arbiter_replay::run(cli, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    for n in 2..=601u64 {
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        builder
            .command(
                START_NS + n,
                &limit(n, AAPL, 1 + (n % 4) as u32, side, 15_000, 1),
                b"L",
            )
            .unwrap();
        if n % 100 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    builder.finish().unwrap();
    let text = follower.join().unwrap();
    let records: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(records.len() as u64, total, "{text}");
    assert!(records[0].starts_with("1 2024-03-01T09:30:00.000000Z CONFIG"));
    assert!(records[601].starts_with("602 "), "{}", records[601]);
    assert!(
        text.contains("    TRADE AAPL 1 @ 150.00"),
        "events are printed"
    );
}

#[test]
fn tail_stops_after_its_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    common::scenario(dir.path());
    let (_, text) = common::replay(&[
        "tail",
        path_str(dir.path()),
        "--timeout",
        "0.3",
        "--kind",
        "digest",
    ]);
    assert_eq!(text.lines().count(), 2, "{text}");
}
