//! Damage that is not a torn tail is found, located and refused (or cut on request);
//! changing, removing or reordering records breaks verification.
mod common;

use std::path::{Path, PathBuf};

use arbiter_journal::layout::{RECORD_CRC_OFFSET, RECORD_HEADER_LEN, SEAL_HASH_OFFSET};
use arbiter_journal::{
    verify, Corruption, CorruptionKind, Journal, JournalError, RecordType, Sequence,
};
use common::{append_to, assert_prefix, config, frames, modify, segments};

const SEGMENT: u64 = 64 * 1024;

/// Journal of `last` records (seal every 16) over several segments.
fn journal(dir: &Path, last: u64) -> Vec<PathBuf> {
    let (mut writer, _) = Journal::open(dir, config(SEGMENT)).unwrap();
    append_to(&mut writer, last);
    writer.close().unwrap();
    segments(dir)
}

fn open_refused(dir: &Path) -> Corruption {
    match Journal::open(dir, config(SEGMENT)) {
        Err(JournalError::Corrupt(c)) => *c,
        Err(other) => panic!("unexpected error {other}"),
        Ok((_, report)) => panic!("opened a corrupt journal: {report:?}"),
    }
}

fn verify_problem(dir: &Path) -> Corruption {
    verify(dir)
        .unwrap()
        .first_problem
        .expect("verify must find the damage")
}

/// Recomputes the CRC of the frame at `offset` (what a careful forger would do).
fn fix_crc(bytes: &mut [u8], offset: usize, frame_length: usize) {
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[offset..offset + RECORD_CRC_OFFSET]),
        &bytes[offset + RECORD_HEADER_LEN..offset + frame_length],
    );
    bytes[offset + RECORD_CRC_OFFSET..offset + RECORD_HEADER_LEN]
        .copy_from_slice(&crc.to_le_bytes());
}

fn user_frames(path: &Path) -> Vec<(usize, usize, u16, u64)> {
    frames(path)
        .into_iter()
        .filter(|f| f.2 != RecordType::SEAL.0)
        .collect()
}

#[test]
fn flipped_bit_in_a_middle_record_is_located_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    let last = files.last().unwrap();
    let (offset, frame_length, _, sequence) = user_frames(last)[3];
    modify(last, |b| b[offset + frame_length - 1] ^= 0x10);
    let problem = verify_problem(dir.path());
    assert_eq!(
        (&problem.segment, problem.offset, problem.sequence),
        (last, offset as u64, Sequence(sequence))
    );
    assert!(
        matches!(problem.kind, CorruptionKind::Crc { .. }),
        "{problem}"
    );
    assert_eq!(open_refused(dir.path()), problem);

    // The override truncates at the damage and keeps everything before it.
    let mut cfg = config(SEGMENT);
    cfg.truncate_on_corruption = true;
    let (writer, report) = Journal::open(dir.path(), cfg).unwrap();
    drop(writer);
    let cut = report.truncated.unwrap();
    assert_eq!(cut.offset, offset as u64);
    assert!(matches!(cut.reason, CorruptionKind::Crc { .. }));
    assert_prefix(dir.path(), 1, sequence - 1);
    assert!(verify(dir.path()).unwrap().is_ok());
}

#[test]
fn flipped_bit_in_an_earlier_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    let (offset, _, _, sequence) = user_frames(&files[0])[100];
    modify(&files[0], |b| b[offset + 9] ^= 1); // inside the sequence field
    let problem = open_refused(dir.path());
    assert_eq!(
        (&problem.segment, problem.offset),
        (&files[0], offset as u64)
    );
    assert_eq!(
        problem.sequence,
        Sequence(sequence),
        "the expected sequence: the damaged field is not trusted"
    );
    assert_eq!(verify_problem(dir.path()), problem);
}

#[test]
fn zeroed_page_in_the_middle_is_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    let first = &files[0];
    modify(first, |b| b[8192..12288].fill(0));
    let problem = open_refused(dir.path());
    assert_eq!(&problem.segment, first);
    assert!(problem.offset <= 8192);
    assert_eq!(verify_problem(dir.path()), problem);
    // Same damage in the last segment: still refused, there are whole records after it.
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    let last = files.last().unwrap();
    assert!(
        frames(last).last().unwrap().0 > 12288,
        "last segment spans the page"
    );
    modify(last, |b| b[4096..8192].fill(0));
    let problem = open_refused(dir.path());
    assert_eq!(&problem.segment, last);
    assert!(
        matches!(
            problem.kind,
            CorruptionKind::RecordsAfterDamage | CorruptionKind::Crc { .. }
        ),
        "{problem}"
    );
}

#[test]
fn flipped_bit_in_a_seal_hash_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 500);
    let path = &files[0];
    let seal = *frames(path)
        .iter()
        .find(|f| f.2 == RecordType::SEAL.0)
        .unwrap();
    let (offset, frame_length, _, _) = seal;
    let hash_byte = offset + RECORD_HEADER_LEN + SEAL_HASH_OFFSET + 5;
    // Plain flip: the seal's CRC catches it.
    modify(path, |b| b[hash_byte] ^= 4);
    assert!(matches!(
        verify_problem(dir.path()).kind,
        CorruptionKind::Crc { .. }
    ));
    // Flip with a recomputed CRC: the hash itself is checked.
    modify(path, |b| fix_crc(b, offset, frame_length));
    let problem = verify_problem(dir.path());
    assert_eq!(problem.kind, CorruptionKind::SealHash);
    assert_eq!(problem.offset, offset as u64);
    assert_eq!(open_refused(dir.path()), problem);
}

#[test]
fn changed_record_with_valid_crc_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 500);
    let path = &files[0];
    let (offset, frame_length, _, _) = user_frames(path)[20];
    modify(path, |b| {
        b[offset + RECORD_HEADER_LEN] ^= 0xFF;
        fix_crc(b, offset, frame_length);
    });
    let problem = verify_problem(dir.path());
    assert_eq!(problem.kind, CorruptionKind::SealHash);
    assert!(
        problem.offset > offset as u64,
        "reported at the seal that covers it"
    );
    assert_eq!(open_refused(dir.path()), problem);
}

#[test]
fn reordered_records_break_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(SEGMENT);
    cfg.seal_interval_records = 16;
    let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
    // Equal-size records so two can swap places.
    for sequence in 1..=40u64 {
        writer
            .append(
                RecordType(1),
                Sequence(sequence),
                common::timestamp(sequence),
                &[sequence as u8; 24],
            )
            .unwrap();
    }
    writer.close().unwrap();
    let path = segments(dir.path())[0].clone();
    let user = user_frames(&path);
    let (a, len, _, _) = user[2];
    let (b, _, _, _) = user[3];
    // Swap the two frames whole: caught as a sequence gap.
    modify(&path, |bytes| {
        let first = bytes[a..a + len].to_vec();
        bytes.copy_within(b..b + len, a);
        bytes[b..b + len].copy_from_slice(&first);
    });
    assert!(matches!(
        verify_problem(dir.path()).kind,
        CorruptionKind::SequenceGap { .. }
    ));
    // Re-stamp sequences and CRCs so they look continuous: caught by the chain.
    modify(&path, |bytes| {
        bytes[a + 8..a + 16].copy_from_slice(&3u64.to_le_bytes());
        bytes[b + 8..b + 16].copy_from_slice(&4u64.to_le_bytes());
        fix_crc(bytes, a, len);
        fix_crc(bytes, b, len);
    });
    assert_eq!(verify_problem(dir.path()).kind, CorruptionKind::SealHash);
}

#[test]
fn removed_segment_is_a_sequence_gap() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    assert!(files.len() >= 3);
    std::fs::remove_file(&files[1]).unwrap();
    let problem = verify_problem(dir.path());
    assert_eq!(problem.segment, files[2]);
    assert!(matches!(
        problem.kind,
        CorruptionKind::SegmentSequence { .. }
    ));
    assert_eq!(open_refused(dir.path()), problem);
}

#[test]
fn removed_record_breaks_sequence_or_chain() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 300);
    let path = &files[0];
    let (offset, frame_length, _, _) = user_frames(path)[5];
    let aligned = arbiter_journal::layout::align_up(frame_length);
    modify(path, |b| {
        b.copy_within(offset + aligned.., offset);
        let n = b.len();
        b[n - aligned..].fill(0);
    });
    assert!(matches!(
        verify_problem(dir.path()).kind,
        CorruptionKind::SequenceGap { .. }
    ));
}

#[test]
fn flipped_bit_in_a_segment_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    modify(&files[1], |b| b[20] ^= 1); // identity byte: header CRC mismatch
    let problem = open_refused(dir.path());
    assert_eq!((&problem.segment, problem.offset), (&files[1], 0));
    assert!(
        matches!(problem.kind, CorruptionKind::BadSegmentHeader(_)),
        "{problem}"
    );
    assert_eq!(verify_problem(dir.path()), problem);
    assert!(matches!(
        arbiter_journal::Reader::open(dir.path()),
        Err(JournalError::Corrupt(_))
    ));
}

#[test]
fn torn_tail_in_an_earlier_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let files = journal(dir.path(), 1500);
    let (offset, _, _, _) = *frames(&files[0]).last().unwrap();
    modify(&files[0], |b| b[offset..offset + 4].fill(0)); // drop the end seal's commit word
    let problem = open_refused(dir.path());
    assert_eq!(problem.segment, files[0]);
    assert!(matches!(
        problem.kind,
        CorruptionKind::TornTail { .. } | CorruptionKind::SegmentNotClosed
    ));
}
