//! The FIX session protocol (FIX.4.4 and FIXT.1.1) as a pure, deterministic state
//! machine: no I/O, no clock. Bytes and the current time go in; outbound bytes (into
//! an [`Outbox`]), application messages (to an [`Application`]) and disconnect
//! requests come out. Acceptor side.

use crate::credential;
use crate::decode::{decode, scan_seq_num_and_type, DecodeError, Message};
use crate::dictionary::{tag, FixVersion, APPL_VER_ID_FIX50SP2};
use crate::edge::Cidr;
use crate::encode::{EncodeError, Header, MessageBuilder};
use crate::frame::{frame_with_limit, FrameResult, MESSAGE_BYTES_MAX_DEFAULT};
use crate::store::{MessageStore, StoreError};
use crate::time::{TimestampPrecision, NS_PER_SECOND, SECONDS_PER_DAY};
use crate::validate::{validate, SessionReject, SessionRejectReason};

/// Identifies a configured session within a gateway.
///
/// ```
/// let id = arbiter_fix::SessionId(3);
/// assert_eq!(id.0, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u32);

/// Why a connection was (or must be) closed. Reported to the [`Application`] and kept
/// as the session's last reason, so that every disconnect has a logged cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// We sent Logout and the counterparty answered.
    LogoutCompleted,
    /// The counterparty sent Logout; we answered.
    LogoutReceived,
    /// No answer to our Logout in time.
    LogoutTimeout,
    /// No Logon within the logon timeout.
    LogonTimeout,
    /// No traffic after our TestRequest.
    HeartbeatTimeout,
    /// The first message was not a Logon.
    FirstMessageNotLogon,
    /// BeginString differs from the session's.
    BadBeginString,
    /// SenderCompID/TargetCompID do not match.
    CompIdProblem,
    /// SendingTime outside the accuracy window.
    SendingTimeAccuracy,
    /// MsgSeqNum lower than expected without PossDupFlag.
    SeqNumTooLow,
    /// A message without MsgSeqNum.
    MissingSeqNum,
    /// Username/Password refused.
    AuthenticationFailed,
    /// Logon failed validation or carried unacceptable values.
    InvalidLogon,
    /// Logon for a session that is already logged on.
    DuplicateLogon,
    /// Logon outside the session schedule, or the session period ended.
    OutsideSchedule,
    /// The outbound queue bound was exceeded (slow consumer).
    SlowConsumer,
    /// Inbound message rate above the configured limit.
    RateLimitExceeded,
    /// The message store failed.
    StoreFailure,
    /// A message could not be encoded.
    EncodeFailure,
    /// Logon for CompIDs no session is configured for.
    UnknownSession,
    /// Connection limit reached.
    TooManyConnections,
    /// The peer closed the connection.
    PeerClosed,
    /// A socket error.
    Io,
    /// Closed by the local application.
    Local,
    /// The source address is not in the session's allowed list.
    SourceNotAllowed,
    /// Too many connections from one source address within a second.
    ConnectionRateExceeded,
    /// The source address or CompID is waiting out a backoff after failed logons.
    LogonBackoff,
    /// TLS is required and the handshake failed (plaintext, TLS 1.2, bad certificate).
    TlsFailure,
    /// The client certificate's subject is not the one configured for the session.
    CertificateSubjectMismatch,
}

/// Bytes to send and control requests produced by a session.
///
/// The byte queue is bounded: pushing beyond `bytes_max` marks the outbox as
/// overflowed and requests a [`DisconnectReason::SlowConsumer`] disconnect, because
/// an unbounded queue here is unbounded memory and latency.
#[derive(Debug)]
pub struct Outbox {
    bytes: Vec<u8>,
    head: usize,
    bytes_max: usize,
    disconnect: Option<DisconnectReason>,
}

impl Outbox {
    /// An outbox holding at most `bytes_max` unsent bytes, allocated now.
    #[must_use]
    pub fn new(bytes_max: usize) -> Self {
        Outbox {
            bytes: Vec::with_capacity(bytes_max),
            head: 0,
            bytes_max,
            disconnect: None,
        }
    }

    /// Queues `bytes`; false (and a slow-consumer disconnect request) if full.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if self.pending().len() + bytes.len() > self.bytes_max {
            self.request_disconnect(DisconnectReason::SlowConsumer);
            return false;
        }
        if self.bytes.len() + bytes.len() > self.bytes.capacity() {
            self.bytes.copy_within(self.head.., 0);
            self.bytes.truncate(self.bytes.len() - self.head);
            self.head = 0;
        }
        self.bytes.extend_from_slice(bytes);
        true
    }

    /// Bytes that can still be queued before the outbox overflows.
    #[must_use]
    pub fn free_bytes(&self) -> usize {
        self.bytes_max.saturating_sub(self.pending().len())
    }

    /// Unsent bytes.
    #[must_use]
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.head..]
    }

    /// Marks `n` pending bytes as sent.
    pub fn consume(&mut self, n: usize) {
        self.head = (self.head + n).min(self.bytes.len());
        if self.head == self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        }
    }

    /// Asks the transport to close the connection after flushing; the first reason
    /// wins.
    pub fn request_disconnect(&mut self, reason: DisconnectReason) {
        self.disconnect.get_or_insert(reason);
    }

    /// The pending disconnect request, if any.
    #[must_use]
    pub fn disconnect_requested(&self) -> Option<DisconnectReason> {
        self.disconnect
    }

    /// Drops all pending bytes and the disconnect request (a new connection).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.head = 0;
        self.disconnect = None;
    }
}

/// Receives what sessions deliver.
pub trait Application {
    /// A valid, in-sequence application message.
    fn on_app_message(&mut self, session: SessionId, msg: &Message<'_>);
    /// The session completed Logon.
    fn on_logon(&mut self, _session: SessionId) {}
    /// The session's connection ended.
    fn on_logout(&mut self, _session: SessionId, _reason: DisconnectReason) {}
}

/// Daily trading session times, UTC seconds of day. `start == end` is a 24-hour
/// session that still resets daily at `start`; `start > end` crosses midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Session start, seconds after midnight UTC.
    pub start_s: u32,
    /// Session end, seconds after midnight UTC.
    pub end_s: u32,
}

impl Schedule {
    /// Start (ns since epoch) of the session period containing `now_ns`, or `None`
    /// outside session time.
    #[must_use]
    pub fn session_start_ns(&self, now_ns: u64) -> Option<u64> {
        let now_s = now_ns / NS_PER_SECOND;
        let day = now_s - now_s % SECONDS_PER_DAY;
        let tod = now_s % SECONDS_PER_DAY;
        let (start, end) = (u64::from(self.start_s), u64::from(self.end_s));
        let today = day + start;
        let yesterday = (day + start).saturating_sub(SECONDS_PER_DAY);
        let start_s = if start < end {
            (start <= tod && tod < end).then_some(today)
        } else if start > end {
            if tod >= start {
                Some(today)
            } else if tod < end {
                Some(yesterday)
            } else {
                None
            }
        } else if tod >= start {
            Some(today)
        } else {
            Some(yesterday)
        };
        start_s.map(|s| s * NS_PER_SECOND)
    }

    /// Whether `now_ns` is inside session time.
    #[must_use]
    pub fn is_in_session(&self, now_ns: u64) -> bool {
        self.session_start_ns(now_ns).is_some()
    }
}

/// Configuration of one session, with QuickFIX-like options.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// FIX.4.4 or FIXT.1.1.
    pub version: FixVersion,
    /// Our CompID (SenderCompID on what we send).
    pub sender_comp_id: String,
    /// The counterparty's CompID.
    pub target_comp_id: String,
    /// Required Username(553), if set.
    pub username: Option<String>,
    /// Argon2id PHC hash Password(554) must match, if set. Never the password itself.
    pub password_hash: Option<String>,
    /// Source addresses allowed to log on to this session; empty: any.
    pub allowed_sources: Vec<Cidr>,
    /// Required subject CN of the client's TLS certificate (mutual TLS), if set.
    pub cert_subject: Option<String>,
    /// Smallest HeartBtInt accepted from the initiator, seconds.
    pub heartbeat_interval_s_min: u64,
    /// Largest HeartBtInt accepted, seconds.
    pub heartbeat_interval_s_max: u64,
    /// Silence beyond HeartBtInt (in percent of it) before we send a TestRequest.
    pub test_request_grace_percent: u64,
    /// Maximum |SendingTime - now|; `None` disables the check. Default 120 s.
    pub sending_time_accuracy_ns: Option<u64>,
    /// Time allowed from connect to Logon.
    pub logon_timeout_ns: u64,
    /// Time allowed for the answer to our Logout.
    pub logout_timeout_ns: u64,
    /// Reset sequence numbers on every Logon (QuickFIX ResetOnLogon).
    pub reset_on_logon: bool,
    /// Reset after a Logout exchange (ResetOnLogout).
    pub reset_on_logout: bool,
    /// Reset on every disconnect (ResetOnDisconnect).
    pub reset_on_disconnect: bool,
    /// Session times; `None` is always on, never reset by time.
    pub schedule: Option<Schedule>,
    /// Precision of SendingTime we write.
    pub timestamp_precision: TimestampPrecision,
    /// Largest inbound message accepted, bytes.
    pub message_bytes_max: usize,
    /// Size of the per-session encode buffer, bytes.
    pub encode_buffer_bytes: usize,
}

impl SessionConfig {
    /// Defaults: HeartBtInt 1..=300 s, 20% grace, 120 s SendingTime accuracy, 10 s
    /// logon timeout, 2 s logout timeout, no resets, no schedule, microseconds.
    #[must_use]
    pub fn new(version: FixVersion, sender_comp_id: &str, target_comp_id: &str) -> Self {
        SessionConfig {
            version,
            sender_comp_id: sender_comp_id.to_owned(),
            target_comp_id: target_comp_id.to_owned(),
            username: None,
            password_hash: None,
            allowed_sources: Vec::new(),
            cert_subject: None,
            heartbeat_interval_s_min: 1,
            heartbeat_interval_s_max: 300,
            test_request_grace_percent: 20,
            sending_time_accuracy_ns: Some(120 * NS_PER_SECOND),
            logon_timeout_ns: 10 * NS_PER_SECOND,
            logout_timeout_ns: 2 * NS_PER_SECOND,
            reset_on_logon: false,
            reset_on_logout: false,
            reset_on_disconnect: false,
            schedule: None,
            timestamp_precision: TimestampPrecision::Micros,
            message_bytes_max: MESSAGE_BYTES_MAX_DEFAULT,
            encode_buffer_bytes: 8192,
        }
    }
}

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No connection.
    Disconnected,
    /// Connected since `since_ns`, waiting for Logon.
    AwaitingLogon {
        /// Connect time.
        since_ns: u64,
    },
    /// Logged on.
    Active,
    /// We sent Logout at `since_ns` and wait for the answer.
    LogoutSent {
        /// When our Logout went out.
        since_ns: u64,
    },
}

/// Why [`Session::send`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The session is not logged on.
    NotLoggedOn,
    /// The message did not fit the encode buffer.
    Encode(EncodeError),
    /// The store could not persist it; nothing was sent.
    Store(StoreError),
    /// The outbound queue is full; the session is being disconnected.
    OutboxFull,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::NotLoggedOn => write!(f, "session not logged on"),
            SendError::Encode(e) => write!(f, "{e}"),
            SendError::Store(e) => write!(f, "{e}"),
            SendError::OutboxFull => write!(f, "outbound queue full"),
        }
    }
}

impl std::error::Error for SendError {}

impl From<EncodeError> for SendError {
    fn from(e: EncodeError) -> Self {
        SendError::Encode(e)
    }
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::Store(e)
    }
}

/// Counters of one session, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Garbled messages ignored.
    pub garbled: u64,
    /// Session-level Rejects sent.
    pub rejects_sent: u64,
    /// ResendRequests sent.
    pub resend_requests_sent: u64,
    /// Out-of-sequence (too high) messages dropped, to be resent by the peer.
    pub dropped_out_of_sequence: u64,
    /// Possible duplicates ignored.
    pub duplicates_ignored: u64,
}

/// One FIX session (acceptor side) over a [`MessageStore`].
#[derive(Debug)]
pub struct Session<S: MessageStore> {
    id: SessionId,
    config: SessionConfig,
    store: S,
    state: SessionState,
    heartbeat_ns: u64,
    last_received_ns: u64,
    last_sent_ns: u64,
    test_request_sent_ns: Option<u64>,
    test_request_counter: u64,
    /// Highest inbound sequence number seen while a ResendRequest of ours is open.
    resend_until: Option<u64>,
    send_buf: Box<[u8]>,
    resend_buf: Vec<u8>,
    last_disconnect: Option<DisconnectReason>,
    counters: SessionCounters,
    /// The hash from the configuration; a persisted NewPassword hash applies only while the
    /// configuration still holds this one (an operator's reset in the configuration wins).
    configured_password_hash: Option<String>,
    /// Set by a successful NewPassword change, taken by the transport for its log.
    credential_changed: bool,
    /// Passwords are checked by the caller off this thread ([`Session::take_credential_check`]);
    /// off: checked in place.
    deferred_credentials: bool,
    /// A Logon waiting for its password check.
    pending_logon: Option<PendingLogon>,
    /// Tickets of credential checks handed out.
    credential_tickets: u64,
}

/// A Logon whose password is being checked elsewhere: its bytes (decoded again when the
/// verdict arrives), wiped when dropped because they hold the password.
#[derive(Debug)]
struct PendingLogon {
    raw: Vec<u8>,
    seq: u64,
    username_ok: bool,
    ticket: u64,
    handed_out: bool,
}

impl Drop for PendingLogon {
    fn drop(&mut self) {
        crate::credential_check::wipe(&mut self.raw);
    }
}

fn build<'b>(
    buf: &'b mut [u8],
    config: &SessionConfig,
    msg_type: &[u8],
    seq: u64,
    now_ns: u64,
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) -> Result<&'b [u8], EncodeError> {
    let mut b = MessageBuilder::new(buf, config.version, msg_type);
    b.header(&Header {
        sender_comp_id: config.sender_comp_id.as_bytes(),
        target_comp_id: config.target_comp_id.as_bytes(),
        msg_seq_num: seq,
        sending_time_ns: now_ns,
        precision: config.timestamp_precision,
        orig_sending_time_ns: None,
    });
    fill(&mut b);
    b.finish()
}

/// Session-level message types (FIX Session Protocol); everything else is application level.
fn is_session_msg_type(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}

/// Whether a MsgType has the shape of one FIX 4.4 / 5.0 SP2 defines: one letter or digit, or
/// two capitals starting A, B or C (AA..CZ). Undefined types (e.g. "ZZ") stay a session
/// Reject with reason 11.
fn is_fix_defined_msg_type(msg_type: &[u8]) -> bool {
    match msg_type {
        [c] => c.is_ascii_alphanumeric(),
        [first, second] => matches!(first, b'A' | b'B' | b'C') && second.is_ascii_uppercase(),
        _ => false,
    }
}

/// Constant-time comparison, so that credential checks leak no prefix length.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// NewPassword (925): a Logon may change the session's credential.
const NEW_PASSWORD: u32 = tag::NEW_PASSWORD;

impl<S: MessageStore> Session<S> {
    /// A disconnected session.
    #[must_use]
    pub fn new(id: SessionId, mut config: SessionConfig, store: S) -> Self {
        let send_buf = vec![0u8; config.encode_buffer_bytes].into_boxed_slice();
        let configured_password_hash = config.password_hash.clone();
        if let Some((replaced, current)) = store.load_credential() {
            if Some(&replaced) == configured_password_hash.as_ref() {
                config.password_hash = Some(current);
            }
        }
        Session {
            id,
            config,
            store,
            configured_password_hash,
            credential_changed: false,
            deferred_credentials: false,
            pending_logon: None,
            credential_tickets: 0,
            state: SessionState::Disconnected,
            heartbeat_ns: 0,
            last_received_ns: 0,
            last_sent_ns: 0,
            test_request_sent_ns: None,
            test_request_counter: 0,
            resend_until: None,
            send_buf,
            resend_buf: Vec::new(),
            last_disconnect: None,
            counters: SessionCounters::default(),
        }
    }

    /// The session's id.
    #[must_use]
    pub fn id(&self) -> SessionId {
        self.id
    }
    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }
    /// The state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.state
    }
    /// Whether Logon completed and no Logout was sent.
    #[must_use]
    pub fn is_logged_on(&self) -> bool {
        self.state == SessionState::Active
    }
    /// The store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }
    /// Next outbound MsgSeqNum.
    #[must_use]
    pub fn next_sender_seq(&self) -> u64 {
        self.store.next_sender_seq()
    }
    /// Next expected inbound MsgSeqNum.
    #[must_use]
    pub fn next_target_seq(&self) -> u64 {
        self.store.next_target_seq()
    }
    /// HeartBtInt agreed at logon, ns.
    #[must_use]
    pub fn heartbeat_interval_ns(&self) -> u64 {
        self.heartbeat_ns
    }
    /// True once after a Logon changed the password (NewPassword); the transport logs it.
    pub fn take_credential_changed(&mut self) -> bool {
        core::mem::take(&mut self.credential_changed)
    }

    /// Checks Logon passwords off the caller's thread: a Logon with a password waits
    /// (state `AwaitingLogon`) until [`Session::on_credential_verdict`] brings the answer
    /// to the check [`Session::take_credential_check`] handed out. Off (the default): the
    /// check runs inside [`Session::on_message`].
    pub fn set_deferred_credentials(&mut self, deferred: bool) {
        self.deferred_credentials = deferred;
    }

    /// Whether a Logon waits for its password check; meanwhile the caller must not give
    /// this session further messages.
    #[must_use]
    pub fn is_checking_credentials(&self) -> bool {
        self.pending_logon.is_some()
    }

    /// The password check a waiting Logon needs, once.
    pub fn take_credential_check(&mut self) -> Option<crate::credential_check::CredentialCheck> {
        let phc = self.config.password_hash.clone()?;
        let pending = self.pending_logon.as_mut().filter(|p| !p.handed_out)?;
        pending.handed_out = true;
        let msg = decode(&pending.raw).ok()?;
        Some(crate::credential_check::CredentialCheck {
            ticket: pending.ticket,
            password_hash: phc,
            password: msg.get(tag::PASSWORD).unwrap_or_default().to_vec(),
            new_password: msg.get(NEW_PASSWORD).map(<[u8]>::to_vec),
        })
    }

    /// Completes (or refuses) the waiting Logon with the verdict of its password check. A
    /// verdict for another Logon (this one disconnected meanwhile) is ignored.
    pub fn on_credential_verdict(
        &mut self,
        now_ns: u64,
        verdict: &crate::credential_check::CredentialVerdict,
        out: &mut Outbox,
        app: &mut dyn Application,
    ) {
        if self
            .pending_logon
            .as_ref()
            .is_none_or(|p| p.ticket != verdict.ticket)
            || !matches!(self.state, SessionState::AwaitingLogon { .. })
        {
            return;
        }
        let Some(pending) = self.pending_logon.take() else {
            return;
        };
        let Ok(msg) = decode(&pending.raw) else {
            return;
        };
        let new_hash = verdict.new_password_hash.clone();
        self.complete_logon(
            now_ns,
            &msg,
            pending.seq,
            pending.username_ok && verdict.password_ok,
            Some(new_hash),
            out,
            app,
        );
    }
    /// Why the last connection ended.
    #[must_use]
    pub fn last_disconnect_reason(&self) -> Option<DisconnectReason> {
        self.last_disconnect
    }
    /// Counters.
    #[must_use]
    pub fn counters(&self) -> SessionCounters {
        self.counters
    }

    /// A transport connection was accepted for this session.
    pub fn on_connect(&mut self, now_ns: u64) {
        self.pending_logon = None;
        self.state = SessionState::AwaitingLogon { since_ns: now_ns };
        self.last_received_ns = now_ns;
        self.last_sent_ns = now_ns;
        self.test_request_sent_ns = None;
        self.resend_until = None;
        self.heartbeat_ns = 0;
        self.last_disconnect = None;
    }

    /// The transport connection is gone (for whatever reason). Applies
    /// ResetOnDisconnect and tells the application.
    pub fn on_disconnect(
        &mut self,
        now_ns: u64,
        reason: DisconnectReason,
        app: &mut dyn Application,
    ) {
        let was_logged_on = matches!(
            self.state,
            SessionState::Active | SessionState::LogoutSent { .. }
        ) || self.heartbeat_ns != 0;
        self.state = SessionState::Disconnected;
        self.pending_logon = None;
        self.heartbeat_ns = 0;
        self.last_disconnect.get_or_insert(reason);
        let reason = self.last_disconnect.unwrap_or(reason);
        if self.config.reset_on_disconnect {
            // A failing store is reported at the next logon; nothing to send now.
            let _ = self.store.reset(now_ns);
        }
        if was_logged_on {
            app.on_logout(self.id, reason);
        }
    }

    fn disconnect(&mut self, reason: DisconnectReason, out: &mut Outbox) {
        out.request_disconnect(reason);
        self.last_disconnect = Some(reason);
        if self.state != SessionState::Disconnected {
            // Keep `heartbeat_ns` so on_disconnect knows a logon had happened.
            self.state = SessionState::Disconnected;
        }
    }

    fn send_admin(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        out: &mut Outbox,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> bool {
        let seq = self.store.next_sender_seq();
        let bytes = match build(
            &mut self.send_buf,
            &self.config,
            msg_type,
            seq,
            now_ns,
            fill,
        ) {
            Ok(bytes) => bytes,
            Err(_) => {
                self.disconnect(DisconnectReason::EncodeFailure, out);
                return false;
            }
        };
        if self.store.set_next_sender_seq(seq + 1).is_err() {
            self.disconnect(DisconnectReason::StoreFailure, out);
            return false;
        }
        self.last_sent_ns = now_ns;
        out.push(bytes)
    }

    /// Sends an application message of type `msg_type`; `fill` writes the body.
    /// The message is stored (for resends) before it is queued.
    ///
    /// # Errors
    /// Not logged on, encode buffer too small, store failure or full outbox.
    pub fn send(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        out: &mut Outbox,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Result<u64, SendError> {
        if !self.is_logged_on() {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.store.next_sender_seq();
        let bytes = build(
            &mut self.send_buf,
            &self.config,
            msg_type,
            seq,
            now_ns,
            fill,
        )?;
        self.store.store(seq, bytes)?;
        self.store.set_next_sender_seq(seq + 1)?;
        self.last_sent_ns = now_ns;
        if out.push(bytes) {
            Ok(seq)
        } else {
            self.disconnect(DisconnectReason::SlowConsumer, out);
            Err(SendError::OutboxFull)
        }
    }

    /// Stores an application message for a session that is not logged on: it takes the next
    /// sequence number and waits in the store, so that the counterparty, seeing the gap at its
    /// next Logon, asks for it with a ResendRequest (as QuickFIX users expect for reports
    /// that happen while they are away).
    ///
    /// # Errors
    /// Encode buffer too small or store failure.
    pub fn store_for_resend(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Result<u64, SendError> {
        let seq = self.store.next_sender_seq();
        let bytes = build(
            &mut self.send_buf,
            &self.config,
            msg_type,
            seq,
            now_ns,
            fill,
        )?;
        self.store.store(seq, bytes)?;
        self.store.set_next_sender_seq(seq + 1)?;
        Ok(seq)
    }

    /// Starts the Logout handshake (we wait for the answer up to the logout timeout).
    pub fn logout(&mut self, now_ns: u64, text: &str, out: &mut Outbox) {
        if self.state == SessionState::Active {
            self.send_admin(now_ns, b"5", out, |b| {
                if !text.is_empty() {
                    b.push_str(tag::TEXT, text.as_bytes());
                }
            });
            if self.state == SessionState::Active {
                self.state = SessionState::LogoutSent { since_ns: now_ns };
            }
        }
    }

    fn logout_and_disconnect(
        &mut self,
        now_ns: u64,
        text: &str,
        reason: DisconnectReason,
        out: &mut Outbox,
    ) {
        self.send_admin(now_ns, b"5", out, |b| {
            b.push_str(tag::TEXT, text.as_bytes())
        });
        self.disconnect(reason, out);
    }

    fn send_reject(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        ref_msg_type: &[u8],
        reject: SessionReject,
        out: &mut Outbox,
    ) {
        self.counters.rejects_sent += 1;
        self.send_admin(now_ns, b"3", out, |b| {
            b.push_u64(tag::REF_SEQ_NUM, ref_seq);
            if let Some(t) = reject.ref_tag {
                b.push_u64(tag::REF_TAG_ID, u64::from(t));
            }
            if !ref_msg_type.is_empty() && ref_msg_type.len() <= 8 {
                b.push_bytes(tag::REF_MSG_TYPE, ref_msg_type);
            }
            b.push_u64(tag::SESSION_REJECT_REASON, reject.reason as u64);
            b.push_str(tag::TEXT, reject.reason.text().as_bytes());
        });
    }

    fn set_target(&mut self, seq: u64, out: &mut Outbox) {
        if self.store.set_next_target_seq(seq).is_err() {
            self.disconnect(DisconnectReason::StoreFailure, out);
        }
        if self.resend_until.is_some_and(|until| seq > until) {
            self.resend_until = None;
        }
    }

    fn request_resend(&mut self, now_ns: u64, expected: u64, received: u64, out: &mut Outbox) {
        self.counters.dropped_out_of_sequence += 1;
        match self.resend_until {
            Some(until) => self.resend_until = Some(until.max(received)),
            None => {
                self.resend_until = Some(received);
                self.counters.resend_requests_sent += 1;
                self.send_admin(now_ns, b"2", out, |b| {
                    b.push_u64(tag::BEGIN_SEQ_NO, expected);
                    b.push_u64(tag::END_SEQ_NO, 0);
                });
            }
        }
    }

    /// Frames and handles every complete message in `bytes`; returns how many bytes
    /// were consumed (the rest is an incomplete message to keep). Garbled bytes are
    /// skipped silently. Stops early once a disconnect is requested, consuming all.
    pub fn on_bytes(
        &mut self,
        now_ns: u64,
        bytes: &[u8],
        out: &mut Outbox,
        app: &mut dyn Application,
    ) -> usize {
        let mut consumed = 0;
        // Each iteration consumes at least one byte or stops: bounded by bytes.len().
        while consumed < bytes.len() {
            if out.disconnect_requested().is_some() || self.state == SessionState::Disconnected {
                return bytes.len();
            }
            if self.pending_logon.is_some() {
                break; // the rest waits for the Logon's credential verdict
            }
            match frame_with_limit(&bytes[consumed..], self.config.message_bytes_max) {
                FrameResult::Complete(n) => {
                    self.on_message(now_ns, &bytes[consumed..consumed + n], out, app);
                    consumed += n;
                }
                FrameResult::Incomplete => break,
                FrameResult::Garbled(_, skip) => {
                    self.counters.garbled += 1;
                    consumed += skip.max(1);
                }
            }
        }
        consumed
    }

    /// Handles one framed message (BodyLength and CheckSum already checked).
    pub fn on_message(
        &mut self,
        now_ns: u64,
        raw: &[u8],
        out: &mut Outbox,
        app: &mut dyn Application,
    ) {
        if self.state == SessionState::Disconnected {
            return;
        }
        match decode(raw) {
            Ok(msg) => self.on_decoded(now_ns, &msg, out, app),
            Err(error) => self.on_undecodable(now_ns, raw, error, out),
        }
    }

    fn on_undecodable(&mut self, now_ns: u64, raw: &[u8], error: DecodeError, out: &mut Outbox) {
        self.last_received_ns = now_ns;
        let (Some(seq), msg_type) = scan_seq_num_and_type(raw) else {
            self.counters.garbled += 1;
            return;
        };
        if !self.is_logged_on() {
            self.counters.garbled += 1;
            return;
        }
        let expected = self.store.next_target_seq();
        if seq == expected {
            let reject = match error {
                DecodeError::InvalidTag { tag } => {
                    SessionReject::new(SessionRejectReason::InvalidTagNumber, tag)
                }
                DecodeError::BadEnvelope => SessionReject::new(
                    SessionRejectReason::TagSpecifiedOutOfRequiredOrder,
                    tag::CHECK_SUM,
                ),
                _ => SessionReject {
                    reason: SessionRejectReason::Other,
                    ref_tag: None,
                },
            };
            self.send_reject(now_ns, seq, msg_type.unwrap_or(&[]), reject, out);
            self.set_target(seq + 1, out);
        } else if seq > expected {
            self.request_resend(now_ns, expected, seq, out);
        }
    }

    fn comp_ids_ok(&self, msg: &Message<'_>) -> Result<(), SessionReject> {
        if msg.get(tag::SENDER_COMP_ID) != Some(self.config.target_comp_id.as_bytes()) {
            return Err(SessionReject::new(
                SessionRejectReason::CompIdProblem,
                tag::SENDER_COMP_ID,
            ));
        }
        if msg.get(tag::TARGET_COMP_ID) != Some(self.config.sender_comp_id.as_bytes()) {
            return Err(SessionReject::new(
                SessionRejectReason::CompIdProblem,
                tag::TARGET_COMP_ID,
            ));
        }
        Ok(())
    }

    fn sending_time_ok(&self, now_ns: u64, msg: &Message<'_>) -> Result<(), SessionReject> {
        let Some(accuracy) = self.config.sending_time_accuracy_ns else {
            return Ok(());
        };
        match msg.get_utc_timestamp_ns(tag::SENDING_TIME) {
            Ok(t) if t.abs_diff(now_ns) <= accuracy => Ok(()),
            Ok(_) => Err(SessionReject::new(
                SessionRejectReason::SendingTimeAccuracyProblem,
                tag::SENDING_TIME,
            )),
            Err(crate::decode::FieldError::Missing(t)) => Err(SessionReject::new(
                SessionRejectReason::RequiredTagMissing,
                t,
            )),
            Err(crate::decode::FieldError::Format(t)) => Err(SessionReject::new(
                SessionRejectReason::IncorrectDataFormat,
                t,
            )),
        }
    }

    /// Rejects a message for a CompID or SendingTime problem and logs out, as the
    /// FIX session protocol prescribes for both.
    fn reject_and_logout(
        &mut self,
        now_ns: u64,
        seq: u64,
        msg_type: &[u8],
        reject: SessionReject,
        out: &mut Outbox,
    ) {
        let reason = match reject.reason {
            SessionRejectReason::CompIdProblem => DisconnectReason::CompIdProblem,
            _ => DisconnectReason::SendingTimeAccuracy,
        };
        self.send_reject(now_ns, seq, msg_type, reject, out);
        if seq == self.store.next_target_seq() {
            self.set_target(seq + 1, out);
        }
        self.logout_and_disconnect(now_ns, reject.reason.text(), reason, out);
    }

    fn on_decoded(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        out: &mut Outbox,
        app: &mut dyn Application,
    ) {
        self.last_received_ns = now_ns;
        self.test_request_sent_ns = None;
        if msg.begin_string() != self.config.version.begin_string() {
            self.logout_and_disconnect(
                now_ns,
                "Incorrect BeginString",
                DisconnectReason::BadBeginString,
                out,
            );
            return;
        }
        let msg_type = msg.msg_type();
        if matches!(self.state, SessionState::AwaitingLogon { .. }) && msg_type != b"A" {
            self.logout_and_disconnect(
                now_ns,
                "First message is not a Logon",
                DisconnectReason::FirstMessageNotLogon,
                out,
            );
            return;
        }
        let Some(seq) = msg.msg_seq_num() else {
            self.logout_and_disconnect(
                now_ns,
                "Received message without MsgSeqNum",
                DisconnectReason::MissingSeqNum,
                out,
            );
            return;
        };
        if msg_type == b"A" {
            self.on_logon(now_ns, msg, seq, out, app);
            return;
        }
        if let Err(reject) = self
            .sending_time_ok(now_ns, msg)
            .and_then(|()| self.comp_ids_ok(msg))
        {
            if reject.reason == SessionRejectReason::CompIdProblem
                || reject.reason == SessionRejectReason::SendingTimeAccuracyProblem
            {
                self.reject_and_logout(now_ns, seq, msg_type, reject, out);
                return;
            }
        }
        let validation = validate(msg, self.config.version);
        let expected = self.store.next_target_seq();
        let gap_fill = msg.get(tag::GAP_FILL_FLAG) == Some(b"Y");
        if msg_type == b"4" && !gap_fill {
            // Reset mode ignores MsgSeqNum.
            match validation {
                Err(reject) => self.send_reject(now_ns, seq, msg_type, reject, out),
                Ok(_) => self.on_sequence_reset(now_ns, msg, seq, expected, false, out),
            }
            return;
        }
        if seq > expected {
            if validation.is_ok() {
                if msg_type == b"2" {
                    self.on_resend_request(now_ns, msg, out);
                } else if msg_type == b"5" {
                    self.on_logout_message(now_ns, out);
                    return;
                }
            }
            self.request_resend(now_ns, expected, seq, out);
            return;
        }
        if seq < expected {
            if msg.poss_dup() {
                self.counters.duplicates_ignored += 1;
                match msg.get_utc_timestamp_ns(tag::ORIG_SENDING_TIME) {
                    Err(_) => self.send_reject(
                        now_ns,
                        seq,
                        msg_type,
                        SessionReject::new(
                            SessionRejectReason::RequiredTagMissing,
                            tag::ORIG_SENDING_TIME,
                        ),
                        out,
                    ),
                    Ok(orig)
                        if msg
                            .get_utc_timestamp_ns(tag::SENDING_TIME)
                            .is_ok_and(|t| orig > t) =>
                    {
                        self.reject_and_logout(
                            now_ns,
                            seq,
                            msg_type,
                            SessionReject::new(
                                SessionRejectReason::SendingTimeAccuracyProblem,
                                tag::ORIG_SENDING_TIME,
                            ),
                            out,
                        );
                    }
                    Ok(_) => {}
                }
                return;
            }
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.logout_and_disconnect(now_ns, &text, DisconnectReason::SeqNumTooLow, out);
            return;
        }
        // seq == expected
        if let Err(reject) = validation {
            if reject.reason == SessionRejectReason::InvalidMsgType
                && !is_session_msg_type(msg_type)
                && is_fix_defined_msg_type(msg_type)
            {
                // A well-formed application message we do not support is a business-level
                // refusal (BusinessRejectReason 3), not a session error.
                self.set_target(seq + 1, out);
                let _ = self.send(now_ns, b"j", out, |b| {
                    b.push_u64(tag::REF_SEQ_NUM, seq);
                    if msg_type.len() <= 8 {
                        b.push_bytes(tag::REF_MSG_TYPE, msg_type);
                    }
                    b.push_u64(380, 3);
                    b.push_str(tag::TEXT, b"Unsupported Message Type");
                });
                return;
            }
            self.send_reject(now_ns, seq, msg_type, reject, out);
            self.set_target(seq + 1, out);
            return;
        }
        if msg.poss_dup() && msg.get(tag::ORIG_SENDING_TIME).is_none() {
            self.send_reject(
                now_ns,
                seq,
                msg_type,
                SessionReject::new(
                    SessionRejectReason::RequiredTagMissing,
                    tag::ORIG_SENDING_TIME,
                ),
                out,
            );
            self.set_target(seq + 1, out);
            return;
        }
        match msg_type {
            b"0" | b"3" => self.set_target(seq + 1, out),
            b"1" => {
                self.set_target(seq + 1, out);
                let id = msg.get(tag::TEST_REQ_ID).unwrap_or(&[]);
                self.send_admin(now_ns, b"0", out, |b| b.push_bytes(tag::TEST_REQ_ID, id));
            }
            b"2" => {
                self.set_target(seq + 1, out);
                self.on_resend_request(now_ns, msg, out);
            }
            b"4" => self.on_sequence_reset(now_ns, msg, seq, expected, true, out),
            b"5" => {
                self.set_target(seq + 1, out);
                self.on_logout_message(now_ns, out);
            }
            _ => {
                self.set_target(seq + 1, out);
                app.on_app_message(self.id, msg);
            }
        }
    }

    fn on_sequence_reset(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        seq: u64,
        expected: u64,
        gap_fill: bool,
        out: &mut Outbox,
    ) {
        let new_seq = msg.get_u64(tag::NEW_SEQ_NO).unwrap_or(0);
        if new_seq > expected {
            self.set_target(new_seq, out);
        } else if new_seq < expected || gap_fill {
            self.send_reject(
                now_ns,
                seq,
                b"4",
                SessionReject::new(SessionRejectReason::ValueIsIncorrect, tag::NEW_SEQ_NO),
                out,
            );
            if gap_fill {
                self.set_target(seq + 1, out);
            }
        }
    }

    fn on_logout_message(&mut self, now_ns: u64, out: &mut Outbox) {
        let reason = if matches!(self.state, SessionState::LogoutSent { .. }) {
            DisconnectReason::LogoutCompleted
        } else {
            self.send_admin(now_ns, b"5", out, |_| {});
            DisconnectReason::LogoutReceived
        };
        self.disconnect(reason, out);
        if self.config.reset_on_logout && self.store.reset(now_ns).is_err() {
            self.last_disconnect = Some(DisconnectReason::StoreFailure);
        }
    }

    fn on_logon(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        seq: u64,
        out: &mut Outbox,
        app: &mut dyn Application,
    ) {
        use DisconnectReason as D;
        if !matches!(self.state, SessionState::AwaitingLogon { .. }) {
            self.logout_and_disconnect(
                now_ns,
                "Logon received on a logged-on session",
                D::DuplicateLogon,
                out,
            );
            return;
        }
        if let Some(schedule) = self.config.schedule {
            let Some(start) = schedule.session_start_ns(now_ns) else {
                self.logout_and_disconnect(
                    now_ns,
                    "Logon outside session time",
                    D::OutsideSchedule,
                    out,
                );
                return;
            };
            if self.store.creation_time_ns() < start && self.store.reset(now_ns).is_err() {
                self.disconnect(D::StoreFailure, out);
                return;
            }
        }
        let validation = validate(msg, self.config.version);
        if let Err(reject) = validation {
            let text = format!("Invalid Logon: {reject}");
            self.logout_and_disconnect(now_ns, &text, D::InvalidLogon, out);
            return;
        }
        if let Err(reject) = self
            .comp_ids_ok(msg)
            .and_then(|()| self.sending_time_ok(now_ns, msg))
        {
            self.reject_and_logout(now_ns, seq, b"A", reject, out);
            return;
        }
        if self.config.version == FixVersion::Fixt11
            && msg.get(tag::DEFAULT_APPL_VER_ID) != Some(APPL_VER_ID_FIX50SP2)
        {
            self.logout_and_disconnect(
                now_ns,
                "Unsupported DefaultApplVerID, expected 9 (FIX50SP2)",
                D::InvalidLogon,
                out,
            );
            return;
        }
        let heartbeat_s = msg.get_u64(tag::HEART_BT_INT).unwrap_or(0);
        if heartbeat_s < self.config.heartbeat_interval_s_min
            || heartbeat_s > self.config.heartbeat_interval_s_max
        {
            self.logout_and_disconnect(now_ns, "HeartBtInt out of range", D::InvalidLogon, out);
            return;
        }
        let username_ok = match &self.config.username {
            None => true,
            Some(expected) => msg
                .get(tag::USERNAME)
                .is_some_and(|given| same_secret(given, expected.as_bytes())),
        };
        if self.deferred_credentials && self.config.password_hash.is_some() {
            // Checked off this thread; the Logon resumes in `on_credential_verdict`.
            self.credential_tickets += 1;
            self.pending_logon = Some(PendingLogon {
                raw: msg.as_bytes().to_vec(),
                seq,
                username_ok,
                ticket: self.credential_tickets,
                handed_out: false,
            });
            return;
        }
        // Verified even when the username is wrong, so timing does not tell which was.
        let password_ok = match &self.config.password_hash {
            None => true,
            Some(phc) => msg
                .get(tag::PASSWORD)
                .is_some_and(|given| credential::verify_password(phc, given)),
        };
        self.complete_logon(now_ns, msg, seq, username_ok && password_ok, None, out, app);
    }

    /// The Logon after its credential check. `new_password_hash`: `None` when NewPassword
    /// (925) is to be hashed here; `Some(hash)` when the check did it (`Some(None)`: it
    /// could not).
    #[allow(clippy::too_many_arguments)]
    fn complete_logon(
        &mut self,
        now_ns: u64,
        msg: &Message<'_>,
        seq: u64,
        credentials_ok: bool,
        new_password_hash: Option<Option<String>>,
        out: &mut Outbox,
        app: &mut dyn Application,
    ) {
        use DisconnectReason as D;
        let heartbeat_s = msg.get_u64(tag::HEART_BT_INT).unwrap_or(0);
        if !credentials_ok {
            self.logout_and_disconnect(
                now_ns,
                "Invalid username or password",
                D::AuthenticationFailed,
                out,
            );
            return;
        }
        if let Some(new_password) = msg.get(NEW_PASSWORD) {
            let phc = match new_password_hash {
                Some(hash) => hash,
                None => credential::hash_password(new_password).ok(),
            };
            if !self.change_password(phc) {
                self.logout_and_disconnect(now_ns, "NewPassword refused", D::InvalidLogon, out);
                return;
            }
        }
        let reset_requested = msg.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
        if (reset_requested || self.config.reset_on_logon) && self.store.reset(now_ns).is_err() {
            self.disconnect(D::StoreFailure, out);
            return;
        }
        let expected = self.store.next_target_seq();
        if seq < expected {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.logout_and_disconnect(now_ns, &text, D::SeqNumTooLow, out);
            return;
        }
        self.heartbeat_ns = heartbeat_s * NS_PER_SECOND;
        self.state = SessionState::Active;
        self.test_request_sent_ns = None;
        self.last_disconnect = None;
        let version = self.config.version;
        self.send_admin(now_ns, b"A", out, |b| {
            b.push_u64(tag::ENCRYPT_METHOD, 0);
            b.push_u64(tag::HEART_BT_INT, heartbeat_s);
            if reset_requested {
                b.push_char(tag::RESET_SEQ_NUM_FLAG, b'Y');
            }
            if version == FixVersion::Fixt11 {
                b.push_bytes(tag::DEFAULT_APPL_VER_ID, APPL_VER_ID_FIX50SP2);
            }
        });
        app.on_logon(self.id);
        if seq == expected {
            self.set_target(seq + 1, out);
        } else {
            self.request_resend(now_ns, expected, seq, out);
        }
    }

    /// Hashes and persists a NewPassword; false (nothing changed) when the session has no
    /// password, the new one is unacceptable, or the store cannot keep it.
    fn change_password(&mut self, new_password_hash: Option<String>) -> bool {
        let Some(configured) = self.configured_password_hash.clone() else {
            return false;
        };
        let Some(phc) = new_password_hash else {
            return false;
        };
        if self.store.save_credential(&configured, &phc).is_err() {
            return false;
        }
        self.config.password_hash = Some(phc);
        self.credential_changed = true;
        true
    }

    fn on_resend_request(&mut self, now_ns: u64, msg: &Message<'_>, out: &mut Outbox) {
        let begin = msg.get_u64(tag::BEGIN_SEQ_NO).unwrap_or(0).max(1);
        let last_sent = self.store.next_sender_seq() - 1;
        let end = match msg.get_u64(tag::END_SEQ_NO).unwrap_or(0) {
            0 => last_sent,
            e => e.min(last_sent),
        };
        let mut gap_start: Option<u64> = None;
        // Bounded by the number of messages we have sent.
        for seq in begin..=end {
            if out.disconnect_requested().is_some() {
                return;
            }
            let stored = matches!(self.store.get(seq, &mut self.resend_buf), Ok(true));
            if stored && self.resend_one(now_ns, seq, gap_start, out) {
                gap_start = None;
            } else {
                gap_start.get_or_insert(seq);
            }
        }
        if let Some(start) = gap_start {
            self.send_gap_fill(now_ns, start, end + 1, out);
        }
    }

    fn send_gap_fill(&mut self, now_ns: u64, seq: u64, new_seq: u64, out: &mut Outbox) {
        let config = &self.config;
        let mut b = MessageBuilder::new(&mut self.send_buf, config.version, b"4");
        b.header(&Header {
            sender_comp_id: config.sender_comp_id.as_bytes(),
            target_comp_id: config.target_comp_id.as_bytes(),
            msg_seq_num: seq,
            sending_time_ns: now_ns,
            precision: config.timestamp_precision,
            orig_sending_time_ns: Some(now_ns),
        });
        b.push_char(tag::GAP_FILL_FLAG, b'Y');
        b.push_u64(tag::NEW_SEQ_NO, new_seq);
        match b.finish() {
            Ok(bytes) => {
                out.push(bytes);
                self.last_sent_ns = now_ns;
            }
            Err(_) => self.disconnect(DisconnectReason::EncodeFailure, out),
        }
    }

    /// Re-sends stored message `seq` (in `resend_buf`) with PossDupFlag=Y and
    /// OrigSendingTime, first closing an open gap. False if it cannot be decoded.
    fn resend_one(
        &mut self,
        now_ns: u64,
        seq: u64,
        gap_start: Option<u64>,
        out: &mut Outbox,
    ) -> bool {
        if decode(&self.resend_buf).is_err() {
            return false;
        }
        if let Some(start) = gap_start {
            self.send_gap_fill(now_ns, start, seq, out);
        }
        let Ok(stored) = decode(&self.resend_buf) else {
            return false;
        };
        let config = &self.config;
        let mut b = MessageBuilder::new(&mut self.send_buf, config.version, stored.msg_type());
        b.push_bytes(tag::SENDER_COMP_ID, config.sender_comp_id.as_bytes());
        b.push_bytes(tag::TARGET_COMP_ID, config.target_comp_id.as_bytes());
        b.push_u64(tag::MSG_SEQ_NUM, seq);
        b.push_char(tag::POSS_DUP_FLAG, b'Y');
        b.push_timestamp(tag::SENDING_TIME, now_ns, config.timestamp_precision);
        if let Some(orig) = stored.get(tag::SENDING_TIME) {
            b.push_bytes(tag::ORIG_SENDING_TIME, orig);
        }
        for (t, value) in stored.fields() {
            let replaced = matches!(t, 8 | 9 | 10 | 35 | 49 | 56 | 34 | 43 | 52 | 122 | 97);
            if !replaced {
                debug_assert!(t != 10);
                b.push_bytes(t, value);
            }
        }
        match b.finish() {
            Ok(bytes) => {
                out.push(bytes);
                self.last_sent_ns = now_ns;
                true
            }
            Err(_) => false,
        }
    }

    /// Drives time: logon/logout timeouts, heartbeats, TestRequest and heartbeat
    /// timeout, and the session schedule (logout at end of session time or at the
    /// daily reset).
    pub fn on_timer(&mut self, now_ns: u64, out: &mut Outbox) {
        match self.state {
            SessionState::Disconnected => {}
            SessionState::AwaitingLogon { since_ns } => {
                if now_ns.saturating_sub(since_ns) >= self.config.logon_timeout_ns {
                    self.disconnect(DisconnectReason::LogonTimeout, out);
                }
            }
            SessionState::LogoutSent { since_ns } => {
                if now_ns.saturating_sub(since_ns) >= self.config.logout_timeout_ns {
                    self.disconnect(DisconnectReason::LogoutTimeout, out);
                }
            }
            SessionState::Active => {
                if let Some(schedule) = self.config.schedule {
                    match schedule.session_start_ns(now_ns) {
                        None => {
                            self.logout(now_ns, "Session end", out);
                            return;
                        }
                        Some(start) if self.store.creation_time_ns() < start => {
                            self.logout(now_ns, "Daily session reset", out);
                            return;
                        }
                        Some(_) => {}
                    }
                }
                let hb = self.heartbeat_ns;
                if hb == 0 {
                    return;
                }
                if let Some(sent) = self.test_request_sent_ns {
                    if now_ns.saturating_sub(sent) >= hb {
                        self.disconnect(DisconnectReason::HeartbeatTimeout, out);
                        return;
                    }
                } else if now_ns.saturating_sub(self.last_received_ns)
                    >= hb + hb / 100 * self.config.test_request_grace_percent
                {
                    self.test_request_counter += 1;
                    let mut id = [0u8; 24];
                    let n = {
                        use std::io::Write;
                        let mut cursor = std::io::Cursor::new(&mut id[..]);
                        let _ = write!(cursor, "TEST{}", self.test_request_counter);
                        cursor.position() as usize
                    };
                    self.send_admin(now_ns, b"1", out, |b| {
                        b.push_bytes(tag::TEST_REQ_ID, &id[..n])
                    });
                    self.test_request_sent_ns = Some(now_ns);
                    return;
                }
                if now_ns.saturating_sub(self.last_sent_ns) >= hb {
                    self.send_admin(now_ns, b"0", out, |_| {});
                }
            }
        }
    }
}
