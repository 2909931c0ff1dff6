//! One error enum per layer: decoding bytes, applying messages to a book, network I/O.

use std::fmt;

use arbiter_engine::{InstrumentId, OrderId};

/// A packet, message or snapshot that cannot be decoded. Decoders never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Too short, too long, or a length prefix that does not match the type.
    BadLength,
    /// A message type letter this schema does not know.
    UnknownType(u8),
    /// A field holds a value outside its domain (named).
    BadField(&'static str),
    /// The packet or snapshot has another schema version.
    SchemaVersion(u16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadLength => write!(f, "bad length"),
            DecodeError::UnknownType(kind) => write!(f, "unknown message type {kind:#04x}"),
            DecodeError::BadField(name) => write!(f, "bad value in field {name}"),
            DecodeError::SchemaVersion(version) => {
                write!(f, "unsupported schema version {version}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// A feed message that does not fit the book it is applied to: the receiver has lost
/// track and must recover from a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BookError {
    /// Add of an order id that is already in the book.
    DuplicateOrder(OrderId),
    /// Reduce, execute or delete of an order that is not in the book.
    UnknownOrder(OrderId),
    /// Reduce or execute by more than the displayed quantity.
    QtyTooLarge(OrderId),
    /// The book already holds `orders_max` orders.
    Full,
    /// A new price level on a side that already holds `levels_per_side_max` levels.
    LevelsFull(InstrumentId),
    /// A new instrument beyond [`crate::INSTRUMENTS_MAX`].
    InstrumentsFull,
}

impl fmt::Display for BookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BookError::DuplicateOrder(id) => write!(f, "order {} already in the book", id.0),
            BookError::UnknownOrder(id) => write!(f, "order {} not in the book", id.0),
            BookError::QtyTooLarge(id) => {
                write!(f, "order {}: quantity above the displayed quantity", id.0)
            }
            BookError::Full => write!(f, "book full"),
            BookError::LevelsFull(id) => {
                write!(f, "instrument {}: no room for another price level", id.0)
            }
            BookError::InstrumentsFull => write!(f, "no room for another instrument"),
        }
    }
}

impl std::error::Error for BookError {}

/// A network-layer failure (publisher, services, clients).
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// The operating system refused.
    Io(std::io::Error),
    /// The peer sent bytes that do not decode.
    Decode(DecodeError),
    /// The peer's data does not fit the book.
    Book(BookError),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Io(error) => write!(f, "i/o: {error}"),
            NetError::Decode(error) => write!(f, "decode: {error}"),
            NetError::Book(error) => write!(f, "book: {error}"),
        }
    }
}

impl std::error::Error for NetError {}

impl From<std::io::Error> for NetError {
    fn from(error: std::io::Error) -> Self {
        NetError::Io(error)
    }
}

impl From<DecodeError> for NetError {
    fn from(error: DecodeError) -> Self {
        NetError::Decode(error)
    }
}

impl From<BookError> for NetError {
    fn from(error: BookError) -> Self {
        NetError::Book(error)
    }
}
