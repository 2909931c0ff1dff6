//! The publishing side without sockets: events in, packets out, plus the retransmission
//! window and snapshots that go with them.

use arbiter_engine::{Event, InstrumentRegistry, OrderId, Qty, Seq, TimestampNs};

use crate::builder::BookBuilder;
use crate::message::RefusalReason;
use crate::message::{FeedSeq, MESSAGE_BYTES_MAX};
use crate::packet::{Packetizer, SessionName, PACKET_HEADER_BYTES};
use crate::snapshot::encode_snapshot;
use crate::window::RetransmitWindow;

/// Builder + packetizer + retransmission window of one feed session.
///
/// Packets are handed to a `send` callback at command end (and whenever one fills up), so
/// the caller chooses the transport; [`crate::net::UdpFeed`] sends them over UDP.
#[derive(Debug)]
pub struct Publisher {
    builder: BookBuilder,
    packetizer: Packetizer,
    window: RetransmitWindow,
    packets_sent: u64,
}

impl Publisher {
    /// A publisher for a session starting at journal position zero.
    ///
    /// `orders_max`: the engine's; `window_messages`: how many recent messages the
    /// retransmission service can resend.
    #[must_use]
    pub fn new(
        session: SessionName,
        registry: &InstrumentRegistry,
        orders_max: usize,
        window_messages: usize,
    ) -> Self {
        let builder = BookBuilder::new(registry, orders_max);
        Publisher {
            builder,
            packetizer: Packetizer::new(session, FeedSeq(1)),
            window: RetransmitWindow::new(session, window_messages, FeedSeq(1)),
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

    /// See [`BookBuilder::on_event`].
    pub fn on_event(&mut self, seq: Seq, timestamp: TimestampNs, event: &Event) {
        self.builder.on_event(seq, timestamp, event);
    }

    /// See [`BookBuilder::set_display_qty`].
    pub fn set_display_qty(&mut self, order_id: OrderId, display: Qty) {
        self.builder.set_display_qty(order_id, display);
    }

    /// Ends the command: its messages go into the window and out in packets.
    pub fn on_command_end(&mut self, seq: Seq, send: &mut impl FnMut(&[u8])) {
        self.builder.on_command_end(seq);
        self.flush(send);
    }

    /// Publishes whatever the builder produced (also the start-up directory) and sends the
    /// last, partly filled packet.
    pub fn flush(&mut self, send: &mut impl FnMut(&[u8])) {
        self.pump(send);
        let mut sent = 0u64;
        self.packetizer.flush(&mut |packet: &[u8]| {
            sent += 1;
            send(packet);
        });
        self.packets_sent += sent;
    }

    /// Encodes the builder's new messages into the window and the current packet; sends
    /// only packets that filled up. [`Publisher::flush`] (or the command end) sends the rest.
    pub fn pump(&mut self, send: &mut impl FnMut(&[u8])) {
        let mut sent = 0u64;
        let mut count_send = |packet: &[u8]| {
            sent += 1;
            send(packet);
        };
        let mut bytes = [0u8; MESSAGE_BYTES_MAX];
        for sequenced in self.builder.drain() {
            let len = sequenced.message.encode(&mut bytes);
            self.window.push(sequenced.seq, &bytes[..len]);
            self.packetizer
                .push_encoded(sequenced.seq, &bytes[..len], &mut count_send);
        }
        self.packets_sent += sent;
    }

    /// One whole command: its events, then its end.
    pub fn publish_command(
        &mut self,
        seq: Seq,
        timestamp: TimestampNs,
        events: &[Event],
        send: &mut impl FnMut(&[u8]),
    ) {
        for event in events {
            self.builder.on_event(seq, timestamp, event);
        }
        self.on_command_end(seq, send);
    }

    /// A heartbeat packet (count 0, next sequence).
    #[must_use]
    pub fn heartbeat(&self) -> [u8; PACKET_HEADER_BYTES] {
        self.packetizer.heartbeat()
    }

    /// The snapshot of the books as of the last published message.
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
