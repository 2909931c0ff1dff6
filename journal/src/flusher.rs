//! The flusher: makes written records durable per policy, publishes the durable cursor,
//! and prepares the next segment off the hot path.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Durability;
use crate::cursor::DurableCursor;
use crate::error::JournalError;
use crate::layout::{align_up, RECORD_HEADER_LEN, RECORD_TYPE_OFFSET, SEGMENT_HEADER_LEN};
use crate::scan::{chained_hasher, hash_frames, sync_dir, SealFields};
use crate::segment::{create_spare, read_header, SegmentMap, Spare};
use crate::types::RecordType;
use crate::writer::{unpack_position, PostedSeal, Shared};

/// The flusher posts a seal once this many records are hashed, or when the writer is quiet.
const SEAL_POST_RECORDS: u32 = 512;

/// The flusher's running hash of the writer's current block.
struct BlockHasher {
    segment: Arc<SegmentMap>,
    ordinal: u64,
    block_start: usize,
    previous: [u8; 32],
    hasher: blake3::Hasher,
    hashed_to: usize,
    records: u32,
    posted: bool,
}

impl core::fmt::Debug for BlockHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockHasher")
            .field("ordinal", &self.ordinal)
            .field("block_start", &self.block_start)
            .field("hashed_to", &self.hashed_to)
            .field("records", &self.records)
            .finish_non_exhaustive()
    }
}

impl BlockHasher {
    fn new(
        segment: Arc<SegmentMap>,
        ordinal: u64,
        block_start: usize,
        previous: [u8; 32],
    ) -> BlockHasher {
        let mut block = BlockHasher {
            segment,
            ordinal,
            block_start,
            previous,
            hasher: chained_hasher(&previous),
            hashed_to: block_start,
            records: 0,
            posted: false,
        };
        block.restart(block_start, previous);
        block
    }

    /// Starts the block again at `block_start` with chain value `previous`.
    fn restart(&mut self, block_start: usize, previous: [u8; 32]) {
        self.block_start = block_start;
        self.previous = previous;
        self.hasher = chained_hasher(&previous);
        self.hashed_to = block_start;
        self.records = 0;
        self.posted = false;
    }

    /// Hashes committed frames up to `limit` (the writer's published offset in this
    /// segment). A seal frame from the writer restarts the block where that seal ended it.
    /// Bounded by the bytes the writer published.
    fn advance(&mut self, limit: usize) -> u32 {
        let base = self.segment.map.as_ptr();
        let len = self.segment.size;
        let mut work = 0;
        // Contiguous user frames go to BLAKE3 in one call (its SIMD paths need long inputs).
        let mut run_start = self.hashed_to;
        while self.hashed_to + RECORD_HEADER_LEN <= limit {
            let offset = self.hashed_to;
            // SAFETY: below the published offset: committed frames the writer never rewrites.
            let header =
                unsafe { core::slice::from_raw_parts(base.add(offset), RECORD_HEADER_LEN) };
            let frame_length =
                u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
            let record_type = u16::from_le_bytes(
                header[RECORD_TYPE_OFFSET..RECORD_TYPE_OFFSET + 2]
                    .try_into()
                    .unwrap_or_default(),
            );
            let aligned = align_up(frame_length);
            debug_assert!(frame_length >= RECORD_HEADER_LEN);
            if frame_length < RECORD_HEADER_LEN || offset + aligned > limit {
                break;
            }
            work = 1;
            if record_type == RecordType::SEAL.0 {
                // A seal from the writer: the block restarts where it ended, re-hashed from
                // there (the frames between its end and the seal are the next block's).
                // SAFETY: as above.
                let payload = unsafe {
                    core::slice::from_raw_parts(
                        base.add(offset + RECORD_HEADER_LEN),
                        frame_length - RECORD_HEADER_LEN,
                    )
                };
                let Some(seal) = SealFields::parse(payload) else {
                    break;
                };
                self.restart(seal.block_end, seal.hash);
                // SAFETY: [block_end, seal end) are committed frames.
                let records = unsafe {
                    hash_frames(
                        &mut self.hasher,
                        base,
                        len,
                        seal.block_end,
                        offset + aligned,
                    )
                }
                .unwrap_or(0);
                self.records = records;
                self.hashed_to = offset + aligned;
                run_start = self.hashed_to;
                continue;
            }
            self.records += 1;
            self.hashed_to = offset + aligned;
        }
        // SAFETY: [run_start, hashed_to) are committed user frames.
        self.hasher.update(unsafe {
            core::slice::from_raw_parts(base.add(run_start), self.hashed_to - run_start)
        });
        work
    }
}

/// Bytes of a spare segment pre-faulted per [`Flusher::do_work`] call, so preparing a
/// 1 GiB spare never delays a flush by more than about a millisecond (256 page faults).
const PREFAULT_CHUNK_BYTES: usize = 1 << 20;

/// Agent that makes the writer's records durable. Run [`Flusher::do_work`] in a loop on a
/// thread you own, with your idle strategy, or use [`Flusher::spawn`].
///
/// It reads the writer's published position (Acquire), msyncs the written byte range of
/// each segment it passes (`msync` on the writer's shared mapping; see the crate's safety
/// notes), fsyncs the directory after a roll, then stores the durable sequence (Release).
#[derive(Debug)]
pub struct Flusher {
    shared: Arc<Shared>,
    segment: Arc<SegmentMap>,
    ordinal: u64,
    flushed_offset: usize,
    flushed_sequence: u64,
    last_flush: Instant,
    preparing: Option<Spare>,
    block: BlockHasher,
    last_position: u64,
    /// Packed position the last flush covered: the signer signs seals below it only.
    flushed_position: u64,
    failed: bool,
}

impl Flusher {
    pub(crate) fn new(
        shared: Arc<Shared>,
        segment: Arc<SegmentMap>,
        ordinal: u64,
        block_start: usize,
        previous: [u8; 32],
    ) -> Flusher {
        let flushed_sequence = shared.durable.0.load(Ordering::Acquire);
        Flusher {
            shared,
            block: BlockHasher::new(Arc::clone(&segment), ordinal, block_start, previous),
            segment,
            ordinal,
            flushed_offset: 0,
            flushed_sequence,
            last_flush: Instant::now(),
            preparing: None,
            last_position: u64::MAX,
            flushed_position: 0,
            failed: false,
        }
    }

    /// The cursor this flusher advances.
    #[must_use]
    pub fn durable_cursor(&self) -> DurableCursor {
        DurableCursor::new(Arc::clone(&self.shared))
    }

    /// One round of work: flush if the policy says so, then prepare a spare segment in a
    /// bounded chunk. Returns the amount of work done (0: idle, back off).
    ///
    /// # Errors
    /// msync/fsync/preallocation failures. The journal is then poisoned: the writer refuses
    /// appends and the durable cursor stops.
    pub fn do_work(&mut self) -> Result<u32, JournalError> {
        if self.failed {
            return Err(JournalError::Poisoned);
        }
        let result = self.work(false);
        if result.is_err() {
            self.failed = true;
            self.shared.poisoned.store(true, Ordering::Release);
        }
        result
    }

    /// Flushes everything written so far regardless of policy (used at shutdown).
    ///
    /// # Errors
    /// As [`Flusher::do_work`].
    pub fn flush_all(&mut self) -> Result<u32, JournalError> {
        if self.failed {
            return Err(JournalError::Poisoned);
        }
        let result = self.work(true);
        if result.is_err() {
            self.failed = true;
            self.shared.poisoned.store(true, Ordering::Release);
        }
        result
    }

    fn work(&mut self, force: bool) -> Result<u32, JournalError> {
        let mut work = 0;
        // Sequence first, then position: the position is at least where that record ends.
        let written_sequence = self.shared.written.0.sequence.load(Ordering::Acquire);
        let position = self.shared.written.0.position.load(Ordering::Acquire);
        if written_sequence > self.flushed_sequence {
            let due = match self.shared.durability {
                Durability::None | Durability::Sync => true,
                Durability::Batch {
                    interval_us,
                    records,
                } => {
                    written_sequence - self.flushed_sequence >= records
                        || self.last_flush.elapsed() >= Duration::from_micros(interval_us)
                }
            };
            if due || force {
                let msync = force || self.shared.durability != Durability::None;
                self.flush_to(position, msync)?;
                self.flushed_sequence = written_sequence;
                self.last_flush = Instant::now();
                self.shared
                    .durable
                    .0
                    .store(written_sequence, Ordering::Release);
                work += 1;
            }
        } else if force {
            self.flush_to(position, true)?;
        }
        let quiet = position == self.last_position;
        self.last_position = position;
        work += self.hash_block(position, quiet);
        work += self.sign_checkpoints(force)?;
        work += self.prepare_spare()?;
        Ok(work)
    }

    /// Signs the seals the last flush made durable (bounded per round; all at `force`).
    fn sign_checkpoints(&mut self, force: bool) -> Result<u32, JournalError> {
        let Some(signer) = &self.shared.signer else {
            return Ok(0);
        };
        if self.flushed_position == 0 {
            return Ok(0);
        }
        let mut signer = signer
            .lock()
            .map_err(|_| JournalError::InvalidConfig("checkpoint signer lock poisoned"))?;
        let budget = if force {
            u32::MAX
        } else {
            crate::sign::SIGNATURES_PER_ROUND_MAX
        };
        let signed = signer.sign_to(self.flushed_position, budget)?;
        if force {
            signer.sync()?;
        }
        Ok(signed.min(1))
    }

    /// Hashes what the writer published since last time and, when a block is big enough
    /// or the writer is quiet, posts its seal for the writer to place: the hashing stays
    /// off the append path.
    fn hash_block(&mut self, position: u64, quiet: bool) -> u32 {
        let (ordinal, offset) = unpack_position(position);
        while self.block.ordinal < ordinal {
            // The writer ended this segment with a seal covering all of it; start the next
            // segment's block from its header's chain value.
            let Some(next) = self.block.segment.next.get().map(Arc::clone) else {
                return 0;
            };
            // SAFETY: the writer wrote the header before publishing a position in it.
            let Some(header) = (unsafe { read_header(next.map.as_ptr(), next.size) }) else {
                return 0;
            };
            self.block.segment = next;
            self.block.ordinal += 1;
            self.block.restart(SEGMENT_HEADER_LEN, header.chain_in);
        }
        let work = self.block.advance(offset);
        let block = &mut self.block;
        if !block.posted && block.records > 0 && (block.records >= SEAL_POST_RECORDS || quiet) {
            let fields = SealFields {
                previous: block.previous,
                hash: *block.hasher.finalize().as_bytes(),
                block_start: block.block_start,
                block_end: block.hashed_to,
                records: block.records,
                flags: 0,
            };
            if let Ok(mut slot) = self.shared.posted_seal.lock() {
                *slot = Some(PostedSeal {
                    ordinal: block.ordinal,
                    fields,
                });
                self.shared.seal_ready.0.store(true, Ordering::Release);
                block.posted = true;
            }
        }
        work
    }

    fn flush_to(&mut self, position: u64, msync: bool) -> Result<(), JournalError> {
        let (ordinal, offset) = unpack_position(position);
        let mut rolled = false;
        while self.ordinal < ordinal {
            let end = self.segment.end_offset.load(Ordering::Acquire);
            debug_assert_ne!(end, u64::MAX);
            if msync {
                self.segment
                    .sync_range(self.flushed_offset, end as usize, &self.shared.dir)?;
            }
            let next = Arc::clone(
                self.segment
                    .next
                    .get()
                    .expect("writer sets next before publishing past a segment"),
            );
            self.segment = next;
            self.ordinal += 1;
            self.flushed_offset = 0;
            rolled = true;
        }
        if msync {
            self.segment
                .sync_range(self.flushed_offset, offset, &self.shared.dir)?;
            if rolled {
                sync_dir(&self.shared.dir)?;
            }
        }
        // Re-sync the last partial page next time: it may receive more bytes.
        self.flushed_offset = offset & !(crate::segment::PAGE_BYTES - 1);
        self.flushed_position = position;
        Ok(())
    }

    fn prepare_spare(&mut self) -> Result<u32, JournalError> {
        if self.preparing.is_none() {
            let empty = self
                .shared
                .spare
                .lock()
                .map(|slot| slot.is_none())
                .unwrap_or(false);
            if !empty {
                return Ok(0);
            }
            self.preparing = Some(create_spare(
                self.shared.spare_path(),
                self.shared.segment_size,
            )?);
            return Ok(1);
        }
        let done = match self.preparing.as_mut() {
            Some(spare) if self.shared.prefault => spare.prefault(PREFAULT_CHUNK_BYTES),
            _ => true,
        };
        if done {
            if let Ok(mut slot) = self.shared.spare.lock() {
                *slot = self.preparing.take();
            }
        }
        Ok(1)
    }

    /// Runs the flusher on a new thread with a sleeping backoff when idle (never a busy
    /// spin: fine for tests and shared machines; production pins its own loop).
    ///
    /// # Panics
    /// If the OS cannot spawn a thread.
    #[must_use]
    pub fn spawn(mut self) -> FlusherThread {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("journal-flusher".into())
            .spawn(move || {
                let mut idle_rounds = 0u32;
                while !stop_flag.load(Ordering::Acquire) {
                    if self.do_work()? > 0 {
                        idle_rounds = 0;
                        continue;
                    }
                    idle_rounds = idle_rounds.saturating_add(1);
                    if idle_rounds < 8 {
                        std::thread::yield_now();
                    } else {
                        let sleep_us = (u64::from(idle_rounds - 7) * 10).min(200);
                        std::thread::sleep(Duration::from_micros(sleep_us));
                    }
                }
                self.flush_all().map(|_| ())
            })
            .expect("spawn journal flusher thread");
        FlusherThread {
            stop,
            handle: Some(handle),
        }
    }
}

/// A flusher running on its own thread; stop it to flush the rest and join.
#[derive(Debug)]
pub struct FlusherThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), JournalError>>>,
}

impl FlusherThread {
    /// Stops the thread after a final flush of everything written.
    ///
    /// # Errors
    /// The first error the flusher hit.
    ///
    /// # Panics
    /// If the flusher thread panicked.
    pub fn stop(mut self) -> Result<(), JournalError> {
        self.stop.store(true, Ordering::Release);
        match self.handle.take() {
            Some(handle) => handle.join().expect("journal flusher thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for FlusherThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
