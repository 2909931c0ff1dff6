//! The market-data agent: follows the journal with its own engine replica and publishes the
//! binary feed (`arbiter-market-data`), with the retransmission and snapshot services.
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbiter_config::{Config, MarketDataSection};
use arbiter_engine::wire::{decode_record, RECORD_COMMAND, RECORD_DIGEST};
use arbiter_engine::{Engine, Event, EventSink, Seq, TimestampNs};
use arbiter_hardware::{Agent, AgentHandle, AgentRunner, RunnerConfig, WallClock};
use arbiter_journal::{Sequence, TailReader};
use arbiter_market_data::net::{
    spawn_retransmit_service, spawn_snapshot_service, FeedConfig, ServiceHandle, SharedPublisher,
    UdpFeed,
};
use arbiter_market_data::{Publisher, SessionName};
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

fn lock(publisher: &SharedPublisher) -> std::sync::MutexGuard<'_, Publisher> {
    // A panic under the lock would have aborted the process (panic = abort in release);
    // in tests, go on with what the publisher holds.
    publisher
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn address(text: &str) -> SocketAddr {
    text.parse().expect("checked by the configuration")
}

/// Starts the agent: a fresh replica from the configuration follows the journal from its
/// first record; packets go out from `live_from` on.
///
/// # Errors
/// A text when a socket, the journal follower or the thread cannot start.
pub fn spawn(
    config: &Config,
    section: &MarketDataSection,
    live_from: Sequence,
    recorder: StageRecorder,
) -> Result<MarketDataHandle, String> {
    let registry = config.registry();
    let session = SessionName::from_text(&section.session);
    let publisher: SharedPublisher = Arc::new(Mutex::new(Publisher::new(
        session,
        &registry,
        config.engine.orders_max as usize,
        section.window_messages,
    )));
    let feed = match &section.feed {
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
            let feed = UdpFeed::new(&feed_config, Arc::clone(&publisher))
                .map_err(|e| format!("market-data feed to {destination}: {e}"))?;
            eprintln!(
                "arbiter: market data session {:?} to udp://{destination} (live from journal \
                 sequence {})",
                section.session, live_from.0
            );
            Some(feed)
        }
        None => None,
    };
    let mut services = Vec::new();
    if let Some(listen) = &section.retransmit_listen {
        let service = spawn_retransmit_service(address(listen), Arc::clone(&publisher))
            .map_err(|e| format!("market-data retransmission service {listen}: {e}"))?;
        eprintln!(
            "arbiter: market-data retransmission on udp://{}",
            service.local_addr()
        );
        services.push(service);
    }
    if let Some(listen) = &section.snapshot_listen {
        let service = spawn_snapshot_service(address(listen), Arc::clone(&publisher))
            .map_err(|e| format!("market-data snapshot service {listen}: {e}"))?;
        eprintln!(
            "arbiter: market-data snapshots on tcp://{}",
            service.local_addr()
        );
        services.push(service);
    }
    let journal_dir = config.journal_dir();
    let tail = TailReader::open(&journal_dir, Sequence(0))
        .map_err(|e| format!("market data: journal {}: {e}", journal_dir.display()))?;
    let status = Arc::new(MarketDataStatus::default());
    let agent = MarketDataAgent {
        engine: config.engine(),
        tail,
        publisher,
        feed,
        live_from,
        recorder,
        clock: WallClock::new(),
        status: Arc::clone(&status),
        failed: false,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let agent = AgentRunner::spawn(agent, RunnerConfig::unpinned("arb-md"), Arc::clone(&stop))
        .map_err(|e| format!("market-data thread: {e}"))?;
    Ok(MarketDataHandle {
        agent,
        stop,
        services,
        status,
    })
}

/// Feeds one command's events to the publisher's builder.
struct FeedSink<'a> {
    publisher: &'a mut Publisher,
    seq: Seq,
    timestamp: TimestampNs,
}

impl EventSink for FeedSink<'_> {
    fn emit(&mut self, event: Event) {
        self.publisher.on_event(self.seq, self.timestamp, &event);
    }
}

/// The agent proper (see the module docs).
pub struct MarketDataAgent {
    engine: Engine,
    tail: TailReader,
    publisher: SharedPublisher,
    /// The binary feed (`None`: FIX market data only).
    feed: Option<UdpFeed>,
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
                let engine = &mut self.engine;
                let mut sent = false;
                let mut publish = |publisher: &mut Publisher, send: &mut dyn FnMut(&[u8])| {
                    engine.apply(
                        &command,
                        &mut FeedSink {
                            publisher,
                            seq: command.seq,
                            timestamp: command.timestamp,
                        },
                    );
                    if live {
                        publisher.on_command_end(command.seq, &mut |packet: &[u8]| {
                            sent = true;
                            send(packet);
                        });
                    } else {
                        // Catching up: the window and the books fill, nothing goes out.
                        publisher.on_command_end(command.seq, &mut |_: &[u8]| {});
                    }
                };
                match self.feed.as_mut() {
                    Some(feed) => feed.publish_with(publish),
                    None => publish(&mut lock(&self.publisher), &mut |_: &[u8]| {}),
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
        while work < RECORDS_PER_CYCLE_MAX {
            match self.apply() {
                Ok(true) => work += 1,
                Ok(false) => break,
                Err(why) => {
                    self.fail(&why);
                    return work;
                }
            }
        }
        if !self.status.live.load(Ordering::Relaxed) && self.tail.next_sequence() >= self.live_from
        {
            // Caught up: what the builder still holds (the directory of a new journal) goes out.
            if let Some(feed) = self.feed.as_mut() {
                feed.flush();
            }
            self.status.live.store(true, Ordering::Release);
        }
        if let Some(feed) = self.feed.as_mut() {
            if work == 0 && self.status.live.load(Ordering::Relaxed) {
                feed.heartbeat_if_idle(Instant::now());
            }
            self.status
                .send_errors
                .store(feed.send_errors(), Ordering::Relaxed);
        }
        if work > 0 {
            let publisher = lock(&self.publisher);
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
