//! Market data from engine events: L3/L2 books and session statistics, a binary UDP feed
//! (fixed little-endian layouts, MoldUDP64-style packets), a retransmission service, a
//! snapshot service, and a receiver that recovers gaps.
//!
//! # Layers
//!
//! - [`BookBuilder`]: engine [`Event`](arbiter_engine::Event)s of each journal command in,
//!   numbered [`FeedMessage`]s and the public book ([`MarketBooks`]) out. Deterministic:
//!   the same journal gives the same messages with the same [`FeedSeq`]s.
//! - [`FeedMessage`] / [`Packetizer`] / [`decode_packet`]: the wire format
//!   (`docs/market-data.md`).
//! - [`Publisher`]: builder + packetizer + [`RetransmitWindow`] + snapshots, no sockets, no
//!   locks: one owner; the recovery services read a lock-free [`WindowReader`] and keep a
//!   [`SnapshotFollower`] replica.
//! - [`Receiver`]: packets in any order in, books out, [`Recovery`] says what to fetch.
//! - [`compare_books`] / [`compare_with_engine`]: where two books, or a book and the
//!   engine, first differ.
//! - [`net`]: UDP feed, UDP retransmission service, TCP snapshot service, feed client.
//! - [`sim`]: seeded order flow for a real engine (tests and benchmarks).
//!
//! # Usage
//! ```
//! use arbiter_engine::*;
//! use arbiter_market_data::{Publisher, Receiver, SessionName};
//!
//! let registry = InstrumentRegistry::new(vec![Instrument::simple(0, "DEMO")]).unwrap();
//! let mut engine = Engine::new(EngineConfig::default(), registry.clone());
//! let session = SessionName::from_text("DEMO1");
//! let mut publisher = Publisher::new(session, &registry, 1024, 4096);
//! let mut receiver = Receiver::new(Some(session), 1024, 1024);
//! let mut packets: Vec<Vec<u8>> = Vec::new();
//! publisher.flush(&mut |p: &[u8]| packets.push(p.to_vec()));
//! let order = NewOrder { order_id: OrderId(1), price: Price(100), qty: Qty(5),
//!     tif: TimeInForce::Gtc, ..NewOrder::default() };
//! let command = Command::new(Seq(1), TimestampNs(1), CommandKind::NewOrder(order));
//! let mut events = Vec::new();
//! engine.apply(&command, &mut events);
//! publisher.publish_command(command.seq, command.timestamp, &events,
//!     &mut |p: &[u8]| packets.push(p.to_vec())).unwrap();
//! for packet in &packets {
//!     receiver.on_packet(packet).unwrap();
//! }
//! assert!(receiver.books().same_as(publisher.builder().books()));
//! ```
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]
#![cfg_attr(test, deny(warnings))]

mod book;
mod builder;
mod compare;
mod error;
mod message;
pub mod net;
mod packet;
mod publisher;
mod receiver;
pub mod sim;
mod snapshot;
mod snapshot_follower;
mod window;

pub use book::{
    BookCapacity, InstrumentBook, LevelEntry, MarketBooks, OrderEntry, INSTRUMENTS_MAX,
    LEVELS_PER_SIDE_DEFAULT,
};
pub use builder::{BookBuilder, Sequenced, PENDING_MESSAGES_RESERVED};
pub use compare::{compare_books, compare_with_engine, BookDifference, Compared, DifferenceKind};
pub use error::{BookError, DecodeError, NetError};
pub use message::{
    message_len, message_type, AddOrderWire, DeleteWire, ExecuteWire, FeedMessage, FeedSeq,
    InstrumentDirectoryWire, InstrumentInfo, InstrumentStateWire, MatchNumber, ReduceWire,
    RefusalReason, ReplaceWire, RetransmitRefusalWire, SessionStats, StatisticsWire,
    SystemEventCode, SystemEventWire, TradeWire, MESSAGE_BYTES_MAX, SCHEMA_VERSION,
};
pub use packet::{
    decode_packet, write_header, Packet, PacketHeaderWire, Packetizer, RetransmitRequest,
    RetransmitRequestWire, SessionName, LENGTH_PREFIX_BYTES, PACKET_BYTES_MAX, PACKET_HEADER_BYTES,
    RETRANSMIT_REQUEST_BYTES,
};
pub use publisher::Publisher;
pub use receiver::{Receiver, ReceiverCounters, Recovery};
pub use snapshot::{
    decode_snapshot, encode_snapshot, Snapshot, SnapshotHeaderWire, SNAPSHOT_HEADER_BYTES,
    SNAPSHOT_MAGIC,
};
pub use snapshot_follower::{FollowerError, ResyncMailbox, SnapshotFollower};
pub use window::{RetransmitWindow, WindowReader, RETRANSMIT_COUNT_MAX};
