//! Following a live journal from another thread or process.
use std::path::{Path, PathBuf};

use crate::error::{CorruptionKind, JournalError};
use crate::layout::{segment_file_name, SEGMENT_HEADER_LEN};
use crate::reader::{open_read_segment, ReadSegment, RecordView, Step};
use crate::scan::{corruption, list_segments};
use crate::types::Sequence;

/// Follows the writer live: [`TailReader::poll`] returns the next whole, CRC-checked record
/// or `None` when there is nothing new. Works across threads and processes: it maps the
/// files itself and synchronises on each record's commit word (Acquire), and moves to the
/// next segment file when it reads a segment-end seal.
#[derive(Debug)]
pub struct TailReader {
    dir: PathBuf,
    segment: ReadSegment,
    offset: usize,
    next_sequence: u64,
    skip_before_sequence: u64,
    awaiting_next_segment: bool,
}

impl TailReader {
    /// Starts following at the first record with sequence `>= from`.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] when the directory has no segment yet (open the writer
    /// first) or is damaged; format, I/O and mapping errors.
    pub fn open(dir: impl AsRef<Path>, from: Sequence) -> Result<TailReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = list_segments(&dir)?;
        let index = segments
            .partition_point(|(first, _)| *first <= from.0)
            .saturating_sub(1);
        let Some((first, path)) = segments.get(index) else {
            return Err(JournalError::Corrupt(Box::new(corruption(
                &dir,
                0,
                from.0,
                CorruptionKind::BadSegmentHeader("no segment file"),
            ))));
        };
        let segment = open_read_segment(path)?;
        Ok(TailReader {
            dir,
            segment,
            offset: SEGMENT_HEADER_LEN,
            next_sequence: *first,
            skip_before_sequence: from.0,
            awaiting_next_segment: false,
        })
    }

    /// The sequence the next returned record will have.
    #[must_use]
    pub fn next_sequence(&self) -> Sequence {
        Sequence(self.next_sequence.max(self.skip_before_sequence))
    }

    /// The next record, or `None` if the writer has not written it yet.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] on a bad CRC, a sequence gap or a bad next segment; I/O
    /// errors opening the next segment.
    pub fn poll(&mut self) -> Result<Option<RecordView<'_>>, JournalError> {
        // Bounded: each iteration consumes a frame or a segment; at most one segment's
        // frames are skipped when starting from a later sequence.
        loop {
            if self.awaiting_next_segment {
                let path = self.dir.join(segment_file_name(self.next_sequence));
                if !path.exists() {
                    return Ok(None);
                }
                let segment = open_read_segment(&path)?;
                if segment.first_sequence != self.next_sequence {
                    let kind = CorruptionKind::SegmentSequence {
                        expected: Sequence(self.next_sequence),
                        found: Sequence(segment.first_sequence),
                    };
                    return Err(JournalError::Corrupt(Box::new(corruption(
                        &path,
                        0,
                        self.next_sequence,
                        kind,
                    ))));
                }
                self.segment = segment;
                self.offset = SEGMENT_HEADER_LEN;
                self.awaiting_next_segment = false;
            }
            let (sequence, next) = match self.segment.step(self.offset) {
                Step::End => return Ok(None),
                Step::Seal(next, end) => {
                    self.offset = next;
                    self.awaiting_next_segment = end;
                    continue;
                }
                Step::Bad(kind) => {
                    return Err(JournalError::Corrupt(Box::new(corruption(
                        &self.segment.path,
                        self.offset,
                        self.next_sequence,
                        kind,
                    ))));
                }
                Step::Record(view, next) => (view.sequence().0, next),
            };
            if sequence != self.next_sequence {
                let kind = CorruptionKind::SequenceGap {
                    expected: Sequence(self.next_sequence),
                    found: Sequence(sequence),
                };
                return Err(JournalError::Corrupt(Box::new(corruption(
                    &self.segment.path,
                    self.offset,
                    self.next_sequence,
                    kind,
                ))));
            }
            let offset = self.offset;
            self.offset = next;
            self.next_sequence += 1;
            if sequence < self.skip_before_sequence {
                continue;
            }
            return match self.segment.step(offset) {
                Step::Record(view, _) => Ok(Some(view)),
                _ => unreachable!("a committed frame does not change"),
            };
        }
    }
}
