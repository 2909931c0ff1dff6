//! The market-data agent: follows the journal with its own engine replica and publishes the
//! binary feed (`arbiter-market-data`), with the retransmission and snapshot services, and
//! FIX market data (`fix_market_data`): every feed message also goes to the FIX
//! subscriptions, so both views come from one book builder.
//!
//! Why the journal and not a ring from the sequencer: the journal already is the bounded
//! ring the sequencer writes once for all its readers — the snapshot agent, this agent and
//! the replicator each keep their own cursor ([`TailReader`]) and none of them can hold the
//! writer back, because the writer never looks at them. The only reader that can hold the
//! sequencer back is the gateway (its outbound ring): it must never lose an execution
//! report, so the sequencer waits for it, and the gateway always drains.
//!
//! The replica re-runs every command (deterministic: same journal, same events), and the
//! feed's sequence numbers count messages from the start of the journal, so a restart, the
//! replay tool or a standby taking over publish the same messages under the same numbers.
//! After a restart the agent replays the journal from its start without sending (the
//! window and the books fill up), then goes live at the first record the restart did not
//! recover: a receiver that lost the earlier packets takes a snapshot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbiter_config::{Config, MarketDataSection};
use arbiter_engine::wire::{decode_record, RECORD_COMMAND, RECORD_DIGEST};
use arbiter_engine::{Engine, Event, EventSink, Seq, TimestampNs};
use arbiter_hardware::{Agent, AgentHandle, AgentRunner, RunnerConfig, WallClock};
use arbiter_journal::{Sequence, TailReader};
use arbiter_market_data::net::{
    spawn_retransmit_service, spawn_snapshot_service, FeedConfig, ServiceHandle, UdpFeed,
};
use arbiter_market_data::{BookCapacity, FeedMessage, Publisher, SessionName};

use crate::fix_market_data::FixMarketData;
use arbiter_perf::{Stage, StageRecorder};

/// Journal records taken per duty cycle.
const RECORDS_PER_CYCLE_MAX: u32 = 1024;

/// Figures the admin socket reads without locks.
#[derive(Debug, Default)]
pub struct MarketDataStatus {
    /// Sequence of the last journal record applied (+1; 0: none).
    pub applied_next: AtomicU64,
    /// The next feed sequence number.
    pub feed_next: AtomicU64,
    /// Packets sent (retransmissions excluded).
    pub packets: AtomicU64,
    /// UDP sends that failed.
    pub send_errors: AtomicU64,
    /// Live: caught up with what start-up recovered, packets go out.
    pub live: AtomicBool,
    /// Stopped on an error (journal, replica divergence): no more publishing.
    pub failed: AtomicBool,
}

/// What `arbiter admin status` prints about the feed: `md=live|catching-up|FAILED
/// md_feed_next=N md_packets=N md_send_errors=N md_lag_records=N`, or `md=off`.
#[must_use]
pub fn status_line(status: Option<&MarketDataStatus>, journal_next: u64) -> String {
    let Some(status) = status else {
        return "md=off".to_owned();
    };
    let state = if status.failed.load(Ordering::Relaxed) {
        "FAILED"
    } else if status.live.load(Ordering::Relaxed) {
        "live"
    } else {
        "catching-up"
    };
    format!(
        "md={state} md_feed_next={} md_packets={} md_send_errors={} md_lag_records={}",
        status.feed_next.load(Ordering::Relaxed),
        status.packets.load(Ordering::Relaxed),
        status.send_errors.load(Ordering::Relaxed),
        journal_next.saturating_sub(status.applied_next.load(Ordering::Relaxed))
    )
}

/// The running agent and its services.
pub struct MarketDataHandle {
    agent: AgentHandle<MarketDataAgent>,
    stop: Arc<AtomicBool>,
    services: Vec<ServiceHandle>,
    /// Shared figures.
    pub status: Arc<MarketDataStatus>,
}

impl MarketDataHandle {
    /// After the journal is closed: publish what is left of it (bounded), then stop.
    pub fn finish(self, journal_next: Sequence) {
        for _ in 0..400 {
            if self.status.applied_next.load(Ordering::Acquire) >= journal_next.0
                || self.status.failed.load(Ordering::Acquire)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop.store(true, Ordering::Release);
        if self.agent.join().is_err() {
            eprintln!("arbiter: market-data thread panicked");
        }
        drop(self.services);
    }
}

fn address(text: &str) -> SocketAddr {
    text.parse().expect("checked by the configuration")
}

/// Where the publisher's packets go: the UDP feed, or nowhere (FIX market data only).
enum Output {
    Udp(UdpFeed),
    Quiet(Publisher),
}

impl Output {
    fn publisher(&self) -> &Publisher {
        match self {
            Output::Udp(feed) => feed.publisher(),
            Output::Quiet(publisher) => publisher,
        }
    }

    fn with<R>(&mut self, work: impl FnOnce(&mut Publisher, &mut dyn FnMut(&[u8])) -> R) -> R {
        match self {
            Output::Udp(feed) => feed.publish_with(work),
            Output::Quiet(publisher) => work(publisher, &mut |_: &[u8]| {}),
        }
    }
}

/// Starts the agent: a fresh replica from the configuration follows the journal from its
/// first record; packets go out from `live_from` on. `fix` carries FIX market data to the
/// gateway's sessions (`None`: the feed only).
///
/// # Errors
/// A text when a socket, the journal follower or the thread cannot start.
pub fn spawn(
    config: &Config,
    section: &MarketDataSection,
    live_from: Sequence,
    recorder: StageRecorder,
    fix: Option<FixMarketData>,
    runner: RunnerConfig,
) -> Result<MarketDataHandle, String> {
    let publisher = Publisher::with_capacities(
        SessionName::from_text(&section.session),
        &config.registry(),
        BookCapacity::from_engine(&config.engine_config()),
        section.window_messages,
    );
    let mut services = Vec::new();
    if let Some(listen) = &section.retransmit_listen {
        let service = spawn_retransmit_service(address(listen), publisher.window_reader())
            .map_err(|e| format!("market-data retransmission service {listen}: {e}"))?;
        eprintln!(
            "arbiter: market-data retransmission on udp://{}",
            service.local_addr()
        );
        services.push(service);
    }
    if let Some(listen) = &section.snapshot_listen {
        // Taken before anything is published: the follower reads the window from its start.
        let service = spawn_snapshot_service(address(listen), publisher.snapshot_follower())
            .map_err(|e| format!("market-data snapshot service {listen}: {e}"))?;
        eprintln!(
            "arbiter: market-data snapshots on tcp://{}",
            service.local_addr()
        );
        services.push(service);
    }
    let output = match &section.feed {
        Some(destination) => {
            let feed_config = FeedConfig {
                bind: address(&section.bind),
                destination: address(destination),
                multicast_interface: section
                    .multicast_interface
                    .as_deref()
                    .map(|i| i.parse().expect("checked by the configuration")),
                multicast_ttl: section.multicast_ttl,
                multicast_loop: true,
                heartbeat_interval: Duration::from_millis(section.heartbeat_ms),
            };
            let feed = UdpFeed::new(&feed_config, publisher)
                .map_err(|e| format!("market-data feed to {destination}: {e}"))?;
            eprintln!(
                "arbiter: market data session {:?} to udp://{destination} (live from journal \
                 sequence {})",
                section.session, live_from.0
            );
            Output::Udp(feed)
        }
        None => Output::Quiet(publisher),
    };
    let journal_dir = config.journal_dir();
    let tail = TailReader::open(&journal_dir, Sequence(0))
        .map_err(|e| format!("market data: journal {}: {e}", journal_dir.display()))?;
    let status = Arc::new(MarketDataStatus::default());
    let agent = MarketDataAgent {
        engine: config.engine(),
        tail,
        output,
        fix,
        live_from,
        recorder,
        clock: WallClock::new(),
        status: Arc::clone(&status),
        failed: false,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let agent = AgentRunner::spawn(agent, runner, Arc::clone(&stop))
        .map_err(|e| format!("market-data thread: {e}"))?;
    Ok(MarketDataHandle {
        agent,
        stop,
        services,
        status,
    })
}

/// Events pumped into the packets this often within one command (the builder holds a
/// bounded number of messages between pumps: allocation-free for commands of any size).
const EVENTS_PER_PUMP: u32 = 256;

/// Feeds one command's events to the publisher, pumping as it goes.
struct FeedSink<'a, S: FnMut(&[u8]), O: FnMut(&FeedMessage)> {
    publisher: &'a mut Publisher,
    send: &'a mut S,
    observe: &'a mut O,
    seq: Seq,
    timestamp: TimestampNs,
    events: u32,
}

impl<S: FnMut(&[u8]), O: FnMut(&FeedMessage)> EventSink for FeedSink<'_, S, O> {
    fn emit(&mut self, event: Event) {
        // A refusal is sticky in the builder: the command end reports it.
        let _ = self.publisher.on_event(self.seq, self.timestamp, &event);
        self.events += 1;
        if self.events % EVENTS_PER_PUMP == 0 {
            self.publisher.pump_observed(self.send, self.observe);
        }
    }
}

/// The agent proper (see the module docs).
pub struct MarketDataAgent {
    engine: Engine,
    tail: TailReader,
    output: Output,
    fix: Option<FixMarketData>,
    live_from: Sequence,
    recorder: StageRecorder,
    clock: WallClock,
    status: Arc<MarketDataStatus>,
    failed: bool,
}

impl MarketDataAgent {
    fn fail(&mut self, why: &str) {
        eprintln!("arbiter: market data stops publishing: {why}");
        self.failed = true;
        self.status.failed.store(true, Ordering::Release);
    }

    /// Applies one record; `Err` stops the agent.
    fn apply(&mut self) -> Result<bool, String> {
        let record = match self.tail.poll() {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(false),
            Err(e) => return Err(format!("journal: {e}")),
        };
        let seq = record.sequence();
        let timestamp = record.timestamp().0;
        match record.record_type().0 {
            RECORD_COMMAND => {
                let (command, _) =
                    decode_record(Seq(seq.0), TimestampNs(timestamp), record.payload())
                        .map_err(|e| format!("journal record {}: {e}", seq.0))?;
                let live = seq >= self.live_from;
                let (engine, fix) = (&mut self.engine, &mut self.fix);
                let mut sent = false;
                let result = self.output.with(|publisher, send| {
                    // Catching up: the window and the books fill, nothing goes out.
                    let mut send = |packet: &[u8]| {
                        if live {
                            sent = true;
                            send(packet);
                        }
                    };
                    let mut observe = |message: &FeedMessage| {
                        if let Some(fix) = fix.as_mut() {
                            fix.on_feed_message(message);
                        }
                    };
                    engine.apply(
                        &command,
                        &mut FeedSink {
                            publisher: &mut *publisher,
                            send: &mut send,
                            observe: &mut observe,
                            seq: command.seq,
                            timestamp: command.timestamp,
                            events: 0,
                        },
                    );
                    publisher.on_command_end_observed(command.seq, &mut send, &mut observe)
                });
                if let Err(e) = result {
                    return Err(format!(
                        "journal record {}: the book builder refused: {e}",
                        seq.0
                    ));
                }
                if sent {
                    let now = self.clock.now_ns();
                    self.recorder
                        .record(Stage::JournaledToPublished, now.saturating_sub(timestamp));
                }
            }
            RECORD_DIGEST => {
                let bytes: [u8; 8] = record
                    .payload()
                    .try_into()
                    .map_err(|_| format!("journal record {}: digest is not 8 bytes", seq.0))?;
                let actual = self.engine.digest();
                if u64::from_le_bytes(bytes) != actual {
                    return Err(format!(
                        "journal record {}: the market-data replica's digest {actual:016x} differs \
                         from the journal's",
                        seq.0
                    ));
                }
            }
            _ => {}
        }
        self.status.applied_next.store(seq.0 + 1, Ordering::Release);
        Ok(true)
    }
}

impl Agent for MarketDataAgent {
    fn do_work(&mut self) -> u32 {
        if self.failed {
            return 0;
        }
        let mut work = 0;
        if let Some(fix) = self.fix.as_mut() {
            fix.refresh_budgets();
            work += fix.serve_requests();
        }
        let mut records = 0;
        while records < RECORDS_PER_CYCLE_MAX {
            match self.apply() {
                Ok(true) => records += 1,
                Ok(false) => break,
                Err(why) => {
                    self.fail(&why);
                    return work + records;
                }
            }
        }
        work += records;
        if let Some(fix) = self.fix.as_mut() {
            work += fix.poll();
        }
        if !self.status.live.load(Ordering::Relaxed) && self.tail.next_sequence() >= self.live_from
        {
            // Caught up: what the builder still holds (the directory of a new journal) goes out.
            let fix = &mut self.fix;
            self.output.with(|publisher, send| {
                publisher.flush_observed(
                    &mut |packet: &[u8]| send(packet),
                    &mut |message: &FeedMessage| {
                        if let Some(fix) = fix.as_mut() {
                            fix.on_feed_message(message);
                        }
                    },
                );
            });
            self.status.live.store(true, Ordering::Release);
        }
        if let Output::Udp(feed) = &mut self.output {
            if records == 0 && self.status.live.load(Ordering::Relaxed) {
                feed.heartbeat_if_idle(Instant::now());
            }
            self.status
                .send_errors
                .store(feed.send_errors(), Ordering::Relaxed);
        }
        if records > 0 {
            let publisher = self.output.publisher();
            self.status
                .feed_next
                .store(publisher.builder().next_seq().0, Ordering::Relaxed);
            self.status
                .packets
                .store(publisher.packets_sent(), Ordering::Relaxed);
        }
        work
    }

    fn role_name(&self) -> &'static str {
        "market-data"
    }
}
