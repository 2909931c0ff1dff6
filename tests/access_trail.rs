//! The access trail records the refusals of an end-to-end run, and the journal and the
//! trail verify against the venue's public key: a bad admin login, an admin request refused
//! by role, a FIX logon, an order for an unknown account (refused), a logout.

mod common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use arbiter_journal::trail::{
    AccessEvent, AccessOutcome, ACCESS_ADMIN, ACCESS_LOGON, ACCESS_LOGOUT, ACCESS_REFUSED,
};
use arbiter_journal::{verify_signed, Reader, Sequence, SigningKey};
use common::{write_config, Client, Daemon};

const SEED_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// Enables signing in the test configuration with a key file of the given mode.
fn signed_config(dir: &Path, mode: u32) -> std::path::PathBuf {
    let config = write_config(dir, "sync");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[journal]\n",
        "[journal]\nsigning_key = \"venue.key\"\nverify_interval_ms = 200\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut key = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(data.join("venue.key"))
        .unwrap();
    writeln!(key, "{SEED_HEX}").unwrap();
    config
}

fn events(dir: &Path) -> Vec<AccessEvent> {
    let reader = Reader::open(dir).expect("access trail");
    reader
        .iter_from_seq(Sequence(0))
        .map(|r| {
            let view = r.expect("record");
            AccessEvent::decode(view.record_type(), view.payload()).expect("access event")
        })
        .collect()
}

#[test]
fn access_trail_records_refusals_and_everything_verifies_signed() {
    let dir = tempfile::tempdir().unwrap();
    let config = signed_config(dir.path(), 0o600);
    let daemon = Daemon::start(&config);

    assert_eq!(
        daemon.admin_as("audit", "wrong", &["status"]),
        "error: not authenticated"
    );
    assert!(daemon
        .admin_as("audit", "audit-demo", &["halt", "AAPL"])
        .starts_with("error: role"));
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon();
    client.send(
        "D",
        &[
            (11, "bad-account-1"),
            (1, "NO-SUCH-ACCOUNT"),
            (55, "AAPL"),
            (54, "1"),
            (38, "10"),
            (40, "2"),
            (44, "100.25"),
            (59, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    let reject = client.exec_report("bad-account-1", "8");
    assert_eq!(reject.get(39), Some("8"));
    client.send("5", &[(58, "done")]);
    let _ = client.wait_closed();
    let status = daemon.admin(&["status"]);
    assert!(status.contains("signing=on"), "{status}");
    assert!(status.contains("trail_dropped=0"), "{status}");
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (exit, log) = daemon.wait();
    assert!(exit.success(), "{log:?}");

    let data = dir.path().join("data");
    let trail = events(&data.join("access"));
    let find = |what: &str, pred: &dyn Fn(&AccessEvent) -> bool| {
        assert!(
            trail.iter().any(pred),
            "no {what} in the access trail: {trail:#?}"
        );
    };
    find("bad admin login", &|e| {
        e.kind == ACCESS_ADMIN
            && e.outcome == AccessOutcome::Refused
            && e.principal == "audit"
            && e.reason == "bad credentials"
            && !e.action.contains("wrong")
    });
    find("role refusal", &|e| {
        e.kind == ACCESS_ADMIN
            && e.outcome == AccessOutcome::Refused
            && e.action == "halt AAPL"
            && e.reason.starts_with("error: role")
    });
    find("accepted read-only request", &|e| {
        e.kind == ACCESS_ADMIN && e.outcome == AccessOutcome::Accepted && e.action == "status"
    });
    find("FIX logon", &|e| {
        e.kind == ACCESS_LOGON
            && e.outcome == AccessOutcome::Accepted
            && e.principal == "CLIENT1"
            && e.source.starts_with("127.0.0.1:")
    });
    find("refused order", &|e| {
        e.kind == ACCESS_REFUSED && e.principal == "CLIENT1" && e.action == "MsgType=D"
    });
    find("logout", &|e| {
        e.kind == ACCESS_LOGOUT && e.principal == "CLIENT1"
    });

    // The journal and the trail verify against the public key, every seal signed.
    let public = SigningKey::from_seed([7; 32]).public_key();
    for dir in [data.join("journal"), data.join("access")] {
        let report = verify_signed(&dir, &public, None).expect("verify");
        assert!(
            report.is_ok(),
            "{}: {:?}",
            dir.display(),
            report.first_problem
        );
        assert!(report.signed_seals > 0, "{}", dir.display());
        assert_eq!(report.unsigned_seals, 0, "{}", dir.display());
    }
}

#[test]
fn a_signing_key_others_can_read_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = signed_config(dir.path(), 0o644);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(
        !dir.path().join("data/journal").exists(),
        "nothing is opened"
    );
}
