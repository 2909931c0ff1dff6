//! Opening a journal: find the end, validate everything, cut a torn tail, resume writing.
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

use zerocopy::{FromBytes, FromZeros};

use crate::config::JournalConfig;
use crate::error::{Corruption, CorruptionKind, JournalError};
use crate::layout::{
    align_up, segment_file_name, SegmentHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::scan::{corruption, list_segments, scan_segment, sync_dir};
use crate::segment::{
    check_header, create_spare, make_header, map_writable, write_header, HeaderProblem,
};
use crate::types::{JournalId, Sequence};
use crate::writer::{Padded, Resume, Shared, Writer, WrittenCursor};

/// What was cut at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Segment truncated.
    pub segment: PathBuf,
    /// Offset of the first byte cut (the end of the last whole record kept).
    pub offset: u64,
    /// Bytes cut (zeroed) from `offset` to the last non-zero byte.
    pub bytes: u64,
    /// Frames that had started in the cut bytes (best effort: partial frames whose header
    /// named the expected sequence).
    pub records: u64,
    /// Sequences of those frames, if any.
    pub sequences: Option<(Sequence, Sequence)>,
    /// Why: [`CorruptionKind::TornTail`] normally, the damage found when
    /// `truncate_on_corruption` was set.
    pub reason: CorruptionKind,
}

/// What [`Journal::open`] found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found valid.
    pub segments: u64,
    /// Whole user records kept.
    pub records: u64,
    /// The sequence the writer continues with.
    pub next_sequence: Sequence,
    /// Records after the last seal (CRC-checked, not yet covered by the chain).
    pub unsealed_records: u64,
    /// The torn tail (or, with `truncate_on_corruption`, the damage) that was cut.
    pub truncated: Option<Truncation>,
    /// Segment files removed (all-zero) or renamed `*.quarantined`.
    pub removed_segments: Vec<PathBuf>,
    /// Whether a new segment was created at open.
    pub created_segment: bool,
    /// With a signing key: seals found without a checkpoint (signed at open).
    pub checkpoints_signed_at_open: u64,
    /// With a signing key: torn bytes cut from the end of the checkpoint file.
    pub checkpoint_torn_bytes: u64,
}

/// Entry point: opening (creating, recovering) a journal for writing.
#[derive(Debug)]
pub struct Journal;

impl Journal {
    /// Opens the journal in `dir` for writing, creating it if empty. Validates every
    /// segment (CRCs, sequence continuity, hash chain), cuts a torn tail of the last
    /// segment (zeroing it) and reports what was cut; everything else that is damaged makes
    /// it refuse, unless `config.truncate_on_corruption`.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] with the first damaged spot; [`JournalError::UnsupportedFormat`]
    /// for files this build does not understand; [`JournalError::InvalidConfig`];
    /// I/O, mapping and disk-full errors.
    pub fn open(
        dir: impl AsRef<Path>,
        config: JournalConfig,
    ) -> Result<(Writer, RecoveryReport), JournalError> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| JournalError::io("create journal directory", &dir, e))?;
        remove_spares(&dir)?;
        let segment_size = usize::try_from(config.segment_size_bytes)
            .map_err(|_| JournalError::InvalidConfig("segment size"))?;
        let mut report = RecoveryReport::default();
        let resume = recover(&dir, &config, &mut report)?;
        let resume = match resume {
            Some(resume) => resume,
            None => {
                report.created_segment = true;
                create_first_segment(
                    &dir,
                    &config,
                    segment_size,
                    report.next_sequence.0.max(config.first_sequence.0),
                    [0; 32],
                )?
            }
        };
        report.next_sequence = Sequence(resume.next_sequence);
        report.unsealed_records = u64::from(resume.block_records);
        resume.segment.sync_range(0, resume.offset, &dir)?;
        resume
            .segment
            .file
            .sync_data()
            .map_err(|e| JournalError::io("fsync segment", &resume.path, e))?;
        sync_dir(&dir)?;
        let signer = match &config.signing_key {
            Some(key) => {
                let (signer, catch_up) = crate::sign::CheckpointSigner::open(
                    &dir,
                    config.identity,
                    key.clone(),
                    config.anchor_path.as_deref(),
                    Arc::clone(&resume.segment),
                    resume.segment_first_sequence,
                    resume.offset,
                )?;
                report.checkpoints_signed_at_open = catch_up.signed;
                report.checkpoint_torn_bytes = catch_up.torn_bytes;
                Some(Mutex::new(signer))
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            dir,
            identity: config.identity,
            segment_size,
            durability: config.durability,
            prefault: config.prefault,
            written: Padded(WrittenCursor::default()),
            durable: Padded(AtomicU64::new(resume.next_sequence - 1)),
            poisoned: AtomicBool::new(false),
            seal_ready: Padded(AtomicBool::new(false)),
            posted_seal: Mutex::new(None),
            spare: Mutex::new(None),
            spare_counter: AtomicU64::new(0),
            flusher_taken: AtomicBool::new(false),
            signer,
        });
        Ok((Writer::new(shared, &config, resume), report))
    }
}

fn remove_spares(dir: &Path) -> Result<(), JournalError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| JournalError::io("list journal directory", dir, e))?;
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(".spare"))
        {
            std::fs::remove_file(entry.path())
                .map_err(|e| JournalError::io("remove spare", entry.path(), e))?;
        }
    }
    Ok(())
}

fn create_first_segment(
    dir: &Path,
    config: &JournalConfig,
    size: usize,
    first: u64,
    chain_in: [u8; 32],
) -> Result<Resume, JournalError> {
    let mut spare = create_spare(dir.join("create.spare"), size)?;
    if config.prefault {
        spare.prefault(usize::MAX);
    }
    let header = make_header(config.identity, first, size as u64, chain_in);
    // SAFETY: fresh mapping we own, at least a header long.
    unsafe { write_header(spare.segment.map.as_mut_ptr(), &header) };
    spare.segment.sync_range(0, SEGMENT_HEADER_LEN, dir)?;
    let path = dir.join(segment_file_name(first));
    std::fs::rename(&spare.path, &path)
        .map_err(|e| JournalError::io("rename new segment to", &path, e))?;
    Ok(Resume {
        segment: Arc::new(spare.segment),
        path,
        segment_first_sequence: first,
        offset: SEGMENT_HEADER_LEN,
        next_sequence: first,
        last_timestamp: 0,
        chain_hash: chain_in,
        block_start: SEGMENT_HEADER_LEN,
        block_records: 0,
        segment_records: 0,
    })
}

fn refuse(c: Corruption) -> JournalError {
    JournalError::Corrupt(Box::new(c))
}

fn quarantine(
    segments: &[(u64, PathBuf)],
    report: &mut RecoveryReport,
) -> Result<(), JournalError> {
    for (_, path) in segments {
        let mut target = path.clone().into_os_string();
        target.push(".quarantined");
        std::fs::rename(path, &target)
            .map_err(|e| JournalError::io("quarantine segment", path, e))?;
        report.removed_segments.push(PathBuf::from(target));
    }
    Ok(())
}

/// Walks every segment; returns where to resume, or `None` when a new segment is needed
/// (no segments, or the last one is closed; `report.next_sequence` and the chain carry on).
#[allow(clippy::too_many_lines)]
fn recover(
    dir: &Path,
    config: &JournalConfig,
    report: &mut RecoveryReport,
) -> Result<Option<Resume>, JournalError> {
    let segments = list_segments(dir)?;
    let mut expected: Option<(u64, [u8; 32], bool, PathBuf, usize)> = None; // next seq, chain, closed, path, end
    let mut last: Option<Resume> = None;
    for (index, (name_sequence, path)) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| JournalError::io("open segment", path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| JournalError::io("stat segment", path, e))?
            .len();
        let mut header = SegmentHeader::new_zeroed();
        if file_len >= SEGMENT_HEADER_LEN as u64 {
            let mut bytes = [0u8; SEGMENT_HEADER_LEN];
            file.read_exact_at(&mut bytes, 0)
                .map_err(|e| JournalError::io("read segment header", path, e))?;
            header = SegmentHeader::read_from_bytes(&bytes)
                .map_err(|_| JournalError::InvalidConfig("header size"))?;
        }
        let next_expected = expected.as_ref().map_or(*name_sequence, |e| e.0);
        match check_header(&header) {
            Ok(()) => {}
            Err(HeaderProblem::Unsupported(reason)) => {
                return Err(JournalError::UnsupportedFormat {
                    path: path.clone(),
                    reason,
                });
            }
            Err(HeaderProblem::Zero) if is_last && all_zero(&file, file_len, path)? => {
                std::fs::remove_file(path)
                    .map_err(|e| JournalError::io("remove empty segment", path, e))?;
                report.removed_segments.push(path.clone());
                break;
            }
            Err(problem) => {
                let kind = match problem {
                    HeaderProblem::Corrupt(kind) => kind,
                    _ => CorruptionKind::BadSegmentHeader("zero header before records"),
                };
                if config.truncate_on_corruption {
                    quarantine(&segments[index..], report)?;
                    break;
                }
                return Err(refuse(corruption(path, 0, next_expected, kind)));
            }
        }
        let identity = JournalId(header.identity);
        let first = header.first_sequence.get();
        let mut problem: Option<CorruptionKind> = None;
        if identity != config.identity {
            return Err(refuse(corruption(
                path,
                0,
                first,
                CorruptionKind::IdentityMismatch {
                    expected: config.identity,
                    found: identity,
                },
            )));
        }
        if first != *name_sequence || first != next_expected {
            problem = Some(CorruptionKind::SegmentSequence {
                expected: Sequence(next_expected),
                found: Sequence(first),
            });
        } else if let Some((_, chain, closed, previous_path, previous_end)) = &expected {
            if !closed {
                let c = corruption(
                    previous_path,
                    *previous_end,
                    next_expected,
                    CorruptionKind::SegmentNotClosed,
                );
                if !config.truncate_on_corruption {
                    return Err(refuse(c));
                }
                quarantine(&segments[index..], report)?;
                break;
            }
            if header.chain_in != *chain {
                problem = Some(CorruptionKind::ChainInMismatch);
            }
        }
        if let Some(kind) = problem {
            if config.truncate_on_corruption {
                quarantine(&segments[index..], report)?;
                break;
            }
            return Err(refuse(corruption(path, 0, next_expected, kind)));
        }
        let size = usize::try_from(header.segment_size.get())
            .map_err(|_| JournalError::InvalidConfig("segment size"))?;
        if size < SEGMENT_HEADER_LEN + RECORD_HEADER_LEN || size % 8 != 0 {
            return Err(refuse(corruption(
                path,
                0,
                first,
                CorruptionKind::BadSegmentHeader("impossible segment size"),
            )));
        }
        if file_len < size as u64 {
            if !is_last {
                return Err(refuse(corruption(
                    path,
                    file_len as usize,
                    first,
                    CorruptionKind::BadSegmentHeader("file shorter than its segment size"),
                )));
            }
            // A shortened last file: the missing part reads as zeros, i.e. a torn tail.
            file.set_len(size as u64)
                .map_err(|e| JournalError::io("extend segment", path, e))?;
        }
        let segment = map_writable(file, size, path)?;
        let base = segment.map.as_mut_ptr();
        // SAFETY: mapping of `size` bytes, nobody else writes during recovery.
        let mut scan = unsafe { scan_segment(base, size, &header) };
        let mut stop_after = false;
        if let Some((offset, sequence, kind)) = scan.problem.clone() {
            let torn = matches!(kind, CorruptionKind::TornTail { .. });
            if !(config.truncate_on_corruption || torn && is_last) {
                return Err(refuse(corruption(path, offset, sequence, kind)));
            }
            // SAFETY: as above.
            let end = unsafe { crate::segment::last_nonzero_end(base, size, offset) };
            // SAFETY: as above.
            let (records, sequences) = unsafe { count_cut(base, end, offset, scan.next_sequence) };
            // SAFETY: [offset, end) is inside the mapping; zeroing leaves a clean tail.
            unsafe { core::ptr::write_bytes(base.add(offset), 0, end - offset) };
            segment.sync_range(offset, end, dir)?;
            report.truncated = Some(Truncation {
                segment: path.clone(),
                offset: offset as u64,
                bytes: (end - offset) as u64,
                records,
                sequences,
                reason: kind,
            });
            scan.problem = None;
            if !is_last {
                quarantine(&segments[index + 1..], report)?;
                stop_after = true;
            }
        }
        report.segments += 1;
        report.records += scan.records;
        report.next_sequence = Sequence(scan.next_sequence);
        expected = Some((
            scan.next_sequence,
            scan.chain_hash,
            scan.closed,
            path.clone(),
            scan.end_offset,
        ));
        last = Some(Resume {
            segment: Arc::new(segment),
            path: path.clone(),
            segment_first_sequence: first,
            offset: scan.end_offset,
            next_sequence: scan.next_sequence,
            last_timestamp: scan.last_timestamp,
            chain_hash: scan.chain_hash,
            block_start: scan.block_start,
            block_records: scan.block_records,
            segment_records: scan.records,
        });
        if stop_after {
            break;
        }
    }
    match last {
        Some(resume) if !expected.as_ref().is_some_and(|e| e.2) => Ok(Some(resume)),
        Some(resume) => {
            // The last segment is closed: continue in a new one, chained to it.
            report.created_segment = true;
            let size = usize::try_from(config.segment_size_bytes)
                .map_err(|_| JournalError::InvalidConfig("segment size"))?;
            let mut new =
                create_first_segment(dir, config, size, resume.next_sequence, resume.chain_hash)?;
            new.last_timestamp = resume.last_timestamp;
            Ok(Some(new))
        }
        None => Ok(None),
    }
}

fn all_zero(file: &std::fs::File, len: u64, path: &Path) -> Result<bool, JournalError> {
    let mut buffer = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from((len - offset).min(buffer.len() as u64)).unwrap_or(buffer.len());
        file.read_exact_at(&mut buffer[..n], offset)
            .map_err(|e| JournalError::io("read segment", path, e))?;
        if buffer[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// Counts frames that had started in the cut range: headers naming the expected sequences.
unsafe fn count_cut(
    base: *const u8,
    end: usize,
    from: usize,
    next_sequence: u64,
) -> (u64, Option<(Sequence, Sequence)>) {
    let mut offset = from;
    let mut count = 0u64;
    while offset + RECORD_HEADER_LEN <= end {
        // SAFETY: in bounds of the mapping.
        let header = unsafe { core::slice::from_raw_parts(base.add(offset), RECORD_HEADER_LEN) };
        let frame_length = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
        let sequence = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        if sequence != next_sequence + count {
            break;
        }
        count += 1;
        if frame_length < RECORD_HEADER_LEN {
            break;
        }
        offset += align_up(frame_length);
    }
    if count == 0 && end > from {
        // Bytes of a frame whose header never landed: one record in flight.
        return (1, Some((Sequence(next_sequence), Sequence(next_sequence))));
    }
    let sequences =
        (count > 0).then(|| (Sequence(next_sequence), Sequence(next_sequence + count - 1)));
    (count, sequences)
}
