//! What travels on the rings between the daemon's threads. Fixed-size and `Copy`.

use arbiter_engine::wire::{annotation_with_origin, RecordOrigin, ANNOTATION_BYTES_MAX};
use arbiter_engine::{CommandKind, Event, Seq, TimestampNs};

use crate::session_ledger::{SessionMark, SENDER_BLOCK};

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

    /// This annotation with `origin`'s trailer appended (unchanged if there is no room,
    /// which a ClOrdID of at most 32 bytes always leaves).
    #[must_use]
    pub fn with_origin(self, origin: RecordOrigin) -> Self {
        let mut out = Annotation::EMPTY;
        match annotation_with_origin(self.as_bytes(), origin, &mut out.bytes) {
            Some(len) => {
                out.len = len as u8;
                out
            }
            None => self,
        }
    }
}

/// What the gateway asks of the sequencer, in order on one ring.
#[derive(Clone, Copy, Debug)]
pub enum FromGateway {
    /// A command to sequence.
    Request(Request),
    /// A session mark to journal (record type [`crate::session_ledger::RECORD_SESSION`]);
    /// its `Outbound::Done` carries `request_id` (see [`mark_request_id`]).
    Mark {
        /// From [`mark_request_id`].
        request_id: u64,
        /// The mark.
        mark: SessionMark,
    },
}

/// Request ids of session marks have this bit (gateway command ids never reach it).
pub const MARK_REQUEST_BIT: u64 = 1 << 62;
const MARK_THROUGH_BITS: u32 = 40;

/// The request id of a mark: the bit, the session, and the reservation in blocks, so the
/// gateway learns from the `Done` alone which reservation is released.
#[must_use]
pub fn mark_request_id(mark: &SessionMark) -> u64 {
    MARK_REQUEST_BIT
        | (u64::from(mark.session) << MARK_THROUGH_BITS)
        | (mark.sender_through / SENDER_BLOCK)
}

/// `(session, sender_through)` of a mark's request id; `None` for other ids.
#[must_use]
pub fn released_mark(request_id: u64) -> Option<(u32, u64)> {
    if request_id & MARK_REQUEST_BIT == 0 || request_id & (1 << 63) != 0 {
        return None;
    }
    let session = ((request_id & !MARK_REQUEST_BIT) >> MARK_THROUGH_BITS) as u32;
    let blocks = request_id & ((1 << MARK_THROUGH_BITS) - 1);
    Some((session, blocks * SENDER_BLOCK))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_request_id_names_its_session_and_reservation() {
        let mark = SessionMark {
            session: 17,
            reset: true,
            creation_ns: 5,
            next_target: 9,
            sender_through: 3 * SENDER_BLOCK,
        };
        let id = mark_request_id(&mark);
        assert_eq!(released_mark(id), Some((17, 3 * SENDER_BLOCK)));
        assert_eq!(released_mark(42), None);
        assert_eq!(released_mark(1 << 63 | 42), None);
    }

    #[test]
    fn an_origin_rides_after_the_client_order_id() {
        let origin = RecordOrigin {
            session: 1,
            msg_seq: 77,
        };
        let annotation = Annotation::new(b"ORDER-1").with_origin(origin);
        assert_eq!(
            arbiter_engine::wire::split_origin(annotation.as_bytes()),
            (&b"ORDER-1"[..], Some(origin))
        );
    }
}
