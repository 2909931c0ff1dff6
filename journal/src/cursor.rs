//! The lock-free "durable up to sequence N" handle.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::types::Sequence;
use crate::writer::Shared;

/// Read-only view of the flusher's progress: every record with a sequence `<= get()` is
/// durable under the configured [`crate::Durability`]. Cheap to clone and to read (one
/// `Acquire` load); the gateway reads it to release held acknowledgements.
#[derive(Clone, Debug)]
pub struct DurableCursor {
    shared: Arc<Shared>,
}

impl DurableCursor {
    pub(crate) fn new(shared: Arc<Shared>) -> DurableCursor {
        DurableCursor { shared }
    }

    /// Last durable sequence; `Sequence(first - 1)` (often 0) when nothing is.
    #[must_use]
    pub fn get(&self) -> Sequence {
        Sequence(self.shared.durable.0.load(Ordering::Acquire))
    }

    /// Last sequence the writer has written (not necessarily durable).
    #[must_use]
    pub fn written(&self) -> Sequence {
        Sequence(self.shared.written.0.sequence.load(Ordering::Acquire))
    }

    /// Whether the flusher or writer hit an error: the cursor will not advance again.
    #[must_use]
    pub fn is_failed(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// Waits until `sequence` is durable, the journal fails, or `timeout` passes; returns
    /// whether it is durable. Backs off with yields then short sleeps (never a busy spin),
    /// for callers off the hot path (tests, tools, slow paths).
    #[must_use]
    pub fn wait_for(&self, sequence: Sequence, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut sleep_us = 10;
        for attempt in 0u32.. {
            if self.get() >= sequence {
                return true;
            }
            if self.is_failed() || Instant::now() >= deadline {
                return self.get() >= sequence;
            }
            if attempt < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(sleep_us));
                sleep_us = (sleep_us * 2).min(1000);
            }
        }
        false
    }
}
