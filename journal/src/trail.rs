//! The access trail: a second hash-chained journal (same segments, frames, seals and
//! optional signed checkpoints) for what is not a command: logons and their outcome,
//! logouts and disconnects, refused requests, connections refused at the network edge and
//! every admin request, read-only ones included.
//!
//! # Threads
//! A journal [`crate::Writer`] has one owner. The trail's writer is owned by a small
//! "trail" thread fed by a bounded channel: the gateway and admin threads call
//! [`AccessTrail::record`], which never blocks (`try_send`); a full channel drops the event
//! and counts it in [`AccessTrail::dropped`], shown by `arbiter admin status`.
//!
//! # Record types and payload (little-endian)
//! Types [`ACCESS_LOGON`] .. [`ACCESS_CONNECT_REFUSED`]. Payload:
//! ```text
//! 0  version  u8     ACCESS_PAYLOAD_VERSION
//! 1  outcome  u8     AccessOutcome: 0 accepted, 1 refused, 2 failed
//! 2  reserved u16    0
//! 4  subject  u32    operator id (admin) or session index (FIX); 0 when unknown
//! 8  four text fields, each u16 length then that many UTF-8 bytes, in this order:
//!    source     peer address ("10.0.0.7:51234", "unix" for the admin socket)
//!    principal  SenderCompID or operator login name
//!    action     the request: admin command line, FIX MsgType, "logon", ...
//!    reason     why it was refused or ended; free text
//! ```
//! Each field is cut at [`ACCESS_FIELD_BYTES_MAX`] bytes (at a character boundary), so a
//! record is at most 8 + 4 × (2 + 512) bytes.
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::JournalConfig;
use crate::error::JournalError;
use crate::recovery::Journal;
use crate::types::{RecordType, Sequence, TimestampNs};

/// A FIX logon: accepted or refused.
pub const ACCESS_LOGON: RecordType = RecordType(1);
/// A FIX logout (either side), with its text.
pub const ACCESS_LOGOUT: RecordType = RecordType(2);
/// A connection that ended without a logout (peer closed, timeout, protocol error).
pub const ACCESS_DISCONNECT: RecordType = RecordType(3);
/// An application request refused before the engine (entitlement, unknown account, ...).
pub const ACCESS_REFUSED: RecordType = RecordType(4);
/// An admin request: operator, command line and outcome (bad credentials, role, answer).
pub const ACCESS_ADMIN: RecordType = RecordType(5);
/// A connection refused at the network edge (address not allowed, too many connections).
pub const ACCESS_CONNECT_REFUSED: RecordType = RecordType(6);
/// Version byte of the payload encoding.
pub const ACCESS_PAYLOAD_VERSION: u8 = 1;
/// Longest text field kept, in bytes.
pub const ACCESS_FIELD_BYTES_MAX: usize = 512;
/// Bytes of the fixed payload header.
pub const ACCESS_HEADER_LEN: usize = 8;
/// Longest payload.
pub const ACCESS_PAYLOAD_LEN_MAX: usize = ACCESS_HEADER_LEN + 4 * (2 + ACCESS_FIELD_BYTES_MAX);
/// Events the channel holds before [`AccessTrail::record`] starts dropping.
pub const ACCESS_CHANNEL_CAPACITY: usize = 4096;

const _: () = assert!(ACCESS_FIELD_BYTES_MAX <= u16::MAX as usize);

/// How an access event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AccessOutcome {
    /// Allowed.
    Accepted = 0,
    /// Refused by a check (credentials, role, entitlement, network edge).
    Refused = 1,
    /// Allowed but it failed.
    Failed = 2,
}

impl AccessOutcome {
    /// The word used in dumps.
    #[must_use]
    pub fn text(self) -> &'static str {
        match self {
            AccessOutcome::Accepted => "accepted",
            AccessOutcome::Refused => "refused",
            AccessOutcome::Failed => "failed",
        }
    }
}

/// One access event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEvent {
    /// One of the `ACCESS_*` record types.
    pub kind: RecordType,
    /// How it ended.
    pub outcome: AccessOutcome,
    /// Operator id or session index (0: unknown).
    pub subject: u32,
    /// Peer address.
    pub source: String,
    /// CompID or operator name.
    pub principal: String,
    /// What was asked.
    pub action: String,
    /// Why it was refused or ended.
    pub reason: String,
}

/// The name of an access record type.
#[must_use]
pub fn kind_name(kind: RecordType) -> &'static str {
    match kind {
        ACCESS_LOGON => "logon",
        ACCESS_LOGOUT => "logout",
        ACCESS_DISCONNECT => "disconnect",
        ACCESS_REFUSED => "refused",
        ACCESS_ADMIN => "admin",
        ACCESS_CONNECT_REFUSED => "connect-refused",
        _ => "unknown",
    }
}

fn cut(text: &str) -> &str {
    if text.len() <= ACCESS_FIELD_BYTES_MAX {
        return text;
    }
    let mut end = ACCESS_FIELD_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl AccessEvent {
    /// Encodes the payload into `out` (cleared first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(ACCESS_PAYLOAD_VERSION);
        out.push(self.outcome as u8);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.subject.to_le_bytes());
        for field in [&self.source, &self.principal, &self.action, &self.reason] {
            let field = cut(field);
            out.extend_from_slice(&(field.len() as u16).to_le_bytes());
            out.extend_from_slice(field.as_bytes());
        }
        debug_assert!(out.len() <= ACCESS_PAYLOAD_LEN_MAX);
    }

    /// Decodes a payload of record type `kind`; `None` when it is not one.
    #[must_use]
    pub fn decode(kind: RecordType, payload: &[u8]) -> Option<AccessEvent> {
        if payload.len() < ACCESS_HEADER_LEN || payload[0] != ACCESS_PAYLOAD_VERSION {
            return None;
        }
        let outcome = match payload[1] {
            0 => AccessOutcome::Accepted,
            1 => AccessOutcome::Refused,
            2 => AccessOutcome::Failed,
            _ => return None,
        };
        let subject = u32::from_le_bytes(payload[4..8].try_into().ok()?);
        let mut at = ACCESS_HEADER_LEN;
        let mut fields: [String; 4] = Default::default();
        for field in &mut fields {
            let len = usize::from(u16::from_le_bytes(
                payload.get(at..at + 2)?.try_into().ok()?,
            ));
            at += 2;
            *field = std::str::from_utf8(payload.get(at..at + len)?)
                .ok()?
                .to_owned();
            at += len;
        }
        if at != payload.len() {
            return None;
        }
        let [source, principal, action, reason] = fields;
        Some(AccessEvent {
            kind,
            outcome,
            subject,
            source,
            principal,
            action,
            reason,
        })
    }
}

/// Counters the trail thread and its callers share (for `arbiter admin status`).
#[derive(Debug, Default)]
pub struct TrailStatus {
    /// Events appended.
    pub written: AtomicU64,
    /// Events dropped because the channel was full (or the trail had stopped).
    pub dropped: AtomicU64,
    /// Append failures (the trail stops writing after the first).
    pub errors: AtomicU64,
}

/// The handle the gateway and admin threads hold: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct AccessTrail {
    sender: SyncSender<(u64, AccessEvent)>,
    status: Arc<TrailStatus>,
}

impl AccessTrail {
    /// Queues an event for the trail thread, stamped now. Never blocks: when the channel is
    /// full the event is dropped and counted.
    pub fn record(&self, event: AccessEvent) {
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        match self.sender.try_send((now_ns, event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.status.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The shared counters.
    #[must_use]
    pub fn status(&self) -> &Arc<TrailStatus> {
        &self.status
    }

    /// Events dropped so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.status.dropped.load(Ordering::Relaxed)
    }
}

/// The trail thread; [`TrailThread::stop`] writes what is queued, seals and closes.
#[derive(Debug)]
pub struct TrailThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), JournalError>>>,
}

impl TrailThread {
    /// Stops the thread: it writes what is queued, seals and closes the journal. Events
    /// recorded afterwards are counted as dropped.
    ///
    /// # Errors
    /// The first journal error of the trail.
    ///
    /// # Panics
    /// If the trail thread panicked.
    pub fn stop(mut self) -> Result<(), JournalError> {
        self.stop.store(true, Ordering::Release);
        match self.handle.take() {
            Some(handle) => handle.join().expect("access trail thread panicked"),
            None => Ok(()),
        }
    }
}

/// Opens (recovers) the access trail in `dir` and starts its thread and flusher.
/// The trail is sealed whenever its channel is idle for 50 ms, so a quiet trail is
/// always chained (and, with a signing key, signed) up to its last event.
///
/// # Errors
/// As [`Journal::open`].
///
/// # Panics
/// If the OS cannot spawn a thread.
pub fn open_trail(
    dir: &Path,
    config: JournalConfig,
) -> Result<(AccessTrail, TrailThread), JournalError> {
    let (mut writer, _) = Journal::open(dir, config)?;
    let flusher = writer.flusher()?.spawn();
    let (sender, receiver) = mpsc::sync_channel(ACCESS_CHANNEL_CAPACITY);
    let status = Arc::new(TrailStatus::default());
    let thread_status = Arc::clone(&status);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("arb-trail".into())
        .spawn(move || {
            let result = run_trail(&mut writer, &receiver, &thread_status, &thread_stop);
            let closed = writer.close();
            let flushed = flusher.stop();
            result.and(closed).and(flushed)
        })
        .expect("spawn access trail thread");
    Ok((
        AccessTrail { sender, status },
        TrailThread {
            stop,
            handle: Some(handle),
        },
    ))
}

fn run_trail(
    writer: &mut crate::Writer,
    receiver: &Receiver<(u64, AccessEvent)>,
    status: &TrailStatus,
    stop: &AtomicBool,
) -> Result<(), JournalError> {
    let mut payload = Vec::with_capacity(ACCESS_PAYLOAD_LEN_MAX);
    let mut last_timestamp = 0u64;
    loop {
        let next = if stop.load(Ordering::Acquire) {
            // Drain what is queued, then leave: bounded by the channel's capacity.
            receiver
                .try_recv()
                .map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(Duration::from_millis(50))
        };
        match next {
            Ok((timestamp_ns, event)) => {
                event.encode(&mut payload);
                // Timestamps never go backwards in a journal, even if the clock does.
                last_timestamp = last_timestamp.max(timestamp_ns);
                let sequence: Sequence = writer.next_sequence();
                if let Err(e) =
                    writer.append(event.kind, sequence, TimestampNs(last_timestamp), &payload)
                {
                    status.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
                status.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(RecvTimeoutError::Timeout) => {
                writer.seal()?;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_cuts_long_fields() {
        let event = AccessEvent {
            kind: ACCESS_ADMIN,
            outcome: AccessOutcome::Refused,
            subject: 7,
            source: "unix".into(),
            principal: "alice".into(),
            action: "halt AAPL".into(),
            reason: "é".repeat(400),
        };
        let mut bytes = Vec::new();
        event.encode(&mut bytes);
        let decoded = AccessEvent::decode(ACCESS_ADMIN, &bytes).expect("decodes");
        assert_eq!(decoded.principal, "alice");
        assert_eq!(decoded.reason.len(), ACCESS_FIELD_BYTES_MAX);
        assert!(AccessEvent::decode(ACCESS_ADMIN, &bytes[..bytes.len() - 1]).is_none());
    }

    #[test]
    fn trail_writes_events_and_verifies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = JournalConfig::new(crate::JournalId::from_u128(9));
        config.segment_size_bytes = 1 << 16;
        let (trail, thread) = open_trail(dir.path(), config).expect("open");
        for n in 0..10u32 {
            trail.record(AccessEvent {
                kind: ACCESS_LOGON,
                outcome: AccessOutcome::Accepted,
                subject: n,
                source: "127.0.0.1:1".into(),
                principal: "CLIENT".into(),
                action: "logon".into(),
                reason: String::new(),
            });
        }
        drop(trail);
        thread.stop().expect("stop");
        let reader = crate::Reader::open(dir.path()).expect("reader");
        let subjects: Vec<u32> = reader
            .iter_from_seq(Sequence(0))
            .map(|r| {
                let view = r.expect("record");
                AccessEvent::decode(view.record_type(), view.payload())
                    .expect("event")
                    .subject
            })
            .collect();
        assert_eq!(subjects, (0..10).collect::<Vec<_>>());
        assert!(crate::verify(dir.path()).expect("verify").is_ok());
    }
}
