//! Venue-wide controls across shards (docs/cluster.md, "Venue-wide controls"): a global
//! kill switch, halt, resume or kill release, published on [`VENUE_CONTROL_SUBJECT`] with
//! a reply inbox; every shard's leader listens ([`VenueListener`]), has the command
//! journaled through its own admin path and answers with its shard name, the journal
//! sequence numbers and the outcome; [`fan_out`] collects the answers per shard until
//! every configured shard answered or the timeout passed.
//!
//! Core NATS (not JetStream): a request is delivered at most once per publish, so
//! [`fan_out`] publishes it again, with the same id, to shards that have not answered by
//! half the timeout; a shard applies an id once and answers a repeat with its first
//! answer ([`VenueLedger`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::connection::NatsConnection;
use crate::error::ClusterError;

/// The subject every shard's leader listens to. Who may publish on it may stop the venue:
/// only the venue daemons' NATS users (docs/cluster.md lists the permissions).
pub const VENUE_CONTROL_SUBJECT: &str = "arbiter.venue.control";

/// First word of every request: a foreign message on the subject is refused, not guessed.
const MAGIC: &str = "arbiter-venue-control/1";

/// Requests kept for duplicate detection (ids, with their answers).
pub const LEDGER_IDS_MAX: usize = 4096;

/// How long a shard waits for its admin path to journal a request.
const APPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// Requests handed to the daemon at once (more wait in NATS's buffer, answered busy).
const DELIVERIES_MAX: usize = 16;

/// What a venue-wide control does on every shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VenueAction {
    /// The global kill switch (`kill global`): every order cancelled, new ones refused.
    Kill,
    /// Every instrument the shard trades halted (`halt SYMBOL` for each).
    Halt,
    /// Every instrument the shard trades back to continuous trading.
    Resume,
    /// One approval of the global kill switch's release (`release global`).
    Release,
}

impl VenueAction {
    /// The word on the admin command line and on the wire.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            VenueAction::Kill => "kill",
            VenueAction::Halt => "halt",
            VenueAction::Resume => "resume",
            VenueAction::Release => "release",
        }
    }

    /// Parses [`VenueAction::name`].
    #[must_use]
    pub fn parse(word: &str) -> Option<VenueAction> {
        [
            VenueAction::Kill,
            VenueAction::Halt,
            VenueAction::Resume,
            VenueAction::Release,
        ]
        .into_iter()
        .find(|a| a.name() == word)
    }
}

/// One venue-wide control, as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueRequest {
    /// Unique per request (16 hex digits): a shard applies an id once.
    pub id: String,
    /// What to do.
    pub action: VenueAction,
    /// The operator who issued it (authenticated by the admin socket of `origin`).
    pub operator_id: u32,
    /// That operator's login name.
    pub operator: String,
    /// The shard whose admin socket took the request.
    pub origin: String,
    /// When it was issued (Unix ms): a shard refuses one much older than its own clock.
    pub issued_unix_ms: u64,
    /// The operator's reason, as typed (for `kill`, an optional reason code first).
    pub reason: String,
}

fn is_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

impl VenueRequest {
    /// One line: the magic, `key=value` words, then `reason=` and the rest of the line.
    ///
    /// # Errors
    /// [`ClusterError::Config`] when a field would not read back (a name with spaces or
    /// `=`, a reason with a line break).
    pub fn encode(&self) -> Result<String, ClusterError> {
        for (key, value) in [
            ("id", &self.id),
            ("operator", &self.operator),
            ("origin", &self.origin),
        ] {
            if !is_word(value) {
                return Err(ClusterError::Config(format!(
                    "venue control {key} {value:?}: one word without '=' needed"
                )));
            }
        }
        if self.reason.contains(['\n', '\r']) {
            return Err(ClusterError::Config(
                "venue control reason: one line needed".to_owned(),
            ));
        }
        Ok(format!(
            "{MAGIC} id={} action={} operator_id={} operator={} origin={} issued_ms={} reason={}",
            self.id,
            self.action.name(),
            self.operator_id,
            self.operator,
            self.origin,
            self.issued_unix_ms,
            self.reason
        ))
    }

    /// Reads [`VenueRequest::encode`]'s line.
    ///
    /// # Errors
    /// [`ClusterError::Config`] naming what is missing or malformed.
    pub fn decode(bytes: &[u8]) -> Result<VenueRequest, ClusterError> {
        let bad = |what: &str| ClusterError::Config(format!("venue control request: {what}"));
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let rest = text
            .strip_prefix(MAGIC)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| bad("not an Arbiter venue control request"))?;
        let (fields, reason) = rest
            .split_once(" reason=")
            .ok_or_else(|| bad("reason= missing"))?;
        let mut map = HashMap::new();
        for word in fields.split(' ') {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| bad(&format!("{word:?} is not key=value")))?;
            map.insert(key, value);
        }
        let field = |key: &str| {
            map.get(key)
                .copied()
                .filter(|v| is_word(v))
                .ok_or_else(|| bad(&format!("{key}= missing or empty")))
        };
        let number = |key: &str| {
            field(key)?
                .parse::<u64>()
                .map_err(|_| bad(&format!("{key}= is not a number")))
        };
        Ok(VenueRequest {
            id: field("id")?.to_owned(),
            action: VenueAction::parse(field("action")?).ok_or_else(|| bad("unknown action"))?,
            operator_id: u32::try_from(number("operator_id")?)
                .map_err(|_| bad("operator_id= out of range"))?,
            operator: field("operator")?.to_owned(),
            origin: field("origin")?.to_owned(),
            issued_unix_ms: number("issued_ms")?,
            reason: reason.to_owned(),
        })
    }
}

/// A fresh request id: 16 hex digits from the OS's random source (the time and process id
/// when it cannot be read).
#[must_use]
pub fn new_request_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let now = unix_ms() ^ (u64::from(std::process::id()) << 40);
        bytes = now.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch (0 before it).
#[must_use]
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The answers a shard gave, by request id, for the last [`LEDGER_IDS_MAX`] requests: a
/// repeated delivery gets the first answer again and is not applied twice.
#[derive(Debug, Default)]
pub struct VenueLedger {
    answers: HashMap<String, String>,
    order: VecDeque<String>,
}

impl VenueLedger {
    /// The answer already given to `id`, if any.
    #[must_use]
    pub fn answered(&self, id: &str) -> Option<&str> {
        self.answers.get(id).map(String::as_str)
    }

    /// Remembers the answer to `id` (forgetting the oldest beyond [`LEDGER_IDS_MAX`]).
    pub fn record(&mut self, id: &str, answer: &str) {
        if self
            .answers
            .insert(id.to_owned(), answer.to_owned())
            .is_none()
        {
            self.order.push_back(id.to_owned());
        }
        while self.order.len() > LEDGER_IDS_MAX {
            if let Some(old) = self.order.pop_front() {
                self.answers.remove(&old);
            }
        }
    }
}

/// A request handed to the daemon, which journals it and sends its one-line answer back.
#[derive(Debug)]
pub struct VenueDelivery {
    /// The request.
    pub request: VenueRequest,
    /// Where the answer goes (`shard=NAME outcome=...`).
    pub answer: SyncSender<String>,
}

/// The listener of a shard's leader: its own thread with a current-thread tokio runtime,
/// subscribed to [`VENUE_CONTROL_SUBJECT`]. Off the hot path: it hands requests to the
/// daemon through a bounded channel and waits for the answer to publish it.
#[derive(Debug)]
pub struct VenueListener {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl VenueListener {
    /// Connects, subscribes and confirms the subscription with the server (within
    /// `ready_timeout`), then keeps listening (reconnecting after NATS outages) until
    /// stopped. `shard` names this shard in answers to requests that cannot be decoded.
    ///
    /// # Errors
    /// The thread cannot start, or the first subscription is not confirmed in time.
    pub fn spawn(
        connection: NatsConnection,
        shard: String,
        ready_timeout: Duration,
    ) -> Result<(VenueListener, Receiver<VenueDelivery>), ClusterError> {
        let (deliveries, received) = mpsc::sync_channel(DELIVERIES_MAX);
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("arb-venue".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                            return;
                        }
                    };
                    runtime.block_on(listen(&connection, &shard, &deliveries, &stop, ready_tx));
                })
                .map_err(|e| ClusterError::Config(format!("venue control thread: {e}")))?
        };
        let listener = VenueListener {
            thread: Some(thread),
            stop,
        };
        match ready_rx.recv_timeout(ready_timeout) {
            Ok(Ok(())) => Ok((listener, received)),
            Ok(Err(e)) => {
                listener.stop();
                Err(ClusterError::Nats(format!("venue control: {e}")))
            }
            Err(_) => {
                listener.stop();
                Err(ClusterError::Nats(format!(
                    "venue control: no subscription on {VENUE_CONTROL_SUBJECT} within {ready_timeout:?}"
                )))
            }
        }
    }

    /// Stops listening and joins the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for VenueListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Waits for the daemon's answer without blocking the runtime (the client keeps its
/// connection alive meanwhile).
async fn wait_answer(answers: &Receiver<String>) -> Option<String> {
    let deadline = Instant::now() + APPLY_TIMEOUT;
    while Instant::now() < deadline {
        match answers.try_recv() {
            Ok(answer) => return Some(answer),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
    None
}

async fn listen(
    connection: &NatsConnection,
    shard: &str,
    deliveries: &SyncSender<VenueDelivery>,
    stop: &AtomicBool,
    ready: mpsc::Sender<Result<(), String>>,
) {
    let mut ready = Some(ready);
    while !stop.load(Ordering::Acquire) {
        let subscribed = async {
            let client = connection.connect().await?;
            let subscriber = client
                .subscribe(VENUE_CONTROL_SUBJECT)
                .await
                .map_err(|e| ClusterError::Nats(format!("subscribe: {e}")))?;
            // The server has the subscription once it answered a ping after it.
            client
                .flush()
                .await
                .map_err(|e| ClusterError::Nats(format!("flush: {e}")))?;
            Ok::<_, ClusterError>((client, subscriber))
        }
        .await;
        let (client, mut subscriber) = match subscribed {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("arbiter: venue control: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if let Some(ready) = ready.take() {
            let _ = ready.send(Ok(()));
        }
        eprintln!("arbiter: venue control: shard {shard} listening on {VENUE_CONTROL_SUBJECT}");
        while !stop.load(Ordering::Acquire) {
            let message =
                match tokio::time::timeout(Duration::from_millis(100), subscriber.next()).await {
                    Err(_) => continue,
                    Ok(None) => break, // subscription ended: connect again
                    Ok(Some(message)) => message,
                };
            let Some(reply) = message.reply.clone() else {
                eprintln!("arbiter: venue control: a request without a reply subject, ignored");
                continue;
            };
            let answer = match VenueRequest::decode(&message.payload) {
                Err(e) => {
                    eprintln!("arbiter: venue control: refused: {e}");
                    format!("shard={shard} outcome=error reason={e:?}")
                }
                Ok(request) => {
                    let (answer_tx, answer_rx) = mpsc::sync_channel(1);
                    let delivery = VenueDelivery {
                        request,
                        answer: answer_tx,
                    };
                    if deliveries.try_send(delivery).is_err() {
                        format!("shard={shard} outcome=error reason=\"busy, try again\"")
                    } else {
                        wait_answer(&answer_rx).await.unwrap_or_else(|| {
                            format!(
                                "shard={shard} outcome=error reason=\"no answer from the admin \
                                 path within {APPLY_TIMEOUT:?}\""
                            )
                        })
                    }
                }
            };
            if let Err(e) = client.publish(reply, answer.into()).await {
                eprintln!("arbiter: venue control: answer not sent: {e}");
            }
            let _ = client.flush().await;
        }
    }
}

/// Publishes `request` and collects one answer per shard in `shards` until all answered
/// or `timeout` passed (re-publishing once, same id, at half the timeout to those that
/// have not). Returns the answers by shard name; a configured shard missing from it did
/// not answer. Answers from shards not in `shards` are returned too (a misconfigured
/// process), under their own name.
///
/// # Errors
/// NATS cannot be reached or the request not published.
pub fn fan_out(
    connection: &NatsConnection,
    request: &VenueRequest,
    shards: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, ClusterError> {
    let payload = request.encode()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Config(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let client = connection.connect().await?;
        let inbox = client.new_inbox();
        let mut answers = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| ClusterError::Nats(format!("subscribe {inbox}: {e}")))?;
        publish(&client, &inbox, &payload).await?;
        let start = Instant::now();
        let mut republished = false;
        let mut out = BTreeMap::new();
        while !shards.iter().all(|s| out.contains_key(s)) {
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                break;
            }
            if !republished && elapsed >= timeout / 2 {
                republished = true;
                publish(&client, &inbox, &payload).await?;
            }
            let until = if republished { timeout } else { timeout / 2 };
            let wait = until.saturating_sub(elapsed).max(Duration::from_millis(1));
            let Ok(Some(message)) = tokio::time::timeout(wait, answers.next()).await else {
                continue;
            };
            let Ok(line) = std::str::from_utf8(&message.payload) else {
                continue;
            };
            let Some(name) = line
                .strip_prefix("shard=")
                .and_then(|rest| rest.split(' ').next())
            else {
                continue;
            };
            out.entry(name.to_owned())
                .or_insert_with(|| line.to_owned());
        }
        Ok(out)
    })
}

async fn publish(
    client: &async_nats::Client,
    inbox: &str,
    payload: &str,
) -> Result<(), ClusterError> {
    client
        .publish_with_reply(
            VENUE_CONTROL_SUBJECT,
            inbox.to_owned(),
            payload.to_owned().into(),
        )
        .await
        .map_err(|e| ClusterError::Nats(format!("publish: {e}")))?;
    client
        .flush()
        .await
        .map_err(|e| ClusterError::Nats(format!("flush: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> VenueRequest {
        VenueRequest {
            id: new_request_id(),
            action: VenueAction::Kill,
            operator_id: 2,
            operator: "risk1".to_owned(),
            origin: "A".to_owned(),
            issued_unix_ms: unix_ms(),
            reason: "drill end-of-day test = fine".to_owned(),
        }
    }

    #[test]
    fn a_request_reads_back_exactly() {
        let request = request();
        assert_eq!(request.id.len(), 16);
        let line = request.encode().unwrap();
        assert_eq!(VenueRequest::decode(line.as_bytes()).unwrap(), request);
        let empty = VenueRequest {
            reason: String::new(),
            action: VenueAction::Halt,
            ..request
        };
        assert_eq!(
            VenueRequest::decode(empty.encode().unwrap().as_bytes()).unwrap(),
            empty
        );
    }

    #[test]
    fn foreign_or_broken_requests_are_refused_with_a_reason() {
        for (bytes, what) in [
            (&b"hello"[..], "not an Arbiter venue control request"),
            (&b"\xff\xfe"[..], "not UTF-8"),
            (
                &b"arbiter-venue-control/1 id=1 action=kill operator_id=2 operator=x origin=A"[..],
                "reason= missing",
            ),
            (
                &b"arbiter-venue-control/1 id=1 action=explode operator_id=2 operator=x \
                   origin=A issued_ms=1 reason=x"[..],
                "unknown action",
            ),
            (
                &b"arbiter-venue-control/1 id=1 action=kill operator_id=-2 operator=x \
                   origin=A issued_ms=1 reason=x"[..],
                "operator_id= is not a number",
            ),
        ] {
            let error = VenueRequest::decode(bytes).unwrap_err().to_string();
            assert!(error.contains(what), "{error} (wanted {what})");
        }
        let spaced = VenueRequest {
            operator: "two words".to_owned(),
            ..request()
        };
        assert!(spaced.encode().is_err());
    }

    #[test]
    fn the_ledger_answers_a_repeat_and_forgets_the_oldest() {
        let mut ledger = VenueLedger::default();
        assert_eq!(ledger.answered("a"), None);
        ledger.record("a", "shard=A outcome=ok seq=7");
        assert_eq!(ledger.answered("a"), Some("shard=A outcome=ok seq=7"));
        for i in 0..LEDGER_IDS_MAX {
            ledger.record(&format!("id-{i}"), "x");
        }
        assert_eq!(ledger.answered("a"), None);
        assert_eq!(ledger.answered("id-1"), Some("x"));
        assert_eq!(ledger.order.len(), LEDGER_IDS_MAX);
    }
}
