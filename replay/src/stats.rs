//! `stats`: counts per command and event kind, reject reasons, rates over time, and the
//! busiest accounts and instruments.
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use arbiter_engine::{CommandKind, Event};
use arbiter_journal::Reader;

use crate::error::ReplayError;
use crate::filter::Filter;
use crate::names::{command_word, event_word, word};
use crate::replayer::Replayer;
use crate::source::Item;
use crate::time::format_iso_us;
use crate::venue::Venue;
use crate::walk::{walk, Flow};
use crate::Outcome;

const NS_PER_S: u64 = 1_000_000_000;

#[derive(Debug, Default)]
struct Counts {
    records: u64,
    commands: BTreeMap<&'static str, u64>,
    events: BTreeMap<&'static str, u64>,
    rejects: BTreeMap<String, u64>,
    records_by_type: BTreeMap<&'static str, u64>,
    accounts: HashMap<u32, u64>,
    instruments: HashMap<u32, u64>,
    per_second: BTreeMap<u64, u64>,
    first_ns: Option<u64>,
    last_ns: u64,
    timeline: Timeline,
}

/// Cells of the adaptive rate histogram: bounded memory whatever the journal's length.
const TIMELINE_CELLS_MAX: usize = 4096;

/// Command counts over time in equal cells that double in width (merging pairs) whenever
/// the journal outgrows [`TIMELINE_CELLS_MAX`] cells.
#[derive(Debug)]
struct Timeline {
    origin_ns: u64,
    cell_ns: u64,
    cells: Vec<u64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            origin_ns: 0,
            cell_ns: 1_000,
            cells: Vec::new(),
        }
    }
}

impl Timeline {
    fn add(&mut self, timestamp_ns: u64) {
        if self.cells.is_empty() {
            self.origin_ns = timestamp_ns;
        }
        let offset = timestamp_ns.saturating_sub(self.origin_ns);
        // Bounded: each pass doubles the cell width; 64 passes cover any u64 offset.
        for _ in 0..64 {
            if offset / self.cell_ns < TIMELINE_CELLS_MAX as u64 {
                break;
            }
            let merged: Vec<u64> = self.cells.chunks(2).map(|pair| pair.iter().sum()).collect();
            self.cells = merged;
            self.cell_ns *= 2;
        }
        let index = usize::try_from(offset / self.cell_ns).unwrap_or(TIMELINE_CELLS_MAX - 1);
        if self.cells.len() <= index {
            self.cells.resize(index + 1, 0);
        }
        self.cells[index] += 1;
    }
}

/// Runs `stats`.
///
/// # Errors
/// Journal, decoding and output errors.
pub fn run(
    reader: &Reader,
    venue: Venue,
    follow_configs: bool,
    filter: &Filter,
    buckets: usize,
    top: usize,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let mut replayer = Replayer::new(venue, filter.needs_tracking());
    let mut c = Counts::default();
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
            c.records += 1;
            c.first_ns.get_or_insert(timestamp_ns);
            c.last_ns = timestamp_ns;
            let Item::Command { command, .. } = item else {
                let name = match item {
                    Item::Digest(_) => "DIGEST",
                    Item::Config(_) => "CONFIG",
                    _ => "OTHER",
                };
                *c.records_by_type.entry(name).or_default() += 1;
                return Ok(Flow::Continue);
            };
            *c.records_by_type.entry("COMMAND").or_default() += 1;
            *c.commands.entry(command_word(&command.kind)).or_default() += 1;
            *c.per_second.entry(timestamp_ns / NS_PER_S).or_default() += 1;
            c.timeline.add(timestamp_ns);
            let account = match command.kind {
                CommandKind::NewOrder(o) => {
                    *c.instruments.entry(o.instrument.0).or_default() += 1;
                    Some(o.account)
                }
                CommandKind::Cancel(x) => Some(x.account),
                CommandKind::Replace(x) => Some(x.account),
                CommandKind::MassCancel(x) => Some(x.account),
                _ => None,
            };
            if let Some(account) = account {
                *c.accounts.entry(account.0).or_default() += 1;
            }
            for event in &replayer.events {
                *c.events.entry(event_word(event)).or_default() += 1;
                if let Event::Rejected { reason, .. } = event {
                    *c.rejects.entry(word(reason)).or_default() += 1;
                }
            }
            Ok(Flow::Continue)
        },
    )?;
    let venue = &replayer.venue;
    writeln!(out, "records {}", c.records)?;
    for (name, count) in &c.records_by_type {
        writeln!(out, "  {name:<16} {count}")?;
    }
    writeln!(out, "commands")?;
    for (name, count) in &c.commands {
        writeln!(out, "  {name:<16} {count}")?;
    }
    writeln!(out, "events")?;
    for (name, count) in &c.events {
        writeln!(out, "  {name:<16} {count}")?;
    }
    writeln!(out, "reject reasons")?;
    for (name, count) in &c.rejects {
        writeln!(out, "  {name:<28} {count}")?;
    }
    let commands: u64 = c.commands.values().sum();
    if let Some(first_ns) = c.first_ns {
        let span_ns = c.last_ns.saturating_sub(first_ns);
        let span_s = span_ns as f64 / NS_PER_S as f64;
        let mean = if span_s > 0.0 {
            commands as f64 / span_s
        } else {
            commands as f64
        };
        let peak = c
            .per_second
            .iter()
            .max_by_key(|(second, n)| (**n, std::cmp::Reverse(**second)));
        writeln!(
            out,
            "time {} .. {} ({span_s:.6} s), {mean:.1} commands/s on average",
            format_iso_us(first_ns),
            format_iso_us(c.last_ns)
        )?;
        if let Some((second, n)) = peak {
            writeln!(
                out,
                "peak second {} with {n} commands",
                format_iso_us(second * NS_PER_S)
            )?;
        }
        writeln!(out, "rate over time (commands per interval, commands/s)")?;
        let timeline = &c.timeline;
        let per_row = timeline.cells.len().div_ceil(buckets.max(1)).max(1);
        for (row, cells) in timeline.cells.chunks(per_row).enumerate() {
            let n: u64 = cells.iter().sum();
            let start = timeline.origin_ns + (row * per_row) as u64 * timeline.cell_ns;
            let width_s = (cells.len() as u64 * timeline.cell_ns) as f64 / NS_PER_S as f64;
            writeln!(
                out,
                "  {} {n:>10} {:>14.1}/s",
                format_iso_us(start),
                n as f64 / width_s
            )?;
        }
    }
    let mut accounts: Vec<_> = c.accounts.into_iter().collect();
    accounts.sort_unstable_by_key(|(id, n)| (std::cmp::Reverse(*n), *id));
    writeln!(out, "busiest accounts (commands)")?;
    for (id, n) in accounts.iter().take(top) {
        writeln!(
            out,
            "  {:<16} {n}",
            venue.account(arbiter_engine::AccountId(*id))
        )?;
    }
    let mut instruments: Vec<_> = c.instruments.into_iter().collect();
    instruments.sort_unstable_by_key(|(id, n)| (std::cmp::Reverse(*n), *id));
    writeln!(out, "busiest instruments (new orders)")?;
    for (id, n) in instruments.iter().take(top) {
        writeln!(
            out,
            "  {:<16} {n}",
            venue.symbol(arbiter_engine::InstrumentId(*id))
        )?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
