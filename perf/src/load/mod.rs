//! The FIX load generator (`arbiter-load`) and its bare echo acceptor.
//!
//! One thread per session, each with a nonblocking socket and `ppoll` waits (no busy
//! spin). Two pacing modes:
//! - **closed loop**: keep `window` requests outstanding; latency from the actual send.
//! - **open loop**: send request `i` of a session at `start + i / rate`; latency is taken
//!   from that *intended* send time, so a stalled acceptor is charged for the requests it
//!   delayed (coordinated-omission correction, as wrk2 does).
//!
//! Latency is the round trip from a request to its first answer (ExecutionReport, or a
//! reject), matched by ClOrdID; NewOrderSingles go to the `new_order` tag of the `.hlog`,
//! cancels and replaces to `cancel` and `replace`.

mod client;
mod echo;
mod wire;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime};

use arbiter_fix::FixVersion;
use hdrhistogram::Histogram;

use crate::hlog::{HlogConfig, HlogError, HlogWriter};
use crate::recorder::latency_histogram;

pub use echo::{EchoServer, EchoStats};

/// Why a load run failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadError {
    /// Connect, read or write failure.
    Io(std::io::Error),
    /// The acceptor did not answer the Logon with a Logon.
    Logon(String),
    /// A bad option.
    Config(String),
    /// The `.hlog` could not be written.
    Hlog(HlogError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "i/o: {e}"),
            LoadError::Logon(e) => write!(f, "logon: {e}"),
            LoadError::Config(e) => write!(f, "config: {e}"),
            LoadError::Hlog(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<std::io::Error> for LoadError {
    fn from(e: std::io::Error) -> Self {
        LoadError::Io(e)
    }
}

impl From<HlogError> for LoadError {
    fn from(e: HlogError) -> Self {
        LoadError::Hlog(e)
    }
}

/// Percent weights of the request kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// New limit orders that rest (buys below, sells above the reference price).
    pub rest: u32,
    /// New IOC orders priced through the book (they trade or are cancelled; never rest).
    pub cross: u32,
    /// Cancels of this session's resting orders.
    pub cancel: u32,
    /// Replaces (price and quantity) of this session's resting orders.
    pub replace: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            rest: 60,
            cross: 20,
            cancel: 15,
            replace: 5,
        }
    }
}

impl Mix {
    /// Parses `rest=60,cross=20,cancel=15,replace=5` (missing kinds weigh 0).
    ///
    /// # Errors
    /// Unknown kind, bad number, or all weights 0.
    pub fn parse(text: &str) -> Result<Mix, LoadError> {
        let mut mix = Mix {
            rest: 0,
            cross: 0,
            cancel: 0,
            replace: 0,
        };
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| LoadError::Config(format!("mix: {part:?} is not KIND=WEIGHT")))?;
            let value: u32 = value
                .trim()
                .parse()
                .map_err(|_| LoadError::Config(format!("mix: bad weight in {part:?}")))?;
            match key.trim() {
                "rest" => mix.rest = value,
                "cross" => mix.cross = value,
                "cancel" => mix.cancel = value,
                "replace" => mix.replace = value,
                other => {
                    return Err(LoadError::Config(format!(
                        "mix: unknown kind {other:?} (rest, cross, cancel, replace)"
                    )))
                }
            }
        }
        if mix.total() == 0 {
            return Err(LoadError::Config("mix: all weights are 0".into()));
        }
        Ok(mix)
    }

    fn total(self) -> u32 {
        self.rest + self.cross + self.cancel + self.replace
    }
}

/// Pacing of the requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pacing {
    /// At most `window` requests outstanding per session.
    ClosedLoop {
        /// Outstanding requests per session (>= 1).
        window: u32,
    },
    /// A fixed total rate over all sessions, latency from the intended send time.
    OpenLoop {
        /// Requests per second over all sessions.
        rate_per_s: f64,
    },
}

/// A load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Acceptor address.
    pub connect: SocketAddr,
    /// Sessions (connections).
    pub sessions: u32,
    /// SenderCompID pattern; `{n}` is replaced by the session number.
    pub sender_pattern: String,
    /// Number of the first session.
    pub first_session: u32,
    /// TargetCompID.
    pub target_comp_id: String,
    /// FIX.4.4 or FIXT.1.1 (application FIX.5.0SP2).
    pub version: FixVersion,
    /// Send ResetSeqNumFlag(141)=Y on Logon.
    pub reset_seq_num: bool,
    /// HeartBtInt(108) in seconds.
    pub heartbeat_s: u32,
    /// Requests to send over all sessions (new orders, cancels and replaces).
    pub requests: u64,
    /// Hard bound on the run, logon to logout.
    pub duration_max: Duration,
    /// Pacing.
    pub pacing: Pacing,
    /// Request mix.
    pub mix: Mix,
    /// Symbol(55).
    pub symbol: String,
    /// Reference price in hundredths (10000 = 100.00).
    pub price_cents: i64,
    /// OrderQty(38) of each new order.
    pub qty: u64,
    /// Seed of the request generator.
    pub seed: u64,
    /// Account(1), if any.
    pub account: Option<String>,
    /// Where to write the `.hlog`, if anywhere.
    pub hlog: Option<PathBuf>,
    /// Interval of the `.hlog`.
    pub hlog_interval: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            connect: SocketAddr::from(([127, 0, 0, 1], 9898)),
            sessions: 1,
            sender_pattern: "CLIENT{n}".into(),
            first_session: 1,
            target_comp_id: "ARBITER".into(),
            version: FixVersion::Fix44,
            reset_seq_num: true,
            heartbeat_s: 30,
            requests: 10_000,
            duration_max: Duration::from_secs(60),
            pacing: Pacing::ClosedLoop { window: 1 },
            mix: Mix::default(),
            symbol: "AAPL".into(),
            price_cents: 10_000,
            qty: 100,
            seed: 1,
            account: None,
            hlog: None,
            hlog_interval: Duration::from_secs(1),
        }
    }
}

/// Request kinds, also the `.hlog` tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestKind {
    /// NewOrderSingle (resting or crossing).
    NewOrder = 0,
    /// OrderCancelRequest.
    Cancel = 1,
    /// OrderCancelReplaceRequest.
    Replace = 2,
}

impl RequestKind {
    /// All kinds.
    pub const ALL: [RequestKind; 3] = [
        RequestKind::NewOrder,
        RequestKind::Cancel,
        RequestKind::Replace,
    ];

    /// The `.hlog` tag.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            RequestKind::NewOrder => "new_order",
            RequestKind::Cancel => "cancel",
            RequestKind::Replace => "replace",
        }
    }
}

/// Counts of one session or of the whole run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadCounts {
    /// Requests sent (all kinds).
    pub requests: u64,
    /// NewOrderSingles sent.
    pub new_orders: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// Replaces sent.
    pub replaces: u64,
    /// Requests whose first answer was not a reject.
    pub acked: u64,
    /// Requests whose first answer was a reject (ExecType 8, OrderCancelReject,
    /// session Reject, BusinessMessageReject).
    pub rejected: u64,
    /// Fills (ExecType F) received.
    pub fills: u64,
    /// TestRequests answered.
    pub test_requests: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
}

impl LoadCounts {
    fn add(&mut self, o: &LoadCounts) {
        self.requests += o.requests;
        self.new_orders += o.new_orders;
        self.cancels += o.cancels;
        self.replaces += o.replaces;
        self.acked += o.acked;
        self.rejected += o.rejected;
        self.fills += o.fills;
        self.test_requests += o.test_requests;
        self.heartbeats_sent += o.heartbeats_sent;
    }

    /// Requests never answered.
    #[must_use]
    pub fn unanswered(&self) -> u64 {
        self.requests - self.acked - self.rejected
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Sessions that logged on.
    pub sessions: u32,
    /// Counts over all sessions.
    pub counts: LoadCounts,
    /// From the end of the logons to the last answer (or the time bound).
    pub elapsed: Duration,
    /// Round trips of NewOrderSingles, whole run, ns.
    pub new_order_latency: Histogram<u64>,
    /// Round trips per kind per interval: `intervals[kind][i]` covers interval `i`.
    pub intervals: [Vec<Histogram<u64>>; 3],
    /// Wall-clock start of the measured period.
    pub started: SystemTime,
    /// Errors of sessions that failed.
    pub errors: Vec<String>,
}

impl LoadReport {
    /// Requests per second over the measured period.
    #[must_use]
    pub fn throughput_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.counts.requests as f64 / s
        } else {
            0.0
        }
    }

    /// The machine-read summary line, printed last by `arbiter-load`.
    #[must_use]
    pub fn summary_line(&self) -> String {
        let h = &self.new_order_latency;
        let us = |q: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64 / 1000.0
            }
        };
        format!(
            "sessions={} orders={} acked={} rejected={} elapsed_ms={} throughput={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1}",
            self.sessions,
            self.counts.requests,
            self.counts.acked,
            self.counts.rejected,
            self.elapsed.as_millis(),
            self.throughput_per_s(),
            us(0.5),
            us(0.99),
            us(0.999),
            if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
        )
    }

    /// Writes the per-interval histograms as an `.hlog` (tags `new_order`, `cancel`,
    /// `replace`).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_hlog(&self, path: PathBuf, interval: Duration) -> Result<Vec<PathBuf>, HlogError> {
        let mut writer = HlogWriter::create(HlogConfig::single(path))?;
        let longest = self.intervals.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..longest {
            let start = self.started + interval * u32::try_from(i).unwrap_or(u32::MAX);
            for kind in RequestKind::ALL {
                if let Some(h) = self.intervals[kind as usize].get(i) {
                    if !h.is_empty() {
                        writer.write(kind.tag(), start, interval, h)?;
                    }
                }
            }
        }
        writer.flush()?;
        Ok(writer.files().to_vec())
    }
}

/// Expands `{n}` in the sender pattern.
#[must_use]
pub fn sender_comp_id(pattern: &str, n: u32) -> String {
    pattern.replace("{n}", &n.to_string())
}

/// Runs the load and returns its report (does not print).
///
/// # Errors
/// Bad configuration, or every session failed to log on.
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.sessions == 0 {
        return Err(LoadError::Config("sessions must be >= 1".into()));
    }
    match config.pacing {
        Pacing::ClosedLoop { window: 0 } => {
            return Err(LoadError::Config("window must be >= 1".into()))
        }
        Pacing::OpenLoop { rate_per_s } if rate_per_s.is_nan() || rate_per_s <= 0.0 => {
            return Err(LoadError::Config("rate must be > 0".into()))
        }
        _ => {}
    }
    let sessions = config.sessions;
    let run_id = client::run_id();
    let barrier = Arc::new(Barrier::new(sessions as usize));
    let measured_start = Arc::new(std::sync::OnceLock::<(Instant, SystemTime)>::new());
    let results: Vec<Result<client::SessionResult, LoadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..sessions)
            .map(|i| {
                let share = config.requests / u64::from(sessions)
                    + u64::from(u64::from(i) < config.requests % u64::from(sessions));
                let barrier = Arc::clone(&barrier);
                let measured_start = Arc::clone(&measured_start);
                scope.spawn(move || {
                    client::run_session(config, i, share, run_id, &barrier, &measured_start)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LoadError::Logon("session thread panicked".into())))
            })
            .collect()
    });
    let mut report = LoadReport {
        sessions: 0,
        counts: LoadCounts::default(),
        elapsed: Duration::ZERO,
        new_order_latency: latency_histogram(),
        intervals: [Vec::new(), Vec::new(), Vec::new()],
        started: measured_start.get().map_or_else(SystemTime::now, |s| s.1),
        errors: Vec::new(),
    };
    for result in results {
        match result {
            Ok(session) => {
                report.sessions += 1;
                report.counts.add(&session.counts);
                report.elapsed = report.elapsed.max(session.elapsed);
                report
                    .new_order_latency
                    .add(&session.new_order_latency)
                    .expect("same bounds");
                for kind in 0..3 {
                    let into = &mut report.intervals[kind];
                    for (i, h) in session.intervals[kind].iter().enumerate() {
                        while into.len() <= i {
                            into.push(latency_histogram());
                        }
                        into[i].add(h).expect("same bounds");
                    }
                }
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
    if report.sessions == 0 {
        return Err(LoadError::Logon(report.errors.join("; ")));
    }
    if let Some(path) = &config.hlog {
        report.write_hlog(path.clone(), config.hlog_interval)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses() {
        assert_eq!(Mix::parse("rest=1").unwrap().rest, 1);
        let m = Mix::parse("rest=60,cross=20,cancel=15,replace=5").unwrap();
        assert_eq!(m, Mix::default());
        assert!(Mix::parse("rest=0").is_err());
        assert!(Mix::parse("bogus=3").is_err());
        assert!(Mix::parse("rest").is_err());
    }

    #[test]
    fn sender_pattern_expands() {
        assert_eq!(sender_comp_id("CLIENT{n}", 3), "CLIENT3");
        assert_eq!(sender_comp_id("FIXED", 3), "FIXED");
    }
}
