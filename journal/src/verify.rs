//! End-to-end verification of a journal directory (the replay tool's `verify`).
use std::path::Path;

use crate::error::{Corruption, CorruptionKind, JournalError};
use crate::reader::open_read_segment;
use crate::scan::{corruption, list_segments, scan_segment};
use crate::segment::read_header;
use crate::types::Sequence;

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
    let dir = dir.as_ref();
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
        let scan = unsafe { scan_segment(base, segment.len, &header) };
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
