//! FIX session sequence numbers in the journal, so that whichever node rebuilds the state
//! (a restart, a standby taking over) resumes every session at its sequence numbers, not
//! at 1 (docs/cluster.md, "FIX sessions after a failover").
//!
//! Two facts are journaled:
//! * **inbound**: every command a session sent carries the MsgSeqNum of its message (the
//!   annotation's origin trailer, `arbiter_engine::wire::RecordOrigin`), so the next
//!   expected MsgSeqNum is known exactly up to the last journaled command;
//! * **outbound**: a [`SessionMark`] (record type [`RECORD_SESSION`]) reserves the sender
//!   sequence numbers up to `sender_through`. The gateway sends nothing above a reservation
//!   that is not yet released (durable, and replicated under `replicated`), so a new node
//!   that starts at `sender_through + 1` is never below what the client already received
//!   (the client sees a gap, asks for it, and gets a gap fill). Marks also journal every
//!   sequence reset, in order with the commands around it.

use arbiter_engine::wire::RecordOrigin;
use arbiter_fix::{FileStore, MessageStore};

/// Record type of a [`SessionMark`].
pub const RECORD_SESSION: u16 = 5;

/// Sender sequence numbers reserved at a time. A new reservation is asked for when half a
/// block is left; half a block is more than the gateway can hold back waiting for
/// durability (65,536 messages), so reports released ahead of the new mark never run out.
pub const SENDER_BLOCK: u64 = 1 << 17;

/// The reservation that covers sending `next_sender` with more than half a block to spare
/// (at most a block and a half): a whole block past the next multiple of half a block. A
/// node that resumes after a reservation `R` (at `R + 1`) reserves `R + SENDER_BLOCK`, so
/// each failover moves a session's numbers on by one block.
#[must_use]
pub fn reservation_for(next_sender: u64) -> u64 {
    ((next_sender + SENDER_BLOCK / 2) / SENDER_BLOCK + 1) * SENDER_BLOCK
}

/// A journaled fact about one FIX session's sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionMark {
    /// Session index (configuration order).
    pub session: u32,
    /// The sequence numbers were reset (Logon with 141=Y, a daily reset, ...).
    pub reset: bool,
    /// When the session's current sequence started (ns since epoch): a different value
    /// than the journal's last one means a new sequence.
    pub creation_ns: u64,
    /// The next inbound MsgSeqNum expected when the mark was taken.
    pub next_target: u64,
    /// Sender sequence numbers up to this one may be used.
    pub sender_through: u64,
}

const MARK_VERSION: u8 = 1;

impl SessionMark {
    /// Encoded size.
    pub const BYTES: usize = 32;

    /// `[version u8][flags u8][0 u16][session u32][creation u64][next_target u64]
    /// [sender_through u64]`, little-endian; flag bit 0: reset.
    #[must_use]
    pub fn encode(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        out[0] = MARK_VERSION;
        out[1] = u8::from(self.reset);
        out[4..8].copy_from_slice(&self.session.to_le_bytes());
        out[8..16].copy_from_slice(&self.creation_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.next_target.to_le_bytes());
        out[24..32].copy_from_slice(&self.sender_through.to_le_bytes());
        out
    }

    /// Decodes a record payload.
    ///
    /// # Errors
    /// A text when the payload is not a mark this build reads.
    pub fn decode(payload: &[u8]) -> Result<SessionMark, String> {
        if payload.len() != Self::BYTES {
            return Err(format!(
                "session mark is {} bytes, not {}",
                payload.len(),
                Self::BYTES
            ));
        }
        if payload[0] != MARK_VERSION || payload[1] > 1 {
            return Err(format!(
                "session mark version {} flags {} unknown",
                payload[0], payload[1]
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8"));
        Ok(SessionMark {
            session: u32::from_le_bytes(payload[4..8].try_into().expect("4")),
            reset: payload[1] == 1,
            creation_ns: u64_at(8),
            next_target: u64_at(16),
            sender_through: u64_at(24),
        })
    }
}

/// What the journal says of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JournaledSession {
    /// Start of the current sequence (ns since epoch); 0: unknown (no mark journaled yet).
    pub creation_ns: u64,
    /// The next inbound MsgSeqNum: one past the last journaled command's, or a mark's.
    pub next_target: u64,
    /// The highest reserved sender sequence number (0: none).
    pub sender_through: u64,
}

/// Every session's [`JournaledSession`], rebuilt from the journal by replay (and kept in
/// snapshots).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionLedger {
    sessions: Vec<Option<JournaledSession>>,
}

impl SessionLedger {
    fn entry(&mut self, session: u32) -> &mut Option<JournaledSession> {
        let index = session as usize;
        if self.sessions.len() <= index {
            self.sessions.resize(index + 1, None);
        }
        &mut self.sessions[index]
    }

    /// Applies a journaled mark: a reset or another sequence's creation time starts over;
    /// otherwise the numbers only go up.
    pub fn on_mark(&mut self, mark: &SessionMark) {
        let entry = self.entry(mark.session);
        match entry {
            Some(known) if !mark.reset && known.creation_ns == mark.creation_ns => {
                known.next_target = known.next_target.max(mark.next_target);
                known.sender_through = known.sender_through.max(mark.sender_through);
            }
            _ => {
                *entry = Some(JournaledSession {
                    creation_ns: mark.creation_ns,
                    next_target: mark.next_target,
                    sender_through: mark.sender_through,
                });
            }
        }
    }

    /// Applies a journaled command's origin: its message was received.
    pub fn on_origin(&mut self, origin: RecordOrigin) {
        let entry = self
            .entry(origin.session)
            .get_or_insert_with(JournaledSession::default);
        entry.next_target = entry.next_target.max(origin.msg_seq.saturating_add(1));
    }

    /// The journal's view of `session`, if it journaled anything of it.
    #[must_use]
    pub fn get(&self, session: u32) -> Option<JournaledSession> {
        self.sessions.get(session as usize).copied().flatten()
    }
}

/// What [`reconcile`] did to a session's file store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconciled {
    /// Nothing journaled of the session: the file store stands as it is.
    FileOnly,
    /// The file store is of the journal's sequence; the numbers were raised where the
    /// journal knows more.
    Raised,
    /// The file store held another sequence (another node's past, or none): it was reset
    /// to the journal's.
    Replaced,
}

/// Brings a session's file store in line with the journal before the session opens.
///
/// The sender resumes one past the journal's reservation whenever the file store may not
/// have seen every message sent (`clustered`: another node may have sent them; or the
/// store is of another sequence); a single node resumes at its own store's number inside
/// the reservation (no gap after a plain restart). The inbound number is the higher of the
/// journal's and a same-sequence store's: both are never above what the client sent.
///
/// # Errors
/// The store could not be written.
pub fn reconcile(
    store: &mut FileStore,
    journaled: Option<JournaledSession>,
    clustered: bool,
) -> Result<Reconciled, arbiter_fix::StoreError> {
    let Some(journaled) = journaled else {
        return Ok(Reconciled::FileOnly);
    };
    let same_sequence =
        journaled.creation_ns == 0 || store.creation_time_ns() == journaled.creation_ns;
    let after_reservation = journaled.sender_through.saturating_add(1);
    if same_sequence {
        if journaled.next_target > store.next_target_seq() {
            store.set_next_target_seq(journaled.next_target)?;
        }
        if clustered && journaled.sender_through != 0 && store.next_sender_seq() < after_reservation
        {
            store.set_next_sender_seq(after_reservation)?;
        }
        return Ok(Reconciled::Raised);
    }
    store.reset(journaled.creation_ns)?;
    store.set_next_target_seq(journaled.next_target.max(1))?;
    store.set_next_sender_seq(after_reservation.max(1))?;
    Ok(Reconciled::Replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(session: u32, reset: bool, creation: u64, target: u64, through: u64) -> SessionMark {
        SessionMark {
            session,
            reset,
            creation_ns: creation,
            next_target: target,
            sender_through: through,
        }
    }

    #[test]
    fn marks_round_trip_and_bad_bytes_are_refused() {
        let m = mark(3, true, 17, 40, 262_144);
        assert_eq!(SessionMark::decode(&m.encode()), Ok(m));
        assert!(SessionMark::decode(&[0; 5]).is_err());
        let mut bad = m.encode();
        bad[0] = 9;
        assert!(SessionMark::decode(&bad).is_err());
    }

    #[test]
    fn ledger_follows_marks_and_origins_in_journal_order() {
        let mut ledger = SessionLedger::default();
        assert_eq!(ledger.get(1), None);
        ledger.on_mark(&mark(1, false, 100, 5, 16_384));
        ledger.on_origin(RecordOrigin {
            session: 1,
            msg_seq: 9,
        });
        ledger.on_origin(RecordOrigin {
            session: 1,
            msg_seq: 7,
        });
        assert_eq!(
            ledger.get(1),
            Some(JournaledSession {
                creation_ns: 100,
                next_target: 10,
                sender_through: 16_384
            })
        );
        // A reservation of the same sequence only raises.
        ledger.on_mark(&mark(1, false, 100, 8, 32_768));
        assert_eq!(ledger.get(1).unwrap().next_target, 10);
        assert_eq!(ledger.get(1).unwrap().sender_through, 32_768);
        // A reset starts over, and later origins count from it.
        ledger.on_mark(&mark(1, true, 200, 1, 32_768));
        ledger.on_origin(RecordOrigin {
            session: 1,
            msg_seq: 2,
        });
        assert_eq!(
            ledger.get(1),
            Some(JournaledSession {
                creation_ns: 200,
                next_target: 3,
                sender_through: 32_768
            })
        );
        assert_eq!(ledger.get(0), None);
    }

    #[test]
    fn reservations_leave_more_than_half_a_block_and_a_failover_costs_one() {
        let half = SENDER_BLOCK / 2;
        for next in [
            1,
            2,
            half,
            half + 1,
            SENDER_BLOCK - 1,
            SENDER_BLOCK,
            5 * SENDER_BLOCK + 3,
        ] {
            let through = reservation_for(next);
            assert_eq!(through % SENDER_BLOCK, 0);
            assert!(through > next + half, "{next} -> {through}");
            assert!(through <= next + SENDER_BLOCK + half, "{next} -> {through}");
        }
        // Resuming after a reservation reserves exactly one block more.
        assert_eq!(reservation_for(3 * SENDER_BLOCK + 1), 4 * SENDER_BLOCK);
    }

    #[test]
    fn reconcile_resumes_after_the_reservation_or_at_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| FileStore::open(dir.path(), name, false, 100).unwrap();
        let journaled = JournaledSession {
            creation_ns: 100,
            next_target: 12,
            sender_through: 16_384,
        };

        // No journal: the file stands.
        let mut store = open("a");
        assert_eq!(
            reconcile(&mut store, None, true).unwrap(),
            Reconciled::FileOnly
        );
        assert_eq!((store.next_sender_seq(), store.next_target_seq()), (1, 1));

        // Single node, same sequence: the store's own sender number, the higher target.
        let mut store = open("b");
        store.set_next_sender_seq(30).unwrap();
        assert_eq!(
            reconcile(&mut store, Some(journaled), false).unwrap(),
            Reconciled::Raised
        );
        assert_eq!((store.next_sender_seq(), store.next_target_seq()), (30, 12));

        // Clustered: past the reservation (another node may have sent up to it).
        let mut store = open("c");
        store.set_next_sender_seq(30).unwrap();
        reconcile(&mut store, Some(journaled), true).unwrap();
        assert_eq!(store.next_sender_seq(), 16_385);

        // Another sequence in the file (a stale store): replaced by the journal's.
        let mut store = FileStore::open(dir.path(), "d", false, 50).unwrap();
        store.set_next_sender_seq(90_000).unwrap();
        store.set_next_target_seq(70_000).unwrap();
        assert_eq!(
            reconcile(&mut store, Some(journaled), false).unwrap(),
            Reconciled::Replaced
        );
        assert_eq!(
            (
                store.next_sender_seq(),
                store.next_target_seq(),
                store.creation_time_ns()
            ),
            (16_385, 12, 100)
        );
    }
}
