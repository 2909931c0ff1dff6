//! MoldUDP64-style framing: a 22-byte header (10-byte session, sequence number of the first
//! message, message count, schema version), then `count` messages, each prefixed with its
//! length (u16, little-endian).
//!
//! The header is MoldUDP64's 20 bytes plus the schema version, and every integer is
//! little-endian (MoldUDP64 is big-endian): see `docs/market-data.md`. A packet with count 0
//! is a heartbeat whose sequence is the next message to be published.

use zerocopy::byteorder::little_endian::{U16, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::DecodeError;
use crate::message::{FeedMessage, FeedSeq, MESSAGE_BYTES_MAX, SCHEMA_VERSION};

/// A feed session name: 10 ASCII bytes, space padded (as MoldUDP64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionName(pub [u8; 10]);

impl SessionName {
    /// From text: cut to 10 bytes, padded with spaces.
    #[must_use]
    pub fn from_text(text: &str) -> Self {
        let mut name = [b' '; 10];
        for (slot, byte) in name.iter_mut().zip(text.bytes()) {
            *slot = byte;
        }
        SessionName(name)
    }

    /// As text, trailing spaces removed.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim_end().to_owned()
    }
}

/// The packet header. 22 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct PacketHeaderWire {
    /// Session name.
    pub session: [u8; 10],
    /// Sequence number of the first message (heartbeat: the next one to be published;
    /// 0: a retransmission refusal follows).
    pub sequence: U64,
    /// Number of messages.
    pub count: U16,
    /// [`SCHEMA_VERSION`].
    pub schema_version: U16,
}

/// The retransmission request (MoldUDP64 request layout, little-endian). 20 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RetransmitRequestWire {
    /// Session name.
    pub session: [u8; 10],
    /// First message wanted.
    pub sequence: U64,
    /// How many.
    pub count: U16,
}

/// Header length.
pub const PACKET_HEADER_BYTES: usize = size_of::<PacketHeaderWire>();
/// Length of a retransmission request.
pub const RETRANSMIT_REQUEST_BYTES: usize = size_of::<RetransmitRequestWire>();
/// Largest packet: fits a 1500-byte Ethernet MTU with IPv4 and UDP headers (28 bytes) and
/// room for tunnels.
pub const PACKET_BYTES_MAX: usize = 1400;
/// Length prefix of each message.
pub const LENGTH_PREFIX_BYTES: usize = 2;

const _: () = assert!(PACKET_HEADER_BYTES == 22);
const _: () = assert!(RETRANSMIT_REQUEST_BYTES == 20);
// At least a handful of the largest messages fit in one packet.
const _: () = assert!(
    PACKET_HEADER_BYTES + 8 * (LENGTH_PREFIX_BYTES + MESSAGE_BYTES_MAX) <= PACKET_BYTES_MAX
);

/// A retransmission request, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetransmitRequest {
    /// Session.
    pub session: SessionName,
    /// First message wanted.
    pub seq: FeedSeq,
    /// How many.
    pub count: u16,
}

impl RetransmitRequest {
    /// The 20 request bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; RETRANSMIT_REQUEST_BYTES] {
        let wire = RetransmitRequestWire {
            session: self.session.0,
            sequence: U64::new(self.seq.0),
            count: U16::new(self.count),
        };
        let mut out = [0u8; RETRANSMIT_REQUEST_BYTES];
        out.copy_from_slice(wire.as_bytes());
        out
    }

    /// Decodes a request.
    ///
    /// # Errors
    /// [`DecodeError::BadLength`] unless exactly 20 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire =
            RetransmitRequestWire::read_from_bytes(bytes).map_err(|_| DecodeError::BadLength)?;
        Ok(RetransmitRequest {
            session: SessionName(wire.session),
            seq: FeedSeq(wire.sequence.get()),
            count: wire.count.get(),
        })
    }
}

/// Fills packets with messages; hands each finished packet to a callback.
///
/// The buffer is allocated once. Sequence numbers must be contiguous: the packet header
/// carries only the first.
#[derive(Debug)]
pub struct Packetizer {
    session: SessionName,
    buffer: Vec<u8>,
    first_seq: FeedSeq,
    count: u16,
    next_seq: FeedSeq,
}

impl Packetizer {
    /// A packetizer whose first message will be `first_seq`.
    #[must_use]
    pub fn new(session: SessionName, first_seq: FeedSeq) -> Self {
        let mut buffer = Vec::with_capacity(PACKET_BYTES_MAX);
        buffer.resize(PACKET_HEADER_BYTES, 0);
        Packetizer {
            session,
            buffer,
            first_seq,
            count: 0,
            next_seq: first_seq,
        }
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionName {
        self.session
    }

    /// The sequence number the next pushed message must have.
    #[must_use]
    pub fn next_seq(&self) -> FeedSeq {
        self.next_seq
    }

    /// Appends one encoded message; sends the current packet first if it would not fit.
    ///
    /// # Panics
    /// If `seq` is not the next sequence number, or the message is empty or longer than
    /// [`MESSAGE_BYTES_MAX`].
    pub fn push_encoded(&mut self, seq: FeedSeq, message: &[u8], send: &mut impl FnMut(&[u8])) {
        assert_eq!(seq, self.next_seq, "feed sequence numbers are contiguous");
        assert!(!message.is_empty() && message.len() <= MESSAGE_BYTES_MAX);
        if self.buffer.len() + LENGTH_PREFIX_BYTES + message.len() > PACKET_BYTES_MAX
            || self.count == u16::MAX - 1
        {
            self.flush(send);
        }
        let len = u16::try_from(message.len()).expect("short message");
        self.buffer.extend_from_slice(&len.to_le_bytes());
        self.buffer.extend_from_slice(message);
        self.count += 1;
        self.next_seq.0 += 1;
        debug_assert!(self.buffer.len() <= PACKET_BYTES_MAX);
    }

    /// Encodes and appends one message.
    ///
    /// # Panics
    /// As [`Packetizer::push_encoded`].
    pub fn push(&mut self, seq: FeedSeq, message: &FeedMessage, send: &mut impl FnMut(&[u8])) {
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        let len = message.encode(&mut bytes);
        self.push_encoded(seq, &bytes[..len], send);
    }

    /// Sends the current packet if it holds any message.
    pub fn flush(&mut self, send: &mut impl FnMut(&[u8])) {
        if self.count == 0 {
            return;
        }
        write_header(&mut self.buffer, self.session, self.first_seq, self.count);
        send(&self.buffer);
        self.buffer.truncate(PACKET_HEADER_BYTES);
        self.first_seq = self.next_seq;
        self.count = 0;
    }

    /// Messages waiting in the current packet.
    #[must_use]
    pub fn buffered(&self) -> u16 {
        self.count
    }

    /// A heartbeat: a header with count 0 and the next sequence number.
    #[must_use]
    pub fn heartbeat(&self) -> [u8; PACKET_HEADER_BYTES] {
        let mut out = [0u8; PACKET_HEADER_BYTES];
        write_header(&mut out, self.session, self.next_seq, 0);
        out
    }
}

/// Writes a header into the first [`PACKET_HEADER_BYTES`] of `out`.
///
/// # Panics
/// If `out` is shorter than the header.
pub fn write_header(out: &mut [u8], session: SessionName, first_seq: FeedSeq, count: u16) {
    let header = PacketHeaderWire {
        session: session.0,
        sequence: U64::new(first_seq.0),
        count: U16::new(count),
        schema_version: U16::new(SCHEMA_VERSION),
    };
    out[..PACKET_HEADER_BYTES].copy_from_slice(header.as_bytes());
}

/// A decoded packet: header fields and the raw message bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Session.
    pub session: SessionName,
    /// Sequence of the first message (heartbeat: next expected; 0: control).
    pub seq: FeedSeq,
    /// Message bodies, in order.
    pub messages: Vec<&'a [u8]>,
}

/// Splits a packet into its messages, checking every length.
///
/// # Errors
/// [`DecodeError`] for a short header, another schema version, a length prefix that runs
/// past the end or does not match the message type, or trailing bytes. Never panics.
pub fn decode_packet(bytes: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let (header, mut rest) =
        PacketHeaderWire::read_from_prefix(bytes).map_err(|_| DecodeError::BadLength)?;
    if header.schema_version.get() != SCHEMA_VERSION {
        return Err(DecodeError::SchemaVersion(header.schema_version.get()));
    }
    let count = header.count.get();
    let mut messages = Vec::with_capacity(usize::from(count.min(1024)));
    for _ in 0..count {
        if rest.len() < LENGTH_PREFIX_BYTES {
            return Err(DecodeError::BadLength);
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = rest
            .get(LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + len)
            .ok_or(DecodeError::BadLength)?;
        let &kind = body.first().ok_or(DecodeError::BadLength)?;
        let expected = crate::message::message_len(kind).ok_or(DecodeError::UnknownType(kind))?;
        if expected != len {
            return Err(DecodeError::BadLength);
        }
        messages.push(body);
        rest = &rest[LENGTH_PREFIX_BYTES + len..];
    }
    if !rest.is_empty() {
        return Err(DecodeError::BadLength);
    }
    Ok(Packet {
        session: SessionName(header.session),
        seq: FeedSeq(header.sequence.get()),
        messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::{InstrumentId, OrderId, TimestampNs};

    fn delete(id: u64) -> FeedMessage {
        FeedMessage::Delete {
            timestamp: TimestampNs(1),
            instrument: InstrumentId(0),
            order_id: OrderId(id),
        }
    }

    #[test]
    fn packets_split_at_the_size_limit_and_decode() {
        let session = SessionName::from_text("S1");
        let mut packetizer = Packetizer::new(session, FeedSeq(5));
        let mut packets: Vec<Vec<u8>> = Vec::new();
        let mut send = |p: &[u8]| packets.push(p.to_vec());
        for seq in 5..205 {
            packetizer.push(FeedSeq(seq), &delete(seq), &mut send);
        }
        packetizer.flush(&mut send);
        assert!(packets.len() > 1);
        let mut next = 5;
        for bytes in &packets {
            assert!(bytes.len() <= PACKET_BYTES_MAX);
            let packet = decode_packet(bytes).unwrap();
            assert_eq!(packet.session, session);
            assert_eq!(packet.seq, FeedSeq(next));
            for body in packet.messages {
                assert_eq!(FeedMessage::decode(body).unwrap(), delete(next));
                next += 1;
            }
        }
        assert_eq!(next, 205);
        let heartbeat_bytes = packetizer.heartbeat();
        let heartbeat = decode_packet(&heartbeat_bytes).unwrap();
        assert_eq!((heartbeat.seq, heartbeat.messages.len()), (FeedSeq(205), 0));
    }

    #[test]
    fn bad_packets_are_refused() {
        let mut packetizer = Packetizer::new(SessionName::from_text("S"), FeedSeq(1));
        let mut bytes = Vec::new();
        packetizer.push(FeedSeq(1), &delete(1), &mut |_| {});
        packetizer.flush(&mut |p: &[u8]| bytes = p.to_vec());
        assert!(decode_packet(&bytes).is_ok());
        assert!(decode_packet(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_packet(&longer).is_err());
        let mut version = bytes.clone();
        version[20] = 9;
        assert_eq!(decode_packet(&version), Err(DecodeError::SchemaVersion(9)));
        let mut count = bytes.clone();
        count[18] = 2;
        assert!(decode_packet(&count).is_err());
        assert!(decode_packet(&[]).is_err());
    }
}
