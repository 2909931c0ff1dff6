//! `snapshot`: the daemon's state at a sequence or a time, rebuilt from the journal alone and
//! written as a snapshot file the daemon restarts from (and `book`/`check` start from).
//!
//! The state is the daemon's own [`Replica`] (engine and gateway order table, built from
//! the journal's CONFIG record exactly as the daemon builds them), applied record by record
//! from the journal's start with every DIGEST record checked on the way, so a snapshot is
//! only written for a state the journal itself vouches for up to its last digest.
use std::io::Write;
use std::path::Path;

use arbiter::state::{Replica, ReplicaError};
use arbiter_journal::{Reader, Sequence};

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::progress::Progress;
use crate::source::{config_text, decode, Item};
use crate::time::format_iso_us;
use crate::venue::Venue;
use crate::Outcome;

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The snapshot file.
    pub path: std::path::PathBuf,
    /// The state includes every record up to this one.
    pub sequence: u64,
    /// That record's timestamp (ns).
    pub timestamp_ns: u64,
    /// The engine digest of the state.
    pub digest: u64,
    /// Live orders in the state.
    pub live_orders: u32,
    /// Bytes of the state container.
    pub bytes: usize,
    /// Digest records checked on the way.
    pub digests_checked: u64,
}

/// Rebuilds the state up to `filter`'s end (its `to_seq` / `to_time_ns`) and writes it to
/// `out_dir`. `follow_configs`: later CONFIG records must fit the first (as the daemon
/// requires) and the last one goes into the snapshot.
///
/// # Errors
/// Journal damage, undecodable records, a DIGEST record the state does not match
/// ([`ReplayError::Snapshot`]), no record before the point, or the file cannot be written.
pub fn write(
    reader: &Reader,
    venue: &Venue,
    follow_configs: bool,
    filter: &Filter,
    out_dir: &Path,
) -> Result<Written, ReplayError> {
    let mut replica = Replica::new(&venue.config);
    let mut current = venue.clone();
    let mut last: Option<(u64, u64)> = None;
    let mut digests_checked = 0u64;
    let mut records = 0u64;
    let mut progress = Progress::new("replaying");
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record?;
        let sequence = view.sequence().0;
        if filter.past_end(sequence, view.timestamp().0) {
            break;
        }
        // Decoded here too for the tool's own errors (undecodable command, bad CONFIG).
        if let Item::Config(bytes) = decode(&view)? {
            if follow_configs {
                let next = Venue::parse(config_text(sequence, bytes)?)?;
                next.check_follows(&current, sequence)?;
                current = next;
            }
        }
        match replica.apply(&view) {
            Ok(arbiter::state::Step::Digest) => digests_checked += 1,
            Ok(_) => {}
            Err(e @ ReplicaError::Divergence { .. }) => {
                return Err(ReplayError::Snapshot(format!(
                    "{e}: this build does not reproduce the journal's state, no snapshot written"
                )))
            }
            Err(e) => return Err(ReplayError::Snapshot(e.to_string())),
        }
        last = Some((sequence, view.timestamp().0));
        records += 1;
        progress.tick(records);
    }
    progress.finish(records);
    let Some((sequence, timestamp_ns)) = last else {
        return Err(ReplayError::Usage(
            "no journal record at or before the point: nothing to snapshot".to_owned(),
        ));
    };
    let (path, bytes) = replica
        .write_snapshot(out_dir, Sequence(sequence))
        .map_err(|e| ReplayError::Snapshot(e.to_string()))?;
    Ok(Written {
        path,
        sequence,
        timestamp_ns,
        digest: replica.engine.digest(),
        live_orders: replica.engine.live_orders(),
        bytes,
        digests_checked,
    })
}

/// Runs `snapshot DIR`: writes the file and prints one line about it.
///
/// # Errors
/// As [`write`]; output errors.
pub fn run(
    reader: &Reader,
    venue: &Venue,
    follow_configs: bool,
    filter: &Filter,
    out_dir: &Path,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let written = write(reader, venue, follow_configs, filter, out_dir)?;
    writeln!(
        out,
        "snapshot at seq {} ({}): {} ({} bytes, live_orders={} digest={:016x}, {} digests checked)",
        written.sequence,
        format_iso_us(written.timestamp_ns),
        written.path.display(),
        written.bytes,
        written.live_orders,
        written.digest,
        written.digests_checked
    )?;
    Ok(Outcome::Clean)
}
