//! The replay tool's error type: one enum for this layer, with `From` from the layers below.
use std::fmt;
use std::io;

use arbiter_engine::wire::WireError;
use arbiter_journal::JournalError;

/// Everything that stops a replay command (findings such as a corrupt record or a digest
/// divergence are reported as output and an exit code, not as errors).
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The journal could not be opened or read.
    Journal(JournalError),
    /// A command record whose payload does not decode.
    Wire {
        /// The record's sequence.
        sequence: u64,
        /// What is wrong.
        error: WireError,
    },
    /// A configuration (journaled or from `--config`) that does not parse or does not fit.
    Config(String),
    /// Writing output or reading a file failed.
    Io(io::Error),
    /// An argument that cannot be used (unknown symbol, bad time, ...).
    Usage(String),
    /// Writing a CSV or Parquet file failed.
    Export(String),
    /// A snapshot could not be built or written.
    Snapshot(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Journal(e) => write!(f, "{e}"),
            ReplayError::Wire { sequence, error } => {
                write!(f, "record {sequence}: command does not decode: {error}")
            }
            ReplayError::Config(why) => write!(f, "configuration: {why}"),
            ReplayError::Io(e) => write!(f, "{e}"),
            ReplayError::Usage(why) => write!(f, "{why}"),
            ReplayError::Export(why) => write!(f, "export: {why}"),
            ReplayError::Snapshot(why) => write!(f, "snapshot: {why}"),
        }
    }
}

impl std::error::Error for ReplayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Journal(e) => Some(e),
            ReplayError::Io(e) => Some(e),
            ReplayError::Wire { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<JournalError> for ReplayError {
    fn from(e: JournalError) -> Self {
        ReplayError::Journal(e)
    }
}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Io(e)
    }
}

impl From<csv::Error> for ReplayError {
    fn from(e: csv::Error) -> Self {
        ReplayError::Export(e.to_string())
    }
}

impl ReplayError {
    /// Whether this is a closed output pipe (`dump | head`): the tool then stops quietly.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ReplayError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}
