//! The daemon's binary market-data feed end to end: FIX orders in, UDP packets out; a
//! receiver that loses packets recovers them by retransmission, a late joiner by snapshot,
//! and both end with the books rebuilt from the journal alone. A restart goes on with the
//! same feed sequence numbers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use arbiter_engine::wire::{decode_record, RECORD_COMMAND};
use arbiter_engine::{Event, Seq, TimestampNs};
use arbiter_journal::{Sequence, TailReader};
use arbiter_market_data::net::{fetch_snapshot, FeedClient};
use arbiter_market_data::{BookCapacity, Publisher, Receiver, Recovery, SessionName};
use common::{write_config, Client, Daemon};

const SESSION: &str = "ARBTEST";

fn config_with_feed(dir: &Path, feed_port: u16) -> std::path::PathBuf {
    let path = write_config(dir, "none");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(
            "feed = \"127.0.0.1:9910\"",
            &format!("feed = \"127.0.0.1:{feed_port}\""),
        )
        .replace("session = \"ARBITER\"", &format!("session = {SESSION:?}"))
        .replace("heartbeat_ms = 1000", "heartbeat_ms = 100");
    assert!(text.contains(&format!("127.0.0.1:{feed_port}")));
    std::fs::write(&path, text).unwrap();
    path
}

/// The service address a start-up log line announces.
fn announced(daemon: &Daemon, prefix: &str) -> SocketAddr {
    daemon
        .startup
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {:?}", daemon.startup))
        .parse()
        .unwrap()
}

/// The books and next feed sequence a publisher fed from the journal alone has.
fn books_from_journal(config: &Path) -> Publisher {
    let config = arbiter_config::Config::load(config).unwrap();
    let mut engine = config.engine();
    let mut publisher = Publisher::with_capacities(
        SessionName::from_text(SESSION),
        &config.registry(),
        BookCapacity::from_engine(&config.engine_config()),
        1 << 16,
    );
    let mut tail = TailReader::open(config.journal_dir(), Sequence(0)).unwrap();
    let mut events: Vec<Event> = Vec::new();
    while let Some(record) = tail.poll().unwrap() {
        if record.record_type().0 != RECORD_COMMAND {
            continue;
        }
        let (command, _) = decode_record(
            Seq(record.sequence().0),
            TimestampNs(record.timestamp().0),
            record.payload(),
        )
        .unwrap();
        events.clear();
        engine.apply(&command, &mut events);
        publisher
            .publish_command(command.seq, command.timestamp, &events, &mut |_: &[u8]| {})
            .unwrap();
    }
    publisher
}

/// Polls until the receiver has every message up to `feed_next - 1`. With `lossy`, the
/// first copy of every data packet whose first sequence is a multiple of 3 is lost on the
/// way (a retransmitted copy gets through).
fn catch_up(client: &mut FeedClient, feed_next: u64, lossy: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lost = std::collections::HashSet::new();
    while client.receiver().next_seq().0 < feed_next
        || client.receiver().recovery() != Recovery::UpToDate
    {
        assert!(
            Instant::now() < deadline,
            "feed stuck at {} of {feed_next}: {:?} {:?}",
            client.receiver().next_seq().0,
            client.receiver().counters(),
            client.receiver().recovery()
        );
        client
            .poll(Duration::from_millis(50), &mut |packet| {
                let first = u64::from_le_bytes(packet[10..18].try_into().unwrap());
                let count = u16::from_le_bytes(packet[18..20].try_into().unwrap());
                lossy && count > 0 && first % 3 == 0 && lost.insert(first)
            })
            .unwrap();
    }
    assert!(!lossy || !lost.is_empty(), "the test lost no packet");
}

fn feed_next(daemon: &Daemon) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = daemon.admin(&["status"]);
        let live = status.contains("md=live");
        let caught_up = status.contains("md_lag_records=0");
        if live && caught_up {
            let value = status
                .split_whitespace()
                .find_map(|w| w.strip_prefix("md_feed_next="))
                .unwrap();
            return value.parse().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "market data not caught up: {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn trade(client: &mut Client, seller: &mut Client, round: u32) {
    let price = format!("100.{:02}", 10 + round);
    client.new_order(&format!("b{round}"), "AAPL", "1", "100", &price);
    client.exec_report(&format!("b{round}"), "0");
    client.new_order(&format!("b{round}x"), "MSFT", "1", "7", "50.00");
    client.exec_report(&format!("b{round}x"), "0");
    seller.new_order(&format!("s{round}"), "AAPL", "2", "30", "100.00");
    seller.exec_report(&format!("s{round}"), "F");
    seller.new_order(&format!("s{round}r"), "AAPL", "2", "25", "101.00");
    seller.exec_report(&format!("s{round}r"), "0");
    client.send(
        "F",
        &[
            (11, &format!("c{round}")),
            (41, &format!("b{round}x")),
            (55, "MSFT"),
            (54, "1"),
            (60, "20261125-10:00:00"),
        ],
    );
    client.exec_report(&format!("c{round}"), "4");
}

#[test]
fn feed_matches_the_journal_with_losses_late_joiners_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let feed_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let feed_port = feed_socket.local_addr().unwrap().port();
    let config = config_with_feed(dir.path(), feed_port);
    let daemon = Daemon::start(&config);
    let retransmit = announced(&daemon, "arbiter: market-data retransmission on udp://");
    let snapshot = announced(&daemon, "arbiter: market-data snapshots on tcp://");
    let orders_max = 262_144;
    let mut feed = FeedClient::new(
        feed_socket,
        Receiver::new(Some(SessionName::from_text(SESSION)), orders_max, 1 << 16),
        Some(retransmit),
        Some(snapshot),
    );

    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.logon();
    let mut seller = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    seller.logon();
    for round in 0..12 {
        trade(&mut client, &mut seller, round);
    }
    // Packets are lost on the way: retransmission fills the gaps.
    let next = feed_next(&daemon);
    catch_up(&mut feed, next, true);
    assert!(
        feed.receiver().counters().packets > 0,
        "{:?}",
        feed.receiver().counters()
    );

    // A late joiner starts from the snapshot service.
    let late = fetch_snapshot(snapshot, orders_max, Duration::from_secs(5)).unwrap();
    assert_eq!(
        late.last_seq.0 + 1,
        next,
        "the snapshot is at the feed's head"
    );

    let sent = (client.seq, seller.seq);
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, _) = daemon.wait();
    assert!(status.success());
    let publisher = books_from_journal(&config);
    let expected = publisher.builder().books();
    assert_eq!(publisher.builder().next_seq().0, next);
    assert!(
        feed.receiver().books().same_as(expected),
        "the books from the feed differ from the journal's"
    );
    assert!(late.books.same_as(expected), "the snapshot differs");
    let aapl = expected
        .instrument(arbiter_engine::InstrumentId(0))
        .unwrap();
    assert!(aapl.order_count() > 0, "the test left resting AAPL orders");

    // A restart goes on with the same numbering: the receiver needs no snapshot.
    let daemon = Daemon::start(&config);
    let mut client = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    client.seq = sent.0;
    client.logon();
    let mut seller = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    seller.seq = sent.1;
    seller.logon();
    trade(&mut client, &mut seller, 50);
    let next_after = feed_next(&daemon);
    assert!(next_after > next);
    catch_up(&mut feed, next_after, false);
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, _) = daemon.wait();
    assert!(status.success());
    let publisher = books_from_journal(&config);
    assert_eq!(publisher.builder().next_seq().0, next_after);
    assert!(feed.receiver().books().same_as(publisher.builder().books()));
}
