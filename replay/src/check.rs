//! `check`: the determinism check. Re-runs every command and compares the engine digest
//! with every DIGEST record; the first mismatch is reported with the window of commands it
//! lies in (after the previous matching digest). With a snapshot ([`crate::resume`]) only
//! the commands after it are re-run; a divergence found that way is checked again from the
//! journal's start, so that a bad snapshot cannot be reported as the journal's divergence.
use std::io::Write;
use std::path::{Path, PathBuf};

use arbiter_journal::{Reader, Sequence};

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::replayer::Replayer;
use crate::resume::{resume, Limit};
use crate::source::Item;
use crate::time::format_iso_us;
use crate::venue::Venue;
use crate::walk::{walk_from, Flow};
use crate::Outcome;

/// The first divergence found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Sequence of the DIGEST record.
    pub sequence: u64,
    /// Its timestamp (ns).
    pub timestamp_ns: u64,
    /// The journaled digest (`None` when the record is malformed).
    pub expected: Option<u64>,
    /// The replayed engine's digest.
    pub actual: u64,
    /// First command after the previous matching digest (the divergence is in
    /// `first_suspect..sequence`).
    pub first_suspect: u64,
}

/// What `check` found.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// Commands replayed.
    pub commands: u64,
    /// Digests that matched.
    pub digests_matched: u64,
    /// The first mismatch, if any.
    pub divergence: Option<Divergence>,
    /// The snapshot the check started from (file, sequence), if any.
    pub snapshot: Option<(PathBuf, u64)>,
}

/// Replays up to `filter`'s end and compares digests; stops at the first divergence.
///
/// # Errors
/// Journal and decoding errors.
pub fn check(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
) -> Result<Checked, ReplayError> {
    check_from(
        reader,
        Replayer::new(venue, false),
        Sequence(0),
        follow_configs,
        filter,
    )
}

/// As [`check`], from the nearest usable snapshot in `snapshots` at or before the filter's
/// end when there is one.
///
/// # Errors
/// Journal and decoding errors.
pub fn check_with_snapshots(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
    snapshots: Option<&Path>,
) -> Result<Checked, ReplayError> {
    if let Some(dir) = snapshots {
        let limit = if filter.to_seq == u64::MAX {
            Limit::End
        } else {
            Limit::Sequence(filter.to_seq)
        };
        match resume(reader, &venue, follow_configs, dir, limit, false) {
            Some(resumed) => {
                let mut checked = check_from(
                    reader,
                    resumed.replayer,
                    Sequence(resumed.sequence + 1),
                    follow_configs,
                    filter,
                )?;
                match &checked.divergence {
                    None => {
                        checked.snapshot = Some((resumed.path, resumed.sequence));
                        return Ok(checked);
                    }
                    Some(d) => eprintln!(
                        "arbiter-replay: the state restored from snapshot {} diverges at seq {}; \
                         checking again from the journal's start",
                        resumed.path.display(),
                        d.sequence
                    ),
                }
            }
            None => eprintln!(
                "arbiter-replay: no usable snapshot in {}; replaying the whole journal",
                dir.display()
            ),
        }
    }
    check(reader, venue, follow_configs, filter)
}

fn check_from(
    reader: &Reader,
    mut replayer: Replayer,
    start: Sequence,
    follow_configs: bool,
    filter: &Filter,
) -> Result<Checked, ReplayError> {
    let mut checked = Checked::default();
    let mut first_suspect = 0u64;
    walk_from(
        reader,
        &mut replayer,
        start,
        filter,
        follow_configs,
        |replayer, view, item| {
            match item {
                Item::Command { .. } => {
                    checked.commands += 1;
                    if first_suspect == 0 {
                        first_suspect = view.sequence().0;
                    }
                }
                Item::Digest(expected) => {
                    let actual = replayer.engine.digest();
                    if *expected == Some(actual) {
                        checked.digests_matched += 1;
                        first_suspect = 0;
                    } else {
                        checked.divergence = Some(Divergence {
                            sequence: view.sequence().0,
                            timestamp_ns: view.timestamp().0,
                            expected: *expected,
                            actual,
                            first_suspect: if first_suspect == 0 {
                                view.sequence().0
                            } else {
                                first_suspect
                            },
                        });
                        return Ok(Flow::Stop);
                    }
                }
                _ => {}
            }
            Ok(Flow::Continue)
        },
    )?;
    Ok(checked)
}

/// Runs `check DIR`.
///
/// # Errors
/// Journal, decoding and output errors.
pub fn run(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
    snapshots: Option<&Path>,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let checked = check_with_snapshots(reader, venue, follow_configs, filter, snapshots)?;
    match &checked.divergence {
        None => {
            let from = checked
                .snapshot
                .as_ref()
                .map_or_else(String::new, |(_, sequence)| {
                    format!(" from the snapshot at seq {sequence}")
                });
            if checked.digests_matched == 0 {
                writeln!(
                    out,
                    "OK: {} commands replayed{from}, but no DIGEST record to compare against",
                    checked.commands
                )?;
            } else {
                writeln!(
                    out,
                    "OK: {} commands replayed{from}, {} digests match",
                    checked.commands, checked.digests_matched
                )?;
            }
            Ok(Outcome::Clean)
        }
        Some(d) => {
            let expected = d.expected.map_or_else(
                || "malformed (not 8 bytes)".to_owned(),
                |e| format!("{e:016x}"),
            );
            writeln!(
                out,
                "DIVERGENCE at seq {} ({}): expected digest {expected}, actual {:016x}",
                d.sequence,
                format_iso_us(d.timestamp_ns),
                d.actual
            )?;
            writeln!(
                out,
                "the state differs after the commands in seq {}..{} ({} digests matched before)",
                d.first_suspect, d.sequence, checked.digests_matched
            )?;
            Ok(Outcome::Findings)
        }
    }
}
