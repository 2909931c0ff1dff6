//! The sequencer: the one writer of engine state. It stamps each request with the next
//! sequence number and the time, journals it, applies it, and hands the events on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arbiter_engine::wire::{
    encode_record, ANNOTATION_BYTES_MAX, COMMAND_BYTES_MAX, RECORD_COMMAND, RECORD_DIGEST,
};
use arbiter_engine::{Command, CommandKind, Engine, Event, EventSink, Seq, TimestampNs};
use arbiter_hardware::spsc::{Consumer, Producer};
use arbiter_hardware::{Agent, MonoClock, WallClock};
use arbiter_journal::{JournalError, RecordType, Sequence, Writer};
use arbiter_perf::{Metrics, Stage, StageRecorder};

use crate::messages::{AdminReply, FromGateway, Outbound, Request};
use crate::session_ledger::{SessionMark, RECORD_SESSION};

/// Requests taken from one ring per duty cycle: keeps one busy source from starving another.
const REQUESTS_PER_CYCLE_MAX: u32 = 256;
/// A Clock command (GTD expiry, stop checks) at least this often.
const CLOCK_INTERVAL_NS: u64 = 1_000_000_000;
/// A digest record after this many commands: replay checks it.
const DIGEST_INTERVAL_COMMANDS: u64 = 100_000;

/// Admin request ids have this bit set, so the gateway never mistakes them for its own.
pub const ADMIN_REQUEST_BIT: u64 = 1 << 63;

/// Figures other threads read without locks.
#[derive(Debug, Default)]
pub struct SequencerStatus {
    /// Sequence number of the last applied command.
    pub applied_seq: AtomicU64,
    /// Live orders after it.
    pub live_orders: AtomicU64,
    /// Trades since start.
    pub trades: AtomicU64,
    /// Engine digest after the last command.
    pub digest: AtomicU64,
    /// Journal appends that failed (the sequencer stops taking requests after one).
    pub journal_errors: AtomicU64,
    /// Kill switches active now (activations minus releases).
    pub kill_switches_active: std::sync::atomic::AtomicI64,
}

/// Pushes events into the gateway ring, waiting (never dropping) while it is full: the
/// gateway always drains its ring into per-session queues, so the wait is bounded by the
/// gateway's progress; a slow client is disconnected there, never here.
struct RingSink<'a> {
    ring: &'a mut Producer<Outbound>,
    metrics: &'a Metrics,
    clock: MonoClock,
    read_ns: u64,
    request_id: u64,
    seq: Seq,
    timestamp: TimestampNs,
    events: u32,
    rejected: Option<arbiter_engine::RejectReason>,
    risk: Option<arbiter_engine::RiskEvent>,
    kills: i64,
}

impl EventSink for RingSink<'_> {
    fn emit(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::Accepted { .. } => self.metrics.orders.increment(),
            Event::Trade(_) => self.metrics.fills.increment(),
            Event::Cancelled { .. } => self.metrics.cancels.increment(),
            Event::Replaced { .. } => self.metrics.replaces.increment(),
            Event::Rejected { reason, .. } => {
                self.metrics.rejects(reason as u8).increment();
                self.rejected.get_or_insert(reason);
            }
            Event::Risk(risk) => {
                match risk {
                    arbiter_engine::RiskEvent::KillSwitchActivated { .. } => self.kills += 1,
                    arbiter_engine::RiskEvent::KillSwitchReleased { .. } => self.kills -= 1,
                    _ => {}
                }
                self.risk = Some(risk);
            }
            _ => {}
        }
        push_waiting(
            self.ring,
            Outbound::Event {
                request_id: self.request_id,
                seq: self.seq,
                timestamp: self.timestamp,
                event,
                read_ns: self.read_ns,
                matched_ns: self.clock.now_ns(),
            },
        );
    }
}

fn push_waiting(ring: &mut Producer<Outbound>, mut message: Outbound) {
    let mut spins = 0u32;
    loop {
        match ring.try_push(message) {
            Ok(()) => return,
            Err(full) => {
                if ring.is_abandoned() {
                    return; // the gateway is gone: shutting down
                }
                message = full.0;
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// The sequencer agent.
pub struct Sequencer {
    engine: Engine,
    writer: Writer,
    clock: WallClock,
    gateway_in: Consumer<FromGateway>,
    admin_in: Consumer<Request>,
    gateway_out: Producer<Outbound>,
    admin_out: Producer<AdminReply>,
    status: Arc<SequencerStatus>,
    recorder: StageRecorder,
    metrics: Arc<arbiter_perf::Telemetry>,
    mono: MonoClock,
    last_clock_ns: u64,
    end_of_day_ns: Option<u64>,
    trading_day: u64,
    commands_since_digest: u64,
    failed: bool,
    payload: [u8; 1 + COMMAND_BYTES_MAX + ANNOTATION_BYTES_MAX],
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("next_sequence", &self.writer.next_sequence())
            .finish_non_exhaustive()
    }
}

/// The rings a sequencer talks on.
pub struct SequencerRings {
    /// Requests from the gateway.
    pub gateway_in: Consumer<FromGateway>,
    /// Requests from the admin socket.
    pub admin_in: Consumer<Request>,
    /// Events to the gateway.
    pub gateway_out: Producer<Outbound>,
    /// Replies to the admin socket.
    pub admin_out: Producer<AdminReply>,
}

/// Nanoseconds in a day.
const DAY_NS: u64 = 86_400_000_000_000;

/// The trading day a time falls in, counting days that end at `end_of_day_ns` after midnight
/// UTC: it changes exactly when the end of day passes.
#[must_use]
pub fn trading_day(now_ns: u64, end_of_day_ns: u64) -> u64 {
    (now_ns + (DAY_NS - end_of_day_ns)) / DAY_NS
}

/// What the sequencer times with, and where its counters go.
pub struct SequencerTiming {
    /// End of the trading day, nanoseconds after midnight UTC.
    pub end_of_day_ns: Option<u64>,
    /// Its stage recorder (ring hop, journal, match).
    pub recorder: StageRecorder,
    /// Counters and gauges.
    pub telemetry: Arc<arbiter_perf::Telemetry>,
    /// The monotonic clock every agent shares.
    pub clock: MonoClock,
    /// Wall time of the journal's last record at start (none: a new journal).
    pub last_journaled_ns: Option<u64>,
}

/// The trading day the sequencer starts in: the journal's last one, so that an end of day
/// that passed while the venue was down is journaled at the first clock tick (DAY orders
/// expire, daily limits reset) instead of being skipped; today's for a new journal.
#[must_use]
pub fn initial_trading_day(last_journaled_ns: Option<u64>, now_ns: u64, end_of_day_ns: u64) -> u64 {
    let today = trading_day(now_ns, end_of_day_ns);
    last_journaled_ns.map_or(today, |last| trading_day(last, end_of_day_ns).min(today))
}

impl Sequencer {
    /// A sequencer over a recovered engine and the journal's writer.
    #[must_use]
    pub fn new(
        engine: Engine,
        writer: Writer,
        rings: SequencerRings,
        status: Arc<SequencerStatus>,
        timing: SequencerTiming,
    ) -> Self {
        status.digest.store(engine.digest(), Ordering::Relaxed);
        Sequencer {
            engine,
            writer,
            clock: WallClock::new(),
            gateway_in: rings.gateway_in,
            admin_in: rings.admin_in,
            gateway_out: rings.gateway_out,
            admin_out: rings.admin_out,
            status,
            recorder: timing.recorder,
            metrics: timing.telemetry,
            mono: timing.clock,
            last_clock_ns: 0,
            end_of_day_ns: timing.end_of_day_ns,
            trading_day: timing.end_of_day_ns.map_or(0, |eod| {
                initial_trading_day(timing.last_journaled_ns, WallClock::new().now_ns(), eod)
            }),
            commands_since_digest: 0,
            failed: false,
            payload: [0; 1 + COMMAND_BYTES_MAX + ANNOTATION_BYTES_MAX],
        }
    }

    /// Gives the engine and writer back (for the final snapshot and close).
    #[must_use]
    pub fn into_parts(self) -> (Engine, Writer) {
        (self.engine, self.writer)
    }

    /// Stamps, journals, applies and publishes one request. Returns its reply.
    fn sequence(&mut self, request: &Request) -> Result<AdminReply, JournalError> {
        let dequeued_ns = self.mono.now_ns();
        if request.enqueued_ns != 0 {
            self.recorder
                .record_span(Stage::EnqueuedToDequeued, request.enqueued_ns, dequeued_ns);
        }
        let Sequence(seq) = self.writer.next_sequence();
        let timestamp = self.clock.now_ns();
        let len = encode_record(
            &request.kind,
            request.annotation.as_bytes(),
            &mut self.payload,
        );
        self.writer.append(
            RecordType(RECORD_COMMAND),
            Sequence(seq),
            arbiter_journal::TimestampNs(timestamp),
            &self.payload[..len],
        )?;
        let command = Command::new(Seq(seq), TimestampNs(timestamp), request.kind);
        let journaled_ns = self.mono.now_ns();
        self.recorder
            .record_span(Stage::DequeuedToJournaled, dequeued_ns, journaled_ns);
        // Admin requests carry their own ids; the gateway only correlates its own.
        let gateway_request = if request.request_id & ADMIN_REQUEST_BIT == 0 {
            request.request_id
        } else {
            0
        };
        let mut sink = RingSink {
            ring: &mut self.gateway_out,
            metrics: &self.metrics.metrics,
            clock: self.mono,
            read_ns: request.read_ns,
            request_id: gateway_request,
            seq: Seq(seq),
            timestamp: TimestampNs(timestamp),
            events: 0,
            rejected: None,
            risk: None,
            kills: 0,
        };
        self.engine.apply(&command, &mut sink);
        self.recorder
            .record_span(Stage::JournaledToMatched, journaled_ns, self.mono.now_ns());
        let reply = AdminReply {
            request_id: request.request_id,
            seq: Seq(seq),
            rejected: sink.rejected,
            events: sink.events,
            risk: sink.risk,
        };
        if sink.kills != 0 {
            self.status
                .kill_switches_active
                .fetch_add(sink.kills, Ordering::Relaxed);
        }
        push_waiting(
            &mut self.gateway_out,
            Outbound::Done {
                request_id: gateway_request,
                seq: Seq(seq),
            },
        );
        self.status.applied_seq.store(seq, Ordering::Release);
        self.commands_since_digest += 1;
        if self.commands_since_digest >= DIGEST_INTERVAL_COMMANDS {
            self.write_digest()?;
        }
        Ok(reply)
    }

    /// Journals a FIX session mark (not a command: the engine never sees it) and tells the
    /// gateway its sequence number, so that it learns when the mark is released.
    fn journal_mark(&mut self, request_id: u64, mark: &SessionMark) -> Result<(), JournalError> {
        let Sequence(seq) = self.writer.next_sequence();
        self.writer.append(
            RecordType(RECORD_SESSION),
            Sequence(seq),
            arbiter_journal::TimestampNs(self.clock.now_ns()),
            &mark.encode(),
        )?;
        push_waiting(
            &mut self.gateway_out,
            Outbound::Done {
                request_id,
                seq: Seq(seq),
            },
        );
        self.status.applied_seq.store(seq, Ordering::Release);
        Ok(())
    }

    /// Journals the engine's digest so that replay can prove it rebuilt the same state.
    fn write_digest(&mut self) -> Result<(), JournalError> {
        self.commands_since_digest = 0;
        let digest = self.engine.digest();
        self.status.digest.store(digest, Ordering::Relaxed);
        let Sequence(seq) = self.writer.next_sequence();
        self.writer.append(
            RecordType(RECORD_DIGEST),
            Sequence(seq),
            arbiter_journal::TimestampNs(self.clock.now_ns()),
            &digest.to_le_bytes(),
        )
    }

    fn on_journal_error(&mut self, error: &JournalError) {
        // Journal before effect: with the journal broken nothing more may be applied.
        eprintln!("arbiter: journal append failed, sequencer stops taking requests: {error}");
        self.status.journal_errors.fetch_add(1, Ordering::Relaxed);
        self.failed = true;
    }

    /// Writes a final digest record (on shutdown).
    ///
    /// # Errors
    /// The journal's error.
    pub fn finish(&mut self) -> Result<(), JournalError> {
        if self.failed {
            return Ok(());
        }
        self.write_digest()
    }
}

impl Agent for Sequencer {
    fn do_work(&mut self) -> u32 {
        if self.failed {
            return 0;
        }
        let mut work = 0;
        for _ in 0..REQUESTS_PER_CYCLE_MAX {
            let Some(request) = self.gateway_in.try_pop() else {
                break;
            };
            let result = match request {
                FromGateway::Request(request) => self.sequence(&request).map(|_| ()),
                FromGateway::Mark { request_id, mark } => self.journal_mark(request_id, &mark),
            };
            if let Err(error) = result {
                self.on_journal_error(&error);
                return work;
            }
            work += 1;
        }
        for _ in 0..REQUESTS_PER_CYCLE_MAX {
            let Some(request) = self.admin_in.try_pop() else {
                break;
            };
            match self.sequence(&request) {
                Ok(reply) => {
                    // The admin thread drains its replies; a full ring means it is gone.
                    let _ = self.admin_out.try_push(reply);
                }
                Err(error) => {
                    self.on_journal_error(&error);
                    return work;
                }
            }
            work += 1;
        }
        let now = self.clock.now_ns();
        if now.saturating_sub(self.last_clock_ns) >= CLOCK_INTERVAL_NS {
            self.last_clock_ns = now;
            let clock = Request {
                kind: CommandKind::Clock,
                annotation: crate::messages::Annotation::EMPTY,
                read_ns: 0,
                enqueued_ns: 0,
                request_id: 0,
            };
            if let Err(error) = self.sequence(&clock) {
                self.on_journal_error(&error);
                return work;
            }
            work += 1;
            if let Some(eod) = self.end_of_day_ns {
                let day = trading_day(now, eod);
                if day > self.trading_day {
                    self.trading_day = day;
                    let end_of_day = Request {
                        kind: CommandKind::EndOfDay,
                        annotation: crate::messages::Annotation::new(b"end of day"),
                        read_ns: 0,
                        enqueued_ns: 0,
                        request_id: 0,
                    };
                    if let Err(error) = self.sequence(&end_of_day) {
                        self.on_journal_error(&error);
                        return work;
                    }
                    work += 1;
                }
            }
        }
        if work > 0 {
            self.status
                .live_orders
                .store(u64::from(self.engine.live_orders()), Ordering::Relaxed);
            self.status
                .trades
                .store(self.engine.trades_total(), Ordering::Relaxed);
        }
        work
    }

    fn role_name(&self) -> &'static str {
        "sequencer"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trading_day_turns_at_the_end_of_day() {
        let eod = 22 * 3_600_000_000_000; // 22:00 UTC
        let day = 20_000 * DAY_NS; // some midnight
        let before = trading_day(day + eod - 1, eod);
        let at = trading_day(day + eod, eod);
        let next_morning = trading_day(day + DAY_NS + 3_600_000_000_000, eod);
        assert_eq!(at, before + 1);
        assert_eq!(
            next_morning, at,
            "the day that began at 22:00 runs until 22:00 tomorrow"
        );
        assert_eq!(trading_day(day + DAY_NS + eod, eod), at + 1);
    }

    #[test]
    fn an_end_of_day_missed_while_down_is_caught_up() {
        let eod = 22 * 3_600_000_000_000;
        let monday_noon = 20_000 * DAY_NS + 12 * 3_600_000_000_000;
        let wednesday_noon = monday_noon + 2 * DAY_NS;
        let start = initial_trading_day(Some(monday_noon), wednesday_noon, eod);
        assert!(
            trading_day(wednesday_noon, eod) > start,
            "the first tick journals the missed end of day"
        );
        assert_eq!(
            initial_trading_day(Some(wednesday_noon - 1), wednesday_noon, eod),
            trading_day(wednesday_noon, eod),
            "same day: nothing to catch up"
        );
        assert_eq!(
            initial_trading_day(None, wednesday_noon, eod),
            trading_day(wednesday_noon, eod)
        );
        assert_eq!(
            initial_trading_day(Some(wednesday_noon + DAY_NS), wednesday_noon, eod),
            trading_day(wednesday_noon, eod),
            "a journal from the future (clock stepped back) never skips a day ahead"
        );
    }
}
