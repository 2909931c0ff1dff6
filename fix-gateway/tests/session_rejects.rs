//! Session-level Reject(3) with RefSeqNum/RefTagID/RefMsgType/SessionRejectReason/Text,
//! CompID and SendingTime problems, both versions.
mod common;
use arbiter_fix::DisconnectReason;
use common::*;

fn rejected(h: &mut Harness, seq: u64, body_rest: &str) -> String {
    h.recv("D", seq, body_rest);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(field(&sent[0], 35).as_deref(), Some("3"));
    assert_eq!(field(&sent[0], 45), Some(seq.to_string()));
    assert_eq!(field(&sent[0], 372).as_deref(), Some("D"));
    sent[0].clone()
}

#[test]
fn invalid_messages_get_reject_with_reason_and_ref_tag() {
    let cases: &[(&str, &str, &str)] = &[
        ("9999=1|", "0", "9999"),
        ("108=30|", "2", "108"),
        ("58=|", "4", "58"),
        ("59=Z|", "5", "59"),
        ("110=x|", "6", "110"),
        ("55=Q|", "13", "55"),
        ("453=2|448=A|", "16", "453"),
        ("453=1|452=1|448=A|", "15", "452"),
    ];
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        let mut seq = 2;
        for (extra, reason, tag) in cases {
            let msg = rejected(&mut h, seq, &format!("{NOS}{extra}"));
            assert_eq!(field(&msg, 373).as_deref(), Some(*reason), "{extra}");
            assert_eq!(field(&msg, 371).as_deref(), Some(*tag), "{extra}");
            assert!(field(&msg, 58).is_some());
            seq += 1;
            assert_eq!(
                h.session.next_target_seq(),
                seq,
                "rejected message consumed its seqnum"
            );
        }
        // Required tag missing (reason 1).
        let msg = rejected(&mut h, seq, "54=1|60=20240229-12:34:56|40=2|38=1|");
        assert_eq!(field(&msg, 373).as_deref(), Some("1"));
        assert_eq!(field(&msg, 371).as_deref(), Some("11"));
        assert!(h.app.app_messages.is_empty());
        assert_eq!(h.disconnect_requested(), None);
    }
}

#[test]
fn invalid_msg_type_rejected() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("ZZ", 2, "");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 373).as_deref(), Some("11"));
        assert_eq!(field(&sent[0], 372).as_deref(), Some("ZZ"));
    }
}

#[test]
fn defined_but_unsupported_msg_type_gets_business_reject() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv("AF", 2, "");
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("j"));
        assert_eq!(field(&sent[0], 380).as_deref(), Some("3"));
        assert_eq!(field(&sent[0], 372).as_deref(), Some("AF"));
        assert_eq!(field(&sent[0], 45).as_deref(), Some("2"));
    }
}

#[test]
fn header_out_of_order_rejected_14() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!(
            "35=D|49=CLIENT|56=ARB|34=2|{NOS}52={}|",
            ts(h.now)
        ));
        let sent = h.sent();
        assert_eq!(field(&sent[0], 373).as_deref(), Some("14"));
        assert_eq!(field(&sent[0], 371).as_deref(), Some("52"));
    }
}

#[test]
fn undecodable_tag_rejected_invalid_tag() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!(
            "35=D|49=CLIENT|56=ARB|34=2|52={}|x1=2|",
            ts(h.now)
        ));
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("3"));
        assert_eq!(field(&sent[0], 373).as_deref(), Some("0"));
        assert_eq!(h.session.next_target_seq(), 3);
    }
}

#[test]
fn wrong_comp_id_reject_9_then_logout() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!("35=0|49=MALLORY|56=ARB|34=2|52={}|", ts(h.now)));
        let sent = h.sent();
        assert_eq!(field(&sent[0], 35).as_deref(), Some("3"));
        assert_eq!(field(&sent[0], 373).as_deref(), Some("9"));
        assert_eq!(field(&sent[0], 371).as_deref(), Some("49"));
        assert_eq!(field(&sent[1], 35).as_deref(), Some("5"));
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::CompIdProblem)
        );
    }
}

#[test]
fn sending_time_accuracy_reject_10_then_logout() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!(
            "35=0|49=CLIENT|56=ARB|34=2|52={}|",
            ts(h.now - 121 * SEC)
        ));
        let sent = h.sent();
        assert_eq!(field(&sent[0], 373).as_deref(), Some("10"));
        assert_eq!(field(&sent[0], 371).as_deref(), Some("52"));
        assert_eq!(field(&sent[1], 35).as_deref(), Some("5"));
        assert_eq!(
            h.disconnect_requested(),
            Some(DisconnectReason::SendingTimeAccuracy)
        );
        // Within 120 s is fine.
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!(
            "35=0|49=CLIENT|56=ARB|34=2|52={}|",
            ts(h.now - 119 * SEC)
        ));
        assert!(h.sent().is_empty());
    }
}

#[test]
fn poss_dup_without_orig_sending_time_rejected() {
    for v in VERSIONS {
        let mut h = Harness::new(v);
        h.logon();
        h.recv_body(&format!(
            "35=D|49=CLIENT|56=ARB|34=2|43=Y|52={}|{NOS}",
            ts(h.now)
        ));
        let sent = h.sent();
        assert_eq!(field(&sent[0], 373).as_deref(), Some("1"));
        assert_eq!(field(&sent[0], 371).as_deref(), Some("122"));
    }
}
