//! Journals for the tests, written as the daemon writes them (CONFIG, COMMAND, DIGEST).
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use arbiter_engine::{
    AccountId, CancelOrder, CommandKind, InstrumentId, MassCancel, NewOrder, OrdType, OrderId,
    Price, Qty, ReplaceOrder, SessionId, Side, StrategyId, TimeInForce,
};
use arbiter_replay::synthetic::JournalBuilder;
use arbiter_replay::{run, Cli, Outcome};
use clap::Parser;

/// 2024-03-01T09:30:00Z.
pub const START_NS: u64 = 1_709_285_400_000_000_000;
/// Small segments so that journals span several files.
pub const SEGMENT_BYTES: u64 = 64 * 1024;
pub const CONFIG: &str = arbiter_config::DEFAULT_CONFIG;

pub const AAPL: InstrumentId = InstrumentId(0);
pub const MSFT: InstrumentId = InstrumentId(1);
pub const ESZ6: InstrumentId = InstrumentId(2);

#[allow(clippy::too_many_arguments)]
pub fn order(
    id: u64,
    instrument: InstrumentId,
    account: u32,
    side: Side,
    ord_type: OrdType,
    tif: TimeInForce,
    price: i64,
    qty: u64,
) -> CommandKind {
    CommandKind::NewOrder(NewOrder {
        order_id: OrderId(id),
        instrument,
        account: AccountId(account),
        strategy: StrategyId(account % 3),
        session: SessionId(account),
        side,
        ord_type,
        tif,
        price: Price(price),
        qty: Qty(qty),
        client_ref: id,
        ..NewOrder::default()
    })
}

pub fn limit(
    id: u64,
    instrument: InstrumentId,
    account: u32,
    side: Side,
    price: i64,
    qty: u64,
) -> CommandKind {
    order(
        id,
        instrument,
        account,
        side,
        OrdType::Limit,
        TimeInForce::Gtc,
        price,
        qty,
    )
}

/// The small scenario of the golden tests: resting orders, a crossing IOC (fill and
/// remainder cancel), a tick reject, a replace, cancels, a market order, a mass cancel and
/// a cancel of an unknown order, with DIGEST records after seq 5 and at the end; records
/// are 1.25 ms apart.
/// Returns the sequence of each record in order.
pub fn scenario(dir: &Path) -> Vec<u64> {
    scenario_with_digest(dir, None)
}

/// As [`scenario`], with the final DIGEST record replaced by `final_digest` if given.
pub fn scenario_with_digest(dir: &Path, final_digest: Option<u64>) -> Vec<u64> {
    let mut b = JournalBuilder::create(dir, SEGMENT_BYTES).unwrap();
    let mut t = START_NS;
    let mut tick = || {
        t += 1_250_000;
        t
    };
    let mut seqs = vec![b.config(START_NS, CONFIG).unwrap()];
    let commands: Vec<(CommandKind, &str)> = vec![
        (limit(1, AAPL, 1, Side::Sell, 15_010, 100), "S1"),
        (limit(2, AAPL, 3, Side::Sell, 15_020, 50), "S2"),
        (limit(3, AAPL, 2, Side::Buy, 15_000, 30), "B1"),
        (
            order(
                4,
                AAPL,
                4,
                Side::Buy,
                OrdType::Limit,
                TimeInForce::Ioc,
                15_010,
                120,
            ),
            "B2",
        ),
    ];
    for (kind, clordid) in &commands {
        seqs.push(b.command(tick(), kind, clordid.as_bytes()).unwrap());
    }
    seqs.push(b.digest(tick()).unwrap());
    let more: Vec<(CommandKind, &str)> = vec![
        (limit(5, ESZ6, 1, Side::Buy, 500_010, 5), "E1"),
        (limit(6, ESZ6, 1, Side::Buy, 500_025, 5), "E2"),
        (
            CommandKind::Replace(ReplaceOrder {
                order_id: OrderId(3),
                account: AccountId(2),
                session: SessionId(2),
                price: Price(15_005),
                stop_price: Price(0),
                qty: Qty(40),
                client_ref: 33,
            }),
            "B1a",
        ),
        (
            CommandKind::Cancel(CancelOrder {
                order_id: OrderId(2),
                account: AccountId(3),
                session: SessionId(3),
            }),
            "S2c",
        ),
        (limit(7, MSFT, 3, Side::Sell, 40_000, 10), "M1"),
        (
            order(
                8,
                MSFT,
                2,
                Side::Buy,
                OrdType::Market,
                TimeInForce::Ioc,
                0,
                4,
            ),
            "M2",
        ),
        (
            CommandKind::MassCancel(MassCancel {
                account: AccountId(3),
                instrument: None,
                side: None,
                session: SessionId(3),
            }),
            "",
        ),
        (
            CommandKind::Cancel(CancelOrder {
                order_id: OrderId(99),
                account: AccountId(1),
                session: SessionId(1),
            }),
            "X99",
        ),
    ];
    for (kind, clordid) in &more {
        seqs.push(b.command(tick(), kind, clordid.as_bytes()).unwrap());
    }
    let at = tick();
    seqs.push(match final_digest {
        Some(value) => b.digest_value(at, value).unwrap(),
        None => b.digest(at).unwrap(),
    });
    b.finish().unwrap();
    seqs
}

/// A larger synthetic journal (several 64 KiB segments).
pub fn synthetic(dir: &Path, commands: u64) {
    arbiter_replay::synthetic::write_synthetic(
        dir,
        CONFIG,
        vec![15_000, 40_000, 500_000, 108_000],
        commands,
        250,
        START_NS,
        SEGMENT_BYTES,
    )
    .unwrap();
}

/// Runs the tool in-process; returns the outcome and what it printed.
pub fn replay(args: &[&str]) -> (Outcome, String) {
    let cli = Cli::try_parse_from(std::iter::once("arbiter-replay").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut out = Vec::new();
    let outcome = run(cli, &mut out).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    (outcome, String::from_utf8(out).unwrap())
}

/// Runs the binary; returns the exit code, stdout and stderr.
pub fn replay_process(args: &[&str]) -> (i32, String, String) {
    let output = Process::new(env!("CARGO_BIN_EXE_arbiter-replay"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Segment files of a journal, in order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// Replaces 16-hex-digit engine digests (after `DIGEST `, `digest=` or `"digest":"`) with
/// `<digest>`: their values belong to the engine's digest function, which `check` tests
/// cover; goldens pin the tool's output, not the engine's hash.
fn mask_digests(text: &str) -> String {
    let mut out = text.to_owned();
    for marker in ["DIGEST ", "digest=", "\"digest\":\""] {
        let mut from = 0;
        while let Some(at) = out[from..].find(marker) {
            let start = from + at + marker.len();
            let end = start + 16;
            if out.len() >= end && out[start..end].bytes().all(|b| b.is_ascii_hexdigit()) {
                out.replace_range(start..end, "<digest>");
            }
            from = start;
        }
    }
    out
}

/// Compares `actual` (digests masked) with the golden file `tests/golden/NAME` (written when
/// missing or when `UPDATE_GOLDEN=1`).
pub fn golden(name: &str, actual: &str) {
    let masked = mask_digests(actual);
    let actual = masked.as_str();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() || !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// Finds the record frame with `sequence` in a segment: (offset, frame length).
pub fn find_frame(segment: &[u8], sequence: u64) -> Option<(usize, usize)> {
    let mut offset = 128;
    while offset + 32 <= segment.len() {
        let len = u32::from_le_bytes(segment[offset..offset + 4].try_into().unwrap()) as usize;
        if len == 0 {
            return None;
        }
        let seq = u64::from_le_bytes(segment[offset + 8..offset + 16].try_into().unwrap());
        let record_type = u16::from_le_bytes(segment[offset + 4..offset + 6].try_into().unwrap());
        if seq == sequence && record_type < 0xFF00 {
            return Some((offset, len));
        }
        offset += (len + 7) & !7;
    }
    None
}

/// Recomputes a frame's CRC after its payload was changed (as a forger would).
pub fn fix_crc(segment: &mut [u8], offset: usize, len: usize) {
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&segment[offset..offset + 28]),
        &segment[offset + 32..offset + len],
    );
    segment[offset + 28..offset + 32].copy_from_slice(&crc.to_le_bytes());
}
