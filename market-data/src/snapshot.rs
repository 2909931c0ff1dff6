//! Snapshots: every instrument's public book and figures, as of a feed sequence number.
//!
//! Layout: a 40-byte header, then length-prefixed feed messages. For each instrument in id
//! order: `R` directory (when known), `H` state, `T` statistics, then one `A` per order,
//! bids then asks, each in priority order. Applying them to empty books rebuilds the books
//! exactly as they were after message `last_seq`.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use arbiter_engine::{Side, TimestampNs};

use crate::book::MarketBooks;
use crate::error::{DecodeError, NetError};
use crate::message::{message_len, FeedMessage, FeedSeq, MESSAGE_BYTES_MAX, SCHEMA_VERSION};
use crate::packet::{SessionName, LENGTH_PREFIX_BYTES};

/// Snapshot magic, `ARSN`.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"ARSN";

/// The snapshot header. 40 bytes.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SnapshotHeaderWire {
    /// [`SNAPSHOT_MAGIC`].
    pub magic: [u8; 4],
    /// [`SCHEMA_VERSION`].
    pub schema_version: U16,
    /// Zero.
    pub reserved: [u8; 2],
    /// Feed session.
    pub session: [u8; 10],
    /// Zero.
    pub reserved2: [u8; 6],
    /// The books are as after this feed message (0: before any message).
    pub last_seq: U64,
    /// Number of messages that follow.
    pub message_count: U32,
    /// Zero.
    pub reserved3: U32,
}

/// Header length.
pub const SNAPSHOT_HEADER_BYTES: usize = size_of::<SnapshotHeaderWire>();
const _: () = assert!(SNAPSHOT_HEADER_BYTES == 40);

/// A decoded snapshot.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Feed session.
    pub session: SessionName,
    /// The books are as after this feed message.
    pub last_seq: FeedSeq,
    /// The books.
    pub books: MarketBooks,
}

/// Encodes `books` as of `last_seq`.
#[must_use]
pub fn encode_snapshot(session: SessionName, last_seq: FeedSeq, books: &MarketBooks) -> Vec<u8> {
    let mut messages = Vec::new();
    for (instrument, book) in books.iter() {
        if let Some(info) = book.info {
            messages.push(FeedMessage::InstrumentDirectory(info));
        }
        messages.push(FeedMessage::InstrumentState {
            timestamp: TimestampNs(0),
            instrument,
            phase: book.phase,
        });
        messages.push(FeedMessage::Statistics {
            instrument,
            stats: book.stats,
        });
        for side in [Side::Buy, Side::Sell] {
            for order in books.orders_by_priority(instrument, side) {
                messages.push(FeedMessage::AddOrder {
                    timestamp: TimestampNs(0),
                    instrument,
                    order_id: order.order_id,
                    side,
                    price: order.price,
                    qty: order.qty,
                });
            }
        }
    }
    let header = SnapshotHeaderWire {
        magic: SNAPSHOT_MAGIC,
        schema_version: U16::new(SCHEMA_VERSION),
        reserved: [0; 2],
        session: session.0,
        reserved2: [0; 6],
        last_seq: U64::new(last_seq.0),
        message_count: U32::new(u32::try_from(messages.len()).expect("fewer than 2^32")),
        reserved3: U32::new(0),
    };
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + messages.len() * 42);
    out.extend_from_slice(header.as_bytes());
    let mut body = [0u8; MESSAGE_BYTES_MAX];
    for message in &messages {
        let len = message.encode(&mut body);
        out.extend_from_slice(&u16::try_from(len).expect("short").to_le_bytes());
        out.extend_from_slice(&body[..len]);
    }
    out
}

/// Decodes a snapshot into fresh books holding at most `orders_max` orders.
///
/// # Errors
/// [`NetError::Decode`] for bad bytes (wrong magic or version, lengths, trailing bytes),
/// [`NetError::Book`] when the orders do not fit together. Never panics.
pub fn decode_snapshot(bytes: &[u8], orders_max: usize) -> Result<Snapshot, NetError> {
    let (header, mut rest) =
        SnapshotHeaderWire::read_from_prefix(bytes).map_err(|_| DecodeError::BadLength)?;
    if header.magic != SNAPSHOT_MAGIC {
        return Err(DecodeError::BadField("magic").into());
    }
    if header.schema_version.get() != SCHEMA_VERSION {
        return Err(DecodeError::SchemaVersion(header.schema_version.get()).into());
    }
    let mut books = MarketBooks::with_capacity(orders_max);
    for _ in 0..header.message_count.get() {
        if rest.len() < LENGTH_PREFIX_BYTES {
            return Err(DecodeError::BadLength.into());
        }
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = rest
            .get(LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + len)
            .ok_or(DecodeError::BadLength)?;
        let &kind = body.first().ok_or(DecodeError::BadLength)?;
        if message_len(kind) != Some(len) {
            return Err(DecodeError::BadLength.into());
        }
        let message = FeedMessage::decode(body)?;
        books.apply(&message)?;
        rest = &rest[LENGTH_PREFIX_BYTES + len..];
    }
    if !rest.is_empty() {
        return Err(DecodeError::BadLength.into());
    }
    Ok(Snapshot {
        session: SessionName(header.session),
        last_seq: FeedSeq(header.last_seq.get()),
        books,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbiter_engine::{InstrumentId, OrderId, Phase, Price, Qty};

    #[test]
    fn round_trip_and_refusals() {
        let mut books = MarketBooks::with_capacity(8);
        for (id, side, price) in [(1, Side::Buy, 10), (2, Side::Buy, 10), (3, Side::Sell, 12)] {
            books
                .apply(&FeedMessage::AddOrder {
                    timestamp: TimestampNs(1),
                    instrument: InstrumentId(2),
                    order_id: OrderId(id),
                    side,
                    price: Price(price),
                    qty: Qty(id),
                })
                .unwrap();
        }
        books
            .apply(&FeedMessage::InstrumentState {
                timestamp: TimestampNs(1),
                instrument: InstrumentId(2),
                phase: Phase::Halted,
            })
            .unwrap();
        let session = SessionName::from_text("SNAP");
        let bytes = encode_snapshot(session, FeedSeq(42), &books);
        let snapshot = decode_snapshot(&bytes, 8).unwrap();
        assert_eq!(
            (snapshot.session, snapshot.last_seq),
            (session, FeedSeq(42))
        );
        assert!(snapshot.books.same_as(&books));
        assert!(decode_snapshot(&bytes[..bytes.len() - 1], 8).is_err());
        assert!(decode_snapshot(&bytes, 2).is_err(), "capacity is checked");
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(decode_snapshot(&bad, 8).is_err());
        assert!(decode_snapshot(&[], 8).is_err());
    }
}
