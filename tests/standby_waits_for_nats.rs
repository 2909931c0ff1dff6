//! A standby started while NATS is down (the real binary; nats-server started here, then
//! stopped and brought back on the same port): it says so and keeps retrying (no exit, no
//! busy loop), follows the stream once NATS answers, registers in `arbiter cluster status`,
//! and takes over when the leader dies, with the failover recorded.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbiter_cluster::server::{free_port, require_nats_server, LocalNatsServer};
use common::{cluster_status, write_cluster_config, Client, Daemon};

fn cluster_config(dir: &Path, url: &str, node: &str) -> PathBuf {
    // A lease that outlives the NATS outage below, so the leader keeps it.
    write_cluster_config(
        dir,
        &format!(
            "nats_urls = [{url:?}]\nshard = \"W\"\nnode_id = {node:?}\nreplicas = 1\n\
             lease_ttl_ms = 8000\nlease_renew_ms = 500\ndurability = \"replicated\""
        ),
        false,
    )
}

#[test]
fn a_standby_started_while_nats_is_down_retries_then_follows_and_takes_over() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let port = free_port().unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let mut nats = LocalNatsServer::start_on_port(&root.path().join("nats"), port).unwrap();
    let leader = Daemon::start(&cluster_config(&root.path().join("l"), &url, "l"));
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    let mut acked = Vec::new();
    for n in 0..5 {
        let id = format!("before-{n}");
        client.new_order(&id, "AAPL", "1", "1", &format!("10.{n:02}"));
        client.exec_report(&id, "0");
        acked.push(id);
    }

    // NATS goes away; the standby starts meanwhile.
    nats.stop();
    let mut standby = Daemon::start_until(
        &cluster_config(&root.path().join("s"), &url, "s"),
        &["--standby"],
        "refusing FIX logons on ",
    );
    assert!(
        standby
            .wait_line("cannot follow the stream", Duration::from_secs(30))
            .is_some(),
        "the standby did not say that it cannot reach NATS"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        matches!(standby.child.try_wait(), Ok(None)),
        "the standby exited while NATS was down"
    );

    // NATS back on the port both were configured with: the standby follows.
    nats.restart().unwrap();
    assert!(
        standby
            .wait_line("following the stream again", Duration::from_secs(60))
            .is_some(),
        "the standby did not follow once NATS was back"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !leader
        .admin(&["status"])
        .contains("replication=replicating")
    {
        assert!(Instant::now() < deadline, "{}", leader.admin(&["status"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in 0..5 {
        let id = format!("after-{n}");
        client.new_order(&id, "AAPL", "1", "1", &format!("11.{n:02}"));
        client.exec_report(&id, "0");
        acked.push(id);
    }
    // It registered, and it holds everything the leader replicated.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster_status(&standby.config);
        if status.contains("standby shard=W node=s ") && status.contains(" lag_records=0 updated=")
        {
            assert!(status.contains("shard=W leader=l "), "{status}");
            assert!(status.contains(" standbys=1 "), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The leader dies; the standby takes over with every acknowledged order.
    drop(client);
    let killed = Instant::now();
    leader.kill9();
    let line = standby
        .wait_line("arbiter: listening for FIX on ", Duration::from_secs(60))
        .expect("the standby did not take over");
    standby.port = line
        .split("listening for FIX on ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|address| address.rsplit(':').next())
        .unwrap()
        .parse()
        .unwrap();
    let mut client = Client::connect(standby.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    let seen_ms = killed.elapsed().as_millis() as u64;
    for id in &acked {
        client.send("H", &[(11, id), (55, "AAPL"), (54, "1")]);
        let status = client.expect(
            |m| m.msg_type() == "8" && m.get(11) == Some(id.as_str()),
            "order status",
        );
        assert_ne!(status.get(37), Some("NONE"), "{id} unknown: {status:?}");
    }
    // The failover is recorded (asynchronously, once listening) and shown.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let status = cluster_status(&standby.config);
        if status.contains(" from=l to=s ") {
            break status;
        }
        assert!(Instant::now() < deadline, "no failover recorded: {status}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.contains("shard=W leader=s "), "{status}");
    assert!(status.contains(" standbys=0 "), "{status}");
    let recorded: u64 = status
        .split_whitespace()
        .find_map(|w| w.strip_prefix("failover_ms="))
        .unwrap()
        .parse()
        .unwrap();
    // At least the TTL (the lease had to lapse), at most what the client saw plus a TTL.
    assert!(
        (7_000..=seen_ms + 8_000).contains(&recorded),
        "recorded {recorded} ms, the client saw {seen_ms} ms: {status}"
    );
    assert!(standby.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = standby.wait();
    assert!(exit.success());
}
