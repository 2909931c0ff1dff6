//! The retransmission window: the last N published messages in fixed slots allocated at
//! start-up, and the rules for answering "from sequence S, count K".
//!
//! # Sharing without a lock
//!
//! The publisher writes the window; the retransmission service (and the snapshot
//! follower, [`crate::SnapshotFollower`]) read it on their own threads. The publisher must
//! never wait for them, so there is no lock: [`RetransmitWindow`] is the only writer (it is
//! not `Clone`, and `push` takes `&mut self`), and [`WindowReader`]s copy messages out
//! under a per-slot sequence check, a seqlock with the slot's sequence number as its
//! stamp:
//!
//! - writer: stamp := BUSY, release fence, store the bytes, stamp := sequence (release),
//!   then `written` := sequence + 1 (release).
//! - reader: load the stamp (acquire), load the bytes, acquire fence, load the stamp again;
//!   the copy is good only if both loads saw the wanted sequence.
//!
//! A reader that is lapped while copying sees another stamp and treats the message as
//! gone from the window, exactly as if it had asked too late. The bytes are `AtomicU64`
//! words written and read with relaxed order (plain moves on x86), so a torn read is a
//! detected, harmless race, never undefined behaviour. Readers never write shared state,
//! so any number of them cost the writer nothing.
//!
//! Two cursors: `written` (every stored message, what the retransmission service may
//! resend) and `committed` (the end of the last finished command, how far the snapshot
//! follower applies, so that a snapshot always describes a command boundary).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;

use crate::message::{FeedMessage, FeedSeq, RefusalReason, MESSAGE_BYTES_MAX};
use crate::packet::{
    write_header, Packetizer, RetransmitRequest, SessionName, PACKET_HEADER_BYTES,
};

/// Most messages one request may ask for. MoldUDP64 clients sometimes ask for 0xFFFF
/// meaning "as many as you have"; here that is refused so that one request can never make
/// the service send more than a few hundred packets.
pub const RETRANSMIT_COUNT_MAX: u16 = 2048;

/// Words of one slot's message bytes.
const SLOT_WORDS: usize = MESSAGE_BYTES_MAX.div_ceil(8);
/// Stamp of a slot being written (no sequence number reaches it).
const BUSY: u64 = u64::MAX;

/// One message: its sequence number as the stamp, its length, its bytes.
#[derive(Debug)]
struct Slot {
    stamp: AtomicU64,
    len: AtomicU64,
    words: [AtomicU64; SLOT_WORDS],
}

impl Slot {
    fn new() -> Self {
        Slot {
            // 0 is never a message's sequence number: an unwritten slot matches nothing.
            stamp: AtomicU64::new(0),
            len: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The shared part: slots and cursors.
#[derive(Debug)]
struct Ring {
    session: SessionName,
    slots: Box<[Slot]>,
    /// The session's first sequence number (the window never holds anything below it).
    first_seq: FeedSeq,
    /// One past the last stored message.
    written: AtomicU64,
    /// One past the last message of the last finished command.
    committed: AtomicU64,
}

impl Ring {
    fn slot(&self, seq: FeedSeq) -> &Slot {
        let index = usize::try_from(seq.0 % self.slots.len() as u64).expect("fits");
        &self.slots[index]
    }

    fn next_seq(&self) -> FeedSeq {
        FeedSeq(self.written.load(Ordering::Acquire))
    }

    fn first_seq(&self) -> FeedSeq {
        let next = self.written.load(Ordering::Acquire);
        FeedSeq(
            next.saturating_sub(self.slots.len() as u64)
                .max(self.first_seq.0),
        )
    }

    /// Copies message `seq` into `out`; `None` when it is not (or no longer) held.
    fn read(&self, seq: FeedSeq, out: &mut [u8; MESSAGE_BYTES_MAX]) -> Option<usize> {
        if seq.0 == BUSY || seq >= self.next_seq() {
            return None;
        }
        let slot = self.slot(seq);
        if slot.stamp.load(Ordering::Acquire) != seq.0 {
            return None;
        }
        let len = slot.len.load(Ordering::Relaxed);
        let mut words = [0u64; SLOT_WORDS];
        for (word, shared) in words.iter_mut().zip(&slot.words) {
            *word = shared.load(Ordering::Relaxed);
        }
        // Pairs with the writer's release fence: if any word above came from a later
        // write, the stamp below shows it.
        fence(Ordering::Acquire);
        if slot.stamp.load(Ordering::Relaxed) != seq.0 {
            return None;
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&len| len <= MESSAGE_BYTES_MAX)?;
        for (chunk, word) in out.chunks_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
        Some(len)
    }

    fn check(&self, request: &RetransmitRequest) -> Result<(FeedSeq, u16), RefusalReason> {
        if request.session != self.session {
            return Err(RefusalReason::WrongSession);
        }
        if request.count == 0 {
            return Err(RefusalReason::ZeroCount);
        }
        if request.count > RETRANSMIT_COUNT_MAX {
            return Err(RefusalReason::CountTooLarge);
        }
        let next = self.next_seq();
        if request.seq.0 == 0 || request.seq >= next {
            return Err(RefusalReason::NotYetPublished);
        }
        if request.seq < self.first_seq() {
            return Err(RefusalReason::BeforeWindow);
        }
        let available = next.0 - request.seq.0;
        let count = u16::try_from(available.min(u64::from(request.count))).expect("<= count");
        Ok((request.seq, count))
    }

    fn answer(
        &self,
        request_bytes: &[u8],
        send: &mut impl FnMut(&[u8]),
    ) -> Result<u16, RefusalReason> {
        let Ok(request) = RetransmitRequest::decode(request_bytes) else {
            let request = RetransmitRequest {
                session: self.session,
                seq: FeedSeq(0),
                count: 0,
            };
            self.refuse(&request, RefusalReason::Malformed, send);
            return Err(RefusalReason::Malformed);
        };
        let (first, count) = match self.check(&request) {
            Ok(range) => range,
            Err(reason) => {
                self.refuse(&request, reason, send);
                return Err(reason);
            }
        };
        let mut packetizer = Packetizer::new(self.session, first);
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        let mut resent = 0u16;
        for seq in first.0..first.0 + u64::from(count) {
            // Overwritten since the check (the publisher lapped us): what was copied
            // stands, the rest has left the window.
            let Some(len) = self.read(FeedSeq(seq), &mut bytes) else {
                break;
            };
            packetizer.push_encoded(FeedSeq(seq), &bytes[..len], send);
            resent += 1;
        }
        if resent == 0 {
            self.refuse(&request, RefusalReason::BeforeWindow, send);
            return Err(RefusalReason::BeforeWindow);
        }
        packetizer.flush(send);
        Ok(resent)
    }

    fn refuse(
        &self,
        request: &RetransmitRequest,
        reason: RefusalReason,
        send: &mut impl FnMut(&[u8]),
    ) {
        let (first, next) = (self.first_seq(), self.next_seq());
        let refusal = FeedMessage::RetransmitRefusal {
            reason,
            requested_seq: request.seq,
            requested_count: request.count,
            window_first: if first < next { first } else { FeedSeq(0) },
            next_seq: next,
        };
        let mut packet = [0u8; PACKET_HEADER_BYTES + 2 + MESSAGE_BYTES_MAX];
        write_header(&mut packet, self.session, FeedSeq(0), 1);
        let len = refusal.encode(&mut packet[PACKET_HEADER_BYTES + 2..]);
        let len16 = u16::try_from(len).expect("short message");
        packet[PACKET_HEADER_BYTES..PACKET_HEADER_BYTES + 2].copy_from_slice(&len16.to_le_bytes());
        send(&packet[..PACKET_HEADER_BYTES + 2 + len]);
    }
}

/// The last `capacity` messages, encoded, by sequence number: the writing end, owned by
/// the publisher. Readers on other threads take a [`WindowReader`].
#[derive(Debug)]
pub struct RetransmitWindow {
    ring: Arc<Ring>,
    /// The next sequence to store (the writer's own copy of `written`).
    next: FeedSeq,
}

/// A reading end of a [`RetransmitWindow`], for the retransmission service thread. Never
/// blocks and never slows the writer.
#[derive(Clone, Debug)]
pub struct WindowReader {
    ring: Arc<Ring>,
}

impl RetransmitWindow {
    /// A window of `capacity` messages for a session whose first message is `first_seq`.
    ///
    /// # Panics
    /// If `capacity` is zero or `first_seq` is zero.
    #[must_use]
    pub fn new(session: SessionName, capacity: usize, first_seq: FeedSeq) -> Self {
        assert!(
            capacity > 0,
            "a retransmission window holds at least one message"
        );
        assert!(first_seq.0 > 0, "feed sequence numbers start at 1");
        let ring = Ring {
            session,
            slots: (0..capacity).map(|_| Slot::new()).collect(),
            first_seq,
            written: AtomicU64::new(first_seq.0),
            committed: AtomicU64::new(first_seq.0),
        };
        RetransmitWindow {
            ring: Arc::new(ring),
            next: first_seq,
        }
    }

    /// A reading end for another thread.
    #[must_use]
    pub fn reader(&self) -> WindowReader {
        WindowReader {
            ring: Arc::clone(&self.ring),
        }
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionName {
        self.ring.session
    }

    /// First sequence still held (equal to [`RetransmitWindow::next_seq`] when empty).
    #[must_use]
    pub fn first_seq(&self) -> FeedSeq {
        self.ring.first_seq()
    }

    /// Next sequence to be stored.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.next
    }

    /// Stores the next message, overwriting the oldest when full.
    ///
    /// # Panics
    /// If `seq` is not the next sequence or the message is longer than the slot (the
    /// publisher's own numbering and encoder guarantee both).
    pub fn push(&mut self, seq: FeedSeq, message: &[u8]) {
        assert_eq!(seq, self.next, "the window stores contiguous messages");
        assert!(message.len() <= MESSAGE_BYTES_MAX);
        let slot = self.ring.slot(seq);
        slot.stamp.store(BUSY, Ordering::Relaxed);
        // Orders the BUSY stamp before the new bytes for a reader that sees any of them.
        fence(Ordering::Release);
        for (shared, chunk) in slot.words.iter().zip(message.chunks(8)) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            shared.store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        slot.len.store(message.len() as u64, Ordering::Relaxed);
        slot.stamp.store(seq.0, Ordering::Release);
        self.next.0 += 1;
        self.ring.written.store(self.next.0, Ordering::Release);
    }

    /// Encodes and stores the next message.
    ///
    /// # Panics
    /// As [`RetransmitWindow::push`].
    pub fn push_message(&mut self, seq: FeedSeq, message: &FeedMessage) {
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        let len = message.encode(&mut bytes);
        self.push(seq, &bytes[..len]);
    }

    /// Marks everything stored so far as a finished command (what the snapshot follower
    /// may apply).
    pub fn commit(&mut self) {
        self.ring.committed.store(self.next.0, Ordering::Release);
    }

    /// Copies message `seq` into `out` and returns its length, if still held.
    pub fn read(&self, seq: FeedSeq, out: &mut [u8; MESSAGE_BYTES_MAX]) -> Option<usize> {
        self.ring.read(seq, out)
    }

    /// Checks a request: the range to resend (clipped to what was published), or why not.
    ///
    /// # Errors
    /// The [`RefusalReason`].
    pub fn check(&self, request: &RetransmitRequest) -> Result<(FeedSeq, u16), RefusalReason> {
        self.ring.check(request)
    }

    /// Answers a raw request with packets (the messages, or one refusal packet).
    /// Returns the number of messages resent.
    ///
    /// # Errors
    /// The refusal that was sent.
    pub fn answer(
        &self,
        request_bytes: &[u8],
        send: &mut impl FnMut(&[u8]),
    ) -> Result<u16, RefusalReason> {
        self.ring.answer(request_bytes, send)
    }
}

impl WindowReader {
    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionName {
        self.ring.session
    }

    /// First sequence still held.
    #[must_use]
    pub fn first_seq(&self) -> FeedSeq {
        self.ring.first_seq()
    }

    /// One past the last stored message.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.ring.next_seq()
    }

    /// One past the last message of the last finished command.
    #[must_use]
    pub fn committed_seq(&self) -> FeedSeq {
        FeedSeq(self.ring.committed.load(Ordering::Acquire))
    }

    /// Copies message `seq` into `out` and returns its length, if still held (a message
    /// overwritten during the copy is not held).
    pub fn read(&self, seq: FeedSeq, out: &mut [u8; MESSAGE_BYTES_MAX]) -> Option<usize> {
        self.ring.read(seq, out)
    }

    /// See [`RetransmitWindow::check`].
    ///
    /// # Errors
    /// The [`RefusalReason`].
    pub fn check(&self, request: &RetransmitRequest) -> Result<(FeedSeq, u16), RefusalReason> {
        self.ring.check(request)
    }

    /// See [`RetransmitWindow::answer`].
    ///
    /// # Errors
    /// The refusal that was sent.
    pub fn answer(
        &self,
        request_bytes: &[u8],
        send: &mut impl FnMut(&[u8]),
    ) -> Result<u16, RefusalReason> {
        self.ring.answer(request_bytes, send)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::decode_packet;
    use arbiter_engine::{InstrumentId, OrderId, TimestampNs};

    fn window() -> RetransmitWindow {
        let mut window = RetransmitWindow::new(SessionName::from_text("W"), 8, FeedSeq(1));
        for seq in 1..=20 {
            window.push_message(
                FeedSeq(seq),
                &FeedMessage::Delete {
                    timestamp: TimestampNs(seq),
                    instrument: InstrumentId(0),
                    order_id: OrderId(seq),
                },
            );
        }
        window
    }

    fn ask(window: &RetransmitWindow, bytes: &[u8]) -> (Result<u16, RefusalReason>, Vec<Vec<u8>>) {
        let mut packets = Vec::new();
        let result = window.answer(bytes, &mut |p: &[u8]| packets.push(p.to_vec()));
        (result, packets)
    }

    fn request(seq: u64, count: u16) -> [u8; 20] {
        RetransmitRequest {
            session: SessionName::from_text("W"),
            seq: FeedSeq(seq),
            count,
        }
        .encode()
    }

    #[test]
    fn keeps_the_last_capacity_messages() {
        let window = window();
        assert_eq!(
            (window.first_seq(), window.next_seq()),
            (FeedSeq(13), FeedSeq(21))
        );
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        assert!(window.read(FeedSeq(12), &mut bytes).is_none());
        assert_eq!(window.read(FeedSeq(21), &mut bytes), None);
        let len = window.read(FeedSeq(13), &mut bytes).unwrap();
        assert_eq!(
            FeedMessage::decode(&bytes[..len]).unwrap(),
            FeedMessage::Delete {
                timestamp: TimestampNs(13),
                instrument: InstrumentId(0),
                order_id: OrderId(13),
            }
        );
        let (result, packets) = ask(&window, &request(15, 100));
        assert_eq!(result, Ok(6), "clipped to what was published");
        let packet = decode_packet(&packets[0]).unwrap();
        assert_eq!((packet.seq, packet.messages.len()), (FeedSeq(15), 6));
    }

    #[test]
    fn refuses_bad_requests_clearly() {
        let window = window();
        let cases: [(&[u8], RefusalReason); 7] = [
            (&request(15, 0), RefusalReason::ZeroCount),
            (
                &request(15, RETRANSMIT_COUNT_MAX + 1),
                RefusalReason::CountTooLarge,
            ),
            (&request(15, u16::MAX), RefusalReason::CountTooLarge),
            (&request(3, 2), RefusalReason::BeforeWindow),
            (&request(21, 1), RefusalReason::NotYetPublished),
            (&request(0, 1), RefusalReason::NotYetPublished),
            (&[1, 2, 3], RefusalReason::Malformed),
        ];
        for (bytes, reason) in cases {
            let (result, packets) = ask(&window, bytes);
            assert_eq!(result, Err(reason));
            assert_eq!(packets.len(), 1);
            let packet = decode_packet(&packets[0]).unwrap();
            assert_eq!(packet.seq, FeedSeq(0), "refusals travel with sequence 0");
            let FeedMessage::RetransmitRefusal {
                reason: sent,
                window_first,
                next_seq,
                ..
            } = FeedMessage::decode(packet.messages[0]).unwrap()
            else {
                panic!("a refusal message");
            };
            assert_eq!(sent, reason);
            assert_eq!((window_first, next_seq), (FeedSeq(13), FeedSeq(21)));
        }
        let other = RetransmitRequest {
            session: SessionName::from_text("OTHER"),
            seq: FeedSeq(15),
            count: 1,
        }
        .encode();
        assert_eq!(ask(&window, &other).0, Err(RefusalReason::WrongSession));
    }

    /// A reader racing the writer on another thread: every copy it gets is exactly the
    /// message of that sequence number, or nothing (lapped); never torn bytes.
    #[test]
    fn a_lapped_reader_gets_whole_messages_or_nothing() {
        let mut window = RetransmitWindow::new(SessionName::from_text("R"), 4, FeedSeq(1));
        let reader = window.reader();
        let message = |seq: u64| FeedMessage::Delete {
            timestamp: TimestampNs(seq),
            instrument: InstrumentId(u32::try_from(seq % 7).unwrap()),
            order_id: OrderId(seq.wrapping_mul(0x9E37_79B9)),
        };
        let total = 20_000u64;
        let checker = std::thread::spawn(move || {
            let mut bytes = [0u8; MESSAGE_BYTES_MAX];
            let (mut good, mut gone) = (0u64, 0u64);
            while reader.next_seq().0 <= total {
                let next = reader.next_seq().0;
                for seq in next.saturating_sub(4).max(1)..next {
                    match reader.read(FeedSeq(seq), &mut bytes) {
                        Some(len) => {
                            assert_eq!(FeedMessage::decode(&bytes[..len]).unwrap(), message(seq));
                            good += 1;
                        }
                        None => gone += 1,
                    }
                }
                std::thread::yield_now();
            }
            (good, gone)
        });
        for seq in 1..=total {
            window.push_message(FeedSeq(seq), &message(seq));
            if seq % 64 == 0 {
                std::thread::yield_now();
            }
        }
        let (good, _gone) = checker.join().unwrap();
        assert!(good > 0, "the reader saw messages");
    }
}
