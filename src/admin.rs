//! The admin socket: a unix socket (owner-only) taking one line per request, and the
//! `arbiter admin` client. State changes go through the sequencer like every command.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbiter_engine::{CommandKind, InstrumentRegistry, Phase};
use arbiter_hardware::spsc::{Consumer, Producer};
use arbiter_journal::DurableCursor;

use crate::messages::{AdminReply, Annotation, Request};
use crate::sequencer::{SequencerStatus, ADMIN_REQUEST_BIT};

/// What the admin thread needs.
pub struct AdminServer {
    /// The socket path.
    pub path: PathBuf,
    /// Requests to the sequencer.
    pub requests: Producer<Request>,
    /// Its replies.
    pub replies: Consumer<AdminReply>,
    /// Sequencer figures.
    pub status: Arc<SequencerStatus>,
    /// Journal durability.
    pub durable: DurableCursor,
    /// Instruments, to resolve symbols.
    pub instruments: InstrumentRegistry,
    /// Set to stop the daemon.
    pub shutdown: Arc<AtomicBool>,
    /// Venue name.
    pub venue: String,
}

impl AdminServer {
    /// Binds the socket (replacing a stale one) with owner-only permissions.
    ///
    /// # Errors
    /// The socket cannot be created.
    pub fn bind(&self) -> std::io::Result<UnixListener> {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    }

    /// Serves until shutdown. Connections are handled one at a time: admin is not a hot path.
    pub fn serve(mut self, listener: &UnixListener) {
        let mut next_id = 1u64;
        while !self.shutdown.load(Ordering::Acquire) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    self.handle(stream, &mut next_id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    eprintln!("arbiter: admin socket: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }

    fn handle(&mut self, stream: UnixStream, next_id: &mut u64) {
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let answer = self.answer(line.trim(), next_id);
        let mut stream = &stream;
        let _ = writeln!(stream, "{answer}");
    }

    fn answer(&mut self, line: &str, next_id: &mut u64) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["status"] => format!(
                "venue={} applied_seq={} durable_seq={} live_orders={} trades={} digest={:016x} journal_errors={}",
                self.venue,
                self.status.applied_seq.load(Ordering::Acquire),
                self.durable.get().0,
                self.status.live_orders.load(Ordering::Relaxed),
                self.status.trades.load(Ordering::Relaxed),
                self.status.digest.load(Ordering::Relaxed),
                self.status.journal_errors.load(Ordering::Relaxed),
            ),
            ["halt", symbol] => self.set_phase(symbol, Phase::Halted, next_id),
            ["resume", symbol] => self.set_phase(symbol, Phase::Continuous, next_id),
            ["shutdown"] => {
                self.shutdown.store(true, Ordering::Release);
                "ok shutting down".to_owned()
            }
            _ => "error: unknown request; try: status | halt SYMBOL | resume SYMBOL | shutdown"
                .to_owned(),
        }
    }

    fn set_phase(&mut self, symbol: &str, phase: Phase, next_id: &mut u64) -> String {
        let Some(instrument) = self.instruments.by_symbol(symbol) else {
            return format!("error: unknown instrument {symbol}");
        };
        let kind = CommandKind::SetPhase {
            instrument: instrument.id,
            phase,
        };
        self.submit(kind, next_id)
    }

    fn submit(&mut self, kind: CommandKind, next_id: &mut u64) -> String {
        let request_id = ADMIN_REQUEST_BIT | *next_id;
        *next_id += 1;
        let request = Request {
            kind,
            annotation: Annotation::new(b"admin"),
            request_id,
        };
        if self.requests.try_push(request).is_err() {
            return "error: sequencer busy, try again".to_owned();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            while let Some(reply) = self.replies.try_pop() {
                if reply.request_id == request_id {
                    return match reply.rejected {
                        Some(reason) => {
                            format!("rejected seq={} reason={}", reply.seq.0, reason.text())
                        }
                        None => format!("ok seq={} events={}", reply.seq.0, reply.events),
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        "error: no answer from the sequencer within 5 s".to_owned()
    }
}

/// `arbiter admin ...`: sends one request line and prints the answer.
///
/// # Errors
/// The socket cannot be reached.
pub fn client(socket: &Path, words: &[String]) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(stream, "{}", words.join(" "))?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    Ok(answer.trim_end().to_owned())
}
