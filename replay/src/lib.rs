//! The quants' journal replay tool: verify, dump, filter, export, rebuild, determinism
//! check, what-if, statistics, tail, bench and snapshot, over an Arbiter journal directory.
//!
//! Every command reads the journal through the journal crate's memory-mapped [`Reader`]
//! (nothing is loaded whole) and rebuilds engine state by replaying commands from the
//! journal's start into an engine built from the journal's first CONFIG record (or
//! `--config FILE`), exactly as the daemon built it. `book` and `check` start from the
//! nearest daemon snapshot at or before their point instead when one is usable
//! ([`resume`]); `snapshot` writes such a file from the journal alone ([`snapshot`]).
//!
//! # Usage
//! ```text
//! arbiter-replay verify ./arbiter-data/journal
//! arbiter-replay dump ./arbiter-data/journal --instrument AAPL --from-time 2024-03-01T09:30:00Z
//! arbiter-replay export ./arbiter-data/journal --table lifecycle --format parquet --out orders.parquet
//! arbiter-replay book ./arbiter-data/journal --at-seq 120000 --depth 5
//! arbiter-replay check ./arbiter-data/journal
//! arbiter-replay snapshot ./arbiter-data/journal --at-seq 120000   # into ./arbiter-data/snapshots
//! arbiter-replay book ./arbiter-data/journal --at-seq 125000 --snapshots ./arbiter-data/snapshots
//! arbiter-replay what-if ./arbiter-data/journal --config tighter-bands.toml
//! ```
//!
//! # Examples
//! The library runs a parsed command line against any writer:
//! ```
//! use arbiter_replay::synthetic::write_synthetic;
//! use arbiter_replay::{run, Cli, Outcome};
//! use clap::Parser;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let config = arbiter_config::DEFAULT_CONFIG;
//! write_synthetic(dir.path(), config, vec![15_000, 40_000, 500_000, 108_000], 500, 100, 1_700_000_000_000_000_000, 1 << 20).unwrap();
//! let cli = Cli::try_parse_from(["arbiter-replay", "check", dir.path().to_str().unwrap()]).unwrap();
//! let mut out = Vec::new();
//! assert_eq!(run(cli, &mut out).unwrap(), Outcome::Clean);
//! assert!(String::from_utf8(out).unwrap().starts_with("OK: 500 commands replayed, 5 digests match"));
//! ```
//!
//! [`Reader`]: arbiter_journal::Reader
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]

pub mod access;
pub mod bench;
pub mod book;
pub mod check;
mod cli;
pub mod dump;
mod error;
pub mod export;
pub mod filter;
pub mod names;
mod progress;
pub mod render;
pub mod replayer;
pub mod resume;
pub mod snapshot;
pub mod source;
pub mod stats;
pub mod synthetic;
pub mod table;
pub mod tail;
pub mod time;
pub mod venue;
pub mod verify;
pub mod walk;
pub mod whatif;

pub use cli::{run, Cli, CommandLine, JournalArgs};
pub use error::ReplayError;
pub use filter::{Filter, FilterArgs};
pub use progress::Progress;
pub use replayer::{OrderInfo, OrderStatus, Replayer};
pub use venue::Venue;

/// How a command ended when nothing stopped it: the process exit code follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing wrong found (exit 0).
    Clean,
    /// The command found a problem it exists to find: corruption, a digest divergence
    /// (exit 1).
    Findings,
}
