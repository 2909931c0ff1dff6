//! The mio acceptor: many sessions on one thread, driven by [`Gateway::poll_once`] /
//! [`Gateway::do_work`] so that the runtime's agent decides how to wait.
//!
//! Every resource is bounded and allocated at start-up: connection slots, receive
//! buffers (fixed size, at least one maximum message), outbound queues (a slow
//! consumer is disconnected), inbound message rate, logon timeout for connections
//! that have not said who they are.
//!
//! The network edge (see [`crate::edge`]) is checked here too: connection rate and
//! failed-logon backoff per source address at accept, allowed source ranges, CompID
//! backoff and the client certificate's subject at Logon, and TLS 1.3 when configured.
//! Every refusal is logged on stderr with the prefix `arbiter: fix edge:` and reported to
//! the [`EdgeEvents`] hooks. Nothing logged here ever contains message contents, so
//! Password (554) and NewPassword (925) cannot leak through it.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::credential_check::CredentialVerifier;
use crate::decode::decode;
use crate::dictionary::tag;
use crate::edge::{
    ConnectRefusal, EdgeEvents, EdgePolicy, FailureState, LogonOutcome, NoEdgeEvents, SourceTable,
};
use crate::encode::MessageBuilder;
use crate::frame::{frame_with_limit, FrameResult, MESSAGE_BYTES_LIMIT};
use crate::session::{
    Application, DisconnectReason, Outbox, SendError, Session, SessionConfig, SessionId,
};
use crate::store::MessageStore;
use crate::time::NS_PER_SECOND;

const LISTENER: Token = Token(0);
/// Reads per connection per call, so one busy peer cannot starve the others.
const READS_PER_CALL_MAX: usize = 8;
/// Accepts per call.
const ACCEPTS_PER_CALL_MAX: usize = 64;

/// Limits and address of the acceptor.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Listen address; default `0.0.0.0:9898`.
    pub listen_address: SocketAddr,
    /// Simultaneous connections, logged on or not.
    pub connections_max: usize,
    /// Largest inbound message, bytes (≤ 65,535).
    pub message_bytes_max: usize,
    /// Receive buffer per connection, bytes (≥ `message_bytes_max`).
    pub receive_buffer_bytes: usize,
    /// Outbound queue bound per connection, bytes; beyond it the peer is a slow
    /// consumer and is disconnected.
    pub outbound_queue_bytes_max: usize,
    /// Inbound messages per second per connection; beyond it the peer is cut off.
    pub inbound_messages_per_second_max: u32,
    /// Time a connection may stay without a valid Logon.
    pub logon_timeout_ns: u64,
    /// Connection rate and failed-logon backoff per source address.
    pub edge: EdgePolicy,
    /// TLS 1.3 server configuration; set: every connection must speak TLS 1.3.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen_address: SocketAddr::from(([0, 0, 0, 0], 9898)),
            connections_max: 256,
            message_bytes_max: crate::frame::MESSAGE_BYTES_MAX_DEFAULT,
            receive_buffer_bytes: 64 * 1024,
            outbound_queue_bytes_max: 4 * 1024 * 1024,
            inbound_messages_per_second_max: 50_000,
            logon_timeout_ns: 10 * NS_PER_SECOND,
            edge: EdgePolicy::default(),
            tls: None,
        }
    }
}

#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    peer: Option<SocketAddr>,
    receive: Box<[u8]>,
    receive_len: usize,
    outbox: Outbox,
    session: Option<usize>,
    connected_ns: u64,
    rate_window_start_ns: u64,
    rate_count: u32,
    write_interest: bool,
    maybe_readable: bool,
    tls: Option<Box<rustls::ServerConnection>>,
    /// SenderCompID of its Logon (for logs), empty before.
    comp_id: String,
    /// The Logon's outcome was logged and counted.
    logon_reported: bool,
}

#[derive(Debug)]
struct SessionSlot<S: MessageStore> {
    session: Session<S>,
    connection: Option<usize>,
    /// Failed logons for this CompID, from any source.
    logons: FailureState,
}

/// Counters of the gateway, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayCounters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused at the connection limit.
    pub refused: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Messages framed.
    pub messages_in: u64,
    /// Garbled byte runs skipped.
    pub garbled: u64,
    /// Connections refused by the edge (rate, backoff) before any byte was read.
    pub edge_refused: u64,
    /// Logons refused (any reason).
    pub logons_refused: u64,
    /// TLS handshakes or records that failed.
    pub tls_failures: u64,
}

/// The FIX acceptor.
pub struct Gateway<S: MessageStore, A: Application> {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    config: GatewayConfig,
    connections: Vec<Option<Connection>>,
    sessions: Vec<SessionSlot<S>>,
    app: A,
    clock: fn() -> u64,
    accept_pending: bool,
    counters: GatewayCounters,
    sources: SourceTable,
    edge_events: Box<dyn EdgeEvents>,
    log_limiter: LogLimiter,
    /// Checks Logon passwords on a helper thread (`None`: no session has a password).
    verifier: Option<CredentialVerifier>,
}

/// Bounds what a flood can make us write to stderr: at most [`LOG_LINES_PER_SECOND_MAX`]
/// edge lines a second, then one summary of how many were suppressed. The hooks still see
/// every event.
#[derive(Debug, Default)]
struct LogLimiter {
    window_start_ns: u64,
    lines: u32,
    suppressed: u64,
}

const LOG_LINES_PER_SECOND_MAX: u32 = 100;

impl LogLimiter {
    fn allow(&mut self, now_ns: u64) -> bool {
        if now_ns.saturating_sub(self.window_start_ns) >= NS_PER_SECOND {
            if self.suppressed > 0 {
                eprintln!(
                    "arbiter: fix edge: {} more edge events not logged in the last second",
                    self.suppressed
                );
            }
            self.window_start_ns = now_ns;
            self.lines = 0;
            self.suppressed = 0;
        }
        self.lines += 1;
        if self.lines > LOG_LINES_PER_SECOND_MAX {
            self.suppressed += 1;
            return false;
        }
        true
    }
}

/// Whether a failed logon counts towards the backoff of its source address.
fn counts_against_source(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::AuthenticationFailed
            | DisconnectReason::UnknownSession
            | DisconnectReason::SourceNotAllowed
            | DisconnectReason::CertificateSubjectMismatch
    )
}

/// Reads plaintext: straight from the socket, or through rustls (pulling TLS records and
/// processing them until plaintext, end of stream or `WouldBlock`). A TLS protocol error
/// comes back as `InvalidData` after the alert was queued.
fn read_transport(
    stream: &mut TcpStream,
    tls: Option<&mut rustls::ServerConnection>,
    buf: &mut [u8],
) -> io::Result<usize> {
    let Some(tls) = tls else {
        return stream.read(buf);
    };
    for _ in 0..READS_PER_CALL_MAX {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if tls.read_tls(stream)? == 0 {
            return Ok(0);
        }
        if let Err(e) = tls.process_new_packets() {
            // Best effort: tell the peer why (the alert rustls queued).
            let _ = tls.write_tls(stream);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
    Err(io::ErrorKind::Interrupted.into())
}

/// Writes queued bytes: straight, or through rustls (plaintext in up to its buffer limit,
/// then records out). Returns (writes done, failed).
fn write_transport(
    stream: &mut TcpStream,
    tls: Option<&mut rustls::ServerConnection>,
    outbox: &mut Outbox,
) -> (u32, bool) {
    let mut work = 0;
    match tls {
        None => {
            while !outbox.pending().is_empty() {
                match stream.write(outbox.pending()) {
                    Ok(0) => return (work, true),
                    Ok(n) => {
                        outbox.consume(n);
                        work += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return (work, true),
                }
            }
        }
        Some(tls) => {
            while !outbox.pending().is_empty() {
                match tls.writer().write(outbox.pending()) {
                    Ok(0) => break, // rustls' buffer is full: records must go out first
                    Ok(n) => outbox.consume(n),
                    Err(_) => return (work, true),
                }
            }
            while tls.wants_write() {
                match tls.write_tls(stream) {
                    Ok(0) => return (work, true),
                    Ok(_) => work += 1,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return (work, true),
                }
            }
        }
    }
    (work, false)
}

impl<S: MessageStore, A: Application> core::fmt::Debug for Gateway<S, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// Wall-clock nanoseconds since the epoch (SendingTime is wall-clock by definition).
#[must_use]
pub fn system_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl<S: MessageStore, A: Application> Gateway<S, A> {
    /// Binds the listener and preallocates every connection slot.
    ///
    /// # Errors
    /// Bind or poll registration failed, or limits are inconsistent.
    pub fn bind(
        config: GatewayConfig,
        sessions: Vec<(SessionConfig, S)>,
        app: A,
    ) -> io::Result<Self> {
        if config.message_bytes_max > MESSAGE_BYTES_LIMIT
            || config.receive_buffer_bytes < config.message_bytes_max
            || config.connections_max == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message_bytes_max <= 65535 <= ... and receive_buffer_bytes >= message_bytes_max",
            ));
        }
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen_address)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let sessions: Vec<SessionSlot<S>> = sessions
            .into_iter()
            .enumerate()
            .map(|(i, (mut session_config, store))| {
                session_config.message_bytes_max = config.message_bytes_max;
                SessionSlot {
                    session: Session::new(
                        SessionId(u32::try_from(i).unwrap_or(u32::MAX)),
                        session_config,
                        store,
                    ),
                    connection: None,
                    logons: FailureState::default(),
                }
            })
            .collect();
        let mut connections = Vec::with_capacity(config.connections_max);
        connections.resize_with(config.connections_max, || None);
        // Argon2 costs tens of milliseconds a Logon: off this thread, so that a Logon never
        // stalls the other sessions (crate::credential_check).
        let mut sessions = sessions;
        let verifier = if sessions
            .iter()
            .any(|s| s.session.config().password_hash.is_some())
        {
            for slot in &mut sessions {
                slot.session.set_deferred_credentials(true);
            }
            Some(CredentialVerifier::start(sessions.len())?)
        } else {
            None
        };
        Ok(Gateway {
            verifier,
            poll,
            events: Events::with_capacity(1024),
            listener,
            connections,
            sessions,
            app,
            clock: system_clock_ns,
            accept_pending: false,
            counters: GatewayCounters::default(),
            sources: SourceTable::with_capacity(config.edge.sources_tracked_max),
            edge_events: Box::new(NoEdgeEvents),
            log_limiter: LogLimiter::default(),
            config,
        })
    }

    /// Installs the hooks called at every edge decision (an access trail).
    pub fn set_edge_events(&mut self, events: Box<dyn EdgeEvents>) {
        self.edge_events = events;
    }

    /// Replaces the wall clock (tests, simulation).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = clock;
    }

    /// The bound address (useful with port 0).
    ///
    /// # Errors
    /// The socket has no address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The application.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// A session by id.
    #[must_use]
    pub fn session(&self, id: SessionId) -> Option<&Session<S>> {
        self.sessions.get(id.0 as usize).map(|s| &s.session)
    }

    /// Counters.
    #[must_use]
    pub fn counters(&self) -> GatewayCounters {
        self.counters
    }

    /// One non-blocking round of work; returns the amount of work done (0 = idle),
    /// for the caller's idle strategy.
    pub fn do_work(&mut self) -> u32 {
        self.poll_once(Some(Duration::ZERO)).unwrap_or(0)
    }

    /// Waits up to `timeout` for readiness, then accepts, reads, runs sessions and
    /// timers, and flushes. Returns a work count.
    ///
    /// # Errors
    /// `poll` itself failed.
    pub fn poll_once(&mut self, timeout: Option<Duration>) -> io::Result<u32> {
        let wait =
            if self.accept_pending || self.connections.iter().flatten().any(|c| c.maybe_readable) {
                Some(Duration::ZERO)
            } else {
                timeout
            };
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let now_ns = (self.clock)();
        let mut work = 0u32;
        for event in &self.events {
            if event.token() == LISTENER {
                self.accept_pending = true;
                continue;
            }
            let slot = event.token().0 - 1;
            if let Some(conn) = self.connections.get_mut(slot).and_then(Option::as_mut) {
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    conn.maybe_readable = true;
                }
            }
        }
        work += self.take_verdicts(now_ns);
        if self.accept_pending {
            work += self.accept(now_ns);
        }
        for slot in 0..self.connections.len() {
            if self.connections[slot]
                .as_ref()
                .is_some_and(|c| c.maybe_readable)
            {
                work += self.read(slot, now_ns);
            }
        }
        work += self.run_timers(now_ns);
        for slot in 0..self.connections.len() {
            if self.connections[slot].is_some() {
                work += self.flush(slot, now_ns);
            }
        }
        Ok(work)
    }

    /// Completes the Logons whose password checks came back, then processes what their
    /// connections sent meanwhile.
    fn take_verdicts(&mut self, now_ns: u64) -> u32 {
        let mut work = 0;
        // Bounded: one pending check per session.
        for _ in 0..self.sessions.len() {
            let Some((index, verdict)) = self
                .verifier
                .as_ref()
                .and_then(CredentialVerifier::try_verdict)
            else {
                break;
            };
            work += 1;
            let Some(slot) = self.sessions[index].connection else {
                continue;
            };
            let Gateway {
                connections,
                sessions,
                app,
                config,
                counters,
                sources,
                edge_events,
                log_limiter,
                ..
            } = self;
            let Some(conn) = connections[slot].as_mut() else {
                continue;
            };
            if conn.session != Some(index) {
                continue;
            }
            let entry = &mut sessions[index];
            entry
                .session
                .on_credential_verdict(now_ns, &verdict, &mut conn.outbox, app);
            Edge {
                policy: &config.edge,
                sources,
                events: edge_events.as_mut(),
                log: log_limiter,
                counters,
            }
            .report_logon_outcome(conn, entry, now_ns);
            conn.maybe_readable = true;
            work += self.process_input(slot, now_ns);
        }
        work
    }

    fn accept(&mut self, now_ns: u64) -> u32 {
        let mut work = 0;
        for _ in 0..ACCEPTS_PER_CALL_MAX {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_pending = false;
                    return work;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    self.accept_pending = false;
                    return work;
                }
            };
            work += 1;
            if let Err(refusal) = self
                .sources
                .on_connect(&self.config.edge, peer.ip(), now_ns)
            {
                self.counters.edge_refused += 1;
                if self.log_limiter.allow(now_ns) {
                    match refusal {
                        ConnectRefusal::Rate { connections } => eprintln!(
                            "arbiter: fix edge: refused connection from {peer}: {:?} ({connections} connections in the last second, limit {})",
                            refusal.reason(),
                            self.config.edge.connections_per_source_per_second_max
                        ),
                        ConnectRefusal::Backoff {
                            remaining_ns,
                            failures,
                        } => eprintln!(
                            "arbiter: fix edge: refused connection from {peer}: {:?} ({failures} failed logons, {} ms left)",
                            refusal.reason(),
                            remaining_ns.div_ceil(1_000_000)
                        ),
                    }
                }
                self.edge_events.on_connect_refused(peer, refusal.reason());
                continue; // dropping the stream closes it
            }
            let Some(slot) = self.connections.iter().position(Option::is_none) else {
                self.counters.refused += 1;
                if self.log_limiter.allow(now_ns) {
                    eprintln!(
                        "arbiter: fix edge: refused connection from {peer}: {:?} (limit {})",
                        DisconnectReason::TooManyConnections,
                        self.config.connections_max
                    );
                }
                self.edge_events
                    .on_connect_refused(peer, DisconnectReason::TooManyConnections);
                continue; // dropping the stream closes it
            };
            let tls = match &self.config.tls {
                None => None,
                Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                    Ok(connection) => Some(Box::new(connection)),
                    Err(e) => {
                        eprintln!("arbiter: fix edge: TLS session for {peer} failed: {e}");
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut stream, Token(slot + 1), Interest::READABLE)
            {
                log::warn!("register {peer} failed: {e}");
                continue;
            }
            self.counters.accepted += 1;
            self.connections[slot] = Some(Connection {
                stream,
                peer: Some(peer),
                receive: vec![0u8; self.config.receive_buffer_bytes].into_boxed_slice(),
                receive_len: 0,
                outbox: Outbox::new(self.config.outbound_queue_bytes_max),
                session: None,
                connected_ns: now_ns,
                rate_window_start_ns: now_ns,
                rate_count: 0,
                write_interest: false,
                maybe_readable: true,
                tls,
                comp_id: String::new(),
                logon_reported: false,
            });
        }
        self.accept_pending = true;
        work
    }

    fn read(&mut self, slot: usize, now_ns: u64) -> u32 {
        let mut work = 0;
        let Some(conn) = self.connections[slot].as_mut() else {
            return 0;
        };
        conn.maybe_readable = false;
        if conn
            .session
            .is_some_and(|index| self.sessions[index].session.is_checking_credentials())
        {
            // The session does nothing until its Logon's verdict; reading resumes then.
            return 0;
        }
        for _ in 0..READS_PER_CALL_MAX {
            let Some(conn) = self.connections[slot].as_mut() else {
                return work;
            };
            if conn.outbox.disconnect_requested().is_some() {
                return work;
            }
            if conn.receive_len == conn.receive.len() {
                // Full: process first, read again on the next call.
                conn.maybe_readable = true;
                work += self.process_input(slot, now_ns);
                return work;
            }
            let len = conn.receive_len;
            let tls = conn.tls.as_deref_mut();
            match read_transport(&mut conn.stream, tls, &mut conn.receive[len..]) {
                Ok(0) => {
                    self.close(slot, now_ns, DisconnectReason::PeerClosed);
                    return work + 1;
                }
                Ok(n) => {
                    conn.receive_len += n;
                    work += 1 + self.process_input(slot, now_ns);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return work,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData && conn.tls.is_some() => {
                    conn.logon_reported = true; // reported as a refused connection
                    let peer = conn.peer;
                    self.counters.tls_failures += 1;
                    if self.log_limiter.allow(now_ns) {
                        eprintln!(
                            "arbiter: fix edge: refused connection from {}: {:?} ({e})",
                            display_peer(peer),
                            DisconnectReason::TlsFailure
                        );
                    }
                    if let Some(peer) = peer {
                        self.edge_events
                            .on_connect_refused(peer, DisconnectReason::TlsFailure);
                    }
                    // Flush the alert, then close.
                    self.flush(slot, now_ns);
                    self.close(slot, now_ns, DisconnectReason::TlsFailure);
                    return work + 1;
                }
                Err(_) => {
                    self.close(slot, now_ns, DisconnectReason::Io);
                    return work + 1;
                }
            }
        }
        if let Some(conn) = self.connections[slot].as_mut() {
            conn.maybe_readable = true;
        }
        work
    }

    fn process_input(&mut self, slot: usize, now_ns: u64) -> u32 {
        let Gateway {
            connections,
            sessions,
            app,
            config,
            counters,
            sources,
            edge_events,
            log_limiter,
            verifier,
            ..
        } = self;
        let Some(conn) = connections[slot].as_mut() else {
            return 0;
        };
        let mut work = 0;
        let mut consumed = 0;
        let mut close_reason = None;
        // Each iteration consumes at least one byte or stops.
        while consumed < conn.receive_len && conn.outbox.disconnect_requested().is_none() {
            if conn
                .session
                .is_some_and(|index| sessions[index].session.is_checking_credentials())
            {
                break; // the rest waits for the Logon's verdict
            }
            let input = &conn.receive[consumed..conn.receive_len];
            match frame_with_limit(input, config.message_bytes_max) {
                FrameResult::Incomplete => break,
                FrameResult::Garbled(_, skip) => {
                    counters.garbled += 1;
                    consumed += skip.max(1);
                }
                FrameResult::Complete(n) => {
                    let raw = &input[..n];
                    consumed += n;
                    work += 1;
                    counters.messages_in += 1;
                    if now_ns.saturating_sub(conn.rate_window_start_ns) >= NS_PER_SECOND {
                        conn.rate_window_start_ns = now_ns;
                        conn.rate_count = 0;
                    }
                    conn.rate_count += 1;
                    if conn.rate_count > config.inbound_messages_per_second_max {
                        close_reason = Some(DisconnectReason::RateLimitExceeded);
                        break;
                    }
                    let index = match conn.session {
                        Some(index) => index,
                        None => {
                            conn.comp_id = logon_comp_id(raw);
                            let peer_ip = conn.peer.map(|p| p.ip());
                            let subject = conn.tls.as_deref().and_then(peer_subject);
                            match bind(sessions, raw, peer_ip, subject.as_deref(), now_ns) {
                                Ok(index) => {
                                    sessions[index].connection = Some(slot);
                                    conn.session = Some(index);
                                    sessions[index].session.on_connect(conn.connected_ns);
                                    index
                                }
                                Err((reason, index)) => {
                                    let mut edge = Edge {
                                        policy: &config.edge,
                                        sources,
                                        events: edge_events.as_mut(),
                                        log: log_limiter,
                                        counters,
                                    };
                                    let failures = index.map(|i| &mut sessions[i].logons);
                                    edge.logon_refused(conn, failures, reason, now_ns);
                                    close_reason = Some(reason);
                                    break;
                                }
                            }
                        }
                    };
                    let entry = &mut sessions[index];
                    entry.session.on_message(now_ns, raw, &mut conn.outbox, app);
                    if let Some(check) = entry.session.take_credential_check() {
                        let unqueued = match verifier.as_ref() {
                            Some(verifier) => verifier.submit(index, check).err(),
                            None => Some(check),
                        };
                        if let Some(check) = unqueued {
                            // Cannot happen (one check per session fits the queue); in
                            // place rather than never.
                            let verdict = check.run();
                            entry.session.on_credential_verdict(
                                now_ns,
                                &verdict,
                                &mut conn.outbox,
                                app,
                            );
                        }
                    }
                    Edge {
                        policy: &config.edge,
                        sources,
                        events: edge_events.as_mut(),
                        log: log_limiter,
                        counters,
                    }
                    .report_logon_outcome(conn, entry, now_ns);
                }
            }
        }
        conn.receive.copy_within(consumed..conn.receive_len, 0);
        conn.receive_len -= consumed;
        if let Some(reason) = close_reason {
            self.close(slot, now_ns, reason);
        }
        work
    }

    fn run_timers(&mut self, now_ns: u64) -> u32 {
        let mut work = 0;
        let logon_timeout_ns = self.config.logon_timeout_ns;
        let mut expired = [usize::MAX; 16];
        let mut expired_len = 0;
        for (slot, conn) in self.connections.iter_mut().enumerate() {
            let Some(conn) = conn.as_mut() else { continue };
            match conn.session {
                Some(index) => {
                    let before = conn.outbox.pending().len();
                    self.sessions[index]
                        .session
                        .on_timer(now_ns, &mut conn.outbox);
                    if conn.outbox.pending().len() != before
                        || conn.outbox.disconnect_requested().is_some()
                    {
                        work += 1;
                    }
                }
                None => {
                    if now_ns.saturating_sub(conn.connected_ns) >= logon_timeout_ns
                        && expired_len < expired.len()
                    {
                        expired[expired_len] = slot;
                        expired_len += 1;
                    }
                }
            }
        }
        for &slot in &expired[..expired_len] {
            self.close(slot, now_ns, DisconnectReason::LogonTimeout);
            work += 1;
        }
        work
    }

    fn flush(&mut self, slot: usize, now_ns: u64) -> u32 {
        let Some(conn) = self.connections[slot].as_mut() else {
            return 0;
        };
        let (work, failed) =
            write_transport(&mut conn.stream, conn.tls.as_deref_mut(), &mut conn.outbox);
        if failed {
            self.close(slot, now_ns, DisconnectReason::Io);
            return work + 1;
        }
        if let Some(reason) = conn.outbox.disconnect_requested() {
            self.close(slot, now_ns, reason);
            return work + 1;
        }
        let want_write = !conn.outbox.pending().is_empty()
            || conn.tls.as_ref().is_some_and(|tls| tls.wants_write());
        if want_write != conn.write_interest {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(&mut conn.stream, Token(slot + 1), interest)
                .is_ok()
            {
                conn.write_interest = want_write;
            }
        }
        work
    }

    fn close(&mut self, slot: usize, now_ns: u64, reason: DisconnectReason) {
        let Some(mut conn) = self.connections[slot].take() else {
            return;
        };
        // Best effort: a Logout explaining why is worth one write.
        match conn.tls.as_deref_mut() {
            None => {
                let _ = conn.stream.write(conn.outbox.pending());
            }
            Some(tls) => {
                let _ = tls.writer().write(conn.outbox.pending());
                tls.send_close_notify();
                let _ = tls.write_tls(&mut conn.stream);
            }
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let reason = conn.outbox.disconnect_requested().unwrap_or(reason);
        self.counters.closed += 1;
        match reason {
            DisconnectReason::LogoutCompleted | DisconnectReason::LogoutReceived => {
                log::info!("closing {:?}: {reason:?}", conn.peer);
            }
            _ => log::warn!("closing {:?}: {reason:?}", conn.peer),
        }
        if !conn.logon_reported {
            // Closed before or while logging on (timeout, garbage, peer gone): no count.
            if let Some(peer) = conn.peer {
                self.edge_events
                    .on_logon(peer, &conn.comp_id, LogonOutcome::Refused(reason));
            }
        }
        if let Some(index) = conn.session {
            let slot_entry = &mut self.sessions[index];
            slot_entry.connection = None;
            slot_entry
                .session
                .on_disconnect(now_ns, reason, &mut self.app);
        }
    }

    /// Sends an application message of type `msg_type` on a session; `fill` writes the
    /// body. Flushed immediately when the socket allows; when the session is not logged on
    /// the message is stored with the next sequence number for a later resend.
    ///
    /// # Errors
    /// Unknown or not logged-on session, encode, store or queue failure.
    pub fn send(
        &mut self,
        session: SessionId,
        msg_type: &[u8],
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Result<u64, SendError> {
        let now_ns = (self.clock)();
        let index = session.0 as usize;
        let entry = self.sessions.get_mut(index).ok_or(SendError::NotLoggedOn)?;
        let connected = entry
            .connection
            .filter(|&slot| self.connections[slot].is_some() && entry.session.is_logged_on());
        let Some(slot) = connected else {
            // Away: keep it for the resend the counterparty will ask for at its next Logon.
            return entry.session.store_for_resend(now_ns, msg_type, fill);
        };
        let conn = self.connections[slot]
            .as_mut()
            .ok_or(SendError::NotLoggedOn)?;
        let seq = self.sessions[index]
            .session
            .send(now_ns, msg_type, &mut conn.outbox, fill)?;
        self.flush(slot, now_ns);
        Ok(seq)
    }

    /// Bytes the session's connection can still queue (0 when it is not logged on): market
    /// data is sent only into this room, so that it never overflows a connection that
    /// also carries execution reports.
    #[must_use]
    pub fn outbound_room(&self, session: SessionId) -> usize {
        let Some(entry) = self.sessions.get(session.0 as usize) else {
            return 0;
        };
        if !entry.session.is_logged_on() {
            return 0;
        }
        entry
            .connection
            .and_then(|slot| self.connections[slot].as_ref())
            .map_or(0, |conn| conn.outbox.free_bytes())
    }

    /// Starts a Logout on a session.
    pub fn logout(&mut self, session: SessionId, text: &str) {
        let now_ns = (self.clock)();
        let index = session.0 as usize;
        let Some(slot) = self.sessions.get(index).and_then(|s| s.connection) else {
            return;
        };
        if let Some(conn) = self.connections[slot].as_mut() {
            self.sessions[index]
                .session
                .logout(now_ns, text, &mut conn.outbox);
        }
    }
}

/// The edge state a logon outcome updates, borrowed apart from the sessions.
struct Edge<'a> {
    policy: &'a EdgePolicy,
    sources: &'a mut SourceTable,
    events: &'a mut dyn EdgeEvents,
    log: &'a mut LogLimiter,
    counters: &'a mut GatewayCounters,
}

impl Edge<'_> {
    /// Reports a Logon's outcome once it is known: accepted (the session is logged on) or
    /// refused (the session asked for a disconnect). Nothing while the verdict is pending,
    /// and nothing after it was reported. The same for a Logon checked in place or by the
    /// credential thread.
    fn report_logon_outcome<S: MessageStore>(
        mut self,
        conn: &mut Connection,
        entry: &mut SessionSlot<S>,
        now_ns: u64,
    ) {
        if conn.logon_reported {
            return;
        }
        if entry.session.is_logged_on() {
            let changed = entry.session.take_credential_changed();
            self.logon_accepted(conn, &mut entry.logons, changed, now_ns);
        } else if let Some(reason) = conn.outbox.disconnect_requested() {
            self.logon_refused(conn, Some(&mut entry.logons), reason, now_ns);
        }
    }

    fn logon_accepted(
        &mut self,
        conn: &mut Connection,
        comp_failures: &mut FailureState,
        credential_changed: bool,
        now_ns: u64,
    ) {
        conn.logon_reported = true;
        comp_failures.succeed();
        let Some(peer) = conn.peer else { return };
        self.sources.on_logon_succeeded(peer.ip(), now_ns);
        eprintln!(
            "arbiter: fix edge: logon {} from {peer}{}",
            conn.comp_id,
            if conn.tls.is_some() { " (TLS 1.3)" } else { "" }
        );
        self.events
            .on_logon(peer, &conn.comp_id, LogonOutcome::Accepted);
        if credential_changed {
            // Never the secret: only that it changed, and where the new hash lives.
            eprintln!(
                "arbiter: fix edge: credential changed for {} from {peer} (new argon2id hash kept in the session store)",
                conn.comp_id
            );
            self.events.on_credential_changed(peer, &conn.comp_id);
        }
    }

    fn logon_refused(
        &mut self,
        conn: &mut Connection,
        comp_failures: Option<&mut FailureState>,
        reason: DisconnectReason,
        now_ns: u64,
    ) {
        conn.logon_reported = true;
        self.counters.logons_refused += 1;
        let Some(peer) = conn.peer else { return };
        let mut detail = String::new();
        if counts_against_source(reason) {
            let state = self.sources.on_logon_failed(self.policy, peer.ip(), now_ns);
            detail = format!("; {} failed logons from {}", state.failures, peer.ip());
            if let Some(wait_ns) = state.waiting_ns(now_ns) {
                detail += &format!(", backoff {} ms", wait_ns.div_ceil(1_000_000));
            }
        }
        if let (DisconnectReason::AuthenticationFailed, Some(comp)) = (reason, comp_failures) {
            comp.fail(self.policy, now_ns);
            detail += &format!("; {} failed logons for {}", comp.failures, conn.comp_id);
            if let Some(wait_ns) = comp.waiting_ns(now_ns) {
                detail += &format!(", backoff {} ms", wait_ns.div_ceil(1_000_000));
            }
        }
        if self.log.allow(now_ns) {
            eprintln!(
                "arbiter: fix edge: logon refused from {peer} for {:?}: {reason:?}{detail}",
                conn.comp_id
            );
        }
        self.events
            .on_logon(peer, &conn.comp_id, LogonOutcome::Refused(reason));
    }
}

fn display_peer(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "?".to_owned(), |p| p.to_string())
}

/// SenderCompID of a first message, for logs: printable ASCII only, at most 64 bytes.
fn logon_comp_id(raw: &[u8]) -> String {
    let Ok(msg) = decode(raw) else {
        return String::new();
    };
    msg.get(tag::SENDER_COMP_ID)
        .unwrap_or(&[])
        .iter()
        .take(64)
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

/// The subject CN of the client's certificate, after a mutual-TLS handshake.
fn peer_subject(tls: &rustls::ServerConnection) -> Option<String> {
    let certificate = tls.peer_certificates()?.first()?;
    crate::tls::subject_common_name(certificate)
}

/// Finds the configured session a first message (which must be a Logon) is for, and
/// applies the session's edge rules: allowed source ranges, CompID backoff, certificate
/// subject. On refusal, also the session index when one was identified.
fn bind<S: MessageStore>(
    sessions: &[SessionSlot<S>],
    raw: &[u8],
    peer: Option<std::net::IpAddr>,
    subject: Option<&str>,
    now_ns: u64,
) -> Result<usize, (DisconnectReason, Option<usize>)> {
    let msg = decode(raw).map_err(|_| (DisconnectReason::FirstMessageNotLogon, None))?;
    if msg.msg_type() != b"A" {
        return Err((DisconnectReason::FirstMessageNotLogon, None));
    }
    let sender = msg.get(tag::SENDER_COMP_ID).unwrap_or(&[]);
    let target = msg.get(tag::TARGET_COMP_ID).unwrap_or(&[]);
    let index = sessions
        .iter()
        .position(|s| {
            let c = s.session.config();
            c.target_comp_id.as_bytes() == sender
                && c.sender_comp_id.as_bytes() == target
                && c.version.begin_string() == msg.begin_string()
        })
        .ok_or((DisconnectReason::UnknownSession, None))?;
    let config = sessions[index].session.config();
    let allowed = config.allowed_sources.is_empty()
        || peer.is_some_and(|ip| config.allowed_sources.iter().any(|c| c.contains(ip)));
    if !allowed {
        return Err((DisconnectReason::SourceNotAllowed, Some(index)));
    }
    if sessions[index].logons.waiting_ns(now_ns).is_some() {
        return Err((DisconnectReason::LogonBackoff, Some(index)));
    }
    if let Some(expected) = &config.cert_subject {
        if subject != Some(expected.as_str()) {
            return Err((DisconnectReason::CertificateSubjectMismatch, Some(index)));
        }
    }
    if sessions[index].connection.is_some() {
        return Err((DisconnectReason::DuplicateLogon, Some(index)));
    }
    Ok(index)
}
