//! The engine and the naive reference matcher agree on every generated flow kind: same
//! trades, traded quantity, rejects and checksum, through the same file path that
//! `arbiter-bench book` uses (generate, write, load, replay).

use arbiter_benches::flow;
use arbiter_benches::generate::{generate, write_flow, FlowKind};
use arbiter_benches::naive;
use arbiter_benches::replay::{self, Prepared};

fn check(kind: FlowKind, count: u64, seed: u64) {
    let generated = generate(kind, count, seed);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    write_flow(&generated, "book_checksum", file.as_file()).expect("write flow");
    let ops = flow::load(file.path()).expect("load flow");
    assert_eq!(ops, generated, "the file round-trips");

    let book = naive::replay(&ops);
    let reference = book.totals();
    let prepared = Prepared::new(&ops).expect("prepare");
    let engine = replay::run_untimed(&prepared);
    assert_eq!(
        engine.totals,
        reference,
        "{} seed {seed}: engine vs naive",
        kind.name()
    );
    assert_eq!(
        engine.end,
        book.end_state(),
        "{} seed {seed}: end state",
        kind.name()
    );
    if kind != FlowKind::AddCancel {
        assert!(reference.trades > 0, "{}: the flow trades", kind.name());
    }
    assert!(reference.rejects > 0, "{}: some rejects", kind.name());
}

#[test]
fn mixed_flows_agree() {
    for seed in 1..=3 {
        check(FlowKind::Mixed, 30_000, seed);
    }
}

#[test]
fn addcancel_flows_agree() {
    check(FlowKind::AddCancel, 30_000, 1);
}

#[test]
fn deep_flow_agrees() {
    // The prefill alone is 100,000 lines; 20,000 steady lines follow.
    check(FlowKind::Deep, 120_000, 1);
}

/// Hand-written edge cases: replace keeping priority, replace to a crossing price (trades as
/// the incoming order), replace of a partly filled order (the engine needs the total),
/// FOK exactly fillable and not, IOC remainder, market sweeping an empty side.
#[test]
fn edge_cases_agree() {
    let text = "\
A 1 S 100 10 GTC
A 2 S 100 10 GTC
A 3 S 101 10 GTC
A 4 B 100 4 GTC
R 1 100 3
A 5 B 100 5 GTC
R 2 99 20
A 6 B 98 30 GTC
R 6 101 40
A 7 S 97 5 FOK
A 8 S 90 1000 FOK
A 9 S 50 1 IOC
M 10 S 5
M 11 B 5
X 1
X 3
X 6
R 6 100 1
M 12 B 1
X 99
";
    let ops = flow::parse(text).expect("parse");
    let book = naive::replay(&ops);
    let engine = replay::run_untimed(&Prepared::new(&ops).expect("prepare"));
    assert_eq!(engine.totals, book.totals());
    assert_eq!(engine.end, book.end_state());
}
