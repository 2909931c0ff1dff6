//! Walking a segment's frames: CRCs, sequence continuity and the hash chain. Shared by
//! recovery ([`crate::Journal::open`]) and [`crate::verify`].
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Corruption, CorruptionKind, JournalError};
use crate::layout::{
    align_up, parse_segment_file_name, SegmentHeader, RECORD_HEADER_LEN, RECORD_TYPE_OFFSET,
    SEAL_BLOCK_END_OFFSET, SEAL_BLOCK_START_OFFSET, SEAL_FLAGS_OFFSET, SEAL_FLAG_SEGMENT_END,
    SEAL_HASH_OFFSET, SEAL_PAYLOAD_LEN, SEAL_PREVIOUS_HASH_OFFSET, SEAL_RECORD_COUNT_OFFSET,
    SEGMENT_HEADER_LEN,
};
use crate::segment::{find_valid_frame_after, last_nonzero_end, read_frame, Frame};
use crate::types::{RecordType, Sequence};

/// Feeds the user frames in `[from, to)` (seal frames skipped) to `hasher`; returns how
/// many there were, or `None` when the frames do not tile `[from, to)` exactly.
///
/// # Safety
/// `base` readable for `len` bytes; `[from, to)` holds committed frames (their CRCs need not
/// be checked again here) that nobody modifies.
pub(crate) unsafe fn hash_frames(
    hasher: &mut blake3::Hasher,
    base: *const u8,
    len: usize,
    from: usize,
    to: usize,
) -> Option<u32> {
    let mut offset = from;
    let mut records = 0u32;
    // Contiguous user frames go to BLAKE3 in one call (its SIMD paths need long inputs).
    let mut run_start = from;
    while offset < to {
        if offset + RECORD_HEADER_LEN > len {
            return None;
        }
        // SAFETY: in bounds; committed bytes.
        let header = unsafe { core::slice::from_raw_parts(base.add(offset), RECORD_HEADER_LEN) };
        let frame_length = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
        let record_type = u16::from_le_bytes(
            header[RECORD_TYPE_OFFSET..RECORD_TYPE_OFFSET + 2]
                .try_into()
                .ok()?,
        );
        if frame_length < RECORD_HEADER_LEN {
            return None;
        }
        let aligned = align_up(frame_length);
        if offset + aligned > to.min(len) {
            return None;
        }
        if record_type == RecordType::SEAL.0 {
            // SAFETY: in bounds; committed bytes.
            hasher.update(unsafe {
                core::slice::from_raw_parts(base.add(run_start), offset - run_start)
            });
            run_start = offset + aligned;
        } else {
            records += 1;
        }
        offset += aligned;
    }
    // SAFETY: in bounds; committed bytes.
    hasher.update(unsafe { core::slice::from_raw_parts(base.add(run_start), offset - run_start) });
    Some(records)
}

/// Parsed seal payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SealFields {
    pub(crate) previous: [u8; 32],
    pub(crate) hash: [u8; 32],
    pub(crate) block_start: usize,
    pub(crate) block_end: usize,
    pub(crate) records: u32,
    pub(crate) flags: u32,
}

impl SealFields {
    /// Parses a seal payload; `None` if it has the wrong length.
    pub(crate) fn parse(payload: &[u8]) -> Option<SealFields> {
        if payload.len() != SEAL_PAYLOAD_LEN {
            return None;
        }
        let u64_at =
            |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().unwrap_or_default());
        let u32_at =
            |at: usize| u32::from_le_bytes(payload[at..at + 4].try_into().unwrap_or_default());
        let mut previous = [0u8; 32];
        previous
            .copy_from_slice(&payload[SEAL_PREVIOUS_HASH_OFFSET..SEAL_PREVIOUS_HASH_OFFSET + 32]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&payload[SEAL_HASH_OFFSET..SEAL_HASH_OFFSET + 32]);
        Some(SealFields {
            previous,
            hash,
            block_start: usize::try_from(u64_at(SEAL_BLOCK_START_OFFSET)).ok()?,
            block_end: usize::try_from(u64_at(SEAL_BLOCK_END_OFFSET)).ok()?,
            records: u32_at(SEAL_RECORD_COUNT_OFFSET),
            flags: u32_at(SEAL_FLAGS_OFFSET),
        })
    }

    /// Encodes a seal payload.
    pub(crate) fn encode(&self) -> [u8; SEAL_PAYLOAD_LEN] {
        let mut payload = [0u8; SEAL_PAYLOAD_LEN];
        payload[SEAL_PREVIOUS_HASH_OFFSET..SEAL_PREVIOUS_HASH_OFFSET + 32]
            .copy_from_slice(&self.previous);
        payload[SEAL_HASH_OFFSET..SEAL_HASH_OFFSET + 32].copy_from_slice(&self.hash);
        payload[SEAL_BLOCK_START_OFFSET..SEAL_BLOCK_START_OFFSET + 8]
            .copy_from_slice(&(self.block_start as u64).to_le_bytes());
        payload[SEAL_BLOCK_END_OFFSET..SEAL_BLOCK_END_OFFSET + 8]
            .copy_from_slice(&(self.block_end as u64).to_le_bytes());
        payload[SEAL_RECORD_COUNT_OFFSET..SEAL_RECORD_COUNT_OFFSET + 4]
            .copy_from_slice(&self.records.to_le_bytes());
        payload[SEAL_FLAGS_OFFSET..SEAL_FLAGS_OFFSET + 4]
            .copy_from_slice(&self.flags.to_le_bytes());
        payload
    }
}

/// A fresh hasher primed with the previous hash.
pub(crate) fn chained_hasher(previous: &[u8; 32]) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new();
    hasher.update(previous);
    hasher
}

/// Result of walking one segment.
#[derive(Debug, Clone)]
pub(crate) struct SegmentScan {
    /// Offset after the last whole frame.
    pub(crate) end_offset: usize,
    /// Sequence the next record must have.
    pub(crate) next_sequence: u64,
    /// Timestamp of the last record (0 if none).
    pub(crate) last_timestamp: u64,
    /// Hash of the last valid seal (or the segment's `chain_in`).
    pub(crate) chain_hash: [u8; 32],
    /// Where the unsealed block starts (the last seal's `block_end`).
    pub(crate) block_start: usize,
    /// User records in the unsealed block.
    pub(crate) block_records: u32,
    /// User records in the segment.
    pub(crate) records: u64,
    /// Seals in the segment.
    pub(crate) seals: u64,
    /// Whether the segment ends with a segment-end seal.
    pub(crate) closed: bool,
    /// First problem: offset and kind. `TornTail`/`RecordsAfterDamage` classification
    /// is already applied.
    pub(crate) problem: Option<(usize, u64, CorruptionKind)>,
}

/// Walks the frames of one mapped segment.
///
/// # Safety
/// `base` readable for `len` bytes; committed frames are not modified meanwhile.
pub(crate) unsafe fn scan_segment(
    base: *const u8,
    len: usize,
    header: &SegmentHeader,
) -> SegmentScan {
    // SAFETY: per the caller.
    unsafe { scan_segment_with(base, len, header, &mut |_, _, _| None) }
}

/// [`scan_segment`], calling `on_seal(offset, sequence, fields)` for every seal whose chain
/// checked out; a returned kind stops the scan there as a problem.
///
/// # Safety
/// As [`scan_segment`].
pub(crate) unsafe fn scan_segment_with(
    base: *const u8,
    len: usize,
    header: &SegmentHeader,
    on_seal: &mut dyn FnMut(usize, u64, &SealFields) -> Option<CorruptionKind>,
) -> SegmentScan {
    let first_sequence = header.first_sequence.get();
    let mut scan = SegmentScan {
        end_offset: SEGMENT_HEADER_LEN,
        next_sequence: first_sequence,
        last_timestamp: 0,
        chain_hash: header.chain_in,
        block_start: SEGMENT_HEADER_LEN,
        block_records: 0,
        records: 0,
        seals: 0,
        closed: false,
        problem: None,
    };
    let mut offset = SEGMENT_HEADER_LEN;
    let mut frame_problem: Option<CorruptionKind> = None;
    loop {
        // SAFETY: per the caller.
        match unsafe { read_frame(base, len, offset) } {
            Frame::Empty => break,
            Frame::Invalid(kind) => {
                frame_problem = Some(kind);
                break;
            }
            Frame::Record {
                header: record,
                payload,
                aligned_len,
            } => {
                let record_type = RecordType(record.record_type.get());
                let sequence = record.sequence.get();
                if record_type == RecordType::SEAL {
                    let seal = match check_seal(&scan, base, len, offset, sequence, payload) {
                        Ok(seal) => seal,
                        Err(kind) => {
                            scan.problem = Some((offset, sequence, kind));
                            return scan;
                        }
                    };
                    if let Some(kind) = on_seal(offset, sequence, &seal) {
                        scan.problem = Some((offset, sequence, kind));
                        return scan;
                    }
                    scan.chain_hash = seal.hash;
                    scan.block_start = seal.block_end;
                    scan.block_records -= seal.records;
                    scan.seals += 1;
                    offset += aligned_len;
                    scan.end_offset = offset;
                    if seal.flags & SEAL_FLAG_SEGMENT_END != 0 {
                        scan.closed = true;
                        break;
                    }
                    continue;
                }
                if record_type.is_reserved() {
                    scan.problem = Some((
                        offset,
                        sequence,
                        CorruptionKind::UnknownReservedType(record_type.0),
                    ));
                    return scan;
                }
                if sequence != scan.next_sequence {
                    let kind = CorruptionKind::SequenceGap {
                        expected: Sequence(scan.next_sequence),
                        found: Sequence(sequence),
                    };
                    scan.problem = Some((offset, sequence, kind));
                    return scan;
                }
                scan.next_sequence += 1;
                scan.last_timestamp = record.timestamp.get();
                scan.block_records += 1;
                scan.records += 1;
                offset += aligned_len;
                scan.end_offset = offset;
            }
        }
    }
    // Anything non-zero past the end is damage: a torn tail if no whole record follows.
    // SAFETY: per the caller.
    let stray_end = unsafe { last_nonzero_end(base, len, scan.end_offset) };
    if frame_problem.is_some() || stray_end > scan.end_offset {
        // SAFETY: per the caller.
        let later =
            unsafe { find_valid_frame_after(base, len, scan.end_offset, scan.next_sequence) };
        let kind = match later {
            Some(_) => frame_problem.unwrap_or(CorruptionKind::RecordsAfterDamage),
            None => CorruptionKind::TornTail {
                bytes: (stray_end.max(scan.end_offset) - scan.end_offset) as u64,
            },
        };
        scan.problem = Some((scan.end_offset, scan.next_sequence, kind));
    }
    scan
}

/// Checks a seal at `offset` against the chain; returns its fields.
fn check_seal(
    scan: &SegmentScan,
    base: *const u8,
    len: usize,
    offset: usize,
    sequence: u64,
    payload: &[u8],
) -> Result<SealFields, CorruptionKind> {
    let seal = SealFields::parse(payload).ok_or(CorruptionKind::BadFrame)?;
    if sequence.wrapping_add(1) != scan.next_sequence {
        return Err(CorruptionKind::SealBlock);
    }
    if seal.previous != scan.chain_hash {
        return Err(CorruptionKind::SealPreviousHash);
    }
    let ends_segment = seal.flags & SEAL_FLAG_SEGMENT_END != 0;
    if seal.block_start != scan.block_start
        || seal.block_end < seal.block_start
        || seal.block_end > offset
        || (ends_segment && seal.block_end != offset)
        || seal.records > scan.block_records
    {
        return Err(CorruptionKind::SealBlock);
    }
    let mut hasher = chained_hasher(&scan.chain_hash);
    // SAFETY: [block_start, block_end) lies before this seal: frames the scan already checked.
    let records = unsafe { hash_frames(&mut hasher, base, len, seal.block_start, seal.block_end) };
    if records != Some(seal.records) {
        return Err(CorruptionKind::SealBlock);
    }
    if *hasher.finalize().as_bytes() != seal.hash {
        return Err(CorruptionKind::SealHash);
    }
    Ok(seal)
}

/// Segment files of `dir`, sorted by first sequence.
///
/// # Errors
/// [`JournalError::Io`] when the directory cannot be listed.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| JournalError::io("list journal directory", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list journal directory", dir, e))?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            segments.push((first, entry.path()));
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// fsync a directory so renames and creations in it are durable.
///
/// # Errors
/// [`JournalError::Io`].
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync directory", dir, e))
}

/// Builds a [`Corruption`].
pub(crate) fn corruption(
    segment: &Path,
    offset: usize,
    sequence: u64,
    kind: CorruptionKind,
) -> Corruption {
    Corruption {
        segment: segment.to_path_buf(),
        offset: offset as u64,
        sequence: Sequence(sequence),
        kind,
    }
}
