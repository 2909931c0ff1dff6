//! The leader against a 3-node NATS cluster (started here; the journal stream and the lease
//! bucket with 3 replicas), through the real binary with `replicated` durability: one node
//! lost keeps the quorum, so replication goes on; two lost is a lost quorum, and the
//! configured `on_replication_loss` applies (`halt`: new orders refused with the reason,
//! cancels still sequenced; `continue`: trading on local durability with the alarm), until
//! the nodes are back and replication has caught up. (The single-server halt case is in
//! `cluster_fencing.rs`.)

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbiter_cluster::server::{require_nats_server, wait_jetstream, LocalNatsServer};
use arbiter_cluster::NatsConnection;
use common::{write_cluster_config, Client, Daemon};

fn cluster_config(dir: &Path, urls: &[String], loss: &str) -> PathBuf {
    // A lease that outlives a NATS stream-leader election (seconds in 2.9), as in production.
    write_cluster_config(
        dir,
        &format!(
            "nats_urls = {urls:?}\nshard = \"Q\"\nnode_id = \"q1\"\nreplicas = 3\n\
             lease_ttl_ms = 6000\nlease_renew_ms = 500\non_replication_loss = {loss:?}\n\
             durability = \"replicated\""
        ),
        false,
    )
}

/// The value of `key=` in an admin status line.
fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {status}"))
}

fn number(status: &str, key: &str) -> u64 {
    field(status, key).parse().unwrap()
}

/// Polls `arbiter admin status` until `done` holds (60 s).
fn wait_status(leader: &Daemon, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = leader.admin(&["status"]);
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The server (`n0`..`n2`) leading a stream's Raft group.
fn leader_of(url: &str, stream: &str) -> usize {
    try_leader_of(url, stream).expect("the stream has a leader")
}

/// As [`leader_of`]; `None` while it has none (an election) or the server does not answer.
fn try_leader_of(url: &str, stream: &str) -> Option<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let name = runtime.block_on(async {
        let js = NatsConnection::new(url).jetstream().await.ok()?;
        let mut stream = js.get_stream(stream).await.ok()?;
        let info = stream.info().await.ok()?;
        info.cluster.as_ref()?.leader.clone()
    })?;
    name.strip_prefix('n')?.parse().ok()
}

/// The server leading the shard's journal stream.
fn stream_leader(url: &str) -> usize {
    leader_of(url, "ARBITER_Q")
}

/// Sends an order and returns its first execution report.
fn order(client: &mut Client, id: &str, price: &str) -> common::Fix {
    client.new_order(id, "AAPL", "1", "1", price);
    client.expect(
        |m| m.msg_type() == "8" && m.get(11) == Some(id),
        "an answer to the order",
    )
}

struct Setup {
    _root: tempfile::TempDir,
    nats: Vec<LocalNatsServer>,
    leader: Daemon,
    client: Client,
}

fn start(loss: &str) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let nats = LocalNatsServer::start_cluster(&root.path().join("nats"), 3).unwrap();
    let urls: Vec<String> = nats.iter().map(LocalNatsServer::url).collect();
    let leader = Daemon::start(&cluster_config(&root.path().join("q1"), &urls, loss));
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    client.new_order("up-1", "AAPL", "1", "1", "10.00");
    client.exec_report("up-1", "0");
    let status = leader.admin(&["status"]);
    assert!(status.contains("replication=replicating"), "{status}");
    Setup {
        _root: root,
        nats,
        leader,
        client,
    }
}

/// Brings the stopped nodes back and waits until the cluster's JetStream answers.
fn restart(nats: &mut [LocalNatsServer], stopped: &[usize]) {
    for &n in stopped {
        nats[n].restart().unwrap();
    }
    for server in nats.iter() {
        wait_jetstream(&server.url(), Duration::from_secs(60)).unwrap();
    }
}

/// Two nodes of three stopped: the stream leader's and one more (no quorum). Waits until
/// the leader shows replication lost with its reason and logs the configured `loss`
/// behaviour; returns the stopped nodes.
fn stop_two(setup: &mut Setup, loss: &str) -> Vec<usize> {
    let first = stream_leader(&setup.nats[0].url());
    let second = (first + 1) % 3;
    setup.nats[first].stop();
    setup.nats[second].stop();
    let lost = wait_status(&setup.leader, "replication=lost", |s| {
        s.contains("replication=lost")
    });
    assert!(lost.contains("replication_problem="), "{lost}");
    assert!(setup
        .leader
        .wait_line(
            &format!("on_replication_loss = {loss}"),
            Duration::from_secs(5)
        )
        .is_some());
    vec![first, second]
}

#[test]
fn one_nats_node_of_three_lost_replication_goes_on() {
    if !require_nats_server() {
        return;
    }
    let mut setup = start("halt");
    // A node that leads neither the journal stream nor the lease bucket: nothing to elect,
    // no order refused, replication never interrupted.
    let url = setup.nats[0].url();
    let (journal, lease) = (stream_leader(&url), leader_of(&url, "KV_arbiter_leases"));
    let follower = (0..3).find(|n| *n != journal && *n != lease).unwrap();
    setup.nats[follower].stop();
    for n in 0..20 {
        let report = order(&mut setup.client, &format!("follower-down-{n}"), "10.00");
        if report.get(150) != Some("0") {
            let log: Vec<String> = setup.leader.log.try_iter().collect();
            panic!(
                "order {n} with a follower NATS node down: {report:?}; the leader's log:\n{}",
                log.join("\n")
            );
        }
    }
    let status = setup.leader.admin(&["status"]);
    assert!(status.contains("replication=replicating"), "{status}");
    assert!(!status.contains("replication_problem="), "{status}");
    restart(&mut setup.nats, &[follower]);

    // The journal stream's leader: its followers elect a new one (seconds in 2.9: their
    // election timeout), then replication goes on by itself. Meanwhile an order is either
    // held until replicated or, once the loss outlasts the grace (half the lease TTL),
    // refused under `halt`: never acknowledged unreplicated.
    let url = setup.nats[follower].url();
    let lost = stream_leader(&url);
    setup.nats[lost].stop();
    let stopped = Instant::now();
    // For the log: when the stream has a new leader (NATS's own election time).
    let election = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if try_leader_of(&url, "ARBITER_Q").is_some_and(|n| n != lost) {
                return Some(stopped.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    });
    let mut resumed = None;
    for n in 0..600 {
        let report = order(&mut setup.client, &format!("leader-down-{n}"), "10.01");
        match report.get(150) {
            Some("0") => {
                resumed = Some(stopped.elapsed());
                break;
            }
            _ => assert!(
                report
                    .get(58)
                    .is_some_and(|t| t.contains("replication lost")),
                "{report:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let resumed = resumed.expect("replication never resumed with 2 of 3 NATS nodes");
    eprintln!(
        "the journal stream's leader lost: a new one elected after {:?}, the first order \
         acknowledged after {resumed:?}",
        election.join().unwrap()
    );
    wait_status(&setup.leader, "replication with 2 of 3", |s| {
        s.contains("replication=replicating") && number(s, "replication_lag_records") == 0
    });
    for n in 0..10 {
        let report = order(&mut setup.client, &format!("two-of-three-{n}"), "10.02");
        assert_eq!(report.get(150), Some("0"), "{report:?}");
    }
    let status = setup.leader.admin(&["status"]);
    assert!(status.contains("replication=replicating"), "{status}");
    assert!(number(&status, "replicated_seq") >= number(&status, "durable_seq") - 1);
    restart(&mut setup.nats, &[lost]);
    assert!(setup.leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = setup.leader.wait();
    assert!(exit.success());
}

#[test]
fn two_nats_nodes_of_three_lost_halt_refuses_new_orders_until_the_quorum_is_back() {
    if !require_nats_server() {
        return;
    }
    let mut setup = start("halt");
    setup.client.new_order("rest-1", "AAPL", "1", "1", "9.00");
    setup.client.exec_report("rest-1", "0");
    let stopped = stop_two(&mut setup, "halt");
    // New orders are refused with the reason.
    setup.client.new_order("down-1", "AAPL", "1", "1", "10.01");
    let refused = setup.client.exec_report("down-1", "8");
    assert!(
        refused
            .get(58)
            .is_some_and(|t| t.contains("replication lost")),
        "{refused:?}"
    );
    // A cancel is still sequenced (its report waits for replication like every report).
    let live = number(&setup.leader.admin(&["status"]), "live_orders");
    setup.client.send(
        "F",
        &[
            (41, "rest-1"),
            (11, "cxl-1"),
            (55, "AAPL"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    wait_status(&setup.leader, "the cancel applied", |s| {
        number(s, "live_orders") == live - 1
    });

    restart(&mut setup.nats, &stopped);
    wait_status(&setup.leader, "replication caught up", |s| {
        s.contains("replication=replicating") && number(s, "replication_lag_records") == 0
    });
    setup.client.exec_report("cxl-1", "4");
    setup.client.new_order("back-1", "AAPL", "1", "1", "10.02");
    setup.client.exec_report("back-1", "0");
    assert!(setup.leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = setup.leader.wait();
    assert!(exit.success());
}

#[test]
fn two_nats_nodes_of_three_lost_continue_trades_on_and_catches_up() {
    if !require_nats_server() {
        return;
    }
    let mut setup = start("continue");
    let stopped = stop_two(&mut setup, "continue");
    // Orders are acknowledged on local durability meanwhile.
    for n in 0..10 {
        let id = format!("local-{n}");
        setup
            .client
            .new_order(&id, "AAPL", "1", "1", &format!("10.{n:02}"));
        setup.client.exec_report(&id, "0");
    }
    let during = setup.leader.admin(&["status"]);
    assert!(during.contains("replication=lost"), "{during}");
    let journal_end = number(&during, "durable_seq");

    // Back: replication catches up to the journal's end, and the stream holds it.
    restart(&mut setup.nats, &stopped);
    let caught_up = wait_status(&setup.leader, "replication caught up", |s| {
        s.contains("replication=replicating")
            && number(s, "replicated_seq") >= journal_end
            && number(s, "replication_lag_records") == 0
    });
    assert!(!caught_up.contains("replication_problem="), "{caught_up}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["cluster", "status", "--config"])
        .arg(&setup.leader.config)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{line}");
    assert!(number(&line, "stream_last_seq") >= journal_end, "{line}");
    setup.client.new_order("back-1", "AAPL", "1", "1", "10.50");
    setup.client.exec_report("back-1", "0");
    assert!(setup.leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = setup.leader.wait();
    assert!(exit.success());
}
