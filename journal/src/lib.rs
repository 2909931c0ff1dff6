//! Memory-mapped, hash-chained, crash-safe segment files with recovery and snapshots.
//!
//! The journal stores opaque records (a [`RecordType`], a [`Sequence`] that goes up by
//! exactly one, a [`TimestampNs`] and payload bytes); it knows nothing about orders.
//!
//! # Design
//! * **Segments**: files of `segment_size_bytes`, preallocated (`posix_fallocate`, so a
//!   full disk is an error at preparation, not a `SIGBUS` on the hot path), pre-faulted,
//!   memory-mapped, named by their first sequence (`00000000000000000001.seg`). The
//!   [`Flusher`] prepares the next one (a `*.spare` file) off the hot path; the writer takes
//!   it at roll, writes its header and renames it.
//! * **Records**: a 32-byte little-endian header (see [`layout`]) then the payload, 8-byte
//!   aligned, CRC32C over the header and payload. The first header word (frame length) is
//!   the commit word: stored last with `Release`, so readers never see half a record.
//! * **Hash chain**: seal records carry BLAKE3(previous seal hash ‖ the block's user frames).
//!   The [`Flusher`] hashes blocks off the append path and posts each seal; the writer
//!   places it at its next append (one 120-byte frame, no hashing). [`Writer::seal`]
//!   (the owner's explicit seal points), every segment roll and a writer-side backstop
//!   (`seal_interval_records`) hash in the writer. Each segment header carries the chain's
//!   value at its start, so the chain runs across files and a segment verifies on its own.
//! * **Durability**: the [`Flusher`], on a thread the caller owns, msyncs what the writer
//!   published per [`Durability`] and advances the lock-free [`DurableCursor`].
//! * **Recovery**: [`Journal::open`] validates everything, cuts a torn tail of the last
//!   segment and refuses any other damage (unless told to truncate there); [`verify`]
//!   checks a journal end to end.
//!
//! # Safety of shared mappings
//! The writer writes through a raw pointer into a mapping shared (via `Arc`) with the
//! flusher; the `Arc` keeps it mapped until both are done. The flusher passes address
//! ranges to `msync` and reads (to hash) only frames below the writer's published position
//! (Acquire), which are never written again. Readers map files themselves and synchronise
//! on each frame's commit word (Release store by the writer, Acquire load by the reader).
//!
//! # Usage
//! ```
//! use arbiter_journal::{
//!     Durability, Journal, JournalConfig, JournalId, Reader, RecordType, Sequence, TimestampNs,
//! };
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), arbiter_journal::JournalError> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut config = JournalConfig::new(JournalId::from_u128(7));
//! config.segment_size_bytes = 1 << 20;
//! config.durability = Durability::Sync;
//! let (mut writer, report) = Journal::open(dir.path(), config)?;
//! assert_eq!(report.next_sequence, Sequence(1));
//!
//! let flusher = writer.flusher()?.spawn(); // or run `do_work()` on your own thread
//! let durable = writer.durable_cursor();
//! for n in 1..=100u64 {
//!     let seq = writer.next_sequence();
//!     writer.append(RecordType(1), seq, TimestampNs(1_000 * n), &n.to_le_bytes())?;
//! }
//! assert!(durable.wait_for(Sequence(100), Duration::from_secs(10)));
//! writer.close()?;
//! flusher.stop()?;
//!
//! let reader = Reader::open(dir.path())?;
//! let from_50: Vec<u64> = reader
//!     .iter_from_seq(Sequence(50))
//!     .map(|r| r.map(|v| v.sequence().0))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(from_50, (50..=100).collect::<Vec<_>>());
//! assert!(arbiter_journal::verify(dir.path())?.is_ok());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod config;
mod cursor;
mod error;
mod flusher;
mod frame_tail;
pub mod layout;
mod reader;
mod recovery;
mod scan;
mod segment;
pub mod sign;
pub mod snapshot;
mod tail;
pub mod trail;
mod types;
mod verify;
mod writer;

pub use config::{Durability, JournalConfig};
pub use cursor::DurableCursor;
pub use error::{Corruption, CorruptionKind, JournalError};
pub use flusher::{Flusher, FlusherThread};
pub use frame_tail::{FramePosition, FrameTail, FrameView};
pub use reader::{Reader, RecordIter, RecordView};
pub use recovery::{Journal, RecoveryReport, Truncation};
pub use sign::{read_checkpoints, Checkpoint, PublicKey, SigningKey};
pub use snapshot::{
    latest_valid_snapshot, read_snapshot, write_snapshot, Snapshot, SnapshotChoice,
};
pub use tail::TailReader;
pub use types::{JournalId, RecordType, Sequence, TimestampNs};
pub use verify::{verify, verify_signed, VerifyReport};
pub use writer::Writer;
