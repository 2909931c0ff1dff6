//! End-to-end verification of a journal directory (the replay tool's `verify`).
use std::path::Path;

use crate::error::{Corruption, CorruptionKind, JournalError};
use crate::layout::{segment_file_name, SegmentHeader};
use crate::reader::open_read_segment;
use crate::scan::{corruption, list_segments, scan_segment_with, SealFields};
use crate::segment::read_header;
use crate::sign::{read_checkpoints, Checkpoint, PublicKey, CHECKPOINT_FILE_NAME};
use crate::types::{JournalId, Sequence};

/// What [`verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: u64,
    /// User records whose CRC and sequence checked out.
    pub records: u64,
    /// Seals whose hash chain checked out.
    pub seals: u64,
    /// First sequence in the journal (`None` when empty).
    pub first_sequence: Option<Sequence>,
    /// Last good sequence (`None` when no record).
    pub last_sequence: Option<Sequence>,
    /// Good records after the last seal (CRC-checked, not chain-covered).
    pub unsealed_records: u64,
    /// The first bad spot; `None` means the journal verified end to end.
    pub first_problem: Option<Corruption>,
    /// [`verify_signed`]: seals whose signed checkpoint matched and verified.
    pub signed_seals: u64,
    /// [`verify_signed`]: seals after the last checkpoint (a live journal's tail the
    /// flusher has not signed yet; at rest after a clean stop there are none).
    pub unsigned_seals: u64,
    /// [`verify_signed`]: sequence of the last seal covered by a verified signature.
    pub last_signed_sequence: Option<Sequence>,
    /// [`verify_signed`] with an anchor: seals matched against the anchor file.
    pub anchored_seals: u64,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Checks every record's CRC, sequence continuity within and across segments, every
/// seal's hash chain end to end (including `chain_in` links between segments), and that
/// every segment but the last ends with a segment-end seal. Stops at the first problem and
/// reports segment, offset, sequence and kind. Safe to run on a live journal (it checks what
/// is committed).
///
/// # Errors
/// [`JournalError::UnsupportedFormat`] for a file this build does not understand; I/O and
/// mapping errors. Damage is reported in [`VerifyReport::first_problem`], not as an error.
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    verify_inner(dir.as_ref(), &mut |_, _, _, _| None)
}

/// Indices of the first checkpoint that is not this key's (or not this journal's), found
/// with all cores (about 50 µs per signature, one per sealed block).
fn first_bad_signature(
    checkpoints: &[Checkpoint],
    key: &PublicKey,
    identity: Option<JournalId>,
) -> Option<usize> {
    let bad = |c: &Checkpoint| identity.is_some_and(|id| id != c.identity) || !key.verifies(c);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = checkpoints.len().div_ceil(threads).max(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = checkpoints
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| scope.spawn(move || part.iter().position(bad).map(|i| n * chunk + i)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap_or(Some(0)))
            .min()
    })
}

fn checkpoint_problem(dir: &Path, checkpoint: &Checkpoint, kind: CorruptionKind) -> Corruption {
    corruption(
        &dir.join(segment_file_name(checkpoint.segment_first)),
        usize::try_from(checkpoint.seal_offset).unwrap_or(usize::MAX),
        checkpoint.sequence.0,
        kind,
    )
}

/// [`verify`], and every seal against the signed checkpoints in
/// `<dir>/checkpoints.sig` (see [`crate::sign`]): the i-th seal must be the one the i-th
/// checkpoint names, with the same chain hash, and its signature must verify with `key`.
/// A journal rewritten and re-chained without the key fails at the first rewritten block
/// ([`CorruptionKind::CheckpointMismatch`], with the segment, the seal's offset and
/// sequence); forged checkpoints fail with [`CorruptionKind::CheckpointSignature`]; a cut
/// journal fails with [`CorruptionKind::CheckpointBeyondEnd`]. Seals after the last
/// checkpoint are counted in [`VerifyReport::unsigned_seals`] (the caller decides whether
/// an unsigned tail is acceptable). With `anchor`, the anchor file's entries (same format)
/// must each match the seal at their position, and none may lie past the journal's end.
///
/// # Errors
/// As [`verify`]; I/O errors reading the checkpoint or anchor file.
pub fn verify_signed(
    dir: impl AsRef<Path>,
    key: &PublicKey,
    anchor: Option<&Path>,
) -> Result<VerifyReport, JournalError> {
    let dir = dir.as_ref();
    let as_problem = |result: Result<(Vec<Checkpoint>, u64), JournalError>| match result {
        Ok((list, _torn)) => Ok(Ok(list)),
        Err(JournalError::Corrupt(c)) => Ok(Err(*c)),
        Err(e) => Err(e),
    };
    let checkpoints = match as_problem(read_checkpoints(&dir.join(CHECKPOINT_FILE_NAME)))? {
        Ok(list) => list,
        Err(problem) => {
            return Ok(VerifyReport {
                first_problem: Some(problem),
                ..VerifyReport::default()
            })
        }
    };
    let anchored = match anchor {
        Some(path) => match as_problem(read_checkpoints(path))? {
            Ok(list) => list,
            Err(problem) => {
                return Ok(VerifyReport {
                    first_problem: Some(problem),
                    ..VerifyReport::default()
                })
            }
        },
        None => Vec::new(),
    };
    let bad_checkpoint = first_bad_signature(&checkpoints, key, None);
    let bad_anchor = first_bad_signature(&anchored, key, None);
    let (mut next, mut next_anchor) = (0usize, 0usize);
    let (mut signed, mut unsigned, mut anchored_seals) = (0u64, 0u64, 0u64);
    let mut last_signed = None;
    let mut report = verify_inner(dir, &mut |header, offset, sequence, seal| {
        let segment_first = header.first_sequence.get();
        let identity = JournalId(header.identity);
        let block_start = seal.block_start as u64;
        if let Some(checkpoint) = checkpoints.get(next) {
            if !checkpoint.names(segment_first, offset, sequence, &seal.hash) {
                return Some(CorruptionKind::CheckpointMismatch { block_start });
            }
            if checkpoint.identity != identity || bad_checkpoint == Some(next) {
                return Some(CorruptionKind::CheckpointSignature);
            }
            next += 1;
            signed += 1;
            last_signed = Some(Sequence(sequence));
        } else {
            unsigned += 1;
        }
        if let Some(entry) = anchored.get(next_anchor) {
            let here = (segment_first, offset as u64);
            let there = (entry.segment_first, entry.seal_offset);
            if there < here
                || (there == here && !entry.names(segment_first, offset, sequence, &seal.hash))
            {
                return Some(CorruptionKind::AnchorMismatch { block_start });
            }
            if there == here {
                if entry.identity != identity || bad_anchor == Some(next_anchor) {
                    return Some(CorruptionKind::CheckpointSignature);
                }
                next_anchor += 1;
                anchored_seals += 1;
            }
        }
        None
    })?;
    report.signed_seals = signed;
    report.unsigned_seals = unsigned;
    report.last_signed_sequence = last_signed;
    report.anchored_seals = anchored_seals;
    if report.first_problem.is_none() {
        if let Some(checkpoint) = checkpoints.get(next) {
            report.first_problem = Some(checkpoint_problem(
                dir,
                checkpoint,
                CorruptionKind::CheckpointBeyondEnd,
            ));
        } else if let Some(entry) = anchored.get(next_anchor) {
            report.first_problem = Some(checkpoint_problem(
                dir,
                entry,
                CorruptionKind::AnchorBeyondEnd,
            ));
        }
    }
    Ok(report)
}

fn verify_inner(
    dir: &Path,
    on_seal: &mut dyn FnMut(&SegmentHeader, usize, u64, &SealFields) -> Option<CorruptionKind>,
) -> Result<VerifyReport, JournalError> {
    let mut report = VerifyReport::default();
    let segments = list_segments(dir)?;
    let mut previous: Option<(u64, [u8; 32], bool, std::path::PathBuf, usize)> = None;
    for (name_sequence, path) in segments {
        let segment = match open_read_segment(&path) {
            Ok(segment) => segment,
            Err(JournalError::Corrupt(c)) => {
                report.first_problem = Some(*c);
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let base = segment.map_base();
        // SAFETY: the mapping is at least a header long (checked by open_read_segment).
        let Some(header) = (unsafe { read_header(base, segment.len) }) else {
            break;
        };
        let expected_first = previous.as_ref().map_or(name_sequence, |p| p.0);
        let mut problem = None;
        if let Some((_, chain, closed, previous_path, previous_end)) = &previous {
            if !closed {
                report.first_problem = Some(corruption(
                    previous_path,
                    *previous_end,
                    expected_first,
                    CorruptionKind::SegmentNotClosed,
                ));
                return Ok(report);
            }
            if header.chain_in != *chain {
                problem = Some(CorruptionKind::ChainInMismatch);
            }
        }
        if segment.first_sequence != name_sequence || segment.first_sequence != expected_first {
            problem = Some(CorruptionKind::SegmentSequence {
                expected: Sequence(expected_first),
                found: Sequence(segment.first_sequence),
            });
        }
        if let Some(kind) = problem {
            report.first_problem = Some(corruption(&path, 0, expected_first, kind));
            return Ok(report);
        }
        // SAFETY: committed frames are immutable; the mapping lives for the call.
        let scan = unsafe {
            scan_segment_with(base, segment.len, &header, &mut |offset, sequence, seal| {
                on_seal(&header, offset, sequence, seal)
            })
        };
        report.segments += 1;
        report.records += scan.records;
        report.seals += scan.seals;
        report.unsealed_records = u64::from(scan.block_records);
        if scan.records > 0 {
            report
                .first_sequence
                .get_or_insert(Sequence(header.first_sequence.get()));
            report.last_sequence = Some(Sequence(scan.next_sequence - 1));
        }
        if let Some((offset, sequence, kind)) = scan.problem {
            // A live writer's unwritten space is zero; a torn tail is only acceptable after
            // recovery cut it, so report it too.
            report.first_problem = Some(corruption(&path, offset, sequence, kind));
            return Ok(report);
        }
        previous = Some((
            scan.next_sequence,
            scan.chain_hash,
            scan.closed,
            path,
            scan.end_offset,
        ));
    }
    Ok(report)
}
