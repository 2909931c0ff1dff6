//! The two rings between the gateway and the market-data agent, for FIX market data.
//!
//! Requests (MarketDataRequest V, SecurityListRequest x, SecurityStatusRequest e,
//! TradingSessionStatusRequest g) travel to the agent as the raw message bytes: the gateway
//! only looks at MsgType, so market data costs the order path one copy. Answers travel back
//! as pre-encoded bodies (fields after the standard header) tagged with session and MsgType;
//! the gateway adds the session header and sends.
//!
//! Market data never delays order entry and never overflows a connection: the gateway
//! publishes each session's free outbound room ([`MarketDataRoom`]); the agent writes a
//! session's updates only while the room is there and conflates otherwise (latest state
//! later, as a fresh snapshot), and the gateway drops a body that no longer fits
//! ([`GatewaySide::pump`]) and tells the agent, which then resends that session a snapshot.
//! Neither ring ever makes a thread wait: a full ring refuses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbiter_hardware::frames::{frame_channel, FrameConsumer, FrameProducer};

/// Room kept in every session's outbound queue for execution reports: market data is sent
/// only above it.
pub const REPORTS_RESERVE_BYTES: usize = 256 * 1024;
/// Frames the gateway takes from the agent per duty cycle.
const FRAMES_PER_CYCLE_MAX: u32 = 256;
/// Ring sizes.
const TO_AGENT_BYTES: usize = 1 << 20;
const TO_GATEWAY_BYTES: usize = 8 << 20;

const KIND_REQUEST: u32 = 0;
const KIND_SESSION_CLOSED: u32 = 1;
const KIND_DROPPED: u32 = 2;
const SESSION_MASK: u32 = (1 << 24) - 1;

/// Whether a MsgType is one the market-data agent answers.
#[must_use]
pub fn is_market_data_request(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"V" | b"x" | b"e" | b"g")
}

/// What the gateway tells the agent.
#[derive(Debug, PartialEq, Eq)]
pub enum ToAgent<'a> {
    /// A request, as received (whole FIX message).
    Request {
        /// Session index.
        session: u32,
        /// The message bytes.
        raw: &'a [u8],
    },
    /// The session logged out or disconnected: its subscriptions end.
    SessionClosed {
        /// Session index.
        session: u32,
    },
    /// A body for this session did not fit its connection and was dropped: resend it
    /// snapshots when room returns.
    Dropped {
        /// Session index.
        session: u32,
    },
}

/// Each session's free outbound bytes above [`REPORTS_RESERVE_BYTES`], written by the
/// gateway every duty cycle, read by the agent.
#[derive(Debug, Clone)]
pub struct MarketDataRoom(Arc<[AtomicU64]>);

impl MarketDataRoom {
    /// Room for `sessions` sessions, all zero.
    #[must_use]
    pub fn new(sessions: usize) -> Self {
        MarketDataRoom((0..sessions).map(|_| AtomicU64::new(0)).collect())
    }

    /// Bytes of market data the session can take now (0: none, or not logged on).
    #[must_use]
    pub fn get(&self, session: u32) -> usize {
        self.0
            .get(session as usize)
            .map_or(0, |r| r.load(Ordering::Acquire) as usize)
    }

    fn set(&self, session: usize, bytes: usize) {
        if let Some(slot) = self.0.get(session) {
            slot.store(bytes as u64, Ordering::Release);
        }
    }
}

/// The gateway's half.
#[derive(Debug)]
pub struct GatewaySide {
    to_agent: FrameProducer,
    from_agent: FrameConsumer,
    body: Vec<u8>,
    room: MarketDataRoom,
    /// Bodies dropped for lack of room (conflation), since start.
    pub dropped: u64,
}

/// The agent's half.
#[derive(Debug)]
pub struct AgentSide {
    from_gateway: FrameConsumer,
    to_gateway: FrameProducer,
    raw: Vec<u8>,
    /// Each session's room.
    pub room: MarketDataRoom,
}

/// The rings for `sessions` sessions.
#[must_use]
pub fn link(sessions: usize) -> (GatewaySide, AgentSide) {
    let (to_agent, from_gateway) = frame_channel(TO_AGENT_BYTES);
    let (to_gateway, from_agent) = frame_channel(TO_GATEWAY_BYTES);
    let room = MarketDataRoom::new(sessions);
    (
        GatewaySide {
            to_agent,
            from_agent,
            body: Vec::with_capacity(64 * 1024),
            room: room.clone(),
            dropped: 0,
        },
        AgentSide {
            from_gateway,
            to_gateway,
            raw: Vec::with_capacity(64 * 1024),
            room,
        },
    )
}

fn tag(kind: u32, session: u32) -> u32 {
    (kind << 24) | (session & SESSION_MASK)
}

/// Packs a session and a one- or two-letter MsgType into a frame tag.
fn body_tag(session: u32, msg_type: &[u8]) -> Option<u32> {
    if session > u32::from(u16::MAX) || msg_type.is_empty() || msg_type.len() > 2 {
        return None;
    }
    let second = msg_type.get(1).copied().unwrap_or(0);
    Some(session | (u32::from(msg_type[0]) << 16) | (u32::from(second) << 24))
}

fn unpack_body_tag(tag: u32) -> (u32, [u8; 2], usize) {
    let msg_type = [(tag >> 16) as u8, (tag >> 24) as u8];
    let len = if msg_type[1] == 0 { 1 } else { 2 };
    (tag & 0xffff, msg_type, len)
}

/// Where the gateway sends bodies (the FIX acceptor, or a test double).
pub trait BodySink {
    /// Free outbound bytes of the session (0 when not logged on).
    fn room(&self, session: u32) -> usize;
    /// Sends a message of `msg_type` whose body is `fields`; false if it could not.
    fn send_body(&mut self, session: u32, msg_type: &[u8], fields: &[u8]) -> bool;
}

impl GatewaySide {
    /// Hands a request to the agent; false when its ring is full (answer "busy").
    pub fn forward(&mut self, session: u32, raw: &[u8]) -> bool {
        self.to_agent.try_push(tag(KIND_REQUEST, session), &[raw])
    }

    /// The session's subscriptions end (logout, disconnect).
    pub fn session_closed(&mut self, session: u32) {
        // A full ring loses this notice only while the agent is far behind; the session's
        // room is zero meanwhile, so nothing is sent to it either way.
        let _ = self
            .to_agent
            .try_push(tag(KIND_SESSION_CLOSED, session), &[]);
    }

    /// Sends what the agent produced, into each session's room; returns the frames taken.
    pub fn pump(&mut self, sink: &mut impl BodySink) -> u32 {
        let mut work = 0;
        while work < FRAMES_PER_CYCLE_MAX {
            let Some(tag) = self.from_agent.try_pop(&mut self.body) else {
                break;
            };
            work += 1;
            let (session, msg_type, len) = unpack_body_tag(tag);
            let fits = sink.room(session) >= self.body.len() + REPORTS_RESERVE_BYTES;
            if !(fits && sink.send_body(session, &msg_type[..len], &self.body)) {
                self.dropped += 1;
                let _ = self.to_agent.try_push(tag_dropped(session), &[]);
            }
        }
        work
    }

    /// Publishes each session's room for the agent.
    pub fn publish_room(&self, sink: &impl BodySink) {
        for session in 0..self.room.0.len() {
            let free = sink.room(session as u32);
            self.room
                .set(session, free.saturating_sub(REPORTS_RESERVE_BYTES));
        }
    }
}

fn tag_dropped(session: u32) -> u32 {
    tag(KIND_DROPPED, session)
}

impl AgentSide {
    /// The next thing the gateway said, if any.
    pub fn next(&mut self) -> Option<ToAgent<'_>> {
        let tag = self.from_gateway.try_pop(&mut self.raw)?;
        let session = tag & SESSION_MASK;
        Some(match tag >> 24 {
            KIND_REQUEST => ToAgent::Request {
                session,
                raw: &self.raw,
            },
            KIND_SESSION_CLOSED => ToAgent::SessionClosed { session },
            _ => ToAgent::Dropped { session },
        })
    }

    /// Queues a body for a session; false (nothing queued) when the ring is full or the
    /// MsgType is not one or two letters: the caller conflates.
    pub fn send(&mut self, session: u32, msg_type: &[u8], fields: &[u8]) -> bool {
        match body_tag(session, msg_type) {
            Some(tag) => self.to_gateway.try_push(tag, &[fields]),
            None => false,
        }
    }

    /// Bytes the gateway ring can take now.
    #[must_use]
    pub fn ring_free(&self) -> usize {
        self.to_gateway.free_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sink {
        room: usize,
        sent: Vec<(u32, Vec<u8>, Vec<u8>)>,
    }

    impl BodySink for Sink {
        fn room(&self, _: u32) -> usize {
            self.room
        }
        fn send_body(&mut self, session: u32, msg_type: &[u8], fields: &[u8]) -> bool {
            self.sent
                .push((session, msg_type.to_vec(), fields.to_vec()));
            true
        }
    }

    #[test]
    fn requests_and_bodies_cross_with_their_sessions() {
        let (mut gateway, mut agent) = link(4);
        assert!(gateway.forward(3, b"8=FIX.4.4\x0135=V\x01"));
        gateway.session_closed(2);
        assert_eq!(
            agent.next(),
            Some(ToAgent::Request {
                session: 3,
                raw: b"8=FIX.4.4\x0135=V\x01"
            })
        );
        assert_eq!(agent.next(), Some(ToAgent::SessionClosed { session: 2 }));
        assert_eq!(agent.next(), None);
        assert!(agent.send(3, b"W", b"262=r1\x01"));
        assert!(agent.send(1, b"BJ", b"335=t\x01"));
        let mut sink = Sink {
            room: usize::MAX,
            sent: Vec::new(),
        };
        assert_eq!(gateway.pump(&mut sink), 2);
        assert_eq!(sink.sent[0], (3, b"W".to_vec(), b"262=r1\x01".to_vec()));
        assert_eq!(sink.sent[1], (1, b"BJ".to_vec(), b"335=t\x01".to_vec()));
    }

    #[test]
    fn a_body_without_room_is_dropped_and_the_agent_told() {
        let (mut gateway, mut agent) = link(2);
        assert!(agent.send(1, b"X", b"262=r1\x01"));
        let mut sink = Sink {
            room: REPORTS_RESERVE_BYTES,
            sent: Vec::new(),
        };
        gateway.pump(&mut sink);
        assert!(sink.sent.is_empty());
        assert_eq!(gateway.dropped, 1);
        assert_eq!(agent.next(), Some(ToAgent::Dropped { session: 1 }));
        gateway.publish_room(&Sink {
            room: REPORTS_RESERVE_BYTES + 100,
            sent: Vec::new(),
        });
        assert_eq!(agent.room.get(1), 100);
        assert_eq!(agent.room.get(9), 0, "unknown sessions have no room");
    }
}
