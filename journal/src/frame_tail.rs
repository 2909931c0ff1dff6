//! Raw frames for replication: [`FrameTail`] follows a live journal frame by frame, seals
//! included, and [`FrameView::parse`] checks a frame received from elsewhere. The writer side
//! is [`crate::Writer::append_frame`], which places such frames verbatim, so a copy built
//! from them is byte-identical to the original.
use std::path::{Path, PathBuf};

use zerocopy::FromBytes;

use crate::error::{CorruptionKind, JournalError};
use crate::layout::{
    align_up, record_crc, segment_file_name, RecordHeader, RECORD_HEADER_LEN, SEAL_FLAGS_OFFSET,
    SEAL_FLAG_SEGMENT_END, SEAL_PAYLOAD_LEN, SEGMENT_HEADER_LEN,
};
use crate::reader::{open_read_segment, ReadSegment};
use crate::scan::corruption;
use crate::segment::{read_frame, Frame};
use crate::types::{JournalId, RecordType, Sequence, TimestampNs};

/// Where a frame starts: its segment (named by first sequence) and byte offset in it.
/// Ordered like the journal itself; two copies built with [`crate::Writer::append_frame`]
/// put every frame at the same position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FramePosition {
    /// First sequence of the segment (its file name).
    pub segment_first_sequence: Sequence,
    /// Byte offset in the segment file; at least the segment header length.
    pub offset: u64,
}

impl FramePosition {
    /// The first frame position of a segment.
    #[must_use]
    pub fn segment_start(segment_first_sequence: Sequence) -> FramePosition {
        FramePosition {
            segment_first_sequence,
            offset: SEGMENT_HEADER_LEN as u64,
        }
    }
}

/// One whole, CRC-checked frame: header, payload and zero padding to 8 bytes, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameView<'a> {
    bytes: &'a [u8],
    record_type: RecordType,
    sequence: Sequence,
    timestamp: TimestampNs,
    frame_len: usize,
}

impl<'a> FrameView<'a> {
    /// Parses the frame at the start of `bytes` (which may hold more after it): length,
    /// zero flags and reserved word, CRC32C, zero padding up to the 8-byte alignment, and
    /// for a seal the payload length.
    ///
    /// # Errors
    /// [`CorruptionKind::BadFrame`] for a short buffer, an impossible length, non-zero
    /// reserved bits or padding; [`CorruptionKind::Crc`] when the CRC does not match.
    pub fn parse(bytes: &'a [u8]) -> Result<FrameView<'a>, CorruptionKind> {
        let Ok((header, _)) = RecordHeader::read_from_prefix(bytes) else {
            return Err(CorruptionKind::BadFrame);
        };
        let frame_len = header.frame_length.get() as usize;
        let aligned_len = align_up(frame_len);
        if frame_len < RECORD_HEADER_LEN || aligned_len > bytes.len() {
            return Err(CorruptionKind::BadFrame);
        }
        if header.flags.get() != 0 || header.reserved.get() != 0 {
            return Err(CorruptionKind::BadFrame);
        }
        if bytes[frame_len..aligned_len].iter().any(|&b| b != 0) {
            return Err(CorruptionKind::BadFrame);
        }
        let payload = &bytes[RECORD_HEADER_LEN..frame_len];
        let computed = record_crc(&header, payload);
        if computed != header.crc32c.get() {
            return Err(CorruptionKind::Crc {
                stored: header.crc32c.get(),
                computed,
            });
        }
        let record_type = RecordType(header.record_type.get());
        if record_type == RecordType::SEAL && payload.len() != SEAL_PAYLOAD_LEN {
            return Err(CorruptionKind::BadFrame);
        }
        Ok(FrameView {
            bytes: &bytes[..aligned_len],
            record_type,
            sequence: Sequence(header.sequence.get()),
            timestamp: TimestampNs(header.timestamp.get()),
            frame_len,
        })
    }

    /// The frame's bytes as stored (header, payload, zero padding to 8 bytes).
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Aligned bytes the frame takes.
    #[must_use]
    pub fn aligned_len(&self) -> usize {
        self.bytes.len()
    }
    /// Record type ([`RecordType::SEAL`] for seals).
    #[must_use]
    pub fn record_type(&self) -> RecordType {
        self.record_type
    }
    /// Sequence: a user record's own; a seal carries the last user sequence before it.
    #[must_use]
    pub fn sequence(&self) -> Sequence {
        self.sequence
    }
    /// Timestamp.
    #[must_use]
    pub fn timestamp(&self) -> TimestampNs {
        self.timestamp
    }
    /// Payload bytes (without padding).
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[RECORD_HEADER_LEN..self.frame_len]
    }
    /// Whether this is a seal frame.
    #[must_use]
    pub fn is_seal(&self) -> bool {
        self.record_type == RecordType::SEAL
    }
    /// Whether this is a seal that ends its segment (the next frame starts the next file).
    #[must_use]
    pub fn ends_segment(&self) -> bool {
        self.is_seal()
            && u32::from_le_bytes(
                self.payload()[SEAL_FLAGS_OFFSET..SEAL_FLAGS_OFFSET + 4]
                    .try_into()
                    .unwrap_or_default(),
            ) & SEAL_FLAG_SEGMENT_END
                != 0
    }
}

/// Follows a live journal like [`crate::TailReader`], but returns every frame (seals
/// included) with its position and exact bytes: what a replicator ships.
#[derive(Debug)]
pub struct FrameTail {
    dir: PathBuf,
    segment: Option<ReadSegment>,
    segment_first_sequence: u64,
    offset: usize,
    /// Sequence the next user record must carry.
    next_sequence: u64,
    identity: Option<JournalId>,
    /// Set after a segment-end seal: the old mapping stays until the next file is open,
    /// so the seal returned last is still borrowed from a live mapping.
    awaiting_next_segment: bool,
}

impl FrameTail {
    /// Starts at `at`, which must be a frame boundary the journal has reached (or the start
    /// of a segment the writer is about to create). The frames before it in its segment are
    /// walked (CRC-checked) once to find the boundary and the sequence.
    ///
    /// # Errors
    /// [`JournalError::InvalidConfig`] when `at` is not a frame boundary or lies past the
    /// journal's end; [`JournalError::Corrupt`] on damage; I/O and mapping errors.
    pub fn open(dir: impl AsRef<Path>, at: FramePosition) -> Result<FrameTail, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(segment_file_name(at.segment_first_sequence.0));
        let offset_target =
            usize::try_from(at.offset).map_err(|_| JournalError::InvalidConfig("bad offset"))?;
        let mut tail = FrameTail {
            dir,
            segment: None,
            segment_first_sequence: at.segment_first_sequence.0,
            offset: SEGMENT_HEADER_LEN,
            next_sequence: at.segment_first_sequence.0,
            identity: None,
            awaiting_next_segment: true,
        };
        if !path.exists() {
            if offset_target != SEGMENT_HEADER_LEN {
                return Err(JournalError::InvalidConfig(
                    "frame position names a segment that does not exist",
                ));
            }
            return Ok(tail);
        }
        let segment = open_read_segment(&path)?;
        tail.identity = Some(segment.identity);
        tail.segment = Some(segment);
        tail.awaiting_next_segment = false;
        // Bounded by the segment's frames.
        while tail.offset < offset_target {
            if tail.poll()?.is_none() {
                return Err(JournalError::InvalidConfig(
                    "frame position lies past the journal's end",
                ));
            }
            if tail.segment_first_sequence != at.segment_first_sequence.0 {
                return Err(JournalError::InvalidConfig(
                    "frame position lies past its segment's end",
                ));
            }
        }
        if tail.offset != offset_target {
            return Err(JournalError::InvalidConfig(
                "frame position is not a frame boundary",
            ));
        }
        Ok(tail)
    }

    /// Position of the next frame [`FrameTail::poll`] returns.
    #[must_use]
    pub fn position(&self) -> FramePosition {
        FramePosition {
            segment_first_sequence: Sequence(self.segment_first_sequence),
            offset: self.offset as u64,
        }
    }

    /// Sequence the next user record will carry.
    #[must_use]
    pub fn next_sequence(&self) -> Sequence {
        Sequence(self.next_sequence)
    }

    /// The next frame and its position, or `None` if the writer has not written it yet.
    ///
    /// # Errors
    /// [`JournalError::Corrupt`] on a bad frame, a sequence gap, or a next segment that
    /// does not continue this one; I/O errors opening the next segment.
    pub fn poll(&mut self) -> Result<Option<(FramePosition, FrameView<'_>)>, JournalError> {
        if self.awaiting_next_segment {
            let path = self
                .dir
                .join(segment_file_name(self.segment_first_sequence));
            if !path.exists() {
                return Ok(None);
            }
            let segment = open_read_segment(&path)?;
            let bad_kind = if segment.first_sequence != self.segment_first_sequence {
                Some(CorruptionKind::SegmentSequence {
                    expected: Sequence(self.segment_first_sequence),
                    found: Sequence(segment.first_sequence),
                })
            } else {
                match self.identity {
                    Some(expected) if expected != segment.identity => {
                        Some(CorruptionKind::IdentityMismatch {
                            expected,
                            found: segment.identity,
                        })
                    }
                    _ => None,
                }
            };
            if let Some(kind) = bad_kind {
                return Err(self.corrupt_at(&path, kind));
            }
            self.identity = Some(segment.identity);
            self.segment = Some(segment);
            self.offset = SEGMENT_HEADER_LEN;
            self.awaiting_next_segment = false;
        }
        let Some(segment) = self.segment.as_ref() else {
            return Ok(None);
        };
        // SAFETY: the mapping lives as long as `segment`; committed frames are immutable and
        // the commit word is loaded with Acquire.
        let frame = unsafe { read_frame(segment.map_base(), segment.len, self.offset) };
        let (header, aligned_len) = match frame {
            Frame::Empty => return Ok(None),
            Frame::Invalid(kind) => {
                let path = segment.path.clone();
                return Err(self.corrupt_at(&path, kind));
            }
            Frame::Record {
                header,
                aligned_len,
                ..
            } => (header, aligned_len),
        };
        let record_type = RecordType(header.record_type.get());
        let sequence = header.sequence.get();
        let expected = if record_type == RecordType::SEAL {
            self.next_sequence.wrapping_sub(1)
        } else {
            self.next_sequence
        };
        if record_type != RecordType::SEAL && record_type.is_reserved() {
            let path = segment.path.clone();
            return Err(self.corrupt_at(&path, CorruptionKind::UnknownReservedType(record_type.0)));
        }
        if sequence != expected {
            let path = segment.path.clone();
            let kind = CorruptionKind::SequenceGap {
                expected: Sequence(expected),
                found: Sequence(sequence),
            };
            return Err(self.corrupt_at(&path, kind));
        }
        // SAFETY: as above; `[offset, offset + aligned_len)` is inside the mapping (checked
        // by `read_frame`), and padding bytes are zero and never written.
        let bytes = unsafe {
            core::slice::from_raw_parts(segment.map_base().add(self.offset), aligned_len)
        };
        let view = FrameView::parse(bytes).map_err(|kind| {
            JournalError::Corrupt(Box::new(corruption(
                &segment.path,
                self.offset,
                sequence,
                kind,
            )))
        })?;
        let position = self.position();
        if view.is_seal() {
            if view.ends_segment() {
                self.segment_first_sequence = self.next_sequence;
                self.offset = SEGMENT_HEADER_LEN;
                self.awaiting_next_segment = true;
            } else {
                self.offset += aligned_len;
            }
        } else {
            self.next_sequence += 1;
            self.offset += aligned_len;
        }
        Ok(Some((position, view)))
    }

    fn corrupt_at(&self, path: &Path, kind: CorruptionKind) -> JournalError {
        JournalError::Corrupt(Box::new(corruption(
            path,
            self.offset,
            self.next_sequence,
            kind,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Journal, JournalConfig, Writer};

    fn config() -> JournalConfig {
        let mut config = JournalConfig::new(JournalId::from_u128(0xC1));
        config.segment_size_bytes = 64 * 1024;
        config.durability = Durability::None;
        config.seal_interval_records = 100;
        config.prefault = false;
        config
    }

    /// A leader with flusher-posted seals, writer seals, backstop seals and rolls.
    fn leader(dir: &Path) {
        let (mut writer, _) = Journal::open(dir, config()).unwrap();
        let flusher = writer.flusher().unwrap().spawn();
        for n in 1..=3000u64 {
            let seq = writer.next_sequence();
            let payload = vec![(n % 251) as u8; (n % 97) as usize];
            writer
                .append(RecordType(1), seq, TimestampNs(n * 10), &payload)
                .unwrap();
            if n % 777 == 0 {
                writer.seal().unwrap();
            }
        }
        writer.close().unwrap();
        flusher.stop().unwrap();
    }

    fn copy_frames(source: &Path, replica: &mut Writer) -> usize {
        let mut tail = FrameTail::open(source, replica.frame_position()).unwrap();
        let mut frames = 0;
        while let Some((position, frame)) = tail.poll().unwrap() {
            assert_eq!(position, replica.frame_position());
            replica.append_frame(frame.bytes()).unwrap();
            frames += 1;
        }
        frames
    }

    fn segment_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn replica_built_from_frames_is_byte_identical_and_verifies() {
        let source = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        leader(source.path());
        let (mut replica, _) = Journal::open(target.path(), config()).unwrap();
        let frames = copy_frames(source.path(), &mut replica);
        assert!(frames > 3000, "seals included");
        replica.close().unwrap();
        let expected = segment_files(source.path());
        assert!(expected.len() > 3, "several segments");
        assert_eq!(segment_files(target.path()), expected);
        assert!(crate::verify(target.path()).unwrap().is_ok());
    }

    #[test]
    fn resume_from_a_reopened_replica_continues_exactly() {
        let source = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        leader(source.path());
        {
            let (mut replica, _) = Journal::open(target.path(), config()).unwrap();
            let mut tail = FrameTail::open(source.path(), replica.frame_position()).unwrap();
            for _ in 0..1234 {
                let (_, frame) = tail.poll().unwrap().unwrap();
                replica.append_frame(frame.bytes()).unwrap();
            }
            // Dropped without close: recovery finds the same position.
        }
        let (mut replica, _) = Journal::open(target.path(), config()).unwrap();
        copy_frames(source.path(), &mut replica);
        replica.close().unwrap();
        assert_eq!(segment_files(target.path()), segment_files(source.path()));
    }

    #[test]
    fn bad_frames_are_refused_and_nothing_is_written() {
        let source = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        leader(source.path());
        let mut tail =
            FrameTail::open(source.path(), FramePosition::segment_start(Sequence(1))).unwrap();
        let mut frames = Vec::new();
        while let Some((_, frame)) = tail.poll().unwrap() {
            frames.push(frame.bytes().to_vec());
        }
        let (mut replica, _) = Journal::open(target.path(), config()).unwrap();
        // A flipped payload bit fails the CRC.
        let mut bad = frames[0].clone();
        bad[RECORD_HEADER_LEN] ^= 1;
        assert!(matches!(
            replica.append_frame(&bad),
            Err(JournalError::Corrupt(c)) if matches!(c.kind, CorruptionKind::Crc { .. })
        ));
        // A skipped record is a sequence mismatch.
        assert!(matches!(
            replica.append_frame(&frames[1]),
            Err(JournalError::SequenceMismatch { .. })
        ));
        let seal_index = frames
            .iter()
            .position(|f| FrameView::parse(f).unwrap().is_seal())
            .unwrap();
        for frame in &frames[..seal_index] {
            replica.append_frame(frame).unwrap();
        }
        // A seal whose hash was changed (CRC recomputed, so only the chain can tell).
        let mut forged = frames[seal_index].clone();
        forged[RECORD_HEADER_LEN + crate::layout::SEAL_HASH_OFFSET] ^= 1;
        let (mut header, _) = RecordHeader::read_from_prefix(&forged).unwrap();
        let payload_end = header.frame_length.get() as usize;
        header.crc32c = record_crc(&header, &forged[RECORD_HEADER_LEN..payload_end]).into();
        forged[28..32].copy_from_slice(&header.crc32c.get().to_le_bytes());
        assert!(matches!(
            replica.append_frame(&forged),
            Err(JournalError::Corrupt(c)) if c.kind == CorruptionKind::SealHash
        ));
        assert!(!replica.is_poisoned());
        replica.append_frame(&frames[seal_index]).unwrap();
        // A frame with trailing garbage beyond its padding is refused.
        let mut long = frames[seal_index + 1].clone();
        long.extend_from_slice(&[0; 8]);
        assert!(replica.append_frame(&long).is_err());
    }

    #[test]
    fn open_refuses_a_position_that_is_not_a_frame_boundary() {
        let source = tempfile::tempdir().unwrap();
        leader(source.path());
        let at = FramePosition {
            segment_first_sequence: Sequence(1),
            offset: SEGMENT_HEADER_LEN as u64 + 8,
        };
        assert!(FrameTail::open(source.path(), at).is_err());
        // Frames are 8-byte aligned, so an odd offset is never a boundary, wherever the
        // flusher's seals happened to fall in this run.
        let far = FramePosition {
            segment_first_sequence: Sequence(1),
            offset: 60_003,
        };
        assert!(FrameTail::open(source.path(), far).is_err());
    }
}
