//! The hot standby (docs/cluster.md): follows the shard's JetStream stream into its own
//! journal (verified, byte-identical), applies every record to its own engine and gateway
//! order table, refuses FIX logons with a Logout saying it is a standby, and when the
//! leader's lease lapses takes it, catches up to the end of the stream and hands over to
//! the normal leader start-up: its engine and order table go along (they already hold
//! every record it applied), so the leader replays only the records appended but not yet
//! applied instead of the whole journal.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_cluster::{
    follow_reconnecting, stream_name, FollowerConfig, FollowerLink, FollowerReport, NatsConnection,
};
use arbiter_config::{ClusterRole, ClusterSection, Config};
use arbiter_engine::Engine;
use arbiter_fix::{FixVersion, FrameResult, Header, MessageBuilder, TimestampPrecision};
use arbiter_journal::{RecordType, Sequence, TimestampNs, Writer};

use crate::cluster_agent::nats_connection;
use crate::fix_app::FixApp;
use crate::lease_keeper::LeaseKeeper;
use crate::recovery::{open_journal, recover, Replayer};

/// The Logout text a standby answers every Logon with (names nothing secret).
pub const STANDBY_LOGOUT_TEXT: &str =
    "this venue node is a hot standby and accepts no logons; connect to the leader";

/// How long the new leader waits to have appended everything the stream holds.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the follower waits before reconnecting to NATS.
const FOLLOW_RETRY: Duration = Duration::from_secs(1);

/// A standby's state handed to the leader start-up: equal to its journal's records before
/// `from` (the journal may hold a few more, appended but not yet covered by a verified seal:
/// start-up replays those).
pub struct TakenOver {
    /// The engine, every record before `from` applied.
    pub engine: Engine,
    /// The gateway's order table and positions, likewise.
    pub app: FixApp,
    /// The first journal sequence not applied.
    pub from: Sequence,
    /// The last configuration text applied.
    pub last_config: Option<String>,
}

/// How this node starts: the lease it holds (clustered) and, after a take-over, the
/// standby's state.
pub struct Role {
    /// The shard's lease (`None`: not clustered).
    pub lease: Option<LeaseKeeper>,
    /// The state a standby built while following (`None`: recover from the journal).
    pub taken_over: Option<TakenOver>,
}

/// Decides the role at start-up. Not clustered: no lease. Leader: takes the lease now or
/// fails naming the holder. Standby: follows until it takes the lease (then its state goes
/// along), or `None` when stopped by a signal first.
///
/// # Errors
/// `--standby` without a `[cluster]` section; the lease held by another node (leader);
/// anything that stops the standby (a stream it cannot verify, a journal error).
pub fn lead_or_follow(config: &Config, standby: bool) -> Result<Option<Role>, String> {
    let Some(cluster) = &config.cluster else {
        if standby {
            return Err(
                "--standby needs a [cluster] section (nats_urls, shard, node_id)".to_owned(),
            );
        }
        return Ok(Some(Role {
            lease: None,
            taken_over: None,
        }));
    };
    if !standby && cluster.role == ClusterRole::Leader {
        let lease = LeaseKeeper::acquire(cluster)?;
        eprintln!(
            "arbiter: took the lease of shard {} as node {} (epoch {})",
            cluster.shard,
            cluster.node_id,
            lease.epoch()
        );
        return Ok(Some(Role {
            lease: Some(lease),
            taken_over: None,
        }));
    }
    follow_until_leader(config, cluster)
}

/// What the follower thread hands back: its result, the journal, the digests it matched
/// and the state it built.
struct FollowerOutcome {
    result: Result<FollowerReport, String>,
    writer: Writer,
    digests: u64,
    state: TakenOver,
}

fn follow_until_leader(config: &Config, cluster: &ClusterSection) -> Result<Option<Role>, String> {
    let data_dir = &config.venue.data_dir;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("data directory {}: {e}", data_dir.display()))?;
    // The standby's journal is written only from the stream's frames: no flusher (its seals
    // would differ from the leader's) and no signing (the leader's seals arrive signed).
    let journal = open_journal(
        &config.journal_dir(),
        crate::runtime::journal_config(config),
    )?;
    let mut engine = config.engine();
    let mut app = crate::state::new_gateway(config);
    let recovered = recover(
        &config.journal_dir(),
        journal,
        config,
        &mut engine,
        Sequence(0),
        None,
        &mut app,
    )?;
    let writer = recovered.writer;
    let written = writer.durable_cursor();
    let refuser = Refuser::start(config)?;
    eprintln!(
        "arbiter: standby of shard {} (node {}): following the stream from sequence {}; \
         refusing FIX logons on {}",
        cluster.shard,
        cluster.node_id,
        writer.next_sequence().0,
        refuser.address
    );

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let follower: JoinHandle<FollowerOutcome> = {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        let venue = config.clone();
        let mut follower_config =
            FollowerConfig::new(nats_connection(cluster), cluster.shard.clone());
        follower_config.poll_interval = Duration::from_millis(50);
        let last_config = recovered.last_config;
        std::thread::Builder::new()
            .name("arb-standby".into())
            .spawn(move || {
                let mut writer = writer;
                // Everything the journal held at start was replayed by `recover` above.
                let mut from = writer.next_sequence();
                let mut replayer = Replayer {
                    venue: &venue,
                    engine: &mut engine,
                    app: &mut app,
                    commands: 0,
                    digests_checked: 0,
                    last_config,
                };
                let mut on_record = |record_type: RecordType,
                                     sequence: Sequence,
                                     timestamp: TimestampNs,
                                     payload: &[u8]| {
                    replayer.apply(record_type.0, sequence.0, timestamp.0, payload)?;
                    from = sequence.next();
                    Ok(())
                };
                // NATS away (at start or later) is waited out, with a log line; anything the
                // follower cannot verify still ends the standby.
                let mut down_since: Option<(Instant, Instant)> = None;
                let mut on_link = |link: FollowerLink<'_>| match link {
                    FollowerLink::Down { error, retry_in } => {
                        let now = Instant::now();
                        match &mut down_since {
                            None => {
                                eprintln!(
                                    "arbiter: standby: cannot follow the stream: {error}; \
                                     retrying every {retry_in:?} until NATS answers"
                                );
                                down_since = Some((now, now));
                            }
                            Some((since, logged))
                                if now.duration_since(*logged) >= Duration::from_secs(10) =>
                            {
                                eprintln!(
                                    "arbiter: standby: still cannot follow the stream after \
                                     {:?}: {error}; retrying",
                                    now.duration_since(*since)
                                );
                                *logged = now;
                            }
                            Some(_) => {}
                        }
                    }
                    FollowerLink::Up => {
                        if let Some((since, _)) = down_since.take() {
                            eprintln!(
                                "arbiter: standby: following the stream again (NATS was away \
                                 for {:?})",
                                since.elapsed()
                            );
                        }
                    }
                };
                let result = follow_reconnecting(
                    &follower_config,
                    &mut writer,
                    &stop,
                    &mut on_record,
                    FOLLOW_RETRY,
                    &mut on_link,
                )
                .map_err(|e| format!("standby: {e}"));
                let digests = replayer.digests_checked;
                let last_config = replayer.last_config.take();
                done.store(true, Ordering::Release);
                FollowerOutcome {
                    result,
                    writer,
                    digests,
                    state: TakenOver {
                        engine,
                        app,
                        from,
                        last_config,
                    },
                }
            })
            .map_err(|e| format!("standby thread: {e}"))?
    };

    // The lease waiter gives up when a signal arrives or the follower ends (an error).
    let give_up = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (give_up, done) = (Arc::clone(&give_up), Arc::clone(&done));
        std::thread::Builder::new()
            .name("arb-standby-watch".into())
            .spawn(move || {
                while !give_up.load(Ordering::Acquire) {
                    if crate::runtime::signalled() || done.load(Ordering::Acquire) {
                        give_up.store(true, Ordering::Release);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .map_err(|e| format!("standby watcher thread: {e}"))?
    };
    let lease = LeaseKeeper::wait_acquire(cluster, Arc::clone(&give_up), written.clone());
    give_up.store(true, Ordering::Release);
    let _ = watcher.join();
    let lease = match lease {
        Ok(Some(lease)) => lease,
        other => {
            // Stopped (signal), the follower failed, or the bucket is misconfigured.
            stop.store(true, Ordering::Release);
            let outcome = follower
                .join()
                .map_err(|_| "standby thread panicked".to_owned())?;
            outcome
                .writer
                .close()
                .map_err(|e| format!("journal close: {e}"))?;
            refuser.stop();
            outcome.result?;
            return other.map(|_| None);
        }
    };
    let taken = Instant::now();
    eprintln!(
        "arbiter: standby: the leader's lease lapsed; took it (epoch {}); catching up to the \
         end of the stream",
        lease.epoch()
    );
    // Catch up: everything the stream holds must be in this journal before leading.
    let target = stream_last_sequence(&nats_connection(cluster), &cluster.shard)?;
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    while written.written().0 < target && !done.load(Ordering::Acquire) {
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Release);
    let FollowerOutcome {
        result,
        writer,
        digests,
        state,
    } = follower
        .join()
        .map_err(|_| "standby thread panicked".to_owned())?;
    let report = result?;
    let last = writer.next_sequence().0.saturating_sub(1);
    writer.close().map_err(|e| format!("journal close: {e}"))?;
    if last < target {
        return Err(format!(
            "standby: the stream holds records up to {target} but only {last} could be \
             appended within {CATCH_UP_TIMEOUT:?}: not taking over (the lease lapses again)"
        ));
    }
    refuser.stop();
    eprintln!(
        "arbiter: standby: caught up to sequence {last} in {:?} ({} batches, {} records \
         applied, {digests} digests matched); becoming the leader",
        taken.elapsed(),
        report.batches,
        report.records_applied
    );
    Ok(Some(Role {
        lease: Some(lease),
        taken_over: Some(state),
    }))
}

/// The last journal sequence the shard's stream holds (0: empty or absent).
fn stream_last_sequence(connection: &NatsConnection, shard: &str) -> Result<u64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async {
        let context = connection.jetstream().await.map_err(|e| e.to_string())?;
        stream_last_journal_seq(&context, shard).await
    })
}

/// As [`stream_last_sequence`], on an open JetStream context (the standby's heartbeat).
pub(crate) async fn stream_last_journal_seq(
    context: &async_nats::jetstream::Context,
    shard: &str,
) -> Result<u64, String> {
    let Ok(mut stream) = context.get_stream(stream_name(shard)).await else {
        return Ok(0);
    };
    let info = stream
        .info()
        .await
        .map_err(|e| format!("journal stream info: {e}"))?;
    if info.state.messages == 0 {
        return Ok(0);
    }
    let last = info.state.last_sequence;
    let message = stream
        .get_raw_message(last)
        .await
        .map_err(|e| format!("read the stream's last batch: {e}"))?;
    let (header, _) = arbiter_cluster::batch::decode(&message.payload)
        .map_err(|reason| format!("the stream's last batch: {reason}"))?;
    Ok(header.last_sequence.0)
}

/// A listener on the FIX port that answers every Logon with a Logout (standby).
struct Refuser {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Refuser {
    fn start(config: &Config) -> Result<Refuser, String> {
        let listen = &config.fix.listen;
        let listener =
            TcpListener::bind(listen).map_err(|e| format!("FIX listener {listen}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("FIX listener {listen}: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("FIX listener {listen}: {e}"))?;
        // Under TLS a plain-text Logout cannot be sent: the connection is closed instead.
        let plain = config.fix.tls.is_none();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("arb-standby-fix".into())
                .spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        match listener.accept() {
                            Ok((stream, _)) if plain => refuse(stream),
                            Ok(_) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(20)),
                        }
                    }
                })
                .map_err(|e| format!("standby FIX thread: {e}"))?
        };
        Ok(Refuser {
            address,
            stop,
            thread,
        })
    }

    /// Closes the listener (the leader start-up binds the port next).
    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// Reads one message (bounded: 8 KiB, 2 s) and answers a Logon with a Logout.
fn refuse(mut stream: TcpStream) {
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .is_err()
    {
        return;
    }
    let mut buffer = [0u8; 8192];
    let mut filled = 0;
    let length = loop {
        match arbiter_fix::frame(&buffer[..filled]) {
            FrameResult::Complete(length) => break length,
            FrameResult::Incomplete if filled < buffer.len() => {}
            _ => return,
        }
        match stream.read(&mut buffer[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    };
    let Ok(logon) = arbiter_fix::decode(&buffer[..length]) else {
        return;
    };
    if logon.msg_type() != b"A" {
        return;
    }
    let version = if logon.get(8) == Some(b"FIXT.1.1".as_slice()) {
        FixVersion::Fixt11
    } else {
        FixVersion::Fix44
    };
    let mut out = [0u8; 1024];
    let mut builder = MessageBuilder::new(&mut out, version, b"5");
    builder.header(&Header {
        sender_comp_id: logon.get(56).unwrap_or(b"ARBITER"),
        target_comp_id: logon.get(49).unwrap_or(b"UNKNOWN"),
        msg_seq_num: 1,
        sending_time_ns: arbiter_fix::system_clock_ns(),
        precision: TimestampPrecision::Millis,
        orig_sending_time_ns: None,
    });
    builder.push_str(58, STANDBY_LOGOUT_TEXT.as_bytes());
    if let Ok(message) = builder.finish() {
        let _ = stream.write_all(message);
    }
}
