//! `arbiter run`: recovery, threads and rings, signals and an orderly shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arbiter_fix::{FileStore, FixVersion, Gateway, GatewayConfig, MessageStore, SessionConfig};
use arbiter_hardware::{spsc, AgentRunner, BackoffConfig, IdleConfig, RunnerConfig};
use arbiter_journal::{Durability as JournalDurability, JournalConfig};

use crate::admin::AdminServer;
use crate::gateway_agent::{DisconnectPolicy, GatewayAgent, GatewayTiming, Inbox, SessionMarks};
use crate::recovery::{open_journal, recover, JOURNAL_IDENTITY};
use crate::sequencer::{Sequencer, SequencerRings, SequencerStatus, SequencerTiming};
use crate::session_ledger::{reconcile, Reconciled};
use crate::session_store::{JournaledStore, Released};
use arbiter_config::{AgentConfig, Config, Durability};
use arbiter_perf::{
    stage_recorder, HlogConfig, MetricsLayout, MetricsServer, Reporter, ReporterConfig, Stage,
    Telemetry,
};

const REQUEST_RING_CAPACITY: usize = 1 << 14;
const OUTBOUND_RING_CAPACITY: usize = 1 << 16;
const ADMIN_RING_CAPACITY: usize = 64;

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    if SIGNALLED.swap(true, Ordering::SeqCst) {
        // A second signal: leave at once.
        unsafe { libc::_exit(130) };
    }
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only touches an atomic and calls the async-signal-safe _exit.
    unsafe {
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

fn runner(name: &str, agent: &AgentConfig) -> RunnerConfig {
    let idle = match agent.idle.as_str() {
        "busy-spin" => IdleConfig::BusySpin,
        "yield" => IdleConfig::Yield,
        "sleep" => IdleConfig::Sleep {
            park_ns: arbiter_hardware::SLEEP_PARK_NS_DEFAULT,
        },
        _ => IdleConfig::Backoff(BackoffConfig::default()),
    };
    RunnerConfig {
        core: agent.core,
        idle,
        ..RunnerConfig::unpinned(name)
    }
}

pub(crate) fn journal_config(config: &Config) -> JournalConfig {
    let mut journal = JournalConfig::new(JOURNAL_IDENTITY);
    journal.segment_size_bytes = config.journal.segment_bytes;
    journal.durability = match config.journal.durability {
        Durability::None => JournalDurability::None,
        Durability::Batch => JournalDurability::Batch {
            interval_us: config.journal.batch_interval_us,
            records: 4096,
        },
        Durability::Sync => JournalDurability::Sync,
    };
    journal
}

/// Whether SIGTERM/SIGINT arrived (the standby's loops watch it too).
pub(crate) fn signalled() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// Runs the venue until SIGTERM/SIGINT or an admin `shutdown`. Clustered, a leader takes
/// the shard's lease first; a standby (`role = "standby"` or `standby`) follows the stream
/// until it takes over, then continues here as the leader.
///
/// # Errors
/// A message for the operator when start-up fails, or when this leader was fenced.
pub fn run(config: &Config, config_text: &str, standby: bool) -> Result<(), String> {
    install_signal_handlers();
    let _ = arbiter_hardware::allowed_cores();
    let Some(role) = crate::standby::lead_or_follow(config, standby)? else {
        return Ok(()); // a standby stopped before taking over
    };
    let lease = role.lease;
    let data_dir = &config.venue.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("data directory {}: {e}", data_dir.display()))?;

    let registry = config.registry();
    let new_app = || crate::state::new_gateway(config);
    // Signed checkpoints (docs/security.md): the key is checked before anything is opened.
    let signing_key = match config.signing_key_path() {
        Some(path) => Some(
            arbiter_journal::SigningKey::load(&path)
                .map_err(|e| format!("journal signing key: {e}"))?,
        ),
        None => None,
    };
    let mut journal_settings = journal_config(config);
    journal_settings.signing_key.clone_from(&signing_key);
    journal_settings.anchor_path = config.journal.anchor.as_ref().map(|p| data_dir.join(p));
    let journal = open_journal(&config.journal_dir(), journal_settings)?;

    // Recovery: a standby that took over already holds the state (only what it appended
    // but did not apply is replayed); otherwise the newest valid snapshot (if any fits),
    // then the journal after it, replayed into the engine and the gateway's order table.
    let taken_over = role
        .taken_over
        .filter(|t| t.from <= journal.0.next_sequence());
    let standby_state = taken_over.is_some();
    let (mut engine, mut app, from, snapshot_config, snapshot_used) = match taken_over {
        Some(state) => (state.engine, state.app, state.from, state.last_config, None),
        None => match crate::snapshot_agent::load_latest(config, journal.0.next_sequence()) {
            Some(loaded) => (
                loaded.engine,
                loaded.app,
                loaded.sequence.next(),
                loaded.last_config,
                Some((loaded.path, loaded.sequence)),
            ),
            None => (
                config.engine(),
                new_app(),
                arbiter_journal::Sequence(0),
                None,
                None,
            ),
        },
    };
    let recovered = recover(
        &config.journal_dir(),
        journal,
        config,
        &mut engine,
        from,
        snapshot_config,
        &mut app,
    )?;
    let rate = recovered.commands as f64 / recovered.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "arbiter: recovered {} commands ({} digests checked) in {:?} ({rate:.0} records/s); {}",
        recovered.commands,
        recovered.digests_checked,
        recovered.elapsed,
        if recovered.journal.truncated.is_some() {
            format!("torn tail truncated: {:?}", recovered.journal.truncated)
        } else {
            "journal clean".to_owned()
        }
    );
    match &snapshot_used {
        Some((path, sequence)) => eprintln!(
            "arbiter: started from snapshot {} at sequence {}; replayed {} later commands from \
             sequence {} in {:?} ({rate:.0} records/s)",
            path.display(),
            sequence.0,
            recovered.commands,
            from.0,
            recovered.elapsed
        ),
        None if standby_state => eprintln!(
            "arbiter: took over the standby's state (records before sequence {}); replayed {} \
             commands appended after it",
            from.0, recovered.commands
        ),
        None => eprintln!(
            "arbiter: no snapshot used; replayed the whole journal ({} commands)",
            recovered.commands
        ),
    }
    eprintln!(
        "arbiter: live orders {}, digest {:016x}",
        engine.live_orders(),
        engine.digest()
    );
    match config.journal.durability {
        Durability::Sync => eprintln!("arbiter: durability sync: reports wait until their command is on disk"),
        Durability::Batch => eprintln!(
            "arbiter: durability batch ({} us): reports are NOT held for durability; a power cut may lose the last batch",
            config.journal.batch_interval_us
        ),
        Durability::None => eprintln!(
            "arbiter: durability none: reports are NOT held; the OS writes back; a power cut may lose acknowledged orders"
        ),
    }
    let mut writer = recovered.writer;
    let last_journaled_ns =
        crate::recovery::last_record_ns(&config.journal_dir(), writer.next_sequence());
    // The snapshot agent's replica starts from the recovered state: every record before this.
    let agent_from = writer.next_sequence();
    let agent_config = recovered.last_config.clone();
    if recovered.last_config.as_deref() != Some(config_text) {
        // The replay tool rebuilds the engine from the configuration journaled here.
        let seq = writer.next_sequence();
        writer
            .append(
                arbiter_journal::RecordType(arbiter_engine::wire::RECORD_CONFIG),
                seq,
                arbiter_journal::TimestampNs(arbiter_fix::system_clock_ns()),
                config_text.as_bytes(),
            )
            .map_err(|e| format!("journal configuration record: {e}"))?;
    }
    if let Some(lease) = &lease {
        crate::cluster_agent::journal_epoch(config, &mut writer, lease.epoch())?;
    }
    let flusher = writer
        .flusher()
        .map_err(|e| format!("journal flusher: {e}"))?;
    let durable = writer.durable_cursor();
    let flusher = flusher.spawn();

    // Snapshots: a replica of the recovered state follows the journal on its own thread.
    // The engine's state is serialized for it on a helper thread while start-up goes on, and
    // the replica is built on the agent's thread: the FIX listener (a failover's first
    // Logon) waits for neither.
    let engine = crate::snapshot_agent::lend(
        engine,
        &app,
        agent_config,
        agent_from,
        config.snapshot.interval_records > 0,
    )?;
    if let Some(key) = &signing_key {
        eprintln!(
            "arbiter: journal and access trail seals are signed (public key {})",
            key.public_key()
        );
    }

    // The access trail: logons, logouts, refusals, admin requests (docs/security.md).
    let (trail, trail_thread) = crate::access_trail::open(config, signing_key.clone())?;
    let comp_ids: Vec<String> = config
        .fix
        .sessions
        .iter()
        .map(|s| s.target_comp_id.clone())
        .collect();
    app.set_access_trail(trail.clone(), comp_ids.clone());

    // Rings.
    let (gateway_tx, gateway_rx) = spsc::channel(REQUEST_RING_CAPACITY);
    let (admin_tx, admin_rx) = spsc::channel(ADMIN_RING_CAPACITY);
    let (outbound_tx, outbound_rx) = spsc::channel(OUTBOUND_RING_CAPACITY);
    let (reply_tx, reply_rx) = spsc::channel(ADMIN_RING_CAPACITY);

    // The FIX acceptor.
    let listen: SocketAddr = config.fix.listen.parse().expect("checked");
    let store_dir = data_dir.join("fix-store");
    std::fs::create_dir_all(&store_dir).map_err(|e| format!("{}: {e}", store_dir.display()))?;
    let now = arbiter_fix::system_clock_ns();
    let mut sessions = Vec::new();
    let mut disconnect = Vec::new();
    let mark_log = crate::session_store::mark_log();
    let mut released = Vec::new();
    for s in &config.fix.sessions {
        let version = if s.begin_string == "FIXT.1.1" {
            FixVersion::Fixt11
        } else {
            FixVersion::Fix44
        };
        let mut session = SessionConfig::new(version, &s.sender_comp_id, &s.target_comp_id);
        session.password_hash.clone_from(&s.password_hash);
        session.allowed_sources = s
            .allowed_sources
            .iter()
            .map(|c| c.parse().expect("checked"))
            .collect();
        session.cert_subject.clone_from(&s.cert_subject);
        session.reset_on_logon = s.reset_on_logon;
        session.sending_time_accuracy_ns = Some(config.fix.sending_time_accuracy_ms * 1_000_000);
        session.logon_timeout_ns = config.fix.logon_timeout_ms * 1_000_000;
        let name = format!(
            "{}-{}-{}",
            s.begin_string, s.sender_comp_id, s.target_comp_id
        );
        let mut store = FileStore::open(
            &store_dir,
            &name,
            config.journal.durability == Durability::Sync,
            now,
        )
        .map_err(|e| format!("FIX store {name}: {e}"))?;
        // The journal's sequence numbers win over a store another node (or an older
        // sequence) left behind: a new leader resumes where the old one was.
        let index = sessions.len() as u32;
        let journaled = app.sessions_journaled().get(index);
        let outcome = reconcile(&mut store, journaled, config.cluster.is_some())
            .map_err(|e| format!("FIX store {name}: {e}"))?;
        if outcome != Reconciled::FileOnly {
            eprintln!(
                "arbiter: FIX session {name}: next sender {} next target {} ({outcome:?} from \
                 the journal)",
                store.next_sender_seq(),
                store.next_target_seq()
            );
        }
        let session_released = Released::new(journaled.map_or(0, |j| j.sender_through));
        released.push(session_released.clone());
        let store = JournaledStore::new(store, index, session_released, Arc::clone(&mark_log));
        sessions.push((session, store));
        disconnect.push(DisconnectPolicy {
            cancel_on_disconnect: s.cancel_on_disconnect,
        });
    }
    let tls = crate::net_edge::tls_server_config(config)?;
    let gateway_config = GatewayConfig {
        listen_address: listen,
        connections_max: config.fix.max_connections,
        message_bytes_max: config.fix.max_message_bytes,
        logon_timeout_ns: config.fix.logon_timeout_ms * 1_000_000,
        edge: crate::net_edge::edge_policy(config),
        tls,
        ..GatewayConfig::default()
    };
    let inbox = Inbox::with_capacity(1 << 20)
        .with_access_trail(trail.clone(), comp_ids)
        .with_marks(Arc::clone(&mark_log));
    let mut gateway = Gateway::bind(gateway_config, sessions, inbox)
        .map_err(|e| format!("FIX listener {listen}: {e}"))?;
    gateway.set_edge_events(Box::new(crate::access_trail::EdgeTrail(trail.clone())));
    let bound = gateway.local_addr().map_err(|e| e.to_string())?;
    // Latency and metrics: one recorder per timed thread, a reporter thread off the hot path.
    let clock = arbiter_hardware::MonoClock::calibrate();
    let telemetry = Telemetry::new(MetricsLayout {
        rings: vec!["gateway_in".into(), "outbound".into()],
        agents: vec!["gateway".into(), "sequencer".into()],
        sessions: config
            .fix
            .sessions
            .iter()
            .map(|s| s.target_comp_id.clone())
            .collect(),
    });
    let (gateway_recorder, gateway_reader) = stage_recorder(
        "gateway",
        &[
            Stage::SocketReadToDecoded,
            Stage::DecodedToEnqueued,
            Stage::MatchedToGatewayDequeued,
            Stage::GatewayDequeuedToEncoded,
            Stage::EncodedToWritten,
            Stage::WrittenToDurable,
            Stage::WireToWire,
        ],
    );
    let (market_data_recorder, market_data_reader) =
        stage_recorder("market-data", &[Stage::JournaledToPublished]);
    let (sequencer_recorder, sequencer_reader) = stage_recorder(
        "sequencer",
        &[
            Stage::EnqueuedToDequeued,
            Stage::DequeuedToJournaled,
            Stage::JournaledToMatched,
        ],
    );
    let hlog_dir = data_dir.join(&config.metrics.hlog_dir);
    let dump_dir = data_dir.join(&config.metrics.dump_dir);
    for dir in [&hlog_dir, &dump_dir] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let reporter = Reporter::new(
        ReporterConfig {
            interval: Duration::from_millis(config.metrics.interval_ms),
            hlog: Some(HlogConfig {
                path: hlog_dir.join("arbiter.hlog"),
                rotate_bytes: Some(config.metrics.hlog_rotate_bytes),
                rotate_after: None,
            }),
            dump_dir: Some(dump_dir.clone()),
        },
        Arc::clone(&telemetry),
        vec![gateway_reader, sequencer_reader, market_data_reader],
    )
    .map_err(|e| format!("interval log in {}: {e}", hlog_dir.display()))?;
    let reporter = reporter
        .spawn()
        .map_err(|e| format!("reporter thread: {e}"))?;
    if let Err(e) = arbiter_perf::install_sigusr1_dump() {
        eprintln!("arbiter: warning: SIGUSR1 dumps unavailable: {e}");
    }
    let metrics_server = match &config.metrics.listen {
        Some(address) => {
            let options = crate::net_edge::metrics_options(config)?;
            let scheme = if options.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let server = MetricsServer::start_with(address, &telemetry, options)
                .map_err(|e| format!("metrics endpoint {address}: {e}"))?;
            eprintln!(
                "arbiter: metrics on {scheme}://{}/metrics",
                server.address()
            );
            Some(server)
        }
        None => None,
    };
    // Market data follows the journal on its own thread; it goes live at the first record
    // this start did not recover.
    let mut gateway_link = None;
    let market_data = match config.market_data.as_ref().filter(|m| m.enabled) {
        Some(section) => {
            // FIX market data: the gateway forwards requests and sends the answers.
            let (gateway_side, agent_side) =
                crate::market_data_link::link(config.fix.sessions.len());
            gateway_link = Some(gateway_side);
            let fix = crate::fix_market_data::FixMarketData::new(config, section, agent_side);
            Some(crate::market_data_agent::spawn(
                config,
                section,
                agent_from,
                market_data_recorder,
                Some(fix),
                runner("arb-md", &config.agents.market_data),
            )?)
        }
        None => None,
    };
    // Clustered: the replicator follows the journal; reports wait on min(local, replicated).
    let cluster = crate::cluster_agent::LeaderCluster::start(config, lease, &durable, &telemetry)?;
    // Venue-wide controls across shards: a clustered leader listens on NATS (subscribed
    // before the agents start, so a failure here leaves nothing half-running).
    let (venue_listener, venue_control) = crate::venue_control::start(config)?.unzip();
    let held = crate::release::ReleaseCursor::new(
        durable.clone(),
        config.journal.durability == Durability::Sync,
        cluster
            .as_ref()
            .and_then(crate::cluster_agent::LeaderCluster::hold_cursor),
        cluster
            .as_ref()
            .map_or_else(Default::default, |c| Arc::clone(&c.local_only)),
    );
    let mut gateway_agent = GatewayAgent::new(
        gateway,
        app,
        gateway_tx,
        outbound_rx,
        held,
        disconnect,
        GatewayTiming {
            recorder: gateway_recorder,
            telemetry: Arc::clone(&telemetry),
            clock,
        },
        SessionMarks {
            at_start: mark_log.len(),
            log: mark_log,
            released,
        },
    );
    let (control_tx, control_rx) = spsc::channel(ADMIN_RING_CAPACITY);
    gateway_agent.set_control(control_rx);
    if let Some(link) = gateway_link {
        gateway_agent.set_market_data(link);
    }
    // Admin reports (orders, positions): a few at a time, answered by the gateway thread.
    let (reports_tx, reports_rx) = std::sync::mpsc::sync_channel(4);
    gateway_agent.set_reports(reports_rx);
    if let Some(cluster) = &cluster {
        gateway_agent.set_cluster(Arc::clone(&cluster.fence), Arc::clone(&cluster.halted));
    }

    let (engine, snapshot_agent) = engine.start_agent(config)?;
    match &snapshot_agent {
        Some(_) => eprintln!(
            "arbiter: snapshots every {} commands in {}",
            config.snapshot.interval_records,
            config.snapshot_dir().display()
        ),
        None => eprintln!("arbiter: snapshots disabled (snapshot.interval_records = 0)"),
    }
    let status = Arc::new(SequencerStatus::default());
    let sequencer = Sequencer::new(
        engine,
        writer,
        SequencerRings {
            gateway_in: gateway_rx,
            admin_in: admin_rx,
            gateway_out: outbound_tx,
            admin_out: reply_tx,
        },
        Arc::clone(&status),
        SequencerTiming {
            end_of_day_ns: config
                .venue
                .end_of_day
                .as_deref()
                .and_then(arbiter_config::parse_hhmm)
                .map(|minutes| u64::from(minutes) * 60_000_000_000),
            recorder: sequencer_recorder,
            telemetry: Arc::clone(&telemetry),
            clock,
            last_journaled_ns,
        },
    );

    let shutdown = Arc::new(AtomicBool::new(false));
    let gateway_stop = Arc::new(AtomicBool::new(false));
    let sequencer_stop = Arc::new(AtomicBool::new(false));
    let sequencer_handle = AgentRunner::spawn(
        sequencer,
        runner("arb-sequencer", &config.agents.sequencer),
        Arc::clone(&sequencer_stop),
    )
    .map_err(|e| format!("sequencer thread: {e}"))?;
    let gateway_handle = AgentRunner::spawn(
        gateway_agent,
        runner("arb-gateway", &config.agents.gateway),
        Arc::clone(&gateway_stop),
    )
    .map_err(|e| format!("gateway thread: {e}"))?;
    for warning in sequencer_handle
        .warnings()
        .iter()
        .chain(gateway_handle.warnings())
    {
        eprintln!("arbiter: warning: {warning}");
    }

    let verifier_status = Arc::new(crate::access_trail::VerifierStatus::default());
    let verifier = if config.journal.verify_interval_ms > 0 {
        Some(
            crate::access_trail::spawn_verifier(
                config.journal_dir(),
                Some(config.access_dir()),
                signing_key
                    .as_ref()
                    .map(arbiter_journal::SigningKey::public_key),
                Duration::from_millis(config.journal.verify_interval_ms),
                Arc::clone(&verifier_status),
            )
            .map_err(|e| format!("verifier thread: {e}"))?,
        )
    } else {
        None
    };
    let admin = AdminServer {
        path: config.admin_socket(),
        requests: admin_tx,
        replies: reply_rx,
        status: Arc::clone(&status),
        durable: durable.clone(),
        instruments: registry,
        shutdown: Arc::clone(&shutdown),
        venue: config.venue.name.clone(),
        operators: config.admin.operators.clone(),
        config: config.clone(),
        telemetry: Arc::clone(&telemetry),
        dump_dir: dump_dir.clone(),
        control: control_tx,
        reports: reports_tx,
        trail: Some(trail),
        verifier: Arc::clone(&verifier_status),
        signing: signing_key.is_some(),
        snapshots: snapshot_agent
            .as_ref()
            .map(crate::snapshot_agent::SnapshotAgentHandle::requester),
        market_data: market_data.as_ref().map(|m| Arc::clone(&m.status)),
        cluster: cluster.as_ref().map(|c| Arc::clone(&c.status)),
        venue_control,
    };
    let listener = admin
        .bind()
        .map_err(|e| format!("admin socket {}: {e}", config.admin_socket().display()))?;
    let admin_thread = std::thread::Builder::new()
        .name("arb-admin".into())
        .spawn(move || admin.serve(&listener))
        .map_err(|e| format!("admin thread: {e}"))?;

    // The line tests and operators wait for.
    eprintln!(
        "arbiter: listening for FIX on {bound}; admin socket {}",
        config.admin_socket().display()
    );
    if let Some(cluster) = &cluster {
        cluster.listening(config);
    }
    let fenced = || cluster.as_ref().is_some_and(|c| c.fence.is_tripped());
    while !SIGNALLED.load(Ordering::SeqCst) && !shutdown.load(Ordering::Acquire) && !fenced() {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("arbiter: shutting down");
    shutdown.store(true, Ordering::Release);

    // Stop reading FIX first, log everyone out, then drain the sequencer.
    gateway_stop.store(true, Ordering::Release);
    let mut gateway_agent = gateway_handle
        .join()
        .map_err(|_| "gateway thread panicked".to_owned())?
        .agent;
    sequencer_stop.store(true, Ordering::Release);
    let joined = sequencer_handle
        .join()
        .map_err(|_| "sequencer thread panicked".to_owned())?;
    let mut sequencer = joined.agent;
    // Requests already in the ring are applied so nothing accepted by the gateway is lost.
    while arbiter_hardware::Agent::do_work(&mut sequencer) > 0 {}
    sequencer
        .finish()
        .map_err(|e| format!("final digest record: {e}"))?;
    let (engine, writer) = sequencer.into_parts();
    // Deliver what the last commands caused, once durable, then log out.
    flusher.stop().map_err(|e| format!("journal flush: {e}"))?;
    for _ in 0..100 {
        if arbiter_hardware::Agent::do_work(&mut gateway_agent) == 0 {
            break;
        }
    }
    let step_down = cluster
        .as_ref()
        .filter(|c| c.fence.is_tripped())
        .map(|c| c.fence.reason());
    gateway_agent.logout_all(step_down.as_deref().map_or("venue shutting down", |_| {
        "venue node fenced, no longer the leader"
    }));
    let last_written = writer.next_sequence().0.checked_sub(1);
    let journal_next = writer.next_sequence();
    writer.close().map_err(|e| format!("journal close: {e}"))?;
    if let Some(market_data) = market_data {
        market_data.finish(journal_next);
    }
    // The replicator publishes the closed journal's tail (unless fenced), then stops.
    let replicated = cluster.map(crate::cluster_agent::LeaderCluster::stop);
    // The journal is closed: the agent catches up and writes the final snapshot.
    if let Some(agent) = snapshot_agent {
        agent.finish(last_written.map(arbiter_journal::Sequence));
    }
    let _ = admin_thread.join();
    if let Some(listener) = venue_listener {
        listener.stop();
    }
    if let Some(verifier) = verifier {
        verifier.stop();
    }
    trail_thread
        .stop()
        .map_err(|e| format!("access trail close: {e}"))?;
    for problem in reporter.stop() {
        eprintln!("arbiter: reporter: {problem}");
    }
    if let Some(server) = metrics_server {
        server.stop();
    }
    eprintln!("arbiter: percentile dumps in {}", dump_dir.display());
    if let (Some(reason), Some((epoch, replicated))) = (step_down, replicated) {
        let done = crate::cluster_agent::quarantine(config, epoch, replicated)?;
        return Err(format!(
            "fenced ({reason}); stepped down: {done}; restart this node as a standby \
             (--standby): it rebuilds its journal from the stream"
        ));
    }
    eprintln!(
        "arbiter: stopped cleanly; live orders {}, digest {:016x}",
        engine.live_orders(),
        engine.digest()
    );
    Ok(())
}
