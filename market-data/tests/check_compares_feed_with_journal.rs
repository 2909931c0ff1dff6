//! `arbiter-md check` against a journal written as the daemon writes it (CONFIG, COMMAND,
//! DIGEST records): a publisher that followed the journal as the daemon's market-data agent
//! does serves a snapshot (or the feed) that the check finds equal; a publisher that missed a
//! command is caught with the first difference; a feed sequence inside a command or past the
//! journal's end is reported as such.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command as Process, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbiter_config::{Config, DEFAULT_CONFIG};
use arbiter_engine::wire::{
    decode_record, encode_record, ANNOTATION_BYTES_MAX, COMMAND_BYTES_MAX, RECORD_COMMAND,
    RECORD_CONFIG, RECORD_DIGEST,
};
use arbiter_engine::{
    AccountId, CancelOrder, Command, CommandKind, Engine, InstrumentId, NewOrder, OrdType, OrderId,
    Price, Qty, ReplaceOrder, Seq, SessionId, Side, StrategyId, TimeInForce,
};
use arbiter_journal::{
    Durability, Journal, JournalConfig, JournalId, Reader, RecordType, Sequence, TimestampNs,
};
use arbiter_market_data::net::{
    spawn_retransmit_service, spawn_snapshot_service, FeedConfig, ServiceHandle, UdpFeed,
};
use arbiter_market_data::{Publisher, SessionName, SnapshotFollower};

const AAPL: InstrumentId = InstrumentId(0);
const MSFT: InstrumentId = InstrumentId(1);
const START_NS: u64 = 1_709_285_400_000_000_000;

fn order(
    id: u64,
    instrument: InstrumentId,
    account: u32,
    side: Side,
    price: i64,
    qty: u64,
    tif: TimeInForce,
) -> CommandKind {
    CommandKind::NewOrder(NewOrder {
        order_id: OrderId(id),
        instrument,
        account: AccountId(account),
        strategy: StrategyId(0),
        session: SessionId(account),
        side,
        ord_type: OrdType::Limit,
        tif,
        price: Price(price),
        qty: Qty(qty),
        client_ref: id,
        ..NewOrder::default()
    })
}

fn limit(
    id: u64,
    instrument: InstrumentId,
    account: u32,
    side: Side,
    price: i64,
    qty: u64,
) -> CommandKind {
    order(id, instrument, account, side, price, qty, TimeInForce::Gtc)
}

fn cancel(id: u64, account: u32) -> CommandKind {
    CommandKind::Cancel(CancelOrder {
        order_id: OrderId(id),
        account: AccountId(account),
        session: SessionId(account),
    })
}

/// The body of every journal: books on two instruments, an iceberg, trades, a replace and
/// cancels. Then `ending`.
fn commands(ending: &[CommandKind]) -> Vec<CommandKind> {
    let mut kinds = Vec::new();
    for i in 0..40u64 {
        let account = 1 + u32::try_from(i % 4).unwrap();
        let offset = i64::try_from(i % 10).unwrap() * 5;
        kinds.push(limit(
            100 + i,
            AAPL,
            account,
            Side::Buy,
            15_000 - offset,
            10 + i,
        ));
        kinds.push(limit(
            200 + i,
            AAPL,
            account % 4 + 1,
            Side::Sell,
            15_010 + offset,
            20 + i,
        ));
        kinds.push(limit(
            300 + i,
            MSFT,
            account,
            Side::Sell,
            40_000 + offset,
            5,
        ));
    }
    kinds.push(CommandKind::NewOrder(NewOrder {
        display_qty: Qty(10),
        ..match limit(400, AAPL, 2, Side::Sell, 15_005, 100) {
            CommandKind::NewOrder(o) => o,
            _ => unreachable!(),
        }
    }));
    kinds.push(order(401, AAPL, 3, Side::Buy, 15_010, 35, TimeInForce::Ioc));
    kinds.push(cancel(105, 2));
    kinds.push(CommandKind::Replace(ReplaceOrder {
        order_id: OrderId(110),
        account: AccountId(3),
        session: SessionId(3),
        price: Price(15_000),
        stop_price: Price(0),
        qty: Qty(5),
        client_ref: 1,
    }));
    kinds.push(order(402, MSFT, 4, Side::Buy, 40_020, 12, TimeInForce::Ioc));
    kinds.extend_from_slice(ending);
    kinds
}

/// What [`write_journal`] wrote.
struct Written {
    /// The last record's sequence.
    last: u64,
    /// Each command's sequence.
    commands: Vec<u64>,
}

/// Writes a journal as the daemon does: CONFIG first, then COMMANDs with a DIGEST after
/// every 25.
fn write_journal(dir: &Path, kinds: &[CommandKind]) -> Written {
    let mut journal_config = JournalConfig::new(JournalId(*b"ARBITER-JOURNAL1"));
    journal_config.segment_size_bytes = 64 * 1024;
    journal_config.durability = Durability::None;
    journal_config.prefault = false;
    let (mut writer, _) = Journal::open(dir, journal_config).unwrap();
    let mut engine = Config::parse(DEFAULT_CONFIG).unwrap().engine();
    let mut events = Vec::new();
    let mut buffer = vec![0u8; 1 + COMMAND_BYTES_MAX + ANNOTATION_BYTES_MAX];
    let mut t = START_NS;
    let append = |writer: &mut arbiter_journal::Writer, kind: u16, t: u64, payload: &[u8]| {
        let sequence = writer.next_sequence();
        writer
            .append(RecordType(kind), sequence, TimestampNs(t), payload)
            .unwrap();
        sequence.0
    };
    let mut last = append(&mut writer, RECORD_CONFIG, t, DEFAULT_CONFIG.as_bytes());
    let mut sequences = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        t += 1_000_000;
        let len = encode_record(kind, b"", &mut buffer);
        last = append(&mut writer, RECORD_COMMAND, t, &buffer[..len]);
        sequences.push(last);
        let command = Command::new(Seq(last), arbiter_engine::TimestampNs(t), *kind);
        engine.apply(&command, &mut events);
        if i % 25 == 24 {
            last = append(
                &mut writer,
                RECORD_DIGEST,
                t,
                &engine.digest().to_le_bytes(),
            );
        }
    }
    writer.close().unwrap();
    Written {
        last,
        commands: sequences,
    }
}

/// A publisher that followed the journal as the market-data agent does, except that it
/// skips the command records whose index (0: first command) is in `skip`.
fn follow(dir: &Path, skip: &[usize]) -> (Publisher, SnapshotFollower) {
    let config = Config::parse(DEFAULT_CONFIG).unwrap();
    let mut engine: Engine = config.engine();
    let mut publisher = Publisher::new(
        SessionName::from_text("CHECK"),
        &config.registry(),
        config.engine.orders_max as usize,
        1 << 16,
    );
    // Taken first, as the daemon does: it follows the window from the start.
    let follower = publisher.snapshot_follower();
    publisher.flush(&mut |_: &[u8]| {});
    let reader = Reader::open(dir).unwrap();
    let mut events = Vec::new();
    let mut index = 0;
    for record in reader.iter_from_seq(Sequence(0)) {
        let view = record.unwrap();
        if view.record_type().0 != RECORD_COMMAND {
            continue;
        }
        index += 1;
        if skip.contains(&(index - 1)) {
            continue;
        }
        let seq = Seq(view.sequence().0);
        let timestamp = arbiter_engine::TimestampNs(view.timestamp().0);
        let (command, _) = decode_record(seq, timestamp, view.payload()).unwrap();
        events.clear();
        engine.apply(&command, &mut events);
        publisher
            .publish_command(seq, timestamp, &events, &mut |_: &[u8]| {})
            .unwrap();
    }
    (publisher, follower)
}

fn run_check(dir: &Path, extra: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_arbiter-md"))
        .arg("check")
        .arg("--journal")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn check_snapshot(dir: &Path, follower: SnapshotFollower) -> (Option<i32>, String, String) {
    let service: ServiceHandle =
        spawn_snapshot_service("127.0.0.1:0".parse().unwrap(), follower).unwrap();
    let output = run_check(dir, &["--snapshot", &service.local_addr().to_string()]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn feed_last(publisher: &Publisher) -> u64 {
    publisher.builder().next_seq().0 - 1
}

#[test]
fn snapshot_of_a_publisher_that_followed_the_journal_is_equal() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_journal(dir.path(), &commands(&[]));
    // The journal ends with a DIGEST record; the check stops at the last command.
    let last = *written.commands.last().unwrap();
    assert!(written.last > last);
    let (publisher, follower) = follow(dir.path(), &[]);
    let f = feed_last(&publisher);
    let (code, stdout, stderr) = check_snapshot(dir.path(), follower);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "equal at journal sequence {last} feed sequence {f} session CHECK: 4 instruments,"
        )),
        "{stdout}"
    );
}

#[test]
fn a_publisher_that_missed_a_command_is_caught_at_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    // The last two commands each publish one message: a delete, then an add. The publisher
    // misses the delete, so its feed sequence is where the journal's is after the delete.
    let kinds = commands(&[cancel(120, 1), limit(500, MSFT, 1, Side::Buy, 39_000, 7)]);
    let cancel_index = kinds.len() - 2;
    let written = write_journal(dir.path(), &kinds);
    let (publisher, follower) = follow(dir.path(), &[cancel_index]);
    let f = feed_last(&publisher);
    let (code, stdout, stderr) = check_snapshot(dir.path(), follower);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    // The check stops after the delete: the record before the last command.
    assert!(
        stdout.starts_with(&format!(
            "DIFFERENT at journal sequence {} feed sequence {f} session CHECK:",
            written.commands[cancel_index]
        )),
        "{stdout}"
    );
    // Order 120 (a bid at 15 000) is still in the feed; the journal's book has the next
    // bid in its place.
    assert!(
        stdout.contains("\n  feed vs journal: instrument 0 bid order #"),
        "{stdout}"
    );
    assert!(stdout.contains("feed order 120 30@15000"), "{stdout}");
    assert!(stdout.contains("[AAPL]"), "{stdout}");
    assert!(stdout.contains("\n  journal vs engine: equal"), "{stdout}");
}

#[test]
fn a_feed_sequence_inside_a_command_or_past_the_journal_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // The last command crosses the book: several messages, so a publisher that missed the
    // one-message command before it ends inside it.
    let kinds = commands(&[
        cancel(121, 2),
        order(501, AAPL, 4, Side::Sell, 14_990, 60, TimeInForce::Ioc),
    ]);
    write_journal(dir.path(), &kinds);
    let (_publisher, follower) = follow(dir.path(), &[kinds.len() - 2]);
    let (code, stdout, stderr) = check_snapshot(dir.path(), follower);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("the feed was captured mid-command"),
        "{stderr}"
    );

    // A feed ahead of the journal: the journal without its last two commands.
    let short = tempfile::tempdir().unwrap();
    let last = write_journal(short.path(), &kinds[..kinds.len() - 2]).last;
    let (_publisher, follower) = follow(dir.path(), &[]);
    let (code, stdout, stderr) = check_snapshot(short.path(), follower);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("the journal ends at sequence {last}")),
        "{stderr}"
    );
}

#[test]
fn listening_to_the_feed_recovers_and_is_equal() {
    let dir = tempfile::tempdir().unwrap();
    let last = *write_journal(dir.path(), &commands(&[]))
        .commands
        .last()
        .unwrap();
    let (publisher, _follower) = follow(dir.path(), &[]);
    let f = feed_last(&publisher);
    let retransmit =
        spawn_retransmit_service("127.0.0.1:0".parse().unwrap(), publisher.window_reader())
            .unwrap();
    // A free port for the check to listen on.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut feed_config = FeedConfig::unicast(SocketAddr::from(([127, 0, 0, 1], port)));
    feed_config.heartbeat_interval = Duration::from_millis(50);
    let mut feed = UdpFeed::new(&feed_config, publisher).unwrap();
    // The check joins after everything was published: heartbeats tell it where the feed
    // is, and it recovers all of it by retransmission.
    let stop = Arc::new(AtomicBool::new(false));
    let heartbeats = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                feed.heartbeat_if_idle(std::time::Instant::now());
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let output = run_check(
        dir.path(),
        &[
            "--listen-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--retransmit",
            &retransmit.local_addr().to_string(),
            "--duration-secs",
            "1",
        ],
    );
    stop.store(true, Ordering::Release);
    heartbeats.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!(
            "equal at journal sequence {last} feed sequence {f} session CHECK:"
        )),
        "{stdout}"
    );
}
