//! What travels on the rings between the daemon's threads. Fixed-size and `Copy`.

use arbiter_engine::wire::ANNOTATION_BYTES_MAX;
use arbiter_engine::{CommandKind, Event, Seq, TimestampNs};

/// Opaque bytes journaled beside a command (the FIX ClOrdID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annotation {
    len: u8,
    bytes: [u8; ANNOTATION_BYTES_MAX],
}

impl Annotation {
    /// No annotation.
    pub const EMPTY: Annotation = Annotation {
        len: 0,
        bytes: [0; ANNOTATION_BYTES_MAX],
    };

    /// Copies up to [`ANNOTATION_BYTES_MAX`] bytes; longer input is cut (the gateway refuses
    /// ClOrdIDs that long before they get here).
    #[must_use]
    pub fn new(bytes: &[u8]) -> Self {
        let len = bytes.len().min(ANNOTATION_BYTES_MAX);
        let mut annotation = Annotation::EMPTY;
        annotation.bytes[..len].copy_from_slice(&bytes[..len]);
        annotation.len = len as u8;
        annotation
    }

    /// The bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A request for the sequencer: a command kind not yet stamped.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// What to do.
    pub kind: CommandKind,
    /// Journaled beside it.
    pub annotation: Annotation,
    /// Correlates an admin reply; zero for the gateway.
    pub request_id: u64,
    /// Monotonic time the message was read from the socket (0: not timed).
    pub read_ns: u64,
    /// Monotonic time it was pushed to the sequencer's ring.
    pub enqueued_ns: u64,
}

/// What the sequencer tells the gateway.
#[derive(Clone, Copy, Debug)]
pub enum Outbound {
    /// An event caused by the command with this sequence number.
    Event {
        /// The gateway request that caused it; zero for admin and clock commands.
        request_id: u64,
        /// The command's sequence number.
        seq: Seq,
        /// The command's timestamp.
        timestamp: TimestampNs,
        /// The event.
        event: Event,
        /// Monotonic time the command's socket read (0: not a timed gateway request).
        read_ns: u64,
        /// Monotonic time matching emitted it.
        matched_ns: u64,
    },
    /// Every event of this command has been sent.
    Done {
        /// The gateway request it answered; zero for admin and clock commands.
        request_id: u64,
        /// The command's sequence number.
        seq: Seq,
    },
}

impl Outbound {
    /// The sequence number of the command it belongs to.
    #[must_use]
    pub fn seq(&self) -> Seq {
        match self {
            Outbound::Event { seq, .. } | Outbound::Done { seq, .. } => *seq,
        }
    }
}

/// The sequencer's answer to an admin request.
#[derive(Clone, Copy, Debug)]
pub struct AdminReply {
    /// The request it answers.
    pub request_id: u64,
    /// The sequence number the command got.
    pub seq: Seq,
    /// The first rejection among its events, if any.
    pub rejected: Option<arbiter_engine::RejectReason>,
    /// How many events it caused.
    pub events: u32,
    /// The last risk event it caused (kill switch, approval, limit), if any.
    pub risk: Option<arbiter_engine::RiskEvent>,
}

/// What the admin thread asks of the gateway (it owns the sessions).
#[derive(Clone, Copy, Debug)]
pub enum GatewayControl {
    /// Log a session out (the client may log on again).
    Logout {
        /// The session's index in the configuration.
        session: u32,
    },
}
