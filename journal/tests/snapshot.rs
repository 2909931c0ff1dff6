//! Snapshots are written atomically; the newest valid one wins and invalid ones are
//! skipped with a reason.
use arbiter_journal::{
    latest_valid_snapshot, read_snapshot, write_snapshot, JournalError, Sequence,
};

#[test]
fn newest_valid_snapshot_is_chosen_and_bad_ones_reported() {
    let dir = tempfile::tempdir().unwrap();
    let empty = latest_valid_snapshot(dir.path().join("missing")).unwrap();
    assert!(empty.snapshot.is_none());
    assert_eq!(empty.replay_from(Sequence(1)), Sequence(1));

    write_snapshot(dir.path(), Sequence(100), [1; 32], b"state at 100").unwrap();
    let p200 = write_snapshot(dir.path(), Sequence(200), [2; 32], b"state at 200").unwrap();
    let p300 = write_snapshot(dir.path(), Sequence(300), [3; 32], &vec![9u8; 10_000]).unwrap();
    let choice = latest_valid_snapshot(dir.path()).unwrap();
    let chosen = choice.snapshot.as_ref().unwrap();
    assert_eq!(chosen.sequence, Sequence(300));
    assert_eq!(chosen.digest, [3; 32]);
    assert_eq!(chosen.state, vec![9u8; 10_000]);
    assert_eq!(choice.replay_from(Sequence(1)), Sequence(301));
    assert!(choice.skipped.is_empty());

    // Damage the newest (bit flip) and truncate the next: both skipped, 100 wins.
    let mut bytes = std::fs::read(&p300).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(&p300, bytes).unwrap();
    let bytes = std::fs::read(&p200).unwrap();
    std::fs::write(&p200, &bytes[..bytes.len() - 3]).unwrap();
    // A leftover temporary file from an interrupted write is ignored.
    std::fs::write(
        dir.path().join("snapshot-00000000000000000400.snap.tmp"),
        b"half",
    )
    .unwrap();
    let choice = latest_valid_snapshot(dir.path()).unwrap();
    assert_eq!(choice.snapshot.as_ref().unwrap().sequence, Sequence(100));
    assert_eq!(choice.snapshot.as_ref().unwrap().state, b"state at 100");
    assert_eq!(choice.replay_from(Sequence(1)), Sequence(101));
    let reasons: Vec<_> = choice
        .skipped
        .iter()
        .map(|s| match &s.error {
            JournalError::Snapshot { reason, .. } => (s.path.clone(), *reason),
            other => panic!("{other}"),
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            (p300, "CRC mismatch"),
            (p200, "state length does not match the file")
        ]
    );
}

#[test]
fn unknown_snapshot_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_snapshot(dir.path(), Sequence(7), [0; 32], b"").unwrap();
    assert_eq!(read_snapshot(&path).unwrap().sequence, Sequence(7));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = 2;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        read_snapshot(&path),
        Err(JournalError::Snapshot {
            reason: "unknown version",
            ..
        })
    ));
    bytes[0] = b'Z';
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        read_snapshot(&path),
        Err(JournalError::Snapshot {
            reason: "bad magic",
            ..
        })
    ));
}
