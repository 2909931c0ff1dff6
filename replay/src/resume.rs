//! Starting `book` and `check` from a snapshot instead of the journal's start: the nearest
//! valid snapshot at or before the asked point, restored and verified (file CRC, the
//! engine's own digest check, the file's digest against the restored engine, the record it
//! names present in this journal), then the journal from the record after it. Every
//! snapshot refused is said on stderr with the reason, and when none fits the caller
//! replays the whole journal.
//!
//! Snapshots are the daemon's files (`snapshot-<sequence>.snap` with the container of
//! [`arbiter::state`]), written by its snapshot agent or by `arbiter-replay snapshot`.
use std::path::{Path, PathBuf};

use arbiter::state::Replica;
use arbiter_config::Config;
use arbiter_engine::{InstrumentId, Qty, Side};
use arbiter_journal::snapshot::read_snapshot;
use arbiter_journal::{Reader, Sequence};
use clap::Args;

use crate::replayer::{ClientOrderId, OrderInfo, Replayer};
use crate::venue::Venue;

/// Where `book` and `check` look for snapshots.
#[derive(Args, Debug, Clone, Default)]
pub struct SnapshotArgs {
    /// Start from the nearest snapshot at or before the point in this directory (default:
    /// the daemon's snapshot directory beside the journal, e.g. ./arbiter-data/snapshots,
    /// when it exists).
    #[arg(long, value_name = "DIR", conflicts_with = "no_snapshots")]
    pub snapshots: Option<PathBuf>,
    /// Replay from the journal's start even when snapshots exist.
    #[arg(long)]
    pub no_snapshots: bool,
}

impl SnapshotArgs {
    /// The directory to look in, if any: `--snapshots`, else the daemon's snapshot
    /// directory for this journal if it exists; none with `--no-snapshots`.
    #[must_use]
    pub fn directory(&self, journal_dir: &Path, config: &Config) -> Option<PathBuf> {
        if self.no_snapshots {
            return None;
        }
        if let Some(dir) = &self.snapshots {
            return Some(dir.clone());
        }
        daemon_snapshot_dir(journal_dir, config).filter(|dir| dir.is_dir())
    }
}

/// The daemon's snapshot directory for the journal in `journal_dir`, by the configuration's
/// layout: the journal is `<data_dir>/<journal.dir>` and snapshots `<data_dir>/<snapshot.dir>`
/// (`./arbiter-data/journal` → `./arbiter-data/snapshots`). `None` when `journal_dir` does
/// not end with the configured journal directory (a journal copied elsewhere).
#[must_use]
pub fn daemon_snapshot_dir(journal_dir: &Path, config: &Config) -> Option<PathBuf> {
    let journal_rel = config.journal.dir.as_path();
    if config.snapshot.dir.is_absolute() {
        return Some(config.snapshot.dir.clone());
    }
    if journal_rel.is_absolute() {
        return (journal_dir == journal_rel).then(|| config.snapshot_dir());
    }
    // Component-wise, so "./a/journal/" and "a/journal" compare alike.
    let journal: PathBuf = journal_dir
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    let journal_rel: PathBuf = journal_rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if journal_rel.as_os_str().is_empty() || !journal.ends_with(&journal_rel) {
        return None;
    }
    let mut data_dir = journal;
    for _ in journal_rel.components() {
        data_dir.pop();
    }
    Some(data_dir.join(&config.snapshot.dir))
}

/// Where the replay should end: a snapshot after it cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// State after this sequence.
    Sequence(u64),
    /// State after the last record at or before this time (ns).
    Time(u64),
    /// The journal's end.
    End,
}

/// A state restored from a snapshot, ready to replay the records after it.
#[derive(Debug)]
pub struct Resumed {
    /// The engine restored, the live orders known, the names of the configuration in force
    /// at the snapshot.
    pub replayer: Replayer,
    /// The state includes every record up to this one.
    pub sequence: u64,
    /// That record's timestamp (ns).
    pub timestamp_ns: u64,
    /// The snapshot file.
    pub path: PathBuf,
}

/// Snapshot files of `dir` by the sequence in their names, newest first.
fn candidates(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let digits = name
                .to_str()?
                .strip_prefix("snapshot-")?
                .strip_suffix(".snap")?
                .to_owned();
            Some((digits.parse().ok()?, entry.path()))
        })
        .collect();
    files.sort_unstable_by(|a, b| b.cmp(a));
    files
}

/// The nearest usable snapshot in `dir` at or before `limit`, restored under `venue` (the
/// configuration the replay builds its engine from). `follow_configs`: the names come from
/// the configuration journaled last before the snapshot, as a full replay would have them.
/// `track`: the replayer keeps order information (seeded from the snapshot's gateway table
/// and the engine's live orders). Refusals are said on stderr; `None`: replay from the start.
#[must_use]
pub fn resume(
    reader: &Reader,
    venue: &Venue,
    follow_configs: bool,
    dir: &Path,
    limit: Limit,
    track: bool,
) -> Option<Resumed> {
    let refuse = |path: &Path, why: &str| {
        eprintln!("arbiter-replay: snapshot {} refused: {why}", path.display());
    };
    for (named, path) in candidates(dir) {
        if matches!(limit, Limit::Sequence(to) if named > to) {
            continue;
        }
        let snapshot = match read_snapshot(&path) {
            Ok(snapshot) => snapshot,
            Err(e) => {
                refuse(&path, &e.to_string());
                continue;
            }
        };
        let sequence = snapshot.sequence.0;
        if sequence != named {
            refuse(&path, "the sequence inside differs from the file name");
            continue;
        }
        let record = match reader.iter_from_seq(Sequence(sequence)).next() {
            Some(Ok(view)) if view.sequence().0 == sequence => view,
            Some(Err(e)) => {
                refuse(&path, &format!("journal record {sequence}: {e}"));
                continue;
            }
            _ => {
                refuse(
                    &path,
                    &format!("it is at sequence {sequence}, which this journal does not hold"),
                );
                continue;
            }
        };
        let timestamp_ns = record.timestamp().0;
        if matches!(limit, Limit::Time(to) if timestamp_ns > to) {
            continue;
        }
        let replica = match Replica::restore(&venue.config, &snapshot.state, &snapshot.digest) {
            Ok(replica) => replica,
            Err(e) => {
                refuse(&path, &e);
                continue;
            }
        };
        let names = match (&replica.last_config, follow_configs) {
            (Some(text), true) => match Venue::parse(text) {
                Ok(names) => names,
                Err(e) => {
                    refuse(&path, &format!("its configuration text: {e}"));
                    continue;
                }
            },
            _ => venue.clone(),
        };
        let orders = if track {
            known_orders(&replica, names.instrument_count())
        } else {
            Vec::new()
        };
        eprintln!(
            "arbiter-replay: using snapshot {} (sequence {sequence}, digest {:016x})",
            path.display(),
            replica.engine.digest()
        );
        return Some(Resumed {
            replayer: Replayer::resumed(names, replica.engine, track, orders),
            sequence,
            timestamp_ns,
            path,
        });
    }
    None
}

/// What the snapshot tells of the live orders: the engine's fields, and the ClOrdID from
/// the gateway's table. Orders the table does not hold (no ClOrdID journaled) are known by
/// the engine's fields alone when they rest in a book.
fn known_orders(replica: &Replica, instruments: usize) -> Vec<OrderInfo> {
    let info = |view: arbiter_engine::OrderView, client_order_id: &[u8]| OrderInfo {
        order_id: view.id,
        instrument: view.instrument,
        account: view.account,
        strategy: view.strategy,
        side: view.side,
        ord_type: view.ord_type,
        tif: view.tif,
        price: view.price,
        qty: view.qty,
        filled: Qty(view.filled.0),
        client_order_id: ClientOrderId::new(client_order_id),
    };
    let engine = &replica.engine;
    let mut orders: Vec<OrderInfo> = replica
        .app
        .orders
        .iter()
        .filter_map(|(id, record)| Some(info(engine.order(id)?, record.client_id.as_bytes())))
        .collect();
    let known: std::collections::HashSet<_> = orders.iter().map(|o| o.order_id).collect();
    for instrument in (0..instruments).filter_map(|i| u32::try_from(i).ok()) {
        for side in [Side::Buy, Side::Sell] {
            for view in engine.orders_by_priority(InstrumentId(instrument), side) {
                if !known.contains(&view.id) {
                    orders.push(info(view, b""));
                }
            }
        }
    }
    orders
}
