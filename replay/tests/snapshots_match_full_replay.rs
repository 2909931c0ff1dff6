//! `snapshot` writes the state a full replay reaches; `book` and `check` started from a
//! snapshot print exactly what a full replay prints; damaged or foreign snapshots are
//! refused with a reason and the tool falls back.
mod common;

use std::path::{Path, PathBuf};

use arbiter::state::Replica;
use arbiter_journal::snapshot::{read_snapshot, write_snapshot};
use arbiter_replay::filter::Filter;
use arbiter_replay::source;
use arbiter_replay::walk::{walk, Flow};
use arbiter_replay::Replayer;
use common::{path_str, replay, replay_process, SEGMENT_BYTES, START_NS};

const COMMANDS: u64 = 3_000;

/// The demo configuration with small capacities: a snapshot holds the engine's tables at
/// their configured size (the default's ClOrdID memory of 65,536 per session alone makes
/// 34 MB files, slow in a debug build).
fn config_text() -> String {
    let text = arbiter_config::DEFAULT_CONFIG
        .replacen("orders_max = 262144", "orders_max = 8192", 1)
        .replacen(
            "levels_per_side_max = 16384",
            "levels_per_side_max = 1024",
            1,
        )
        .replacen(
            "\napprovals_required = 2\n",
            "\napprovals_required = 2\nclient_refs_per_session_max = 1024\n",
            1,
        );
    assert!(text.contains("client_refs_per_session_max = 1024"));
    assert_ne!(text, arbiter_config::DEFAULT_CONFIG);
    text
}

/// A synthetic journal (1 µs between commands, a DIGEST record every 250) around `mids`.
fn synthetic_around(dir: &Path, commands: u64, mids: Vec<i64>) {
    arbiter_replay::synthetic::write_synthetic(
        dir,
        &config_text(),
        mids,
        commands,
        250,
        START_NS,
        SEGMENT_BYTES,
    )
    .unwrap();
}

fn synthetic(dir: &Path, commands: u64) {
    synthetic_around(dir, commands, vec![15_000, 40_000, 500_000, 108_000]);
}

/// The engine digest a full replay reaches after `sequence`.
fn full_replay_digest(journal: &Path, sequence: u64) -> u64 {
    let (reader, venue) = source::open(journal, None).unwrap();
    let mut replayer = Replayer::new(venue, false);
    let mut filter = Filter::all();
    filter.to_seq = sequence;
    walk(&reader, &mut replayer, &filter, true, |_, _, _| {
        Ok(Flow::Continue)
    })
    .unwrap();
    replayer.engine.digest()
}

fn snapshot_at(journal: &Path, out: &Path, sequence: u64) -> PathBuf {
    let (_, printed) = replay(&[
        "snapshot",
        path_str(journal),
        "--at-seq",
        &sequence.to_string(),
        "--out",
        path_str(out),
    ]);
    assert!(
        printed.starts_with(&format!("snapshot at seq {sequence} ")),
        "{printed}"
    );
    let path = out.join(format!("snapshot-{sequence:020}.snap"));
    assert!(printed.contains(path_str(&path)), "{printed}");
    path
}

#[test]
fn a_snapshot_restores_to_the_full_replay_state() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    synthetic(&journal, COMMANDS);
    let out = dir.path().join("snaps");
    let text = config_text();
    let config = arbiter_config::Config::parse(&text).unwrap();
    for sequence in [2, 251, 1_234, 2_999] {
        let path = snapshot_at(&journal, &out, sequence);
        let snapshot = read_snapshot(&path).unwrap();
        assert_eq!(snapshot.sequence.0, sequence);
        let restored = Replica::restore(&config, &snapshot.state, &snapshot.digest).unwrap();
        assert_eq!(
            restored.engine.digest(),
            full_replay_digest(&journal, sequence),
            "snapshot at {sequence}"
        );
        assert_eq!(restored.last_config.as_deref(), Some(text.as_str()));
    }
    // A point by time: the last record at or before it.
    let (_, printed) = replay(&[
        "snapshot",
        path_str(&journal),
        "--at-time",
        "2024-03-01T09:30:00.000500Z",
        "--out",
        path_str(&out),
    ]);
    let sequence: u64 = printed["snapshot at seq ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sequence > 2 && sequence < COMMANDS, "{printed}");
    assert!(printed.contains("(2024-03-01T09:30:00.000"), "{printed}");
}

/// `book` through the binary with `--snapshots`: (stdout, stderr).
fn book_with_snapshots(journal: &Path, snaps: &Path, point: &[&str]) -> (String, String) {
    let mut args = vec!["book", path_str(journal), "--depth", "50"];
    args.extend_from_slice(point);
    args.extend_from_slice(&["--snapshots", path_str(snaps)]);
    let (code, stdout, stderr) = replay_process(&args);
    assert_eq!(code, 0, "{stderr}");
    (stdout, stderr)
}

fn book_full(journal: &Path, point: &[&str]) -> String {
    let mut args = vec!["book", path_str(journal), "--depth", "50"];
    args.extend_from_slice(point);
    args.push("--no-snapshots");
    replay(&args).1
}

#[test]
fn book_from_a_snapshot_prints_what_a_full_replay_prints() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    synthetic(&journal, COMMANDS);
    let snaps = dir.path().join("snaps");
    for sequence in [500, 1_500, 2_500] {
        snapshot_at(&journal, &snaps, sequence);
    }
    // At a snapshot, between snapshots, past the last one, the journal's end.
    for (at, used) in [
        (500, 500),
        (501, 500),
        (1_499, 500),
        (1_500, 1_500),
        (2_222, 1_500),
        (2_900, 2_500),
        (u64::MAX, 2_500),
    ] {
        let at = at.to_string();
        for json in [false, true] {
            let mut point = vec!["--at-seq", at.as_str()];
            if json {
                point.push("--json");
            }
            let (resumed, notes) = book_with_snapshots(&journal, &snaps, &point);
            let expected = format!(
                "using snapshot {}",
                snaps.join(format!("snapshot-{used:020}.snap")).display()
            );
            assert!(notes.contains(&expected), "at {at}: {notes}");
            assert_eq!(resumed, book_full(&journal, &point), "book at {at}");
            assert!(resumed.contains("clordid"), "{resumed}");
        }
    }
    // By time: the snapshot's own record time decides whether it fits.
    let (resumed, notes) =
        book_with_snapshots(&journal, &snaps, &["--at-time", "2024-03-01T09:30:00.002Z"]);
    assert!(notes.contains("using snapshot"), "{notes}");
    assert_eq!(
        resumed,
        book_full(&journal, &["--at-time", "2024-03-01T09:30:00.002Z"])
    );
    // Before the first snapshot: none fits, a full replay with a note.
    let (resumed, notes) = book_with_snapshots(&journal, &snaps, &["--at-seq", "499"]);
    assert!(notes.contains("no usable snapshot"), "{notes}");
    assert!(notes.contains("replaying the whole journal"), "{notes}");
    assert_eq!(resumed, book_full(&journal, &["--at-seq", "499"]));
}

#[test]
fn check_from_a_snapshot_checks_the_digests_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    synthetic(&journal, COMMANDS);
    let snaps = dir.path().join("snaps");
    snapshot_at(&journal, &snaps, 2_000);
    let (code, stdout, stderr) =
        replay_process(&["check", path_str(&journal), "--snapshots", path_str(&snaps)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("using snapshot"), "{stderr}");
    // 250 commands between digests: those after 2000 are checked, no more.
    let digests: u64 = stdout
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        stdout.starts_with("OK: ") && stdout.contains("from the snapshot at seq 2000"),
        "{stdout}"
    );
    let (_, full) = replay(&["check", path_str(&journal), "--no-snapshots"]);
    let all: u64 = full
        .split(", ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(digests >= 1 && digests < all, "{stdout} / {full}");
    // --to-seq before the snapshot: it does not fit.
    let (code, stdout, stderr) = replay_process(&[
        "check",
        path_str(&journal),
        "--to-seq",
        "1000",
        "--snapshots",
        path_str(&snaps),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("no usable snapshot"), "{stderr}");
    assert!(!stdout.contains("from the snapshot"), "{stdout}");
}

#[test]
fn damaged_snapshots_are_refused_and_the_tool_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    synthetic(&journal, COMMANDS);
    let snaps = dir.path().join("snaps");
    snapshot_at(&journal, &snaps, 1_000);
    let newest = snapshot_at(&journal, &snaps, 2_000);

    // A flipped byte in the newest: CRC mismatch, the older one is used instead.
    let mut bytes = std::fs::read(&newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&newest, &bytes).unwrap();
    let (resumed, notes) = book_with_snapshots(&journal, &snaps, &["--at-seq", "2100"]);
    assert!(
        notes.contains(&format!("snapshot {} refused", newest.display())),
        "{notes}"
    );
    assert!(notes.contains("CRC"), "{notes}");
    assert!(
        notes.contains("snapshot-00000000000000001000.snap"),
        "{notes}"
    );
    assert_eq!(resumed, book_full(&journal, &["--at-seq", "2100"]));

    // A whole file whose digest field lies: refused after the restore, full replay.
    let older = snaps.join(format!("snapshot-{:020}.snap", 1_000));
    let snapshot = read_snapshot(&older).unwrap();
    let lying = dir.path().join("lying");
    let mut digest = snapshot.digest;
    digest[0] ^= 1;
    write_snapshot(&lying, snapshot.sequence, digest, &snapshot.state).unwrap();
    let (resumed, notes) = book_with_snapshots(&journal, &lying, &["--at-seq", "1200"]);
    assert!(notes.contains("differs from the file's"), "{notes}");
    assert!(notes.contains("replaying the whole journal"), "{notes}");
    assert_eq!(resumed, book_full(&journal, &["--at-seq", "1200"]));

    // Another journal's state under the right name: the first DIGEST record after it
    // disagrees; book falls back, check re-checks from the start and finds no divergence.
    let other = tempfile::tempdir().unwrap();
    let other_journal = other.path().join("journal");
    synthetic_around(
        &other_journal,
        COMMANDS,
        vec![15_100, 40_100, 500_100, 108_100],
    );
    let foreign = dir.path().join("foreign");
    snapshot_at(&other_journal, &foreign, 1_000);
    let (resumed, notes) = book_with_snapshots(&journal, &foreign, &["--at-seq", "1600"]);
    assert!(notes.contains("using snapshot"), "{notes}");
    assert!(
        notes.contains("differs from the journal's DIGEST record"),
        "{notes}"
    );
    assert_eq!(resumed, book_full(&journal, &["--at-seq", "1600"]));
    let (code, stdout, stderr) = replay_process(&[
        "check",
        path_str(&journal),
        "--snapshots",
        path_str(&foreign),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("checking again from the journal's start"),
        "{stderr}"
    );
    assert!(!stdout.contains("from the snapshot"), "{stdout}");

    // Not a snapshot at all under a snapshot's name.
    let junk = dir.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join(format!("snapshot-{:020}.snap", 1_000)), b"junk").unwrap();
    let (resumed, notes) = book_with_snapshots(&journal, &junk, &["--at-seq", "1200"]);
    assert!(notes.contains("refused: "), "{notes}");
    assert_eq!(resumed, book_full(&journal, &["--at-seq", "1200"]));
}

#[test]
fn the_default_snapshot_directory_is_the_daemons() {
    // The daemon's layout: <data>/journal and <data>/snapshots.
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("data/journal");
    synthetic(&journal, 600);
    let (_, printed) = replay(&["snapshot", path_str(&journal), "--at-seq", "300"]);
    let path = dir
        .path()
        .join("data/snapshots/snapshot-00000000000000000300.snap");
    assert!(printed.contains(path_str(&path)), "{printed}");
    let (code, stdout, stderr) = replay_process(&["book", path_str(&journal), "--at-seq", "400"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("using snapshot"), "{stderr}");
    assert_eq!(stdout, book_full(&journal, &["--at-seq", "400"]));
    // Elsewhere: no default, and `snapshot` asks for --out.
    let bare = dir.path().join("copy");
    synthetic(&bare, 10);
    let cli = <arbiter_replay::Cli as clap::Parser>::try_parse_from([
        "arbiter-replay",
        "snapshot",
        path_str(&bare),
    ])
    .unwrap();
    let error = arbiter_replay::run(cli, &mut Vec::new()).unwrap_err();
    assert!(error.to_string().contains("--out DIR"), "{error}");
}
