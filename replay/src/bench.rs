//! `bench`: how fast this machine verifies and rebuilds the journal. Verify (CRC, hash
//! chain, continuity) and replay (decode and apply every command to a fresh engine) are
//! timed separately; the last line is the combined figure:
//! `records=N elapsed_ms=E records_per_sec=R`, where N is the journal's record count and E
//! the time for both passes.
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use arbiter_journal::Sequence;

use crate::error::ReplayError;
use crate::replayer::Replayer;
use crate::source::{decode, open, Item};
use crate::verify;
use crate::Outcome;

fn rate(records: u64, elapsed_ns: u128) -> u64 {
    u64::try_from(u128::from(records) * 1_000_000_000 / elapsed_ns.max(1)).unwrap_or(u64::MAX)
}

/// Runs `bench DIR`.
///
/// # Errors
/// Journal, decoding and output errors.
pub fn run(dir: &Path, config: Option<&Path>, out: &mut dyn Write) -> Result<Outcome, ReplayError> {
    let started = Instant::now();
    let verified = verify::check(dir)?;
    let verify_ns = started.elapsed().as_nanos();
    if let Some(problem) = &verified.problem {
        writeln!(out, "CORRUPT: {problem}")?;
        return Ok(Outcome::Findings);
    }
    let records = verified.report.as_ref().map_or(0, |r| r.records);
    writeln!(
        out,
        "verify records={records} elapsed_ms={} records_per_sec={}",
        verify_ns / 1_000_000,
        rate(records, verify_ns)
    )?;

    let (reader, venue) = open(dir, config)?;
    let replay_started = Instant::now();
    let mut replayer = Replayer::new(venue, false);
    let built_ns = replay_started.elapsed().as_nanos();
    let (mut replayed, mut commands, mut events) = (0u64, 0u64, 0u64);
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record?;
        replayed += 1;
        if let Item::Command {
            command,
            annotation,
        } = decode(&view)?
        {
            replayer.apply(&command, annotation);
            commands += 1;
            events += replayer.events.len() as u64;
        }
    }
    let replay_ns = replay_started.elapsed().as_nanos();
    writeln!(
        out,
        "replay records={replayed} commands={commands} events={events} engine_build_ms={} elapsed_ms={} records_per_sec={} digest={:016x}",
        built_ns / 1_000_000,
        replay_ns / 1_000_000,
        rate(replayed, replay_ns),
        replayer.engine.digest()
    )?;
    let total_ns = verify_ns + replay_ns;
    writeln!(
        out,
        "records={records} elapsed_ms={} records_per_sec={}",
        total_ns / 1_000_000,
        rate(records, total_ns)
    )?;
    Ok(Outcome::Clean)
}
