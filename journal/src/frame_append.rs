//! Verbatim frame append for replicas (a child module of `writer`, so it reuses the
//! writer's frame, seal and roll steps instead of copying them).
//!
//! A standby receives the leader's frames (records and seals) and must end up with
//! byte-identical segments. [`Writer::append_frame`] re-checks each frame (CRC, sequence,
//! and for a seal the whole hash chain over the standby's own copy of the block), writes it
//! through the same code paths the leader used, and compares the written bytes with the
//! frame it was given.
use std::sync::Arc;

use crate::error::{CorruptionKind, JournalError};
use crate::frame_tail::{FramePosition, FrameView};
use crate::layout::{SEAL_FLAG_SEGMENT_END, SEAL_FRAME_LEN};
use crate::scan::{chained_hasher, corruption, hash_frames, SealFields};
use crate::types::{JournalId, RecordType, Sequence};

use super::Writer;

impl Writer {
    /// Where the next frame goes; equal on a leader and on a replica built with
    /// [`Writer::append_frame`] that holds the same frames.
    #[must_use]
    pub fn frame_position(&self) -> FramePosition {
        FramePosition {
            segment_first_sequence: Sequence(self.segment_first_sequence),
            offset: self.offset as u64,
        }
    }

    /// The identity stamped in this journal's segments.
    #[must_use]
    pub fn identity(&self) -> JournalId {
        self.shared.identity
    }

    /// Bytes per segment file.
    #[must_use]
    pub fn segment_size_bytes(&self) -> u64 {
        self.shared.segment_size as u64
    }

    /// Appends a frame produced by another journal (see [`crate::FrameTail`]) verbatim:
    /// the replica's segments end up byte-identical to the source's, provided both have the
    /// same identity and segment size and the frames arrive in order.
    ///
    /// A user record must carry [`Writer::next_sequence`]. A seal must continue this
    /// journal's chain: previous hash, block bounds and record count, and its hash is
    /// recomputed over this journal's own copy of the block; a segment-end seal rolls to the
    /// next segment as the source did. Nothing invalid is written. Seals the local
    /// [`crate::Flusher`] posts and the writer-side backstop are not placed here (they
    /// would make the copy differ); the chain comes from the source's seals.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] (at the position the frame would take) for a frame that
    /// fails its CRC, its chain or its block bounds, or an unknown reserved type;
    /// [`JournalError::SequenceMismatch`]; [`JournalError::InvalidConfig`] when the frame
    /// does not fit where the source put it (segment sizes differ);
    /// [`JournalError::Poisoned`] and roll failures as [`Writer::append`].
    pub fn append_frame(&mut self, frame: &[u8]) -> Result<(), JournalError> {
        if self.is_poisoned() {
            return Err(JournalError::Poisoned);
        }
        let view = FrameView::parse(frame).map_err(|kind| self.corrupt_here(kind))?;
        if view.aligned_len() != frame.len() {
            return Err(self.corrupt_here(CorruptionKind::BadFrame));
        }
        let record_type = view.record_type();
        if record_type == RecordType::SEAL {
            return self.append_seal_frame(&view);
        }
        if record_type.is_reserved() {
            return Err(self.corrupt_here(CorruptionKind::UnknownReservedType(record_type.0)));
        }
        if view.sequence().0 != self.next_sequence {
            return Err(JournalError::SequenceMismatch {
                expected: Sequence(self.next_sequence),
                found: view.sequence(),
            });
        }
        if view.payload().len() > self.payload_len_max
            || self.offset + view.aligned_len() + SEAL_FRAME_LEN > self.shared.segment_size
        {
            return Err(JournalError::InvalidConfig(
                "replicated frame does not fit where its source put it (segment sizes differ?)",
            ));
        }
        let at = self.offset;
        self.write_frame(
            record_type,
            view.sequence().0,
            view.timestamp().0,
            view.payload(),
        )?;
        self.next_sequence += 1;
        self.last_timestamp = view.timestamp().0;
        self.block_records += 1;
        self.segment_records += 1;
        self.publish();
        self.check_written(&Arc::clone(&self.segment), at, frame)
    }

    fn append_seal_frame(&mut self, view: &FrameView<'_>) -> Result<(), JournalError> {
        let fields = SealFields::parse(view.payload())
            .ok_or_else(|| self.corrupt_here(CorruptionKind::BadFrame))?;
        // A seal carries the last user sequence and timestamp before it.
        if view.sequence().0.wrapping_add(1) != self.next_sequence
            || view.timestamp().0 != self.last_timestamp
        {
            return Err(self.corrupt_here(CorruptionKind::SealBlock));
        }
        if fields.previous != self.chain_hash {
            return Err(self.corrupt_here(CorruptionKind::SealPreviousHash));
        }
        let ends_segment = fields.flags & SEAL_FLAG_SEGMENT_END != 0;
        if fields.flags & !SEAL_FLAG_SEGMENT_END != 0
            || fields.block_start != self.block_start
            || fields.block_end < fields.block_start
            || fields.block_end > self.offset
            || fields.records > self.block_records
            || (ends_segment
                && (fields.block_end != self.offset || fields.records != self.block_records))
        {
            return Err(self.corrupt_here(CorruptionKind::SealBlock));
        }
        let mut hasher = chained_hasher(&self.chain_hash);
        // SAFETY: [block_start, block_end) lies below `offset`: frames this writer wrote.
        let records = unsafe {
            hash_frames(
                &mut hasher,
                self.base,
                self.shared.segment_size,
                fields.block_start,
                fields.block_end,
            )
        };
        if records != Some(fields.records) {
            return Err(self.corrupt_here(CorruptionKind::SealBlock));
        }
        if *hasher.finalize().as_bytes() != fields.hash {
            return Err(self.corrupt_here(CorruptionKind::SealHash));
        }
        let segment = Arc::clone(&self.segment);
        let at = self.offset;
        if ends_segment {
            // The roll writes exactly this seal (same chain state), then the next segment.
            self.roll_inner()?;
        } else {
            // The source keeps room for its segment's final seal after every other seal.
            if self.offset + 2 * SEAL_FRAME_LEN > self.shared.segment_size {
                return Err(JournalError::InvalidConfig(
                    "replicated seal does not fit where its source put it (segment sizes differ?)",
                ));
            }
            let result = self.write_seal_fields(&fields);
            if result.is_err() {
                self.poison();
            }
            result?;
            self.publish();
        }
        self.check_written(&segment, at, view.bytes())
    }

    /// Paired check: what landed in the mapping is the frame we were given.
    fn check_written(
        &mut self,
        segment: &Arc<super::SegmentMap>,
        at: usize,
        frame: &[u8],
    ) -> Result<(), JournalError> {
        debug_assert!(at + frame.len() <= segment.size);
        // SAFETY: [at, at + len) is a frame this writer just wrote and committed.
        let written =
            unsafe { core::slice::from_raw_parts(segment.map.as_ptr().add(at), frame.len()) };
        if written != frame {
            self.poison();
            return Err(JournalError::InvalidConfig(
                "a replicated frame was not written byte-identically (writer poisoned)",
            ));
        }
        Ok(())
    }

    fn corrupt_here(&self, kind: CorruptionKind) -> JournalError {
        JournalError::Corrupt(Box::new(corruption(
            &self.segment_path,
            self.offset,
            self.next_sequence,
            kind,
        )))
    }
}
