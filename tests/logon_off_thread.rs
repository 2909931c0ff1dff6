//! A Logon's argon2 check runs off the gateway thread: while one session's Logon is being
//! verified (a deliberately expensive hash, seconds long), a session already logged on keeps
//! trading, and the Logon completes afterwards.
//!
//! Timing: the assertion is an order of events, not a duration. The hash takes seconds (100
//! passes over 19 MiB); an order's round trip takes milliseconds. With the check on the
//! gateway thread the order's answer could only come after the Logon's.

mod common;

use std::io::ErrorKind;
use std::net::TcpStream;
use std::time::Duration;

use common::{write_config, Client, Daemon};

const PASSWORD: &str = "slow-to-check-7731";

/// An argon2id PHC string with 100 passes (the venue's own hashes use 2).
fn expensive_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    let params = Params::new(19_456, 100, 1, None).unwrap();
    let salt = SaltString::from_b64("c2xvdy1sb2dvbi1zYWx0").unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

#[test]
fn a_slow_logon_does_not_stall_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "sync");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replacen("logon_timeout_ms = 10000", "logon_timeout_ms = 120000", 1)
        .replacen(
            "target_comp_id = \"CLIENT1\"\n",
            &format!(
                "target_comp_id = \"CLIENT1\"\npassword_hash = {:?}\n",
                expensive_hash(PASSWORD)
            ),
            1,
        );
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&config);

    let mut trader = Client::connect(daemon.port, "CLIENT2", "FIX.4.4");
    trader.logon();

    let stream = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    let probe = stream.try_clone().unwrap();
    let mut slow = Client::from_stream(stream, "CLIENT1", "FIX.4.4");
    slow.send("A", &[(98, "0"), (108, "30"), (554, PASSWORD)]);
    // Let the gateway take the Logon first (not needed for the test to pass, only for it
    // to catch a regression: a check on the gateway thread would then block the order).
    std::thread::sleep(Duration::from_millis(300));

    trader.new_order("during-logon", "AAPL", "1", "10", "100.00");
    trader.exec_report("during-logon", "0");
    // The slow Logon has no answer yet.
    probe.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match probe.peek(&mut byte) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the slow Logon was answered before the other session's order: {other:?}"),
    }
    probe.set_nonblocking(false).unwrap();
    slow.expect(|m| m.msg_type() == "A", "Logon after the slow check");
    slow.new_order("after-logon", "AAPL", "2", "5", "101.00");
    slow.exec_report("after-logon", "0");

    assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
    let (status, log) = daemon.wait();
    assert!(status.success(), "{log:?}");
}
