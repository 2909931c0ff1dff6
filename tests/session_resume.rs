//! FIX sessions resume at their sequence numbers from the journal alone: the daemon is
//! killed, its per-node FIX store deleted (what a standby taking over does not have), and
//! the client logs on again with its own numbers, without ResetSeqNumFlag. The venue must
//! answer above everything it sent (the gap is filled on request), expect exactly the
//! client's next number for what was journaled, and ask for the rest.

mod common;

use common::{write_config, Client, Daemon};

fn order_and_ack(client: &mut Client, id: &str, price: &str) {
    client.new_order(id, "AAPL", "1", "1", price);
    client.exec_report(id, "0");
}

#[test]
fn a_session_resumes_from_the_journal_after_its_store_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sync");
    let mut daemon = Daemon::start(&config);
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    for n in 0..5 {
        order_and_ack(&mut client, &format!("before-{n}"), &format!("10.0{n}"));
    }
    // A message the journal never sees (no command): the venue's inbound number moves on.
    client.send("1", &[(112, "ping")]);
    client.expect(|m| m.msg_type() == "0", "Heartbeat");
    let last_received = client.last_received;
    daemon.kill9();

    // A restart with its store: the exact numbers, no gap.
    daemon = Daemon::start(&config);
    let mut resumed = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    resumed.seq = client.seq;
    let logon = resumed.logon_resume();
    assert_eq!(
        logon.get(34),
        Some((last_received + 1).to_string().as_str()),
        "a plain restart keeps the store's numbers: {logon:?}"
    );
    assert_eq!(resumed.sync_after_logon(), None, "nothing to ask for");
    order_and_ack(&mut resumed, "after-restart", "10.10");
    // Again a message without a command, after the last journaled one.
    let unjournaled = resumed.seq;
    resumed.send("1", &[(112, "ping-2")]);
    resumed.expect(|m| m.msg_type() == "0", "Heartbeat");
    client.seq = resumed.seq;
    let last_received = resumed.last_received;
    drop(resumed);
    daemon.kill9();

    // The store is gone: only the journal knows the session.
    std::fs::remove_dir_all(dir.path().join("data").join("fix-store")).unwrap();
    daemon = Daemon::start(&config);
    assert!(
        daemon
            .startup
            .iter()
            .any(|line| line.contains("CLIENT1") && line.contains("Replaced from the journal")),
        "start-up names the session it took from the journal: {:?}",
        daemon.startup
    );
    let mut resumed = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    resumed.seq = client.seq;
    let logon = resumed.logon_resume();
    let venue_seq: u64 = logon.get(34).unwrap().parse().unwrap();
    assert!(
        venue_seq > last_received,
        "the venue's Logon ({venue_seq}) must be above what it sent before ({last_received})"
    );
    // The journal knows the inbound number up to the last order: the venue asks for what
    // came after it (the TestRequest), which the client fills.
    assert_eq!(
        resumed.sync_after_logon().map(|(begin, _)| begin),
        Some(unjournaled),
        "the venue asks from the first message it has no command of"
    );
    // Ask for the gap the venue left: it is filled, not resent (this node never sent it).
    let from = (last_received + 1).to_string();
    resumed.send("2", &[(7, &from), (16, "0")]);
    let fill = resumed.expect(|m| m.msg_type() == "4", "SequenceReset-GapFill");
    assert_eq!(fill.get(123), Some("Y"), "{fill:?}");
    assert_eq!(fill.get(34), Some(from.as_str()), "{fill:?}");
    let new_seq: u64 = fill.get(36).unwrap().parse().unwrap();
    assert!(
        new_seq > venue_seq,
        "the gap fill covers the venue's Logon and ResendRequest too: {fill:?}"
    );
    // Orders go on, and every earlier one is still known under its ClOrdID.
    order_and_ack(&mut resumed, "after-store-lost", "10.20");
    resumed.send("H", &[(11, "before-3"), (55, "AAPL"), (54, "1")]);
    let status = resumed.expect(
        |m| m.msg_type() == "8" && m.get(11) == Some("before-3"),
        "order status",
    );
    assert_eq!(status.get(39), Some("0"), "{status:?}");
}
