//! Segment files: creation (preallocate, map, pre-fault), headers, and frame decoding over
//! mapped bytes shared by the writer, the flusher and readers.
//!
//! # Safety argument for shared mapped memory
//! The writer writes through a raw pointer into a `MmapRaw` it shares (via `Arc`) with the
//! flusher. The flusher never writes those bytes: it passes address ranges to `msync`
//! (safe concurrently with stores) and reads, to hash them, only frames below the
//! position the writer published with Release (it loads it with Acquire). The `Arc` keeps the mapping alive until
//! both sides are done with the segment. Readers map the file separately (their own
//! virtual addresses), so no Rust reference ever aliases the writer's pointer; they
//! synchronise with the writer through the record's commit word (`frame_length`), stored
//! last with `Release` and loaded with `Acquire`. Bytes of a committed frame are never
//! written again while the journal is open, so readers may hand out `&[u8]` to them.
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use memmap2::{MmapOptions, MmapRaw};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::error::{CorruptionKind, JournalError};
use crate::layout::{
    align_up, record_crc, segment_header_crc, RecordHeader, SegmentHeader, FORMAT_VERSION,
    RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};
use crate::types::JournalId;

/// Page size used for pre-faulting.
pub(crate) const PAGE_BYTES: usize = 4096;

/// One mapped segment shared between the writer and the flusher.
#[derive(Debug)]
pub(crate) struct SegmentMap {
    pub(crate) map: MmapRaw,
    pub(crate) file: File,
    pub(crate) size: usize,
    /// Set by the writer when it rolls past this segment, before it publishes a position
    /// in the next one; the flusher follows it.
    pub(crate) next: OnceLock<Arc<SegmentMap>>,
    /// Offset after the last frame, set (Release) when the writer leaves the segment.
    pub(crate) end_offset: AtomicU64,
}

impl SegmentMap {
    /// msync `[from, to)` (rounded out to pages by memmap2).
    pub(crate) fn sync_range(
        &self,
        from: usize,
        to: usize,
        dir: &Path,
    ) -> Result<(), JournalError> {
        if to <= from {
            return Ok(());
        }
        self.map
            .flush_range(from, to - from)
            .map_err(|e| JournalError::io("msync segment in", dir, e))
    }
}

/// Maps `file` writable and shared.
pub(crate) fn map_writable(
    file: File,
    size: usize,
    path: &Path,
) -> Result<SegmentMap, JournalError> {
    let map = MmapOptions::new()
        .len(size)
        .map_raw(&file)
        .map_err(|source| JournalError::Map {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(SegmentMap {
        map,
        file,
        size,
        next: OnceLock::new(),
        end_offset: AtomicU64::new(u64::MAX),
    })
}

/// A preallocated, mapped file not yet named after a sequence.
#[derive(Debug)]
pub(crate) struct Spare {
    pub(crate) path: PathBuf,
    pub(crate) segment: SegmentMap,
    /// Bytes pre-faulted so far (the flusher does this in chunks).
    pub(crate) prefaulted: usize,
}

/// Creates `path`, reserves `size` bytes on disk (so a full disk is an error here, not a
/// SIGBUS on the hot path) and maps it.
///
/// # Errors
/// [`JournalError::DiskFull`], [`JournalError::Io`], [`JournalError::Map`].
pub(crate) fn create_spare(path: PathBuf, size: usize) -> Result<Spare, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| JournalError::io("create segment", &path, e))?;
    allocate(&file, size, &path)?;
    let segment = map_writable(file, size, &path)?;
    Ok(Spare {
        path,
        segment,
        prefaulted: 0,
    })
}

fn allocate(file: &File, size: usize, path: &Path) -> Result<(), JournalError> {
    use std::os::unix::io::AsRawFd;
    let len = libc::off_t::try_from(size)
        .map_err(|_| JournalError::InvalidConfig("segment too large"))?;
    // SAFETY: plain syscall on an fd we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == libc::ENOSPC {
        return Err(JournalError::DiskFull {
            path: path.to_path_buf(),
        });
    }
    if rc != 0 && rc != libc::EOPNOTSUPP && rc != libc::EINVAL {
        return Err(JournalError::io(
            "preallocate",
            path,
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    file.set_len(size as u64)
        .map_err(|e| JournalError::io("set length of", path, e))
}

impl Spare {
    /// Touches up to `budget` more bytes of pages with a write so the hot path takes no
    /// page faults. Returns whether the whole file is now pre-faulted.
    pub(crate) fn prefault(&mut self, budget: usize) -> bool {
        let end = self
            .prefaulted
            .saturating_add(budget)
            .min(self.segment.size);
        let base = self.segment.map.as_mut_ptr();
        let mut offset = self.prefaulted;
        while offset < end {
            // SAFETY: offset < size, the spare is owned exclusively (not yet handed to the
            // writer, no reader knows its name); writing zero over zero changes nothing.
            unsafe { core::ptr::write_volatile(base.add(offset), 0) };
            offset += PAGE_BYTES;
        }
        self.prefaulted = end;
        end == self.segment.size
    }
}

/// Builds a segment header.
pub(crate) fn make_header(
    identity: JournalId,
    first_sequence: u64,
    size: u64,
    chain_in: [u8; 32],
) -> SegmentHeader {
    let mut header = SegmentHeader::new_zeroed();
    header.magic = SEGMENT_MAGIC;
    header.format_version = FORMAT_VERSION.into();
    header.header_len = (SEGMENT_HEADER_LEN as u32).into();
    header.identity = identity.0;
    header.first_sequence = first_sequence.into();
    header.segment_size = size.into();
    header.chain_in = chain_in;
    header.crc32c = segment_header_crc(&header).into();
    header
}

/// Why a header is refused; `None` when it is fine.
pub(crate) fn check_header(header: &SegmentHeader) -> Result<(), HeaderProblem> {
    if header.as_bytes().iter().all(|b| *b == 0) {
        return Err(HeaderProblem::Zero);
    }
    if header.magic != SEGMENT_MAGIC {
        return Err(HeaderProblem::Unsupported("bad magic"));
    }
    if header.format_version.get() != FORMAT_VERSION {
        return Err(HeaderProblem::Unsupported("unknown format version"));
    }
    if header.header_len.get() as usize != SEGMENT_HEADER_LEN {
        return Err(HeaderProblem::Unsupported("unknown header length"));
    }
    if header.crc32c.get() != segment_header_crc(header) {
        return Err(HeaderProblem::Corrupt(CorruptionKind::BadSegmentHeader(
            "header CRC mismatch",
        )));
    }
    Ok(())
}

/// A header that cannot be used.
#[derive(Debug)]
pub(crate) enum HeaderProblem {
    /// All zero: the segment was created but its header never reached the disk.
    Zero,
    /// Not a format this build reads.
    Unsupported(&'static str),
    /// Damaged.
    Corrupt(CorruptionKind),
}

/// Reads the header at the start of a mapping.
///
/// # Safety
/// `base` must be readable for `len` bytes.
pub(crate) unsafe fn read_header(base: *const u8, len: usize) -> Option<SegmentHeader> {
    if len < SEGMENT_HEADER_LEN {
        return None;
    }
    // SAFETY: in bounds per the caller; the header is written before the file is named.
    let bytes = unsafe { core::slice::from_raw_parts(base, SEGMENT_HEADER_LEN) };
    SegmentHeader::read_from_bytes(bytes).ok()
}

/// Writes a header into a mapping.
///
/// # Safety
/// `base` must be writable for `SEGMENT_HEADER_LEN` bytes and owned by the caller.
pub(crate) unsafe fn write_header(base: *mut u8, header: &SegmentHeader) {
    // SAFETY: per the caller.
    unsafe { core::ptr::copy_nonoverlapping(header.as_bytes().as_ptr(), base, SEGMENT_HEADER_LEN) };
}

/// One decoded frame.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// No committed frame here (zero commit word or no room for a header).
    Empty,
    /// A whole, CRC-valid frame.
    Record {
        header: RecordHeader,
        payload: &'a [u8],
        /// Aligned bytes the frame takes.
        aligned_len: usize,
    },
    /// Something that is not a valid frame.
    Invalid(CorruptionKind),
}

/// Decodes the frame at `offset`.
///
/// # Safety
/// `base` must be readable for `len` bytes for `'a`, `offset` 8-aligned, and committed
/// frames must not be modified during `'a` (see the module safety argument).
pub(crate) unsafe fn read_frame<'a>(base: *const u8, len: usize, offset: usize) -> Frame<'a> {
    debug_assert_eq!(offset % 8, 0);
    if offset + RECORD_HEADER_LEN > len {
        return Frame::Empty;
    }
    // SAFETY: in bounds, 4-aligned (mapping is page aligned, offset 8 aligned).
    let commit = unsafe { AtomicU32::from_ptr(base.add(offset).cast_mut().cast::<u32>()) };
    let frame_length = u32::from_le(commit.load(Ordering::Acquire)) as usize;
    if frame_length == 0 {
        return Frame::Empty;
    }
    if frame_length < RECORD_HEADER_LEN || frame_length > len - offset {
        return Frame::Invalid(CorruptionKind::BadFrame);
    }
    // SAFETY: in bounds; committed bytes are immutable.
    let bytes = unsafe { core::slice::from_raw_parts(base.add(offset), frame_length) };
    let Ok((header, payload)) = RecordHeader::read_from_prefix(bytes) else {
        return Frame::Invalid(CorruptionKind::BadFrame);
    };
    if header.flags.get() != 0 || header.reserved.get() != 0 {
        return Frame::Invalid(CorruptionKind::BadFrame);
    }
    let computed = record_crc(&header, payload);
    if computed != header.crc32c.get() {
        return Frame::Invalid(CorruptionKind::Crc {
            stored: header.crc32c.get(),
            computed,
        });
    }
    Frame::Record {
        header,
        payload,
        aligned_len: align_up(frame_length).min(len - offset),
    }
}

/// Offset of the first CRC-valid frame after `from` whose sequence is at least
/// `sequence_min`, if any: used to tell a torn tail (nothing valid after the damage) from
/// damage in the middle.
///
/// # Safety
/// As [`read_frame`].
pub(crate) unsafe fn find_valid_frame_after(
    base: *const u8,
    len: usize,
    from: usize,
    sequence_min: u64,
) -> Option<usize> {
    let mut offset = align_up(from + 1);
    while offset + RECORD_HEADER_LEN <= len {
        // SAFETY: in bounds, aligned.
        let word = unsafe { core::ptr::read(base.add(offset).cast::<u64>()) };
        if word != 0 {
            // SAFETY: as above.
            if let Frame::Record { header, .. } = unsafe { read_frame(base, len, offset) } {
                if header.sequence.get() >= sequence_min {
                    return Some(offset);
                }
            }
        }
        offset += 8;
    }
    None
}

/// Offset one past the last non-zero byte in `[from, len)`, or `from` when all zero.
///
/// # Safety
/// `base` readable for `len` bytes, no concurrent writer.
pub(crate) unsafe fn last_nonzero_end(base: *const u8, len: usize, from: usize) -> usize {
    // SAFETY: per the caller.
    let bytes = unsafe { core::slice::from_raw_parts(base, len) };
    let tail = &bytes[from..];
    // Whole 4 KiB blocks from the back with a vectorisable OR, then bytes.
    let blocks = tail.len() / PAGE_BYTES;
    let rest = &tail[blocks * PAGE_BYTES..];
    if let Some(p) = rest.iter().rposition(|b| *b != 0) {
        return from + blocks * PAGE_BYTES + p + 1;
    }
    for block in (0..blocks).rev() {
        let chunk = &tail[block * PAGE_BYTES..(block + 1) * PAGE_BYTES];
        if chunk.iter().fold(0u8, |acc, b| acc | b) != 0 {
            let p = chunk.iter().rposition(|b| *b != 0).unwrap_or(0);
            return from + block * PAGE_BYTES + p + 1;
        }
    }
    from
}
