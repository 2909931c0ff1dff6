//! Sequence numbers and sent messages survive a restart (process death after
//! write(2)): a new Session over a reopened FileStore answers a ResendRequest.
mod common;
use arbiter_fix::{DisconnectReason, FileStore, MessageStore};
use common::*;

#[test]
fn restart_keeps_seqnums_and_resend_store() {
    for v in VERSIONS {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = FileStore::open(dir.path(), "ARB-CLIENT", false, T0).unwrap();
            let mut h = Harness::with_store(config(v), store);
            h.logon();
            h.recv("D", 2, NOS);
            h.session
                .send(h.now, b"8", &mut h.out, |b| {
                    b.push_str(37, b"O1");
                    b.push_str(17, b"E1");
                    b.push_char(150, b'0');
                    b.push_char(39, b'0');
                    b.push_char(54, b'1');
                    b.push_decimal(151, 100, 0);
                    b.push_decimal(14, 0, 0);
                })
                .unwrap();
            // Dropped without any orderly shutdown, as after kill -9.
        }
        let store = FileStore::open(dir.path(), "ARB-CLIENT", false, T0).unwrap();
        assert_eq!(store.next_sender_seq(), 3);
        assert_eq!(store.next_target_seq(), 3);
        let mut h = Harness::with_store(config(v), store);
        let fields = h.logon_fields();
        h.recv("A", 3, fields);
        h.recv("2", 4, "7=1|16=0|");
        let sent = h.sent();
        let types: Vec<_> = sent.iter().map(|m| field(m, 35).unwrap()).collect();
        assert_eq!(types, ["A", "4", "8", "4"], "{sent:?}");
        assert_eq!(field(&sent[2], 17).as_deref(), Some("E1"));
        assert_eq!(field(&sent[2], 43).as_deref(), Some("Y"));
        h.session
            .on_disconnect(h.now, DisconnectReason::PeerClosed, &mut h.app);
    }
}
