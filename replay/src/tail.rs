//! `tail`: follows a live journal (the journal's [`TailReader`]) and prints records as they
//! are committed, each command with its events. Bounded by `--max-records` and by
//! `--timeout` (seconds without a new record), so scripts and tests always end.
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use arbiter_journal::{Sequence, TailReader};

use crate::dump::write_record;
use crate::error::ReplayError;
use crate::filter::{Filter, FilterArgs};
use crate::replayer::Replayer;
use crate::source::{config_text, decode, Item};
use crate::venue::Venue;
use crate::Outcome;

/// Longest sleep between polls when the journal is idle.
const POLL_SLEEP_MAX: Duration = Duration::from_millis(20);

/// Limits of a `tail` run.
#[derive(Debug, Clone, Copy)]
pub struct TailLimits {
    /// Stop after printing this many records.
    pub records_max: Option<u64>,
    /// Stop after this long without a new record.
    pub idle_timeout: Option<Duration>,
}

/// Follows `dir` from its first record (the engine needs every command to produce events);
/// prints the records passing the filters.
///
/// # Errors
/// Journal, decoding, configuration and output errors.
pub fn run(
    dir: &Path,
    venue_override: Option<Venue>,
    filter_args: &FilterArgs,
    json: bool,
    limits: TailLimits,
    out: &mut dyn Write,
) -> Result<Outcome, ReplayError> {
    let follow_configs = venue_override.is_none();
    let mut replayer: Option<(Replayer, Filter)> = match venue_override {
        Some(venue) => {
            let filter = Filter::resolve(filter_args, &venue)?;
            Some((Replayer::new(venue, true), filter))
        }
        None => None,
    };
    let mut last_activity = Instant::now();
    let idle = |since: Instant| limits.idle_timeout.is_some_and(|t| since.elapsed() >= t);
    let mut tail = loop {
        match TailReader::open(dir, Sequence(0)) {
            Ok(tail) => break tail,
            Err(e) if idle(last_activity) => return Err(e.into()),
            Err(_) => std::thread::sleep(POLL_SLEEP_MAX),
        }
    };
    let mut printed = 0u64;
    let mut sleep = Duration::from_micros(100);
    let mut line = String::with_capacity(256);
    loop {
        if limits.records_max.is_some_and(|max| printed >= max) {
            break;
        }
        let Some(view) = tail.poll()? else {
            if idle(last_activity) {
                break;
            }
            out.flush()?;
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(POLL_SLEEP_MAX);
            continue;
        };
        sleep = Duration::from_micros(100);
        last_activity = Instant::now();
        let item = decode(&view)?;
        let (sequence, timestamp_ns) = (view.sequence().0, view.timestamp().0);
        match (&mut replayer, &item) {
            (None, Item::Config(bytes)) => {
                let venue = Venue::parse(config_text(sequence, bytes)?)?;
                let filter = Filter::resolve(filter_args, &venue)?;
                replayer = Some((Replayer::new(venue, true), filter));
            }
            (None, Item::Command { .. }) => {
                return Err(ReplayError::Config(format!(
                    "record {sequence} is a command before any CONFIG record: pass --config FILE"
                )));
            }
            (
                Some((r, _)),
                Item::Command {
                    command,
                    annotation,
                },
            ) => r.apply(command, annotation),
            (Some((r, _)), Item::Config(bytes)) if follow_configs => {
                let venue = Venue::parse(config_text(sequence, bytes)?)?;
                venue.check_follows(&r.venue, sequence)?;
                r.venue = venue;
            }
            _ => {}
        }
        let Some((r, filter)) = &replayer else {
            continue;
        };
        if filter.past_end(sequence, timestamp_ns) {
            break;
        }
        if !filter.in_range(sequence, timestamp_ns) || !filter.passes(&item, r) {
            continue;
        }
        write_record(&mut line, r, sequence, timestamp_ns, &item, json);
        out.write_all(line.as_bytes())?;
        printed += 1;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
