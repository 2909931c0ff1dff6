//! Heartbeat, TestRequest, heartbeat timeout and the session schedule, both versions.
mod common;
use arbiter_fix::{DisconnectReason, Schedule, SessionState};
use common::*;

#[test]
fn heartbeat_when_we_are_silent() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("0", 2, ""); // keep inbound fresh
        h.timer(T0 + 29 * SEC);
        assert!(h.sent().is_empty());
        h.recv("0", 3, "");
        h.timer(T0 + 30 * SEC);
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(field(&sent[0], 35).as_deref(), Some("0"));
    }
}

#[test]
fn test_request_answered_with_heartbeat() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("1", 2, "112=PING42|");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("0"));
        assert_eq!(field(&sent[0], 112).as_deref(), Some("PING42"));
    }
}

#[test]
fn silence_gives_test_request_then_disconnect() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.timer(T0 + 35 * SEC); // 30 s + 20% grace = 36 s not reached
        let sent = h.sent();
        assert!(sent.iter().all(|m| field(m, 35).as_deref() == Some("0")));
        h.timer(T0 + 36 * SEC);
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("1"));
        let id = field(&sent[0], 112).unwrap();
        assert!(!id.is_empty());
        h.timer(T0 + 65 * SEC);
        assert_eq!(h.disconnect_requested(), None);
        h.timer(T0 + 66 * SEC);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::HeartbeatTimeout)
        );
    }
}

#[test]
fn answer_to_test_request_keeps_session() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.timer(T0 + 36 * SEC);
        let id = field(&h.sent()[0], 112).unwrap();
        h.now = T0 + 40 * SEC;
        h.recv("0", 2, &format!("112={id}|"));
        h.timer(T0 + 70 * SEC);
        assert_eq!(h.disconnect_requested(), None);
        assert!(h.session.is_logged_on());
    }
}

#[test]
fn schedule_refuses_logon_outside_and_logs_out_at_end_and_resets_daily() {
    // T0 is 12:34:56 UTC.
    for v in VERSIONS {
        let mut c = config(v);
        c.schedule = Some(Schedule {
            start_s: 13 * 3600,
            end_s: 20 * 3600,
        });
        let mut h = Harness::with_config(c);
        let fields = h.logon_fields();
        h.recv("A", 1, fields);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::OutsideSchedule)
        );

        let mut c = config(v);
        c.schedule = Some(Schedule {
            start_s: 12 * 3600,
            end_s: 13 * 3600,
        });
        let mut h = Harness::with_config(c);
        h.logon();
        h.timer(T0 + 1800 * SEC); // 13:04:56
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
        assert!(matches!(h.session.state(), SessionState::LogoutSent { .. }));

        // 24 h session resetting at 12:00: yesterday's store is reset at logon.
        let mut c = config(v);
        c.schedule = Some(Schedule {
            start_s: 12 * 3600,
            end_s: 12 * 3600,
        });
        let mut store = arbiter_fix::MemoryStore::new(T0 - 86_400 * SEC);
        arbiter_fix::MessageStore::set_next_target_seq(&mut store, 50).unwrap();
        let mut h = Harness::with_store(c, store);
        h.logon(); // seq 1 accepted: the store was reset
        assert_eq!(h.session.next_target_seq(), 2);
    }
}
