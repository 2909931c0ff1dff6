//! The single writer: appends frames into the mapped segment with a memcpy, seals blocks,
//! rolls segments. No syscall and no allocation on the append path (a roll renames one
//! file, once per segment).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use zerocopy::{FromZeros, IntoBytes};

use crate::config::{Durability, JournalConfig};
use crate::cursor::DurableCursor;
use crate::error::JournalError;
use crate::flusher::Flusher;
use crate::layout::{
    align_up, record_crc, segment_file_name, RecordHeader, RECORD_HEADER_LEN,
    SEAL_FLAG_SEGMENT_END, SEAL_FRAME_LEN, SEGMENT_HEADER_LEN,
};
use crate::scan::{chained_hasher, hash_frames, sync_dir, SealFields};
use crate::segment::{create_spare, make_header, write_header, SegmentMap, Spare};
use crate::types::{JournalId, RecordType, Sequence, TimestampNs};

// Verbatim frame append for replicas; a child module so it reuses the writer's private steps.
#[path = "frame_append.rs"]
mod frame_append;

/// Bits of the packed writer position that hold the segment offset.
pub(crate) const POSITION_OFFSET_BITS: u32 = 40;

/// Packs (segment ordinal, offset) into one atomic word.
pub(crate) fn pack_position(ordinal: u64, offset: usize) -> u64 {
    debug_assert!((offset as u64) < (1 << POSITION_OFFSET_BITS));
    (ordinal << POSITION_OFFSET_BITS) | offset as u64
}

/// Unpacks a position.
pub(crate) fn unpack_position(position: u64) -> (u64, usize) {
    (
        position >> POSITION_OFFSET_BITS,
        (position & ((1 << POSITION_OFFSET_BITS) - 1)) as usize,
    )
}

/// Keeps one hot atomic per cache-line pair (adjacent-line prefetch) to avoid false sharing.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// What the writer publishes: written with Release after every frame.
#[derive(Debug, Default)]
pub(crate) struct WrittenCursor {
    /// Packed (segment ordinal, offset after the last frame). Stored before `sequence`.
    pub(crate) position: AtomicU64,
    /// Last written user sequence.
    pub(crate) sequence: AtomicU64,
}

/// State shared by the writer, the flusher and durable cursors.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) identity: JournalId,
    pub(crate) segment_size: usize,
    pub(crate) durability: Durability,
    pub(crate) prefault: bool,
    pub(crate) written: Padded<WrittenCursor>,
    /// Last durable sequence (Release by the flusher after msync).
    pub(crate) durable: Padded<AtomicU64>,
    /// Set when a write or flush failed; the writer refuses appends afterwards.
    pub(crate) poisoned: AtomicBool,
    /// Set (Release) by the flusher when `posted_seal` holds a seal for the writer to place;
    /// the writer checks it (one load) per append.
    pub(crate) seal_ready: Padded<AtomicBool>,
    /// A block hashed by the flusher, waiting for the writer to write its seal record.
    pub(crate) posted_seal: Mutex<Option<PostedSeal>>,
    /// A prepared next segment, filled by the flusher, taken by the writer at roll.
    pub(crate) spare: Mutex<Option<Spare>>,
    pub(crate) spare_counter: AtomicU64,
    pub(crate) flusher_taken: AtomicBool,
    /// Checkpoint signing (see [`crate::sign`]); taken by the flusher after each flush and
    /// by [`Writer::close`], never on the append path.
    pub(crate) signer: Option<Mutex<crate::sign::CheckpointSigner>>,
}

impl Shared {
    /// A new unique spare path.
    pub(crate) fn spare_path(&self) -> PathBuf {
        let n = self.spare_counter.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n:08}.spare"))
    }
}

/// A seal computed by the flusher: the writer writes it as-is if its chain still matches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PostedSeal {
    pub(crate) ordinal: u64,
    pub(crate) fields: SealFields,
}

/// Where the writer resumes after recovery.
#[derive(Debug)]
pub(crate) struct Resume {
    pub(crate) segment: Arc<SegmentMap>,
    pub(crate) path: PathBuf,
    pub(crate) segment_first_sequence: u64,
    pub(crate) offset: usize,
    pub(crate) next_sequence: u64,
    pub(crate) last_timestamp: u64,
    pub(crate) chain_hash: [u8; 32],
    pub(crate) block_start: usize,
    pub(crate) block_records: u32,
    pub(crate) segment_records: u64,
}

/// Appends records. One per journal; owned by the sequencer thread.
///
/// Obtained from [`crate::Journal::open`].
#[derive(Debug)]
pub struct Writer {
    shared: Arc<Shared>,
    segment: Arc<SegmentMap>,
    base: *mut u8,
    segment_path: PathBuf,
    segment_first_sequence: u64,
    ordinal: u64,
    offset: usize,
    next_sequence: u64,
    last_timestamp: u64,
    chain_hash: [u8; 32],
    block_start: usize,
    block_records: u32,
    segment_records: u64,
    seal_interval_records: u32,
    payload_len_max: usize,
    fail_budget_bytes: Option<u64>,
    poisoned: bool,
}

// SAFETY: `base` points into `segment`'s mapping, kept alive by the `Arc` this struct owns;
// the writer is the only one writing through it, from whichever thread owns the `Writer`.
unsafe impl Send for Writer {}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, config: &JournalConfig, resume: Resume) -> Writer {
        let segment_size = shared.segment_size;
        let payload_len_max =
            (segment_size - SEGMENT_HEADER_LEN - SEAL_FRAME_LEN - RECORD_HEADER_LEN)
                .min(u32::MAX as usize - RECORD_HEADER_LEN - 8)
                & !7;
        let base = resume.segment.map.as_mut_ptr();
        let writer = Writer {
            shared,
            segment: resume.segment,
            base,
            segment_path: resume.path,
            segment_first_sequence: resume.segment_first_sequence,
            ordinal: 0,
            offset: resume.offset,
            next_sequence: resume.next_sequence,
            last_timestamp: resume.last_timestamp,
            chain_hash: resume.chain_hash,
            block_start: resume.block_start,
            block_records: resume.block_records,
            segment_records: resume.segment_records,
            seal_interval_records: config.seal_interval_records,
            payload_len_max,
            fail_budget_bytes: config.fail_after_bytes,
            poisoned: false,
        };
        writer.publish();
        writer
    }

    /// The sequence the next [`Writer::append`] must carry.
    #[must_use]
    pub fn next_sequence(&self) -> Sequence {
        Sequence(self.next_sequence)
    }

    /// Largest payload one record can carry with this segment size.
    #[must_use]
    pub fn payload_len_max(&self) -> usize {
        self.payload_len_max
    }

    /// A handle other threads read to learn what is durable.
    #[must_use]
    pub fn durable_cursor(&self) -> DurableCursor {
        DurableCursor::new(Arc::clone(&self.shared))
    }

    /// The journal directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Path of the segment being written.
    #[must_use]
    pub fn segment_path(&self) -> &Path {
        &self.segment_path
    }

    /// Whether an earlier failure made the writer refuse appends.
    #[must_use]
    pub fn is_poisoned(&self) -> bool {
        self.poisoned || self.shared.poisoned.load(Ordering::Relaxed)
    }

    /// The flusher of this journal; run [`Flusher::do_work`] on a thread you own (or
    /// [`Flusher::spawn`]). Create it before appending: it starts at the current segment.
    ///
    /// # Errors
    /// [`JournalError::InvalidConfig`] when a flusher was already taken.
    pub fn flusher(&self) -> Result<Flusher, JournalError> {
        if self.shared.flusher_taken.swap(true, Ordering::AcqRel) {
            return Err(JournalError::InvalidConfig(
                "the journal's flusher was already taken",
            ));
        }
        Ok(Flusher::new(
            Arc::clone(&self.shared),
            Arc::clone(&self.segment),
            self.ordinal,
            self.block_start,
            self.chain_hash,
        ))
    }

    /// Appends one record: a CRC and a memcpy into the mapped segment, then a Release
    /// store of the commit word and the written cursor. No syscall, no allocation (a
    /// segment roll, once per segment, renames one file; a seal posted by the flusher is
    /// placed with one more frame copy; only the writer-side backstop, once per
    /// `seal_interval_records` unsealed records, hashes here).
    ///
    /// # Errors
    /// [`JournalError::SequenceMismatch`] if `sequence` is not [`Writer::next_sequence`]
    /// (nothing is written); [`JournalError::ReservedRecordType`];
    /// [`JournalError::RecordTooLarge`]; [`JournalError::Poisoned`] after an earlier
    /// failure; roll failures ([`JournalError::Io`], [`JournalError::DiskFull`],
    /// [`JournalError::Map`]) and [`JournalError::InjectedFailure`], which poison the writer.
    #[inline]
    pub fn append(
        &mut self,
        record_type: RecordType,
        sequence: Sequence,
        timestamp: TimestampNs,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        if self.is_poisoned() {
            return Err(JournalError::Poisoned);
        }
        if record_type.is_reserved() {
            return Err(JournalError::ReservedRecordType(record_type.0));
        }
        if sequence.0 != self.next_sequence {
            return Err(JournalError::SequenceMismatch {
                expected: Sequence(self.next_sequence),
                found: sequence,
            });
        }
        if payload.len() > self.payload_len_max {
            return Err(JournalError::RecordTooLarge {
                payload_len: payload.len(),
                payload_len_max: self.payload_len_max,
            });
        }
        // Seals go before (not after) the record, so an error means the record was not written.
        if self.shared.seal_ready.0.load(Ordering::Relaxed) {
            self.place_posted_seal()?;
        }
        if self.seal_interval_records != 0 && self.block_records >= self.seal_interval_records {
            self.seal()?;
        }
        let aligned_len = align_up(RECORD_HEADER_LEN + payload.len());
        if self.offset + aligned_len + SEAL_FRAME_LEN > self.shared.segment_size {
            self.roll_inner()?;
        }
        self.write_frame(record_type, sequence.0, timestamp.0, payload)?;
        self.next_sequence += 1;
        self.last_timestamp = timestamp.0;
        self.block_records += 1;
        self.segment_records += 1;
        self.publish();
        Ok(())
    }

    /// Closes the current block with a seal record carrying BLAKE3(previous seal hash ||
    /// block bytes). Called by the writer's owner at its seal points (e.g. when its input
    /// is idle), by the backstop after `seal_interval_records` unsealed records and at every
    /// segment roll; routine seals come from the flusher instead (see [`Flusher`]).
    /// Cost: hashing the bytes since the last seal. Returns whether a seal was written.
    ///
    /// # Errors
    /// As [`Writer::append`]; failures poison the writer.
    pub fn seal(&mut self) -> Result<bool, JournalError> {
        if self.is_poisoned() {
            return Err(JournalError::Poisoned);
        }
        if self.block_records == 0 {
            return Ok(false);
        }
        if self.offset + 2 * SEAL_FRAME_LEN > self.shared.segment_size {
            self.roll_inner()?;
        } else {
            let result = self.write_seal(0);
            if result.is_err() {
                self.poison();
            }
            result?;
            self.publish();
        }
        Ok(true)
    }

    /// Ends the current segment (seal) and continues in a new one. Used at the natural
    /// segment end and by operators who want a file boundary; a no-op on an empty segment.
    ///
    /// # Errors
    /// As [`Writer::append`]; failures poison the writer.
    pub fn roll(&mut self) -> Result<(), JournalError> {
        if self.is_poisoned() {
            return Err(JournalError::Poisoned);
        }
        if self.segment_records == 0 {
            return Ok(());
        }
        self.roll_inner()
    }

    /// Seals the open block and msyncs the current segment and the directory, so a clean
    /// shutdown leaves everything sealed and durable.
    ///
    /// # Errors
    /// As [`Writer::seal`], plus msync/fsync failures.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.seal()?;
        self.segment.sync_range(0, self.offset, &self.shared.dir)?;
        sync_dir(&self.shared.dir)?;
        // Everything is durable now: sign the seals the flusher has not signed yet.
        if let Some(signer) = &self.shared.signer {
            let mut signer = signer
                .lock()
                .map_err(|_| JournalError::InvalidConfig("checkpoint signer lock poisoned"))?;
            signer.sign_to(pack_position(self.ordinal, self.offset), u32::MAX)?;
            signer.sync()?;
        }
        Ok(())
    }

    /// Checkpoints signed so far and the sequence of the last signed seal (`None` when the
    /// journal has no signing key).
    #[must_use]
    pub fn checkpoint_status(&self) -> Option<(u64, Sequence)> {
        let signer = self.shared.signer.as_ref()?.lock().ok()?;
        Some((signer.signed(), Sequence(signer.last_signed_sequence())))
    }

    fn publish(&self) {
        self.shared
            .written
            .0
            .position
            .store(pack_position(self.ordinal, self.offset), Ordering::Release);
        self.shared
            .written
            .0
            .sequence
            .store(self.next_sequence - 1, Ordering::Release);
    }

    fn poison(&mut self) {
        self.poisoned = true;
        self.shared.poisoned.store(true, Ordering::Release);
    }

    #[inline]
    fn write_frame(
        &mut self,
        record_type: RecordType,
        sequence: u64,
        timestamp: u64,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        let frame_len = RECORD_HEADER_LEN + payload.len();
        let aligned_len = align_up(frame_len);
        debug_assert!(self.offset + aligned_len <= self.shared.segment_size);
        debug_assert_eq!(self.offset % 8, 0);
        let mut header = RecordHeader::new_zeroed();
        header.frame_length = (frame_len as u32).into();
        header.record_type = record_type.0.into();
        header.sequence = sequence.into();
        header.timestamp = timestamp.into();
        header.crc32c = record_crc(&header, payload).into();
        let header_bytes = header.as_bytes();
        if let Some(budget) = self.fail_budget_bytes.as_mut() {
            // Failure only when meaningful bytes are lost: padding is already zero.
            if (frame_len as u64) > *budget {
                let keep = *budget as usize;
                // SAFETY: as below; the partial frame imitates a device that stopped.
                unsafe {
                    let dst = self.base.add(self.offset);
                    let head = keep.min(RECORD_HEADER_LEN);
                    core::ptr::copy_nonoverlapping(header_bytes.as_ptr(), dst, head);
                    let body = keep.saturating_sub(RECORD_HEADER_LEN).min(payload.len());
                    core::ptr::copy_nonoverlapping(
                        payload.as_ptr(),
                        dst.add(RECORD_HEADER_LEN),
                        body,
                    );
                }
                *budget = 0;
                self.poison();
                return Err(JournalError::InjectedFailure);
            }
            *budget = budget.saturating_sub(aligned_len as u64);
        }
        // SAFETY: [offset, offset + aligned_len) is inside the mapping (checked against the
        // segment size by the callers), only this writer writes there, and the bytes are
        // zero (fresh or zeroed by recovery) so padding needs no store. Readers only touch
        // the frame after the Release store of the commit word below.
        unsafe {
            let dst = self.base.add(self.offset);
            core::ptr::copy_nonoverlapping(
                payload.as_ptr(),
                dst.add(RECORD_HEADER_LEN),
                payload.len(),
            );
            core::ptr::copy_nonoverlapping(
                header_bytes.as_ptr().add(4),
                dst.add(4),
                RECORD_HEADER_LEN - 4,
            );
            AtomicU32::from_ptr(dst.cast::<u32>())
                .store((frame_len as u32).to_le(), Ordering::Release);
        }
        self.offset += aligned_len;
        Ok(())
    }

    fn write_seal(&mut self, flags: u32) -> Result<(), JournalError> {
        debug_assert!(self.offset + SEAL_FRAME_LEN <= self.shared.segment_size);
        let mut hasher = chained_hasher(&self.chain_hash);
        // SAFETY: [block_start, offset) holds frames this writer wrote and committed.
        let records = unsafe {
            hash_frames(
                &mut hasher,
                self.base,
                self.shared.segment_size,
                self.block_start,
                self.offset,
            )
        };
        debug_assert_eq!(records, Some(self.block_records));
        let fields = SealFields {
            previous: self.chain_hash,
            hash: *hasher.finalize().as_bytes(),
            block_start: self.block_start,
            block_end: self.offset,
            records: self.block_records,
            flags,
        };
        self.write_seal_fields(&fields)
    }

    fn write_seal_fields(&mut self, fields: &SealFields) -> Result<(), JournalError> {
        debug_assert_eq!(fields.previous, self.chain_hash);
        debug_assert_eq!(fields.block_start, self.block_start);
        debug_assert!(fields.records <= self.block_records);
        self.write_frame(
            RecordType::SEAL,
            self.next_sequence - 1,
            self.last_timestamp,
            &fields.encode(),
        )?;
        self.chain_hash = fields.hash;
        self.block_start = fields.block_end;
        self.block_records -= fields.records;
        Ok(())
    }

    /// Writes the seal the flusher hashed, if it still continues our chain (a seal of our
    /// own since then makes it stale). No hashing here: one 120-byte frame.
    #[cold]
    fn place_posted_seal(&mut self) -> Result<(), JournalError> {
        let Ok(mut slot) = self.shared.posted_seal.try_lock() else {
            return Ok(());
        };
        self.shared.seal_ready.0.store(false, Ordering::Relaxed);
        let Some(posted) = slot.take() else {
            return Ok(());
        };
        drop(slot);
        let fields = posted.fields;
        let current = posted.ordinal == self.ordinal
            && fields.block_start == self.block_start
            && fields.previous == self.chain_hash
            && fields.block_end <= self.offset
            && fields.records <= self.block_records
            && fields.records > 0;
        // Keep room for the segment's final seal.
        if !current || self.offset + 2 * SEAL_FRAME_LEN > self.shared.segment_size {
            return Ok(());
        }
        let result = self.write_seal_fields(&fields);
        if result.is_err() {
            self.poison();
        }
        result?;
        self.publish();
        Ok(())
    }

    fn roll_inner(&mut self) -> Result<(), JournalError> {
        let result = self.roll_steps();
        if result.is_err() {
            self.poison();
        }
        result
    }

    fn roll_steps(&mut self) -> Result<(), JournalError> {
        self.write_seal(SEAL_FLAG_SEGMENT_END)?;
        self.segment
            .end_offset
            .store(self.offset as u64, Ordering::Release);
        self.publish();
        let taken = self
            .shared
            .spare
            .try_lock()
            .ok()
            .and_then(|mut slot| slot.take());
        let mut spare = match taken {
            Some(spare) => spare,
            None => create_spare(self.shared.spare_path(), self.shared.segment_size)?,
        };
        if self.shared.prefault {
            spare.prefault(usize::MAX);
        }
        let header = make_header(
            self.shared.identity,
            self.next_sequence,
            self.shared.segment_size as u64,
            self.chain_hash,
        );
        // SAFETY: the spare's mapping is at least a header long and now owned by us.
        unsafe { write_header(spare.segment.map.as_mut_ptr(), &header) };
        let path = self.shared.dir.join(segment_file_name(self.next_sequence));
        std::fs::rename(&spare.path, &path)
            .map_err(|e| JournalError::io("rename spare to", &path, e))?;
        let next = Arc::new(spare.segment);
        // The flusher follows `next` once it sees a position with a higher ordinal.
        let _ = self.segment.next.set(Arc::clone(&next));
        self.base = next.map.as_mut_ptr();
        self.segment = next;
        self.segment_path = path;
        self.segment_first_sequence = self.next_sequence;
        self.ordinal += 1;
        self.offset = SEGMENT_HEADER_LEN;
        self.block_start = SEGMENT_HEADER_LEN;
        self.block_records = 0;
        self.segment_records = 0;
        self.publish();
        Ok(())
    }
}
