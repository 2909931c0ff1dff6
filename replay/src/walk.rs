//! The replay loop every reading command shares: records from the journal's start (the
//! engine state at any point depends on every command before it) or from just after a
//! restored snapshot, decoded, commands applied, then handed to the command's visitor, until
//! the filter's end.
use arbiter_journal::{Reader, RecordView, Sequence};

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::progress::Progress;
use crate::replayer::Replayer;
use crate::source::{config_text, decode, Item};
use crate::venue::Venue;

/// Whether [`walk`] goes on after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next record.
    Continue,
    /// Stop here.
    Stop,
}

/// What [`walk`] read.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkSummary {
    /// Records read (every type).
    pub records: u64,
    /// Command records applied.
    pub commands: u64,
    /// Sequence of the last record read (0 when none).
    pub last_sequence: u64,
}

/// Replays `reader` into `replayer` and calls `visit` after each record (after applying it,
/// for a command: the replayer then holds its events). `follow_configs`: later CONFIG
/// records replace the names in use (they must build the same engine, as the daemon
/// enforces); off when the configuration was given on the command line.
///
/// # Errors
/// Journal damage, undecodable commands, a CONFIG record that changes the engine, or the
/// visitor's error.
pub fn walk(
    reader: &Reader,
    replayer: &mut Replayer,
    filter: &Filter,
    follow_configs: bool,
    visit: impl FnMut(&mut Replayer, &RecordView<'_>, &Item<'_>) -> Result<Flow, ReplayError>,
) -> Result<WalkSummary, ReplayError> {
    walk_from(reader, replayer, Sequence(0), filter, follow_configs, visit)
}

/// As [`walk`], from the record `start` on: `replayer` must hold the state of every record
/// before it (a restored snapshot's).
///
/// # Errors
/// As [`walk`].
pub fn walk_from(
    reader: &Reader,
    replayer: &mut Replayer,
    start: Sequence,
    filter: &Filter,
    follow_configs: bool,
    mut visit: impl FnMut(&mut Replayer, &RecordView<'_>, &Item<'_>) -> Result<Flow, ReplayError>,
) -> Result<WalkSummary, ReplayError> {
    let mut summary = WalkSummary::default();
    let mut progress = Progress::new("replaying");
    for record in reader.iter_from_seq(start) {
        let view = record?;
        if filter.past_end(view.sequence().0, view.timestamp().0) {
            break;
        }
        let item = decode(&view)?;
        match item {
            Item::Command {
                command,
                annotation,
            } => {
                replayer.apply(&command, annotation);
                summary.commands += 1;
            }
            Item::Config(bytes) if follow_configs => {
                let venue = Venue::parse(config_text(view.sequence().0, bytes)?)?;
                venue.check_follows(&replayer.venue, view.sequence().0)?;
                replayer.venue = venue;
            }
            _ => {}
        }
        summary.records += 1;
        summary.last_sequence = view.sequence().0;
        progress.tick(summary.records);
        if visit(replayer, &view, &item)? == Flow::Stop {
            break;
        }
    }
    progress.finish(summary.records);
    Ok(summary)
}
