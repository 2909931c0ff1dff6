//! What releases a command's reports to the FIX client: the gateway's hold-until-durable
//! waits on [`ReleaseCursor::get`], the minimum of the local durable cursor (under `sync`)
//! and JetStream's replicated cursor (under `replicated`). One hold serves both.
//!
//! [`Fence`] is the other side of clustering at the gateway: once a leader has lost its
//! lease (or its publish was refused), it takes no more orders and logs its sessions out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arbiter_cluster::ReplicatedCursor;
use arbiter_journal::DurableCursor;

/// "Reports of commands up to sequence N may go out". Cheap to read: one or two atomic
/// loads per gateway duty cycle.
#[derive(Clone, Debug)]
pub struct ReleaseCursor {
    /// The journal's cursor; it gates release only under the local `sync` policy.
    journal: DurableCursor,
    local_sync: bool,
    replicated: Option<ReplicatedCursor>,
    /// Set by the cluster supervisor while replication is lost and the policy is
    /// `continue`: release on local durability alone (never reported as replicated).
    local_only: Arc<AtomicBool>,
}

impl ReleaseCursor {
    /// A cursor gating on the local journal under `sync` (`local_sync`) and, if given, on
    /// JetStream acknowledgements. `None` when nothing gates (reports go out at once).
    #[must_use]
    pub fn new(
        journal: DurableCursor,
        local_sync: bool,
        replicated: Option<ReplicatedCursor>,
        local_only: Arc<AtomicBool>,
    ) -> Option<ReleaseCursor> {
        (local_sync || replicated.is_some()).then_some(ReleaseCursor {
            journal,
            local_sync,
            replicated,
            local_only,
        })
    }

    /// The last sequence whose reports may be released.
    #[inline]
    #[must_use]
    pub fn get(&self) -> u64 {
        let local = if self.local_sync {
            self.journal.get().0
        } else {
            u64::MAX
        };
        let replicated = match &self.replicated {
            Some(cursor) if !self.local_only.load(Ordering::Relaxed) => cursor.get().0,
            _ => u64::MAX,
        };
        let released = local.min(replicated);
        if released == u64::MAX {
            // `continue` without a local hold: everything written may go out.
            self.journal.written().0
        } else {
            released
        }
    }

    /// The last sequence the journal writer wrote.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.journal.written().0
    }
}

/// The fencing flag a leader's gateway watches, with the reason for the operator and the
/// sessions' Logout text.
#[derive(Debug, Default)]
pub struct Fence {
    fenced: AtomicBool,
    reason: Mutex<String>,
}

impl Fence {
    /// Trips the fence (first reason wins).
    pub fn trip(&self, reason: &str) {
        if let Ok(mut slot) = self.reason.lock() {
            if slot.is_empty() {
                reason.clone_into(&mut slot);
            }
        }
        self.fenced.store(true, Ordering::Release);
    }

    /// Whether tripped (one atomic load).
    #[inline]
    #[must_use]
    pub fn is_tripped(&self) -> bool {
        self.fenced.load(Ordering::Acquire)
    }

    /// Why it was tripped (empty if not).
    #[must_use]
    pub fn reason(&self) -> String {
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_journal::{
        Durability, Journal, JournalConfig, JournalId, RecordType, Sequence, TimestampNs,
    };

    fn journal(dir: &std::path::Path) -> arbiter_journal::Writer {
        let mut config = JournalConfig::new(JournalId::from_u128(7));
        config.segment_size_bytes = 1 << 20;
        config.durability = Durability::None;
        config.prefault = false;
        let (mut writer, _) = Journal::open(dir, config).unwrap();
        for n in 1..=3 {
            writer
                .append(RecordType(1), Sequence(n), TimestampNs(n), b"x")
                .unwrap();
        }
        writer
    }

    #[test]
    fn release_waits_for_the_slower_cursor_and_continue_falls_back_to_local() {
        let dir = tempfile::tempdir().unwrap();
        let writer = journal(dir.path());
        let local_only = Arc::new(AtomicBool::new(false));
        // Nothing gates: no hold at all.
        assert!(ReleaseCursor::new(
            writer.durable_cursor(),
            false,
            None,
            Arc::clone(&local_only)
        )
        .is_none());
        // `replicated` alone: JetStream acknowledged nothing, so nothing is released.
        let replicated = ReplicatedCursor::default();
        let hold = ReleaseCursor::new(
            writer.durable_cursor(),
            false,
            Some(replicated.clone()),
            Arc::clone(&local_only),
        )
        .unwrap();
        assert_eq!(hold.written(), 3);
        assert_eq!(hold.get(), 0);
        // Replication lost under `continue`: local durability alone releases (here `none`:
        // everything written).
        local_only.store(true, Ordering::Release);
        assert_eq!(hold.get(), 3);
        // `sync` (no flusher ran: nothing durable) under `continue`: the local cursor rules,
        // not "everything written".
        let both = ReleaseCursor::new(writer.durable_cursor(), true, Some(replicated), local_only)
            .unwrap();
        assert_eq!(both.get(), writer.durable_cursor().get().0);
        assert!(both.get() < 3);
    }

    #[test]
    fn fence_keeps_the_first_reason() {
        let fence = Fence::default();
        assert!(!fence.is_tripped());
        assert_eq!(fence.reason(), "");
        fence.trip("lease lost");
        fence.trip("second");
        assert!(fence.is_tripped());
        assert_eq!(fence.reason(), "lease lost");
    }
}
