//! Sequence numbers: gaps, ResendRequest (both ways), SequenceReset, PossDup, too low.
mod common;
use arbiter_fix::DisconnectReason;
use common::*;

#[test]
fn app_message_delivered_in_sequence() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("D", 2, &format!("{NOS}453=1|448=TRADER1|447=D|452=11|"));
        assert_eq!(h.app.app_messages.len(), 1);
        assert!(h.sent().is_empty());
        assert_eq!(h.session.next_target_seq(), 3);
    }
}

#[test]
fn gap_triggers_one_bounded_resend_request_and_recovers() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("D", 5, NOS);
        h.recv("D", 6, NOS);
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "one ResendRequest for the gap: {sent:?}");
        assert_eq!(field(&sent[0], 35).as_deref(), Some("2"));
        assert_eq!(field(&sent[0], 7).as_deref(), Some("2"));
        assert_eq!(field(&sent[0], 16).as_deref(), Some("0"));
        assert!(
            h.app.app_messages.is_empty(),
            "out-of-order messages dropped"
        );
        // Counterparty resends: gap fill for 2..4 then PossDup app messages 5, 6.
        let orig = ts(h.now);
        h.recv("4", 2, "123=Y|36=5|");
        h.recv("D", 5, NOS);
        assert_eq!(h.session.next_target_seq(), 6);
        let body = format!(
            "35=D|49=CLIENT|56=ARB|34=6|43=Y|52={}|122={orig}|{NOS}",
            ts(h.now)
        );
        h.recv_body(&body);
        assert_eq!(h.app.app_messages.len(), 2);
        assert_eq!(h.session.next_target_seq(), 7);
        // Gap closed: a new gap asks again.
        h.recv("0", 9, "");
        assert_eq!(field(&h.sent()[0], 7).as_deref(), Some("7"));
    }
}

#[test]
fn logon_with_higher_seq_accepted_then_resend_requested() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        let fields = h.logon_fields();
        h.recv("A", 4, fields);
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("A"));
        assert_eq!(field(&sent[1], 35).as_deref(), Some("2"));
        assert_eq!(field(&sent[1], 7).as_deref(), Some("1"));
        assert!(h.session.is_logged_on());
    }
}

#[test]
fn seq_too_low_without_poss_dup_logs_out_with_text() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("0", 2, "");
        h.recv("0", 2, "");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("5"));
        assert_eq!(
            field(&sent[0], 58).as_deref(),
            Some("MsgSeqNum too low, expecting 3 but received 2")
        );
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::SeqNumTooLow)
        );
    }
}

#[test]
fn poss_dup_already_seen_is_ignored() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("D", 2, NOS);
        let body = format!(
            "35=D|49=CLIENT|56=ARB|34=2|43=Y|52={}|122={}|{NOS}",
            ts(h.now),
            ts(h.now - SEC)
        );
        h.recv_body(&body);
        assert!(h.sent().is_empty());
        assert_eq!(h.app.app_messages.len(), 1);
        assert_eq!(h.disconnect_requested(), None);
        assert_eq!(h.session.counters().duplicates_ignored, 1);
    }
}

#[test]
fn sequence_reset_modes() {
    for v in VERSIONS {
        // Reset mode ignores MsgSeqNum.
        let mut h = Harness::new(v);
        h.logon();
        h.recv("4", 99, "36=10|");
        assert_eq!(h.session.next_target_seq(), 10);
        assert!(h.sent().is_empty());
        // Reset mode lowering the number is rejected (value incorrect, 36).
        h.recv("4", 10, "36=5|");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("3"));
        assert_eq!(field(&sent[0], 373).as_deref(), Some("5"));
        assert_eq!(field(&sent[0], 371).as_deref(), Some("36"));
        assert_eq!(h.session.next_target_seq(), 10);
        // Gap fill moves forward.
        h.recv("4", 10, "123=Y|36=20|");
        assert_eq!(h.session.next_target_seq(), 20);
    }
}

#[test]
fn resend_request_answered_from_store_with_gap_fill_for_admin() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon(); // our seq 1 = Logon (admin)
        let sent_at = h.now;
        for i in 0..2 {
            h.session
                .send(h.now, b"8", &mut h.out, |b| {
                    b.push_str(37, b"O1");
                    b.push_str(17, format!("E{i}").as_bytes());
                    b.push_char(150, b'0');
                    b.push_char(39, b'0');
                    b.push_char(54, b'1');
                    b.push_decimal(151, 100, 0);
                    b.push_decimal(14, 0, 0);
                })
                .unwrap();
        } // seqs 2, 3
        h.recv("1", 2, "112=T1|"); // our Heartbeat seq 4
        h.sent();
        h.now += 5 * SEC;
        h.recv("2", 3, "7=1|16=0|");
        let sent = h.sent();
        let kinds: Vec<_> = sent
            .iter()
            .map(|m| (field(m, 35).unwrap(), field(m, 34).unwrap()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("4".into(), "1".into()),
                ("8".into(), "2".into()),
                ("8".into(), "3".into()),
                ("4".into(), "4".into())
            ]
        );
        assert_eq!(field(&sent[0], 123).as_deref(), Some("Y"));
        assert_eq!(field(&sent[0], 36).as_deref(), Some("2"));
        assert_eq!(field(&sent[3], 36).as_deref(), Some("5"));
        for m in &sent {
            assert_eq!(field(m, 43).as_deref(), Some("Y"));
            assert!(field(m, 122).is_some());
        }
        assert!(field(&sent[1], 122).unwrap().starts_with(&ts(sent_at)));
        assert_eq!(field(&sent[2], 17).as_deref(), Some("E1"));
        assert_eq!(
            h.session.next_sender_seq(),
            5,
            "resend does not consume seqnums"
        );
    }
}

#[test]
fn garbled_messages_ignored_silently() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        let mut bad = wrap(v, &format!("35=0|49=CLIENT|56=ARB|34=2|52={}|", ts(h.now)));
        let n = bad.len();
        bad[n - 3] = if bad[n - 3] == b'0' { b'1' } else { b'0' }; // checksum
        h.feed(&bad);
        h.feed(b"complete garbage\x01\x01=");
        assert!(h.sent().is_empty());
        assert_eq!(h.session.next_target_seq(), 2);
        h.recv("0", 2, "");
        assert_eq!(h.session.next_target_seq(), 3);
        assert!(h.session.counters().garbled >= 2);
    }
}
