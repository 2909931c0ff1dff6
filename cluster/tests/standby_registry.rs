//! Standby registration and the failover record through a real nats-server (started here):
//! heartbeats are listed per shard, a stopped standby's entry leaves (at once when it says
//! so, after the lease TTL when it just dies), the lease in the same bucket is unaffected,
//! and the last failover is kept without expiry.
use std::time::{Duration, Instant};

use arbiter_cluster::server::{require_nats_server, LocalNatsServer};
use arbiter_cluster::{FailoverRecord, Lease, LeaseConfig, NatsConnection, Registry, StandbyBeat};

fn lease_config(shard: &str, node: &str) -> LeaseConfig {
    LeaseConfig {
        bucket: "leases".into(),
        shard: shard.into(),
        node_id: node.into(),
        ttl: Duration::from_millis(1000),
        renew_interval: Duration::from_millis(200),
        replicas: 1,
    }
}

fn beat(node: &str, journal_seq: u64) -> StandbyBeat {
    StandbyBeat {
        node_id: node.into(),
        journal_seq,
        lag_records: 1,
        updated_ns: 1_000 + journal_seq,
    }
}

fn nodes(beats: &[StandbyBeat]) -> Vec<&str> {
    beats.iter().map(|b| b.node_id.as_str()).collect()
}

#[test]
fn standbys_register_expire_and_the_last_failover_is_kept() {
    if !require_nats_server() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start(store.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let js = NatsConnection::new(server.url()).jetstream().await.unwrap();
        let a = Registry::open(&js, &lease_config("A", "a")).await.unwrap();
        let b = Registry::open(&js, &lease_config("B", "a")).await.unwrap();
        let list = Duration::from_secs(5);
        assert!(a.standbys(list).await.unwrap().is_empty());
        assert_eq!(a.last_failover().await.unwrap(), None);

        // The lease lives in the same bucket; heartbeats do not disturb it.
        let mut lease = Lease::open(&js, lease_config("A", "leader")).await.unwrap();
        assert!(lease.try_acquire().await.unwrap());
        a.beat(&beat("s1", 10)).await.unwrap();
        a.beat(&beat("s2", 20)).await.unwrap();
        b.beat(&beat("s9", 5)).await.unwrap();
        a.beat(&beat("s1", 11)).await.unwrap(); // renewed: the newest value counts
        let standbys = a.standbys(list).await.unwrap();
        assert_eq!(nodes(&standbys), ["s1", "s2"]);
        assert_eq!(standbys[0], beat("s1", 11));
        assert_eq!(nodes(&b.standbys(list).await.unwrap()), ["s9"]);
        lease.renew().await.unwrap();
        let (holder, written_ns) = lease.peek_written().await.unwrap().unwrap();
        assert_eq!(holder.node_id, "leader");
        assert!(written_ns > 0);

        // A clean stop leaves at once.
        a.leave("s2").await.unwrap();
        assert_eq!(nodes(&a.standbys(list).await.unwrap()), ["s1"]);

        // A standby that stops beating is gone after the lease TTL (the server's expiry timer
        // is coarse: allow several TTLs). The renewed lease stays.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            lease.renew().await.unwrap();
            if a.standbys(list).await.unwrap().is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "s1's heartbeat did not expire");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(lease.renew().await.is_ok());

        // The failover record: the last one is kept, past the lease TTL.
        let first = FailoverRecord {
            epoch: 7,
            from_node: "leader".into(),
            from_epoch: 2,
            to_node: "s1".into(),
            last_renew_ns: 1_000_000_000,
            last_seen_held_ns: 1_800_000_000,
            taken_ns: 2_000_000_000,
            listening_ns: 2_400_000_000,
        };
        a.record_failover(&first).await.unwrap();
        let second = FailoverRecord {
            epoch: 9,
            from_node: "s1".into(),
            to_node: "leader".into(),
            ..first.clone()
        };
        a.record_failover(&second).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(a.last_failover().await.unwrap(), Some(second));
        assert_eq!(b.last_failover().await.unwrap(), None);

        // Bad input: a bucket stored with other settings, a garbage record, a bad node id.
        let mut other_ttl = lease_config("A", "a");
        other_ttl.ttl = Duration::from_secs(5);
        assert!(Registry::open(&js, &other_ttl).await.is_err());
        let failovers = js.get_key_value("leases_failover").await.unwrap();
        failovers
            .put("failover.B", bytes::Bytes::from_static(b"garbage"))
            .await
            .unwrap();
        let error = b.last_failover().await.unwrap_err().to_string();
        assert!(error.contains("not a record"), "{error}");
        assert!(a.beat(&beat("bad node", 1)).await.is_err());
    });
}
