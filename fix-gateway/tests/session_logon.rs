//! Logon, authentication, first-message and duplicate-logon rules, both versions.
mod common;
use arbiter_fix::{DisconnectReason, FixVersion, SessionState};
use common::*;

#[test]
fn logon_echoes_heartbeat_interval_and_version_fields() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        let fields = h.logon_fields();
        h.recv("A", 1, fields);
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let logon = &sent[0];
        assert!(logon.starts_with(&format!("8={}|", String::from_utf8_lossy(v.begin_string()))));
        assert_eq!(field(logon, 108).as_deref(), Some("30"));
        assert_eq!(field(logon, 49).as_deref(), Some("ARB"));
        assert_eq!(field(logon, 56).as_deref(), Some("CLIENT"));
        assert_eq!(field(logon, 34).as_deref(), Some("1"));
        match v {
            FixVersion::Fixt11 => assert_eq!(field(logon, 1137).as_deref(), Some("9")),
            FixVersion::Fix44 => assert_eq!(field(logon, 1137), None),
        }
        assert_eq!(h.session.heartbeat_interval_ns(), 30 * SEC);
        assert_eq!(h.session.next_target_seq(), 2);
        assert_eq!(h.app.logons, 1);
    }
}

#[test]
fn fixt_logon_requires_default_appl_ver_id_9() {
    let mut h = Harness::new(FixVersion::Fixt11);
    h.recv("A", 1, "98=0|108=30|");
    let sent = h.sent();
    assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
    assert_eq!(
        h.disconnect_requested(),
        Some(DisconnectReason::InvalidLogon)
    );
    let mut h = Harness::new(FixVersion::Fixt11);
    h.recv("A", 1, "98=0|108=30|1137=7|");
    assert_eq!(
        h.disconnect_requested(),
        Some(DisconnectReason::InvalidLogon)
    );
}

#[test]
fn reset_seq_num_flag_resets_both_directions() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("0", 2, "");
        h.session
            .on_disconnect(h.now, DisconnectReason::PeerClosed, &mut h.app);
        h.session.on_connect(h.now);
        let fields = format!("{}141=Y|", h.logon_fields());
        h.recv("A", 1, &fields);
        let sent = h.sent();
        assert_eq!(field(&sent[0], 141).as_deref(), Some("Y"));
        assert_eq!(field(&sent[0], 34).as_deref(), Some("1"));
        assert_eq!(h.session.next_target_seq(), 2);
        assert_eq!(h.session.next_sender_seq(), 2);
    }
}

#[test]
fn reset_on_logon_option() {
    for v in VERSIONS {
        let mut c = config(v);
        c.reset_on_logon = true;
        let mut h = Harness::with_config(c);
        h.logon();
        h.recv("0", 2, "");
        h.session
            .on_disconnect(h.now, DisconnectReason::PeerClosed, &mut h.app);
        h.session.on_connect(h.now);
        h.logon(); // seq 1 accepted again
        assert_eq!(h.session.next_target_seq(), 2);
    }
}

#[test]
fn credentials_checked() {
    for v in VERSIONS {
        let mut c = config(v);
        c.username = Some("alice".into());
        c.password_hash = Some(arbiter_fix::credential::hash_password(b"secret").unwrap());
        let mut h = Harness::with_config(c.clone());
        let good = format!("{}553=alice|554=secret|", h.logon_fields());
        h.recv("A", 1, &good);
        assert!(h.session.is_logged_on());

        let mut h = Harness::with_config(c);
        let bad = format!("{}553=alice|554=wrong|", h.logon_fields());
        h.recv("A", 1, &bad);
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
        assert_eq!(
            field(&sent[0], 58).as_deref(),
            Some("Invalid username or password")
        );
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::AuthenticationFailed)
        );
        assert!(!h.session.is_logged_on());
    }
}

#[test]
fn first_message_must_be_logon() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.recv("D", 1, NOS);
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::FirstMessageNotLogon)
        );
        assert!(h.app.app_messages.is_empty());
    }
}

#[test]
fn second_logon_on_active_session_refused() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        let fields = h.logon_fields();
        h.recv("A", 2, fields);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::DuplicateLogon)
        );
    }
}

#[test]
fn heartbeat_interval_bounds() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        let fields = h.logon_fields().replace("108=30", "108=0");
        h.recv("A", 1, &fields);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::InvalidLogon)
        );
    }
}

#[test]
fn logon_seq_too_low_logs_out() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("0", 2, "");
        h.session
            .on_disconnect(h.now, DisconnectReason::PeerClosed, &mut h.app);
        h.session.on_connect(h.now);
        let fields = h.logon_fields();
        h.recv("A", 1, fields);
        let sent = h.sent();
        assert_eq!(
            field(&sent[0], 58).as_deref(),
            Some("MsgSeqNum too low, expecting 3 but received 1")
        );
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::SeqNumTooLow)
        );
    }
}

#[test]
fn logon_timeout() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.timer(T0 + 9 * SEC);
        assert_eq!(h.disconnect_requested(), None);
        h.timer(T0 + 10 * SEC);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::LogonTimeout)
        );
        assert_eq!(h.session.state(), SessionState::Disconnected);
    }
}

#[test]
fn wrong_begin_string_logs_out() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        let other = if v == FixVersion::Fix44 {
            FixVersion::Fixt11
        } else {
            FixVersion::Fix44
        };
        let body = format!(
            "35=A|49=CLIENT|56=ARB|34=1|52={}|98=0|108=30|1137=9|",
            ts(h.now)
        );
        h.feed(&wrap(other, &body));
        let sent = h.sent();
        assert_eq!(
            field(&sent[0], 58).as_deref(),
            Some("Incorrect BeginString")
        );
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::BadBeginString)
        );
    }
}

#[test]
fn logout_handshake_initiated_by_counterparty_and_by_us() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("5", 2, "58=bye|");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::LogoutReceived)
        );

        let mut h = Harness::new(v);
        h.logon();
        h.session.logout(h.now, "done", &mut h.out);
        assert!(matches!(h.session.state(), SessionState::LogoutSent { .. }));
        assert_eq!(field(&h.sent()[0], 58).as_deref(), Some("done"));
        h.recv("5", 2, "");
        assert!(h.sent().is_empty(), "no second Logout");
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::LogoutCompleted)
        );

        let mut h = Harness::new(v);
        h.logon();
        h.session.logout(h.now, "", &mut h.out);
        h.timer(T0 + SEC);
        assert_eq!(h.disconnect_requested(), None);
        h.timer(T0 + 2 * SEC);
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::LogoutTimeout)
        );
    }
}

#[test]
fn reset_on_logout_and_on_disconnect() {
    for v in VERSIONS {
        let mut c = config(v);
        c.reset_on_logout = true;
        let mut h = Harness::with_config(c);
        h.logon();
        h.recv("5", 2, "");
        assert_eq!(h.session.next_target_seq(), 1);
        assert_eq!(h.session.next_sender_seq(), 1);

        let mut c = config(v);
        c.reset_on_disconnect = true;
        let mut h = Harness::with_config(c);
        h.logon();
        h.session
            .on_disconnect(h.now, DisconnectReason::PeerClosed, &mut h.app);
        assert_eq!(h.session.next_target_seq(), 1);
        assert_eq!(h.app.logouts, vec![DisconnectReason::PeerClosed]);
    }
}

#[test]
fn new_password_changes_the_credential_and_is_kept_by_the_store() {
    use arbiter_fix::credential::{hash_password, verify_password};
    use arbiter_fix::MessageStore;
    let v = FixVersion::Fix44;
    let old = hash_password(b"secret").unwrap();
    let mut c = config(v);
    c.password_hash = Some(old.clone());

    // Wrong current password: no change.
    let mut h = Harness::with_config(c.clone());
    let bad = format!("{}554=wrong|925=fresh-one|", h.logon_fields());
    h.recv("A", 1, &bad);
    assert_eq!(
        h.disconnect_requested(),
        Some(DisconnectReason::AuthenticationFailed)
    );
    assert_eq!(h.session.store().load_credential(), None);

    let mut h = Harness::with_config(c.clone());
    let change = format!("{}554=secret|925=fresh-one|", h.logon_fields());
    h.recv("A", 1, &change);
    assert!(h.session.is_logged_on());
    assert!(h.session.take_credential_changed());
    assert!(!h.session.take_credential_changed());
    let current = h.session.config().password_hash.clone().unwrap();
    assert!(verify_password(&current, b"fresh-one"));
    let (replaced, stored) = h.session.store().load_credential().unwrap();
    assert_eq!(
        (replaced.as_str(), stored.as_str()),
        (old.as_str(), current.as_str())
    );
    for secret in ["secret", "fresh-one"] {
        assert!(!replaced.contains(secret) && !stored.contains(secret));
    }

    // A session built over that store uses the new hash while the configuration still
    // holds the old one...
    let mut store = arbiter_fix::MemoryStore::new(0);
    store.save_credential(&old, &current).unwrap();
    let h = Harness::with_store(c.clone(), store);
    assert_eq!(
        h.session.config().password_hash.as_deref(),
        Some(current.as_str())
    );
    // ...and an operator's new hash in the configuration wins over it.
    let mut reset = c.clone();
    reset.password_hash = Some(hash_password(b"operator-reset").unwrap());
    let mut store = arbiter_fix::MemoryStore::new(0);
    store.save_credential(&old, &current).unwrap();
    let h = Harness::with_store(reset.clone(), store);
    assert_eq!(h.session.config().password_hash, reset.password_hash);

    // NewPassword on a session without a password is refused.
    let mut h = Harness::with_config(config(v));
    let change = format!("{}925=fresh-one|", h.logon_fields());
    h.recv("A", 1, &change);
    assert!(!h.session.is_logged_on());
    assert_eq!(
        h.disconnect_requested(),
        Some(DisconnectReason::InvalidLogon)
    );
}

#[test]
fn deferred_credentials_wait_for_the_verdict() {
    use arbiter_fix::credential::{hash_password, verify_password};
    let v = FixVersion::Fix44;
    let mut c = config(v);
    c.password_hash = Some(hash_password(b"secret").unwrap());
    for (password, accepted) in [("secret", true), ("wrong", false)] {
        let mut h = Harness::with_config(c.clone());
        h.session.set_deferred_credentials(true);
        let logon = format!("{}554={password}|925=fresh-one|", h.logon_fields());
        h.recv("A", 1, &logon);
        // Nothing answered yet; the session waits and consumes nothing more.
        assert!(h.sent().is_empty());
        assert!(h.session.is_checking_credentials());
        assert!(!h.session.is_logged_on());
        let heartbeat = wrap(v, &format!("35=0|49=CLIENT|56=ARB|34=2|52={}|", ts(h.now)));
        assert_eq!(h.feed(&heartbeat), 0);
        let check = h.session.take_credential_check().expect("a check");
        assert!(
            h.session.take_credential_check().is_none(),
            "handed out once"
        );
        assert_eq!(check.password, password.as_bytes());
        assert!(!format!("{check:?}").contains(password));
        let verdict = check.run();
        // A verdict for another Logon changes nothing.
        let mut stale = verdict.clone();
        stale.ticket += 1;
        h.session
            .on_credential_verdict(h.now, &stale, &mut h.out, &mut h.app);
        assert!(h.session.is_checking_credentials());
        h.session
            .on_credential_verdict(h.now, &verdict, &mut h.out, &mut h.app);
        assert!(!h.session.is_checking_credentials());
        assert_eq!(h.session.is_logged_on(), accepted);
        let sent = h.sent();
        assert_eq!(
            field(&sent[0], 35).as_deref(),
            Some(if accepted { "A" } else { "5" })
        );
        if accepted {
            let current = h.session.config().password_hash.clone().unwrap();
            assert!(verify_password(&current, b"fresh-one"));
            assert_eq!(h.feed(&heartbeat), heartbeat.len());
        } else {
            assert_eq!(
                h.disconnect_requested(),
                Some(DisconnectReason::AuthenticationFailed)
            );
        }
    }
}
