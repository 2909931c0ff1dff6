//! `dump`: every record as a readable line (or a JSON line), each command followed by the
//! events it caused when re-run through the engine.
use std::io::Write;

use arbiter_engine::CommandKind;
use arbiter_journal::Reader;

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::render::{json_record, text_event, text_record};
use crate::replayer::Replayer;
use crate::source::Item;
use crate::venue::Venue;
use crate::walk::{walk, Flow};
use crate::Outcome;

/// Dumps the records that pass `filter`.
///
/// # Errors
/// Journal, decoding and output errors.
pub fn run(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let mut replayer = Replayer::new(venue, true);
    let mut line = String::with_capacity(256);
    walk(
        reader,
        &mut replayer,
        filter,
        follow_configs,
        |replayer, view, item| {
            let (sequence, timestamp_ns) = (view.sequence().0, view.timestamp().0);
            if !filter.in_range(sequence, timestamp_ns) || !filter.passes(item, replayer) {
                return Ok(Flow::Continue);
            }
            write_record(&mut line, replayer, sequence, timestamp_ns, item, json);
            out.write_all(line.as_bytes())?;
            Ok(Flow::Continue)
        },
    )?;
    out.flush()?;
    Ok(Outcome::Clean)
}

/// The instrument of the order a replace names, if known.
pub(crate) fn replaced_instrument(
    replayer: &Replayer,
    item: &Item<'_>,
) -> Option<arbiter_engine::InstrumentId> {
    match item {
        Item::Command { command, .. } => match command.kind {
            CommandKind::Replace(r) => replayer.order(r.order_id).map(|o| o.instrument),
            _ => None,
        },
        _ => None,
    }
}

/// One record (and its events) as text lines or a JSON line, into `line` (cleared first).
pub(crate) fn write_record(
    line: &mut String,
    replayer: &Replayer,
    sequence: u64,
    timestamp_ns: u64,
    item: &Item<'_>,
    json: bool,
) {
    line.clear();
    let replaced = replaced_instrument(replayer, item);
    if json {
        let events = if matches!(item, Item::Command { .. }) {
            &replayer.events[..]
        } else {
            &[]
        };
        let value = json_record(
            &replayer.venue,
            sequence,
            timestamp_ns,
            item,
            events,
            replaced,
        );
        line.push_str(&value.to_string());
        line.push('\n');
        return;
    }
    text_record(
        line,
        &replayer.venue,
        sequence,
        timestamp_ns,
        item,
        replaced,
    );
    line.push('\n');
    if matches!(item, Item::Command { .. }) {
        for event in &replayer.events {
            line.push_str("    ");
            text_event(line, &replayer.venue, event);
            line.push('\n');
        }
    }
}
