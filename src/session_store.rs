//! The live side of [`crate::session_ledger`]: a FIX message store that keeps the per-node
//! file store (sent messages for resends, exact numbers for a plain restart) and asks for
//! the journal marks that let another node resume the session.
//!
//! The store runs on the gateway thread inside the FIX acceptor. It cannot reach the
//! sequencer ring, so it queues its [`SessionMark`]s on a [`MarkLog`]; the gateway's inbox
//! drains that log before every application message it takes, so a sequence reset reaches
//! the journal before the commands of the new sequence, and after those of the old one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbiter_fix::{FileStore, MessageStore, StoreError};
use crossbeam_queue::ArrayQueue;

use crate::session_ledger::{reservation_for, SessionMark, SENDER_BLOCK};

/// Marks waiting for the gateway to forward them to the sequencer (lock-free, bounded;
/// drained every duty cycle).
pub type MarkLog = Arc<ArrayQueue<SessionMark>>;

/// Marks that may wait at once: far more than the sessions can ask for in one duty cycle.
pub const MARK_LOG_CAPACITY: usize = 4096;

/// A new, empty [`MarkLog`].
#[must_use]
pub fn mark_log() -> MarkLog {
    Arc::new(ArrayQueue::new(MARK_LOG_CAPACITY))
}

/// "Sender sequence numbers up to N are reserved in the journal, durably (and replicated
/// when the cluster requires it)": set by the gateway when a mark's record is released,
/// read by the store before every send.
#[derive(Clone, Debug, Default)]
pub struct Released(Arc<AtomicU64>);

impl Released {
    /// Starting at `through` (what the journal already reserved).
    #[must_use]
    pub fn new(through: u64) -> Released {
        Released(Arc::new(AtomicU64::new(through)))
    }

    /// The released reservation.
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// A mark's record was released: its reservation holds (marks are released in journal
    /// order, so the last one is the one in force, after a reset too).
    pub fn set(&self, through: u64) {
        self.0.store(through, Ordering::Release);
    }
}

/// A [`FileStore`] that sends nothing beyond the journal's released reservation, and asks
/// for marks: a new reservation when half a block is left, and every sequence reset.
#[derive(Debug)]
pub struct JournaledStore {
    inner: FileStore,
    session: u32,
    /// The highest reservation asked for (released or not).
    requested_through: u64,
    released: Released,
    log: MarkLog,
}

impl JournaledStore {
    /// Wraps session `session`'s reconciled file store. `released` starts at what the
    /// journal reserved; a first mark (the store's numbers and a fresh reservation) is
    /// queued at once, so every start journals where each session stands.
    #[must_use]
    pub fn new(inner: FileStore, session: u32, released: Released, log: MarkLog) -> Self {
        let mut store = JournaledStore {
            inner,
            session,
            requested_through: 0,
            released,
            log,
        };
        store.queue_mark(false);
        store
    }

    /// Asks for a reservation covering the next sender number; false when the log is full.
    fn queue_mark(&mut self, reset: bool) -> bool {
        let through = reservation_for(self.inner.next_sender_seq());
        let mark = SessionMark {
            session: self.session,
            reset,
            creation_ns: self.inner.creation_time_ns(),
            next_target: self.inner.next_target_seq(),
            sender_through: through,
        };
        if self.log.push(mark).is_err() {
            return false;
        }
        self.requested_through = through;
        true
    }
}

fn unreserved(seq: u64, released: u64) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "sender sequence number {seq} is beyond the journal's released reservation \
         ({released}): the journal or replication is behind"
    )))
}

impl MessageStore for JournaledStore {
    fn next_sender_seq(&self) -> u64 {
        self.inner.next_sender_seq()
    }

    fn next_target_seq(&self) -> u64 {
        self.inner.next_target_seq()
    }

    /// Called with `seq + 1` once message `seq` is built and before it is sent: refusing
    /// here keeps it off the wire (the session ends with a store failure).
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        let sent = seq.saturating_sub(1);
        let released = self.released.get();
        if sent > released {
            return Err(unreserved(sent, released));
        }
        self.inner.set_next_sender_seq(seq)?;
        if seq + SENDER_BLOCK / 2 > self.requested_through && !self.queue_mark(false) {
            return Err(StoreError::Io(std::io::Error::other(
                "session mark log full",
            )));
        }
        Ok(())
    }

    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        self.inner.set_next_target_seq(seq)
    }

    fn store(&mut self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.store(seq, bytes)
    }

    fn get(&mut self, seq: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        self.inner.get(seq, out)
    }

    fn creation_time_ns(&self) -> u64 {
        self.inner.creation_time_ns()
    }

    /// The reset is journaled with the new sequence's creation time. Until its mark is
    /// released the old reservation still gates sending: a node that never learns of the
    /// reset resumes above it, which is safe for the counterparty.
    fn reset(&mut self, now_ns: u64) -> Result<(), StoreError> {
        self.inner.reset(now_ns)?;
        if self.queue_mark(true) {
            Ok(())
        } else {
            Err(StoreError::Io(std::io::Error::other(
                "session mark log full",
            )))
        }
    }

    fn save_credential(&mut self, configured: &str, current: &str) -> Result<(), StoreError> {
        self.inner.save_credential(configured, current)
    }

    fn load_credential(&self) -> Option<(String, String)> {
        self.inner.load_credential()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(released: &Released, log: &MarkLog) -> (tempfile::TempDir, JournaledStore) {
        let dir = tempfile::tempdir().unwrap();
        let file = FileStore::open(dir.path(), "s", false, 100).unwrap();
        let store = JournaledStore::new(file, 2, released.clone(), Arc::clone(log));
        (dir, store)
    }

    #[test]
    fn opening_queues_a_mark_and_nothing_goes_past_the_released_reservation() {
        let (released, log) = (Released::new(0), mark_log());
        let (_dir, mut store) = store(&released, &log);
        let first = log.pop().unwrap();
        assert_eq!(
            first,
            SessionMark {
                session: 2,
                reset: false,
                creation_ns: 100,
                next_target: 1,
                sender_through: reservation_for(1),
            }
        );
        // Not released yet: message 1 may not go out.
        assert!(store.set_next_sender_seq(2).is_err());
        assert_eq!(store.next_sender_seq(), 1);
        released.set(first.sender_through);
        store.set_next_sender_seq(2).unwrap();
        store
            .set_next_sender_seq(first.sender_through - SENDER_BLOCK / 2)
            .unwrap();
        assert!(
            log.is_empty(),
            "no new reservation while half a block is left"
        );
        // Half a block left: the next reservation is asked for, once.
        store
            .set_next_sender_seq(first.sender_through - SENDER_BLOCK / 2 + 1)
            .unwrap();
        let next = log.pop().unwrap();
        assert!(next.sender_through > first.sender_through);
        assert!(log.is_empty());
        // The rest of the released block is usable, nothing beyond it.
        store.set_next_sender_seq(first.sender_through + 1).unwrap();
        assert!(store.set_next_sender_seq(first.sender_through + 2).is_err());
        released.set(next.sender_through);
        store.set_next_sender_seq(first.sender_through + 2).unwrap();
    }

    #[test]
    fn a_reset_is_marked_with_the_new_sequence() {
        let (released, log) = (Released::new(0), mark_log());
        let (_dir, mut store) = store(&released, &log);
        let _ = log.pop();
        released.set(reservation_for(1));
        store.set_next_sender_seq(5).unwrap();
        store.set_next_target_seq(9).unwrap();
        store.reset(777).unwrap();
        let mark = log.pop().unwrap();
        assert_eq!(
            (mark.reset, mark.creation_ns, mark.next_target),
            (true, 777, 1)
        );
        assert_eq!(mark.sender_through, reservation_for(1));
    }
}
