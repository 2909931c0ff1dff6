//! Core pinning, idle strategies, agents, SPSC rings, clocks and host checks:
//! everything in Arbiter that knows which machine it runs on.
//!
//! # Usage
//! Agents are the unit of scheduling: a gateway, the sequencer, the flusher
//! and the reporter each implement [`Agent`] and run on their own thread via
//! [`AgentRunner::spawn`], which pins the thread, optionally raises it to
//! `SCHED_FIFO` and locks memory, then alternates `do_work` with an
//! [`IdleStrategy`] chosen by configuration ([`IdleConfig`]). Agents talk
//! through [`spsc`] rings. The sequencer stamps time from a [`WallClock`];
//! latency is measured with a [`MonoClock`]. [`host_check::run`] tells an SRE
//! what on the host is not yet tuned.
//!
//! Call [`allowed_cores`] once at start-up, on the main thread, before
//! pinning anything: the answer depends on the calling thread's affinity.
//!
//! # Examples
//! ```
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use arbiter_hardware::{Agent, AgentRunner, RunnerConfig};
//!
//! struct Ticker { ticks: u32, shutdown: Arc<AtomicBool> }
//! impl Agent for Ticker {
//!     fn do_work(&mut self) -> u32 {
//!         self.ticks += 1;
//!         if self.ticks == 100 { self.shutdown.store(true, Ordering::Release); }
//!         1
//!     }
//!     fn role_name(&self) -> &'static str { "ticker" }
//! }
//!
//! let shutdown = Arc::new(AtomicBool::new(false));
//! let agent = Ticker { ticks: 0, shutdown: Arc::clone(&shutdown) };
//! let handle = AgentRunner::spawn(agent, RunnerConfig::unpinned("ticker"), shutdown).unwrap();
//! let joined = handle.join().unwrap();
//! assert_eq!(joined.agent.ticks, 100);
//! assert_eq!(joined.stats.work_count, 100);
//! ```
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(test, deny(warnings))]

mod agent;
pub mod alloc_count;
mod clock;
pub mod clock_sync;
pub mod frames;
pub mod host_check;
mod idle;
pub mod spsc;
mod sys;

pub use agent::{
    allowed_cores, check_core, pin_current_thread, Agent, AgentHandle, AgentPanicked, AgentRunner,
    AgentStats, AgentStatsSnapshot, Joined, RunnerConfig,
};
pub use clock::{
    MonoClock, MonoSource, SystemRealtime, TimeSource, TscCalibration, TscFlags, WallClock,
    WallClockMetrics, CALIBRATION_NS,
};
pub use clock_sync::{ClockSyncStatus, KernelTimeState, CLOCK_OFFSET_LIMIT_US_DEFAULT};
pub use host_check::{HostCheckInput, Report};
pub use idle::{
    AnyIdle, Backoff, BackoffConfig, BackoffState, BusySpin, IdleAction, IdleConfig,
    IdleConfigError, IdleStrategy, Sleeping, Yielding, SLEEP_PARK_NS_DEFAULT,
};
