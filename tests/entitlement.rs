//! Entitlements through the real binary and real TCP: a session entitled to one account of
//! its firm is refused ("not entitled", naming nothing) for another account of the same firm
//! and for another firm's account, on every kind of request; a drop-copy session sees only
//! its entitled accounts; the access trail records every refusal.

mod common;

use std::cell::RefCell;
use std::path::Path;

use arbiter_journal::trail::{AccessEvent, AccessOutcome, ACCESS_REFUSED};
use arbiter_journal::{Reader, Sequence};
use common::{write_config, Client, Daemon, Fix};

/// The demo configuration with CLIENT1 and DROPCOPY1 entitled to ACC1 only (firm 1 also has
/// ACC2, which CLIENT2 trades).
fn config(dir: &Path) -> std::path::PathBuf {
    let path = write_config(dir, "sync");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for comp_id in ["CLIENT1", "DROPCOPY1"] {
        let from = format!("target_comp_id = \"{comp_id}\"\n");
        assert_eq!(text.matches(&from).count(), 1);
        text = text.replacen(&from, &format!("{from}accounts = [\"ACC1\"]\n"), 1);
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn trail(dir: &Path) -> Vec<AccessEvent> {
    let reader = Reader::open(dir).expect("access trail");
    reader
        .iter_from_seq(Sequence(0))
        .map(|r| {
            let view = r.expect("record");
            AccessEvent::decode(view.record_type(), view.payload()).expect("access event")
        })
        .collect()
}

/// A refusal names nothing of the account asked for nor of its firm.
fn assert_names_nothing(reply: &Fix) {
    assert_eq!(reply.get(58), Some("not entitled"), "{reply:?}");
    for (tag, value) in &reply.0 {
        for secret in ["ACC2", "ALGO1", "Demo", "Fund", "firm"] {
            assert!(
                !value.contains(secret),
                "tag {tag} names {secret}: {reply:?}"
            );
        }
    }
    assert_eq!(reply.get(1), None, "{reply:?}");
}

fn order_for(client: &mut Client, cl_ord_id: &str, account: &str) {
    client.send(
        "D",
        &[
            (11, cl_ord_id),
            (1, account),
            (55, "AAPL"),
            (54, "1"),
            (38, "10"),
            (40, "2"),
            (44, "100.25"),
            (59, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
}

#[test]
fn a_session_acts_only_for_its_entitled_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let daemon = Daemon::start(&config);
    let mut drop_copy = Client::connect(daemon.port, "DROPCOPY1", "FIX.4.4");
    drop_copy.logon();
    let mut other = Client::connect(daemon.port, "CLIENT2", "FIX.4.4");
    other.logon();
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon();

    // CLIENT2 trades ACC2 (same firm, not in DROPCOPY1's entitlement), then CLIENT1 trades
    // ACC1: the drop copy receives the second and never the first.
    order_for(&mut other, "c2-1", "ACC2");
    other.exec_report("c2-1", "0");
    order_for(&mut client, "ok-1", "ACC1");
    let ack = client.exec_report("ok-1", "0");
    assert_eq!(ack.get(1), Some("ACC1"));
    let seen = RefCell::new(Vec::new());
    drop_copy.expect(
        |m| {
            seen.borrow_mut().push(m.get(11).unwrap_or("").to_owned());
            m.msg_type() == "8" && m.get(11) == Some("ok-1")
        },
        "drop copy of ok-1",
    );
    assert!(
        !seen.borrow().iter().any(|c| c == "c2-1"),
        "the drop copy saw an account it is not entitled to: {seen:?}"
    );

    // Orders: another account of the same firm, another firm's account, an unknown one.
    for (cl_ord_id, account) in [("no-1", "ACC2"), ("no-2", "ALGO1"), ("no-3", "NOPE")] {
        order_for(&mut client, cl_ord_id, account);
        let reply = client.exec_report(cl_ord_id, "8");
        assert_eq!(reply.get(39), Some("8"));
        assert_names_nothing(&reply);
    }
    // Cancel, replace and status of an entitled order, naming a foreign account.
    client.send(
        "F",
        &[
            (11, "cx-1"),
            (41, "ok-1"),
            (1, "ALGO1"),
            (55, "AAPL"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    let reply = client.expect(
        |m| m.msg_type() == "9" && m.get(11) == Some("cx-1"),
        "cancel reject",
    );
    assert_names_nothing(&reply);
    client.send(
        "G",
        &[
            (11, "rp-1"),
            (41, "ok-1"),
            (1, "ACC2"),
            (55, "AAPL"),
            (54, "1"),
            (38, "5"),
            (40, "2"),
            (44, "100.00"),
            (60, "20261125-10:00:00"),
        ],
    );
    let reply = client.expect(
        |m| m.msg_type() == "9" && m.get(11) == Some("rp-1"),
        "replace reject",
    );
    assert_names_nothing(&reply);
    client.send("H", &[(11, "ok-1"), (1, "ALGO1"), (55, "AAPL"), (54, "1")]);
    let reply = client.exec_report("ok-1", "I");
    assert_eq!(reply.get(39), Some("8"));
    assert_names_nothing(&reply);
    // Mass cancel and positions of another firm's account.
    client.send(
        "q",
        &[
            (11, "mc-1"),
            (530, "7"),
            (1, "ALGO1"),
            (60, "20261125-10:00:00"),
        ],
    );
    let reply = client.expect(|m| m.get(11) == Some("mc-1"), "mass cancel refusal");
    assert_names_nothing(&reply);
    client.send(
        "AN",
        &[
            (710, "pos-1"),
            (724, "0"),
            (1, "ACC2"),
            (715, "20261125"),
            (60, "20261125-10:00:00"),
        ],
    );
    let reply = client.expect(|m| m.msg_type() == "j", "positions refusal");
    assert_names_nothing(&reply);
    // The entitled order is untouched, and the entitled account still works.
    client.send("H", &[(11, "ok-1"), (55, "AAPL"), (54, "1")]);
    assert_eq!(client.exec_report("ok-1", "I").get(39), Some("0"));
    client.send(
        "F",
        &[
            (11, "cx-2"),
            (41, "ok-1"),
            (1, "ACC1"),
            (55, "AAPL"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    client.exec_report("cx-2", "4");

    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, log) = daemon.wait();
    assert!(status.success(), "{log:?}");

    let refusals: Vec<String> = trail(&dir.path().join("data/access"))
        .into_iter()
        .filter(|e| {
            e.kind == ACCESS_REFUSED
                && e.outcome == AccessOutcome::Refused
                && e.principal == "CLIENT1"
                && e.reason == "not entitled"
        })
        .map(|e| e.action)
        .collect();
    for msg_type in ["D", "F", "G", "H", "q", "AN"] {
        assert!(
            refusals.contains(&format!("MsgType={msg_type}")),
            "no refusal of {msg_type} in the trail: {refusals:?}"
        );
    }
    assert_eq!(refusals.len(), 8, "{refusals:?}");
}
