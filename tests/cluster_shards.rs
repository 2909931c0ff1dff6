//! Shards and venue-wide controls through the real binary and a real nats-server (started
//! here): two shards A and B, each its own leader process (replicas = 1, one NATS). A
//! session on A ordering one of B's instruments is refused with a text naming B and
//! nothing is journaled for it; `arbiter admin venue kill` reaches both shards, both
//! journal it and refuse new orders with the kill reason, and the CLI lists both answers;
//! a repeated delivery of the same request is applied once; with B stopped, the CLI
//! reports B as not answered and exits non-zero.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arbiter_cluster::server::{require_nats_server, LocalNatsServer};
use arbiter_cluster::{fan_out, NatsConnection, VenueAction, VenueRequest};
use common::{write_config, Client, Daemon};

const SHARDS: &str = "[[shards]]\nname = \"A\"\ninstruments = [\"AAPL\", \"ESZ6\"]\n\n\
                      [[shards]]\nname = \"B\"\ninstruments = [\"MSFT\", \"EURUSD\"]\n";

fn shard_config(dir: &Path, url: &str, shard: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = write_config(dir, "sync");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[cluster]\nnats_urls = [{url:?}]\nshard = {shard:?}\nnode_id = \"{shard}-1\"\n\
         replicas = 1\nlease_ttl_ms = 2000\nlease_renew_ms = 400\n\n{SHARDS}"
    ));
    std::fs::write(&path, text).unwrap();
    path
}

/// `arbiter admin --config FILE WORDS...` as the demo SRE: (exit success, stdout).
fn admin_cli(config: &Path, words: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .env("ARBITER_OPERATOR", "sre")
        .env("ARBITER_SECRET", "sre-demo")
        .args(["admin", "--config"])
        .arg(config)
        .args(words)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

/// Whether any journal segment of `dir` holds `needle` (annotations are journaled raw).
fn journal_holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir.join("data").join("journal"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path()).ok())
        .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
}

fn line<'a>(answer: &'a str, prefix: &str) -> &'a str {
    answer
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in {answer}"))
}

#[test]
fn shards_refuse_each_others_instruments_and_obey_venue_controls() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let nats = LocalNatsServer::start(&root.path().join("nats")).unwrap();
    let (dir_a, dir_b) = (root.path().join("a"), root.path().join("b"));
    let config_a = shard_config(&dir_a, &nats.url(), "A");
    let config_b = shard_config(&dir_b, &nats.url(), "B");
    let shard_a = Daemon::start(&config_a);
    let shard_b = Daemon::start(&config_b);

    // A session on A: its own instrument is accepted; B's is refused, naming B.
    let mut on_a = Client::connect(shard_a.port, "CLIENT1", "FIX.4.4");
    on_a.logon_reset();
    on_a.new_order("own-aapl-1", "AAPL", "1", "1", "10.00");
    on_a.exec_report("own-aapl-1", "0");
    on_a.new_order("cross-msft-1", "MSFT", "1", "1", "10.00");
    let refused = on_a.exec_report("cross-msft-1", "8");
    assert_eq!(
        refused.get(58),
        Some("instrument MSFT is traded on shard B, not on shard A"),
        "{refused:?}"
    );
    on_a.send(
        "F",
        &[
            (11, "cross-cxl-1"),
            (41, "cross-msft-1"),
            (55, "MSFT"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    let cancel = on_a.expect(
        |m| m.msg_type() == "9" && m.get(11) == Some("cross-cxl-1"),
        "OrderCancelReject",
    );
    assert_eq!(
        cancel.get(58),
        Some("instrument MSFT is traded on shard B, not on shard A")
    );
    on_a.send(
        "q",
        &[
            (11, "cross-mass-1"),
            (530, "1"),
            (55, "EURUSD"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    let mass = on_a.expect(|m| m.get(11) == Some("cross-mass-1"), "mass cancel refusal");
    assert_eq!(
        mass.get(58),
        Some("instrument EURUSD is traded on shard B, not on shard A")
    );
    // Journal before effect: the accepted order is journaled, the refused ones are not.
    assert!(journal_holds(&dir_a, b"own-aapl-1"));
    for refused in ["cross-msft-1", "cross-cxl-1", "cross-mass-1"] {
        assert!(!journal_holds(&dir_a, refused.as_bytes()), "{refused}");
    }
    // The admin socket refuses another shard's instrument too.
    assert_eq!(
        shard_a.admin(&["halt", "MSFT"]),
        "error: instrument MSFT is traded on shard B, not on shard A"
    );

    // A venue-wide kill from A's admin socket reaches both shards.
    let (ok, answer) = admin_cli(
        &config_a,
        &[
            "venue",
            "kill",
            "--timeout-ms",
            "20000",
            "drill",
            "shard",
            "test",
        ],
    );
    assert!(ok, "{answer}");
    for shard in ["A", "B"] {
        let reply = line(&answer, &format!("shard={shard} "));
        assert!(reply.contains("action=kill outcome=ok seq="), "{answer}");
    }
    assert!(
        answer
            .lines()
            .last()
            .unwrap()
            .starts_with("ok venue kill id="),
        "{answer}"
    );
    let id = line(&answer, "ok venue kill")
        .split(' ')
        .find_map(|w| w.strip_prefix("id="))
        .unwrap()
        .to_owned();
    // Each shard journaled it as its own command, with the operator and the request id.
    for dir in [&dir_a, &dir_b] {
        assert!(journal_holds(dir, format!("venue:{id}").as_bytes()));
        assert!(journal_holds(dir, b"operator=1 reason=venue:"));
    }
    // Trading is stopped on both: a new order is refused with the kill reason.
    on_a.new_order("after-kill-a", "AAPL", "1", "1", "10.00");
    let refused = on_a.exec_report("after-kill-a", "8");
    assert!(
        refused.get(58).is_some_and(|t| t.contains("kill switch")),
        "{refused:?}"
    );
    let mut on_b = Client::connect(shard_b.port, "CLIENT1", "FIX.4.4");
    on_b.logon_reset();
    on_b.new_order("after-kill-b", "MSFT", "1", "1", "10.00");
    let refused = on_b.exec_report("after-kill-b", "8");
    assert!(
        refused.get(58).is_some_and(|t| t.contains("kill switch")),
        "{refused:?}"
    );
    for daemon in [&shard_a, &shard_b] {
        assert!(
            daemon.admin(&["status"]).contains("kill_switches_active=1"),
            "{}",
            daemon.admin(&["status"])
        );
    }

    // A repeated delivery (same id) is answered with the first answer, not applied again.
    let request = VenueRequest {
        id: arbiter_cluster::venue::new_request_id(),
        action: VenueAction::Halt,
        operator_id: 1,
        operator: "sre".to_owned(),
        origin: "test".to_owned(),
        issued_unix_ms: arbiter_cluster::venue::unix_ms(),
        reason: "repeat".to_owned(),
    };
    let shards = ["A".to_owned(), "B".to_owned()];
    let connection = NatsConnection::new(nats.url());
    let first = fan_out(&connection, &request, &shards, Duration::from_secs(20)).unwrap();
    let second = fan_out(&connection, &request, &shards, Duration::from_secs(20)).unwrap();
    for shard in &shards {
        let (first, second) = (&first[shard], &second[shard]);
        assert!(first.contains("action=halt outcome=ok seq="), "{first}");
        assert_eq!(second, &format!("{first} repeated=true"));
    }
    // Two halts for two instruments per shard, not four.
    let seqs = first["A"].split("seq=").nth(1).unwrap();
    assert_eq!(seqs.split(',').count(), 2, "{seqs}");

    // Refused, not journaled: an operator unknown to the shards, a stale request, and a
    // role the origin's socket does not allow for the action.
    let stranger = VenueRequest {
        id: arbiter_cluster::venue::new_request_id(),
        operator_id: 99,
        operator: "mallory".to_owned(),
        ..request.clone()
    };
    let stale = VenueRequest {
        id: arbiter_cluster::venue::new_request_id(),
        issued_unix_ms: request.issued_unix_ms - 120_000,
        ..request.clone()
    };
    for (refused, why) in [(stranger, "no operator mallory"), (stale, "stale")] {
        let answers = fan_out(&connection, &refused, &shards, Duration::from_secs(20)).unwrap();
        for shard in &shards {
            let answer = &answers[shard];
            assert!(
                answer.contains("outcome=refused") && answer.contains(why),
                "{answer}"
            );
            assert!(!journal_holds(
                if shard == "A" { &dir_a } else { &dir_b },
                format!("venue:{}", refused.id).as_bytes()
            ));
        }
    }
    let (ok, answer) = admin_cli(&config_a, &["venue", "release"]);
    assert!(!ok);
    assert_eq!(answer, "error: role Operator may not run \"venue release\"");

    // With B stopped, B is reported as not answered and the CLI fails.
    assert!(shard_b.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = shard_b.wait();
    assert!(exit.success());
    let (ok, answer) = admin_cli(
        &config_a,
        &["venue", "resume", "--timeout-ms", "2000", "drill", "over"],
    );
    assert!(!ok, "{answer}");
    assert!(
        line(&answer, "shard=A ").contains("action=resume outcome=ok"),
        "{answer}"
    );
    assert_eq!(
        line(&answer, "shard=B "),
        "shard=B outcome=not-answered within_ms=2000"
    );
    let summary = answer.lines().last().unwrap();
    assert!(
        summary.starts_with("error: venue resume id=")
            && summary.contains("1 of 2 shards did not answer within 2000 ms (B)"),
        "{answer}"
    );
    assert!(shard_a.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = shard_a.wait();
    assert!(exit.success());
}
