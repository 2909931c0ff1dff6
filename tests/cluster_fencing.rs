//! Fencing and replication loss through the real binary and a real nats-server (started
//! here): a leader paused past its lease (SIGSTOP) and woken after the standby took over
//! acknowledges nothing more, logs its sessions out, steps down and quarantines its tail;
//! a leader whose NATS goes away under `on_replication_loss = "halt"` refuses new orders,
//! says so in its status, and resumes once NATS is back and replication caught up.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arbiter_cluster::server::{require_nats_server, LocalNatsServer};
use common::{write_cluster_config, Client, Daemon};

fn cluster_config(dir: &Path, url: &str, node: &str, loss: &str) -> PathBuf {
    write_cluster_config(
        dir,
        &format!(
            "nats_urls = [{url:?}]\nshard = \"F\"\nnode_id = {node:?}\nreplicas = 1\n\
             lease_ttl_ms = 1000\nlease_renew_ms = 200\non_replication_loss = {loss:?}"
        ),
        true,
    )
}

fn signal(daemon: &Daemon, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(daemon.child.id()).unwrap();
    // SAFETY: kill(2) on the PID of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn order_status(client: &mut Client, id: &str) -> common::Fix {
    client.send("H", &[(11, id), (55, "AAPL"), (54, "1")]);
    client.expect(
        |m| m.msg_type() == "8" && m.get(11) == Some(id) && m.get(150) == Some("I"),
        "order status",
    )
}

#[test]
fn a_paused_leader_is_fenced_and_quarantines_its_unreplicated_tail() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let nats = LocalNatsServer::start(&root.path().join("nats")).unwrap();
    let (old_dir, new_dir) = (root.path().join("a"), root.path().join("b"));
    let leader = Daemon::start(&cluster_config(&old_dir, &nats.url(), "a", "halt"));
    let standby = Daemon::start_until(
        &cluster_config(&new_dir, &nats.url(), "b", "halt"),
        &["--standby"],
        "refusing FIX logons on ",
    );
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    client.new_order("before-1", "AAPL", "1", "1", "10.00");
    client.exec_report("before-1", "0");

    // A long stall: the lease lapses and the standby takes over meanwhile.
    signal(&leader, libc::SIGSTOP);
    client.new_order("paused-1", "AAPL", "1", "1", "10.01"); // waits in the socket
    let line = standby
        .wait_line("arbiter: listening for FIX on ", Duration::from_secs(60))
        .expect("the standby did not take over");
    let port: u16 = line
        .split("listening for FIX on ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|address| address.rsplit(':').next())
        .unwrap()
        .parse()
        .unwrap();
    // Let the new leader publish its epoch before the old one wakes.
    std::thread::sleep(Duration::from_millis(500));
    signal(&leader, libc::SIGCONT);

    // The old leader acknowledges nothing more and logs the session out with a reason.
    let (closed, received) = client.wait_closed();
    assert!(closed, "the fenced leader kept the session: {received:?}");
    assert!(
        !received
            .iter()
            .any(|m| m.get(11) == Some("paused-1") && m.get(150) == Some("0")),
        "a fenced leader acknowledged an order: {received:?}"
    );
    let (exit, lines) = leader.wait();
    let log = lines.join("\n");
    assert!(!exit.success(), "{log}");
    assert!(log.contains("FENCED"), "{log}");
    assert!(log.contains("stepped down"), "{log}");
    if let Some(logout) = received.iter().find(|m| m.msg_type() == "5") {
        assert!(
            logout.get(58).is_some_and(|t| t.contains("fenced")),
            "{logout:?}"
        );
    }
    // Its journal is moved aside, never deleted; unreplicated records are quarantined.
    let data = old_dir.join("data");
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("fenced-e"))
        .expect("fenced-* directory");
    assert!(aside.path().join("journal").is_dir());
    assert!(!data.join("journal").exists());
    for entry in std::fs::read_dir(&data).unwrap().filter_map(Result::ok) {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("quarantine-")
        {
            assert!(entry.metadata().unwrap().len() > 0);
        }
    }

    // The new leader knows the acknowledged order and not the one never acknowledged.
    let mut client = Client::connect(port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    assert_ne!(order_status(&mut client, "before-1").get(37), Some("NONE"));
    assert_eq!(order_status(&mut client, "paused-1").get(37), Some("NONE"));
    let mut standby = standby;
    standby.port = port;
    assert!(standby.admin(&["shutdown"]).starts_with("ok"));
    let _ = standby.wait();
}

#[test]
fn halt_on_replication_loss_refuses_new_orders_until_nats_is_back() {
    if !require_nats_server() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut nats = LocalNatsServer::start(&root.path().join("nats")).unwrap();
    let leader = Daemon::start(&cluster_config(
        &root.path().join("a"),
        &nats.url(),
        "a",
        "halt",
    ));
    let mut client = Client::connect(leader.port, "CLIENT1", "FIX.4.4");
    client.logon_reset();
    client.new_order("up-1", "AAPL", "1", "1", "10.00");
    client.exec_report("up-1", "0");
    assert!(leader
        .admin(&["status"])
        .contains("replication=replicating"));

    nats.stop();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !leader.admin(&["status"]).contains("replication=lost") {
        assert!(Instant::now() < deadline, "{}", leader.admin(&["status"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    client.new_order("down-1", "AAPL", "1", "1", "10.01");
    let refused = client.exec_report("down-1", "8");
    assert!(
        refused
            .get(58)
            .is_some_and(|t| t.contains("replication lost")),
        "{refused:?}"
    );
    assert!(leader
        .wait_line("on_replication_loss = halt", Duration::from_secs(1))
        .is_some());

    nats.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !leader
        .admin(&["status"])
        .contains("replication=replicating")
    {
        assert!(Instant::now() < deadline, "{}", leader.admin(&["status"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    client.new_order("back-1", "AAPL", "1", "1", "10.02");
    client.exec_report("back-1", "0");
    assert!(leader.admin(&["shutdown"]).starts_with("ok"));
    let (exit, _) = leader.wait();
    assert!(exit.success());
}
