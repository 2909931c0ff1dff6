//! The cluster layer's error type.
use std::fmt;

use arbiter_journal::JournalError;

/// What went wrong replicating, following or holding the lease.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// Connecting to NATS, or a JetStream request that failed (with context).
    Nats(String),
    /// The server refused a publish because the stream moved on (expected last sequence
    /// mismatch): another leader published. This node must stop acknowledging.
    Fenced {
        /// Stream sequence this node expected to be last.
        expected_last: u64,
    },
    /// A message on the journal subject that is not a valid batch (garbage, wrong magic,
    /// version, CRC or bounds), or a batch of another journal (identity, segment size).
    BadBatch {
        /// Stream sequence of the message.
        stream_sequence: u64,
        /// Why it was refused.
        reason: String,
    },
    /// The stream does not continue where this journal is (a gap or a fork).
    Discontinuity(String),
    /// The local journal refused a frame (CRC, sequence or hash chain) or failed.
    Journal(JournalError),
    /// The server's stream or bucket configuration differs from what was asked (2.9 drops
    /// settings it does not know).
    Config(String),
    /// The lease was lost or never held.
    LeaseLost(String),
    /// The record callback refused a record.
    Apply(String),
    /// Starting or stopping a local nats-server.
    Server(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Nats(why) => write!(f, "nats: {why}"),
            ClusterError::Fenced { expected_last } => write!(
                f,
                "fenced: the stream moved past sequence {expected_last} (another leader published)"
            ),
            ClusterError::BadBatch {
                stream_sequence,
                reason,
            } => write!(
                f,
                "refused stream message {stream_sequence}: {reason}; nothing from it was applied"
            ),
            ClusterError::Discontinuity(why) => {
                write!(f, "stream does not continue the journal: {why}")
            }
            ClusterError::Journal(e) => write!(f, "journal: {e}"),
            ClusterError::Config(why) => write!(f, "server configuration: {why}"),
            ClusterError::LeaseLost(why) => write!(f, "lease: {why}"),
            ClusterError::Apply(why) => write!(f, "apply: {why}"),
            ClusterError::Server(why) => write!(f, "nats-server: {why}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Journal(e) => Some(e),
            _ => None,
        }
    }
}

impl From<JournalError> for ClusterError {
    fn from(e: JournalError) -> ClusterError {
        ClusterError::Journal(e)
    }
}

/// Wraps any displayable NATS error with what was being done.
pub(crate) fn nats(what: &str, e: impl fmt::Display) -> ClusterError {
    ClusterError::Nats(format!("{what}: {e}"))
}
