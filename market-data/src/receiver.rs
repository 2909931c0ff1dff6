//! The receiving side, without sockets: packets in (in any order, lost or repeated),
//! books out, and what to ask for to fill gaps.
//!
//! Messages are applied strictly in sequence. A message ahead of the next expected one is
//! kept in a bounded buffer; a gap is reported by [`Receiver::recovery`] as a
//! retransmission request for the missing range, and a refusal (the range has left the
//! window), a book inconsistency or a full buffer turn into a snapshot request. The caller
//! does the I/O: [`crate::net`] over UDP/TCP, or a test in process.

use std::collections::BTreeMap;

use crate::book::MarketBooks;
use crate::error::{DecodeError, NetError};
use crate::message::{FeedMessage, FeedSeq};
use crate::packet::{decode_packet, RetransmitRequest, SessionName};
use crate::snapshot::Snapshot;
use crate::window::RETRANSMIT_COUNT_MAX;

/// What the receiver needs to catch up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing: every message known to exist has been applied.
    UpToDate,
    /// Ask the retransmission service for this range.
    Retransmit(RetransmitRequest),
    /// Fetch a snapshot.
    Snapshot,
}

/// Counters for operators and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverCounters {
    /// Packets accepted (data, heartbeat or control).
    pub packets: u64,
    /// Messages applied.
    pub applied: u64,
    /// Messages seen again after they were applied or buffered.
    pub duplicates: u64,
    /// Messages kept because they came ahead of a gap.
    pub buffered: u64,
    /// Packets of another session, ignored.
    pub foreign: u64,
    /// Retransmission refusals received.
    pub refusals: u64,
    /// Snapshots applied.
    pub snapshots: u64,
}

/// A feed receiver: sequencing, gap detection and the books.
#[derive(Debug)]
pub struct Receiver {
    session: Option<SessionName>,
    books: MarketBooks,
    orders_max: usize,
    next: FeedSeq,
    /// One past the highest sequence known to exist.
    known_end: FeedSeq,
    buffer: BTreeMap<FeedSeq, FeedMessage>,
    buffer_max: usize,
    needs_snapshot: bool,
    keep_applied: bool,
    applied: Vec<(FeedSeq, FeedMessage)>,
    counters: ReceiverCounters,
}

impl Receiver {
    /// A receiver expecting message 1 of `session` (or of the first session it hears when
    /// `None`), holding at most `orders_max` orders and buffering at most `buffer_max`
    /// messages ahead of a gap.
    #[must_use]
    pub fn new(session: Option<SessionName>, orders_max: usize, buffer_max: usize) -> Self {
        Receiver {
            session,
            books: MarketBooks::with_capacity(orders_max),
            orders_max,
            next: FeedSeq(1),
            known_end: FeedSeq(1),
            buffer: BTreeMap::new(),
            buffer_max,
            needs_snapshot: false,
            keep_applied: false,
            applied: Vec::new(),
            counters: ReceiverCounters::default(),
        }
    }

    /// Keep every applied message for [`Receiver::take_applied`] (for printing).
    pub fn keep_applied(&mut self, keep: bool) {
        self.keep_applied = keep;
    }

    /// The messages applied since the last call (only when kept).
    pub fn take_applied(&mut self) -> Vec<(FeedSeq, FeedMessage)> {
        std::mem::take(&mut self.applied)
    }

    /// The books.
    #[must_use]
    pub fn books(&self) -> &MarketBooks {
        &self.books
    }

    /// The session heard (or configured).
    #[must_use]
    pub fn session(&self) -> Option<SessionName> {
        self.session
    }

    /// The next sequence to apply.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.next
    }

    /// Counters.
    #[must_use]
    pub fn counters(&self) -> ReceiverCounters {
        self.counters
    }

    /// Takes one packet (feed, retransmission response, refusal or heartbeat).
    ///
    /// # Errors
    /// [`NetError::Decode`] when the packet does not decode; nothing is applied from it.
    pub fn on_packet(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        let packet = decode_packet(bytes)?;
        match self.session {
            None => self.session = Some(packet.session),
            Some(session) if session != packet.session => {
                self.counters.foreign += 1;
                return Ok(());
            }
            Some(_) => {}
        }
        // Decode everything before touching any state.
        let mut messages = Vec::with_capacity(packet.messages.len());
        for body in &packet.messages {
            messages.push(FeedMessage::decode(body)?);
        }
        self.counters.packets += 1;
        if packet.seq.0 == 0 {
            // Control: a retransmission refusal.
            if let [FeedMessage::RetransmitRefusal { next_seq, .. }] = messages[..] {
                self.counters.refusals += 1;
                self.known_end = self.known_end.max(next_seq);
                self.needs_snapshot = true;
                return Ok(());
            }
            return Err(DecodeError::BadField("control packet").into());
        }
        let count = messages.len() as u64;
        self.known_end = self.known_end.max(FeedSeq(packet.seq.0 + count));
        for (offset, message) in (0..).zip(messages) {
            let seq = FeedSeq(packet.seq.0 + offset);
            if seq < self.next || self.buffer.contains_key(&seq) {
                self.counters.duplicates += 1;
            } else if seq == self.next && !self.needs_snapshot {
                self.apply(seq, &message);
            } else if self.buffer.len() < self.buffer_max {
                self.counters.buffered += 1;
                self.buffer.insert(seq, message);
            } else {
                // Too far behind to buffer: the snapshot will cover it.
                self.needs_snapshot = true;
            }
        }
        self.drain_buffer();
        Ok(())
    }

    fn apply(&mut self, seq: FeedSeq, message: &FeedMessage) {
        debug_assert_eq!(seq, self.next);
        if self.books.apply(message).is_err() {
            // The books no longer describe the feed: only a snapshot repairs them.
            self.needs_snapshot = true;
            return;
        }
        self.next.0 += 1;
        self.counters.applied += 1;
        if self.keep_applied {
            self.applied.push((seq, *message));
        }
    }

    fn drain_buffer(&mut self) {
        while !self.needs_snapshot {
            let Some(message) = self.buffer.remove(&self.next) else {
                break;
            };
            self.apply(self.next, &message);
        }
        // Anything below `next` is stale.
        while let Some(entry) = self.buffer.first_entry() {
            if *entry.key() >= self.next {
                break;
            }
            entry.remove();
        }
    }

    /// What to ask for next.
    #[must_use]
    pub fn recovery(&self) -> Recovery {
        if self.needs_snapshot {
            return Recovery::Snapshot;
        }
        if self.next >= self.known_end {
            return Recovery::UpToDate;
        }
        let end = self
            .buffer
            .keys()
            .next()
            .copied()
            .unwrap_or(self.known_end)
            .min(self.known_end);
        let missing = end.0 - self.next.0;
        Recovery::Retransmit(RetransmitRequest {
            session: self.session.unwrap_or(SessionName([b' '; 10])),
            seq: self.next,
            count: u16::try_from(missing.min(u64::from(RETRANSMIT_COUNT_MAX))).expect("bounded"),
        })
    }

    /// Replaces the books with a snapshot, then applies buffered messages after it.
    /// A snapshot older than what was applied is ignored unless the books need repair.
    ///
    /// # Errors
    /// [`DecodeError::BadField`] when the snapshot is of another session.
    pub fn on_snapshot(&mut self, snapshot: Snapshot) -> Result<(), NetError> {
        if let Some(session) = self.session {
            if session != snapshot.session {
                return Err(DecodeError::BadField("session").into());
            }
        }
        self.session = Some(snapshot.session);
        let after = FeedSeq(snapshot.last_seq.0 + 1);
        if after < self.next && !self.needs_snapshot {
            return Ok(());
        }
        self.books = snapshot.books;
        self.next = after;
        self.known_end = self.known_end.max(after);
        self.needs_snapshot = false;
        self.counters.snapshots += 1;
        self.drain_buffer();
        Ok(())
    }

    /// Capacity of the books.
    #[must_use]
    pub fn orders_max(&self) -> usize {
        self.orders_max
    }
}
