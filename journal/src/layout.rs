//! On-disk layout: named offsets, zerocopy header structs and compile-time checks.
//!
//! Everything is little-endian by construction (`zerocopy::little_endian` field types).
//!
//! Segment file (`{first_sequence:020}.seg`, `segment_size` bytes, preallocated):
//! ```text
//! [0, 128)            SegmentHeader
//! [128, ...)          records, each 8-byte aligned, zero padded
//! [..., size)         zeros (never written; the writer keeps room for a final seal)
//! ```
//! Record frame (header then payload):
//! ```text
//! 0  frame_length u32   header + payload bytes (unaligned); the commit word, stored last
//! 4  record_type  u16
//! 6  flags        u16   0
//! 8  sequence     u64
//! 16 timestamp    u64
//! 24 reserved     u32   0
//! 28 crc32c       u32   over bytes [0, 28) then the payload
//! 32 payload ...
//! ```
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ARBJRNL\0";
/// Segment format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header; records start here.
pub const SEGMENT_HEADER_LEN: usize = 128;
/// Offset of the header CRC (covers bytes `[0, SEGMENT_HEADER_CRC_OFFSET)`).
pub const SEGMENT_HEADER_CRC_OFFSET: usize = 124;

/// Record alignment: keeps the commit word and u64 fields naturally aligned.
pub const RECORD_ALIGN: usize = 8;
/// Bytes of the fixed record header.
pub const RECORD_HEADER_LEN: usize = 32;
/// Offset of the commit word (`frame_length`).
pub const RECORD_FRAME_LENGTH_OFFSET: usize = 0;
/// Offset of the record type.
pub const RECORD_TYPE_OFFSET: usize = 4;
/// Offset of the flags.
pub const RECORD_FLAGS_OFFSET: usize = 6;
/// Offset of the sequence number.
pub const RECORD_SEQUENCE_OFFSET: usize = 8;
/// Offset of the timestamp.
pub const RECORD_TIMESTAMP_OFFSET: usize = 16;
/// Offset of the reserved word.
pub const RECORD_RESERVED_OFFSET: usize = 24;
/// Offset of the CRC32C; it covers `[0, RECORD_CRC_OFFSET)` then the payload.
pub const RECORD_CRC_OFFSET: usize = 28;

/// Seal payload: previous hash, this block's hash, the block's offsets, record count and
/// flags. A block is the user frames (seal frames skipped) whose offsets lie in
/// `[block_start, block_end)` of the seal's segment; its hash is BLAKE3(previous hash ||
/// those frames' aligned bytes). `block_end` may lie before the seal itself: the flusher
/// hashes a block while the writer keeps appending, and the writer places the seal later
/// (the frames in between belong to the next block).
pub const SEAL_PAYLOAD_LEN: usize = 88;
/// Offset of the previous seal's hash in a seal payload.
pub const SEAL_PREVIOUS_HASH_OFFSET: usize = 0;
/// Offset of this block's hash in a seal payload.
pub const SEAL_HASH_OFFSET: usize = 32;
/// Offset of the block's first byte (segment offset) in a seal payload.
pub const SEAL_BLOCK_START_OFFSET: usize = 64;
/// Offset of the block's end (segment offset, exclusive) in a seal payload.
pub const SEAL_BLOCK_END_OFFSET: usize = 72;
/// Offset of the record count in a seal payload.
pub const SEAL_RECORD_COUNT_OFFSET: usize = 80;
/// Offset of the seal flags in a seal payload.
pub const SEAL_FLAGS_OFFSET: usize = 84;
/// Seal flag: this seal ends its segment (its block ends at the seal); the next record is in
/// the next segment file.
pub const SEAL_FLAG_SEGMENT_END: u32 = 1;
/// Aligned bytes one seal record takes.
pub const SEAL_FRAME_LEN: usize = align_up(RECORD_HEADER_LEN + SEAL_PAYLOAD_LEN);

/// Smallest accepted segment size.
pub const SEGMENT_SIZE_MIN: u64 = 64 * 1024;
/// Largest accepted segment size (offsets are packed in 40 bits of the writer position).
pub const SEGMENT_SIZE_MAX: u64 = 1 << 40;
/// Default segment size: 1 GiB.
pub const SEGMENT_SIZE_DEFAULT: u64 = 1 << 30;
/// Segment sizes must be a multiple of this (page size on the platforms we run on).
pub const SEGMENT_SIZE_GRANULE: u64 = 4096;

/// Rounds `len` up to [`RECORD_ALIGN`].
#[must_use]
pub const fn align_up(len: usize) -> usize {
    (len + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// Segment header as stored on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`].
    pub format_version: U32,
    /// [`SEGMENT_HEADER_LEN`].
    pub header_len: U32,
    /// Journal identity.
    pub identity: [u8; 16],
    /// Sequence of the first record in this segment (also the file name).
    pub first_sequence: U64,
    /// Size of the segment file in bytes.
    pub segment_size: U64,
    /// Hash of the last seal before this segment (zeros for the first segment): the chain
    /// continues across files and a segment verifies on its own given this value.
    pub chain_in: [u8; 32],
    /// Zero.
    pub reserved: [u8; 44],
    /// CRC32C over the bytes before it.
    pub crc32c: U32,
}

/// Record header as stored on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Clone, Copy, Debug)]
#[repr(C)]
pub struct RecordHeader {
    /// Header plus payload bytes; zero means "no record here (yet)".
    pub frame_length: U32,
    /// Record type.
    pub record_type: U16,
    /// Zero in this version.
    pub flags: U16,
    /// Sequence number.
    pub sequence: U64,
    /// Timestamp, ns since the epoch.
    pub timestamp: U64,
    /// Zero.
    pub reserved: U32,
    /// CRC32C of `[0, 28)` then the payload.
    pub crc32c: U32,
}

const _: () = assert!(core::mem::size_of::<SegmentHeader>() == SEGMENT_HEADER_LEN);
const _: () = assert!(core::mem::size_of::<RecordHeader>() == RECORD_HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(SegmentHeader, crc32c) == SEGMENT_HEADER_CRC_OFFSET);
const _: () =
    assert!(core::mem::offset_of!(RecordHeader, frame_length) == RECORD_FRAME_LENGTH_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, record_type) == RECORD_TYPE_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, flags) == RECORD_FLAGS_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, sequence) == RECORD_SEQUENCE_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, timestamp) == RECORD_TIMESTAMP_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, reserved) == RECORD_RESERVED_OFFSET);
const _: () = assert!(core::mem::offset_of!(RecordHeader, crc32c) == RECORD_CRC_OFFSET);
const _: () = assert!(RECORD_CRC_OFFSET + 4 == RECORD_HEADER_LEN);
const _: () = assert!(SEGMENT_HEADER_LEN % RECORD_ALIGN == 0);
const _: () = assert!(RECORD_HEADER_LEN % RECORD_ALIGN == 0);
const _: () = assert!(SEAL_FLAGS_OFFSET + 4 == SEAL_PAYLOAD_LEN);
const _: () = assert!(SEGMENT_SIZE_GRANULE % RECORD_ALIGN as u64 == 0);
const _: () = assert!(SEGMENT_SIZE_MIN % SEGMENT_SIZE_GRANULE == 0);
const _: () = assert!(SEGMENT_SIZE_DEFAULT % SEGMENT_SIZE_GRANULE == 0);
// A minimal segment holds its header, at least one seal and one final seal.
const _: () = assert!((SEGMENT_HEADER_LEN + 2 * SEAL_FRAME_LEN) as u64 <= SEGMENT_SIZE_MIN);

/// CRC32C of a record: header bytes before the CRC, then the payload.
#[must_use]
pub fn record_crc(header: &RecordHeader, payload: &[u8]) -> u32 {
    let bytes = header.as_bytes();
    crc32c::crc32c_append(crc32c::crc32c(&bytes[..RECORD_CRC_OFFSET]), payload)
}

/// CRC32C of a segment header.
#[must_use]
pub fn segment_header_crc(header: &SegmentHeader) -> u32 {
    crc32c::crc32c(&header.as_bytes()[..SEGMENT_HEADER_CRC_OFFSET])
}

/// File name of the segment whose first record has `first_sequence`.
#[must_use]
pub fn segment_file_name(first_sequence: u64) -> String {
    format!("{first_sequence:020}.seg")
}

/// Parses a segment file name back to its first sequence.
#[must_use]
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn file_names_round_trip() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.seg"), None);
    }

    #[test]
    fn zeroed_header_is_not_a_valid_record() {
        let header = RecordHeader::new_zeroed();
        assert_ne!(record_crc(&header, &[]), 0);
    }
}
