//! Every reading command's filters select the records involving what was asked for.
mod common;

use common::{path_str, replay, scenario};

fn sequences(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn sequence_and_time_ranges() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let d = path_str(dir.path());
    let (_, text) = replay(&["dump", d, "--from-seq", "3", "--to-seq", "5"]);
    assert_eq!(sequences(&text), vec![3, 4, 5]);
    // Records are 1.25 ms apart from 09:30:00: seq 3 is at .002500, seq 5 at .005000.
    let (_, text) = replay(&[
        "dump",
        d,
        "--from-time",
        "2024-03-01T09:30:00.002500Z",
        "--to-time",
        "2024-03-01T09:30:00.005000Z",
    ]);
    assert_eq!(sequences(&text), vec![3, 4, 5]);
}

#[test]
fn order_instrument_account_strategy_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let d = path_str(dir.path());
    // Order 3: entered at seq 4, replaced at seq 9.
    assert_eq!(
        sequences(&replay(&["dump", d, "--order", "3"]).1),
        vec![4, 9]
    );
    // Order 1 rests, then is filled by order 4 at seq 5.
    assert_eq!(
        sequences(&replay(&["dump", d, "--order", "1"]).1),
        vec![2, 5]
    );
    // MSFT: the resting sell, the market buy, and the mass cancel that removed the rest.
    assert_eq!(
        sequences(&replay(&["dump", d, "--instrument", "MSFT"]).1),
        vec![11, 12, 13]
    );
    // ALGO1 (id 3): its two orders, its cancel, the fill of its MSFT sell, its mass cancel.
    let algo1 = vec![3, 10, 11, 12, 13];
    assert_eq!(
        sequences(&replay(&["dump", d, "--account", "ALGO1"]).1),
        algo1
    );
    assert_eq!(sequences(&replay(&["dump", d, "--account", "3"]).1), algo1);
    // Strategy 0 is account 3's (ALGO1) here.
    assert_eq!(sequences(&replay(&["dump", d, "--strategy", "0"]).1), algo1);
    assert_eq!(
        sequences(&replay(&["dump", d, "--kind", "trade"]).1),
        vec![5, 12]
    );
    assert_eq!(
        sequences(&replay(&["dump", d, "--kind", "digest"]).1),
        vec![6, 15]
    );
    assert_eq!(
        sequences(&replay(&["dump", d, "--kind", "rejected"]).1),
        vec![7, 14]
    );
    assert_eq!(
        sequences(&replay(&["dump", d, "--kind", "new_order", "--instrument", "ESZ6"]).1),
        vec![7, 8]
    );
}

#[test]
fn filters_apply_to_exports_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let d = path_str(dir.path());
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("lifecycle.csv");
    let (_, printed) = replay(&[
        "export",
        d,
        "--format",
        "csv",
        "--table",
        "lifecycle",
        "--order",
        "3",
        "--out",
        path_str(&file),
    ]);
    assert!(printed.starts_with("2 rows written"), "{printed}");
    let csv = std::fs::read_to_string(&file).unwrap();
    let statuses: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(14).unwrap())
        .collect();
    assert_eq!(statuses, vec!["NEW", "REPLACED"]);
    let (_, stats) = replay(&["stats", d, "--instrument", "AAPL"]);
    assert!(stats.contains("  NEW_ORDER        4\n"), "{stats}");
    assert!(stats.contains("  TRADE            1\n"), "{stats}");
}
