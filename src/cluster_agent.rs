//! The daemon's cluster side (docs/cluster.md): with the lease keeper
//! ([`crate::lease_keeper`]), the replication
//! supervisor (runs the [`Replicator`] on its own thread, restarts it when NATS comes back,
//! reports lag and publish latency, fences on a lost lease or a refused publish), the
//! status the admin socket shows, and the quarantine of a fenced leader's unreplicated tail.
//!
//! Nothing here is on the order path: the sequencer appends to the local journal only and
//! the gateway reads two atomics ([`crate::release::ReleaseCursor`], [`Fence`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_cluster::{
    ClusterError, NatsConnection, NatsTls, ReplicatedCursor, ReplicationStats, Replicator,
    ReplicatorConfig, StreamSettings,
};
use arbiter_config::{ClusterSection, Config, ReplicationLoss};
use arbiter_journal::{DurableCursor, FramePosition, FrameTail, Sequence};
use arbiter_perf::Telemetry;

use crate::lease_keeper::LeaseKeeper;
use crate::recovery::JOURNAL_IDENTITY;
use crate::release::Fence;

/// Record type of an epoch change: `node=<id> epoch=<n>` (UTF-8), journaled by every node
/// that becomes leader, before any command of its epoch. Replay ignores it.
pub const RECORD_EPOCH: u16 = 4;

/// How often the supervisor looks at the replicator and the lease.
const SUPERVISE_INTERVAL: Duration = Duration::from_millis(20);
/// Wait before restarting a replicator after NATS failed.
const RESTART_BACKOFF: Duration = Duration::from_millis(500);

/// Replication states, as in `/metrics` `arbiter_replication_state` (0 there: not clustered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicationState {
    /// Replicating; acknowledgements arrive.
    Replicating = 1,
    /// NATS unreachable or failing; `on_replication_loss` applies.
    Lost = 2,
    /// Lease lost or publish refused: this node acknowledges nothing more.
    Fenced = 3,
}

impl ReplicationState {
    fn name(code: u8) -> &'static str {
        match code {
            1 => "replicating",
            2 => "lost",
            3 => "fenced",
            _ => "off",
        }
    }
}

/// What `arbiter admin status` shows about the cluster.
#[derive(Debug, Default)]
pub struct ClusterStatus {
    /// Shard.
    pub shard: String,
    /// This node.
    pub node_id: String,
    /// Policy when NATS is lost.
    pub on_loss: String,
    /// Epoch of this node's lease.
    pub epoch: AtomicU64,
    /// Last sequence acknowledged by JetStream.
    pub replicated_seq: AtomicU64,
    /// Records not yet acknowledged.
    pub lag_records: AtomicU64,
    /// Age of the oldest unacknowledged record, µs.
    pub lag_us: AtomicU64,
    /// Publish latency p50 / p99, µs.
    pub publish_p50_us: AtomicU64,
    /// See `publish_p50_us`.
    pub publish_p99_us: AtomicU64,
    /// [`ReplicationState`] code.
    pub state: AtomicU8,
    /// The last replication problem, for the operator.
    pub problem: Mutex<String>,
}

impl ClusterStatus {
    /// One line of `key=value` words for `status`.
    #[must_use]
    pub fn line(&self) -> String {
        let problem = self.problem.lock().map(|p| p.clone()).unwrap_or_default();
        format!(
            "role=leader shard={} node={} epoch={} replication={} replicated_seq={} \
             replication_lag_records={} replication_lag_us={} publish_p50_us={} publish_p99_us={} \
             on_replication_loss={}{}",
            self.shard,
            self.node_id,
            self.epoch.load(Ordering::Relaxed),
            ReplicationState::name(self.state.load(Ordering::Relaxed)),
            self.replicated_seq.load(Ordering::Relaxed),
            self.lag_records.load(Ordering::Relaxed),
            self.lag_us.load(Ordering::Relaxed),
            self.publish_p50_us.load(Ordering::Relaxed),
            self.publish_p99_us.load(Ordering::Relaxed),
            self.on_loss,
            if problem.is_empty() {
                String::new()
            } else {
                format!(" replication_problem={problem:?}")
            }
        )
    }
}

/// The stream settings of the configured shard.
#[must_use]
pub fn stream_settings(cluster: &ClusterSection) -> StreamSettings {
    StreamSettings {
        shard: cluster.shard.clone(),
        replicas: cluster.replicas,
        duplicate_window: Duration::from_secs(120),
    }
}

/// How this node connects to NATS: the configured URLs and `[cluster.tls]` (every
/// connection of the daemon, replicator, follower, lease keeper and status, is made from it).
#[must_use]
pub fn nats_connection(cluster: &ClusterSection) -> NatsConnection {
    let connection = NatsConnection::new(cluster.url());
    match &cluster.tls {
        None => connection,
        Some(tls) => connection.with_tls(NatsTls {
            ca: tls.ca.clone(),
            client_cert: tls.cert.clone().zip(tls.key.clone()),
        }),
    }
}

/// The replication supervisor thread of a leader.
#[derive(Debug)]
pub struct ReplicationSupervisor {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    cursor: ReplicatedCursor,
}

/// What the supervisor works with.
#[derive(Debug)]
pub struct SupervisorWiring {
    /// The leader's lease (checked every cycle: fenced when it drops).
    pub lease: Arc<LeaseKeeper>,
    /// The journal writer's cursor (lag figures).
    pub written: DurableCursor,
    /// Gauges for `/metrics`.
    pub telemetry: Arc<Telemetry>,
    /// Shown by `arbiter admin status`.
    pub status: Arc<ClusterStatus>,
    /// Tripped on a lost lease or a refused publish.
    pub fence: Arc<Fence>,
    /// Set while replication is lost under `continue` (the hold then uses local durability).
    pub local_only: Arc<AtomicBool>,
    /// Set while replication is lost under `halt` (the gateway refuses new orders).
    pub halted: Arc<AtomicBool>,
}

impl ReplicationSupervisor {
    /// Starts the replicator for this leader's journal and the thread that watches it.
    ///
    /// # Errors
    /// The thread or the first replicator cannot be started.
    pub fn spawn(config: &Config, wiring: SupervisorWiring) -> Result<Self, String> {
        let cluster = config.cluster.clone().ok_or("no [cluster] section")?;
        let mut replicator_config = ReplicatorConfig::new(
            nats_connection(&cluster),
            stream_settings(&cluster),
            config.journal_dir(),
            JOURNAL_IDENTITY,
            config.journal.segment_bytes,
        );
        replicator_config.epoch = wiring.lease.epoch();
        replicator_config.batch_bytes_max = cluster.batch_bytes;
        replicator_config.lease = Some(wiring.lease.validity());
        replicator_config.ack_timeout = Duration::from_secs(2);
        replicator_config.retries_max = 3;
        let cursor = ReplicatedCursor::default();
        let replicator = Replicator::spawn_with_cursor(
            replicator_config.clone(),
            Some(wiring.written.clone()),
            cursor.clone(),
        )
        .map_err(|e| format!("replicator: {e}"))?;
        wiring
            .status
            .epoch
            .store(wiring.lease.epoch(), Ordering::Relaxed);
        set_state(&wiring, ReplicationState::Replicating);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, cursor) = (Arc::clone(&stop), cursor.clone());
            let on_loss = cluster.on_replication_loss;
            // A NATS node lost from a cluster costs an election (seconds): within the lease's
            // validity, reports just wait; past it, `on_replication_loss` applies.
            let grace = Duration::from_millis(cluster.lease_ttl_ms / 2);
            std::thread::Builder::new()
                .name("arb-cluster".into())
                .spawn(move || {
                    supervise(
                        replicator,
                        &replicator_config,
                        &cursor,
                        &wiring,
                        (on_loss, grace),
                        &stop,
                    );
                })
                .map_err(|e| format!("cluster thread: {e}"))?
        };
        Ok(ReplicationSupervisor {
            thread: Some(thread),
            stop,
            cursor,
        })
    }

    /// The cursor the gateway's hold waits on.
    #[must_use]
    pub fn cursor(&self) -> ReplicatedCursor {
        self.cursor.clone()
    }

    /// Publishes what the journal holds (bounded wait), then stops the replicator.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn set_state(wiring: &SupervisorWiring, state: ReplicationState) {
    wiring.status.state.store(state as u8, Ordering::Relaxed);
    wiring
        .telemetry
        .metrics
        .replication_state
        .set(i64::from(state as u8));
}

fn set_problem(wiring: &SupervisorWiring, problem: &str) {
    if let Ok(mut slot) = wiring.status.problem.lock() {
        problem.clone_into(&mut slot);
    }
}

fn publish_stats(stats: &ReplicationStats, cursor: &ReplicatedCursor, wiring: &SupervisorWiring) {
    let metrics = &wiring.telemetry.metrics;
    let status = &wiring.status;
    let replicated = cursor.get().0;
    let lag = wiring.written.written().0.saturating_sub(replicated);
    let lag_us = stats.lag_us.load(Ordering::Relaxed);
    status.replicated_seq.store(replicated, Ordering::Relaxed);
    status.lag_records.store(lag, Ordering::Relaxed);
    status.lag_us.store(lag_us, Ordering::Relaxed);
    metrics.replication_lag_records.set(lag as i64);
    metrics.replication_lag_us.set(lag_us as i64);
    if let Ok(histogram) = stats.publish_latency_us.lock() {
        if !histogram.is_empty() {
            let (p50, p99) = (
                histogram.value_at_quantile(0.5),
                histogram.value_at_quantile(0.99),
            );
            status.publish_p50_us.store(p50, Ordering::Relaxed);
            status.publish_p99_us.store(p99, Ordering::Relaxed);
            metrics.replication_publish_p50_us.set(p50 as i64);
            metrics.replication_publish_p99_us.set(p99 as i64);
        }
    }
}

fn fence(wiring: &SupervisorWiring, reason: &str) {
    wiring.lease.validity().revoke();
    if !wiring.fence.is_tripped() {
        eprintln!("arbiter: FENCED: {reason}; this node acknowledges nothing more and steps down");
    }
    set_problem(wiring, reason);
    set_state(wiring, ReplicationState::Fenced);
    wiring.halted.store(false, Ordering::Release);
    wiring.local_only.store(false, Ordering::Release);
    wiring.fence.trip(reason);
}

fn supervise(
    replicator: Replicator,
    config: &ReplicatorConfig,
    cursor: &ReplicatedCursor,
    wiring: &SupervisorWiring,
    (on_loss, grace): (ReplicationLoss, Duration),
    stop: &AtomicBool,
) {
    let mut stats = replicator.stats();
    let mut replicator = Some(replicator);
    let mut lost_since: Option<Instant> = None;
    // A failure not yet declared a loss: since when, and the replicated cursor then.
    let mut trouble: Option<(Instant, u64)> = None;
    loop {
        std::thread::sleep(SUPERVISE_INTERVAL);
        publish_stats(&stats, cursor, wiring);
        if wiring.lease.is_lost() {
            fence(wiring, &wiring.lease.lost_reason());
            if let Some(replicator) = replicator.take() {
                let _ = replicator.stop();
            }
            return;
        }
        if stop.load(Ordering::Acquire) {
            if !wiring.lease.validity().is_valid() {
                // NATS is away: nothing can be published; do not wait for it.
                wiring.lease.validity().revoke();
            }
            // Shutdown: the replicator publishes the tail already written, then stops.
            if let Some(Err(e)) = replicator.take().map(Replicator::stop) {
                eprintln!("arbiter: replicator at shutdown: {e}");
            }
            publish_stats(&stats, cursor, wiring);
            return;
        }
        if lost_since.is_some()
            && !cursor.is_failed()
            && !wiring.lease.is_unconfirmed()
            && wiring.status.lag_records.load(Ordering::Relaxed) == 0
        {
            lost_since = None;
            trouble = None;
            eprintln!("arbiter: replication caught up; acknowledgements wait for JetStream again");
            set_problem(wiring, "");
            set_state(wiring, ReplicationState::Replicating);
            wiring.local_only.store(false, Ordering::Release);
            wiring.halted.store(false, Ordering::Release);
        }
        let failed = cursor.is_failed();
        if !failed && !wiring.lease.is_unconfirmed() {
            // Over once acknowledgements arrive again (or nothing waits for one).
            if let Some((since, at)) = trouble {
                if lost_since.is_none()
                    && (cursor.get().0 > at
                        || wiring.status.lag_records.load(Ordering::Relaxed) == 0)
                {
                    trouble = None;
                    set_problem(wiring, "");
                    eprintln!(
                        "arbiter: replication resumed after {:?} (within the {grace:?} grace)",
                        since.elapsed()
                    );
                }
            }
            continue;
        }
        let error = if failed {
            match replicator.take().map(Replicator::stop) {
                Some(Err(e)) => e,
                _ => ClusterError::Nats("replicator ended".into()),
            }
        } else {
            ClusterError::Nats("the lease could not be renewed".into())
        };
        if matches!(
            error,
            ClusterError::Fenced { .. }
                | ClusterError::LeaseLost(_)
                | ClusterError::Discontinuity(_)
        ) {
            fence(wiring, &format!("replication refused: {error}"));
            return;
        }
        let reason = format!("replication lost: {error}");
        let (since, _) = *trouble.get_or_insert_with(|| {
            eprintln!(
                "arbiter: replication interrupted: {error}; retrying; on_replication_loss \
                 applies if it lasts {grace:?} (reports wait meanwhile)"
            );
            (Instant::now(), cursor.get().0)
        });
        set_problem(wiring, &reason);
        if lost_since.is_none() && since.elapsed() < grace {
            if failed {
                match restart_replicator(config, cursor, wiring, stop) {
                    Some(next) => {
                        stats = next.stats();
                        replicator = Some(next);
                    }
                    None => return,
                }
            }
            continue;
        }
        if lost_since.is_none() {
            lost_since = Some(Instant::now());
            match on_loss {
                ReplicationLoss::Halt => eprintln!(
                    "arbiter: ALARM: {reason}; on_replication_loss = halt: new orders are \
                     refused (cancels still flow) until replication has caught up"
                ),
                ReplicationLoss::Continue => eprintln!(
                    "arbiter: ALARM: {reason}; on_replication_loss = continue: trading on local \
                     durability, reports are NOT replicated until replication catches up"
                ),
            }
        }
        set_problem(wiring, &reason);
        set_state(wiring, ReplicationState::Lost);
        match on_loss {
            ReplicationLoss::Halt => wiring.halted.store(true, Ordering::Release),
            ReplicationLoss::Continue => wiring.local_only.store(true, Ordering::Release),
        }
        if !failed {
            continue; // the replicator waits for the lease to be confirmed; nothing to restart
        }
        match restart_replicator(config, cursor, wiring, stop) {
            Some(next) => {
                stats = next.stats();
                replicator = Some(next);
            }
            None => return,
        }
    }
}

/// Restarts the replicator after a pause (it resumes after the stream's last batch); `None`
/// when stopping meanwhile or it cannot be started.
fn restart_replicator(
    config: &ReplicatorConfig,
    cursor: &ReplicatedCursor,
    wiring: &SupervisorWiring,
    stop: &AtomicBool,
) -> Option<Replicator> {
    let deadline = Instant::now() + RESTART_BACKOFF;
    while Instant::now() < deadline && !stop.load(Ordering::Acquire) {
        std::thread::sleep(SUPERVISE_INTERVAL);
    }
    if stop.load(Ordering::Acquire) {
        return None;
    }
    match Replicator::spawn_with_cursor(
        config.clone(),
        Some(wiring.written.clone()),
        cursor.clone(),
    ) {
        Ok(next) => Some(next),
        Err(e) => {
            eprintln!("arbiter: replicator restart: {e}");
            None
        }
    }
}

/// After fencing: copies the journal frames after `replicated_through` (never acknowledged
/// by JetStream) verbatim into `quarantine-<epoch>-<first>-<last>.frames` in the data
/// directory, then moves the journal, snapshots and FIX session store aside into
/// `fenced-<epoch>-<unix seconds>/` (nothing is deleted), so that this node restarted as
/// a standby rebuilds its journal from the stream. Returns what it did, for the log.
///
/// # Errors
/// The journal cannot be read or a file cannot be written or moved.
pub fn quarantine(config: &Config, epoch: u64, replicated_through: u64) -> Result<String, String> {
    let data_dir = &config.venue.data_dir;
    let journal_dir = config.journal_dir();
    let first_segment = std::fs::read_dir(&journal_dir)
        .map_err(|e| format!("{}: {e}", journal_dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(arbiter_journal::layout::parse_segment_file_name)
        })
        .min()
        .ok_or_else(|| format!("no segment in {}", journal_dir.display()))?;
    let mut tail = FrameTail::open(
        &journal_dir,
        FramePosition::segment_start(Sequence(first_segment)),
    )
    .map_err(|e| format!("journal {}: {e}", journal_dir.display()))?;
    let mut bytes = Vec::new();
    let (mut first, mut last) = (0u64, 0u64);
    while let Some((_, frame)) = tail
        .poll()
        .map_err(|e| format!("journal {}: {e}", journal_dir.display()))?
    {
        let sequence = frame.sequence().0;
        if !frame.is_seal() && sequence > replicated_through && first == 0 {
            first = sequence;
        }
        if first != 0 {
            bytes.extend_from_slice(frame.bytes());
            if !frame.is_seal() {
                last = sequence;
            }
        }
    }
    let unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut done = Vec::new();
    if first != 0 {
        let path = data_dir.join(format!("quarantine-e{epoch}-{first}-{last}.frames"));
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        done.push(format!(
            "records {first}..={last} (never acknowledged by JetStream) quarantined in {}",
            path.display()
        ));
    } else {
        done.push("no unreplicated records".to_owned());
    }
    let aside: PathBuf = data_dir.join(format!("fenced-e{epoch}-{unix_s}"));
    std::fs::create_dir_all(&aside).map_err(|e| format!("{}: {e}", aside.display()))?;
    for dir in [
        journal_dir,
        config.snapshot_dir(),
        data_dir.join("fix-store"),
    ] {
        move_aside(&dir, &aside, &mut done)?;
    }
    Ok(done.join("; "))
}

fn move_aside(dir: &Path, aside: &Path, done: &mut Vec<String>) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let name = dir
        .file_name()
        .map_or_else(|| "dir".into(), |n| n.to_owned());
    let target = aside.join(name);
    std::fs::rename(dir, &target)
        .map_err(|e| format!("move {} to {}: {e}", dir.display(), target.display()))?;
    done.push(format!("{} moved to {}", dir.display(), target.display()));
    Ok(())
}

/// Journals the epoch change of a node that became leader, before any command of its epoch.
///
/// # Errors
/// The journal's error.
pub fn journal_epoch(
    config: &Config,
    writer: &mut arbiter_journal::Writer,
    epoch: u64,
) -> Result<(), String> {
    let node = config.cluster.as_ref().map_or("", |c| c.node_id.as_str());
    let sequence = writer.next_sequence();
    writer
        .append(
            arbiter_journal::RecordType(RECORD_EPOCH),
            sequence,
            arbiter_journal::TimestampNs(arbiter_fix::system_clock_ns()),
            format!("node={node} epoch={epoch}").as_bytes(),
        )
        .map_err(|e| format!("journal epoch record: {e}"))?;
    eprintln!(
        "arbiter: leader epoch {epoch} (node {node}) journaled at sequence {}",
        sequence.0
    );
    Ok(())
}

/// A running leader's cluster side: lease, replication supervisor, and the flags the
/// gateway watches.
#[derive(Debug)]
pub struct LeaderCluster {
    supervisor: ReplicationSupervisor,
    lease: Arc<LeaseKeeper>,
    replicated_hold: bool,
    /// Tripped on a lost lease or a refused publish.
    pub fence: Arc<Fence>,
    /// Replication lost under `halt`.
    pub halted: Arc<AtomicBool>,
    /// Replication lost under `continue`.
    pub local_only: Arc<AtomicBool>,
    /// For `arbiter admin status`.
    pub status: Arc<ClusterStatus>,
}

impl LeaderCluster {
    /// Starts replication for a leader holding `lease` (`None`: not clustered).
    ///
    /// # Errors
    /// The replicator or its supervisor cannot start.
    pub fn start(
        config: &Config,
        lease: Option<LeaseKeeper>,
        written: &DurableCursor,
        telemetry: &Arc<Telemetry>,
    ) -> Result<Option<LeaderCluster>, String> {
        let (Some(lease), Some(cluster)) = (lease, config.cluster.as_ref()) else {
            return Ok(None);
        };
        let lease = Arc::new(lease);
        let status = Arc::new(ClusterStatus {
            shard: cluster.shard.clone(),
            node_id: cluster.node_id.clone(),
            on_loss: match cluster.on_replication_loss {
                ReplicationLoss::Halt => "halt".into(),
                ReplicationLoss::Continue => "continue".into(),
            },
            ..ClusterStatus::default()
        });
        let fence = Arc::new(Fence::default());
        let halted = Arc::new(AtomicBool::new(false));
        let local_only = Arc::new(AtomicBool::new(false));
        let supervisor = ReplicationSupervisor::spawn(
            config,
            SupervisorWiring {
                lease: Arc::clone(&lease),
                written: written.clone(),
                telemetry: Arc::clone(telemetry),
                status: Arc::clone(&status),
                fence: Arc::clone(&fence),
                local_only: Arc::clone(&local_only),
                halted: Arc::clone(&halted),
            },
        )?;
        let replicated_hold = cluster.durability == arbiter_config::ClusterDurability::Replicated;
        eprintln!(
            "arbiter: replicating shard {} to JetStream ({} replicas, batches up to {} bytes); \
             reports wait for {}",
            cluster.shard,
            cluster.replicas,
            cluster.batch_bytes,
            if replicated_hold {
                "JetStream's acknowledgement (durability replicated)"
            } else {
                "the local policy only (cluster.durability = \"local\")"
            }
        );
        Ok(Some(LeaderCluster {
            supervisor,
            lease,
            replicated_hold,
            fence,
            halted,
            local_only,
            status,
        }))
    }

    /// The FIX listener is open: a node that took a lapsed lease over records the failover
    /// (docs/cluster.md, "Standbys and failovers").
    pub fn listening(&self, config: &Config) {
        if let Some(cluster) = &config.cluster {
            self.lease.record_failover(cluster);
        }
    }

    /// The replicated cursor when reports wait for JetStream (`durability = "replicated"`).
    #[must_use]
    pub fn hold_cursor(&self) -> Option<ReplicatedCursor> {
        self.replicated_hold.then(|| self.supervisor.cursor())
    }

    /// Stops replication (publishing the closed journal's tail unless fenced) and the
    /// lease renewal; returns the epoch and the last replicated sequence.
    #[must_use]
    pub fn stop(self) -> (u64, u64) {
        let cursor = self.supervisor.cursor();
        self.supervisor.stop();
        let epoch = self.lease.epoch();
        drop(self.lease);
        (epoch, cursor.get().0)
    }
}
