//! The publishing side without sockets: events in, packets out, plus the retransmission
//! window and snapshots that go with them.
//!
//! One owner (the publishing agent's thread) drives a [`Publisher`]; nothing in it is
//! locked. The threads that serve recovery read what they need without ever making it
//! wait: the retransmission service through a [`WindowReader`] (a lock-free ring of the
//! encoded messages, `window.rs`), the snapshot service through a [`SnapshotFollower`] (a
//! replica of the books fed from that ring, `snapshot_follower.rs`).

use std::sync::Arc;

use arbiter_engine::{Event, InstrumentRegistry, OrderId, Qty, Seq, TimestampNs};

use crate::book::BookCapacity;
use crate::builder::BookBuilder;
use crate::error::BookError;
use crate::message::RefusalReason;
use crate::message::{FeedMessage, FeedSeq, MESSAGE_BYTES_MAX};
use crate::packet::{Packetizer, SessionName, PACKET_HEADER_BYTES};
use crate::snapshot::encode_snapshot;
use crate::snapshot_follower::{ResyncMailbox, SnapshotFollower};
use crate::window::{RetransmitWindow, WindowReader};

/// Builder + packetizer + retransmission window of one feed session.
///
/// Packets are handed to a `send` callback at command end (and whenever one fills up), so
/// the caller chooses the transport; [`crate::net::UdpFeed`] sends them over UDP.
#[derive(Debug)]
pub struct Publisher {
    builder: BookBuilder,
    packetizer: Packetizer,
    window: RetransmitWindow,
    resync: Arc<ResyncMailbox>,
    packets_sent: u64,
}

impl Publisher {
    /// A publisher for a session starting at journal position zero.
    ///
    /// `orders_max`: the engine's; `window_messages`: how many recent messages the
    /// retransmission service can resend. Levels per side are [`BookCapacity::orders`]'s;
    /// prefer [`Publisher::with_capacities`] with [`BookCapacity::from_engine`].
    ///
    /// # Panics
    /// If `window_messages` is zero.
    #[must_use]
    pub fn new(
        session: SessionName,
        registry: &InstrumentRegistry,
        orders_max: usize,
        window_messages: usize,
    ) -> Self {
        Self::with_capacities(
            session,
            registry,
            BookCapacity::orders(orders_max),
            window_messages,
        )
    }

    /// A publisher whose books are sized by `capacity` (see [`BookBuilder::with_capacities`]).
    ///
    /// # Panics
    /// If `window_messages` is zero.
    #[must_use]
    pub fn with_capacities(
        session: SessionName,
        registry: &InstrumentRegistry,
        capacity: BookCapacity,
        window_messages: usize,
    ) -> Self {
        let builder = BookBuilder::with_capacities(registry, capacity);
        Publisher {
            builder,
            packetizer: Packetizer::new(session, FeedSeq(1)),
            window: RetransmitWindow::new(session, window_messages, FeedSeq(1)),
            resync: Arc::new(ResyncMailbox::new()),
            packets_sent: 0,
        }
    }

    /// The book builder (its books are what the feed shows).
    #[must_use]
    pub fn builder(&self) -> &BookBuilder {
        &self.builder
    }

    /// The retransmission window.
    #[must_use]
    pub fn window(&self) -> &RetransmitWindow {
        &self.window
    }

    /// A reading end of the window for the retransmission service thread.
    #[must_use]
    pub fn window_reader(&self) -> WindowReader {
        self.window.reader()
    }

    /// A replica of the books for the snapshot service thread. Take it before publishing
    /// more than the window holds, or its first snapshot resynchronises.
    #[must_use]
    pub fn snapshot_follower(&self) -> SnapshotFollower {
        SnapshotFollower::new(
            self.window.reader(),
            Arc::clone(&self.resync),
            self.builder.books(),
            FeedSeq(1),
        )
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionName {
        self.packetizer.session()
    }

    /// Packets handed out so far (retransmissions excluded).
    #[must_use]
    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    /// See [`BookBuilder::on_event`]. The messages wait in the builder until
    /// [`Publisher::pump`] or the command end; pump at least every few hundred events to
    /// stay allocation-free ([`crate::PENDING_MESSAGES_RESERVED`]).
    ///
    /// # Errors
    /// As [`BookBuilder::on_event`].
    pub fn on_event(
        &mut self,
        seq: Seq,
        timestamp: TimestampNs,
        event: &Event,
    ) -> Result<(), BookError> {
        self.builder.on_event(seq, timestamp, event)
    }

    /// See [`BookBuilder::set_display_qty`].
    pub fn set_display_qty(&mut self, order_id: OrderId, display: Qty) {
        self.builder.set_display_qty(order_id, display);
    }

    /// Ends the command: its messages go into the window and out in packets. What the
    /// builder produced before a refusal is still published.
    ///
    /// # Errors
    /// As [`BookBuilder::on_command_end`].
    pub fn on_command_end(
        &mut self,
        seq: Seq,
        send: &mut impl FnMut(&[u8]),
    ) -> Result<(), BookError> {
        self.on_command_end_observed(seq, send, &mut |_: &FeedMessage| {})
    }

    /// [`Publisher::on_command_end`], showing every message published to `observe` (in
    /// sequence order): how another view of the same books (FIX market data) follows the
    /// feed without building them twice.
    ///
    /// # Errors
    /// As [`BookBuilder::on_command_end`].
    pub fn on_command_end_observed(
        &mut self,
        seq: Seq,
        send: &mut impl FnMut(&[u8]),
        observe: &mut impl FnMut(&FeedMessage),
    ) -> Result<(), BookError> {
        let result = self.builder.on_command_end(seq);
        self.flush_observed(send, observe);
        result
    }

    /// Publishes whatever the builder produced (also the start-up directory), sends the
    /// last, partly filled packet, and marks the window committed up to here. Then answers
    /// a pending resynchronisation of the snapshot follower, if any.
    pub fn flush(&mut self, send: &mut impl FnMut(&[u8])) {
        self.flush_observed(send, &mut |_: &FeedMessage| {});
    }

    /// [`Publisher::flush`], showing every message published to `observe`.
    pub fn flush_observed(
        &mut self,
        send: &mut impl FnMut(&[u8]),
        observe: &mut impl FnMut(&FeedMessage),
    ) {
        self.pump_observed(send, observe);
        let mut sent = 0u64;
        self.packetizer.flush(&mut |packet: &[u8]| {
            sent += 1;
            send(packet);
        });
        self.packets_sent += sent;
        self.window.commit();
        self.serve_resync();
    }

    /// Copies the books for the snapshot follower if it asked (between commands only:
    /// [`Publisher::flush`] does it; call it on the idle path too). Never blocks; one
    /// relaxed load when nothing is asked. Returns whether a copy was made.
    pub fn serve_resync(&mut self) -> bool {
        if self.builder.pending().is_empty() {
            let last = FeedSeq(self.window.next_seq().0 - 1);
            self.resync.serve(self.builder.books(), last)
        } else {
            false
        }
    }

    /// Encodes the builder's new messages into the window and the current packet; sends
    /// only packets that filled up. [`Publisher::flush`] (or the command end) sends the rest.
    pub fn pump(&mut self, send: &mut impl FnMut(&[u8])) {
        self.pump_observed(send, &mut |_: &FeedMessage| {});
    }

    /// [`Publisher::pump`], showing every message published to `observe`.
    pub fn pump_observed(
        &mut self,
        send: &mut impl FnMut(&[u8]),
        observe: &mut impl FnMut(&FeedMessage),
    ) {
        let mut sent = 0u64;
        let mut count_send = |packet: &[u8]| {
            sent += 1;
            send(packet);
        };
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        for sequenced in self.builder.drain() {
            observe(&sequenced.message);
            let len = sequenced.message.encode(&mut bytes);
            self.window.push(sequenced.seq, &bytes[..len]);
            self.packetizer
                .push_encoded(sequenced.seq, &bytes[..len], &mut count_send);
        }
        self.packets_sent += sent;
    }

    /// One whole command: its events (pumped one by one, so a command of any size stays
    /// allocation-free), then its end.
    ///
    /// # Errors
    /// As [`BookBuilder::on_event`]; the events after a refusal are not applied.
    pub fn publish_command(
        &mut self,
        seq: Seq,
        timestamp: TimestampNs,
        events: &[Event],
        send: &mut impl FnMut(&[u8]),
    ) -> Result<(), BookError> {
        for event in events {
            if let Err(error) = self.builder.on_event(seq, timestamp, event) {
                self.flush(send);
                return Err(error);
            }
            self.pump(send);
        }
        self.on_command_end(seq, send)
    }

    /// A heartbeat packet (count 0, next sequence).
    #[must_use]
    pub fn heartbeat(&self) -> [u8; PACKET_HEADER_BYTES] {
        self.packetizer.heartbeat()
    }

    /// The snapshot of the books as of the last published message (on the publisher's
    /// thread; the snapshot service uses a [`SnapshotFollower`] instead).
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        let last = FeedSeq(self.packetizer.next_seq().0 - 1);
        encode_snapshot(self.session(), last, self.builder.books())
    }

    /// Answers a retransmission request (see [`RetransmitWindow::answer`]).
    ///
    /// # Errors
    /// The refusal that was sent.
    pub fn answer(
        &self,
        request: &[u8],
        send: &mut impl FnMut(&[u8]),
    ) -> Result<u16, RefusalReason> {
        self.window.answer(request, send)
    }
}
