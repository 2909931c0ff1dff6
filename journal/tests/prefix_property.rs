//! Any interleaving of appends, seals, flushes, rolls, crashes (drop without close) and
//! reopens yields exactly the records written, in order, verifiable end to end.
mod common;

use arbiter_journal::{verify, Durability, Journal, Sequence, Writer};
use common::{append_to, assert_prefix, config};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append(u64),
    Seal,
    Flush,
    FlusherWork,
    Roll,
    Crash,
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..120).prop_map(Op::Append),
        1 => Just(Op::Seal),
        1 => Just(Op::Flush),
        2 => Just(Op::FlusherWork),
        1 => Just(Op::Roll),
        1 => Just(Op::Crash),
        1 => Just(Op::Close),
    ]
}

fn open(dir: &std::path::Path, expected_next: u64) -> Writer {
    let mut cfg = config(64 * 1024);
    // No writer-side backstop: blocks are sealed by flusher-posted seals, explicit seals
    // and rolls only.
    cfg.seal_interval_records = 0;
    cfg.durability = Durability::Sync;
    let (writer, report) = Journal::open(dir, cfg).unwrap();
    assert_eq!(report.next_sequence, Sequence(expected_next));
    assert!(
        report.truncated.is_none(),
        "clean stops leave no torn tail: {report:?}"
    );
    writer
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn journal_holds_exactly_the_written_prefix(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        // The model: records 1..=written exist, nothing else.
        let mut written = 0u64;
        let mut writer = Some(open(dir.path(), 1));
        let mut flusher = writer.as_ref().unwrap().flusher().unwrap();
        for op in ops {
            let w = writer.as_mut().unwrap();
            match op {
                Op::Append(n) => {
                    written += n;
                    append_to(w, written);
                }
                Op::Seal => {
                    w.seal().unwrap();
                }
                Op::Flush => {
                    flusher.flush_all().unwrap();
                    prop_assert_eq!(w.durable_cursor().get(), Sequence(written));
                }
                Op::FlusherWork => {
                    // The second round sees a quiet writer and posts a seal; the writer
                    // places it at its next append.
                    flusher.do_work().unwrap();
                    flusher.do_work().unwrap();
                }
                Op::Roll => w.roll().unwrap(),
                Op::Crash | Op::Close => {
                    let w = writer.take().unwrap();
                    if matches!(op, Op::Close) { w.close().unwrap() } else { drop(w) }
                    drop(flusher);
                    assert_prefix(dir.path(), 1, written);
                    writer = Some(open(dir.path(), written + 1));
                    flusher = writer.as_ref().unwrap().flusher().unwrap();
                }
            }
        }
        drop(writer);
        assert_prefix(dir.path(), 1, written);
        let report = verify(dir.path()).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.first_problem);
        prop_assert_eq!(report.records, written);
    }
}
