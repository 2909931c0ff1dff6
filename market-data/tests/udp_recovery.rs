//! Over real sockets on 127.0.0.1: a feed with packets lost at the receiver is recovered
//! through the UDP retransmission service; the TCP snapshot service gives the same books;
//! bad requests get clear refusals.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use arbiter_engine::Event;
use arbiter_market_data::net::{
    fetch_snapshot, spawn_retransmit_service, spawn_snapshot_service, FeedClient, FeedConfig,
    UdpFeed,
};
use arbiter_market_data::sim::{self, Flow, FlowConfig, SplitMix64};
use arbiter_market_data::{
    decode_packet, FeedMessage, FeedSeq, Publisher, Receiver, Recovery, RefusalReason,
    RetransmitRequest, SessionName,
};

const LOCAL: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

#[test]
fn lost_packets_are_recovered_over_udp_and_snapshot_matches() {
    let config = FlowConfig::default();
    let mut engine = sim::engine(&config);
    let orders_max = engine.config().orders_max as usize;
    let session = SessionName::from_text("UDPTEST");
    let publisher = Publisher::new(session, &sim::registry(&config), orders_max, 1 << 16);
    let retransmit =
        spawn_retransmit_service(SocketAddr::from(LOCAL), publisher.window_reader()).unwrap();
    let snapshots =
        spawn_snapshot_service(SocketAddr::from(LOCAL), publisher.snapshot_follower()).unwrap();
    let feed_socket = UdpSocket::bind(SocketAddr::from(LOCAL)).unwrap();
    let feed_addr = feed_socket.local_addr().unwrap();
    let mut feed_config = FeedConfig::unicast(feed_addr);
    feed_config.heartbeat_interval = Duration::ZERO;
    let mut feed = UdpFeed::new(&feed_config, publisher).unwrap();
    let mut client = FeedClient::new(
        feed_socket,
        Receiver::new(Some(session), orders_max, 4096),
        Some(retransmit.local_addr()),
        Some(snapshots.local_addr()),
    );
    client.request_timeout = Duration::from_millis(50);

    // Lose the first copy of every data packet whose first sequence is divisible by 5.
    let mut lost_once: HashSet<u64> = HashSet::new();
    let mut drop_packet = |bytes: &[u8]| match decode_packet(bytes) {
        Ok(packet) if packet.seq.0 % 5 == 0 && !packet.messages.is_empty() => {
            lost_once.insert(packet.seq.0)
        }
        _ => false,
    };

    feed.flush();
    let mut rng = SplitMix64(99);
    let mut flow = Flow::new(config, move || rng.next_u64());
    let mut events: Vec<Event> = Vec::new();
    for _ in 0..400 {
        let command = flow.next_command(&engine);
        events.clear();
        engine.apply(&command.command, &mut events);
        feed.publish_with(|publisher, send| {
            for event in &events {
                publisher
                    .on_event(command.command.seq, command.command.timestamp, event)
                    .unwrap();
                if let Event::Accepted { order_id, .. } = event {
                    publisher.set_display_qty(*order_id, command.display_qty);
                }
            }
            publisher
                .on_command_end(command.command.seq, &mut |p: &[u8]| send(p))
                .unwrap();
        });
        while client
            .poll(Duration::from_millis(1), &mut drop_packet)
            .unwrap()
        {}
    }
    let target = feed.publisher().builder().next_seq();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.receiver().next_seq() < target
        || client.receiver().recovery() != Recovery::UpToDate
    {
        assert!(
            Instant::now() < deadline,
            "no catch-up: {:?}",
            client.receiver().counters()
        );
        feed.heartbeat_if_idle(Instant::now());
        client
            .poll(Duration::from_millis(20), &mut drop_packet)
            .unwrap();
    }
    assert!(!lost_once.is_empty(), "the test lost packets");
    let counters = client.receiver().counters();
    assert_eq!(
        counters.snapshots, 0,
        "the window covered every gap: {counters:?}"
    );
    assert!(client
        .receiver()
        .books()
        .same_as(feed.publisher().builder().books()));
    let snapshot =
        fetch_snapshot(snapshots.local_addr(), orders_max, Duration::from_secs(5)).unwrap();
    assert_eq!(snapshot.last_seq, FeedSeq(target.0 - 1));
    assert!(snapshot.books.same_as(client.receiver().books()));
}

#[test]
fn bad_requests_get_clear_refusals_over_udp() {
    let config = FlowConfig::default();
    let session = SessionName::from_text("BADREQ");
    let mut publisher = Publisher::new(session, &sim::registry(&config), 1024, 2);
    publisher.flush(&mut |_| {});
    let window_next = publisher.window().next_seq();
    let service =
        spawn_retransmit_service(SocketAddr::from(LOCAL), publisher.window_reader()).unwrap();
    let client = UdpSocket::bind(SocketAddr::from(LOCAL)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let request = |seq, count| {
        RetransmitRequest {
            session,
            seq: FeedSeq(seq),
            count,
        }
        .encode()
    };
    let cases: Vec<(Vec<u8>, RefusalReason)> = vec![
        (request(1, 0).to_vec(), RefusalReason::ZeroCount),
        (request(1, u16::MAX).to_vec(), RefusalReason::CountTooLarge),
        (request(1, 1).to_vec(), RefusalReason::BeforeWindow),
        (
            request(window_next.0, 1).to_vec(),
            RefusalReason::NotYetPublished,
        ),
        (vec![0xFF; 7], RefusalReason::Malformed),
        (
            RetransmitRequest {
                session: SessionName::from_text("OTHER"),
                seq: FeedSeq(2),
                count: 1,
            }
            .encode()
            .to_vec(),
            RefusalReason::WrongSession,
        ),
    ];
    let mut buffer = [0u8; 2048];
    for (bytes, expected) in cases {
        client.send_to(&bytes, service.local_addr()).unwrap();
        let (len, _) = client.recv_from(&mut buffer).unwrap();
        let packet = decode_packet(&buffer[..len]).unwrap();
        assert_eq!(packet.seq, FeedSeq(0));
        match FeedMessage::decode(packet.messages[0]).unwrap() {
            FeedMessage::RetransmitRefusal {
                reason, next_seq, ..
            } => {
                assert_eq!(reason, expected);
                assert_eq!(next_seq, window_next);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // A good request still works afterwards.
    client
        .send_to(&request(window_next.0 - 2, 2), service.local_addr())
        .unwrap();
    let (len, _) = client.recv_from(&mut buffer).unwrap();
    let packet = decode_packet(&buffer[..len]).unwrap();
    assert_eq!(
        (packet.seq, packet.messages.len()),
        (FeedSeq(window_next.0 - 2), 2)
    );
}
