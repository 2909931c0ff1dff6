//! Bad and unusual market data requests: each gets the right answer (Y with the right
//! MDReqRejReason and text, y / f / h with the right result), never a panic; floods are
//! answered request by request within the queue's room; random V bodies never panic.

mod md_common;

use arbiter_engine::{InstrumentId, Phase, TimestampNs};
use arbiter_fix::dictionary::{tag, SECURITY_LIST_SYM};
use arbiter_fix::market_data::{MdSessionConfig, MdSubscriptions};
use arbiter_fix::{decode, FixVersion, SessionId};
use arbiter_market_data::FeedMessage;
use md_common::{md_config, md_instruments, raw, Client, TestSink};
use proptest::prelude::*;

const ALLOWED: SessionId = SessionId(0);
const DENIED: SessionId = SessionId(1);
const FIXT: SessionId = SessionId(2);

fn setup() -> (MdSubscriptions, TestSink) {
    let config = md_config(3);
    let mut md = MdSubscriptions::new(config, md_instruments(2));
    let versions = vec![FixVersion::Fix44, FixVersion::Fix44, FixVersion::Fixt11];
    let mut sink = TestSink::new(versions.clone(), config.message_bytes_max);
    for (s, version) in versions.into_iter().enumerate() {
        let session = SessionId(u32::try_from(s).unwrap());
        md.open_session(
            session,
            MdSessionConfig {
                allowed: session != DENIED,
                subscriptions_max: 3,
                version,
            },
        );
    }
    for i in 0..2 {
        set_phase(&mut md, &mut sink, i, Phase::Continuous);
    }
    (md, sink)
}

fn set_phase(md: &mut MdSubscriptions, sink: &mut TestSink, instrument: u32, phase: Phase) {
    let message = FeedMessage::InstrumentState {
        timestamp: TimestampNs(1_700_000_000_000_000_000),
        instrument: InstrumentId(instrument),
        phase,
    };
    md.on_feed_message(&message, sink).unwrap();
}

fn send(md: &mut MdSubscriptions, sink: &mut TestSink, session: SessionId, body: &str) {
    let version = sink.versions[session.0 as usize];
    let bytes = raw(
        version,
        &format!("49=C|56=S|34=2|52=20240101-00:00:00|{body}"),
    );
    let msg = decode(&bytes).unwrap();
    assert!(md.on_request(session, &msg, sink));
}

/// What the session received, through a validating client.
fn received(sink: &mut TestSink, session: SessionId) -> Client {
    let mut client = Client::new(sink.versions[session.0 as usize]);
    let messages = sink.take(session.0 as usize);
    client.apply_all(&messages).unwrap();
    client
}

fn v(req_id: &str, sub: u8, depth: u32, types: &str, symbols: &[&str]) -> String {
    let mut body = format!("35=V|262={req_id}|263={sub}|264={depth}|");
    let types: Vec<char> = types.chars().collect();
    body.push_str(&format!("267={}|", types.len()));
    for t in types {
        body.push_str(&format!("269={t}|"));
    }
    body.push_str(&format!("146={}|", symbols.len()));
    for s in symbols {
        body.push_str(&format!("55={s}|"));
    }
    body
}

fn only_reject(client: &Client) -> (String, Option<u8>, String) {
    assert_eq!(client.messages, 1, "{client:?}");
    client.rejects[0].clone()
}

#[test]
fn unknown_symbol() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, ALLOWED, &v("R1", 1, 1, "01", &["NOPE"]));
    let reject = only_reject(&received(&mut sink, ALLOWED));
    assert_eq!(
        reject,
        ("R1".into(), Some(b'0'), "unknown Symbol (55)".into())
    );
    assert_eq!(md.subscription_count(ALLOWED), 0);
}

#[test]
fn duplicate_md_req_id() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, ALLOWED, &v("R1", 1, 1, "01", &["SIM0"]));
    assert!(received(&mut sink, ALLOWED).book("R1", "SIM0").is_some());
    send(&mut md, &mut sink, ALLOWED, &v("R1", 1, 1, "01", &["SIM1"]));
    let (id, reason, text) = only_reject(&received(&mut sink, ALLOWED));
    assert_eq!((id.as_str(), reason), ("R1", Some(b'1')));
    assert!(text.contains("already names a subscription"), "{text}");
    // The same id on another session is not a duplicate.
    send(&mut md, &mut sink, FIXT, &v("R1", 1, 1, "01", &["SIM0"]));
    assert!(received(&mut sink, FIXT).book("R1", "SIM0").is_some());
}

#[test]
fn depth_beyond_the_limit() {
    let (mut md, mut sink) = setup();
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v("R1", 1, 11, "01", &["SIM0"]),
    );
    let (_, reason, text) = only_reject(&received(&mut sink, ALLOWED));
    assert_eq!(reason, Some(b'5'));
    assert_eq!(text, "MarketDepth (264) beyond the configured limit");
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v("R2", 1, 10, "01", &["SIM0"]),
    );
    assert!(received(&mut sink, ALLOWED).book("R2", "SIM0").is_some());
}

#[test]
fn unsupported_entry_type() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, ALLOWED, &v("R1", 1, 1, "06", &["SIM0"]));
    let (_, reason, text) = only_reject(&received(&mut sink, ALLOWED));
    assert_eq!(reason, Some(b'8'));
    assert!(text.starts_with("MDEntryType (269) not served"), "{text}");
}

#[test]
fn too_many_subscriptions() {
    let (mut md, mut sink) = setup();
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v("R1", 1, 1, "01", &["SIM0", "SIM1"]),
    );
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v("R2", 1, 1, "01", &["SIM0", "SIM1"]),
    );
    let client = received(&mut sink, ALLOWED);
    assert_eq!(client.rejects.len(), 1);
    assert_eq!(
        client.rejects[0],
        (
            "R2".into(),
            Some(b'2'),
            "too many subscriptions for this session".into()
        )
    );
    assert_eq!(md.subscription_count(ALLOWED), 2);
    // A snapshot does not hold a subscription: still served.
    send(&mut md, &mut sink, ALLOWED, &v("R3", 0, 1, "01", &["SIM0"]));
    assert!(received(&mut sink, ALLOWED).book("R3", "SIM0").is_some());
    assert_eq!(md.subscription_count(ALLOWED), 2);
}

#[test]
fn market_data_not_allowed() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, DENIED, &v("R1", 1, 1, "01", &["SIM0"]));
    let reject = only_reject(&received(&mut sink, DENIED));
    assert_eq!(
        reject,
        (
            "R1".into(),
            Some(b'3'),
            "market data not allowed for this session".into()
        )
    );
    send(&mut md, &mut sink, DENIED, "35=x|320=L1|559=4|");
    let client = received(&mut sink, DENIED);
    let list = decode(&client.security_lists[0]).unwrap();
    assert_eq!(list.get(tag::SECURITY_REQUEST_RESULT), Some(&b"3"[..]));
}

#[test]
fn unusable_ids_and_unknown_unsubscribe() {
    let (mut md, mut sink) = setup();
    let long = "X".repeat(40);
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v(&long, 1, 1, "01", &["SIM0"]),
    );
    send(&mut md, &mut sink, ALLOWED, "35=V|262=NEVER|263=2|");
    let client = received(&mut sink, ALLOWED);
    assert_eq!(client.rejects[0].0, "?");
    assert_eq!(client.rejects[0].1, None);
    assert_eq!(client.rejects[1].0, "NEVER");
    assert_eq!(client.rejects[1].1, None);
}

#[test]
fn flood_of_requests_is_bounded() {
    let (mut md, mut sink) = setup();
    for i in 0..5000 {
        send(
            &mut md,
            &mut sink,
            ALLOWED,
            &v(&format!("F{i}"), 1, 5, "0127B", &["SIM0"]),
        );
    }
    let client = received(&mut sink, ALLOWED);
    assert_eq!(md.subscription_count(ALLOWED), 3);
    assert_eq!(client.books.len(), 3);
    assert_eq!(client.rejects.len(), 4997);
    assert!(client.rejects.iter().all(|r| r.1 == Some(b'2')));
    // With a queue that fills: answers stop at the room, the rest are counted, not queued.
    sink.room[ALLOWED.0 as usize] = 20_000;
    for i in 0..5000 {
        send(
            &mut md,
            &mut sink,
            ALLOWED,
            &v(&format!("G{i}"), 0, 5, "01", &["SIM1"]),
        );
    }
    let client = received(&mut sink, ALLOWED);
    assert!(
        client.messages > 5 && client.messages < 300,
        "{}",
        client.messages
    );
    assert!(sink.room[ALLOWED.0 as usize] < 1024);
    assert!(md.counters().answers_dropped > 4000);
    assert!(md.counters().answers_dropped + client.messages >= 5000);
}

#[test]
fn security_list() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, FIXT, "35=x|320=L1|559=4|");
    send(&mut md, &mut sink, FIXT, "35=x|320=L2|559=0|55=SIM1|");
    send(&mut md, &mut sink, FIXT, "35=x|320=L3|559=0|55=NOPE|");
    send(&mut md, &mut sink, FIXT, "35=x|320=L4|559=1|");
    let client = received(&mut sink, FIXT);
    let lists: Vec<_> = client
        .security_lists
        .iter()
        .map(|b| decode(b).unwrap())
        .collect();
    let all = &lists[0];
    assert_eq!(all.get(tag::SECURITY_REQUEST_RESULT), Some(&b"0"[..]));
    assert_eq!(all.get(tag::TOT_NO_RELATED_SYM), Some(&b"2"[..]));
    assert_eq!(all.get(tag::LAST_FRAGMENT), Some(&b"Y"[..]));
    let entries: Vec<_> = all.group(&SECURITY_LIST_SYM).collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].get(tag::SYMBOL), Some(&b"SIM0"[..]));
    assert_eq!(entries[0].get(tag::MIN_PRICE_INCREMENT), Some(&b"0.01"[..]));
    assert_eq!(entries[0].get(tag::ROUND_LOT), Some(&b"1"[..]));
    assert_eq!(entries[0].get(tag::CURRENCY), Some(&b"EUR"[..]));
    assert_eq!(entries[0].get(tag::SECURITY_ID), Some(&b"XS0000000001"[..]));
    assert_eq!(entries[0].get(tag::SECURITY_ID_SOURCE), Some(&b"4"[..]));
    assert_eq!(entries[1].get(tag::CURRENCY), None);
    assert_eq!(lists[1].group(&SECURITY_LIST_SYM).count(), 1);
    assert_eq!(lists[2].get(tag::SECURITY_REQUEST_RESULT), Some(&b"2"[..]));
    assert_eq!(lists[3].get(tag::SECURITY_REQUEST_RESULT), Some(&b"1"[..]));
}

#[test]
fn security_and_trading_session_status_follow_every_phase_change() {
    let (mut md, mut sink) = setup();
    send(&mut md, &mut sink, FIXT, "35=e|324=S1|55=SIM0|263=1|");
    send(&mut md, &mut sink, FIXT, "35=e|324=S2|55=NOPE|263=0|");
    send(&mut md, &mut sink, FIXT, "35=g|335=T1|263=1|");
    set_phase(&mut md, &mut sink, 0, Phase::Halted);
    set_phase(&mut md, &mut sink, 1, Phase::Halted);
    set_phase(&mut md, &mut sink, 0, Phase::Continuous);
    set_phase(&mut md, &mut sink, 1, Phase::Closed);
    set_phase(&mut md, &mut sink, 0, Phase::Closed);
    let client = received(&mut sink, FIXT);
    let statuses: Vec<(&str, u64)> = client
        .statuses
        .iter()
        .map(|(s, v)| (s.as_str(), *v))
        .collect();
    // Open, unknown symbol, halted, resumed, closed; SIM1's changes are not subscribed.
    assert_eq!(
        statuses,
        [
            ("SIM0", 17),
            ("NOPE", 20),
            ("SIM0", 2),
            ("SIM0", 3),
            ("SIM0", 18)
        ]
    );
    // Open, then after each change: open, halted, open, open, closed.
    assert_eq!(client.session_statuses, [2, 2, 1, 2, 2, 3]);
    // Unsubscribed: no more.
    send(&mut md, &mut sink, FIXT, "35=e|324=S1|55=SIM0|263=2|");
    send(&mut md, &mut sink, FIXT, "35=g|335=T1|263=2|");
    set_phase(&mut md, &mut sink, 0, Phase::Continuous);
    assert_eq!(received(&mut sink, FIXT).messages, 0);
    assert_eq!(md.subscription_count(FIXT), 0);
}

#[test]
fn order_by_order_needs_full_depth() {
    let (mut md, mut sink) = setup();
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        "35=V|262=R1|263=1|264=5|266=N|267=1|269=0|146=1|55=SIM0|",
    );
    let (_, reason, _) = only_reject(&received(&mut sink, ALLOWED));
    assert_eq!(reason, Some(b'5'));
}

#[test]
fn closed_session_loses_its_subscriptions() {
    let (mut md, mut sink) = setup();
    send(
        &mut md,
        &mut sink,
        ALLOWED,
        &v("R1", 1, 1, "01", &["SIM0", "SIM1"]),
    );
    assert_eq!(md.subscription_count(ALLOWED), 2);
    md.close_session(ALLOWED);
    assert_eq!(md.subscription_count(ALLOWED), 0);
    sink.take(0);
    let add = FeedMessage::AddOrder {
        timestamp: TimestampNs(1),
        instrument: InstrumentId(0),
        order_id: arbiter_engine::OrderId(1),
        side: arbiter_engine::Side::Buy,
        price: arbiter_engine::Price(100),
        qty: arbiter_engine::Qty(1),
    };
    md.on_feed_message(&add, &mut sink).unwrap();
    assert!(sink.take(0).is_empty());
    // Not logged on: refused as not entitled.
    send(&mut md, &mut sink, ALLOWED, &v("R2", 1, 1, "01", &["SIM0"]));
    assert_eq!(only_reject(&received(&mut sink, ALLOWED)).1, Some(b'3'));
}

/// Requests as QuickFIX initiators send them pass the session layer's dictionary in
/// both versions (so they reach the application).
#[test]
fn typical_requests_pass_the_dictionary() {
    for version in [FixVersion::Fix44, FixVersion::Fixt11] {
        for body in [
            "35=V|262=R1|263=1|264=0|265=1|266=Y|267=3|269=0|269=1|269=2|146=2|55=SIM0|207=ARB|55=SIM1|",
            "35=V|262=R1|263=2|264=0|267=1|269=0|146=1|55=SIM0|",
            "35=x|320=L1|559=4|",
            "35=x|320=L1|559=0|55=SIM0|",
            "35=e|324=S1|55=SIM0|263=1|",
            "35=g|335=T1|263=1|",
        ] {
            let bytes = raw(
                version,
                &format!("{}49=C|56=S|34=2|52=20240101-00:00:00|{}", &body[..5], &body[5..]),
            );
            let msg = decode(&bytes).unwrap();
            let def = arbiter_fix::validate(&msg, version);
            assert!(def.is_ok(), "{version:?} {body}: {def:?}");
        }
    }
}

fn field() -> impl Strategy<Value = String> {
    let tags = prop_oneof![
        Just(262u32),
        Just(263),
        Just(264),
        Just(265),
        Just(266),
        Just(267),
        Just(269),
        Just(146),
        Just(55),
        Just(48),
        1u32..2000,
    ];
    let values = prop_oneof![
        "[0-9]{1,3}",
        "[A-Z0-9]{0,40}",
        Just("SIM0".to_string()),
        Just("SIM1".to_string()),
        Just("Y".to_string()),
        Just("N".to_string()),
        "[ -~]{0,8}".prop_filter("no SOH or pipe", |s| !s.contains('|')),
    ];
    (tags, values).prop_map(|(t, v)| format!("{t}={v}|"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random V bodies: always exactly one answer (a W per instrument or one Y), within
    /// the dictionary, never a panic.
    #[test]
    fn random_market_data_requests_never_panic(fields in proptest::collection::vec(field(), 0..24)) {
        let (mut md, mut sink) = setup();
        let body: String = fields.concat();
        let bytes = raw(FixVersion::Fix44, &format!("35=V|{body}"));
        let Ok(msg) = decode(&bytes) else { return Ok(()); };
        prop_assert!(md.on_request(ALLOWED, &msg, &mut sink));
        let client = received(&mut sink, ALLOWED);
        prop_assert!(client.messages >= 1);
        prop_assert!(client.rejects.len() == usize::from(client.books.is_empty()));
    }
}
