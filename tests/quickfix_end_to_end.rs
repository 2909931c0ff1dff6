//! End to end against an independent FIX engine: QuickFIX C++ initiators (tests/quickfix/
//! qf_client.cpp, compiled here at test time) log on to the real `arbiter` binary over TCP and
//! trade, cancel, replace, ask for status, mass-cancel and recover gaps by resend, once as
//! FIX.4.4 (CLIENT1, CLIENT2) and once as FIXT.1.1 / FIX50SP2 (CLIENT3, CLIENT4).
//!
//! Needs `g++` and `libquickfix-dev` (Debian). Without them the tests print a notice and pass,
//! except under CI (`CI` set), where they fail: CI installs the package.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{write_config, Daemon, Fix};

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/quickfix/qf_client.cpp");

/// How long one client command may take. Expectations inside the client time out after
/// 20 s; this only catches a hung client.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// The compiled client, or None when QuickFIX is not installed (outside CI).
fn qf_client() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY.get_or_init(build_client).as_deref()
}

fn build_client() -> Option<PathBuf> {
    let has_headers = ["/usr/include", "/usr/local/include"]
        .iter()
        .any(|dir| Path::new(dir).join("quickfix/Session.h").exists());
    let has_compiler = Command::new("g++")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_headers || !has_compiler {
        let what = if has_compiler {
            "libquickfix-dev (QuickFIX C++ headers)"
        } else {
            "g++"
        };
        let message = format!(
            "QuickFIX end-to-end tests need {what}: apt-get install -y g++ libquickfix-dev \
             (CI does this in .ci/run through .ci/install-packages)"
        );
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let binary = out_dir.join("qf_client");
    let newer = |a: &Path, b: &Path| -> bool {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        matches!((modified(a), modified(b)), (Some(x), Some(y)) if x >= y)
    };
    if binary.exists() && newer(&binary, Path::new(SOURCE)) {
        return Some(binary);
    }
    let temp = out_dir.join(format!("qf_client.{}.tmp", std::process::id()));
    let output = Command::new("g++")
        .args(["-std=gnu++11", "-O1", "-Wall", "-Wno-deprecated", "-o"])
        .arg(&temp)
        .arg(SOURCE)
        .args(["-lquickfix", "-lpthread"])
        .output()
        .expect("run g++");
    assert!(
        output.status.success(),
        "compiling {SOURCE} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&temp, &binary).unwrap();
    Some(binary)
}

#[derive(Clone, Copy, Debug)]
enum Version {
    Fix44,
    Fixt11,
}

impl Version {
    fn begin_string(self) -> &'static str {
        match self {
            Version::Fix44 => "FIX.4.4",
            Version::Fixt11 => "FIXT.1.1",
        }
    }

    /// The two demo sessions of this version: (first, second).
    fn clients(self) -> (&'static str, &'static str) {
        match self {
            Version::Fix44 => ("CLIENT1", "CLIENT2"),
            Version::Fixt11 => ("CLIENT3", "CLIENT4"),
        }
    }
}

/// A daemon on an ephemeral port plus everything the QuickFIX clients write.
struct Venue {
    dir: tempfile::TempDir,
    daemon: Option<Daemon>,
    binary: &'static Path,
}

impl Venue {
    fn start() -> Option<Venue> {
        let binary = qf_client()?;
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "sync");
        let daemon = Daemon::start(&config);
        Some(Venue {
            dir,
            daemon: Some(daemon),
            binary,
        })
    }

    fn port(&self) -> u16 {
        self.daemon.as_ref().unwrap().port
    }

    /// Writes the QuickFIX settings for `sender` and starts a client on them (not logged on).
    fn client(&self, sender: &str, version: Version) -> Qf {
        self.client_with(sender, version, 30)
    }

    fn client_with(&self, sender: &str, version: Version, heartbeat_s: u32) -> Qf {
        let root = self.dir.path();
        // A 24-hour session that began an hour ago: no session boundary during a test, so
        // QuickFIX never resets its store on a reconnect.
        let start_hour = (now_utc_secs() / 3600 + 23) % 24;
        let mut settings = format!(
            "[DEFAULT]\n\
             ConnectionType=initiator\n\
             ReconnectInterval=600\n\
             FileStorePath={store}\n\
             FileLogPath={log}\n\
             SocketConnectHost=127.0.0.1\n\
             SocketConnectPort={port}\n\
             HeartBtInt={heartbeat_s}\n\
             StartTime={start_hour:02}:00:00\n\
             EndTime={start_hour:02}:00:00\n\
             UseDataDictionary=N\n\
             \n\
             [SESSION]\n\
             BeginString={begin}\n\
             SenderCompID={sender}\n\
             TargetCompID=ARBITER\n",
            store = root.join("qf-store").display(),
            log = root.join("qf-log").display(),
            port = self.port(),
            begin = version.begin_string(),
        );
        if let Version::Fixt11 = version {
            settings.push_str("DefaultApplVerID=FIX.5.0SP2\n");
        }
        let path = root.join(format!("{sender}.cfg"));
        std::fs::write(&path, settings).unwrap();
        Qf::spawn(self.binary, &path, sender, &root.join("qf-log"))
    }

    fn shutdown(mut self) {
        let daemon = self.daemon.take().unwrap();
        assert!(daemon.admin(&["shutdown"]).starts_with("ok"));
        assert!(daemon.wait().0.success(), "arbiter exited with failure");
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.kill9();
        }
    }
}

fn now_utc_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One qf_client process, driven command by command over stdin.
struct Qf {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    transcript: Vec<String>,
    log_dir: PathBuf,
}

impl Qf {
    fn spawn(binary: &Path, settings: &Path, name: &str, log_dir: &Path) -> Qf {
        let mut child = Command::new(binary)
            .arg(settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start qf_client");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Qf {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            transcript: Vec::new(),
            log_dir: log_dir.to_path_buf(),
        }
    }

    /// Runs one command; returns the lines it printed. Panics (with the transcript and
    /// QuickFIX's event log) when the command fails.
    fn run(&mut self, command: &str) -> Vec<String> {
        self.transcript.push(format!(">> {command}"));
        let stdin = self.stdin.as_mut().expect("client stdin closed");
        if writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .is_err()
        {
            self.fail(&format!("client gone before `{command}`"));
        }
        let done = format!("ok {command}");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut output = Vec::new();
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if line == done {
                        return output;
                    }
                    if line.starts_with("fail ") {
                        self.fail(&format!("`{command}` failed"));
                    }
                    output.push(line);
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("`{command}` hung")),
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("client exited during `{command}`"))
                }
            }
        }
    }

    /// `expect` in the client: waits for the first unconsumed received message with all these
    /// TAG=VALUE fields and returns it.
    fn expect(&mut self, pattern: &str) -> Fix {
        self.expect_matching("expect", pattern)
    }

    /// The message QuickFIX sent that matches `pattern`.
    fn expect_out(&mut self, pattern: &str) -> Fix {
        self.expect_matching("expect-out", pattern)
    }

    fn expect_matching(&mut self, command: &str, pattern: &str) -> Fix {
        let lines = self.run(&format!("{command} {pattern}"));
        let matched = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("match "))
            .unwrap_or_else(|| self.fail("no match line"));
        parse(matched)
    }

    fn expect_report(&mut self, cl_ord_id: &str, exec_type: &str) -> Fix {
        self.expect(&format!("35=8 11={cl_ord_id} 150={exec_type}"))
    }

    /// Next outgoing and next expected incoming MsgSeqNum, as QuickFIX keeps them.
    fn seqnums(&mut self) -> (u64, u64) {
        let lines = self.run("seqnums");
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix("seqnums "))
            .unwrap_or_else(|| self.fail("no seqnums line"))
            .to_owned();
        let mut words = line.split(' ').map(|w| w.parse::<u64>().unwrap());
        (words.next().unwrap(), words.next().unwrap())
    }

    /// No session-level Reject in either direction, a clean Logout, and a clean exit.
    fn finish(mut self) {
        self.run("none 35=3");
        self.run("none-out 35=3");
        self.run("logout");
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        if !status.success() {
            self.fail(&format!("client exited with {status}"));
        }
    }

    fn fail(&self, what: &str) -> ! {
        let tail = self.transcript.len().saturating_sub(80);
        let mut report = format!(
            "{}: {what}\n--- client transcript (last lines) ---\n{}\n",
            self.name,
            self.transcript[tail..].join("\n")
        );
        if let Ok(entries) = std::fs::read_dir(&self.log_dir) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if file.contains(&format!("-{}-", self.name)) && file.contains("event") {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    report.push_str(&format!("--- QuickFIX {file} ---\n{text}\n"));
                }
            }
        }
        panic!("{report}");
    }
}

impl Drop for Qf {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Parses a client output line ("8=FIX.4.4|9=..|35=8|...").
fn parse(line: &str) -> Fix {
    Fix(line
        .split('|')
        .filter_map(|f| f.split_once('='))
        .map(|(t, v)| (t.parse().unwrap(), v.to_owned()))
        .collect())
}

/// A field that must be there.
fn field(msg: &Fix, tag: u32) -> &str {
    msg.get(tag)
        .unwrap_or_else(|| panic!("tag {tag} missing in {msg:?}"))
}

/// Compares decimal fields by value: the acceptor writes 100.2 for 100.20.
fn assert_decimal(msg: &Fix, tag: u32, want: &str) {
    let got = field(msg, tag);
    let (g, w): (f64, f64) = (got.parse().unwrap(), want.parse().unwrap());
    assert!(
        (g - w).abs() < 1e-9,
        "tag {tag}: got {got}, want {want} in {msg:?}"
    );
}

/// Checks the quantities and status of an ExecutionReport.
fn assert_report(msg: &Fix, ord_status: &str, cum_qty: &str, leaves_qty: &str) {
    assert_eq!(field(msg, 39), ord_status, "OrdStatus in {msg:?}");
    assert_decimal(msg, 14, cum_qty);
    assert_decimal(msg, 151, leaves_qty);
}

fn assert_fill(msg: &Fix, last_px: &str, last_qty: &str) {
    assert_decimal(msg, 31, last_px);
    assert_decimal(msg, 32, last_qty);
}

/// ExecIDs are "<journal seq>-<n>".
fn assert_exec_id(msg: &Fix, seen: &mut HashSet<String>) {
    let id = field(msg, 17);
    let (seq, n) = id.split_once('-').unwrap_or_else(|| panic!("ExecID {id}"));
    assert!(
        seq.parse::<u64>().is_ok() && n.parse::<u64>().is_ok(),
        "ExecID {id}"
    );
    assert!(seen.insert(id.to_owned()), "ExecID {id} repeated");
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Logon, Logout, and a second logon that continues the sequence numbers on both sides.
fn logon_logout(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");
    let logon = client.expect("35=A");
    assert_eq!(field(&logon, 8), version.begin_string());
    assert_eq!(field(&logon, 34), "1");
    assert_eq!(field(&logon, 49), "ARBITER");
    assert_eq!(field(&logon, 56), name);
    assert_eq!(field(&logon, 108), "30");
    if let Version::Fixt11 = version {
        assert_eq!(field(&logon, 1137), "9", "DefaultApplVerID FIX50SP2");
    }
    client.run("expect-out 35=A 34=1");
    client.run("none 35=3");
    client.run("logout");
    client.expect("35=5 34=2");
    // Log on again (a new initiator that reads its FileStore): numbers carry on.
    client.run("reconnect");
    client.expect("35=A 34=3");
    client.run("expect-out 35=A 34=3");
    assert_eq!(client.seqnums(), (4, 4));
    client.finish();
    venue.shutdown();
}

/// Two QuickFIX sessions: resting bids, a sell that sweeps them, fills on both sides.
fn rest_and_cross(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (buyer_name, seller_name) = version.clients();
    let mut buyer = venue.client(buyer_name, version);
    let mut seller = venue.client(seller_name, version);
    buyer.run("logon");
    seller.run("logon");
    let mut exec_ids = HashSet::new();

    buyer.run("new b1 AAPL buy 100 100.25");
    let ack1 = buyer.expect_report("b1", "0");
    assert_report(&ack1, "0", "0", "100");
    assert_decimal(&ack1, 44, "100.25");
    assert_eq!(field(&ack1, 55), "AAPL");
    assert_eq!(field(&ack1, 54), "1");
    assert_exec_id(&ack1, &mut exec_ids);
    buyer.run("new b2 AAPL buy 50 100.20");
    let ack2 = buyer.expect_report("b2", "0");
    assert_report(&ack2, "0", "0", "50");
    assert_ne!(field(&ack1, 37), field(&ack2, 37), "distinct OrderIDs");
    assert_exec_id(&ack2, &mut exec_ids);

    // 120 sold at 100.20 or better: 100 at 100.25 (b1), then 20 at 100.20 (b2).
    seller.run("new s1 AAPL sell 120 100.20");
    let s_ack = seller.expect_report("s1", "0");
    assert_report(&s_ack, "0", "0", "120");
    assert_exec_id(&s_ack, &mut exec_ids);
    let s_fill1 = seller.expect_report("s1", "F");
    assert_fill(&s_fill1, "100.25", "100");
    assert_report(&s_fill1, "1", "100", "20");
    assert_exec_id(&s_fill1, &mut exec_ids);
    let s_fill2 = seller.expect_report("s1", "F");
    assert_fill(&s_fill2, "100.20", "20");
    assert_report(&s_fill2, "2", "120", "0");
    assert_exec_id(&s_fill2, &mut exec_ids);
    if let Some(avg) = s_fill2.get(6) {
        let avg: f64 = avg.parse().unwrap();
        let want = (100.0 * 100.25 + 20.0 * 100.20) / 120.0;
        assert!((avg - want).abs() < 0.01, "AvgPx {avg}, want about {want}");
    }

    let b_fill1 = buyer.expect_report("b1", "F");
    assert_fill(&b_fill1, "100.25", "100");
    assert_report(&b_fill1, "2", "100", "0");
    assert_eq!(field(&b_fill1, 37), field(&ack1, 37));
    assert_exec_id(&b_fill1, &mut exec_ids);
    let b_fill2 = buyer.expect_report("b2", "F");
    assert_fill(&b_fill2, "100.20", "20");
    assert_report(&b_fill2, "1", "20", "30");
    assert_exec_id(&b_fill2, &mut exec_ids);

    // The partly filled bid still rests: its status says so, and a second sell takes it.
    buyer.run("status b2");
    let status = buyer.expect_report("b2", "I");
    assert_report(&status, "1", "20", "30");
    seller.run("new s2 AAPL sell 30 100.00");
    seller.expect_report("s2", "0");
    let s2_fill = seller.expect_report("s2", "F");
    assert_fill(&s2_fill, "100.20", "30");
    assert_report(&s2_fill, "2", "30", "0");
    let b2_done = buyer.expect_report("b2", "F");
    assert_fill(&b2_done, "100.20", "30");
    assert_report(&b2_done, "2", "50", "0");

    // The book is empty on the bid side now: a sell rests.
    seller.run("new s3 AAPL sell 10 100.00");
    seller.expect_report("s3", "0");
    seller.run("status s3");
    assert_report(&seller.expect_report("s3", "I"), "0", "0", "10");
    seller.run("none 35=8 11=s3 150=F");
    buyer.run("none 35=8 150=F");

    buyer.finish();
    seller.finish();
    venue.shutdown();
}

/// Cancel, cancel/replace, status, and the OrderCancelRejects for unknown orders.
fn cancel_replace_status(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");

    client.run("new o1 MSFT buy 10 50.00");
    let ack = client.expect_report("o1", "0");
    let order_id = field(&ack, 37).to_owned();

    client.run("replace o2 o1 15 50.50");
    let replaced = client.expect_report("o2", "5");
    assert_eq!(field(&replaced, 41), "o1");
    assert_eq!(
        field(&replaced, 37),
        order_id,
        "a replace keeps the OrderID"
    );
    assert_decimal(&replaced, 38, "15");
    assert_decimal(&replaced, 44, "50.50");
    assert_report(&replaced, "0", "0", "15");

    client.run("status o2");
    let status = client.expect_report("o2", "I");
    assert_eq!(field(&status, 37), order_id);
    assert_report(&status, "0", "0", "15");

    client.run("cancel o3 o2");
    let cancelled = client.expect_report("o3", "4");
    assert_eq!(field(&cancelled, 41), "o2");
    assert_eq!(field(&cancelled, 37), order_id);
    assert_report(&cancelled, "4", "0", "0");

    // Cancelling it again, or an order that never existed: OrderCancelReject.
    client.run("cancel o4 o2");
    let again = client.expect("35=9 11=o4");
    assert_eq!(field(&again, 41), "o2");
    assert_eq!(field(&again, 434), "1");
    client.run("cancel x1 nope MSFT buy");
    let unknown = client.expect("35=9 11=x1");
    assert_eq!(field(&unknown, 41), "nope");
    assert_eq!(field(&unknown, 434), "1", "CxlRejResponseTo: cancel");
    assert_eq!(field(&unknown, 102), "1", "CxlRejReason: unknown order");
    assert!(unknown.get(39).is_some(), "OrdStatus is required on 35=9");
    assert!(unknown.get(37).is_some(), "OrderID is required on 35=9");
    client.run("send G 11=x2 41=nope 55=MSFT 54=1 38=5 40=2 44=50.00 60=20260101-00:00:00");
    let unknown_replace = client.expect("35=9 11=x2");
    assert_eq!(
        field(&unknown_replace, 434),
        "2",
        "CxlRejResponseTo: replace"
    );

    client.finish();
    venue.shutdown();
}

/// OrderMassCancelRequest by symbol, then for everything; other sessions' orders stay.
fn mass_cancel(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, other_name) = version.clients();
    let mut client = venue.client(name, version);
    let mut other = venue.client(other_name, version);
    client.run("logon");
    other.run("logon");

    for (id, symbol, price) in [
        ("a1", "AAPL", "90.00"),
        ("a2", "AAPL", "91.00"),
        ("m1", "MSFT", "40.00"),
    ] {
        client.run(&format!("new {id} {symbol} buy 10 {price}"));
        client.expect_report(id, "0");
    }
    other.run("new z1 AAPL buy 10 89.00");
    other.expect_report("z1", "0");

    client.run("masscancel mc1 AAPL");
    let report = client.expect("35=r 11=mc1");
    assert_eq!(field(&report, 530), "1");
    assert_eq!(
        field(&report, 531),
        "1",
        "accepted: cancel orders for a security"
    );
    if let Some(total) = report.get(533) {
        assert_eq!(total, "2", "TotalAffectedOrders");
    }
    for id in ["a1", "a2"] {
        assert_report(&client.expect_report(id, "4"), "4", "0", "0");
    }
    client.run("status m1");
    assert_eq!(field(&client.expect_report("m1", "I"), 39), "0");

    client.run("masscancel mc2");
    let report = client.expect("35=r 11=mc2");
    assert_eq!(field(&report, 530), "7");
    assert_eq!(field(&report, 531), "7", "accepted: cancel all orders");
    if let Some(total) = report.get(533) {
        assert_eq!(total, "1", "TotalAffectedOrders");
    }
    assert_report(&client.expect_report("m1", "4"), "4", "0", "0");

    // Another session's order is untouched and got no report.
    other.run("none 35=8 11=z1 150=4");
    other.run("status z1");
    assert_eq!(field(&other.expect_report("z1", "I"), 39), "0");

    client.finish();
    other.finish();
    venue.shutdown();
}

/// The client loses the tail of what it received (its stored next-expected MsgSeqNum goes
/// back, as after a crash before processing): at the next logon QuickFIX sees the acceptor's
/// higher MsgSeqNum, sends ResendRequest, and gets the ExecutionReports again, PossDupFlag=Y.
fn resend_of_lost_reports(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");
    client.expect("35=A 34=1");
    client.run("new r1 MSFT buy 10 50.00");
    let ack1 = client.expect_report("r1", "0");
    client.run("new r2 MSFT buy 10 49.00");
    let ack2 = client.expect_report("r2", "0");
    let (_, next_in) = client.seqnums();
    assert_eq!(next_in, 4, "Logon, two ExecutionReports");

    client.run("disconnect");
    client.run("next-target-seq -2");
    client.run("reconnect");
    let logon = client.expect("35=A");
    assert_eq!(
        field(&logon, 34),
        "4",
        "the acceptor's Logon is above the gap"
    );
    let resend_request = client.expect_out("35=2");
    assert_eq!(field(&resend_request, 7), "2");

    for original in [&ack1, &ack2] {
        let cl_ord_id = field(original, 11);
        let again = client.expect(&format!("35=8 11={cl_ord_id} 150=0 43=Y"));
        assert_eq!(field(&again, 34), field(original, 34), "same MsgSeqNum");
        assert_eq!(field(&again, 17), field(original, 17), "same ExecID");
        assert_eq!(field(&again, 122), field(original, 52), "OrigSendingTime");
    }
    // QuickFIX has caught up: a new order flows normally.
    client.run("new r3 MSFT buy 1 48.00");
    let ack3 = client.expect_report("r3", "0");
    assert!(ack3.get(43).is_none_or(|v| v == "N"));
    client.finish();
    venue.shutdown();
}

/// The venue is killed and loses its FIX store (what a standby taking over never had):
/// restarted from its journal alone, it resumes the session at QuickFIX's own sequence
/// numbers, no reset. QuickFIX sees the venue's Logon above what it received, asks for the
/// gap, and gets a SequenceReset-GapFill; the orders are all still known.
fn resume_after_store_lost(version: Version) {
    let Some(mut venue) = Venue::start() else {
        return;
    };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");
    client.expect("35=A 34=1");
    client.run("new s1 MSFT buy 10 50.00");
    client.expect_report("s1", "0");
    client.run("new s2 MSFT buy 10 49.00");
    client.expect_report("s2", "0");
    let (next_out, next_in) = client.seqnums();
    client.run("disconnect");

    let daemon = venue.daemon.take().unwrap();
    let config = daemon.config.clone();
    daemon.kill9();
    std::fs::remove_dir_all(venue.dir.path().join("data").join("fix-store")).unwrap();
    venue.daemon = Some(Daemon::start(&config));
    assert_ne!(venue.port(), 0);
    client.run(&format!("port {}", venue.port()));
    client.run("reconnect");
    let logon = client.expect("35=A");
    let venue_seq: u64 = field(&logon, 34).parse().unwrap();
    assert!(
        venue_seq > next_in,
        "the venue resumes above what QuickFIX received ({next_in} expected next): {logon:?}"
    );
    let request = client.expect_out("35=2");
    assert_eq!(field(&request, 7), next_in.to_string());
    let fill = client.expect("35=4 123=Y");
    assert_eq!(field(&fill, 34), next_in.to_string(), "{fill:?}");
    assert!(
        field(&fill, 36).parse::<u64>().unwrap() > venue_seq,
        "{fill:?}"
    );
    // The venue expected exactly QuickFIX's next number: no ResendRequest towards it.
    client.run("none 35=2");
    let (now_out, _) = client.seqnums();
    assert!(now_out > next_out, "QuickFIX kept its own numbers");

    client.run("new s3 MSFT buy 1 48.00");
    client.expect_report("s3", "0");
    client.run("status s1");
    assert_eq!(field(&client.expect_report("s1", "I"), 39), "0");
    client.finish();
    venue.shutdown();
}

/// The acceptor misses messages from the client (QuickFIX's stored next outgoing MsgSeqNum
/// jumps): the acceptor sends ResendRequest, QuickFIX answers with SequenceReset-GapFill, and
/// the session carries on.
fn gap_fill_from_client(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");
    client.run("new g1 MSFT buy 10 50.00");
    client.expect_report("g1", "0");

    client.run("disconnect");
    client.run("next-sender-seq +5");
    client.run("reconnect");
    client.run("expect-out 35=A 34=8");
    let resend_request = client.expect("35=2");
    assert_eq!(
        field(&resend_request, 7),
        "3",
        "BeginSeqNo: the first missing message"
    );
    assert!(
        matches!(field(&resend_request, 16), "0" | "7" | "8"),
        "EndSeqNo: {resend_request:?}"
    );
    client.run("expect-out 35=4 123=Y");

    client.run("new g2 MSFT buy 5 49.00");
    client.expect_report("g2", "0");
    client.run("status g1");
    assert_eq!(field(&client.expect_report("g1", "I"), 39), "0");
    client.finish();
    venue.shutdown();
}

/// The resting order's owner drops the connection without Logout; another session trades
/// against it. On reconnect the owner learns about the fill. `strict`: the fill's
/// ExecutionReport itself must be recovered (by ResendRequest or sent after logon); otherwise
/// only an OrderStatusRequest is used.
fn fill_while_disconnected(version: Version, strict: bool) {
    let Some(venue) = Venue::start() else { return };
    let (maker_name, taker_name) = version.clients();
    let mut maker = venue.client(maker_name, version);
    let mut taker = venue.client(taker_name, version);
    maker.run("logon");
    taker.run("logon");
    maker.run("new mk1 AAPL buy 50 101.00");
    maker.expect_report("mk1", "0");
    maker.run("disconnect");

    taker.run("new tk1 AAPL sell 20 101.00");
    let taker_fill = taker.expect_report("tk1", "F");
    assert_fill(&taker_fill, "101.00", "20");

    maker.run("reconnect");
    if strict {
        let fill = maker.expect("35=8 11=mk1 150=F");
        assert_fill(&fill, "101.00", "20");
        assert_report(&fill, "1", "20", "30");
    }
    maker.run("status mk1");
    let status = maker.expect_report("mk1", "I");
    assert_report(&status, "1", "20", "30");
    maker.finish();
    taker.finish();
    venue.shutdown();
}

/// Heartbeats at a one-second interval in both directions; QuickFIX's TestRequest (sent when
/// it hears nothing for 1.2 intervals) would be answered too.
fn heartbeats(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (_, name) = version.clients();
    let mut client = venue.client_with(name, version, 1);
    client.run("logon");
    assert_eq!(field(&client.expect("35=A"), 108), "1");
    client.expect("35=0");
    client.expect("35=0");
    client.run("expect-out 35=0");
    client.run("none-out 35=5");
    client.run("new h1 AAPL buy 1 10.00");
    client.expect_report("h1", "0");
    client.finish();
    venue.shutdown();
}

/// One side of a `mdbook` line ("100.25:60,100.2:10") as (price, size) numbers.
fn book_side(text: &str) -> Vec<(f64, f64)> {
    text.split(',')
        .filter(|level| !level.is_empty())
        .map(|level| {
            let (price, size) = level.split_once(':').unwrap();
            (price.parse().unwrap(), size.parse().unwrap())
        })
        .collect()
}

/// Market data: a QuickFIX subscriber's price-level book, built from the W and X it
/// receives, equals the book another QuickFIX session's orders made; RptSeq has no gaps;
/// an unknown symbol is refused with MDReqRejReason 0.
fn market_data(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (subscriber_name, trader_name) = version.clients();
    let mut subscriber = venue.client(subscriber_name, version);
    let mut trader = venue.client(trader_name, version);
    subscriber.run("logon");
    trader.run("logon");
    subscriber.run("mdsub md1 AAPL 5 Y 01");
    subscriber.expect("35=W 262=md1 55=AAPL");
    trader.run("new b1 AAPL buy 100 100.25");
    trader.expect_report("b1", "0");
    trader.run("new b2 AAPL buy 10 100.20");
    trader.expect_report("b2", "0");
    trader.run("new s1 AAPL sell 50 101.00");
    trader.expect_report("s1", "0");
    trader.run("new s2 AAPL sell 40 100.25");
    trader.expect_report("s2", "F");
    let want_bids = vec![(100.25, 60.0), (100.2, 10.0)];
    let want_asks = vec![(101.0, 50.0)];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = subscriber.run("mdbook AAPL");
        let line = lines
            .iter()
            .find_map(|l| l.strip_prefix("book AAPL "))
            .unwrap_or_else(|| subscriber.fail("no book line"))
            .to_owned();
        let mut parts = line.split(' ');
        let bids = book_side(parts.next().unwrap().trim_start_matches("bids="));
        let asks = book_side(parts.next().unwrap().trim_start_matches("asks="));
        let gaps = parts.next().unwrap();
        assert_eq!(gaps, "gaps=0", "RptSeq jumped: {line}");
        if bids == want_bids && asks == want_asks {
            break;
        }
        if Instant::now() > deadline {
            subscriber.fail(&format!("the book never matched: {line}"));
        }
        subscriber.run("pump 100");
    }
    subscriber.run("mdsub bad NOPE 5 Y 0");
    subscriber.expect("35=Y 262=bad 281=0");
    subscriber.run("mdunsub md1 AAPL");
    subscriber.finish();
    trader.finish();
    venue.shutdown();
}

#[test]
fn fix44_market_data() {
    market_data(Version::Fix44);
}

#[test]
fn fixt11_market_data() {
    market_data(Version::Fixt11);
}

#[test]
fn fix44_logon_logout() {
    logon_logout(Version::Fix44);
}

#[test]
fn fixt11_logon_logout() {
    logon_logout(Version::Fixt11);
}

#[test]
fn fix44_rest_and_cross() {
    rest_and_cross(Version::Fix44);
}

#[test]
fn fixt11_rest_and_cross() {
    rest_and_cross(Version::Fixt11);
}

#[test]
fn fix44_cancel_replace_status() {
    cancel_replace_status(Version::Fix44);
}

#[test]
fn fixt11_cancel_replace_status() {
    cancel_replace_status(Version::Fixt11);
}

#[test]
fn fix44_mass_cancel() {
    mass_cancel(Version::Fix44);
}

#[test]
fn fixt11_mass_cancel() {
    mass_cancel(Version::Fixt11);
}

#[test]
fn fix44_resume_after_store_lost() {
    resume_after_store_lost(Version::Fix44);
}

#[test]
fn fixt11_resume_after_store_lost() {
    resume_after_store_lost(Version::Fixt11);
}

#[test]
fn fix44_resend_of_lost_reports() {
    resend_of_lost_reports(Version::Fix44);
}

#[test]
fn fixt11_resend_of_lost_reports() {
    resend_of_lost_reports(Version::Fixt11);
}

#[test]
fn fix44_gap_fill_from_client() {
    gap_fill_from_client(Version::Fix44);
}

#[test]
fn fixt11_gap_fill_from_client() {
    gap_fill_from_client(Version::Fixt11);
}

#[test]
fn fix44_fill_while_disconnected_seen_by_status() {
    fill_while_disconnected(Version::Fix44, false);
}

#[test]
fn fixt11_fill_while_disconnected_seen_by_status() {
    fill_while_disconnected(Version::Fixt11, false);
}

#[test]
fn fix44_fill_while_disconnected_recovered_by_resend() {
    fill_while_disconnected(Version::Fix44, true);
}

#[test]
fn fixt11_fill_while_disconnected_recovered_by_resend() {
    fill_while_disconnected(Version::Fixt11, true);
}

#[test]
fn fix44_heartbeats() {
    heartbeats(Version::Fix44);
}

#[test]
fn fixt11_heartbeats() {
    heartbeats(Version::Fixt11);
}

/// An application MsgType that FIX defines but Arbiter does not support
/// (OrderMassStatusRequest)
/// should get BusinessMessageReject (35=j, 380=3), not a session-level Reject.
fn unsupported_message_type(version: Version) {
    let Some(venue) = Venue::start() else { return };
    let (name, _) = version.clients();
    let mut client = venue.client(name, version);
    client.run("logon");
    client.run("send AF 584=ms1 585=7");
    let reject = client.expect("35=j");
    assert_eq!(field(&reject, 372), "AF");
    assert_eq!(field(&reject, 380), "3");
    client.finish();
    venue.shutdown();
}

#[test]
fn fix44_unsupported_message_type() {
    unsupported_message_type(Version::Fix44);
}

#[test]
fn fixt11_unsupported_message_type() {
    unsupported_message_type(Version::Fixt11);
}
