//! Reading: zero-copy record views, iteration from a sequence or a timestamp across
//! segments, with an in-memory sparse index per segment built by scanning.
use std::cell::OnceCell;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use crate::error::{CorruptionKind, JournalError};
use crate::layout::{FORMAT_VERSION, SEAL_FLAGS_OFFSET, SEAL_FLAG_SEGMENT_END, SEGMENT_HEADER_LEN};
use crate::scan::{corruption, list_segments};
use crate::segment::{check_header, read_frame, read_header, Frame, HeaderProblem};
use crate::types::{JournalId, RecordType, Sequence, TimestampNs};

/// One index entry every this many records.
const INDEX_STRIDE_RECORDS: u64 = 64;

/// A record borrowed from the mapped segment (zero copy). CRC was checked when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    record_type: RecordType,
    sequence: Sequence,
    timestamp: TimestampNs,
    payload: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// The caller's record type.
    #[must_use]
    pub fn record_type(&self) -> RecordType {
        self.record_type
    }
    /// Sequence number.
    #[must_use]
    pub fn sequence(&self) -> Sequence {
        self.sequence
    }
    /// Timestamp.
    #[must_use]
    pub fn timestamp(&self) -> TimestampNs {
        self.timestamp
    }
    /// Payload bytes, borrowed from the mapping.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A mapped segment for reading.
#[derive(Debug)]
pub(crate) struct ReadSegment {
    pub(crate) path: PathBuf,
    pub(crate) first_sequence: u64,
    pub(crate) identity: JournalId,
    map: Mmap,
    pub(crate) len: usize,
    index: OnceCell<Vec<IndexEntry>>,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    sequence: u64,
    timestamp: u64,
    offset: usize,
}

/// Maps a segment read-only after checking its header.
///
/// # Errors
/// [`JournalError::UnsupportedFormat`] (wrong magic/version), [`JournalError::Corrupt`]
/// (damaged header), I/O and mapping errors.
pub(crate) fn open_read_segment(path: &Path) -> Result<ReadSegment, JournalError> {
    let file = File::open(path).map_err(|e| JournalError::io("open segment", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| JournalError::io("stat segment", path, e))?
        .len();
    if file_len < SEGMENT_HEADER_LEN as u64 {
        return Err(JournalError::UnsupportedFormat {
            path: path.to_path_buf(),
            reason: "shorter than a segment header",
        });
    }
    // SAFETY: mapping a file read-only; other processes may append (see crate safety notes).
    let map = unsafe { MmapOptions::new().map(&file) }.map_err(|source| JournalError::Map {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: the mapping is at least a header long.
    let header =
        unsafe { read_header(map.as_ptr(), map.len()) }.ok_or(JournalError::UnsupportedFormat {
            path: path.to_path_buf(),
            reason: "short header",
        })?;
    match check_header(&header) {
        Ok(()) => {}
        Err(HeaderProblem::Unsupported(reason)) => {
            return Err(JournalError::UnsupportedFormat {
                path: path.to_path_buf(),
                reason,
            });
        }
        Err(HeaderProblem::Zero) => {
            return Err(JournalError::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: "zero header",
            });
        }
        Err(HeaderProblem::Corrupt(kind)) => {
            return Err(JournalError::Corrupt(Box::new(corruption(
                path,
                0,
                header.first_sequence.get(),
                kind,
            ))));
        }
    }
    debug_assert_eq!(header.format_version.get(), FORMAT_VERSION);
    let size = usize::try_from(header.segment_size.get()).unwrap_or(usize::MAX);
    let len = map.len().min(size);
    Ok(ReadSegment {
        path: path.to_path_buf(),
        first_sequence: header.first_sequence.get(),
        identity: JournalId(header.identity),
        map,
        len,
        index: OnceCell::new(),
    })
}

/// What [`ReadSegment::step`] found.
pub(crate) enum Step<'a> {
    /// A user record and the offset after it.
    Record(RecordView<'a>, usize),
    /// A seal; offset after it and whether it ends the segment.
    Seal(usize, bool),
    /// Nothing (yet) here.
    End,
    /// Damage.
    Bad(CorruptionKind),
}

impl ReadSegment {
    pub(crate) fn map_base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    pub(crate) fn step(&self, offset: usize) -> Step<'_> {
        // SAFETY: the mapping lives as long as `self`; committed frames are immutable.
        match unsafe { read_frame(self.map.as_ptr(), self.len, offset) } {
            Frame::Empty => Step::End,
            Frame::Invalid(kind) => Step::Bad(kind),
            Frame::Record {
                header,
                payload,
                aligned_len,
            } => {
                let record_type = RecordType(header.record_type.get());
                if record_type == RecordType::SEAL {
                    let flags = payload
                        .get(SEAL_FLAGS_OFFSET..SEAL_FLAGS_OFFSET + 4)
                        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or_default()));
                    return Step::Seal(offset + aligned_len, flags & SEAL_FLAG_SEGMENT_END != 0);
                }
                if record_type.is_reserved() {
                    return Step::Bad(CorruptionKind::UnknownReservedType(record_type.0));
                }
                let view = RecordView {
                    record_type,
                    sequence: Sequence(header.sequence.get()),
                    timestamp: TimestampNs(header.timestamp.get()),
                    payload,
                };
                Step::Record(view, offset + aligned_len)
            }
        }
    }

    fn index(&self) -> &[IndexEntry] {
        self.index.get_or_init(|| {
            let mut entries = Vec::new();
            let mut offset = SEGMENT_HEADER_LEN;
            let mut count = 0u64;
            loop {
                match self.step(offset) {
                    Step::Record(view, next) => {
                        if count % INDEX_STRIDE_RECORDS == 0 {
                            entries.push(IndexEntry {
                                sequence: view.sequence.0,
                                timestamp: view.timestamp.0,
                                offset,
                            });
                        }
                        count += 1;
                        offset = next;
                    }
                    Step::Seal(next, false) => offset = next,
                    _ => break,
                }
            }
            entries
        })
    }
}

/// Reads a journal directory (closed, or live: records appended to the mapped segments
/// become visible; segments created after `open` do not — use [`crate::TailReader`]).
#[derive(Debug)]
pub struct Reader {
    segments: Vec<ReadSegment>,
}

impl Reader {
    /// Maps every segment of `dir` read-only and checks their headers.
    ///
    /// # Errors
    /// [`JournalError::UnsupportedFormat`] for a file this build does not understand,
    /// [`JournalError::Corrupt`] for a damaged header or segments of different journals,
    /// I/O and mapping errors.
    pub fn open(dir: impl AsRef<Path>) -> Result<Reader, JournalError> {
        let dir = dir.as_ref();
        let mut segments = Vec::new();
        for (_, path) in list_segments(dir)? {
            let segment = open_read_segment(&path)?;
            if let Some(first) = segments.first() {
                let first: &ReadSegment = first;
                if first.identity != segment.identity {
                    let kind = CorruptionKind::IdentityMismatch {
                        expected: first.identity,
                        found: segment.identity,
                    };
                    return Err(JournalError::Corrupt(Box::new(corruption(
                        &path,
                        0,
                        segment.first_sequence,
                        kind,
                    ))));
                }
            }
            segments.push(segment);
        }
        Ok(Reader { segments })
    }

    /// Number of segment files.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Records with sequence `>= sequence`, in order, across segments.
    #[must_use]
    pub fn iter_from_seq(&self, sequence: Sequence) -> RecordIter<'_> {
        let index = self
            .segments
            .partition_point(|s| s.first_sequence <= sequence.0)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(index) else {
            return RecordIter::empty(self);
        };
        let entries = segment.index();
        let at = entries
            .partition_point(|e| e.sequence <= sequence.0)
            .saturating_sub(1);
        let offset = entries.get(at).map_or(SEGMENT_HEADER_LEN, |e| e.offset);
        RecordIter {
            reader: self,
            segment: index,
            offset,
            expected: None,
            skip_before_sequence: sequence.0,
            skip_before_timestamp: 0,
            done: false,
        }
    }

    /// Records from the first one with timestamp `>= timestamp` (timestamps are assumed
    /// non-decreasing, as the sequencer stamps them), across segments.
    #[must_use]
    pub fn iter_from_timestamp(&self, timestamp: TimestampNs) -> RecordIter<'_> {
        let first_ts = |s: &ReadSegment| s.index().first().map_or(u64::MAX, |e| e.timestamp);
        let index = self
            .segments
            .partition_point(|s| first_ts(s) < timestamp.0)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(index) else {
            return RecordIter::empty(self);
        };
        let entries = segment.index();
        let at = entries
            .partition_point(|e| e.timestamp < timestamp.0)
            .saturating_sub(1);
        let offset = entries.get(at).map_or(SEGMENT_HEADER_LEN, |e| e.offset);
        RecordIter {
            reader: self,
            segment: index,
            offset,
            expected: None,
            skip_before_sequence: 0,
            skip_before_timestamp: timestamp.0,
            done: false,
        }
    }
}

/// Iterator over [`RecordView`]s; yields one `Err` at the first damage, then stops.
#[derive(Debug)]
pub struct RecordIter<'a> {
    reader: &'a Reader,
    segment: usize,
    offset: usize,
    expected: Option<u64>,
    skip_before_sequence: u64,
    skip_before_timestamp: u64,
    done: bool,
}

impl<'a> RecordIter<'a> {
    fn empty(reader: &'a Reader) -> RecordIter<'a> {
        RecordIter {
            reader,
            segment: 0,
            offset: 0,
            expected: None,
            skip_before_sequence: 0,
            skip_before_timestamp: 0,
            done: true,
        }
    }

    fn fail(
        &mut self,
        segment: &ReadSegment,
        sequence: u64,
        kind: CorruptionKind,
    ) -> Option<Result<RecordView<'a>, JournalError>> {
        self.done = true;
        Some(Err(JournalError::Corrupt(Box::new(corruption(
            &segment.path,
            self.offset,
            sequence,
            kind,
        )))))
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let segments = &self.reader.segments;
            let segment = segments.get(self.segment)?;
            match segment.step(self.offset) {
                Step::Record(view, next) => {
                    if let Some(expected) = self.expected {
                        if view.sequence.0 != expected {
                            let kind = CorruptionKind::SequenceGap {
                                expected: Sequence(expected),
                                found: view.sequence,
                            };
                            return self.fail(segment, expected, kind);
                        }
                    }
                    self.offset = next;
                    if view.sequence.0 < self.skip_before_sequence
                        || view.timestamp.0 < self.skip_before_timestamp
                    {
                        continue;
                    }
                    self.skip_before_timestamp = 0;
                    self.expected = Some(view.sequence.0 + 1);
                    return Some(Ok(view));
                }
                Step::Seal(next, false) => self.offset = next,
                Step::Seal(_, true) | Step::End => {
                    self.segment += 1;
                    self.offset = SEGMENT_HEADER_LEN;
                    if self.segment >= segments.len() {
                        self.done = true;
                    }
                }
                Step::Bad(kind) => {
                    let sequence = self.expected.unwrap_or(segment.first_sequence);
                    return self.fail(segment, sequence, kind);
                }
            }
        }
        None
    }
}
