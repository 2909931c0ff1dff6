//! Agents and the thread that runs one: pin, raise priority, lock memory, then
//! `do_work` / `idle` until shutdown.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use serde::Deserialize;

use crate::idle::{IdleConfig, IdleStrategy};
use crate::sys;

/// One unit of work driven by a dedicated thread (Agrona's `Agent`).
///
/// `do_work` must be bounded: it returns after a bounded amount of work so the
/// runner can check for shutdown and record statistics.
pub trait Agent {
    /// Does a bounded amount of work and returns how much (0 = nothing to do).
    fn do_work(&mut self) -> u32;
    /// Stable role name for logs and metrics (`"sequencer"`, `"gateway"`).
    fn role_name(&self) -> &'static str;
    /// Called once on the agent thread after pinning, before the first duty cycle.
    fn on_start(&mut self) {}
    /// Called once on the agent thread after shutdown was observed.
    fn on_close(&mut self) {}
}

/// How an agent's thread is set up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Thread name (Linux keeps the first 15 bytes): shows up in `top -H`, `perf`.
    pub name: String,
    /// Core to pin to; `None` leaves the thread to the scheduler.
    #[serde(default)]
    pub core: Option<usize>,
    /// What to do on idle cycles.
    #[serde(default)]
    pub idle: IdleConfig,
    /// `SCHED_FIFO` priority (1..=99) when permitted; `None` keeps `SCHED_OTHER`.
    #[serde(default)]
    pub realtime_priority: Option<i32>,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` when permitted.
    #[serde(default)]
    pub lock_memory: bool,
}

impl RunnerConfig {
    /// An unpinned, backoff-idling config: what tests and small boxes use.
    #[must_use]
    pub fn unpinned(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            core: None,
            idle: IdleConfig::default(),
            realtime_priority: None,
            lock_memory: false,
        }
    }
}

/// The cores this process may run on, read once.
///
/// `core_affinity::get_core_ids()` answers for the *calling thread*: once a
/// thread is pinned it sees only its own core. The first call therefore must
/// happen at start-up, on the main thread, before anything is pinned; this
/// function caches that answer for the life of the process.
#[must_use]
pub fn allowed_cores() -> &'static [usize] {
    static CORES: OnceLock<Vec<usize>> = OnceLock::new();
    CORES.get_or_init(|| {
        let mut cores: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|core| core.id)
            .collect();
        cores.sort_unstable();
        cores
    })
}

/// Checks that `core` exists and is in this process's allowed set.
///
/// # Errors
/// `InvalidInput` with a message telling which of the two it is.
pub fn check_core(core: usize) -> io::Result<()> {
    let allowed = allowed_cores();
    if allowed.contains(&core) {
        return Ok(());
    }
    let configured = sys::cpus_configured();
    let message = if core >= configured {
        format!("core {core} does not exist: this host has {configured} CPUs (0..{configured})")
    } else {
        format!(
            "core {core} exists but this process may not run on it (allowed: {allowed:?}); \
             check the cgroup cpuset, taskset, or systemd CPUAffinity="
        )
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, message))
}

/// Pins the calling thread to `core` (for threads not run by [`AgentRunner`],
/// e.g. benchmarks and the main thread).
///
/// # Errors
/// As [`check_core`]; `Other` when the kernel refuses the affinity.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    check_core(core)?;
    if core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "sched_setaffinity to core {core} refused"
        )))
    }
}

/// Counters of one agent, written only by its thread, read by anyone (metrics).
///
/// Single writer: updates are relaxed load + store, not locked read-modify-write.
/// The block is 128-byte aligned so reader traffic never false-shares with
/// another agent's counters.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub struct AgentStats {
    duty_cycles: AtomicU64,
    idle_cycles: AtomicU64,
    work_count: AtomicU64,
    running: AtomicBool,
}

const _: () = assert!(core::mem::size_of::<AgentStats>() == 128);

/// A copy of [`AgentStats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentStatsSnapshot {
    /// Calls of `do_work`.
    pub duty_cycles: u64,
    /// Calls of `do_work` that returned 0.
    pub idle_cycles: u64,
    /// Sum of the work counts returned.
    pub work_count: u64,
    /// Between `on_start` and `on_close`.
    pub running: bool,
}

impl AgentStats {
    #[inline]
    fn record(&self, work: u32) {
        bump(&self.duty_cycles, 1);
        if work == 0 {
            bump(&self.idle_cycles, 1);
        } else {
            bump(&self.work_count, u64::from(work));
        }
    }

    /// Reads all counters (each individually consistent, not as a group).
    #[must_use]
    pub fn snapshot(&self) -> AgentStatsSnapshot {
        AgentStatsSnapshot {
            duty_cycles: self.duty_cycles.load(Ordering::Relaxed),
            idle_cycles: self.idle_cycles.load(Ordering::Relaxed),
            work_count: self.work_count.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Acquire),
        }
    }
}

#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// Namespace for [`AgentRunner::spawn`].
#[derive(Debug)]
pub enum AgentRunner {}

/// A running agent thread.
pub struct AgentHandle<A> {
    name: String,
    role: &'static str,
    core: Option<usize>,
    warnings: Vec<String>,
    stats: Arc<AgentStats>,
    thread: JoinHandle<A>,
}

impl<A> fmt::Debug for AgentHandle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentHandle")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("core", &self.core)
            .field("warnings", &self.warnings)
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

/// What [`AgentHandle::join`] gives back.
#[derive(Debug)]
pub struct Joined<A> {
    /// The agent, after `on_close`.
    pub agent: A,
    /// Final counters.
    pub stats: AgentStatsSnapshot,
}

/// The agent's thread panicked.
#[derive(Debug)]
pub struct AgentPanicked {
    /// Thread name.
    pub name: String,
    /// Panic payload when it was a string.
    pub message: String,
}

impl fmt::Display for AgentPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agent thread {} panicked: {}", self.name, self.message)
    }
}

impl std::error::Error for AgentPanicked {}

struct SetupReport {
    warnings: Vec<String>,
}

impl AgentRunner {
    /// Starts `agent` on a new named thread and returns once the thread has
    /// pinned itself and applied priority and memory locking, so that
    /// [`AgentHandle::warnings`] is complete when this returns.
    ///
    /// Pinning, priority and locking failures inside the thread are soft: they
    /// become warnings (also printed with `eprintln!`) and the agent still runs,
    /// because a degraded engine on a laptop beats none. A core that does not
    /// exist or is not allowed is a configuration error and fails the spawn.
    ///
    /// The loop runs until `shutdown` is set; set it, then call
    /// [`AgentHandle::join`] (which also wakes a parked agent).
    ///
    /// # Errors
    /// `InvalidInput` for an empty name, an invalid idle configuration or a bad
    /// core (see [`check_core`]); the OS error when the thread cannot be created.
    pub fn spawn<A>(
        agent: A,
        config: RunnerConfig,
        shutdown: Arc<AtomicBool>,
    ) -> io::Result<AgentHandle<A>>
    where
        A: Agent + Send + 'static,
    {
        if config.name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "agent thread name is empty",
            ));
        }
        let mut idle = config
            .idle
            .build()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        if let Some(core) = config.core {
            check_core(core)?;
        }
        let mut warnings = Vec::new();
        if config.core.is_none() && config.idle.spins() {
            warnings.push(format!(
                "{}: busy-spin without a pinned core burns a shared CPU",
                config.name
            ));
        }
        let stats = Arc::new(AgentStats::default());
        let thread_stats = Arc::clone(&stats);
        let role = agent.role_name();
        let (setup_sender, setup_receiver) = mpsc::channel::<SetupReport>();
        let thread_config = config.clone();
        let thread = thread::Builder::new()
            .name(config.name.clone())
            .spawn(move || {
                let mut agent = agent;
                let report = SetupReport {
                    warnings: setup_thread(&thread_config),
                };
                // The receiver waits for exactly this message; it cannot be gone.
                let _ = setup_sender.send(report);
                drop(setup_sender);
                agent.on_start();
                thread_stats.running.store(true, Ordering::Release);
                while !shutdown.load(Ordering::Acquire) {
                    let work = agent.do_work();
                    thread_stats.record(work);
                    idle.idle(work);
                }
                agent.on_close();
                thread_stats.running.store(false, Ordering::Release);
                agent
            })?;
        match setup_receiver.recv() {
            Ok(report) => warnings.extend(report.warnings),
            Err(_) => warnings.push(format!("{}: thread ended during setup", config.name)),
        }
        for warning in &warnings {
            eprintln!("arbiter-hardware: warning: {warning}");
        }
        Ok(AgentHandle {
            name: config.name,
            role,
            core: config.core,
            warnings,
            stats,
            thread,
        })
    }
}

/// Runs on the agent thread: pin, priority, memory lock. Returns warnings.
fn setup_thread(config: &RunnerConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let name = &config.name;
    if let Some(core) = config.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            warnings.push(format!(
                "{name}: could not pin to core {core}; running unpinned"
            ));
        }
    }
    if let Some(priority) = config.realtime_priority {
        if let Err(error) = sys::set_realtime_priority(priority) {
            warnings.push(format!(
                "{name}: SCHED_FIFO priority {priority} not set ({error}); needs CAP_SYS_NICE \
                 or LimitRTPRIO= in the systemd unit"
            ));
        }
    }
    if config.lock_memory {
        if let Err(error) = sys::lock_all_memory() {
            warnings.push(format!(
                "{name}: mlockall failed ({error}); raise LimitMEMLOCK=infinity or grant CAP_IPC_LOCK"
            ));
        }
    }
    warnings
}

impl<A> AgentHandle<A> {
    /// Thread name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent's role name.
    #[must_use]
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// The configured core.
    #[must_use]
    pub fn core(&self) -> Option<usize> {
        self.core
    }

    /// Soft failures of the set-up (pinning, priority, memory locking).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Shared counters, to hand to a metrics reporter.
    #[must_use]
    pub fn stats(&self) -> Arc<AgentStats> {
        Arc::clone(&self.stats)
    }

    /// Wakes the thread if it is parked by its idle strategy (e.g. right after
    /// setting the shutdown flag, so shutdown does not wait a park period).
    pub fn wake(&self) {
        self.thread.thread().unpark();
    }

    /// Waits for the thread to end and returns the agent and its final counters.
    ///
    /// Blocks until the shutdown flag given to [`AgentRunner::spawn`] is set.
    ///
    /// # Errors
    /// [`AgentPanicked`] when the agent panicked.
    pub fn join(self) -> Result<Joined<A>, AgentPanicked> {
        self.wake();
        match self.thread.join() {
            Ok(agent) => Ok(Joined {
                agent,
                stats: self.stats.snapshot(),
            }),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Err(AgentPanicked {
                    name: self.name,
                    message,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idle::BackoffConfig;

    /// Counts its duty cycles; does "work" on every third one; raises shutdown itself
    /// after `stop_after` work units so the test needs no timing at all.
    struct CountingAgent {
        calls: u64,
        work_done: u64,
        stop_after: u64,
        shutdown: Arc<AtomicBool>,
        started: bool,
        closed: bool,
    }

    impl Agent for CountingAgent {
        fn do_work(&mut self) -> u32 {
            self.calls += 1;
            if self.calls % 3 != 0 {
                return 0;
            }
            self.work_done += 2;
            if self.work_done >= self.stop_after {
                self.shutdown.store(true, Ordering::Release);
            }
            2
        }
        fn role_name(&self) -> &'static str {
            "counter"
        }
        fn on_start(&mut self) {
            self.started = true;
        }
        fn on_close(&mut self) {
            self.closed = true;
        }
    }

    fn backoff_config(name: &str) -> RunnerConfig {
        RunnerConfig {
            idle: IdleConfig::Backoff(BackoffConfig {
                spins_max: 2,
                yields_max: 2,
                park_ns_min: 1_000,
                park_ns_max: 100_000,
            }),
            ..RunnerConfig::unpinned(name)
        }
    }

    #[test]
    fn counting_agent_stops_on_shutdown_and_comes_back() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let agent = CountingAgent {
            calls: 0,
            work_done: 0,
            stop_after: 200,
            shutdown: Arc::clone(&shutdown),
            started: false,
            closed: false,
        };
        let handle =
            AgentRunner::spawn(agent, backoff_config("test-counter"), Arc::clone(&shutdown))
                .unwrap();
        assert_eq!(handle.role(), "counter");
        assert!(handle.warnings().is_empty(), "{:?}", handle.warnings());
        let stats = handle.stats();
        let joined = handle.join().unwrap();
        assert!(joined.agent.started);
        assert!(joined.agent.closed);
        assert_eq!(joined.agent.work_done, 200);
        assert_eq!(joined.stats.duty_cycles, joined.agent.calls);
        assert_eq!(joined.stats.work_count, 200);
        assert_eq!(joined.stats.idle_cycles, joined.agent.calls - 100);
        assert!(!joined.stats.running);
        assert_eq!(stats.snapshot(), joined.stats);
    }

    struct IdleAgent;
    impl Agent for IdleAgent {
        fn do_work(&mut self) -> u32 {
            0
        }
        fn role_name(&self) -> &'static str {
            "idle"
        }
    }

    #[test]
    fn external_shutdown_stops_a_parked_agent() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let handle = AgentRunner::spawn(
            IdleAgent,
            backoff_config("test-idle"),
            Arc::clone(&shutdown),
        )
        .unwrap();
        shutdown.store(true, Ordering::Release);
        let joined = handle.join().unwrap();
        assert_eq!(joined.stats.work_count, 0);
        assert_eq!(joined.stats.duty_cycles, joined.stats.idle_cycles);
    }

    #[test]
    fn pinning_to_a_missing_core_is_an_error() {
        let shutdown = Arc::new(AtomicBool::new(true));
        let config = RunnerConfig {
            core: Some(usize::MAX / 2),
            ..backoff_config("test-nocore")
        };
        let error = AgentRunner::spawn(IdleAgent, config, shutdown).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("does not exist"), "{error}");
    }

    #[test]
    fn pinning_to_an_allowed_core_runs() {
        let Some(&core) = allowed_cores().first() else {
            return;
        };
        let shutdown = Arc::new(AtomicBool::new(true));
        let config = RunnerConfig {
            core: Some(core),
            ..backoff_config("test-pinned")
        };
        let handle = AgentRunner::spawn(IdleAgent, config, shutdown).unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn unpermitted_priority_and_mlock_are_soft() {
        let shutdown = Arc::new(AtomicBool::new(true));
        let config = RunnerConfig {
            realtime_priority: Some(1),
            lock_memory: true,
            ..backoff_config("test-soft")
        };
        // Whether they succeed depends on privileges; either way the agent runs.
        let handle = AgentRunner::spawn(IdleAgent, config, shutdown).unwrap();
        assert!(handle.warnings().len() <= 2);
        handle.join().unwrap();
    }

    #[derive(Debug)]
    struct PanickingAgent;
    impl Agent for PanickingAgent {
        fn do_work(&mut self) -> u32 {
            panic!("boom");
        }
        fn role_name(&self) -> &'static str {
            "panics"
        }
    }

    #[test]
    fn a_panicking_agent_is_reported() {
        let shutdown = Arc::new(AtomicBool::new(false));
        let handle =
            AgentRunner::spawn(PanickingAgent, backoff_config("test-panic"), shutdown).unwrap();
        let error = handle.join().unwrap_err();
        assert_eq!(error.message, "boom");
    }

    #[test]
    fn empty_name_and_bad_idle_are_rejected() {
        let shutdown = Arc::new(AtomicBool::new(true));
        assert!(
            AgentRunner::spawn(IdleAgent, RunnerConfig::unpinned(""), Arc::clone(&shutdown))
                .is_err()
        );
        let config = RunnerConfig {
            idle: IdleConfig::Sleep { park_ns: 0 },
            ..RunnerConfig::unpinned("x")
        };
        assert!(AgentRunner::spawn(IdleAgent, config, shutdown).is_err());
    }

    #[test]
    fn runner_config_from_toml() {
        let config: RunnerConfig = toml::from_str(
            "name = \"sequencer\"\ncore = 3\nidle = \"busy-spin\"\nrealtime_priority = 80\nlock_memory = true\n",
        )
        .unwrap();
        assert_eq!(config.core, Some(3));
        assert_eq!(config.idle, IdleConfig::BusySpin);
    }
}
