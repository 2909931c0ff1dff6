//! Dump, export and book outputs of a small journal match reviewed golden files.
mod common;

use common::{golden, path_str, replay, scenario};

#[test]
fn dump_text_and_json_match_golden() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let d = path_str(dir.path());
    let (_, text) = replay(&["dump", d, "--from-seq", "2"]);
    golden("dump.txt", &text);
    let (_, json) = replay(&["dump", d, "--json", "--from-seq", "2"]);
    golden("dump.jsonl", &json);
    for line in json.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn csv_exports_match_golden() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let out = tempfile::tempdir().unwrap();
    for table in ["commands", "events", "trades", "lifecycle"] {
        let file = out.path().join(format!("{table}.csv"));
        let (_, printed) = replay(&[
            "export",
            path_str(dir.path()),
            "--format",
            "csv",
            "--table",
            table,
            "--out",
            path_str(&file),
        ]);
        assert!(printed.contains("rows written"), "{printed}");
        golden(
            &format!("{table}.csv"),
            &std::fs::read_to_string(&file).unwrap(),
        );
    }
}

#[test]
fn book_at_several_points_matches_golden() {
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path());
    let d = path_str(dir.path());
    for seq in ["4", "5", "10", "15"] {
        let (_, text) = replay(&["book", d, "--at-seq", seq, "--depth", "5"]);
        golden(&format!("book-{seq}.txt"), &text);
    }
    let (_, json) = replay(&[
        "book",
        d,
        "--at-seq",
        "10",
        "--json",
        "--instrument",
        "AAPL",
    ]);
    golden("book-10-aapl.json", &json);
    // 09:30:00.005000 is the timestamp of seq 5: --at-time gives the same book as --at-seq.
    let (_, by_time) = replay(&[
        "book",
        d,
        "--at-time",
        "2024-03-01T09:30:00.005000Z",
        "--depth",
        "5",
    ]);
    let (_, by_seq) = replay(&["book", d, "--at-seq", "5", "--depth", "5"]);
    assert_eq!(by_time, by_seq);
}
