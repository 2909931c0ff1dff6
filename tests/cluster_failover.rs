//! Failover through the real binary and a real nats-server (started here): a leader with
//! `replicated` durability and a hot standby; a FIX client sends orders, the leader is killed
//! with SIGKILL while orders are in flight, the standby takes over, and every order the
//! client saw acknowledged is known to the new leader, once. Failover time (kill to the
//! first accepted Logon) is printed per round.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbiter_cluster::server::{require_nats_server, LocalNatsServer};
use arbiter_journal::{Reader, Sequence};
use common::{cluster_status, write_cluster_config, Client, Daemon};

/// Kills per run; `ARBITER_FAILOVER_ROUNDS` asks for more (a longer run outside CI).
fn rounds() -> usize {
    std::env::var("ARBITER_FAILOVER_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50)
}
/// Orders per round: 120, fewer in long runs (a session's ClOrdIDs are capped per trading
/// day at 65,536; past that orders are refused, "ClOrdID capacity for the day reached").
fn orders_per_round(rounds: usize) -> usize {
    (60_000 / rounds.max(1)).clamp(40, 120)
}
const EPOCH_RECORD: u16 = 4;
const CONFIG_RECORD: u16 = 3;

/// The NATS side of a run: its URLs and the replicas of the stream and lease bucket.
struct Nats {
    urls: Vec<String>,
    replicas: usize,
}

fn cluster_config(dir: &Path, nats: &Nats, node: &str, role: &str) -> PathBuf {
    // No snapshot agent: nothing here reads snapshots (recovery after a take-over replays
    // the journal the standby built).
    let (urls, replicas) = (&nats.urls, nats.replicas);
    write_cluster_config(
        dir,
        &format!(
            "nats_urls = {urls:?}\nshard = \"A\"\nnode_id = {node:?}\nreplicas = {replicas}\n\
             lease_ttl_ms = 1000\nlease_renew_ms = 200\nrole = {role:?}\n\
             durability = \"replicated\""
        ),
        false,
    )
}

fn journal_dir(node_dir: &Path) -> PathBuf {
    node_dir.join("data").join("journal")
}

/// Asks for each order's status; every one must be known (an order id, not "unknown").
fn assert_known(client: &mut Client, ids: &[String], round: usize) {
    for id in ids {
        client.send("H", &[(11, id), (55, "AAPL"), (54, "1")]);
        let status = client.expect(
            |m| m.msg_type() == "8" && m.get(11) == Some(id.as_str()),
            "order status",
        );
        assert_eq!(status.get(150), Some("I"), "{status:?}");
        assert_ne!(
            status.get(37),
            Some("NONE"),
            "round {round}: acknowledged order {id} unknown to the new leader: {status:?}"
        );
    }
}

/// The records the new leader took over (everything before its own configuration and epoch
/// records) are the old leader's, byte for byte.
fn assert_journals_agree(old: &Path, new: &Path, new_node: &str) {
    let new_reader = Reader::open(new).unwrap();
    let new_records: Vec<(u64, u16, Vec<u8>)> = new_reader
        .iter_from_seq(Sequence(1))
        .map(|r| {
            let r = r.unwrap();
            (r.sequence().0, r.record_type().0, r.payload().to_vec())
        })
        .collect();
    let marker = format!("node={new_node} ");
    let takeover = new_records
        .iter()
        .position(|(_, kind, payload)| {
            *kind == EPOCH_RECORD && String::from_utf8_lossy(payload).starts_with(&marker)
        })
        .expect("the new leader journaled its epoch");
    // Its configuration record (its node id differs) comes right before the epoch record.
    let mut end = takeover;
    if end > 0 && new_records[end - 1].1 == CONFIG_RECORD {
        end -= 1;
    }
    let old_reader = Reader::open(old).unwrap();
    let old_records: Vec<(u64, u16, Vec<u8>)> = old_reader
        .iter_from_seq(Sequence(1))
        .take(end)
        .map(|r| {
            let r = r.unwrap();
            (r.sequence().0, r.record_type().0, r.payload().to_vec())
        })
        .collect();
    assert_eq!(
        old_records.len(),
        end,
        "the old journal is shorter than what was replicated"
    );
    assert!(
        old_records == new_records[..end],
        "journals differ before the take-over"
    );
}

#[test]
fn standby_takes_over_with_every_acknowledged_order() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start(&root.path().join("nats")).unwrap();
    let nats = Nats {
        urls: vec![server.url()],
        replicas: 1,
    };
    failover_rounds(root.path(), &nats, rounds());
}

/// The same on a 3-node NATS cluster with 3 replicas (the production shape): fewer rounds,
/// each slower (every publish and lease update goes through a quorum on these 2 cores).
#[test]
fn standby_takes_over_on_a_three_node_nats_cluster() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let servers = LocalNatsServer::start_cluster(&root.path().join("nats"), 3).unwrap();
    let nats = Nats {
        urls: servers.iter().map(LocalNatsServer::url).collect(),
        replicas: 3,
    };
    failover_rounds(root.path(), &nats, 3);
}

/// `rounds` kills of the leader under load, a fresh standby taking over each time.
fn failover_rounds(root: &Path, nats: &Nats, rounds: usize) {
    let node_dir = |n: usize| root.join(format!("n{n}"));
    let mut leader = Daemon::start(&cluster_config(&node_dir(0), nats, "n0", "leader"));

    // Only one leader: another node configured as leader refuses to start, naming the holder.
    let intruder = cluster_config(&root.join("intruder"), nats, "intruder", "leader");
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(&intruder)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("held by node \"n0\"") && stderr.contains("refusing to start as leader"),
        "{stderr}"
    );

    let mut acked: Vec<String> = Vec::new();
    let mut sent = 0usize;
    let mut failover_ms = Vec::new();
    let mut last_failover_ms = None;
    for round in 0..rounds {
        // A fresh standby each round (the killed leader's data directory is kept to compare).
        let standby_node = format!("n{}", round + 1);
        let standby = Daemon::start_until(
            &cluster_config(&node_dir(round + 1), nats, &standby_node, "leader"),
            &["--standby"],
            "refusing FIX logons on ",
        );
        if round == 0 {
            // The standby registers: `arbiter cluster status` lists it with its journal.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let status = cluster_status(&standby.config);
                if status.contains("standby shard=A node=n1 journal_seq=") {
                    assert!(status.contains(" standbys=1 "), "{status}");
                    assert!(status.contains("last_failover=none"), "{status}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the standby never registered: {status}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let mut probe = Client::connect(standby.port, "CLIENT1", "FIX.4.4");
            probe.send("A", &[(98, "0"), (108, "30"), (141, "Y")]);
            let logout = probe.expect(|m| m.msg_type() == "5", "standby Logout");
            assert!(
                logout.get(58).is_some_and(|t| t.contains("standby")),
                "{logout:?}"
            );
        }
        let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
        client.logon_reset();
        let ids: Vec<String> = (0..orders_per_round(rounds))
            .map(|n| format!("r{round}-o{n}"))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let price = format!("{}.{:02}", 10 + n / 100, n % 100);
            client.new_order(id, "AAPL", "1", "1", &price);
            sent += 1;
        }
        // Kill after a round-dependent number of acknowledgements, the rest in flight.
        let kill_after = 20 + round * 37 % (orders_per_round(rounds) - 20);
        let acked_before = acked.len();
        for _ in 0..kill_after {
            let ack = client.expect(|m| m.msg_type() == "8" && m.get(150) == Some("0"), "ack");
            acked.push(ack.get(11).unwrap().to_owned());
        }
        let killed = Instant::now();
        leader.kill9();
        let (carried_seq, last_received) = (client.seq, client.last_received);
        drop(client);
        let line = standby
            .wait_line("arbiter: listening for FIX on ", Duration::from_secs(60))
            .expect("the standby did not take over");
        let address = line
            .split("listening for FIX on ")
            .nth(1)
            .unwrap()
            .split(';')
            .next()
            .unwrap();
        let mut promoted = standby;
        promoted.port = address.rsplit(':').next().unwrap().parse().unwrap();
        // The client resumes at its own numbers (no reset): the new leader knows them
        // from the journal, and answers above everything the old leader sent.
        let mut client = Client::connect(promoted.port, "CLIENT1", "FIX.4.4");
        client.seq = carried_seq;
        let logon = client.logon_resume();
        let elapsed = killed.elapsed();
        let venue_seq: u64 = logon.get(34).unwrap().parse().unwrap();
        assert!(
            venue_seq > last_received,
            "round {round}: the new leader's Logon ({venue_seq}) is not above what the old \
             one sent ({last_received})"
        );
        client.sync_after_logon();
        failover_ms.push(elapsed.as_millis() as u64);
        last_failover_ms = Some(elapsed.as_millis() as u64);
        eprintln!("round {round}: failover (kill -9 to accepted Logon) {elapsed:?}");
        // This round's acknowledged orders here; earlier rounds' were checked on the leader
        // that took over then, whose journal this one holds byte for byte (checked below), and
        // all of them again on the last leader.
        assert_known(&mut client, &acked[acked_before..], round);
        assert_journals_agree(
            &journal_dir(&node_dir(round)),
            &journal_dir(&node_dir(round + 1)),
            &standby_node,
        );
        // The dead leader's directory has served: keep a long run's disk use flat.
        std::fs::remove_dir_all(node_dir(round)).unwrap();
        leader = promoted;
    }
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    assert_known(&mut client, &acked, rounds);
    drop(client);
    // None duplicated: one live order per distinct order sent at most (all rest, no fills).
    let status = leader.admin(&["status"]);
    let live: usize = status
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("live_orders="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        live >= acked.len() && live <= sent,
        "{live} live orders: {} acknowledged, {sent} sent",
        acked.len()
    );
    assert!(status.contains("role=leader shard=A"), "{status}");
    assert!(status.contains("replication=replicating"), "{status}");
    // `arbiter cluster status` names the last standby as the leader, with its lag, and the
    // last failover: from the previous leader to it, at least a lease TTL (it waited for the
    // lease to lapse) and at most what the client saw plus a TTL (the killed leader renewed
    // less than a TTL before the kill).
    let line = cluster_status(&leader.config);
    assert!(
        line.contains(&format!("shard=A leader=n{rounds} epoch=")) && line.contains("lag_records="),
        "{line}"
    );
    assert!(
        line.contains(&format!(" from=n{} to=n{rounds} ", rounds - 1)),
        "{line}"
    );
    let recorded: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("failover_ms="))
        .unwrap()
        .parse()
        .unwrap();
    let seen = *last_failover_ms.as_ref().unwrap();
    assert!(
        (900..=seen + 1500).contains(&recorded),
        "recorded failover {recorded} ms, the client saw {seen} ms: {line}"
    );
    assert!(line.contains(" standbys=0 "), "{line}");
    failover_ms.sort_unstable();
    eprintln!(
        "failover over {} kills: p50 {} ms, max {} ms",
        failover_ms.len(),
        failover_ms[failover_ms.len() / 2],
        failover_ms[failover_ms.len() - 1]
    );
    assert!(leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = leader.wait();
    assert!(exit.success());
}
