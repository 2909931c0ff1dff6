//! The journal's error type and the description of a corrupt spot.
use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::types::{JournalId, Sequence};

/// What is wrong at a [`Corruption`] site.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionKind {
    /// The segment header's magic, version, length or CRC is not one this build understands.
    BadSegmentHeader(&'static str),
    /// The segment belongs to another journal.
    IdentityMismatch {
        /// Identity of the journal being read.
        expected: JournalId,
        /// Identity in this segment.
        found: JournalId,
    },
    /// The segment's first sequence does not match its file name or its predecessor.
    SegmentSequence {
        /// Sequence expected at the start of this segment.
        expected: Sequence,
        /// Sequence the header (or file name) claims.
        found: Sequence,
    },
    /// The segment's `chain_in` is not the previous segment's last seal hash.
    ChainInMismatch,
    /// A frame length that cannot be (too small, past the segment end, reserved bits set).
    BadFrame,
    /// The record CRC does not match its bytes.
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// The record's sequence is not the previous one plus one.
    SequenceGap {
        /// The sequence that should have been here.
        expected: Sequence,
        /// The sequence found.
        found: Sequence,
    },
    /// A reserved record type the journal does not know.
    UnknownReservedType(u16),
    /// A seal's recorded previous hash is not the chain's last hash.
    SealPreviousHash,
    /// A seal's hash is not the hash of the block it closes (a record was changed,
    /// removed or reordered).
    SealHash,
    /// A seal's recorded block start or record count disagrees with the block.
    SealBlock,
    /// A non-final segment does not end with a segment-end seal.
    SegmentNotClosed,
    /// Bytes after the last whole record that are not a record (a torn write).
    TornTail {
        /// Non-zero bytes after the last whole record.
        bytes: u64,
    },
    /// Whole records exist after a damaged spot, so the damage is not a torn tail.
    RecordsAfterDamage,
    /// The checkpoint file is damaged (a record in the middle fails its CRC).
    CheckpointFile(&'static str),
    /// A seal differs from its signed checkpoint: the block `[block_start, seal)` (or the
    /// seal's place) is not what was signed, i.e. records were rewritten and re-chained.
    CheckpointMismatch {
        /// First byte of the sealed block in this segment.
        block_start: u64,
    },
    /// A checkpoint's signature does not verify with the public key (forged checkpoint, or
    /// the wrong key).
    CheckpointSignature,
    /// A signed checkpoint names a seal past the end of the journal (records removed).
    CheckpointBeyondEnd,
    /// A seal differs from the chain head recorded in the external anchor file.
    AnchorMismatch {
        /// First byte of the sealed block in this segment.
        block_start: u64,
    },
    /// The anchor file names a seal past the end of the journal (records removed).
    AnchorBeyondEnd,
}

impl fmt::Display for CorruptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptionKind::BadSegmentHeader(why) => write!(f, "bad segment header: {why}"),
            CorruptionKind::IdentityMismatch { expected, found } => {
                write!(f, "segment belongs to journal {found}, expected {expected}")
            }
            CorruptionKind::SegmentSequence { expected, found } => write!(
                f,
                "segment starts at sequence {} but {} was expected",
                found.0, expected.0
            ),
            CorruptionKind::ChainInMismatch => {
                write!(
                    f,
                    "segment chain_in does not match the previous segment's last seal"
                )
            }
            CorruptionKind::BadFrame => write!(f, "invalid record frame"),
            CorruptionKind::Crc { stored, computed } => {
                write!(
                    f,
                    "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            CorruptionKind::SequenceGap { expected, found } => {
                write!(
                    f,
                    "sequence {} found where {} was expected",
                    found.0, expected.0
                )
            }
            CorruptionKind::UnknownReservedType(t) => {
                write!(f, "unknown reserved record type {t:#06x}")
            }
            CorruptionKind::SealPreviousHash => {
                write!(f, "seal does not link to the previous seal")
            }
            CorruptionKind::SealHash => write!(f, "seal hash does not match the sealed records"),
            CorruptionKind::SealBlock => write!(f, "seal block bounds do not match the records"),
            CorruptionKind::SegmentNotClosed => {
                write!(f, "segment is not the last one but has no end seal")
            }
            CorruptionKind::TornTail { bytes } => {
                write!(f, "torn tail: {bytes} stray bytes after the last record")
            }
            CorruptionKind::RecordsAfterDamage => {
                write!(
                    f,
                    "damaged record followed by valid records (not a torn tail)"
                )
            }
            CorruptionKind::CheckpointFile(why) => write!(f, "checkpoint file damaged: {why}"),
            CorruptionKind::CheckpointMismatch { block_start } => write!(
                f,
                "block from offset {block_start} to this seal is not what was signed (records rewritten and re-chained)"
            ),
            CorruptionKind::CheckpointSignature => write!(
                f,
                "checkpoint signature does not verify with the public key (forged checkpoint or wrong key)"
            ),
            CorruptionKind::CheckpointBeyondEnd => write!(
                f,
                "a signed checkpoint names a seal past the end of the journal (records removed)"
            ),
            CorruptionKind::AnchorMismatch { block_start } => write!(
                f,
                "block from offset {block_start} to this seal differs from the anchored chain head"
            ),
            CorruptionKind::AnchorBeyondEnd => write!(
                f,
                "the anchor file names a seal past the end of the journal (records removed)"
            ),
        }
    }
}

/// Where the journal is damaged and how: the first bad spot found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset inside the segment.
    pub offset: u64,
    /// Sequence of the record at the spot if known, else the sequence expected there.
    pub sequence: Sequence,
    /// What is wrong.
    pub kind: CorruptionKind,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {} (sequence {}): {}",
            self.segment.display(),
            self.offset,
            self.sequence.0,
            self.kind
        )
    }
}

/// Every failure of the journal.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// An I/O call failed.
    Io {
        /// What the journal was doing.
        context: &'static str,
        /// File or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file system is full (preallocation or write failed with `ENOSPC`).
    DiskFull {
        /// File being grown.
        path: PathBuf,
    },
    /// Mapping a segment into memory failed.
    Map {
        /// The segment.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The configuration is unusable.
    InvalidConfig(&'static str),
    /// `append` was called with a sequence other than `next_sequence()`.
    SequenceMismatch {
        /// The sequence the writer expects.
        expected: Sequence,
        /// The sequence passed.
        found: Sequence,
    },
    /// The record type is in the journal's reserved range.
    ReservedRecordType(u16),
    /// The payload cannot fit in one segment.
    RecordTooLarge {
        /// Payload bytes.
        payload_len: usize,
        /// Largest payload a segment can take.
        payload_len_max: usize,
    },
    /// A previous write or flush failed; the writer refuses appends so nothing is written
    /// after a hole.
    Poisoned,
    /// A file this build does not understand (wrong magic or version).
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What was not understood.
        reason: &'static str,
    },
    /// Damage that is not a torn tail; open refuses unless told to truncate there.
    Corrupt(Box<Corruption>),
    /// A write failure injected by the `fail_after_bytes` test hook.
    InjectedFailure,
    /// A snapshot file could not be used.
    Snapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A key file is refused (permissions, format).
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The checkpoint file does not match the journal, so the writer refuses to sign more.
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io {
                context,
                path,
                source,
            } => {
                write!(f, "{context} {}: {source}", path.display())
            }
            JournalError::DiskFull { path } => write!(f, "disk full growing {}", path.display()),
            JournalError::Map { path, source } => {
                write!(f, "cannot map {}: {source}", path.display())
            }
            JournalError::InvalidConfig(why) => write!(f, "invalid journal configuration: {why}"),
            JournalError::SequenceMismatch { expected, found } => write!(
                f,
                "append of sequence {} but the next sequence is {}",
                found.0, expected.0
            ),
            JournalError::ReservedRecordType(t) => write!(f, "record type {t:#06x} is reserved"),
            JournalError::RecordTooLarge {
                payload_len,
                payload_len_max,
            } => write!(
                f,
                "payload of {payload_len} bytes exceeds the segment limit of {payload_len_max}"
            ),
            JournalError::Poisoned => write!(f, "writer refused: an earlier write failed"),
            JournalError::UnsupportedFormat { path, reason } => {
                write!(
                    f,
                    "{} is not a journal file this build understands: {reason}",
                    path.display()
                )
            }
            JournalError::Corrupt(c) => write!(f, "journal corrupt: {c}"),
            JournalError::InjectedFailure => write!(f, "injected write failure"),
            JournalError::Snapshot { path, reason } => {
                write!(f, "snapshot {}: {reason}", path.display())
            }
            JournalError::Key { path, reason } => {
                write!(f, "key file {} refused: {reason}", path.display())
            }
            JournalError::Checkpoint { path, reason } => {
                write!(f, "checkpoints {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } | JournalError::Map { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl JournalError {
    /// Wraps an I/O error, mapping `ENOSPC` to [`JournalError::DiskFull`].
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> JournalError {
        let path = path.into();
        if source.raw_os_error() == Some(libc::ENOSPC) {
            JournalError::DiskFull { path }
        } else {
            JournalError::Io {
                context,
                path,
                source,
            }
        }
    }
}
