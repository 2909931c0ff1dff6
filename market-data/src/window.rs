//! The retransmission window: the last N published messages, in fixed slots allocated at
//! start-up, and the rules for answering "from sequence S, count K".

use crate::message::{FeedMessage, FeedSeq, RefusalReason, MESSAGE_BYTES_MAX};
use crate::packet::{
    write_header, Packetizer, RetransmitRequest, SessionName, PACKET_HEADER_BYTES,
};

/// Most messages one request may ask for. MoldUDP64 clients sometimes ask for 0xFFFF
/// meaning "as many as you have"; here that is refused so that one request can never make
/// the service send more than a few hundred packets.
pub const RETRANSMIT_COUNT_MAX: u16 = 2048;

/// The last `capacity` messages, encoded, by sequence number.
#[derive(Debug)]
pub struct RetransmitWindow {
    session: SessionName,
    slots: Vec<[u8; MESSAGE_BYTES_MAX]>,
    lengths: Vec<u8>,
    /// First sequence held (== `next` when empty).
    first: FeedSeq,
    /// Next sequence to be stored.
    next: FeedSeq,
}

impl RetransmitWindow {
    /// A window of `capacity` messages for a session whose first message is `first_seq`.
    ///
    /// # Panics
    /// If `capacity` is zero.
    #[must_use]
    pub fn new(session: SessionName, capacity: usize, first_seq: FeedSeq) -> Self {
        assert!(
            capacity > 0,
            "a retransmission window holds at least one message"
        );
        RetransmitWindow {
            session,
            slots: vec![[0; MESSAGE_BYTES_MAX]; capacity],
            lengths: vec![0; capacity],
            first: first_seq,
            next: first_seq,
        }
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionName {
        self.session
    }

    /// First sequence still held (equal to [`RetransmitWindow::next_seq`] when empty).
    #[must_use]
    pub fn first_seq(&self) -> FeedSeq {
        self.first
    }

    /// Next sequence to be stored.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.next
    }

    fn slot(&self, seq: FeedSeq) -> usize {
        usize::try_from(seq.0 % self.slots.len() as u64).expect("fits")
    }

    /// Stores the next message, dropping the oldest when full.
    ///
    /// # Panics
    /// If `seq` is not the next sequence or the message is longer than the slot.
    pub fn push(&mut self, seq: FeedSeq, message: &[u8]) {
        assert_eq!(seq, self.next, "the window stores contiguous messages");
        assert!(message.len() <= MESSAGE_BYTES_MAX);
        let slot = self.slot(seq);
        self.slots[slot][..message.len()].copy_from_slice(message);
        self.lengths[slot] = u8::try_from(message.len()).expect("short message");
        self.next.0 += 1;
        if self.next.0 - self.first.0 > self.slots.len() as u64 {
            self.first.0 += 1;
        }
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

    /// The stored bytes of one message, if still held.
    #[must_use]
    pub fn get(&self, seq: FeedSeq) -> Option<&[u8]> {
        if seq < self.first || seq >= self.next {
            return None;
        }
        let slot = self.slot(seq);
        Some(&self.slots[slot][..usize::from(self.lengths[slot])])
    }

    /// Checks a request: the range to resend (clipped to what was published), or why not.
    ///
    /// # Errors
    /// The [`RefusalReason`].
    pub fn check(&self, request: &RetransmitRequest) -> Result<(FeedSeq, u16), RefusalReason> {
        if request.session != self.session {
            return Err(RefusalReason::WrongSession);
        }
        if request.count == 0 {
            return Err(RefusalReason::ZeroCount);
        }
        if request.count > RETRANSMIT_COUNT_MAX {
            return Err(RefusalReason::CountTooLarge);
        }
        if request.seq.0 == 0 || request.seq >= self.next {
            return Err(RefusalReason::NotYetPublished);
        }
        if request.seq < self.first {
            return Err(RefusalReason::BeforeWindow);
        }
        let available = self.next.0 - request.seq.0;
        let count = u16::try_from(available.min(u64::from(request.count))).expect("<= count");
        Ok((request.seq, count))
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
        let request = match RetransmitRequest::decode(request_bytes) {
            Ok(request) => request,
            Err(_) => {
                let request = RetransmitRequest {
                    session: self.session,
                    seq: FeedSeq(0),
                    count: 0,
                };
                self.refuse(&request, RefusalReason::Malformed, send);
                return Err(RefusalReason::Malformed);
            }
        };
        match self.check(&request) {
            Ok((first, count)) => {
                let mut packetizer = Packetizer::new(self.session, first);
                for seq in first.0..first.0 + u64::from(count) {
                    let bytes = self.get(FeedSeq(seq)).expect("checked range");
                    packetizer.push_encoded(FeedSeq(seq), bytes, send);
                }
                packetizer.flush(send);
                Ok(count)
            }
            Err(reason) => {
                self.refuse(&request, reason, send);
                Err(reason)
            }
        }
    }

    fn refuse(
        &self,
        request: &RetransmitRequest,
        reason: RefusalReason,
        send: &mut impl FnMut(&[u8]),
    ) {
        let refusal = FeedMessage::RetransmitRefusal {
            reason,
            requested_seq: request.seq,
            requested_count: request.count,
            window_first: if self.first < self.next {
                self.first
            } else {
                FeedSeq(0)
            },
            next_seq: self.next,
        };
        let mut packet = [0u8; PACKET_HEADER_BYTES + 2 + MESSAGE_BYTES_MAX];
        write_header(&mut packet, self.session, FeedSeq(0), 1);
        let len = refusal.encode(&mut packet[PACKET_HEADER_BYTES + 2..]);
        let len16 = u16::try_from(len).expect("short message");
        packet[PACKET_HEADER_BYTES..PACKET_HEADER_BYTES + 2].copy_from_slice(&len16.to_le_bytes());
        send(&packet[..PACKET_HEADER_BYTES + 2 + len]);
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
        assert!(window.get(FeedSeq(12)).is_none());
        assert!(window.get(FeedSeq(13)).is_some());
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
}
