//! Start-up: recover the journal (torn tail cut and reported), replay it into the engine
//! (fresh, or restored from a snapshot: then only the records after it), check every digest
//! record on the way.

use std::path::Path;
use std::time::Instant;

use arbiter_config::{Config, JournalMismatch};
use arbiter_engine::wire::{RECORD_COMMAND, RECORD_CONFIG, RECORD_DIGEST};
use arbiter_engine::{Engine, Seq};

use crate::fix_app::FixApp;
use crate::session_ledger::RECORD_SESSION;
use crate::state::{apply_command_record, apply_session_record};
use arbiter_journal::{
    Journal, JournalConfig, JournalId, Reader, RecoveryReport, Sequence, Writer,
};

/// What start-up found and did.
#[derive(Debug)]
pub struct Recovered {
    /// The journal's writer, positioned after the last whole record.
    pub writer: Writer,
    /// The journal's own recovery report (torn tail, truncation).
    pub journal: RecoveryReport,
    /// Commands replayed.
    pub commands: u64,
    /// Digest records checked.
    pub digests_checked: u64,
    /// Replay time.
    pub elapsed: std::time::Duration,
    /// The last configuration text the journal holds, if any.
    pub last_config: Option<String>,
}

/// Every Arbiter journal carries this identity.
pub const JOURNAL_IDENTITY: JournalId = JournalId(*b"ARBITER-JOURNAL1");

/// Opens (or creates) the journal, cutting a torn tail.
///
/// # Errors
/// A text for the operator: the journal cannot be opened or is corrupt.
pub fn open_journal(dir: &Path, config: JournalConfig) -> Result<(Writer, RecoveryReport), String> {
    Journal::open(dir, config).map_err(|e| format!("journal {}: {e}", dir.display()))
}

/// The timestamp of the journal's last record before `next` (none when it is empty): the
/// sequencer compares its trading day with today's to catch up an end of day it missed
/// while the venue was down.
#[must_use]
pub fn last_record_ns(dir: &Path, next: Sequence) -> Option<u64> {
    let last = next.0.checked_sub(1)?;
    let reader = Reader::open(dir).ok()?;
    let record = reader.iter_from_seq(Sequence(last)).next()?.ok()?;
    Some(record.timestamp().0)
}

/// Replays the opened journal from `from` into `engine` (a fresh engine with `from` 0, or
/// one restored from a snapshot that includes every record before `from`). `on_event` sees
/// every event replay produces, with the command that caused it and its annotation, so that
/// the gateway can rebuild its order table. `last_config` is the configuration text journaled
/// before `from` (the snapshot's), if any.
///
/// # Errors
/// A text for the operator: journal corruption, a record that does not decode, or a digest
/// that does not match (the build cannot reproduce the journal's state).
#[allow(clippy::too_many_arguments)]
pub fn recover(
    dir: &Path,
    (writer, report): (Writer, RecoveryReport),
    venue: &Config,
    engine: &mut Engine,
    from: Sequence,
    last_config: Option<String>,
    app: &mut FixApp,
) -> Result<Recovered, String> {
    let started = Instant::now();
    let reader = Reader::open(dir).map_err(|e| format!("journal {}: {e}", dir.display()))?;
    let mut replayer = Replayer {
        venue,
        engine,
        app,
        commands: 0,
        digests_checked: 0,
        last_config,
    };
    for record in reader.iter_from_seq(from) {
        let record = record.map_err(|e| format!("journal {}: {e}", dir.display()))?;
        replayer.apply(
            record.record_type().0,
            record.sequence().0,
            record.timestamp().0,
            record.payload(),
        )?;
    }
    Ok(Recovered {
        writer,
        journal: report,
        commands: replayer.commands,
        digests_checked: replayer.digests_checked,
        elapsed: started.elapsed(),
        last_config: replayer.last_config,
    })
}

/// Applies journal records to an engine, one at a time: commands (their events rebuild the
/// gateway's order table), FIX session marks and origins (the sessions' sequence numbers),
/// digest checks, configuration checks. Start-up replay and the standby's follower share
/// it, so both rebuild state exactly the same way.
pub struct Replayer<'a> {
    /// The running configuration (journaled ones must keep its instruments and limits).
    pub venue: &'a Config,
    /// The engine being rebuilt.
    pub engine: &'a mut Engine,
    /// The gateway's state being rebuilt.
    pub app: &'a mut FixApp,
    /// Commands applied.
    pub commands: u64,
    /// Digest records checked.
    pub digests_checked: u64,
    /// The last configuration text applied.
    pub last_config: Option<String>,
}

impl Replayer<'_> {
    /// Applies one record (other record types, seals and epoch changes, are skipped).
    ///
    /// # Errors
    /// A record that does not decode, a digest that does not match, or a journaled
    /// configuration that changes instruments, capacities or start-up limits.
    pub fn apply(
        &mut self,
        record_type: u16,
        sequence: u64,
        timestamp_ns: u64,
        payload: &[u8],
    ) -> Result<(), String> {
        let seq = Seq(sequence);
        match record_type {
            RECORD_COMMAND => {
                apply_command_record(self.engine, self.app, sequence, timestamp_ns, payload)
                    .map_err(|e| format!("journal record {}: {e}", seq.0))?;
                self.commands += 1;
            }
            RECORD_SESSION => {
                apply_session_record(self.app, payload)
                    .map_err(|e| format!("journal record {}: {e}", seq.0))?;
            }
            RECORD_DIGEST => {
                let bytes: [u8; 8] = payload
                    .try_into()
                    .map_err(|_| format!("journal record {}: digest is not 8 bytes", seq.0))?;
                let expected = u64::from_le_bytes(bytes);
                let actual = self.engine.digest();
                if expected != actual {
                    return Err(format!(
                        "journal record {}: replayed state digest {actual:016x} differs from \
                         journaled {expected:016x}: this build does not reproduce the journal",
                        seq.0
                    ));
                }
                self.digests_checked += 1;
            }
            RECORD_CONFIG => {
                let text = std::str::from_utf8(payload)
                    .map_err(|_| format!("journal record {}: configuration is not UTF-8", seq.0))?;
                check_journaled_config(self.venue, seq.0, text)?;
                self.last_config = Some(text.to_owned());
            }
            _ => {} // other record types (seals, epoch changes) are not engine state
        }
        Ok(())
    }
}

fn check_journaled_config(venue: &Config, sequence: u64, text: &str) -> Result<(), String> {
    let journaled = Config::parse(text).map_err(|problems| {
        format!(
            "journal record {sequence}: journaled configuration: {}",
            problems.join("; ")
        )
    })?;
    match venue.journal_compatible(&journaled) {
        Ok(()) => Ok(()),
        Err(JournalMismatch::Engine) => Err(format!(
            "the configuration changes instruments or engine capacities against the one \
             journaled at record {sequence}: replay would not rebuild the same state; start a new \
             journal (another journal directory) for the new instrument set"
        )),
        Err(JournalMismatch::Risk) => Err(format!(
            "the configuration changes the [risk] section or the operators against the \
             one journaled at record {sequence}: start-up limits are part of the journal's \
             initial state; change limits at run time with `arbiter admin limit ...` \
             (journaled), or start a new journal"
        )),
        Err(JournalMismatch::Shard) => Err(format!(
            "the configuration changes the instruments this shard trades ([[shards]], \
             cluster.shard) against the one journaled at record {sequence}: an instrument's \
             orders live in its shard's journal; move instruments at a trading-day boundary \
             with new journals (docs/cluster.md, \"Shards\")"
        )),
    }
}
