//! `arbiter-load`: FIX 4.4 / FIXT.1.1 load generator, and a bare echo acceptor.
//! The last line printed is the machine-read summary
//! `sessions=S orders=N acked=A rejected=R elapsed_ms=E throughput=T p50_us=.. p99_us=.. p999_us=.. max_us=..`.
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arbiter_fix::FixVersion;
use arbiter_perf::load::{run, EchoServer, LoadConfig, Mix, Pacing};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// FIX load generator for Arbiter (or any FIX acceptor).
#[derive(Parser, Debug)]
#[command(
    name = "arbiter-load",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// A bare acceptor: Logon -> Logon, NewOrderSingle -> canned ExecutionReport, without
    /// FIX session processing (the physical floor of a measurement).
    Echo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9898")]
        listen: String,
        /// Stop after this many seconds (0: run until killed).
        #[arg(long, default_value_t = 0)]
        duration_s: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Version {
    /// BeginString FIX.4.4.
    Fix44,
    /// BeginString FIXT.1.1, DefaultApplVerID FIX.5.0SP2.
    Fixt11,
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// Acceptor address.
    #[arg(long, default_value = "127.0.0.1:9898")]
    connect: SocketAddr,
    /// Sessions (one TCP connection and thread each).
    #[arg(long, default_value_t = 1)]
    sessions: u32,
    /// SenderCompID pattern; {n} is the session number.
    #[arg(long, default_value = "CLIENT{n}")]
    sender: String,
    /// Number of the first session.
    #[arg(long, default_value_t = 1)]
    first_session: u32,
    /// TargetCompID.
    #[arg(long, default_value = "ARBITER")]
    target: String,
    /// FIX version.
    #[arg(long, value_enum, default_value_t = Version::Fix44)]
    fix_version: Version,
    /// Do not send ResetSeqNumFlag=Y on Logon.
    #[arg(long)]
    no_reset_seq_num: bool,
    /// HeartBtInt in seconds.
    #[arg(long, default_value_t = 30)]
    heartbeat_s: u32,
    /// Requests to send over all sessions (new orders, cancels, replaces).
    #[arg(long, default_value_t = 10_000)]
    orders: u64,
    /// Time bound of the run in seconds.
    #[arg(long, default_value_t = 60)]
    duration_s: u64,
    /// Closed loop: outstanding requests per session.
    #[arg(long, default_value_t = 1)]
    window: u32,
    /// Open loop: total requests per second (latency from the intended send time).
    #[arg(long)]
    rate: Option<f64>,
    /// Request mix, e.g. rest=60,cross=20,cancel=15,replace=5.
    #[arg(long, default_value = "rest=60,cross=20,cancel=15,replace=5")]
    mix: String,
    /// Symbol.
    #[arg(long, default_value = "AAPL")]
    symbol: String,
    /// Reference price (2 decimals).
    #[arg(long, default_value = "100.00")]
    price: String,
    /// Quantity per order.
    #[arg(long, default_value_t = 100)]
    qty: u64,
    /// Account(1) to send, if any.
    #[arg(long)]
    account: Option<String>,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Interval log to write.
    #[arg(long, default_value = "arbiter-load.hlog")]
    hlog: PathBuf,
    /// Interval length of the log in milliseconds.
    #[arg(long, default_value_t = 1000)]
    hlog_interval_ms: u64,
}

fn parse_cents(text: &str) -> Result<i64, String> {
    arbiter_fix::parse_decimal(text.as_bytes(), 2).ok_or_else(|| format!("bad price {text:?}"))
}

fn echo(listen: &str, duration_s: u64) -> Result<(), String> {
    let server = EchoServer::start(listen).map_err(|e| format!("listen {listen}: {e}"))?;
    eprintln!("arbiter-load echo: listening on {}", server.address());
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        if duration_s > 0 && started.elapsed() >= Duration::from_secs(duration_s) {
            break;
        }
    }
    let stats = server.stats();
    eprintln!(
        "arbiter-load echo: connections={} messages={} execution_reports={}",
        stats.connections.load(std::sync::atomic::Ordering::Relaxed),
        stats.messages.load(std::sync::atomic::Ordering::Relaxed),
        stats
            .execution_reports
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    server.stop();
    Ok(())
}

fn load(args: LoadArgs) -> Result<(), String> {
    let config = LoadConfig {
        connect: args.connect,
        sessions: args.sessions,
        sender_pattern: args.sender,
        first_session: args.first_session,
        target_comp_id: args.target,
        version: match args.fix_version {
            Version::Fix44 => FixVersion::Fix44,
            Version::Fixt11 => FixVersion::Fixt11,
        },
        reset_seq_num: !args.no_reset_seq_num,
        heartbeat_s: args.heartbeat_s,
        requests: args.orders,
        duration_max: Duration::from_secs(args.duration_s),
        pacing: match args.rate {
            Some(rate_per_s) => Pacing::OpenLoop { rate_per_s },
            None => Pacing::ClosedLoop {
                window: args.window,
            },
        },
        mix: Mix::parse(&args.mix).map_err(|e| e.to_string())?,
        symbol: args.symbol,
        price_cents: parse_cents(&args.price)?,
        qty: args.qty,
        seed: args.seed,
        account: args.account,
        hlog: Some(args.hlog.clone()),
        hlog_interval: Duration::from_millis(args.hlog_interval_ms.max(1)),
    };
    let report = run(&config).map_err(|e| e.to_string())?;
    for error in &report.errors {
        eprintln!("arbiter-load: session failed: {error}");
    }
    let c = &report.counts;
    eprintln!(
        "arbiter-load: new_orders={} cancels={} replaces={} fills={} unanswered={} heartbeats_sent={} test_requests={} hlog={}",
        c.new_orders,
        c.cancels,
        c.replaces,
        c.fills,
        c.unanswered(),
        c.heartbeats_sent,
        c.test_requests,
        args.hlog.display()
    );
    println!("{}", report.summary_line());
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Some(Mode::Echo { listen, duration_s }) => echo(&listen, duration_s),
        None => load(cli.load),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arbiter-load: {e}");
            ExitCode::FAILURE
        }
    }
}
