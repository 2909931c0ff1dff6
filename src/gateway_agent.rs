//! The gateway agent: FIX I/O on one thread. It reads sockets through the `arbiter-fix`
//! acceptor, maps application messages to sequencer requests, and turns the sequencer's
//! events into reports, holding each until its command is durable when the policy is `sync`,
//! and (clustered) until JetStream acknowledged it under `replicated`: one hold for both.

use std::collections::VecDeque;

use arbiter_engine::wire::RecordOrigin;
use arbiter_engine::{CommandKind, RiskCommand, SessionId};
use arbiter_fix::{decode, Application, DisconnectReason, Gateway, Message, MessageBuilder};
use arbiter_hardware::spsc::{Consumer, Producer};
use arbiter_hardware::{Agent, MonoClock};
use arbiter_perf::{RingIndex, Stage, StageRecorder, Telemetry};
use std::sync::Arc;

use crate::fix_app::{FixApp, FixSender};
use crate::messages::{
    mark_request_id, released_mark, Annotation, FromGateway, GatewayControl, Outbound, Request,
};
use crate::release::{Fence, ReleaseCursor};
use crate::session_ledger::SessionMark;
use crate::session_store::{JournaledStore, MarkLog, Released};

/// Outbound messages taken from the sequencer ring per duty cycle.
const OUTBOUND_PER_CYCLE_MAX: usize = 4096;
/// Messages waiting for durability before the gateway stops draining the sequencer ring.
const HELD_MAX: usize = 1 << 16;

/// Collects what the acceptor delivers during one `do_work`, to be mapped right after it
/// (the mapping needs to send on the acceptor, which is busy while it delivers).
#[derive(Debug, Default)]
pub struct Inbox {
    bytes: Vec<u8>,
    entries: Vec<InboxEntry>,
    disconnected: Vec<u32>,
    /// Logouts and disconnects go to the access trail (with the sessions' CompIDs).
    access: Option<(arbiter_journal::trail::AccessTrail, Vec<String>)>,
    /// The session stores' marks, taken in order with the messages.
    marks: Option<MarkLog>,
}

/// What one duty cycle delivered, in order.
#[derive(Clone, Copy, Debug)]
enum InboxEntry {
    /// An application message: session, start and length in `bytes`.
    Message(u32, usize, usize),
    /// A session mark queued by a store before the messages that follow it.
    Mark(SessionMark),
}

impl Inbox {
    /// Writes every logout and disconnect to `trail`, naming the session by
    /// `comp_ids[session]`.
    #[must_use]
    pub fn with_access_trail(
        mut self,
        trail: arbiter_journal::trail::AccessTrail,
        comp_ids: Vec<String>,
    ) -> Self {
        self.access = Some((trail, comp_ids));
        self
    }

    /// Preallocates room for a burst of messages.
    #[must_use]
    pub fn with_capacity(bytes: usize) -> Self {
        Inbox {
            bytes: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(4096),
            disconnected: Vec::with_capacity(64),
            access: None,
            marks: None,
        }
    }

    /// Takes the session stores' marks from `log`, ahead of each message.
    #[must_use]
    pub fn with_marks(mut self, log: MarkLog) -> Self {
        self.marks = Some(log);
        self
    }

    fn take_marks(&mut self) {
        if let Some(log) = &self.marks {
            while let Some(mark) = log.pop() {
                self.entries.push(InboxEntry::Mark(mark));
            }
        }
    }
}

impl Application for Inbox {
    fn on_app_message(&mut self, session: arbiter_fix::SessionId, msg: &Message<'_>) {
        // A reset (or reservation) its session did before this message goes first.
        self.take_marks();
        let start = self.bytes.len();
        self.bytes.extend_from_slice(msg.as_bytes());
        self.entries
            .push(InboxEntry::Message(session.0, start, msg.as_bytes().len()));
    }

    fn on_logout(&mut self, session: arbiter_fix::SessionId, reason: DisconnectReason) {
        self.disconnected.push(session.0);
        if let Some((trail, comp_ids)) = &self.access {
            let comp_id = comp_ids.get(session.0 as usize).map_or("", String::as_str);
            crate::access_trail::session_ended(Some(trail), session.0, comp_id, reason);
        }
    }
}

struct Sender<'a>(&'a mut Gateway<JournaledStore, Inbox>);

impl FixSender for Sender<'_> {
    fn send_app(
        &mut self,
        session: u32,
        msg_type: &[u8],
        fill: &mut dyn FnMut(&mut MessageBuilder<'_>),
    ) -> bool {
        self.0
            .send(arbiter_fix::SessionId(session), msg_type, |b| fill(b))
            .is_ok()
    }
}

impl crate::market_data_link::BodySink for Sender<'_> {
    fn room(&self, session: u32) -> usize {
        self.0.outbound_room(arbiter_fix::SessionId(session))
    }

    fn send_body(&mut self, session: u32, msg_type: &[u8], fields: &[u8]) -> bool {
        self.0
            .send(arbiter_fix::SessionId(session), msg_type, |b| {
                b.push_encoded_fields(fields);
            })
            .is_ok()
    }
}

/// Per-session behaviour on disconnect.
#[derive(Clone, Copy, Debug)]
pub struct DisconnectPolicy {
    /// Cancel the session's orders.
    pub cancel_on_disconnect: bool,
}

/// The gateway agent.
pub struct GatewayAgent {
    gateway: Gateway<JournaledStore, Inbox>,
    app: FixApp,
    to_sequencer: Producer<FromGateway>,
    from_sequencer: Consumer<Outbound>,
    /// Messages from the sequencer with the time the gateway took them.
    held: VecDeque<(Outbound, u64)>,
    durable: Option<ReleaseCursor>,
    disconnect: Vec<DisconnectPolicy>,
    timing: GatewayTiming,
    /// The last gateway request whose first report was timed wire to wire.
    last_wire_request: u64,
    /// Requests from the admin socket.
    control: Option<Consumer<GatewayControl>>,
    /// FIX market data: requests out, bodies in (`None`: no market-data agent).
    market_data: Option<crate::market_data_link::GatewaySide>,
    /// Report requests (orders, positions) from the admin socket.
    reports: Option<std::sync::mpsc::Receiver<crate::fix_app::report::ReportRequest>>,
    /// Clustered: tripped when this leader lost its lease (no more orders, sessions out).
    fence: Option<Arc<Fence>>,
    /// Clustered: set while replication is lost under `on_replication_loss = "halt"`.
    halted: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The session stores' journal marks, and each session's released reservation.
    marks: SessionMarks,
}

/// The gateway's side of the session marks (src/session_store.rs).
pub struct SessionMarks {
    /// Where the stores queue their marks.
    pub log: MarkLog,
    /// Per session: the reservation released to its store.
    pub released: Vec<Released>,
    /// Marks of the start-up still to be released: no logon is taken before (a node that
    /// took over must not answer a Logon below the reservation it is about to journal).
    pub at_start: usize,
}

/// What the gateway times with, and where its gauges go.
pub struct GatewayTiming {
    /// Its stage recorder.
    pub recorder: StageRecorder,
    /// Counters and gauges.
    pub telemetry: Arc<Telemetry>,
    /// The monotonic clock every agent shares.
    pub clock: MonoClock,
}

/// Metrics ring indices, in the order the runtime declares them.
pub const RING_GATEWAY_IN: RingIndex = RingIndex(0);
/// The sequencer's outbound ring.
pub const RING_OUTBOUND: RingIndex = RingIndex(1);

impl std::fmt::Debug for GatewayAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayAgent")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl GatewayAgent {
    /// Wires an acceptor, the mapping and the rings. `durable` is set under the `sync` or
    /// `replicated` policy: reports wait until it covers their command.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gateway: Gateway<JournaledStore, Inbox>,
        app: FixApp,
        to_sequencer: Producer<FromGateway>,
        from_sequencer: Consumer<Outbound>,
        durable: Option<ReleaseCursor>,
        disconnect: Vec<DisconnectPolicy>,
        timing: GatewayTiming,
        marks: SessionMarks,
    ) -> Self {
        GatewayAgent {
            gateway,
            app,
            to_sequencer,
            from_sequencer,
            held: VecDeque::with_capacity(HELD_MAX),
            durable,
            disconnect,
            timing,
            last_wire_request: 0,
            control: None,
            market_data: None,
            reports: None,
            fence: None,
            halted: None,
            marks,
        }
    }

    /// Sends market-data requests to the agent over this link and its answers to the
    /// sessions.
    pub fn set_market_data(&mut self, link: crate::market_data_link::GatewaySide) {
        self.market_data = Some(link);
    }

    /// Market-data bodies into the sessions' free room; the room published for the agent.
    fn pump_market_data(&mut self) -> u32 {
        let Some(link) = self.market_data.as_mut() else {
            return 0;
        };
        let mut sink = Sender(&mut self.gateway);
        let work = link.pump(&mut sink);
        link.publish_room(&sink);
        work
    }

    /// Clustered leader: watch `fence` (lost lease: refuse orders, log sessions out) and
    /// `halted` (replication lost under `halt`: refuse new orders, let cancels through).
    pub fn set_cluster(&mut self, fence: Arc<Fence>, halted: Arc<std::sync::atomic::AtomicBool>) {
        self.fence = Some(fence);
        self.halted = Some(halted);
    }

    /// Once fenced: every logged-on session is logged out with the reason (each cycle, so
    /// a session that logs on again is sent away too).
    fn enforce_fence(&mut self) -> u32 {
        let Some(fence) = self.fence.as_ref().filter(|f| f.is_tripped()) else {
            return 0;
        };
        let text = format!(
            "venue node fenced, no longer the leader: {}",
            fence.reason()
        );
        let mut work = 0;
        for session in 0..self.disconnect.len() {
            let id = arbiter_fix::SessionId(session as u32);
            if self.gateway.session(id).is_some_and(|s| s.is_logged_on()) {
                self.gateway.logout(id, &text);
                work += 1;
            }
        }
        work
    }

    /// Why an order message must be refused here instead of sequenced (fenced, or halted
    /// by lost replication for new orders), if it must.
    fn refusal(&self, msg_type: &[u8]) -> Option<&'static str> {
        if self.fence.as_ref().is_some_and(|f| f.is_tripped()) {
            return Some("refused: this venue node was fenced and is no longer the leader");
        }
        let halted = self
            .halted
            .as_ref()
            .is_some_and(|h| h.load(std::sync::atomic::Ordering::Acquire));
        (halted && msg_type == b"D")
            .then_some("refused: replication lost; new orders are halted until it catches up")
    }

    /// Takes admin requests (session logouts) from this ring.
    pub fn set_control(&mut self, control: Consumer<GatewayControl>) {
        self.control = Some(control);
    }

    /// Answers admin report requests (orders, positions) from this channel.
    pub fn set_reports(
        &mut self,
        reports: std::sync::mpsc::Receiver<crate::fix_app::report::ReportRequest>,
    ) {
        self.reports = Some(reports);
    }

    fn serve_control(&mut self) -> u32 {
        let mut work = 0;
        if let Some(reports) = &self.reports {
            // At most one per cycle: each is a pass over the live orders.
            if let Ok(request) = reports.try_recv() {
                let _ = request
                    .reply
                    .try_send(self.app.report(request.kind, request.accounts.as_ref()));
                work += 1;
            }
        }
        let Some(control) = self.control.as_mut() else {
            return work;
        };
        while let Some(GatewayControl::Logout { session }) = control.try_pop() {
            eprintln!("arbiter: admin: logging out session {session}");
            self.gateway.logout(
                arbiter_fix::SessionId(session),
                "logged out by the venue operator",
            );
            work += 1;
        }
        // Session states for `status` and /metrics: 1 logged on, 0 not.
        let metrics = &self.timing.telemetry.metrics;
        for session in 0..self.disconnect.len() {
            let up = self
                .gateway
                .session(arbiter_fix::SessionId(session as u32))
                .is_some_and(|s| s.is_logged_on());
            metrics
                .session_state(arbiter_perf::SessionIndex(session))
                .set(i64::from(up));
        }
        work
    }

    /// Logs every session out with a reason and flushes what it can (shutdown).
    pub fn logout_all(&mut self, text: &str) {
        for session in 0..self.disconnect.len() {
            self.gateway
                .logout(arbiter_fix::SessionId(session as u32), text);
        }
        for _ in 0..50 {
            let _ = self
                .gateway
                .poll_once(Some(std::time::Duration::from_millis(10)));
        }
    }

    fn push_request(&mut self, request: Request) {
        self.push(FromGateway::Request(request));
    }

    fn push_mark(&mut self, mark: SessionMark) {
        self.push(FromGateway::Mark {
            request_id: mark_request_id(&mark),
            mark,
        });
    }

    /// Marks the stores queued since the last message was taken (timers, the start).
    fn forward_marks(&mut self) -> u32 {
        let mut work = 0;
        while let Some(mark) = self.marks.log.pop() {
            self.push_mark(mark);
            work += 1;
        }
        work
    }

    fn push(&mut self, mut request: FromGateway) {
        // The sequencer always drains its ring; waiting here is the back-pressure that
        // stops this gateway reading sockets while the ring is full.
        loop {
            match self.to_sequencer.try_push(request) {
                Ok(()) => return,
                Err(full) => {
                    if self.to_sequencer.is_abandoned() {
                        return;
                    }
                    request = full.0;
                    std::thread::yield_now();
                }
            }
        }
    }

    fn map_inbox(&mut self, read_ns: u64) -> u32 {
        let mut work = 0;
        let inbox = std::mem::take(self.gateway.app_mut());
        for entry in &inbox.entries {
            let (session, start, len) = match *entry {
                InboxEntry::Message(session, start, len) => (session, start, len),
                InboxEntry::Mark(mark) => {
                    self.push_mark(mark);
                    continue;
                }
            };
            let raw = &inbox.bytes[start..start + len];
            let Ok(msg) = decode(raw) else {
                continue; // the session layer validated it already
            };
            if let Some(text) = self.refusal(msg.msg_type()) {
                let mut sender = Sender(&mut self.gateway);
                self.app.refuse(session, &msg, text, &mut sender);
                work += 1;
                continue;
            }
            let mut sender = Sender(&mut self.gateway);
            if let Some(link) = self.market_data.as_mut() {
                if crate::market_data_link::is_market_data_request(msg.msg_type()) {
                    if !link.forward(session, raw) {
                        self.app.refuse_unavailable(
                            session,
                            &msg,
                            "market data busy: request again shortly",
                            &mut sender,
                        );
                    }
                    work += 1;
                    continue;
                }
            }
            if let Some(mut request) = self.app.on_app_message(session, &msg, &mut sender) {
                if let Some(msg_seq) = msg.msg_seq_num() {
                    request.annotation = request
                        .annotation
                        .with_origin(RecordOrigin { session, msg_seq });
                }
                let decoded_ns = self.timing.clock.now_ns();
                self.timing
                    .recorder
                    .record_span(Stage::SocketReadToDecoded, read_ns, decoded_ns);
                request.read_ns = read_ns;
                request.enqueued_ns = self.timing.clock.now_ns();
                self.timing.recorder.record_span(
                    Stage::DecodedToEnqueued,
                    decoded_ns,
                    request.enqueued_ns,
                );
                self.push_request(request);
            }
            work += 1;
        }
        for &session in &inbox.disconnected {
            if let Some(link) = self.market_data.as_mut() {
                link.session_closed(session);
            }
            let Some(policy) = self.disconnect.get(session as usize).copied() else {
                continue;
            };
            if policy.cancel_on_disconnect {
                // The engine cancels exactly this session's orders (its own order list).
                self.push_request(Request {
                    kind: CommandKind::Risk(RiskCommand::CancelOnDisconnect {
                        session: SessionId(session),
                    }),
                    annotation: Annotation::new(b"cancel-on-disconnect"),
                    read_ns: 0,
                    enqueued_ns: 0,
                    request_id: 0,
                });
            }
            work += 1;
        }
        // Give the buffers back, emptied, so their capacity is reused.
        let mut inbox = inbox;
        inbox.bytes.clear();
        inbox.entries.clear();
        inbox.disconnected.clear();
        *self.gateway.app_mut() = inbox;
        work
    }

    fn dispatch(&mut self, message: Outbound, dequeued_ns: u64) {
        let start_ns = self.timing.clock.now_ns();
        // Waiting in the held queue is the durability wait under `sync`.
        let wait_stage = if self.durable.is_some() {
            Stage::WrittenToDurable
        } else {
            Stage::GatewayDequeuedToEncoded
        };
        let mut sender = Sender(&mut self.gateway);
        match message {
            Outbound::Event {
                request_id,
                seq,
                timestamp,
                event,
                read_ns,
                ..
            } => {
                self.app
                    .on_event(request_id, seq, timestamp, &event, Some(&mut sender));
                let end_ns = self.timing.clock.now_ns();
                let recorder = &mut self.timing.recorder;
                recorder.record_span(wait_stage, dequeued_ns, start_ns);
                recorder.record_span(Stage::EncodedToWritten, start_ns, end_ns);
                if read_ns != 0 && request_id != self.last_wire_request {
                    self.last_wire_request = request_id;
                    recorder.record_span(Stage::WireToWire, read_ns, end_ns);
                }
            }
            Outbound::Done { request_id, .. } => match released_mark(request_id) {
                Some((session, through)) => {
                    if let Some(released) = self.marks.released.get(session as usize) {
                        released.set(through);
                    }
                    self.marks.at_start = self.marks.at_start.saturating_sub(1);
                }
                None => self.app.on_done(request_id),
            },
        }
    }

    fn drain_outbound(&mut self) -> u32 {
        let mut work = 0;
        for _ in 0..OUTBOUND_PER_CYCLE_MAX {
            if self.held.len() == HELD_MAX {
                break;
            }
            let Some(message) = self.from_sequencer.try_pop() else {
                break;
            };
            let now = self.timing.clock.now_ns();
            if let Outbound::Event { matched_ns, .. } = message {
                self.timing
                    .recorder
                    .record_span(Stage::MatchedToGatewayDequeued, matched_ns, now);
            }
            self.held.push_back((message, now));
            work += 1;
        }
        let durable = self.durable.as_ref().map_or(u64::MAX, ReleaseCursor::get);
        while let Some((message, dequeued_ns)) = self.held.front().copied() {
            if message.seq().0 > durable {
                break;
            }
            self.held.pop_front();
            self.dispatch(message, dequeued_ns);
            work += 1;
        }
        if work > 0 {
            let metrics = &self.timing.telemetry.metrics;
            metrics
                .ring_occupancy(RING_GATEWAY_IN)
                .set(self.to_sequencer.len() as i64);
            metrics
                .ring_occupancy(RING_OUTBOUND)
                .set(self.from_sequencer.len() as i64);
            if let Some(cursor) = &self.durable {
                let lag = cursor.written().saturating_sub(cursor.get());
                metrics.durable_lag_records.set(lag as i64);
            }
        }
        work
    }
}

impl Agent for GatewayAgent {
    fn do_work(&mut self) -> u32 {
        let mut work = self.forward_marks();
        if self.marks.at_start == 0 && self.app.can_take_request() {
            let read_ns = self.timing.clock.now_ns();
            work += self.gateway.do_work();
            work += self.map_inbox(read_ns);
        }
        work += self.drain_outbound();
        // After the order path: market data never goes before a report.
        work += self.pump_market_data();
        work += self.serve_control();
        if self.fence.is_some() {
            work += self.enforce_fence();
        }
        work
    }

    fn role_name(&self) -> &'static str {
        "gateway"
    }
}
