//! The batch: one JetStream message carrying whole journal frames, exactly as journaled.
//!
//! ```text
//! 0   magic            [u8; 8]  "ARBREPL1"
//! 8   version          u32      1
//! 12  frame_count      u32
//! 16  journal identity [u8; 16] (refuses a foreign journal's stream)
//! 32  segment_size     u64      (replicas must use the same, to stay byte-identical)
//! 40  first_sequence   u64      sequence of the first frame (a seal carries the last
//! 48  last_sequence    u64      user sequence before it), of the last frame
//! 56  start segment    u64      position of the first frame: segment first sequence
//! 64  start offset     u64        and byte offset
//! 72  end segment      u64      position after the last frame
//! 80  end offset       u64
//! 88  body_len         u32
//! 92  crc32c           u32      over [0, 92) then the body
//! 96  body: frames, each header + payload + zero padding to 8 bytes
//! ```
//! All little-endian. Frames carry their own CRC32C; the batch CRC catches damage (or a
//! foreign payload) before any frame is looked at.
use arbiter_journal::{FramePosition, FrameView, JournalId, Sequence};

/// Batch magic.
pub const BATCH_MAGIC: [u8; 8] = *b"ARBREPL1";
/// Batch format version.
pub const BATCH_VERSION: u32 = 1;
/// Bytes of the batch header.
pub const BATCH_HEADER_LEN: usize = 96;
const CRC_OFFSET: usize = 92;

/// The decoded batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Frames in the body.
    pub frame_count: u32,
    /// Identity of the journal the frames come from.
    pub identity: JournalId,
    /// Segment size of that journal.
    pub segment_size: u64,
    /// Sequence of the first frame.
    pub first_sequence: Sequence,
    /// Sequence of the last frame.
    pub last_sequence: Sequence,
    /// Where the first frame starts.
    pub start: FramePosition,
    /// Where the frame after the last one starts.
    pub end: FramePosition,
}

/// Batches one arena allocation holds: a finished batch is a frozen slice of the arena
/// (no copy), and a new arena is allocated only when this many have been cut from it.
const BATCHES_PER_ARENA: usize = 8;

/// Builds batches in place: frames are copied once, from the mapped journal into an arena,
/// and a finished batch is handed out as a [`bytes::Bytes`] view of it (no second copy, no
/// allocation per batch).
#[derive(Debug)]
pub struct BatchBuilder {
    buffer: bytes::BytesMut,
    body_bytes_max: usize,
    header: BatchHeader,
}

impl BatchBuilder {
    /// A builder for batches of at most `body_bytes_max` body bytes (a single frame larger
    /// than that still gets a batch of its own).
    #[must_use]
    pub fn new(identity: JournalId, segment_size: u64, body_bytes_max: usize) -> BatchBuilder {
        let mut buffer =
            bytes::BytesMut::with_capacity((BATCH_HEADER_LEN + body_bytes_max) * BATCHES_PER_ARENA);
        buffer.resize(BATCH_HEADER_LEN, 0);
        let position = FramePosition::segment_start(Sequence(0));
        BatchBuilder {
            buffer,
            body_bytes_max,
            header: BatchHeader {
                frame_count: 0,
                identity,
                segment_size,
                first_sequence: Sequence(0),
                last_sequence: Sequence(0),
                start: position,
                end: position,
            },
        }
    }

    /// Whether no frame was added since the last [`BatchBuilder::finish`].
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.header.frame_count == 0
    }

    /// Frames added.
    #[must_use]
    pub fn frame_count(&self) -> u32 {
        self.header.frame_count
    }

    /// Whether `frame_len` more bytes fit (always true for an empty batch).
    #[must_use]
    pub fn fits(&self, frame_len: usize) -> bool {
        self.is_empty() || self.buffer.len() - BATCH_HEADER_LEN + frame_len <= self.body_bytes_max
    }

    /// Adds a frame read at `position`; `next` is the position after it.
    pub fn push(&mut self, position: FramePosition, frame: &FrameView<'_>, next: FramePosition) {
        if self.is_empty() {
            self.header.first_sequence = frame.sequence();
            self.header.start = position;
        }
        debug_assert!(self.is_empty() || self.header.end == position);
        self.header.last_sequence = frame.sequence();
        self.header.end = next;
        self.header.frame_count += 1;
        self.buffer.extend_from_slice(frame.bytes());
    }

    /// Finishes the batch: the header is written and the bytes returned (the builder is
    /// empty again).
    pub fn finish(&mut self) -> (BatchHeader, bytes::Bytes) {
        let header = self.header;
        let body_len = self.buffer.len() - BATCH_HEADER_LEN;
        let h = &mut self.buffer[..BATCH_HEADER_LEN];
        h[0..8].copy_from_slice(&BATCH_MAGIC);
        h[8..12].copy_from_slice(&BATCH_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&header.frame_count.to_le_bytes());
        h[16..32].copy_from_slice(&header.identity.0);
        h[32..40].copy_from_slice(&header.segment_size.to_le_bytes());
        h[40..48].copy_from_slice(&header.first_sequence.0.to_le_bytes());
        h[48..56].copy_from_slice(&header.last_sequence.0.to_le_bytes());
        h[56..64].copy_from_slice(&header.start.segment_first_sequence.0.to_le_bytes());
        h[64..72].copy_from_slice(&header.start.offset.to_le_bytes());
        h[72..80].copy_from_slice(&header.end.segment_first_sequence.0.to_le_bytes());
        h[80..88].copy_from_slice(&header.end.offset.to_le_bytes());
        h[88..92].copy_from_slice(&(body_len as u32).to_le_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&self.buffer[..CRC_OFFSET]),
            &self.buffer[BATCH_HEADER_LEN..],
        );
        self.buffer[CRC_OFFSET..BATCH_HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        // The batch leaves as a view of the arena; the next one starts after it (a new arena
        // once this one is used up: the old one is freed when its last batch is acknowledged).
        let bytes = self.buffer.split().freeze();
        if self.buffer.capacity() < BATCH_HEADER_LEN + self.body_bytes_max {
            self.buffer
                .reserve((BATCH_HEADER_LEN + self.body_bytes_max) * BATCHES_PER_ARENA);
        }
        self.buffer.resize(BATCH_HEADER_LEN, 0);
        self.header.frame_count = 0;
        (header, bytes)
    }
}

/// Checks a batch's header and CRC; returns the header and the body (frames).
///
/// # Errors
/// A description of what is wrong (short, bad magic, version, length or CRC).
pub fn decode(bytes: &[u8]) -> Result<(BatchHeader, &[u8]), String> {
    if bytes.len() < BATCH_HEADER_LEN {
        return Err(format!(
            "{} bytes: shorter than a batch header",
            bytes.len()
        ));
    }
    if bytes[0..8] != BATCH_MAGIC {
        return Err("not an Arbiter batch (bad magic)".to_owned());
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    if u32_at(8) != BATCH_VERSION {
        return Err(format!("batch version {} not supported", u32_at(8)));
    }
    let body_len = u32_at(88) as usize;
    if BATCH_HEADER_LEN + body_len != bytes.len() {
        return Err(format!(
            "body length {body_len} disagrees with the message length {}",
            bytes.len()
        ));
    }
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[..CRC_OFFSET]),
        &bytes[BATCH_HEADER_LEN..],
    );
    if crc != u32_at(CRC_OFFSET) {
        return Err("batch CRC mismatch".to_owned());
    }
    let mut identity = [0u8; 16];
    identity.copy_from_slice(&bytes[16..32]);
    let header = BatchHeader {
        frame_count: u32_at(12),
        identity: JournalId(identity),
        segment_size: u64_at(32),
        first_sequence: Sequence(u64_at(40)),
        last_sequence: Sequence(u64_at(48)),
        start: FramePosition {
            segment_first_sequence: Sequence(u64_at(56)),
            offset: u64_at(64),
        },
        end: FramePosition {
            segment_first_sequence: Sequence(u64_at(72)),
            offset: u64_at(80),
        },
    };
    if header.frame_count == 0 || header.end <= header.start {
        return Err("empty batch or end before start".to_owned());
    }
    Ok((header, &bytes[BATCH_HEADER_LEN..]))
}

/// The de-duplication id of a batch: shard, leader epoch, sequence range and start
/// position. A retry of the same batch by the same leader repeats it (stored once); a
/// stale leader's batch differs in epoch, so it is not mistaken for a duplicate and meets
/// the expected-last-sequence check instead.
#[must_use]
pub fn message_id(shard: &str, epoch: u64, header: &BatchHeader) -> String {
    format!(
        "{shard}.e{epoch}.{}-{}.{}:{}",
        header.first_sequence.0,
        header.last_sequence.0,
        header.start.segment_first_sequence.0,
        header.start.offset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused() {
        assert!(decode(b"hello").is_err());
        assert!(decode(&[0u8; 200]).is_err());
        let mut junk = vec![0u8; 96];
        junk[0..8].copy_from_slice(&BATCH_MAGIC);
        junk[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert!(decode(&junk).unwrap_err().contains("CRC"));
    }
}
