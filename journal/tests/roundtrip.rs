//! Appends, reads back, seeks, follows and reopens.
mod common;

use std::time::Duration;

use arbiter_journal::{
    verify, Durability, Journal, JournalError, Reader, RecordType, Sequence, TailReader,
    TimestampNs,
};
use common::{append_to, assert_prefix, config, payload, segments, timestamp};

#[test]
fn records_read_back_across_segments_and_reopen_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, report) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    assert_eq!(report.next_sequence, Sequence(1));
    assert!(report.created_segment);
    append_to(&mut writer, 3000);
    writer.close().unwrap();
    assert!(segments(dir.path()).len() > 3, "rolled several segments");
    assert_prefix(dir.path(), 1, 3000);
    let verified = verify(dir.path()).unwrap();
    assert!(verified.is_ok(), "{:?}", verified.first_problem);
    assert_eq!(verified.records, 3000);
    assert_eq!(verified.last_sequence, Some(Sequence(3000)));
    assert_eq!(verified.unsealed_records, 0);

    let (mut writer, report) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    assert_eq!(report.next_sequence, Sequence(3001));
    assert_eq!(report.records, 3000);
    assert!(report.truncated.is_none());
    append_to(&mut writer, 3500);
    drop(writer);
    assert_prefix(dir.path(), 1, 3500);
    assert!(verify(dir.path()).unwrap().is_ok());
}

#[test]
fn iterate_from_sequence_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    append_to(&mut writer, 2000);
    drop(writer);
    let reader = Reader::open(dir.path()).unwrap();
    for start in [1u64, 2, 63, 64, 65, 700, 1999, 2000] {
        let got: Vec<u64> = reader
            .iter_from_seq(Sequence(start))
            .map(|r| r.unwrap().sequence().0)
            .collect();
        assert_eq!(got, (start..=2000).collect::<Vec<_>>(), "from {start}");
    }
    assert_eq!(reader.iter_from_seq(Sequence(2001)).count(), 0);
    for start in [1u64, 500, 1777, 2000] {
        let first = reader
            .iter_from_timestamp(timestamp(start))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.sequence(), Sequence(start));
        assert_eq!(first.payload(), payload(start).as_slice());
        // Between two timestamps: the later record.
        let between = reader
            .iter_from_timestamp(TimestampNs(timestamp(start).0 - 5))
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(between.sequence(), Sequence(start));
    }
}

#[test]
fn append_rejects_bad_arguments_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    let err = writer
        .append(RecordType(1), Sequence(2), TimestampNs(1), b"x")
        .unwrap_err();
    assert!(matches!(
        err,
        JournalError::SequenceMismatch {
            expected: Sequence(1),
            found: Sequence(2)
        }
    ));
    let err = writer
        .append(RecordType::SEAL, Sequence(1), TimestampNs(1), b"x")
        .unwrap_err();
    assert!(matches!(err, JournalError::ReservedRecordType(_)));
    let big = vec![0u8; writer.payload_len_max() + 1];
    assert!(matches!(
        writer.append(RecordType(1), Sequence(1), TimestampNs(1), &big),
        Err(JournalError::RecordTooLarge { .. })
    ));
    let max = vec![7u8; writer.payload_len_max()];
    writer
        .append(RecordType(1), Sequence(1), TimestampNs(1), &max)
        .unwrap();
    writer
        .append(RecordType(1), Sequence(2), TimestampNs(1), &max)
        .unwrap();
    assert!(!writer.is_poisoned());
    drop(writer);
    assert_eq!(
        Reader::open(dir.path())
            .unwrap()
            .iter_from_seq(Sequence(1))
            .count(),
        2
    );
    assert!(verify(dir.path()).unwrap().is_ok());
}

#[test]
fn tail_reader_follows_live_writer_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(64 * 1024);
    cfg.durability = Durability::Sync;
    let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
    let flusher = writer.flusher().unwrap().spawn();
    let path = dir.path().to_path_buf();
    let follower = std::thread::spawn(move || {
        let mut tail = TailReader::open(&path, Sequence(1)).unwrap();
        let mut next = 1u64;
        let mut idle = 0u32;
        while next <= 5000 {
            match tail.poll().unwrap() {
                Some(view) => {
                    assert_eq!(view.sequence(), Sequence(next));
                    assert_eq!(view.payload(), payload(next).as_slice());
                    next += 1;
                    idle = 0;
                }
                None => {
                    idle += 1;
                    assert!(idle < 200_000, "tail reader stalled at {next}");
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        assert!(tail.poll().unwrap().is_none());
    });
    for chunk in 1..=10 {
        append_to(&mut writer, chunk * 500);
        std::thread::yield_now();
    }
    follower.join().unwrap();
    let cursor = writer.durable_cursor();
    assert!(cursor.wait_for(Sequence(5000), Duration::from_secs(30)));
    writer.close().unwrap();
    flusher.stop().unwrap();
    assert!(verify(dir.path()).unwrap().is_ok());

    let mut late = TailReader::open(dir.path(), Sequence(4321)).unwrap();
    assert_eq!(late.poll().unwrap().unwrap().sequence(), Sequence(4321));
}

#[test]
fn durable_cursor_advances_for_each_policy() {
    for durability in [
        Durability::None,
        Durability::Batch {
            interval_us: 200,
            records: 64,
        },
        Durability::Sync,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(128 * 1024);
        cfg.durability = durability;
        let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
        let mut flusher = writer.flusher().unwrap();
        let cursor = writer.durable_cursor();
        append_to(&mut writer, 10);
        // Driven by hand: do_work reports work, the cursor follows.
        let mut rounds = 0;
        while cursor.get() < Sequence(10) {
            flusher.do_work().unwrap();
            rounds += 1;
            assert!(rounds < 100_000, "{durability:?} never flushed");
            if rounds > 10 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        assert_eq!(cursor.written(), Sequence(10));
        assert!(writer.flusher().is_err(), "one flusher per journal");
        let thread = flusher.spawn();
        append_to(&mut writer, 3000);
        assert!(
            cursor.wait_for(Sequence(3000), Duration::from_secs(30)),
            "{durability:?}"
        );
        thread.stop().unwrap();
        drop(writer);
        assert_prefix(dir.path(), 1, 3000);
    }
}

#[test]
fn unknown_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    append_to(&mut writer, 10);
    drop(writer);
    let path = segments(dir.path())[0].clone();
    common::modify(&path, |b| b[8] = 99); // format version
    match Reader::open(dir.path()) {
        Err(JournalError::UnsupportedFormat { reason, .. }) => {
            assert_eq!(reason, "unknown format version")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Journal::open(dir.path(), config(64 * 1024)),
        Err(JournalError::UnsupportedFormat { .. })
    ));
    common::modify(&path, |b| {
        b[8] = 1;
        b[0] = b'X';
    });
    let err = Reader::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
}

#[test]
fn other_journals_identity_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, _) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    drop(writer);
    let mut other = config(64 * 1024);
    other.identity = arbiter_journal::JournalId::from_u128(99);
    match Journal::open(dir.path(), other) {
        Err(JournalError::Corrupt(c)) => {
            assert!(matches!(
                c.kind,
                arbiter_journal::CorruptionKind::IdentityMismatch { .. }
            ));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn flusher_hashes_blocks_and_the_writer_places_its_seals() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(256 * 1024);
    cfg.seal_interval_records = 0; // no writer-side hashing at all, except at rolls
    cfg.durability = Durability::Batch {
        interval_us: 100,
        records: 100,
    };
    let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
    let flusher = writer.flusher().unwrap().spawn();
    for chunk in 1..=40u64 {
        append_to(&mut writer, chunk * 500);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(writer
        .durable_cursor()
        .wait_for(Sequence(20_000), Duration::from_secs(30)));
    writer.close().unwrap();
    flusher.stop().unwrap();
    let report = verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{:?}", report.first_problem);
    assert_eq!(report.records, 20_000);
    let files = segments(dir.path());
    assert!(
        report.seals > 2 * files.len() as u64,
        "flusher-posted seals: {} seals, {} segments",
        report.seals,
        files.len()
    );
    assert_prefix(dir.path(), 1, 20_000);
}
