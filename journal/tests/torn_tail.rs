//! A torn tail (partial last record, stray bytes, shortened file) is cut to the last whole
//! record, zeroed, reported, and the journal continues.
mod common;

use arbiter_journal::{verify, CorruptionKind, Journal, Sequence};
use common::{append_to, assert_prefix, config, frames, modify, segments};

const SEGMENT: u64 = 64 * 1024;

/// Writes records 1..=last without sealing (interval larger than the count) and returns
/// the segment path.
fn journal_with(dir: &std::path::Path, last: u64) -> std::path::PathBuf {
    let mut cfg = config(SEGMENT);
    cfg.seal_interval_records = 1000;
    let (mut writer, _) = Journal::open(dir, cfg).unwrap();
    append_to(&mut writer, last);
    drop(writer);
    segments(dir)[0].clone()
}

fn reopen_and_check(dir: &std::path::Path, kept: u64) -> arbiter_journal::RecoveryReport {
    let (mut writer, report) = Journal::open(dir, config(SEGMENT)).unwrap();
    assert_eq!(report.next_sequence, Sequence(kept + 1));
    assert_eq!(report.records, kept);
    assert_prefix(dir, 1, kept);
    // The cut bytes are zero: the journal verifies and grows again.
    append_to(&mut writer, kept + 20);
    writer.close().unwrap();
    assert_prefix(dir, 1, kept + 20);
    let verified = verify(dir).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.first_problem);
    report
}

#[test]
fn partial_payload_of_last_record_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with(dir.path(), 10);
    let (offset, frame_length, _, sequence) = *frames(&path).last().unwrap();
    assert_eq!(sequence, 10);
    assert!(frame_length > 40);
    modify(&path, |b| {
        b[offset + frame_length - 4..offset + frame_length].fill(0)
    });
    let problem = verify(dir.path()).unwrap().first_problem.unwrap();
    assert!(
        matches!(problem.kind, CorruptionKind::TornTail { .. }),
        "{problem}"
    );
    let report = reopen_and_check(dir.path(), 9);
    let cut = report.truncated.unwrap();
    assert_eq!(cut.offset, offset as u64);
    assert_eq!(cut.records, 1);
    assert_eq!(cut.sequences, Some((Sequence(10), Sequence(10))));
    assert!(cut.bytes > 0 && cut.bytes <= frame_length as u64);
}

#[test]
fn payload_without_commit_word_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with(dir.path(), 10);
    let (offset, _, _, _) = *frames(&path).last().unwrap();
    modify(&path, |b| b[offset..offset + 4].fill(0));
    let report = reopen_and_check(dir.path(), 9);
    let cut = report.truncated.unwrap();
    assert_eq!(cut.offset, offset as u64);
    assert_eq!(cut.sequences, Some((Sequence(10), Sequence(10))));
}

#[test]
fn stray_bytes_after_last_record_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with(dir.path(), 10);
    let (offset, frame_length, _, _) = *frames(&path).last().unwrap();
    let end = offset + arbiter_journal::layout::align_up(frame_length);
    modify(&path, |b| b[end + 100..end + 117].fill(0xA5));
    let report = reopen_and_check(dir.path(), 10);
    let cut = report.truncated.unwrap();
    assert_eq!(cut.offset, end as u64);
    assert_eq!(cut.bytes, 117);
}

#[test]
fn shortened_file_is_extended_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with(dir.path(), 30);
    let (offset, _, _, sequence) = frames(&path)[25];
    assert_eq!(sequence, 26);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(offset as u64 + 20).unwrap();
    drop(file);
    let report = reopen_and_check(dir.path(), 25);
    assert_eq!(report.truncated.unwrap().offset, offset as u64);
}

#[test]
fn zeroed_last_page_loses_only_a_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = journal_with(dir.path(), 200);
    let all = frames(&path);
    let (last_offset, _, _, _) = *all.last().unwrap();
    let page = last_offset & !4095;
    modify(&path, |b| b[page..page + 4096].fill(0));
    // Whatever starts before the page and is whole stays; the rest is cut.
    let kept = all.iter().filter(|(o, l, _, _)| o + l <= page).count() as u64;
    reopen_and_check(dir.path(), kept);
}

#[test]
fn torn_seal_at_the_tail_is_cut_and_records_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Journal::open(dir.path(), config(SEGMENT)).unwrap();
    append_to(&mut writer, 5);
    assert!(writer.seal().unwrap());
    drop(writer);
    let path = segments(dir.path())[0].clone();
    let (offset, frame_length, record_type, _) = *frames(&path).last().unwrap();
    assert_eq!(record_type, arbiter_journal::RecordType::SEAL.0);
    modify(&path, |b| b[offset + frame_length - 1] ^= 0xFF);
    let report = reopen_and_check(dir.path(), 5);
    assert_eq!(report.unsealed_records, 5);
}

#[test]
fn all_zero_last_segment_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    journal_with(dir.path(), 10);
    let empty = dir
        .path()
        .join(arbiter_journal::layout::segment_file_name(11));
    std::fs::write(&empty, vec![0u8; SEGMENT as usize]).unwrap();
    let (writer, report) = Journal::open(dir.path(), config(SEGMENT)).unwrap();
    assert_eq!(report.removed_segments, vec![empty]);
    assert_eq!(report.next_sequence, Sequence(11));
    drop(writer);
    assert_prefix(dir.path(), 1, 10);
}
