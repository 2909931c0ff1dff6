//! FIX 4.4 / FIXT.1.1 codec, dictionaries, session layer, acceptor and FIX <-> engine
//! mapping for Arbiter.
//!
//! # Layers
//! - [`frame`]: find one message in a receive buffer, check BodyLength and CheckSum.
//! - [`decode`]: zero-copy [`Message`] view with a fixed field table, typed getters.
//! - [`validate`]: dictionary validation giving SessionRejectReason + RefTagID.
//! - [`MessageBuilder`]: allocation-free encoder into a preallocated buffer.
//! - [`Session`]: the FIX session protocol as a pure state machine; time is an input.
//! - [`MessageStore`]: sequence numbers and sent messages, in memory or on file.
//! - [`Gateway`]: the mio acceptor driving many sessions from one thread.
//! - [`edge`]: source ranges, connection rate and failed-logon backoff; [`tls`]: TLS 1.3;
//!   [`credential`]: argon2id password hashes; [`entitlement`]: the accounts a session may
//!   act for.
//! - [`market_data`]: MarketDataRequest, SecurityList, SecurityStatus and
//!   TradingSessionStatus requests in; W / X / Y / y / f / h out, with conflation.
//!
//! # Example
//! ```
//! use arbiter_fix::{decode, frame, validate, FixVersion, FrameResult};
//! let raw = "8=FIX.4.4|9=41|35=0|49=C|56=S|34=2|52=20240101-00:00:00|10=132|"
//!     .replace('|', "\x01");
//! assert_eq!(frame(raw.as_bytes()), FrameResult::Complete(raw.len()));
//! let msg = decode(raw.as_bytes()).unwrap();
//! assert_eq!(validate(&msg, FixVersion::Fix44).unwrap().name, "Heartbeat");
//! ```
#![deny(missing_docs, missing_debug_implementations, unsafe_code)]

mod decode;
pub mod dictionary;
mod encode;
mod frame;
mod time;
mod validate;

pub use decode::{
    decode, parse_decimal, parse_i64, parse_u64, scan_seq_num_and_type, DecodeError, FieldError,
    GroupEntry, GroupIter, Message, FIELDS_MAX,
};
pub use dictionary::{FixVersion, MessageDef};
pub use encode::{EncodeError, Header, MessageBuilder};
pub use frame::{
    checksum, frame, frame_with_limit, FrameResult, GarbledReason, MESSAGE_BYTES_LIMIT,
    MESSAGE_BYTES_MAX_DEFAULT, SOH,
};
pub use time::{
    format_utc_timestamp, parse_utc_timestamp_ns, TimestampPrecision, NS_PER_SECOND,
    TIMESTAMP_LEN_MAX,
};
pub use validate::{check_value, validate, SessionReject, SessionRejectReason};

mod session;
mod store;

pub use session::{
    Application, DisconnectReason, Outbox, Schedule, SendError, Session, SessionConfig,
    SessionCounters, SessionId, SessionState,
};
pub use store::{FileStore, MemoryStore, MessageStore, StoreError};

mod gateway;
pub use gateway::{system_clock_ns, Gateway, GatewayConfig, GatewayCounters};

pub use arbiter_access::credential;
pub mod credential_check;
pub mod edge;
pub mod entitlement;
pub mod market_data;
pub mod tls;
pub use edge::{Cidr, EdgeEvents, EdgePolicy, LogonOutcome, NoEdgeEvents};
