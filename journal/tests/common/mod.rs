//! Helpers shared by the journal's integration tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use arbiter_journal::layout::{align_up, SEGMENT_HEADER_LEN};
use arbiter_journal::{
    Durability, JournalConfig, JournalId, Reader, RecordType, Sequence, TimestampNs, Writer,
};

pub const IDENTITY: JournalId = JournalId(*b"arbiter-test-id!");

pub fn config(segment_size_bytes: u64) -> JournalConfig {
    let mut config = JournalConfig::new(IDENTITY);
    config.segment_size_bytes = segment_size_bytes;
    config.durability = Durability::None;
    config.seal_interval_records = 16;
    config
}

/// Payload length derived from the sequence: 0..=199 bytes.
pub fn payload_len(sequence: u64) -> usize {
    ((sequence.wrapping_mul(7919)) % 200) as usize
}

/// Deterministic payload of a sequence.
pub fn payload(sequence: u64) -> Vec<u8> {
    (0..payload_len(sequence))
        .map(|i| (sequence as u8).wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

pub fn timestamp(sequence: u64) -> TimestampNs {
    TimestampNs(1_000_000 + sequence * 10)
}

/// Appends records up to and including `last`.
pub fn append_to(writer: &mut Writer, last: u64) {
    while writer.next_sequence().0 <= last {
        let sequence = writer.next_sequence().0;
        writer
            .append(
                RecordType(1),
                Sequence(sequence),
                timestamp(sequence),
                &payload(sequence),
            )
            .expect("append");
    }
}

/// All records as (sequence, payload); panics on damage.
pub fn read_all(dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let reader = Reader::open(dir).expect("reader");
    reader
        .iter_from_seq(Sequence(0))
        .map(|r| {
            r.map(|v| (v.sequence().0, v.payload().to_vec()))
                .expect("record")
        })
        .collect()
}

/// Checks that the journal holds exactly records `first..=last` with the expected payloads.
pub fn assert_prefix(dir: &Path, first: u64, last: u64) {
    let records = read_all(dir);
    assert_eq!(
        records.len() as u64,
        (last + 1).saturating_sub(first),
        "record count"
    );
    for (i, (sequence, bytes)) in records.iter().enumerate() {
        assert_eq!(*sequence, first + i as u64);
        assert_eq!(*bytes, payload(*sequence), "payload of {sequence}");
    }
}

pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// (offset, frame_length, record_type, sequence) of every committed frame in a segment file.
pub fn frames(path: &Path) -> Vec<(usize, usize, u16, u64)> {
    let bytes = std::fs::read(path).unwrap();
    let mut offset = SEGMENT_HEADER_LEN;
    let mut frames = Vec::new();
    while offset + 32 <= bytes.len() {
        let frame_length =
            u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        if frame_length == 0 {
            break;
        }
        let record_type = u16::from_le_bytes(bytes[offset + 4..offset + 6].try_into().unwrap());
        let sequence = u64::from_le_bytes(bytes[offset + 8..offset + 16].try_into().unwrap());
        frames.push((offset, frame_length, record_type, sequence));
        offset += align_up(frame_length);
    }
    frames
}

pub fn modify(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}
