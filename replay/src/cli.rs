//! The command line: clap definitions and the dispatch to one module per command.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::book::Point;
use crate::error::ReplayError;
use crate::export::TableKind;
use crate::filter::{Filter, FilterArgs};
use crate::resume::{daemon_snapshot_dir, SnapshotArgs};
use crate::table::Format;
use crate::tail::TailLimits;
use crate::time::parse_iso;
use crate::venue::Venue;
use crate::{
    access, bench, book, check, dump, export, snapshot, source, stats, tail, verify, whatif,
    Outcome,
};

/// Arbiter's journal replay tool: verify, dump, filter, export, rebuild and check journals.
#[derive(Parser, Debug)]
#[command(name = "arbiter-replay", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CommandLine,
}

/// The journal and the configuration to replay it with.
#[derive(Args, Debug, Clone)]
pub struct JournalArgs {
    /// The journal directory (e.g. ./arbiter-data/journal).
    pub dir: PathBuf,
    /// Build the engine from this configuration file instead of the journal's CONFIG record.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum CommandLine {
    /// Check CRCs, the hash chain, sequence continuity and snapshot files; exit 1 at the
    /// first bad record (segment, offset, sequence, what is wrong).
    Verify {
        /// The journal directory (or, with --access, the access trail directory).
        dir: PathBuf,
        /// Also check every seal against the signed checkpoints (`checkpoints.sig`) with
        /// this public key (64 hex digits): a journal rewritten and re-chained without the
        /// secret key fails at the first rewritten block.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// Also compare every seal with this external anchor file (needs --public-key).
        #[arg(long, value_name = "FILE", requires = "public_key")]
        anchor: Option<PathBuf>,
        /// Accept seals after the last checkpoint (a live journal's tail not signed yet).
        #[arg(long, requires = "public_key")]
        allow_unsigned_tail: bool,
        /// The directory is an access trail (no snapshots are looked for).
        #[arg(long)]
        access: bool,
    },
    /// Create an Ed25519 key pair for signed checkpoints: SECRET (hex seed, mode 0600) and
    /// PUBLIC (hex). Refuses to overwrite either file.
    Keygen {
        /// The secret key file to create.
        secret: PathBuf,
        /// The public key file to create (default: SECRET with `.pub` appended).
        public: Option<PathBuf>,
    },

    /// Print records as readable lines (or JSON lines), each command with its events.
    Dump {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        #[command(flatten)]
        /// Filters.
        filter: FilterArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// The directory is an access trail (e.g. ./arbiter-data/access): print its
        /// logons, logouts, disconnects, refusals and admin requests, one line each.
        #[arg(long)]
        access: bool,
    },
    /// Write a table (commands, events, trades, lifecycle) as CSV or Parquet.
    Export {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        #[command(flatten)]
        /// Filters.
        filter: FilterArgs,
        /// File format.
        #[arg(long, value_enum)]
        format: Format,
        /// Which table.
        #[arg(long, value_enum)]
        table: TableKind,
        /// Output file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Rebuild the engine at a sequence or time and print L2 depth and L3 orders.
    #[command(group(ArgGroup::new("point").required(true).args(["at_seq", "at_time"])))]
    Book {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        /// State after this sequence.
        #[arg(long, value_name = "N")]
        at_seq: Option<u64>,
        /// State after the last record at or before this time (ISO 8601 UTC).
        #[arg(long, value_name = "TIME")]
        at_time: Option<String>,
        /// Only this instrument.
        #[arg(long, value_name = "SYMBOL")]
        instrument: Option<String>,
        /// Price levels per side.
        #[arg(long, default_value_t = 10)]
        depth: usize,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        /// Where to look for a snapshot to start from.
        snapshots: SnapshotArgs,
    },
    /// Re-run the commands and compare the engine digest with every DIGEST record; exit 1
    /// at the first divergence.
    Check {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        /// Stop after this sequence.
        #[arg(long, value_name = "N")]
        to_seq: Option<u64>,
        #[command(flatten)]
        /// Where to look for a snapshot to start from (only the commands after it are
        /// checked).
        snapshots: SnapshotArgs,
    },
    /// Write the daemon's state (engine and gateway order table) at a sequence or a time as
    /// a snapshot file, from the journal alone: a restart of the daemon, `book` and `check`
    /// start from it.
    #[command(group(ArgGroup::new("point").args(["at_seq", "at_time"])))]
    Snapshot {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        /// State after this sequence (default: the journal's last record).
        #[arg(long, value_name = "N")]
        at_seq: Option<u64>,
        /// State after the last record at or before this time (ISO 8601 UTC).
        #[arg(long, value_name = "TIME")]
        at_time: Option<String>,
        /// Directory to write to (default: the daemon's snapshot directory beside the
        /// journal, e.g. ./arbiter-data/snapshots).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Re-run with another configuration and print what changes.
    WhatIf {
        /// The journal directory.
        dir: PathBuf,
        /// The other configuration.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The journal's configuration to compare against (default: its CONFIG record).
        #[arg(long, value_name = "FILE")]
        base_config: Option<PathBuf>,
        /// First command re-run (both engines start empty here).
        #[arg(long, value_name = "N")]
        from_seq: Option<u64>,
        /// Last command re-run.
        #[arg(long, value_name = "N")]
        to_seq: Option<u64>,
        /// Differences listed one by one (the counts cover all).
        #[arg(long, default_value_t = 50)]
        show: usize,
    },
    /// Counts per command and event kind, reject reasons, rates over time, busiest
    /// accounts and instruments.
    Stats {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
        #[command(flatten)]
        /// Filters.
        filter: FilterArgs,
        /// Intervals in the rate-over-time table.
        #[arg(long, default_value_t = 10)]
        buckets: usize,
        /// Accounts and instruments listed.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Follow a live journal and print records as they are written.
    Tail {
        /// The journal directory.
        dir: PathBuf,
        /// Build the engine from this configuration file instead of the journal's.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        /// Filters.
        filter: FilterArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Stop after printing this many records.
        #[arg(long, value_name = "N")]
        max_records: Option<u64>,
        /// Stop after this many seconds without a new record.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
    },
    /// Time verify and replay; the last line is `records=N elapsed_ms=E records_per_sec=R`.
    Bench {
        #[command(flatten)]
        /// Journal and configuration.
        journal: JournalArgs,
    },
}

fn read_venue(path: &Path) -> Result<Venue, ReplayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReplayError::Config(format!("{}: {e}", path.display())))?;
    Venue::parse(&text)
}

/// Runs a parsed command line, writing results to `out`.
///
/// # Errors
/// Whatever stops the command (findings are [`Outcome::Findings`], not errors).
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome, ReplayError> {
    match cli.command {
        CommandLine::Verify {
            dir,
            public_key,
            anchor,
            allow_unsigned_tail,
            access,
        } => verify::run_with(
            &dir,
            &verify::Options {
                public_key,
                anchor,
                allow_unsigned_tail,
                access,
            },
            out,
        ),
        CommandLine::Keygen { secret, public } => verify::keygen(&secret, public, out),
        CommandLine::Dump {
            journal,
            json,
            access: true,
            ..
        } => access::run(&journal.dir, json, out),
        CommandLine::Dump {
            journal,
            filter,
            json,
            access: false,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let filter = Filter::resolve(&filter, &venue)?;
            dump::run(&reader, venue, journal.config.is_none(), &filter, json, out)
        }
        CommandLine::Export {
            journal,
            filter,
            format,
            table,
            out: path,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let filter = Filter::resolve(&filter, &venue)?;
            let follow = journal.config.is_none();
            let (outcome, rows) =
                export::run(&reader, venue, follow, &filter, table, format, &path)?;
            writeln!(out, "{rows} rows written to {}", path.display())?;
            Ok(outcome)
        }
        CommandLine::Book {
            journal,
            at_seq,
            at_time,
            instrument,
            depth,
            json,
            snapshots,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let snapshots = snapshots.directory(&journal.dir, &venue.config);
            let point = match (at_seq, at_time) {
                (Some(sequence), _) => Point::Sequence(sequence),
                (None, Some(time)) => Point::Time(parse_iso(&time).map_err(ReplayError::Usage)?),
                (None, None) => return Err(ReplayError::Usage("--at-seq or --at-time".into())),
            };
            let instrument = match instrument {
                Some(symbol) => Some(venue.instrument_by_symbol(&symbol).ok_or_else(|| {
                    ReplayError::Usage(format!("no instrument {symbol:?} in the configuration"))
                })?),
                None => None,
            };
            let follow = journal.config.is_none();
            book::run(
                &reader,
                venue,
                follow,
                point,
                instrument,
                depth,
                json,
                snapshots.as_deref(),
                out,
            )
        }
        CommandLine::Check {
            journal,
            to_seq,
            snapshots,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let snapshots = snapshots.directory(&journal.dir, &venue.config);
            let mut filter = Filter::all();
            filter.to_seq = to_seq.unwrap_or(u64::MAX);
            check::run(
                &reader,
                venue,
                journal.config.is_none(),
                &filter,
                snapshots.as_deref(),
                out,
            )
        }
        CommandLine::Snapshot {
            journal,
            at_seq,
            at_time,
            out: out_dir,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let mut filter = Filter::all();
            if let Some(sequence) = at_seq {
                filter.to_seq = sequence;
            }
            if let Some(time) = at_time {
                filter.to_time_ns = parse_iso(&time).map_err(ReplayError::Usage)?;
            }
            let out_dir = match out_dir {
                Some(dir) => dir,
                None => daemon_snapshot_dir(&journal.dir, &venue.config).ok_or_else(|| {
                    ReplayError::Usage(format!(
                        "{} is not laid out as the daemon's journal directory ({}): pass --out DIR",
                        journal.dir.display(),
                        venue.config.journal.dir.display()
                    ))
                })?,
            };
            snapshot::run(
                &reader,
                &venue,
                journal.config.is_none(),
                &filter,
                &out_dir,
                out,
            )
        }
        CommandLine::WhatIf {
            dir,
            config,
            base_config,
            from_seq,
            to_seq,
            show,
        } => {
            let (reader, base) = source::open(&dir, base_config.as_deref())?;
            let other = read_venue(&config)?;
            whatif::run(
                &reader,
                base,
                other,
                from_seq.unwrap_or(0),
                to_seq.unwrap_or(u64::MAX),
                show,
                out,
            )
        }
        CommandLine::Stats {
            journal,
            filter,
            buckets,
            top,
        } => {
            let (reader, venue) = source::open(&journal.dir, journal.config.as_deref())?;
            let filter = Filter::resolve(&filter, &venue)?;
            stats::run(
                &reader,
                venue,
                journal.config.is_none(),
                &filter,
                buckets,
                top,
                out,
            )
        }
        CommandLine::Tail {
            dir,
            config,
            filter,
            json,
            max_records,
            timeout,
        } => {
            let venue = config.as_deref().map(read_venue).transpose()?;
            let limits = TailLimits {
                records_max: max_records,
                idle_timeout: timeout
                    .map(|s| {
                        Duration::try_from_secs_f64(s)
                            .map_err(|e| ReplayError::Usage(format!("--timeout: {e}")))
                    })
                    .transpose()?,
            };
            tail::run(&dir, venue, &filter, json, limits, out)
        }
        CommandLine::Bench { journal } => bench::run(&journal.dir, journal.config.as_deref(), out),
    }
}
