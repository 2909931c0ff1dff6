//! FIX market data end to end through the daemon: a subscriber's book, built from the W and
//! X messages it receives over TCP, equals the book the orders of another session made;
//! RptSeq has no gaps; bad requests get a MarketDataRequestReject with the right reason;
//! unsubscribing stops the flow; the SecurityList shows the configured instruments; and
//! trading on the subscriber's own session goes on.

mod common;

use std::collections::BTreeMap;

use common::{write_config, Client, Daemon, Fix};

/// A price-level book built from W and X, keyed by price in hundredths.
#[derive(Debug, Default, PartialEq, Eq)]
struct Book {
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
}

fn hundredths(text: &str) -> i64 {
    (text.parse::<f64>().unwrap() * 100.0).round() as i64
}

/// The repeating group entries after NoMDEntries (268), each starting at `delimiter`.
fn entries(msg: &Fix, delimiter: u32) -> Vec<BTreeMap<u32, String>> {
    let mut out: Vec<BTreeMap<u32, String>> = Vec::new();
    let mut inside = false;
    for (tag, value) in &msg.0 {
        if *tag == 268 {
            inside = true;
            continue;
        }
        if !inside || *tag == 10 {
            continue;
        }
        if *tag == delimiter {
            out.push(BTreeMap::new());
        }
        if let Some(entry) = out.last_mut() {
            entry.insert(*tag, value.clone());
        }
    }
    out
}

/// What one subscriber sees of one instrument.
#[derive(Default)]
struct Subscriber {
    book: Book,
    next_rpt_seq: Option<u64>,
    gaps: u32,
    trades: u32,
}

impl Subscriber {
    fn side<'a>(book: &'a mut Book, entry_type: &str) -> Option<&'a mut BTreeMap<i64, u64>> {
        match entry_type {
            "0" => Some(&mut book.bids),
            "1" => Some(&mut book.asks),
            _ => None,
        }
    }

    fn on_message(&mut self, msg: &Fix) {
        match msg.msg_type() {
            "W" => {
                self.book = Book::default();
                self.next_rpt_seq = msg.get(83).map(|s| s.parse::<u64>().unwrap() + 1);
                for entry in entries(msg, 269) {
                    if let Some(side) = Self::side(&mut self.book, &entry[&269]) {
                        side.insert(hundredths(&entry[&270]), entry[&271].parse().unwrap());
                    }
                }
            }
            "X" => {
                for entry in entries(msg, 279) {
                    if let Some(rpt) = entry.get(&83) {
                        let rpt: u64 = rpt.parse().unwrap();
                        if self.next_rpt_seq.is_some_and(|next| next != rpt) {
                            self.gaps += 1;
                        }
                        self.next_rpt_seq = Some(rpt + 1);
                    }
                    if entry[&269] == "2" {
                        self.trades += 1;
                    }
                    let Some(side) = Self::side(&mut self.book, &entry[&269]) else {
                        continue;
                    };
                    let price = hundredths(&entry[&270]);
                    if entry[&279] == "2" {
                        side.remove(&price);
                    } else {
                        side.insert(price, entry[&271].parse().unwrap());
                    }
                }
            }
            _ => {}
        }
    }
}

fn subscribe(client: &mut Client, req_id: &str, symbol: &str, depth: &str, types: &[&str]) {
    let mut fields: Vec<(u32, &str)> = vec![
        (262, req_id),
        (263, "1"),
        (264, depth),
        (265, "1"),
        (266, "Y"),
    ];
    let count = types.len().to_string();
    fields.push((267, &count));
    for t in types {
        fields.push((269, t));
    }
    fields.push((146, "1"));
    fields.push((55, symbol));
    client.send("V", &fields);
}

fn reject(client: &mut Client, req_id: &str) -> Fix {
    client.expect(
        |m| m.msg_type() == "Y" && m.get(262) == Some(req_id),
        &format!("MarketDataRequestReject for {req_id}"),
    )
}

#[test]
fn a_subscriber_sees_the_book_others_make() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "none");
    let daemon = Daemon::start(&config);
    let mut md = Client::connect(daemon.port, "CLIENT1", "FIX.4.4");
    md.logon();
    let mut trader = Client::connect(daemon.port, "CLIENT3", "FIXT.1.1");
    trader.logon();

    trader.new_order("b1", "AAPL", "1", "100", "100.25");
    trader.exec_report("b1", "0");
    subscribe(&mut md, "md1", "AAPL", "5", &["0", "1", "2"]);
    let mut aapl = Subscriber::default();
    let snapshot = md.expect(
        |m| m.msg_type() == "W" && m.get(262) == Some("md1"),
        "the snapshot",
    );
    assert_eq!(snapshot.get(55), Some("AAPL"));
    // The snapshot is the market-data agent's state when it took the request: b1 is in it,
    // or comes as an increment after it.
    aapl.on_message(&snapshot);

    trader.new_order("b2", "AAPL", "1", "10", "100.20");
    trader.exec_report("b2", "0");
    trader.new_order("s1", "AAPL", "2", "50", "101.00");
    trader.exec_report("s1", "0");
    // The other side's order crosses: a trade, and the best bid shrinks.
    let mut seller = Client::connect(daemon.port, "CLIENT4", "FIXT.1.1");
    seller.logon();
    seller.new_order("s2", "AAPL", "2", "40", "100.25");
    seller.exec_report("s2", "F");
    let expected = Book {
        bids: BTreeMap::from([(10025, 60), (10020, 10)]),
        asks: BTreeMap::from([(10100, 50)]),
    };
    while aapl.book != expected || aapl.trades == 0 {
        let msg = md.expect(|_| true, "market data for md1");
        if msg.get(262).is_some_and(|r| r != "md1") {
            continue;
        }
        aapl.on_message(&msg);
    }
    assert_eq!(aapl.gaps, 0, "RptSeq has no gaps");

    // Bad requests: each refused with its reason, nothing else happens.
    subscribe(&mut md, "md1", "MSFT", "5", &["0"]);
    assert_eq!(
        reject(&mut md, "md1").get(281),
        Some("1"),
        "duplicate MDReqID"
    );
    subscribe(&mut md, "bad-sym", "NOPE", "5", &["0"]);
    assert_eq!(
        reject(&mut md, "bad-sym").get(281),
        Some("0"),
        "unknown symbol"
    );
    subscribe(&mut md, "deep", "AAPL", "500", &["0"]);
    assert_eq!(
        reject(&mut md, "deep").get(281),
        Some("5"),
        "depth beyond the limit"
    );
    subscribe(&mut md, "odd", "AAPL", "5", &["9"]);
    assert_eq!(reject(&mut md, "odd").get(281), Some("8"), "entry type");

    // The subscriber still trades.
    md.new_order("own-1", "MSFT", "1", "5", "50.00");
    md.exec_report("own-1", "0");

    // SecurityList with the configured static data.
    md.send("x", &[(320, "sl1"), (559, "4")]);
    let list = md.expect(|m| m.msg_type() == "y", "SecurityList");
    assert_eq!(list.get(320), Some("sl1"));
    let symbols: Vec<&str> = list
        .0
        .iter()
        .filter(|(t, _)| *t == 55)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(symbols, ["AAPL", "MSFT", "ESZ6", "EURUSD"]);
    assert!(list.0.iter().any(|(t, v)| *t == 48 && v == "US0378331005"));

    // Unsubscribe: no AAPL increment arrives before the next MSFT one.
    md.send(
        "V",
        &[
            (262, "md1"),
            (263, "2"),
            (264, "0"),
            (267, "1"),
            (269, "0"),
            (146, "1"),
            (55, "AAPL"),
        ],
    );
    subscribe(&mut md, "md2", "MSFT", "1", &["0", "1"]);
    md.expect(
        |m| m.msg_type() == "W" && m.get(262) == Some("md2"),
        "the MSFT snapshot",
    );
    trader.new_order("b3", "AAPL", "1", "5", "100.30");
    trader.exec_report("b3", "0");
    trader.new_order("b4", "MSFT", "1", "5", "50.10");
    trader.exec_report("b4", "0");
    loop {
        let msg = md.expect(|_| true, "the MSFT increment");
        assert!(
            !(msg.msg_type() == "X" && msg.0.iter().any(|(t, v)| *t == 55 && v == "AAPL")),
            "an AAPL increment after unsubscribing: {msg:?}"
        );
        if msg.msg_type() == "X" && msg.0.iter().any(|(t, v)| *t == 55 && v == "MSFT") {
            break;
        }
    }
    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, _) = daemon.wait();
    assert!(status.success());
}
