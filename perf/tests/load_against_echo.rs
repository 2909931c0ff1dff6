//! The load generator's statistics against the in-process echo acceptor. No timing
//! assertions: only counts.

use std::time::Duration;

use arbiter_fix::FixVersion;
use arbiter_perf::load::{run, EchoServer, LoadConfig, Mix, Pacing};
use arbiter_perf::read_hlog;

fn config(echo: &EchoServer) -> LoadConfig {
    LoadConfig {
        connect: echo.address(),
        duration_max: Duration::from_secs(120),
        ..LoadConfig::default()
    }
}

#[test]
fn closed_loop_1000_orders_all_acked() {
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("load.hlog");
    let report = run(&LoadConfig {
        requests: 1000,
        mix: Mix::parse("rest=100").unwrap(),
        hlog: Some(hlog.clone()),
        ..config(&echo)
    })
    .unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(report.counts.requests, 1000);
    assert_eq!(report.counts.new_orders, 1000);
    assert_eq!(report.counts.acked, 1000);
    assert_eq!(report.counts.rejected, 0);
    assert_eq!(report.counts.unanswered(), 0);
    assert_eq!(report.new_order_latency.len(), 1000);
    let line = report.summary_line();
    assert!(
        line.starts_with("sessions=1 orders=1000 acked=1000 rejected=0 elapsed_ms="),
        "{line}"
    );
    for key in ["throughput=", "p50_us=", "p99_us=", "p999_us=", "max_us="] {
        assert!(line.contains(key), "{line}");
    }
    let intervals = read_hlog(&hlog).unwrap();
    let total: u64 = intervals
        .iter()
        .filter(|i| i.tag.as_deref() == Some("new_order"))
        .map(|i| i.histogram.len())
        .sum();
    assert_eq!(total, 1000);
    echo.stop();
}

#[test]
fn mixed_requests_several_sessions_window_and_fixt() {
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let report = run(&LoadConfig {
        sessions: 3,
        requests: 900,
        pacing: Pacing::ClosedLoop { window: 4 },
        version: FixVersion::Fixt11,
        ..config(&echo)
    })
    .unwrap();
    assert_eq!(report.sessions, 3);
    let c = report.counts;
    assert_eq!(c.requests, 900);
    assert_eq!(c.new_orders + c.cancels + c.replaces, 900);
    assert!(c.cancels > 0 && c.replaces > 0, "{c:?}");
    assert_eq!(c.acked, 900);
    assert_eq!(c.rejected, 0);
    assert_eq!(report.new_order_latency.len(), c.new_orders);
    assert_eq!(
        echo.stats()
            .execution_reports
            .load(std::sync::atomic::Ordering::Relaxed),
        900
    );
    echo.stop();
}

#[test]
fn open_loop_sends_everything_once() {
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let report = run(&LoadConfig {
        sessions: 2,
        requests: 400,
        pacing: Pacing::OpenLoop {
            rate_per_s: 2_000.0,
        },
        mix: Mix::parse("rest=70,cancel=30").unwrap(),
        ..config(&echo)
    })
    .unwrap();
    assert_eq!(report.counts.requests, 400);
    assert_eq!(report.counts.acked, 400);
    assert_eq!(report.counts.unanswered(), 0);
    echo.stop();
}

#[test]
fn refused_connection_is_an_error() {
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let address = echo.address();
    echo.stop();
    let result = run(&LoadConfig {
        connect: address,
        requests: 10,
        ..LoadConfig::default()
    });
    assert!(result.is_err());
}
