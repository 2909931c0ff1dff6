//! Snapshot files: the caller's state bytes at a sequence, with a digest, written
//! atomically; and "which snapshot, replay from where".
//!
//! Layout (`snapshot-{sequence:020}.snap`):
//! ```text
//! 0  magic        [u8; 8]  "ARBSNAP\0"
//! 8  version      u32
//! 12 crc32c       u32      over [0, 12) ++ [16, 64) ++ state
//! 16 sequence     u64      state includes every record <= sequence
//! 24 state_len    u64
//! 32 digest       [u8; 32] supplied by the caller (the engine's state digest)
//! 64 state ...
//! ```
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::scan::sync_dir;
use crate::types::Sequence;

/// Magic of snapshot files.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"ARBSNAP\0";
/// Snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Bytes of the snapshot header.
pub const SNAPSHOT_HEADER_LEN: usize = 64;
const SNAPSHOT_VERSION_OFFSET: usize = 8;
const SNAPSHOT_CRC_OFFSET: usize = 12;
const SNAPSHOT_SEQUENCE_OFFSET: usize = 16;
const SNAPSHOT_STATE_LEN_OFFSET: usize = 24;
const SNAPSHOT_DIGEST_OFFSET: usize = 32;
const _: () = assert!(SNAPSHOT_DIGEST_OFFSET + 32 == SNAPSHOT_HEADER_LEN);

/// A loaded, validated snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The file.
    pub path: PathBuf,
    /// The state includes every record up to and including this sequence.
    pub sequence: Sequence,
    /// The caller's digest of the state.
    pub digest: [u8; 32],
    /// The caller's state bytes.
    pub state: Vec<u8>,
}

impl Snapshot {
    /// Where replay resumes: the record after the snapshot.
    #[must_use]
    pub fn replay_from(&self) -> Sequence {
        self.sequence.next()
    }
}

/// A snapshot file that was skipped, and why.
#[derive(Debug)]
pub struct SkippedSnapshot {
    /// The file.
    pub path: PathBuf,
    /// Why it was not used.
    pub error: JournalError,
}

/// The outcome of [`latest_valid_snapshot`].
#[derive(Debug, Default)]
pub struct SnapshotChoice {
    /// The newest valid snapshot, if any.
    pub snapshot: Option<Snapshot>,
    /// Newer snapshots that were invalid, newest first.
    pub skipped: Vec<SkippedSnapshot>,
}

impl SnapshotChoice {
    /// Sequence to replay the journal from: after the snapshot, or `first_sequence`
    /// when there is none.
    #[must_use]
    pub fn replay_from(&self, first_sequence: Sequence) -> Sequence {
        self.snapshot
            .as_ref()
            .map_or(first_sequence, Snapshot::replay_from)
    }
}

fn snapshot_file_name(sequence: Sequence) -> String {
    format!("snapshot-{:020}.snap", sequence.0)
}

fn crc(header: &[u8; SNAPSHOT_HEADER_LEN], state: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[..SNAPSHOT_CRC_OFFSET]);
    let crc = crc32c::crc32c_append(crc, &header[SNAPSHOT_CRC_OFFSET + 4..]);
    crc32c::crc32c_append(crc, state)
}

/// Writes a snapshot atomically: a temporary file, fsync, rename, fsync of the directory.
/// A crash leaves either the old set of snapshots or the new one, never a half file under
/// the final name. Returns the path.
///
/// # Errors
/// I/O errors ([`JournalError::Io`], [`JournalError::DiskFull`]).
pub fn write_snapshot(
    dir: impl AsRef<Path>,
    sequence: Sequence,
    digest: [u8; 32],
    state: &[u8],
) -> Result<PathBuf, JournalError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir)
        .map_err(|e| JournalError::io("create snapshot directory", dir, e))?;
    let mut header = [0u8; SNAPSHOT_HEADER_LEN];
    header[..8].copy_from_slice(&SNAPSHOT_MAGIC);
    header[SNAPSHOT_VERSION_OFFSET..SNAPSHOT_VERSION_OFFSET + 4]
        .copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    header[SNAPSHOT_SEQUENCE_OFFSET..SNAPSHOT_SEQUENCE_OFFSET + 8]
        .copy_from_slice(&sequence.0.to_le_bytes());
    header[SNAPSHOT_STATE_LEN_OFFSET..SNAPSHOT_STATE_LEN_OFFSET + 8]
        .copy_from_slice(&(state.len() as u64).to_le_bytes());
    header[SNAPSHOT_DIGEST_OFFSET..SNAPSHOT_DIGEST_OFFSET + 32].copy_from_slice(&digest);
    let checksum = crc(&header, state);
    header[SNAPSHOT_CRC_OFFSET..SNAPSHOT_CRC_OFFSET + 4].copy_from_slice(&checksum.to_le_bytes());
    let path = dir.join(snapshot_file_name(sequence));
    let tmp = dir.join(format!("{}.tmp", snapshot_file_name(sequence)));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| JournalError::io("create snapshot", &tmp, e))?;
    file.write_all(&header)
        .and_then(|()| file.write_all(state))
        .map_err(|e| JournalError::io("write snapshot", &tmp, e))?;
    file.sync_all()
        .map_err(|e| JournalError::io("fsync snapshot", &tmp, e))?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename snapshot", &path, e))?;
    sync_dir(dir)?;
    Ok(path)
}

/// Loads and validates one snapshot file.
///
/// # Errors
/// [`JournalError::Snapshot`] naming what is wrong (magic, version, length, CRC);
/// I/O errors.
pub fn read_snapshot(path: impl AsRef<Path>) -> Result<Snapshot, JournalError> {
    let path = path.as_ref();
    let bad = |reason| JournalError::Snapshot {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| JournalError::io("read snapshot", path, e))?;
    let Some((head, state)) = bytes.split_first_chunk::<SNAPSHOT_HEADER_LEN>() else {
        return Err(bad("shorter than its header"));
    };
    if head[..8] != SNAPSHOT_MAGIC {
        return Err(bad("bad magic"));
    }
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let long = |at: usize| u64::from(word(at)) | (u64::from(word(at + 4)) << 32);
    if word(SNAPSHOT_VERSION_OFFSET) != SNAPSHOT_VERSION {
        return Err(bad("unknown version"));
    }
    if long(SNAPSHOT_STATE_LEN_OFFSET) != state.len() as u64 {
        return Err(bad("state length does not match the file"));
    }
    if word(SNAPSHOT_CRC_OFFSET) != crc(head, state) {
        return Err(bad("CRC mismatch"));
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&head[SNAPSHOT_DIGEST_OFFSET..SNAPSHOT_DIGEST_OFFSET + 32]);
    Ok(Snapshot {
        path: path.to_path_buf(),
        sequence: Sequence(long(SNAPSHOT_SEQUENCE_OFFSET)),
        digest,
        state: state.to_vec(),
    })
}

/// The newest valid snapshot in `dir` (by sequence in the file name), skipping invalid
/// ones (reported in [`SnapshotChoice::skipped`]). Temporary files of interrupted writes
/// are ignored. A missing directory means no snapshot.
///
/// # Errors
/// I/O errors listing the directory.
pub fn latest_valid_snapshot(dir: impl AsRef<Path>) -> Result<SnapshotChoice, JournalError> {
    let dir = dir.as_ref();
    let mut choice = SnapshotChoice::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(choice),
        Err(e) => return Err(JournalError::io("list snapshot directory", dir, e)),
    };
    let mut candidates = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list snapshot directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(digits) = name
            .strip_prefix("snapshot-")
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        if let Ok(sequence) = digits.parse::<u64>() {
            candidates.push((sequence, entry.path()));
        }
    }
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    for (sequence, path) in candidates {
        match read_snapshot(&path) {
            Ok(snapshot) if snapshot.sequence.0 == sequence => {
                choice.snapshot = Some(snapshot);
                break;
            }
            Ok(_) => choice.skipped.push(SkippedSnapshot {
                error: JournalError::Snapshot {
                    path: path.clone(),
                    reason: "sequence does not match the file name",
                },
                path,
            }),
            Err(error) => choice.skipped.push(SkippedSnapshot { path, error }),
        }
    }
    Ok(choice)
}
