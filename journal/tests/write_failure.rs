//! When the device stops accepting bytes (injected after N bytes), the writer reports the
//! error, refuses further appends, and recovery returns exactly the records whose append
//! succeeded.
mod common;

use arbiter_journal::{Journal, JournalError, RecordType, Sequence};
use common::{assert_prefix, config, payload, timestamp};

fn run(budget: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(64 * 1024);
    cfg.seal_interval_records = 7;
    cfg.fail_after_bytes = Some(budget);
    let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
    let mut appended = 0u64;
    let error = loop {
        let sequence = appended + 1;
        assert!(sequence < 100_000, "budget {budget} never ran out");
        match writer.append(
            RecordType(1),
            Sequence(sequence),
            timestamp(sequence),
            &payload(sequence),
        ) {
            Ok(()) => appended = sequence,
            Err(e) => break e,
        }
    };
    assert!(matches!(error, JournalError::InjectedFailure), "{error}");
    assert!(writer.is_poisoned());
    let next = appended + 1;
    assert!(matches!(
        writer.append(RecordType(1), Sequence(next), timestamp(next), b""),
        Err(JournalError::Poisoned)
    ));
    assert!(matches!(writer.seal(), Err(JournalError::Poisoned)));
    drop(writer);

    let (writer, report) = Journal::open(dir.path(), config(64 * 1024)).unwrap();
    assert_eq!(
        report.next_sequence,
        Sequence(appended + 1),
        "budget {budget}"
    );
    drop(writer);
    assert_prefix(dir.path(), 1, appended);
    assert!(arbiter_journal::verify(dir.path()).unwrap().is_ok());
}

#[test]
fn recovery_returns_exactly_the_written_prefix() {
    // Small budgets hit the first records and seals byte by byte; larger ones cross
    // segment rolls (64 KiB segments).
    for budget in (0..400).step_by(7).chain(145..156) {
        run(budget);
    }
    for budget in (400..200_000).step_by(4999) {
        run(budget);
    }
}
