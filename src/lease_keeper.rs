//! The leader lease on the daemon's side: a thread that takes the shard's lease (at once for
//! a leader, when it lapses for a standby) and renews it, telling the supervisor whether it
//! is confirmed, unconfirmed (NATS away) or lost (held by another node: fence).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_cluster::{ClusterError, Lease, LeaseConfig, LeaseValidity, NatsConnection};
use arbiter_config::ClusterSection;

use crate::cluster_agent::nats_connection;

fn lease_config(cluster: &ClusterSection) -> LeaseConfig {
    LeaseConfig {
        bucket: cluster.lease_bucket.clone(),
        shard: cluster.shard.clone(),
        node_id: cluster.node_id.clone(),
        ttl: Duration::from_millis(cluster.lease_ttl_ms),
        renew_interval: Duration::from_millis(cluster.lease_renew_ms),
        replicas: cluster.replicas,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// The held lease, renewed on its own thread at the configured interval. A renew that
/// NATS does not answer marks the lease unconfirmed (its validity lapses on its own; the
/// `on_replication_loss` policy applies); a renew refused because the entry moved, with the
/// entry then held by another node, marks it lost: the holder must fence itself.
#[derive(Debug)]
pub struct LeaseKeeper {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    validity: Arc<LeaseValidity>,
    shared: KeeperShared,
}

/// What the keeper thread shares with its handle.
#[derive(Clone, Debug, Default)]
struct KeeperShared {
    epoch: Arc<AtomicU64>,
    unconfirmed: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    lost_reason: Arc<Mutex<String>>,
}

enum Acquire {
    /// Fail at once when another node holds it (leader start-up).
    Once,
    /// Keep trying until it lapses or `stop` is set (standby).
    Wait(Arc<AtomicBool>),
}

type Acquired = Result<Option<Arc<LeaseValidity>>, String>;

impl LeaseKeeper {
    /// Takes the shard's lease now, or explains who holds it.
    ///
    /// # Errors
    /// Another node holds the lease (names it and its epoch), or NATS cannot be asked.
    pub fn acquire(cluster: &ClusterSection) -> Result<LeaseKeeper, String> {
        Self::spawn(cluster, Acquire::Once)?
            .ok_or_else(|| "lease keeper stopped before acquiring".to_owned())
    }

    /// Waits until the lease lapses and this node takes it (compare-and-set on "absent"),
    /// retrying through NATS outages; `None` when `stop` is set first.
    ///
    /// # Errors
    /// A bucket whose configuration differs from this node's.
    pub fn wait_acquire(
        cluster: &ClusterSection,
        stop: Arc<AtomicBool>,
    ) -> Result<Option<LeaseKeeper>, String> {
        Self::spawn(cluster, Acquire::Wait(stop))
    }

    fn spawn(cluster: &ClusterSection, mode: Acquire) -> Result<Option<LeaseKeeper>, String> {
        let (tx, rx) = mpsc::channel::<Acquired>();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = KeeperShared::default();
        let connection = nats_connection(cluster).with_connect_timeout(Duration::from_secs(2));
        let config = lease_config(cluster);
        let thread = {
            let (stop, shared) = (Arc::clone(&stop), shared.clone());
            std::thread::Builder::new()
                .name("arb-lease".into())
                .spawn(move || {
                    let runtime = match runtime() {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    runtime.block_on(keep_lease(connection, config, mode, tx, &stop, &shared));
                })
                .map_err(|e| format!("lease thread: {e}"))?
        };
        match rx.recv() {
            Ok(Ok(Some(validity))) => Ok(Some(LeaseKeeper {
                thread: Some(thread),
                stop,
                validity,
                shared,
            })),
            Ok(Ok(None)) => {
                let _ = thread.join();
                Ok(None)
            }
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("lease thread ended without an answer".into())
            }
        }
    }

    /// The validity window the replicator publishes within.
    #[must_use]
    pub fn validity(&self) -> Arc<LeaseValidity> {
        Arc::clone(&self.validity)
    }

    /// The epoch of this holding (changes if the lease expired and was taken again).
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.shared.epoch.load(Ordering::Acquire)
    }

    /// Whether the lease is known lost (taken by another node): fence.
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.shared.lost.load(Ordering::Acquire)
    }

    /// Whether the last renew went unanswered (NATS unreachable or slow).
    #[must_use]
    pub fn is_unconfirmed(&self) -> bool {
        self.shared.unconfirmed.load(Ordering::Acquire)
    }

    /// Why the lease was lost (empty while held).
    #[must_use]
    pub fn lost_reason(&self) -> String {
        self.shared
            .lost_reason
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        // Stops renewing; the entry lapses after its TTL (a standby then takes over).
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn keep_lease(
    connection: NatsConnection,
    config: LeaseConfig,
    mode: Acquire,
    tx: mpsc::Sender<Acquired>,
    stop: &AtomicBool,
    shared: &KeeperShared,
) {
    let renew_interval = config.renew_interval;
    let shard = config.shard.clone();
    // Standby polling: often enough that a take-over follows the lapse closely.
    let poll = (renew_interval / 2).min(Duration::from_millis(100));
    let mut lease = None;
    loop {
        let wait_stop = match &mode {
            Acquire::Once => None,
            Acquire::Wait(stop) => Some(stop),
        };
        if wait_stop.is_some_and(|s| s.load(Ordering::Acquire)) {
            let _ = tx.send(Ok(None));
            return;
        }
        if lease.is_none() {
            let opened = match connection.jetstream().await.map_err(|e| e.to_string()) {
                Ok(context) => Lease::open(&context, config.clone())
                    .await
                    .map_err(|e| format!("lease bucket: {e}")),
                Err(e) => Err(e),
            };
            match opened {
                Ok(opened) => lease = Some(opened),
                Err(e) if wait_stop.is_none() => {
                    let _ = tx.send(Err(e));
                    return;
                }
                Err(e) => {
                    eprintln!("arbiter: standby: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let Some(current) = lease.as_mut() else {
            continue;
        };
        match current.try_acquire().await {
            Ok(true) => break,
            Ok(false) if wait_stop.is_none() => {
                let holder = match current.peek().await {
                    Ok(Some(value)) => {
                        format!("node {:?} (epoch {})", value.node_id, value.epoch)
                    }
                    _ => "another node".to_owned(),
                };
                let _ = tx.send(Err(format!(
                    "the lease of shard {shard:?} is held by {holder}: refusing to start as \
                     leader; start this node as a standby (role = \"standby\" or --standby), or \
                     wait until the lease lapses (cluster.lease_ttl_ms) if that node is gone"
                )));
                return;
            }
            Ok(false) => tokio::time::sleep(poll).await,
            Err(e) if wait_stop.is_none() => {
                let _ = tx.send(Err(format!("take the lease: {e}")));
                return;
            }
            Err(e) => {
                eprintln!("arbiter: standby: take the lease: {e}; retrying");
                lease = None;
                tokio::time::sleep(poll).await;
            }
        }
    }
    let Some(mut lease) = lease else {
        return;
    };
    shared.epoch.store(lease.epoch(), Ordering::Release);
    let validity = lease.validity();
    if tx.send(Ok(Some(Arc::clone(&validity)))).is_err() {
        return;
    }
    let mut next = Instant::now() + renew_interval;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now < next {
            tokio::time::sleep((next - now).min(Duration::from_millis(50))).await;
            continue;
        }
        next = now + renew_interval;
        let outcome = match lease.renew().await {
            Ok(()) => Ok(()),
            // The entry moved: expired while NATS was away (take it again if still free)
            // or taken by another node.
            Err(ClusterError::LeaseLost(why)) => match lease.try_acquire().await {
                Ok(true) => {
                    eprintln!(
                        "arbiter: the lease of shard {shard:?} had expired ({why}); taken \
                         again (epoch {})",
                        lease.epoch()
                    );
                    shared.epoch.store(lease.epoch(), Ordering::Release);
                    Ok(())
                }
                Ok(false) => {
                    let reason =
                        format!("lease of shard {shard:?} lost: {why}; held by another node");
                    eprintln!("arbiter: FENCED: {reason}");
                    if let Ok(mut slot) = shared.lost_reason.lock() {
                        slot.clone_from(&reason);
                    }
                    validity.revoke();
                    shared.lost.store(true, Ordering::Release);
                    return;
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                if shared.unconfirmed.swap(false, Ordering::AcqRel) {
                    eprintln!("arbiter: the lease of shard {shard:?} is confirmed again");
                }
            }
            Err(e) => {
                if !shared.unconfirmed.swap(true, Ordering::AcqRel) {
                    eprintln!(
                        "arbiter: ALARM: the lease of shard {shard:?} could not be renewed: {e}; \
                         publishing pauses when it lapses"
                    );
                }
            }
        }
    }
}
