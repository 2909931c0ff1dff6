//! One conversation over real TCP on 127.0.0.1 with an ephemeral port: logon,
//! heartbeat, NewOrderSingle delivered to the application, logout. Plus garbage and
//! unknown CompIDs on other connections, which must not disturb it.
mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use arbiter_fix::{
    frame, FixVersion, FrameResult, Gateway, GatewayConfig, MemoryStore, SessionConfig,
};
use common::*;

fn pump(
    gw: &mut Gateway<MemoryStore, Recorder>,
    client: &mut TcpStream,
    want: usize,
) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = Vec::new();
    client
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    for _ in 0..500 {
        gw.poll_once(Some(Duration::from_millis(10))).unwrap();
        let mut chunk = [0u8; 4096];
        match client.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        while let FrameResult::Complete(n) = frame(&buf) {
            got.push(pipes(&buf[..n]));
            buf.drain(..n);
        }
        if got.len() >= want {
            break;
        }
    }
    got
}

#[test]
fn tcp_logon_heartbeat_order_logout() {
    let config = GatewayConfig {
        listen_address: "127.0.0.1:0".parse().unwrap(),
        ..GatewayConfig::default()
    };
    let session = SessionConfig::new(FixVersion::Fix44, "ARB", "CLIENT");
    let mut gw = Gateway::bind(
        config,
        vec![(session, MemoryStore::new(0))],
        Recorder::default(),
    )
    .unwrap();
    let addr = gw.local_addr().unwrap();

    // A garbage connection and an unknown CompID on the side.
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage
        .write_all(b"\x00\x01garbage8=FIX.4.4\x019=abc\x01")
        .unwrap();
    let mut stranger = TcpStream::connect(addr).unwrap();
    let now = || arbiter_fix::system_clock_ns();
    stranger
        .write_all(&wrap(
            FixVersion::Fix44,
            &format!("35=A|49=NOBODY|56=ARB|34=1|52={}|98=0|108=30|", ts(now())),
        ))
        .unwrap();

    let mut client = TcpStream::connect(addr).unwrap();
    client
        .write_all(&wrap(
            FixVersion::Fix44,
            &format!("35=A|49=CLIENT|56=ARB|34=1|52={}|98=0|108=30|", ts(now())),
        ))
        .unwrap();
    let got = pump(&mut gw, &mut client, 1);
    assert_eq!(field(&got[0], 35).as_deref(), Some("A"), "{got:?}");
    assert_eq!(gw.app_mut().logons, 1);

    client
        .write_all(&wrap(
            FixVersion::Fix44,
            &format!("35=1|49=CLIENT|56=ARB|34=2|52={}|112=HB1|", ts(now())),
        ))
        .unwrap();
    let got = pump(&mut gw, &mut client, 1);
    assert_eq!(field(&got[0], 35).as_deref(), Some("0"));
    assert_eq!(field(&got[0], 112).as_deref(), Some("HB1"));

    client
        .write_all(&wrap(
            FixVersion::Fix44,
            &format!("35=D|49=CLIENT|56=ARB|34=3|52={}|{NOS}", ts(now())),
        ))
        .unwrap();
    for _ in 0..200 {
        gw.poll_once(Some(Duration::from_millis(10))).unwrap();
        if !gw.app_mut().app_messages.is_empty() {
            break;
        }
    }
    assert_eq!(gw.app_mut().app_messages.len(), 1);
    assert!(gw.app_mut().app_messages[0].contains("|11=ORD1|"));

    // The application answers with an ExecutionReport.
    let id = arbiter_fix::SessionId(0);
    let seq = gw
        .send(id, b"8", |b| {
            b.push_str(37, b"O1");
            b.push_str(11, b"ORD1");
            b.push_str(17, b"E1");
            b.push_char(150, b'0');
            b.push_char(39, b'0');
            b.push_char(54, b'1');
            b.push_decimal(151, 100, 0);
            b.push_decimal(14, 0, 0);
        })
        .unwrap();
    assert_eq!(seq, 3);
    let got = pump(&mut gw, &mut client, 1);
    assert_eq!(field(&got[0], 35).as_deref(), Some("8"));

    client
        .write_all(&wrap(
            FixVersion::Fix44,
            &format!("35=5|49=CLIENT|56=ARB|34=4|52={}|", ts(now())),
        ))
        .unwrap();
    let got = pump(&mut gw, &mut client, 1);
    assert_eq!(field(&got[0], 35).as_deref(), Some("5"));
    for _ in 0..50 {
        gw.poll_once(Some(Duration::from_millis(5))).unwrap();
    }
    assert!(!gw.session(id).unwrap().is_logged_on());
    assert_eq!(
        gw.app_mut().logouts,
        vec![arbiter_fix::DisconnectReason::LogoutReceived]
    );
    assert!(gw.counters().closed >= 2, "{:?}", gw.counters());
}
