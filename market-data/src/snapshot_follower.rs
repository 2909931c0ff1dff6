//! The snapshot service's own copy of the books, kept without touching the publisher.
//!
//! The snapshot service used to lock the publisher and encode its books. Now the publisher
//! has a single owner and no lock, so the service keeps a replica: a [`SnapshotFollower`]
//! reads the committed messages from the retransmission window (lock-free, see
//! `window.rs`) and applies them to its own [`MarketBooks`], exactly as a receiver would.
//! A snapshot is the replica at the end of a finished command, with that feed sequence.
//!
//! If the follower falls more than the window behind (its thread was starved, or the
//! window is small), the messages it missed are gone; it then asks the publisher for a
//! copy of the books through a [`ResyncMailbox`]. The publisher answers between commands
//! ([`crate::Publisher::flush`], and its owner's idle path) and only if the mailbox is free
//! at that moment (`try_lock`): it never waits. Checking for a request costs it one relaxed
//! atomic load per command. The copy goes into books the follower handed over (no
//! allocation once the follower's spare has seen every instrument), so the only cost is one
//! copy of the book, and only when a snapshot is asked for while the replica is stale.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::book::MarketBooks;
use crate::message::{FeedMessage, FeedSeq, MESSAGE_BYTES_MAX};
use crate::packet::SessionName;
use crate::snapshot::encode_snapshot;
use crate::window::WindowReader;

/// The state of a resynchronisation.
#[derive(Debug)]
enum Resync {
    /// Nothing asked.
    Idle,
    /// The follower asks for a copy into these books.
    Requested(Box<MarketBooks>),
    /// The publisher's books as after message `last_seq`.
    Done {
        books: Box<MarketBooks>,
        last_seq: FeedSeq,
    },
}

/// Where the snapshot follower asks the publisher for a copy of its books.
#[derive(Debug)]
pub struct ResyncMailbox {
    /// Set by the follower with a request in `state`; the publisher's cheap check.
    wanted: AtomicBool,
    state: Mutex<Resync>,
}

impl ResyncMailbox {
    /// An empty mailbox.
    #[must_use]
    pub fn new() -> Self {
        ResyncMailbox {
            wanted: AtomicBool::new(false),
            state: Mutex::new(Resync::Idle),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Resync> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publisher side: if a copy is asked for and the mailbox is free right now, copies
    /// `books` (as after message `last_seq`) into it. Never blocks. Returns whether it did.
    pub fn serve(&self, books: &MarketBooks, last_seq: FeedSeq) -> bool {
        if !self.wanted.load(Ordering::Relaxed) {
            return false;
        }
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            // The follower is looking: next time.
            Err(TryLockError::WouldBlock) => return false,
        };
        let Resync::Requested(mut target) = std::mem::replace(&mut *state, Resync::Idle) else {
            return false;
        };
        target.copy_from(books);
        *state = Resync::Done {
            books: target,
            last_seq,
        };
        self.wanted.store(false, Ordering::Release);
        true
    }
}

impl Default for ResyncMailbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a snapshot could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FollowerError {
    /// The replica is stale and the publisher did not answer the resynchronisation in time
    /// (it is stopped, or busy for longer than the timeout).
    ResyncTimeout,
}

impl std::fmt::Display for FollowerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowerError::ResyncTimeout => write!(f, "publisher did not resynchronise in time"),
        }
    }
}

impl std::error::Error for FollowerError {}

/// The snapshot service's replica of the published books (see the module docs).
#[derive(Debug)]
pub struct SnapshotFollower {
    session: SessionName,
    window: WindowReader,
    mailbox: Arc<ResyncMailbox>,
    books: Box<MarketBooks>,
    /// Books handed to the publisher for the next resynchronisation.
    spare: Option<Box<MarketBooks>>,
    /// The next message to apply.
    next: FeedSeq,
    /// Messages were missed (lapped) or did not apply: only a resynchronisation repairs.
    stale: bool,
}

impl SnapshotFollower {
    /// A follower of the window `window` whose first message is `first_seq`, with empty
    /// books like `template` (same capacity).
    #[must_use]
    pub fn new(
        window: WindowReader,
        mailbox: Arc<ResyncMailbox>,
        template: &MarketBooks,
        first_seq: FeedSeq,
    ) -> Self {
        SnapshotFollower {
            session: window.session(),
            window,
            mailbox,
            books: Box::new(MarketBooks::with_capacities(template.capacity())),
            spare: None,
            next: first_seq,
            stale: false,
        }
    }

    /// The replica.
    #[must_use]
    pub fn books(&self) -> &MarketBooks {
        &self.books
    }

    /// The replica is as after this message (0: before any).
    #[must_use]
    pub fn last_seq(&self) -> FeedSeq {
        FeedSeq(self.next.0 - 1)
    }

    /// Whether messages were missed since the last resynchronisation.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Applies every committed message not applied yet. Returns how many.
    pub fn catch_up(&mut self) -> u64 {
        if self.stale {
            return 0;
        }
        let committed = self.window.committed_seq();
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        let mut applied = 0;
        while self.next < committed {
            let Some(len) = self.window.read(self.next, &mut bytes) else {
                // Lapped: the message has left the window.
                self.stale = true;
                break;
            };
            let Ok(message) = FeedMessage::decode(&bytes[..len]) else {
                self.stale = true;
                break;
            };
            if self.books.apply(&message).is_err() {
                self.stale = true;
                break;
            }
            self.next.0 += 1;
            applied += 1;
        }
        applied
    }

    /// Asks the publisher for a copy of its books and waits for it (sleeping, never
    /// spinning) up to `timeout`.
    ///
    /// # Errors
    /// [`FollowerError::ResyncTimeout`]; the request stays posted and a later call picks up
    /// the answer.
    pub fn resync(&mut self, timeout: Duration) -> Result<(), FollowerError> {
        {
            let mut state = self.mailbox.lock();
            if matches!(*state, Resync::Idle) {
                let spare = self.spare.take().unwrap_or_else(|| {
                    Box::new(MarketBooks::with_capacities(self.books.capacity()))
                });
                *state = Resync::Requested(spare);
                self.mailbox.wanted.store(true, Ordering::Release);
            }
        }
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(100);
        loop {
            {
                let mut state = self.mailbox.lock();
                if matches!(*state, Resync::Done { .. }) {
                    let Resync::Done { books, last_seq } =
                        std::mem::replace(&mut *state, Resync::Idle)
                    else {
                        unreachable!("matched above");
                    };
                    self.spare = Some(std::mem::replace(&mut self.books, books));
                    self.next = FeedSeq(last_seq.0 + 1);
                    self.stale = false;
                    return Ok(());
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FollowerError::ResyncTimeout);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// A snapshot of the replica, caught up to the last finished command (resynchronised
    /// first if stale).
    ///
    /// # Errors
    /// As [`SnapshotFollower::resync`].
    pub fn snapshot(&mut self, resync_timeout: Duration) -> Result<Vec<u8>, FollowerError> {
        self.catch_up();
        if self.stale {
            self.resync(resync_timeout)?;
            self.catch_up();
        }
        Ok(encode_snapshot(self.session, self.last_seq(), &self.books))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{self, Flow, FlowConfig, SplitMix64};
    use crate::snapshot::decode_snapshot;
    use crate::{BookCapacity, Publisher};

    /// A follower lapped by the publisher goes stale, asks for a copy, gets it between two
    /// commands (the publisher never waits), and follows again from there.
    #[test]
    fn a_lapped_follower_resynchronises_through_the_publisher() {
        let config = FlowConfig::default();
        let mut engine = sim::engine(&config);
        let mut publisher = Publisher::with_capacities(
            SessionName::from_text("FOLLOW"),
            &sim::registry(&config),
            BookCapacity::from_engine(engine.config()),
            64,
        );
        let mut follower = publisher.snapshot_follower();
        let mut rng = SplitMix64(5);
        let mut flow = Flow::new(config, move || rng.next_u64());
        let mut events = Vec::new();
        let mut step = |publisher: &mut Publisher| {
            let command = flow.next_command(&engine);
            events.clear();
            engine.apply(&command.command, &mut events);
            publisher
                .publish_command(
                    command.command.seq,
                    command.command.timestamp,
                    &events,
                    &mut |_| {},
                )
                .unwrap();
        };
        publisher.flush(&mut |_| {});
        for _ in 0..10 {
            step(&mut publisher);
        }
        follower.catch_up();
        assert!(!follower.is_stale());
        assert!(follower.books().same_as(publisher.builder().books()));
        // Lap it: far more than 64 messages.
        for _ in 0..500 {
            step(&mut publisher);
        }
        follower.catch_up();
        assert!(follower.is_stale(), "lapped");
        // The request is posted; the publisher has not been between commands since.
        assert_eq!(
            follower.resync(Duration::ZERO),
            Err(FollowerError::ResyncTimeout)
        );
        step(&mut publisher);
        follower.resync(Duration::ZERO).unwrap();
        assert!(!follower.is_stale());
        assert!(follower.books().same_as(publisher.builder().books()));
        for _ in 0..5 {
            step(&mut publisher);
            follower.catch_up();
        }
        let bytes = follower.snapshot(Duration::ZERO).unwrap();
        let snapshot = decode_snapshot(&bytes, 1 << 14).unwrap();
        assert_eq!(
            snapshot.last_seq,
            FeedSeq(publisher.builder().next_seq().0 - 1)
        );
        assert!(snapshot.books.same_as(publisher.builder().books()));
    }
}
