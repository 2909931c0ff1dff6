//! A snapshot written by `arbiter-replay snapshot` from the journal alone restarts the
//! daemon: it says it used the file, reaches the digest a full replay reaches, and its
//! gateway knows the orders and positions from before.

mod common;

use clap::Parser;
use common::{write_config, Client, Daemon};

/// Runs the replay tool in-process and returns what it printed.
fn replay(args: &[&str]) -> String {
    let cli = arbiter_replay::Cli::try_parse_from(
        std::iter::once("arbiter-replay").chain(args.iter().copied()),
    )
    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut out = Vec::new();
    arbiter_replay::run(cli, &mut out).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    String::from_utf8(out).unwrap()
}

/// The text after `key` up to the next space, comma or quote.
fn value_after<'a>(text: &'a str, key: &str) -> &'a str {
    let rest = text
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("no {key:?} in {text}"));
    rest.split([' ', ',', '"', ')']).next().unwrap()
}

#[test]
fn a_restart_uses_a_snapshot_written_by_the_replay_tool() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sync");
    let daemon = Daemon::start(&config);
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon();
    let mut seller = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    seller.logon();
    // A buy rests, a sell trades 40 against it, a second buy rests.
    client.new_order("rb-1", "AAPL", "1", "100", "100.25");
    client.exec_report("rb-1", "0");
    seller.new_order("rs-1", "AAPL", "2", "40", "100.20");
    seller.exec_report("rs-1", "F");
    client.exec_report("rb-1", "F");
    client.new_order("rb-2", "AAPL", "1", "5", "99.00");
    client.exec_report("rb-2", "0");
    let client_seq = client.seq;
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    assert!(daemon.wait().0.success());

    // Only the replay tool's snapshot is left.
    let data = dir.path().join("data");
    let snapshots = data.join("snapshots");
    for entry in std::fs::read_dir(&snapshots).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let journal = data.join("journal");
    let journal = journal.to_str().unwrap();
    let full = replay(&[
        "book",
        journal,
        "--at-seq",
        &u64::MAX.to_string(),
        "--json",
        "--no-snapshots",
    ]);
    let (end_seq, end_digest) = (
        value_after(&full, "\"seq\":"),
        value_after(&full, "\"digest\":\""),
    );
    // Default directory: the daemon's, beside the journal.
    let written = replay(&["snapshot", journal]);
    assert!(
        written.starts_with(&format!("snapshot at seq {end_seq} ")),
        "{written}"
    );
    let file = snapshots.join(format!(
        "snapshot-{:020}.snap",
        end_seq.parse::<u64>().unwrap()
    ));
    assert!(written.contains(file.to_str().unwrap()), "{written}");
    assert!(
        written.contains(&format!("digest={end_digest}")),
        "{written}"
    );

    let daemon = Daemon::start(&config);
    let used = daemon
        .startup
        .iter()
        .find(|l| l.starts_with("arbiter: using snapshot"))
        .unwrap_or_else(|| panic!("no snapshot used: {:?}", daemon.startup));
    assert!(used.contains(file.to_str().unwrap()), "{used}");
    assert_eq!(value_after(used, "digest "), end_digest, "{used}");
    let state = daemon
        .startup
        .iter()
        .find(|l| l.starts_with("arbiter: live orders"))
        .unwrap();
    assert_eq!(
        state,
        &format!("arbiter: live orders 2, digest {end_digest}")
    );
    // The gateway's half came back too: order states and positions.
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.seq = client_seq;
    client.logon();
    client.send("H", &[(11, "rb-1"), (55, "AAPL"), (54, "1")]);
    let status = client.exec_report("rb-1", "I");
    assert_eq!(status.get(151), Some("60"));
    assert_eq!(status.get(14), Some("40"));
    client.send(
        "AN",
        &[
            (710, "pos"),
            (724, "0"),
            (715, "20261125"),
            (60, "20261125-10:00:00"),
        ],
    );
    let position = client.expect(|m| m.msg_type() == "AP", "PositionReport");
    assert_eq!(position.get(704), Some("40"));
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    assert!(daemon.wait().0.success());
}
