//! The leader lease on the daemon's side: a thread that takes the shard's lease (at once for
//! a leader, when it lapses for a standby) and renews it, telling the supervisor whether it
//! is confirmed, unconfirmed (NATS away) or lost (held by another node: fence). While a
//! standby waits, the same thread renews its heartbeat in the registry (docs/cluster.md,
//! "Standbys and failovers") and remembers who held the lease last, so that once leading it
//! can record the failover.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_cluster::{
    ClusterError, FailoverRecord, Lease, LeaseConfig, LeaseValidity, NatsConnection, Registry,
    StandbyBeat,
};
use arbiter_config::ClusterSection;
use arbiter_journal::DurableCursor;

use crate::cluster_agent::nats_connection;

/// Repeated NATS errors of a waiting standby are logged at most this often.
const RETRY_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The lease settings of the configured shard.
pub(crate) fn lease_config(cluster: &ClusterSection) -> LeaseConfig {
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
    /// A standby that took a lease it had seen held: the failover so far.
    takeover: Arc<Mutex<Option<FailoverRecord>>>,
}

enum Acquire {
    /// Fail at once when another node holds it (leader start-up).
    Once,
    /// Keep trying until it lapses or `stop` is set (standby), registering as a standby with
    /// the journal position `written`.
    Wait(Arc<AtomicBool>, DurableCursor),
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
    /// retrying through NATS outages; `None` when `stop` is set first. Meanwhile it renews
    /// this standby's heartbeat (its journal at `written`, its lag behind the stream).
    ///
    /// # Errors
    /// A bucket whose configuration differs from this node's.
    pub fn wait_acquire(
        cluster: &ClusterSection,
        stop: Arc<AtomicBool>,
        written: DurableCursor,
    ) -> Result<Option<LeaseKeeper>, String> {
        Self::spawn(cluster, Acquire::Wait(stop, written))
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

    /// The failover this node made by taking a lease it had seen held (`listening_ns` not
    /// yet set); `None` for a leader that started as one or took a lease never seen held.
    #[must_use]
    pub fn takeover(&self) -> Option<FailoverRecord> {
        self.shared.takeover.lock().ok().and_then(|t| t.clone())
    }

    /// Completes the failover record with the moment the FIX listener opened (now) and
    /// writes it to the registry from a short-lived thread (the caller does not wait for
    /// NATS); logs the outcome. Nothing to do without a take-over.
    pub fn record_failover(&self, cluster: &ClusterSection) {
        let Some(mut record) = self.takeover() else {
            return;
        };
        record.listening_ns = arbiter_fix::system_clock_ns();
        let connection = nats_connection(cluster).with_connect_timeout(Duration::from_secs(2));
        let config = lease_config(cluster);
        let spawned = std::thread::Builder::new()
            .name("arb-failover".into())
            .spawn(move || {
                let written = runtime().and_then(|runtime| {
                    runtime.block_on(async {
                        let context = connection.jetstream().await.map_err(|e| e.to_string())?;
                        let registry = Registry::open(&context, &config)
                            .await
                            .map_err(|e| e.to_string())?;
                        registry
                            .record_failover(&record)
                            .await
                            .map_err(|e| e.to_string())
                    })
                });
                match written {
                    Ok(()) => eprintln!(
                        "arbiter: failover recorded: shard {} from {} (epoch {}) to {} (epoch {}): \
                         failover_ms={} (the old leader's last renew to this FIX listener) \
                         takeover_ms={} (lease taken to listening)",
                        config.shard,
                        record.from_node,
                        record.from_epoch,
                        record.to_node,
                        record.epoch,
                        record.failover_ms(),
                        record.takeover_ms()
                    ),
                    Err(e) => eprintln!("arbiter: the failover could not be recorded: {e}"),
                }
            });
        if let Err(e) = spawned {
            eprintln!("arbiter: the failover could not be recorded: {e}");
        }
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
    let mut standby = StandbyWait::default();
    loop {
        let (wait_stop, written) = match &mode {
            Acquire::Once => (None, None),
            Acquire::Wait(stop, written) => (Some(stop), Some(written)),
        };
        if wait_stop.is_some_and(|s| s.load(Ordering::Acquire)) {
            standby.leave(&config.node_id).await;
            let _ = tx.send(Ok(None));
            return;
        }
        if lease.is_none() {
            let opened = match connection.jetstream().await.map_err(|e| e.to_string()) {
                Ok(context) => match Lease::open(&context, config.clone()).await {
                    Ok(lease) if wait_stop.is_some() => {
                        match Registry::open(&context, &config).await {
                            Ok(registry) => {
                                standby.registry = Some(registry);
                                standby.context = Some(context);
                                Ok(lease)
                            }
                            Err(e) => Err(format!("standby registry: {e}")),
                        }
                    }
                    Ok(lease) => Ok(lease),
                    Err(e) => Err(format!("lease bucket: {e}")),
                },
                Err(e) => Err(e),
            };
            match opened {
                Ok(opened) => {
                    if standby.retrying.take().is_some() {
                        eprintln!("arbiter: standby: NATS reachable again; watching the lease");
                    }
                    lease = Some(opened);
                }
                Err(e) if wait_stop.is_none() => {
                    let _ = tx.send(Err(e));
                    return;
                }
                Err(e) => {
                    standby.retry_log(&e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let Some(current) = lease.as_mut() else {
            continue;
        };
        if let Some(written) = written {
            standby.beat(&config, written).await;
        }
        match current.try_acquire().await {
            Ok(true) => {
                if wait_stop.is_some() {
                    let takeover = standby.takeover(&config, current.epoch());
                    if let Ok(mut slot) = shared.takeover.lock() {
                        *slot = takeover;
                    }
                    standby.leave(&config.node_id).await;
                }
                break;
            }
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
            Ok(false) => {
                standby.seen_held(current).await;
                tokio::time::sleep(poll).await;
            }
            Err(e) if wait_stop.is_none() => {
                let _ = tx.send(Err(format!("take the lease: {e}")));
                return;
            }
            Err(e) => {
                standby.retry_log(&format!("take the lease: {e}"));
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

/// What a waiting standby keeps between polls of the lease.
#[derive(Default)]
struct StandbyWait {
    registry: Option<Registry>,
    context: Option<async_nats::jetstream::Context>,
    next_beat: Option<Instant>,
    /// The holder as last seen: its value, its last write (server time), when seen (ns).
    last_held: Option<(arbiter_cluster::LeaseValue, u64, u64)>,
    /// Since when NATS fails, and when that was last logged.
    retrying: Option<(Instant, Instant)>,
}

impl StandbyWait {
    /// Logs a NATS failure of the waiting standby: the first at once, then at most every
    /// [`RETRY_LOG_INTERVAL`] (it retries every half second meanwhile).
    fn retry_log(&mut self, error: &str) {
        let now = Instant::now();
        match &mut self.retrying {
            None => {
                eprintln!(
                    "arbiter: standby: NATS unreachable ({error}); retrying every 500 ms until \
                     it answers"
                );
                self.retrying = Some((now, now));
            }
            Some((since, logged)) if now.duration_since(*logged) >= RETRY_LOG_INTERVAL => {
                eprintln!(
                    "arbiter: standby: NATS still unreachable after {:?} ({error}); retrying",
                    now.duration_since(*since)
                );
                *logged = now;
            }
            Some(_) => {}
        }
    }

    /// Renews this standby's heartbeat once per renew interval (best effort: a failed beat
    /// is retried at the next one; the entry expires after the lease TTL without them).
    async fn beat(&mut self, config: &LeaseConfig, written: &DurableCursor) {
        let now = Instant::now();
        if self.next_beat.is_some_and(|next| now < next) {
            return;
        }
        self.next_beat = Some(now + config.renew_interval);
        let (Some(registry), Some(context)) = (&self.registry, &self.context) else {
            return;
        };
        let journal_seq = written.written().0;
        let stream_last = crate::standby::stream_last_journal_seq(context, &config.shard)
            .await
            .unwrap_or(journal_seq);
        let beat = StandbyBeat {
            node_id: config.node_id.clone(),
            journal_seq,
            lag_records: stream_last.saturating_sub(journal_seq),
            updated_ns: arbiter_fix::system_clock_ns(),
        };
        if let Err(e) = registry.beat(&beat).await {
            self.retry_log(&e.to_string());
        }
    }

    /// The lease was found held: remember by whom and since when it was last renewed.
    async fn seen_held(&mut self, lease: &Lease) {
        if let Ok(Some((value, written_ns))) = lease.peek_written().await {
            self.last_held = Some((value, written_ns, arbiter_fix::system_clock_ns()));
        }
    }

    /// Removes this standby's heartbeat (clean stop or take-over); best effort.
    async fn leave(&mut self, node_id: &str) {
        if let Some(registry) = &self.registry {
            let _ = registry.leave(node_id).await;
        }
    }

    /// The failover record of a take-over (without `listening_ns`), if the lease had been
    /// seen held by another node.
    fn takeover(&self, config: &LeaseConfig, epoch: u64) -> Option<FailoverRecord> {
        let (held, last_renew_ns, last_seen_held_ns) = self.last_held.as_ref()?;
        (held.node_id != config.node_id).then(|| FailoverRecord {
            epoch,
            from_node: held.node_id.clone(),
            from_epoch: held.epoch,
            to_node: config.node_id.clone(),
            last_renew_ns: *last_renew_ns,
            last_seen_held_ns: *last_seen_held_ns,
            taken_ns: arbiter_fix::system_clock_ns(),
            listening_ns: 0,
        })
    }
}
