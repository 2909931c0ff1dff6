//! `arbiter-load echo`: a bare acceptor for measuring the physical floor (loopback, the
//! kernel, the generator itself). It frames and decodes, answers Logon with Logon, each
//! NewOrderSingle with a canned ExecutionReport (New), cancels and replaces with their
//! ExecutionReports, TestRequest with Heartbeat and Logout with Logout. No sequence number
//! checks, no validation, no store: none of the FIX session layer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arbiter_fix::{
    decode, frame, FixVersion, FrameResult, Header, Message, MessageBuilder, TimestampPrecision,
};

/// Connections served at once; more are closed at accept.
pub const ECHO_CONNECTIONS_MAX: u64 = 256;
const READ_BYTES: usize = 1 << 20;
const POLL_STOP_EVERY: Duration = Duration::from_millis(100);

/// Counters of an echo server.
#[derive(Debug, Default)]
pub struct EchoStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Messages received.
    pub messages: AtomicU64,
    /// ExecutionReports sent.
    pub execution_reports: AtomicU64,
}

/// A running echo acceptor.
#[derive(Debug)]
pub struct EchoServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<EchoStats>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Binds `address` (port 0 picks one) and serves on background threads.
    ///
    /// # Errors
    /// Bind or spawn failure.
    pub fn start(address: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(EchoStats::default());
        let (stop_flag, stats_ref) = (Arc::clone(&stop), Arc::clone(&stats));
        let thread = std::thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || accept_loop(&listener, &stop_flag, &stats_ref))?;
        Ok(EchoServer {
            address,
            stop,
            stats,
            thread: Some(thread),
        })
    }

    /// The bound address.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> &EchoStats {
        &self.stats
    }

    /// Stops accepting, ends the connections (within 100 ms) and joins.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: &TcpListener, stop: &Arc<AtomicBool>, stats: &Arc<EchoStats>) {
    let live = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for stream in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if live.load(Ordering::Acquire) >= ECHO_CONNECTIONS_MAX {
            continue; // dropped: closes the connection
        }
        stats.connections.fetch_add(1, Ordering::Relaxed);
        live.fetch_add(1, Ordering::AcqRel);
        let (stop, stats, live) = (Arc::clone(stop), Arc::clone(stats), Arc::clone(&live));
        threads.retain(|t: &JoinHandle<()>| !t.is_finished());
        if let Ok(t) = std::thread::Builder::new()
            .name("echo-conn".into())
            .spawn(move || {
                let _ = serve(stream, &stop, &stats);
                live.fetch_sub(1, Ordering::AcqRel);
            })
        {
            threads.push(t);
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

struct Responder {
    out_seq: u64,
    version: FixVersion,
    order_id: u64,
    tx: Vec<u8>,
}

impl Responder {
    fn reply(
        &mut self,
        request: &Message<'_>,
        msg_type: &[u8],
        body: impl FnOnce(&mut MessageBuilder<'_>),
    ) {
        let mut buf = [0u8; 1024];
        let header = Header {
            sender_comp_id: request.get(56).unwrap_or(b"ARBITER"),
            target_comp_id: request.get(49).unwrap_or(b"CLIENT"),
            msg_seq_num: self.out_seq,
            sending_time_ns: 0,
            precision: TimestampPrecision::Millis,
            orig_sending_time_ns: None,
        };
        let mut b = MessageBuilder::new(&mut buf, self.version, msg_type);
        b.header(&header);
        body(&mut b);
        if let Ok(bytes) = b.finish() {
            self.tx.extend_from_slice(bytes);
            self.out_seq += 1;
        }
    }

    fn execution_report(&mut self, request: &Message<'_>, exec_type: u8) {
        self.order_id += 1;
        let id = self.order_id;
        let qty = request.get(38).unwrap_or(b"0");
        self.reply(request, b"8", |b| {
            b.push_u64(37, id);
            b.push_u64(17, id);
            b.push_str(11, request.get(11).unwrap_or(b"?"));
            if let Some(orig) = request.get(41) {
                b.push_str(41, orig);
            }
            b.push_char(150, exec_type);
            b.push_char(39, exec_type);
            b.push_str(55, request.get(55).unwrap_or(b"?"));
            b.push_str(54, request.get(54).unwrap_or(b"1"));
            b.push_str(38, qty);
            b.push_str(151, if exec_type == b'4' { b"0" } else { qty });
            b.push_u64(14, 0);
            b.push_u64(6, 0);
        });
    }

    /// Answers one message; returns false when the connection should close.
    fn on_message(&mut self, msg: &Message<'_>, stats: &EchoStats) -> bool {
        if msg.begin_string() == b"FIXT.1.1" {
            self.version = FixVersion::Fixt11;
        }
        match msg.msg_type() {
            b"A" => {
                let heartbeat = msg.get(108).unwrap_or(b"30");
                let reset = msg.get(141) == Some(b"Y");
                let fixt = self.version == FixVersion::Fixt11;
                self.reply(msg, b"A", |b| {
                    b.push_u64(98, 0);
                    b.push_str(108, heartbeat);
                    if reset {
                        b.push_char(141, b'Y');
                    }
                    if fixt {
                        b.push_str(1137, b"9");
                    }
                });
            }
            b"D" => {
                self.execution_report(msg, b'0');
                stats.execution_reports.fetch_add(1, Ordering::Relaxed);
            }
            b"F" => {
                self.execution_report(msg, b'4');
                stats.execution_reports.fetch_add(1, Ordering::Relaxed);
            }
            b"G" => {
                self.execution_report(msg, b'5');
                stats.execution_reports.fetch_add(1, Ordering::Relaxed);
            }
            b"1" => {
                let id = msg.get(112);
                self.reply(msg, b"0", |b| {
                    if let Some(id) = id {
                        b.push_str(112, id);
                    }
                });
            }
            b"5" => {
                self.reply(msg, b"5", |_| {});
                return false;
            }
            _ => {}
        }
        true
    }
}

fn serve(mut stream: TcpStream, stop: &AtomicBool, stats: &EchoStats) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(POLL_STOP_EVERY))?;
    let mut rx = vec![0u8; READ_BYTES];
    let (mut start, mut end) = (0usize, 0usize);
    let mut responder = Responder {
        out_seq: 1,
        version: FixVersion::Fix44,
        order_id: 0,
        tx: Vec::with_capacity(64 * 1024),
    };
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        if start > 0 {
            rx.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        if end == rx.len() {
            return Err(io::Error::other("message larger than the receive buffer"));
        }
        match stream.read(&mut rx[end..]) {
            Ok(0) => return Ok(()),
            Ok(n) => end += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
        let mut keep = true;
        loop {
            match frame(&rx[start..end]) {
                FrameResult::Complete(len) => {
                    if let Ok(msg) = decode(&rx[start..start + len]) {
                        stats.messages.fetch_add(1, Ordering::Relaxed);
                        keep &= responder.on_message(&msg, stats);
                    }
                    start += len;
                }
                FrameResult::Incomplete => break,
                FrameResult::Garbled(_, skip) => start += skip,
            }
        }
        if !responder.tx.is_empty() {
            stream.write_all(&responder.tx)?;
            responder.tx.clear();
        }
        if !keep {
            return Ok(());
        }
    }
}
