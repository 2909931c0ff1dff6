//! Journal configuration and durability policy.
use crate::error::JournalError;
use crate::layout::{
    SEGMENT_SIZE_DEFAULT, SEGMENT_SIZE_GRANULE, SEGMENT_SIZE_MAX, SEGMENT_SIZE_MIN,
};
use crate::types::{JournalId, Sequence};

/// When the [`crate::Flusher`] makes written records durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Never msync; the OS writes pages back when it likes. The durable cursor follows the
    /// written cursor: records survive a process crash, not a power cut.
    None,
    /// msync when `interval_us` has passed since the last flush or `records` records are
    /// waiting, whichever comes first.
    Batch {
        /// Longest time a record waits for its msync, in microseconds.
        interval_us: u64,
        /// Most records that wait for one msync.
        records: u64,
    },
    /// msync everything written whenever anything is written (group commit): the writer
    /// never waits per record, callers wait on the [`crate::DurableCursor`].
    Sync,
}

/// How to open or create a journal.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// Bytes per segment file; a multiple of 4096 in `[64 KiB, 1 TiB]`. Default 1 GiB.
    pub segment_size_bytes: u64,
    /// Identity stamped in every segment; an existing journal with another identity is
    /// refused.
    pub identity: JournalId,
    /// Sequence of the first record of a new journal (ignored when the journal exists).
    /// Must be at least 1: `Sequence(0)` means "nothing" in cursors.
    pub first_sequence: Sequence,
    /// Durability policy the [`crate::Flusher`] applies.
    pub durability: Durability,
    /// Backstop: the writer seals a block itself (hashing it inside that one append) once
    /// this many records are unsealed (0: never). Normally the [`crate::Flusher`] hashes
    /// blocks off the append path and posts seals the writer places with a memcpy, so this
    /// only triggers without a flusher or when it falls far behind.
    pub seal_interval_records: u32,
    /// On damage that is not a torn tail, truncate at the damage (later segments are
    /// renamed `*.quarantined`, never deleted) instead of refusing to open.
    pub truncate_on_corruption: bool,
    /// Pre-fault segment pages before the writer uses them (default true).
    pub prefault: bool,
    /// Fault-injection hook for tests: the writer behaves as if the device accepted only
    /// this many more bytes of frames, writes the partial frame, then fails.
    pub fail_after_bytes: Option<u64>,
    /// Sign every seal's chain head with this key (see [`crate::sign`]); `None`: no
    /// checkpoints, nothing changes. Signing happens in the flusher, never on append.
    pub signing_key: Option<crate::sign::SigningKey>,
    /// Also append every checkpoint to this file (ideally on another mount or host), an
    /// external anchor `arbiter-replay verify --anchor` compares with. Needs `signing_key`.
    pub anchor_path: Option<std::path::PathBuf>,
}

impl JournalConfig {
    /// Defaults: 1 GiB segments, first sequence 1, `Durability::Sync`, a writer-side seal
    /// backstop every 8192 records, refuse on corruption, pre-fault on, no fault injection.
    #[must_use]
    pub fn new(identity: JournalId) -> JournalConfig {
        JournalConfig {
            segment_size_bytes: SEGMENT_SIZE_DEFAULT,
            identity,
            first_sequence: Sequence(1),
            durability: Durability::Sync,
            seal_interval_records: 8192,
            truncate_on_corruption: false,
            prefault: true,
            fail_after_bytes: None,
            signing_key: None,
            anchor_path: None,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`JournalError::InvalidConfig`] naming the bad field.
    pub fn validate(&self) -> Result<(), JournalError> {
        if self.segment_size_bytes < SEGMENT_SIZE_MIN || self.segment_size_bytes > SEGMENT_SIZE_MAX
        {
            return Err(JournalError::InvalidConfig(
                "segment_size_bytes out of [64 KiB, 1 TiB]",
            ));
        }
        if self.segment_size_bytes % SEGMENT_SIZE_GRANULE != 0 {
            return Err(JournalError::InvalidConfig(
                "segment_size_bytes is not a multiple of 4096",
            ));
        }
        if usize::try_from(self.segment_size_bytes).is_err() {
            return Err(JournalError::InvalidConfig(
                "segment_size_bytes exceeds the address space",
            ));
        }
        if self.first_sequence.0 == 0 {
            return Err(JournalError::InvalidConfig(
                "first_sequence must be at least 1",
            ));
        }
        if self.anchor_path.is_some() && self.signing_key.is_none() {
            return Err(JournalError::InvalidConfig(
                "anchor_path needs a signing_key",
            ));
        }
        if let Durability::Batch { records: 0, .. } = self.durability {
            return Err(JournalError::InvalidConfig(
                "Batch records must be at least 1",
            ));
        }
        Ok(())
    }
}
