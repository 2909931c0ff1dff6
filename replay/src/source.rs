//! Reading a journal as Arbiter records: decoding each [`RecordView`] into a command, a
//! digest or a configuration, and finding the configuration the engine must be built from.
use std::path::Path;

use arbiter::session_ledger::{SessionMark, RECORD_SESSION};
use arbiter_engine::wire::{decode_record, RECORD_COMMAND, RECORD_CONFIG, RECORD_DIGEST};
use arbiter_engine::{Command, Seq, TimestampNs};
use arbiter_journal::{Reader, RecordView, Sequence};

use crate::error::ReplayError;
use crate::venue::Venue;

/// One journal record, decoded.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A sequenced command and its annotation (the FIX ClOrdID).
    Command {
        /// The command, stamped with the record's sequence and timestamp.
        command: Command,
        /// Opaque bytes the gateway journaled beside it.
        annotation: &'a [u8],
    },
    /// The engine digest after every command before it; `None` if the payload is not the
    /// 8 bytes it should be.
    Digest(Option<u64>),
    /// The venue configuration text in force from here on.
    Config(&'a [u8]),
    /// A FIX session mark (the session's sequence numbers, journaled by the gateway);
    /// `None` if the payload is not a mark this build reads.
    SessionMark(Option<SessionMark>),
    /// A record type this build does not know (shown, not replayed).
    Other(u16),
}

/// Decodes one record.
///
/// # Errors
/// [`ReplayError::Wire`] when a command record does not decode.
pub fn decode<'a>(view: &RecordView<'a>) -> Result<Item<'a>, ReplayError> {
    match view.record_type().0 {
        RECORD_COMMAND => {
            let sequence = view.sequence().0;
            let (command, annotation) = decode_record(
                Seq(sequence),
                TimestampNs(view.timestamp().0),
                view.payload(),
            )
            .map_err(|error| ReplayError::Wire { sequence, error })?;
            Ok(Item::Command {
                command,
                annotation,
            })
        }
        RECORD_DIGEST => Ok(Item::Digest(
            <[u8; 8]>::try_from(view.payload())
                .ok()
                .map(u64::from_le_bytes),
        )),
        RECORD_CONFIG => Ok(Item::Config(view.payload())),
        RECORD_SESSION => Ok(Item::SessionMark(SessionMark::decode(view.payload()).ok())),
        other => Ok(Item::Other(other)),
    }
}

/// The configuration text of a CONFIG record.
///
/// # Errors
/// [`ReplayError::Config`] when it is not UTF-8.
pub fn config_text(sequence: u64, payload: &[u8]) -> Result<&str, ReplayError> {
    std::str::from_utf8(payload)
        .map_err(|_| ReplayError::Config(format!("record {sequence}: configuration is not UTF-8")))
}

/// Opens a journal and the venue to replay it with: `config_override` (a TOML file) if
/// given, else the journal's first CONFIG record, which the daemon writes before any
/// command.
///
/// # Errors
/// Journal errors; [`ReplayError::Config`] when there is no configuration to use or it does
/// not parse.
pub fn open(dir: &Path, config_override: Option<&Path>) -> Result<(Reader, Venue), ReplayError> {
    let reader = Reader::open(dir)?;
    let venue = match config_override {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ReplayError::Config(format!("{}: {e}", path.display())))?;
            Venue::parse(&text)?
        }
        None => journal_venue(&reader)?,
    };
    Ok((reader, venue))
}

/// The venue of the journal's first CONFIG record.
///
/// # Errors
/// [`ReplayError::Config`] when a command comes before any CONFIG record (or there is
/// none), or the text does not parse; journal errors.
pub fn journal_venue(reader: &Reader) -> Result<Venue, ReplayError> {
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record?;
        match view.record_type().0 {
            RECORD_CONFIG => {
                let text = config_text(view.sequence().0, view.payload())?;
                return Venue::parse(text).map_err(|e| {
                    ReplayError::Config(format!(
                        "journaled configuration (record {}): {e}",
                        view.sequence().0
                    ))
                });
            }
            RECORD_COMMAND => {
                return Err(ReplayError::Config(format!(
                    "record {} is a command before any CONFIG record: pass --config FILE",
                    view.sequence().0
                )))
            }
            _ => {}
        }
    }
    Err(ReplayError::Config(
        "the journal has no CONFIG record: pass --config FILE".to_owned(),
    ))
}
