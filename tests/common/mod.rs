//! A daemon under test and a minimal FIX client over real TCP (hand-written framing, so it
//! shares no code with the gateway it checks).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SOH: u8 = 1;

/// A running `arbiter run` on an ephemeral port with its own data directory.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub config: PathBuf,
    pub log: std::sync::mpsc::Receiver<String>,
    /// The log lines before "listening" (recovery's report).
    pub startup: Vec<String>,
}

pub fn write_config(dir: &Path, durability: &str) -> PathBuf {
    let text = include_str!("../../config/default-config.toml")
        .replace(
            "data_dir = \"./arbiter-data\"",
            &format!("data_dir = {:?}", dir.join("data")),
        )
        .replace("listen = \"127.0.0.1:9898\"", "listen = \"127.0.0.1:0\"")
        .replace("listen = \"127.0.0.1:9899\"", "listen = \"127.0.0.1:0\"")
        .replace("_listen = \"127.0.0.1:9911\"", "_listen = \"127.0.0.1:0\"")
        .replace("_listen = \"127.0.0.1:9912\"", "_listen = \"127.0.0.1:0\"")
        .replace("segment_bytes = 67108864", "segment_bytes = 1048576")
        .replace(
            "durability = \"sync\"",
            &format!("durability = {durability:?}"),
        );
    let path = dir.join("arbiter.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A daemon configuration (as [`write_config`], `sync`) with `[cluster]` holding `cluster`
/// (TOML lines). `snapshots: false` turns the snapshot agent off: its replica costs seconds
/// of a debug build's start-up, and tests that read no snapshots do not need it.
pub fn write_cluster_config(dir: &Path, cluster: &str, snapshots: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = write_config(dir, "sync");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if !snapshots {
        text = text.replace("interval_records = 1000000", "interval_records = 0");
    }
    text.push_str("\n[cluster]\n");
    text.push_str(cluster);
    text.push('\n');
    std::fs::write(&path, text).unwrap();
    path
}

/// `arbiter cluster status --config FILE`; asserts it succeeded.
pub fn cluster_status(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["cluster", "status", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        Daemon::start_until(config, &[], "arbiter: listening for FIX on ")
    }

    /// Starts `arbiter run --config FILE ARGS` and waits for a log line starting with
    /// `marker` followed by the FIX address (e.g. a standby's refusal listener).
    // The child is waited for by `wait`/`kill9`; on a startup panic the test is failing anyway.
    #[allow(clippy::zombie_processes)]
    pub fn start_until(config: &Path, args: &[&str], marker: &str) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--config"])
            .arg(config)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start arbiter");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut startup = Vec::new();
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|e| {
                    panic!(
                        "arbiter did not start listening ({e}); its log:\n{}",
                        startup.join("\n")
                    )
                });
            if let Some(at) = line.find(marker) {
                let rest = &line[at + marker.len()..];
                let addr = rest.split([';', ' ']).next().unwrap();
                let port = addr.rsplit(':').next().unwrap().parse().unwrap();
                return Daemon {
                    child,
                    port,
                    config: config.to_path_buf(),
                    log: rx,
                    startup,
                };
            }
            startup.push(line);
        }
    }

    /// Waits (up to `timeout`) for a log line containing `marker`; returns it, or `None`
    /// (with the lines seen printed) when it did not come.
    pub fn wait_line(&self, marker: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return Some(line),
                Ok(line) => eprintln!(
                    "[daemon +{:?}] {line}",
                    timeout.saturating_sub(deadline.saturating_duration_since(Instant::now()))
                ),
                Err(_) => return None,
            }
        }
    }

    /// Runs `arbiter admin` as the demo SRE operator.
    pub fn admin(&self, words: &[&str]) -> String {
        self.admin_as("sre", "sre-demo", words)
    }

    /// Runs `arbiter admin` as a given operator.
    pub fn admin_as(&self, operator: &str, secret: &str, words: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .env("ARBITER_OPERATOR", operator)
            .env("ARBITER_SECRET", secret)
            .args(["admin", "--config"])
            .arg(&self.config)
            .args(words)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits for exit and returns the remaining log lines.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        let lines = self.log.try_iter().collect();
        (status, lines)
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Daemon {
    // A test that fails half-way must not leave its daemon running (a busy box, and ports).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One parsed FIX message: (tag, value) pairs in order.
#[derive(Debug, Clone)]
pub struct Fix(pub Vec<(u32, String)>);

impl Fix {
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.0
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
    pub fn msg_type(&self) -> &str {
        self.get(35).unwrap_or("")
    }
}

pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
    pub seq: u64,
    pub sender: String,
    pub begin_string: String,
    /// The highest MsgSeqNum (34) received.
    pub last_received: u64,
}

pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}{mo:02}{d:02}-{h:02}:{m:02}:{s:02}")
}

impl Client {
    pub fn connect(port: u16, sender: &str, begin_string: &str) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        Client::from_stream(stream, sender, begin_string)
    }

    /// A client over an already connected stream (e.g. bound to a chosen source address).
    pub fn from_stream(stream: TcpStream, sender: &str, begin_string: &str) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Client {
            stream,
            buffer: Vec::new(),
            seq: 1,
            sender: sender.to_owned(),
            begin_string: begin_string.to_owned(),
            last_received: 0,
        }
    }

    pub fn send(&mut self, msg_type: &str, fields: &[(u32, &str)]) {
        let mut body = format!(
            "35={msg_type}\x0149={}\x0156=ARBITER\x0134={}\x0152={}\x01",
            self.sender,
            self.seq,
            utc_now()
        );
        for (tag, value) in fields {
            body.push_str(&format!("{tag}={value}\x01"));
        }
        let mut message = format!("8={}\x019={}\x01{body}", self.begin_string, body.len());
        let checksum: u32 = message.bytes().map(u32::from).sum::<u32>() % 256;
        message.push_str(&format!("10={checksum:03}\x01"));
        self.stream.write_all(message.as_bytes()).unwrap();
        self.seq += 1;
    }

    pub fn logon(&mut self) -> Fix {
        let mut fields = vec![(98, "0"), (108, "30")];
        if self.begin_string == "FIXT.1.1" {
            fields.push((1137, "9"));
        }
        self.send("A", &fields);
        self.expect(|m| m.msg_type() == "A", "Logon")
    }

    /// Logon at the client's own sequence numbers (no reset), as after a failover: answers
    /// a ResendRequest from the venue with a gap fill (what this client sent before is
    /// not sent again), and returns the venue's Logon. Panics on a Logout (the venue
    /// refused the numbers).
    pub fn logon_resume(&mut self) -> Fix {
        self.send("A", &[(98, "0"), (108, "30")]);
        let logon = self.expect(|m| matches!(m.msg_type(), "A" | "5"), "Logon");
        assert_eq!(
            logon.msg_type(),
            "A",
            "the venue refused to resume: {logon:?}"
        );
        logon
    }

    /// After a resumed Logon: probes with a TestRequest until its Heartbeat comes back,
    /// answering a ResendRequest from the venue with a gap fill up to this client's next
    /// number (what the client sent before is not sent again). Returns the range the venue
    /// asked for, if it asked.
    pub fn sync_after_logon(&mut self) -> Option<(u64, u64)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut asked = None;
        for probe in 1.. {
            let id = format!("sync-{probe}");
            self.send("1", &[(112, &id)]);
            let reply = self.expect(
                |m| m.msg_type() == "2" || (m.msg_type() == "0" && m.get(112) == Some(&id)),
                "Heartbeat or ResendRequest",
            );
            if reply.msg_type() == "0" {
                return asked;
            }
            let begin: u64 = reply.get(7).unwrap().parse().unwrap();
            let end: u64 = reply.get(16).unwrap().parse().unwrap();
            asked = Some((begin, end));
            let next = self.seq;
            self.seq = begin;
            let sending_time = utc_now();
            let next_text = next.to_string();
            self.send(
                "4",
                &[
                    (43, "Y"),
                    (122, &sending_time),
                    (123, "Y"),
                    (36, &next_text),
                ],
            );
            self.seq = next;
            assert!(Instant::now() < deadline, "no Heartbeat after gap fills");
        }
        unreachable!()
    }

    /// Logon with ResetSeqNumFlag: both sides start again at 1 (what a client does after
    /// the venue crashed and its sequence state is unknown).
    pub fn logon_reset(&mut self) -> Fix {
        self.seq = 1;
        self.send("A", &[(98, "0"), (108, "30"), (141, "Y")]);
        self.expect(|m| m.msg_type() == "A", "Logon")
    }

    fn parse_one(&mut self) -> Option<Fix> {
        let end = self.buffer.windows(4).position(|w| w == b"\x0110=")?;
        let stop = self.buffer[end + 4..].iter().position(|&b| b == SOH)? + end + 5;
        let raw: Vec<u8> = self.buffer.drain(..stop).collect();
        let fields = raw
            .split(|&b| b == SOH)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let text = String::from_utf8_lossy(f);
                let (tag, value) = text.split_once('=').unwrap();
                (tag.parse().unwrap(), value.to_owned())
            })
            .collect();
        let fix = Fix(fields);
        if let Some(seq) = fix.get(34).and_then(|s| s.parse().ok()) {
            self.last_received = self.last_received.max(seq);
        }
        Some(fix)
    }

    /// Reads messages until one matches, within 20 s.
    pub fn expect(&mut self, pred: impl Fn(&Fix) -> bool, what: &str) -> Fix {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            while let Some(msg) = self.parse_one() {
                if pred(&msg) {
                    return msg;
                }
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed while waiting for {what}"),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read failed waiting for {what}: {e}"),
            }
        }
    }

    /// Reads until the peer closes the connection (true) or 20 s pass (false), returning the
    /// messages received meanwhile.
    pub fn wait_closed(&mut self) -> (bool, Vec<Fix>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut received = Vec::new();
        loop {
            while let Some(msg) = self.parse_one() {
                received.push(msg);
            }
            if Instant::now() >= deadline {
                return (false, received);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return (true, received),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return (true, received),
            }
        }
    }

    pub fn exec_report(&mut self, cl_ord_id: &str, exec_type: &str) -> Fix {
        let what = format!("ExecutionReport 11={cl_ord_id} 150={exec_type}");
        self.expect(
            |m| {
                m.msg_type() == "8" && m.get(11) == Some(cl_ord_id) && m.get(150) == Some(exec_type)
            },
            &what,
        )
    }

    pub fn new_order(&mut self, cl_ord_id: &str, symbol: &str, side: &str, qty: &str, price: &str) {
        self.send(
            "D",
            &[
                (11, cl_ord_id),
                (55, symbol),
                (54, side),
                (38, qty),
                (40, "2"),
                (44, price),
                (59, "1"),
                (60, "20261125-10:00:00"),
            ],
        );
    }
}
