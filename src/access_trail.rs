//! Daemon side of the access trail and the background verifier (docs/security.md,
//! "Access trail" and "Signed checkpoints").
//!
//! The trail itself (record types, payload, writer thread) is `arbiter_journal::trail`;
//! here are the hooks the gateway and admin threads call, the network-edge hook
//! ([`EdgeTrail`], an [`EdgeEvents`] implementation) and the verifier thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arbiter_config::Config;
use arbiter_fix::{DisconnectReason, EdgeEvents, LogonOutcome};
use arbiter_journal::trail::{open_trail, TrailThread};
use arbiter_journal::trail::{
    AccessEvent, AccessOutcome, AccessTrail, ACCESS_ADMIN, ACCESS_CONNECT_REFUSED,
    ACCESS_DISCONNECT, ACCESS_LOGON, ACCESS_LOGOUT, ACCESS_REFUSED,
};
use arbiter_journal::{Durability, JournalConfig, JournalId, PublicKey, RecordType, SigningKey};

/// Identity stamped in the access trail's segments (the journal's is another).
pub const ACCESS_TRAIL_IDENTITY: JournalId = JournalId(*b"arbiter-access-1");

/// Opens the access trail under the data directory and starts its thread. Events are
/// small: 16 MiB segments, batch durability (10 ms), sealed whenever idle, and signed with
/// the journal's key when there is one.
///
/// # Errors
/// A message for the operator when the trail cannot be opened.
pub fn open(
    config: &Config,
    signing_key: Option<SigningKey>,
) -> Result<(AccessTrail, TrailThread), String> {
    let dir = config.access_dir();
    let mut journal = JournalConfig::new(ACCESS_TRAIL_IDENTITY);
    journal.segment_size_bytes = 16 << 20;
    journal.durability = Durability::Batch {
        interval_us: 10_000,
        records: 256,
    };
    journal.signing_key = signing_key;
    open_trail(&dir, journal).map_err(|e| format!("access trail {}: {e}", dir.display()))
}

/// Records an admin request: who, what, and how it ended. `operator_id` is 0 when the
/// credentials were refused.
pub fn admin_request(
    trail: Option<&AccessTrail>,
    operator: &str,
    operator_id: u32,
    command: &str,
    outcome: AccessOutcome,
    reason: &str,
) {
    if let Some(trail) = trail {
        trail.record(AccessEvent {
            kind: ACCESS_ADMIN,
            outcome,
            subject: operator_id,
            source: "unix".to_owned(),
            principal: operator.to_owned(),
            action: command.to_owned(),
            reason: reason.to_owned(),
        });
    }
}

/// Records an application message refused by the gateway (entitlement, unknown account,
/// bad field) before it reached the engine.
pub fn fix_refusal(
    trail: Option<&AccessTrail>,
    session: u32,
    comp_id: &str,
    msg_type: &[u8],
    reason: &str,
) {
    if let Some(trail) = trail {
        trail.record(AccessEvent {
            kind: ACCESS_REFUSED,
            outcome: AccessOutcome::Refused,
            subject: session,
            source: String::new(),
            principal: comp_id.to_owned(),
            action: format!("MsgType={}", String::from_utf8_lossy(msg_type)),
            reason: reason.to_owned(),
        });
    }
}

/// Records the end of a FIX session: a logout (either side) or a disconnect.
pub fn session_ended(
    trail: Option<&AccessTrail>,
    session: u32,
    comp_id: &str,
    reason: DisconnectReason,
) {
    let Some(trail) = trail else { return };
    let kind = match reason {
        DisconnectReason::LogoutCompleted
        | DisconnectReason::LogoutReceived
        | DisconnectReason::LogoutTimeout => ACCESS_LOGOUT,
        _ => ACCESS_DISCONNECT,
    };
    trail.record(AccessEvent {
        kind,
        outcome: AccessOutcome::Accepted,
        subject: session,
        source: String::new(),
        principal: comp_id.to_owned(),
        action: if kind == ACCESS_LOGOUT {
            "logout"
        } else {
            "disconnect"
        }
        .to_owned(),
        reason: format!("{reason:?}"),
    });
}

/// The network edge's decisions, written to the access trail (plugged into the gateway
/// with `Gateway::set_edge_events`).
#[derive(Debug)]
pub struct EdgeTrail(pub AccessTrail);

impl EdgeTrail {
    fn edge(
        &self,
        kind: RecordType,
        outcome: AccessOutcome,
        peer: SocketAddr,
        comp_id: &str,
        action: &str,
        reason: String,
    ) {
        self.0.record(AccessEvent {
            kind,
            outcome,
            subject: 0,
            source: peer.to_string(),
            principal: comp_id.to_owned(),
            action: action.to_owned(),
            reason,
        });
    }
}

impl EdgeEvents for EdgeTrail {
    fn on_connect_refused(&mut self, peer: SocketAddr, reason: DisconnectReason) {
        self.edge(
            ACCESS_CONNECT_REFUSED,
            AccessOutcome::Refused,
            peer,
            "",
            "connect",
            format!("{reason:?}"),
        );
    }

    fn on_logon(&mut self, peer: SocketAddr, comp_id: &str, outcome: LogonOutcome) {
        let (outcome, reason) = match outcome {
            LogonOutcome::Accepted => (AccessOutcome::Accepted, String::new()),
            LogonOutcome::Refused(reason) => (AccessOutcome::Refused, format!("{reason:?}")),
        };
        self.edge(ACCESS_LOGON, outcome, peer, comp_id, "logon", reason);
    }

    fn on_credential_changed(&mut self, peer: SocketAddr, comp_id: &str) {
        self.edge(
            ACCESS_LOGON,
            AccessOutcome::Accepted,
            peer,
            comp_id,
            "new-password",
            String::new(),
        );
    }
}

/// What the background verifier found, for `arbiter admin status`.
#[derive(Debug, Default)]
pub struct VerifierStatus {
    /// Completed verification passes.
    pub runs: AtomicU64,
    /// Last sequence the last pass verified (journal), chain and (with a key) signature.
    pub last_verified_seq: AtomicU64,
    /// Last signed sequence the last pass verified (0: no key or none signed).
    pub last_signed_seq: AtomicU64,
    /// The first problem of the last pass, if any (sticky until a pass is clean).
    pub failure: Mutex<Option<String>>,
}

impl VerifierStatus {
    /// `verify_runs=N verified_seq=S signed_seq=G verify_failure=none|"..."`.
    #[must_use]
    pub fn line(&self) -> String {
        let failure = self
            .failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .map_or_else(|| "none".to_owned(), |f| format!("{f:?}"));
        format!(
            "verify_runs={} verified_seq={} signed_seq={} verify_failure={failure}",
            self.runs.load(Ordering::Relaxed),
            self.last_verified_seq.load(Ordering::Relaxed),
            self.last_signed_seq.load(Ordering::Relaxed),
        )
    }
}

/// The verifier thread; [`VerifierThread::stop`] ends it within a sleep tick.
#[derive(Debug)]
pub struct VerifierThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl VerifierThread {
    /// Stops and joins the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn verify_once(dir: &PathBuf, key: Option<&PublicKey>) -> Result<(u64, u64), String> {
    let report = match key {
        Some(key) => arbiter_journal::verify_signed(dir, key, None),
        None => arbiter_journal::verify(dir),
    }
    .map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Some(c) = &report.first_problem {
        return Err(format!(
            "segment {} offset {} sequence {}: {}",
            c.segment.display(),
            c.offset,
            c.sequence.0,
            c.kind
        ));
    }
    Ok((
        report.last_sequence.map_or(0, |s| s.0),
        report.last_signed_sequence.map_or(0, |s| s.0),
    ))
}

/// Re-checks the journal (and the access trail) every `interval`: CRCs, chain and, with
/// `key`, every signed checkpoint (a live journal's unsigned tail is accepted). A plain
/// thread that sleeps between passes in 50 ms ticks: it never competes with the hot
/// path for long, and a pass reads the mapped files, never the writer's memory.
///
/// # Errors
/// The thread cannot be spawned.
pub fn spawn_verifier(
    journal: PathBuf,
    trail: Option<PathBuf>,
    key: Option<PublicKey>,
    interval: Duration,
    status: Arc<VerifierStatus>,
) -> std::io::Result<VerifierThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("arb-verifier".into())
        .spawn(move || {
            let mut next = Instant::now() + interval;
            while !thread_stop.load(Ordering::Acquire) {
                if Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let mut failure = None;
                match verify_once(&journal, key.as_ref()) {
                    Ok((last, signed)) => {
                        status.last_verified_seq.store(last, Ordering::Relaxed);
                        status.last_signed_seq.store(signed, Ordering::Relaxed);
                    }
                    Err(problem) => failure = Some(format!("journal: {problem}")),
                }
                if failure.is_none() {
                    if let Some(trail) = &trail {
                        if let Err(problem) = verify_once(trail, key.as_ref()) {
                            failure = Some(format!("access trail: {problem}"));
                        }
                    }
                }
                if let Some(problem) = &failure {
                    eprintln!("arbiter: verifier: {problem}");
                }
                if let Ok(mut slot) = status.failure.lock() {
                    *slot = failure;
                }
                status.runs.fetch_add(1, Ordering::Relaxed);
                next = Instant::now() + interval;
            }
        })?;
    Ok(VerifierThread {
        stop,
        handle: Some(handle),
    })
}
