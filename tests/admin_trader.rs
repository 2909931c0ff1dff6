//! The admin `trader` role through the real binary: bound to one account of its firm, it
//! reads that account's positions and orders and nothing else; every other request is
//! refused and recorded in the access trail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use arbiter_journal::trail::{AccessEvent, AccessOutcome, ACCESS_ADMIN};
use arbiter_journal::{Reader, Sequence};
use common::{write_config, Client, Daemon};

const SECRET: &str = "desk1-test-secret";

/// `arbiter config hash-password` with the password piped on stdin.
fn hash_password(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["config", "hash-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn trail(dir: &std::path::Path) -> Vec<AccessEvent> {
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
fn a_trader_reads_only_its_own_positions_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sync");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[admin.operators]]\nid = 5\nname = \"desk1\"\nrole = \"trader\"\nfirm = 1\n\
         accounts = [\"ACC1\"]\npassword_hash = {:?}\n",
        hash_password(SECRET)
    ));
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config);

    // ACC1 (firm 1) buys 10 AAPL from ALGO1 (firm 2); ACC1 and ACC2 (firm 1) rest orders.
    let mut acc1 = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    acc1.logon();
    let mut acc2 = Client::connect(daemon.port, "CLIENT2", "FIX.4.4");
    acc2.logon();
    let mut algo1 = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    algo1.logon();
    algo1.new_order("algo-sell", "AAPL", "2", "10", "100.00");
    algo1.exec_report("algo-sell", "0");
    acc1.new_order("acc1-buy", "AAPL", "1", "10", "100.00");
    acc1.exec_report("acc1-buy", "F");
    acc1.new_order("acc1-rest", "MSFT", "1", "5", "50.00");
    acc1.exec_report("acc1-rest", "0");
    acc2.new_order("acc2-rest", "MSFT", "1", "7", "49.00");
    acc2.exec_report("acc2-rest", "0");
    algo1.new_order("algo-rest", "MSFT", "1", "3", "48.00");
    algo1.exec_report("algo-rest", "0");

    let trader = |words: &[&str]| daemon.admin_as("desk1", SECRET, words);
    let positions = trader(&["positions"]);
    assert_eq!(
        positions, "ok positions=1 | account=ACC1 symbol=AAPL position=10",
        "{positions}"
    );
    let orders = trader(&["orders"]);
    assert!(orders.starts_with("ok orders=1 | "), "{orders}");
    assert!(
        orders.contains(
            "clordid=acc1-rest account=ACC1 symbol=MSFT side=buy price=50.00 qty=5 leaves=5"
        ),
        "{orders}"
    );
    for other in ["ACC2", "ALGO", "acc2-rest", "algo-rest"] {
        assert!(!orders.contains(other), "{orders}");
        assert!(!positions.contains(other), "{positions}");
    }
    // The auditor reads every account.
    let all = daemon.admin_as("audit", "audit-demo", &["orders"]);
    assert!(all.starts_with("ok orders=3 | "), "{all}");
    assert!(
        all.contains("acc2-rest") && all.contains("algo-rest"),
        "{all}"
    );
    let all = daemon.admin_as("audit", "audit-demo", &["positions"]);
    assert!(
        all.contains("account=ALGO1 symbol=AAPL position=-10"),
        "{all}"
    );
    // Everything else is refused.
    for words in [&["status"][..], &["dump"], &["halt", "AAPL"], &["shutdown"]] {
        let answer = trader(words);
        assert!(
            answer.starts_with(&format!("error: role Trader may not run {:?}", words[0])),
            "{words:?}: {answer}"
        );
    }

    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, log) = daemon.wait();
    assert!(status.success(), "{log:?}");
    let events = trail(&dir.path().join("data/access"));
    let by_desk1 = |outcome: AccessOutcome| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.kind == ACCESS_ADMIN && e.principal == "desk1" && e.outcome == outcome)
            .map(|e| e.action.clone())
            .collect()
    };
    assert_eq!(by_desk1(AccessOutcome::Accepted), ["positions", "orders"]);
    assert_eq!(
        by_desk1(AccessOutcome::Refused),
        ["status", "dump", "halt AAPL", "shutdown"]
    );
}
