//! State snapshots: a thread that follows the journal with its own engine and gateway
//! replica (so it never stalls the sequencer) and writes "state at sequence N" files; and
//! start-up's choice of the newest valid one.
//!
//! A snapshot file (`arbiter_journal::snapshot`) holds the container of
//! [`arbiter::state`]: the engine's bytes, the gateway's and the last configuration text
//! journaled, so that the configuration check of recovery still sees it. The replica and
//! the container are shared with the replay tool, which writes the same files from a
//! journal alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_config::Config;
use arbiter_engine::Engine;
use arbiter_journal::snapshot::latest_valid_snapshot;
use arbiter_journal::{Sequence, TailReader};

use crate::fix_app::FixApp;
use crate::state::{Replica, Step};

/// Snapshots kept; older ones are deleted after each write.
pub const SNAPSHOTS_KEPT: usize = 3;
/// How long an admin `snapshot` waits for the agent.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const IDLE_SLEEP: Duration = Duration::from_millis(5);

/// A snapshot loaded at start-up.
pub struct Loaded {
    /// The restored engine.
    pub engine: Engine,
    /// The restored gateway state.
    pub app: FixApp,
    /// The state includes every record up to this one.
    pub sequence: Sequence,
    /// The file.
    pub path: PathBuf,
    /// The last configuration text journaled up to the snapshot.
    pub last_config: Option<String>,
}

/// The newest valid snapshot that fits this configuration and journal (whose next
/// sequence is `journal_next`), restored; `None` (with the reason logged) means full replay.
pub fn load_latest(config: &Config, journal_next: Sequence) -> Option<Loaded> {
    let dir = config.snapshot_dir();
    if !dir.exists() {
        return None;
    }
    let choice = match latest_valid_snapshot(&dir) {
        Ok(choice) => choice,
        Err(e) => {
            eprintln!(
                "arbiter: snapshots in {}: {e}; replaying the whole journal",
                dir.display()
            );
            return None;
        }
    };
    for skipped in &choice.skipped {
        eprintln!(
            "arbiter: snapshot {} skipped: {}",
            skipped.path.display(),
            skipped.error
        );
    }
    let snapshot = choice.snapshot?;
    let refuse = |why: String| {
        eprintln!(
            "arbiter: snapshot {} not used: {why}; replaying the whole journal",
            snapshot.path.display()
        );
    };
    if snapshot.sequence >= journal_next {
        refuse(format!(
            "it is at sequence {} but the journal ends before it (next {}): the journal lost its \
             tail",
            snapshot.sequence.0, journal_next.0
        ));
        return None;
    }
    let started = Instant::now();
    let replica = match Replica::restore(config, &snapshot.state, &snapshot.digest) {
        Ok(replica) => replica,
        Err(e) => {
            refuse(e);
            return None;
        }
    };
    let digest = replica.engine.digest();
    eprintln!(
        "arbiter: using snapshot {} (sequence {}, {} bytes, digest {digest:016x}, restored in {:?})",
        snapshot.path.display(),
        snapshot.sequence.0,
        snapshot.state.len(),
        started.elapsed()
    );
    Some(Loaded {
        engine: replica.engine,
        app: replica.app,
        sequence: snapshot.sequence,
        path: snapshot.path.clone(),
        last_config: replica.last_config,
    })
}

/// Deletes all but the newest `keep` snapshot files of `dir`.
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("snapshot-") && n.ends_with(".snap"))
        })
        .collect();
    // Names carry the zero-padded sequence: name order is sequence order.
    files.sort();
    let excess = files.len().saturating_sub(keep);
    for old in &files[..excess] {
        if let Err(e) = std::fs::remove_file(old) {
            eprintln!("arbiter: snapshot {}: remove: {e}", old.display());
        }
    }
}

#[derive(Default)]
struct Done {
    /// Requests answered.
    served: u64,
    /// The last answer.
    answer: String,
    /// The agent stopped (an error, or shutdown).
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    requested: AtomicU64,
    /// `u64::MAX` while running; then the last sequence the journal holds (`u64::MAX - 1`:
    /// unknown) to catch up to before the final snapshot.
    stop_after: AtomicU64,
    done: Mutex<Done>,
    cond: Condvar,
}

/// Asks the agent for a snapshot (admin `snapshot`).
#[derive(Clone)]
pub struct SnapshotRequester(Arc<Shared>);

impl SnapshotRequester {
    /// Requests a snapshot at the agent's next step and waits for it.
    ///
    /// # Errors
    /// A text when the agent failed, stopped, or did not answer in time.
    pub fn request(&self) -> Result<String, String> {
        let shared = &self.0;
        let ticket = shared.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let mut done = shared.done.lock().map_err(|_| "snapshot agent failed")?;
        loop {
            if done.served >= ticket {
                return if done.answer.starts_with("error") {
                    Err(done.answer.clone())
                } else {
                    Ok(done.answer.clone())
                };
            }
            if done.stopped {
                return Err(format!("snapshot agent stopped: {}", done.answer));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("snapshot agent did not answer in time".to_owned());
            }
            done = shared
                .cond
                .wait_timeout(done, deadline - now)
                .map_err(|_| "snapshot agent failed")?
                .0;
        }
    }
}

/// The running agent.
pub struct SnapshotAgentHandle {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

impl SnapshotAgentHandle {
    /// A handle for admin requests.
    #[must_use]
    pub fn requester(&self) -> SnapshotRequester {
        SnapshotRequester(Arc::clone(&self.shared))
    }

    /// After the journal is closed: catch up to `last` (the last sequence written, if any),
    /// write a final snapshot if the state moved since the last one, and stop.
    pub fn finish(self, last: Option<Sequence>) {
        self.shared
            .stop_after
            .store(last.map_or(u64::MAX - 1, |s| s.0), Ordering::Release);
        if self.thread.join().is_err() {
            eprintln!("arbiter: snapshot thread panicked");
        }
    }
}

/// The state the agent starts from, serialized on the start-up path and restored on the
/// agent's own thread (building a second engine takes long enough to delay the FIX
/// listener, which matters most in a failover).
pub struct StartState {
    /// [`Engine::snapshot_bytes`] of the recovered engine.
    pub engine: Vec<u8>,
    /// [`FixApp::snapshot_bytes`] of the recovered gateway state.
    pub app: Vec<u8>,
    /// The last configuration text journaled before the agent's first record.
    pub last_config: Option<String>,
}

/// The recovered engine while its state is serialized for the agent on a helper thread
/// (tens of megabytes for large price bands: long enough to matter to a failover).
pub struct LentEngine {
    engine: Lent,
    app: Vec<u8>,
    last_config: Option<String>,
    from: Sequence,
}

enum Lent {
    /// Snapshots are off: nothing to serialize (boxed: the other variant is a handle).
    Kept(Box<Engine>),
    /// Being serialized; the thread hands the engine back with its bytes.
    Serializing(JoinHandle<(Engine, Vec<u8>)>),
}

/// Lends the recovered `engine` (equal to the journal up to `from - 1`) to a thread that
/// serializes it for the snapshot agent (when `snapshots` is set); `app` is serialized here
/// (small). [`LentEngine::start_agent`] takes the engine back and starts the agent.
///
/// # Errors
/// A text when the thread cannot be spawned.
pub fn lend(
    engine: Engine,
    app: &FixApp,
    last_config: Option<String>,
    from: Sequence,
    snapshots: bool,
) -> Result<LentEngine, String> {
    let (engine, app) = if snapshots {
        let thread = std::thread::Builder::new()
            .name("arb-snapshot-state".into())
            .spawn(move || {
                let bytes = engine.snapshot_bytes();
                (engine, bytes)
            })
            .map_err(|e| format!("snapshot state thread: {e}"))?;
        (Lent::Serializing(thread), app.snapshot_bytes())
    } else {
        (Lent::Kept(Box::new(engine)), Vec::new())
    };
    Ok(LentEngine {
        engine,
        app,
        last_config,
        from,
    })
}

impl LentEngine {
    /// The engine back, and the snapshot agent started from its state (`None`: snapshots
    /// are off).
    ///
    /// # Errors
    /// A text when the serializing thread panicked, or the agent cannot start.
    pub fn start_agent(
        self,
        config: &Config,
    ) -> Result<(Engine, Option<SnapshotAgentHandle>), String> {
        match self.engine {
            Lent::Kept(engine) => Ok((*engine, None)),
            Lent::Serializing(thread) => {
                let (engine, bytes) = thread
                    .join()
                    .map_err(|_| "snapshot state thread panicked".to_owned())?;
                let state = StartState {
                    engine: bytes,
                    app: self.app,
                    last_config: self.last_config,
                };
                Ok((engine, Some(spawn(config, state, self.from)?)))
            }
        }
    }
}

/// Starts the agent from `state`, equal to the journal up to `from - 1` (the recovered
/// one). The replica is restored on the agent's thread; if that fails, the agent stops
/// (logged, and admin `snapshot` answers with the reason) and trading is not affected.
///
/// # Errors
/// A text when the thread or the journal follower cannot start.
pub fn spawn(
    config: &Config,
    state: StartState,
    from: Sequence,
) -> Result<SnapshotAgentHandle, String> {
    let journal_dir = config.journal_dir();
    let tail = TailReader::open(&journal_dir, from)
        .map_err(|e| format!("snapshot agent: journal {}: {e}", journal_dir.display()))?;
    let shared = Arc::new(Shared {
        stop_after: AtomicU64::new(u64::MAX),
        ..Shared::default()
    });
    let config = config.clone();
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("arb-snapshot".into())
            .spawn(move || {
                let replica = match restore_replica(&config, state) {
                    Ok(replica) => replica,
                    Err(e) => {
                        let outcome = format!("error: snapshot agent replica: {e}");
                        eprintln!("arbiter: snapshot agent stopped: {outcome}");
                        let mut done = shared.done.lock().expect("snapshot state");
                        done.stopped = true;
                        done.answer = outcome;
                        shared.cond.notify_all();
                        return;
                    }
                };
                let mut agent = Agent {
                    replica,
                    tail,
                    dir: config.snapshot_dir(),
                    interval: config.snapshot.interval_records,
                    since: 0,
                    written_at: None,
                    any_state: from.0 > 0,
                    shared,
                };
                agent.run();
            })
            .map_err(|e| format!("snapshot thread: {e}"))?
    };
    Ok(SnapshotAgentHandle { shared, thread })
}

/// The replica of a [`StartState`].
fn restore_replica(config: &Config, state: StartState) -> Result<Replica, String> {
    let engine = Engine::from_snapshot(
        config.engine_config(),
        config.registry(),
        &config.risk_config(),
        &state.engine,
    )
    .map_err(|e| e.to_string())?;
    let mut app = crate::state::new_gateway(config);
    app.restore(&state.app)?;
    Ok(Replica {
        engine,
        app,
        last_config: state.last_config,
    })
}

struct Agent {
    /// The state, one record at a time behind the sequencer.
    replica: Replica,
    tail: TailReader,
    dir: PathBuf,
    interval: u64,
    /// Commands applied since the last snapshot.
    since: u64,
    /// Sequence of the last snapshot written.
    written_at: Option<u64>,
    /// Whether the state covers any record at all.
    any_state: bool,
    shared: Arc<Shared>,
}

impl Agent {
    fn run(&mut self) {
        let mut served = 0u64;
        let mut idle_after_stop = 0u32;
        let outcome = loop {
            let progressed = match self.drain() {
                Ok(progressed) => progressed,
                Err(e) => break format!("error: {e}"),
            };
            let requested = self.shared.requested.load(Ordering::Acquire);
            if requested > served {
                let answer = match self.write() {
                    Ok(line) => format!("ok {line}"),
                    Err(e) => format!("error: {e}"),
                };
                served = requested;
                let mut done = self.shared.done.lock().expect("snapshot state");
                done.served = served;
                done.answer = answer;
                self.shared.cond.notify_all();
            }
            let stop_after = self.shared.stop_after.load(Ordering::Acquire);
            if stop_after != u64::MAX && !progressed {
                let applied = self.tail.next_sequence().0;
                // Bounded wait for records the journal still shows after the close.
                if applied > stop_after || stop_after == u64::MAX - 1 || idle_after_stop > 400 {
                    if self.written_at != self.last_sequence() {
                        if let Err(e) = self.write() {
                            eprintln!("arbiter: final snapshot: {e}");
                        }
                    }
                    break "stopped".to_owned();
                }
                idle_after_stop += 1;
            }
            if !progressed {
                std::thread::sleep(IDLE_SLEEP);
            }
        };
        if outcome.starts_with("error") {
            eprintln!("arbiter: snapshot agent stopped: {outcome}");
        }
        let mut done = self.shared.done.lock().expect("snapshot state");
        done.stopped = true;
        if done.answer.is_empty() || outcome.starts_with("error") {
            done.answer = outcome;
        }
        self.shared.cond.notify_all();
    }

    /// The sequence the state includes, if any record.
    fn last_sequence(&self) -> Option<u64> {
        let next = self.tail.next_sequence().0;
        (self.any_state && next > 0).then(|| next - 1)
    }

    /// Applies what the journal has (a bounded batch); true if anything was applied.
    fn drain(&mut self) -> Result<bool, String> {
        let mut progressed = false;
        for _ in 0..4096 {
            let Some(record) = self.tail.poll().map_err(|e| format!("journal: {e}"))? else {
                break;
            };
            progressed = true;
            self.any_state = true;
            let step = self.replica.apply(&record).map_err(|e| match e {
                divergence @ crate::state::ReplicaError::Divergence { .. } => {
                    format!("{divergence}; no more snapshots")
                }
                other => other.to_string(),
            })?;
            if step == Step::Command {
                self.since += 1;
            }
            if self.interval > 0 && self.since >= self.interval {
                // The record is finished: the state includes it.
                if let Err(e) = self.write() {
                    eprintln!("arbiter: snapshot: {e}");
                }
            }
        }
        Ok(progressed)
    }

    fn write(&mut self) -> Result<String, String> {
        let Some(sequence) = self.last_sequence() else {
            return Err("nothing journaled yet".to_owned());
        };
        let started = Instant::now();
        let (path, container_len) = self
            .replica
            .write_snapshot(&self.dir, Sequence(sequence))
            .map_err(|e| format!("snapshot {}: {e}", self.dir.display()))?;
        self.since = 0;
        self.written_at = Some(sequence);
        prune(&self.dir, SNAPSHOTS_KEPT);
        let line = format!(
            "snapshot at sequence {sequence}: {} ({} bytes, live orders {}, in {:?})",
            path.display(),
            container_len,
            self.replica.engine.live_orders(),
            started.elapsed()
        );
        eprintln!("arbiter: {line}");
        Ok(line)
    }
}
