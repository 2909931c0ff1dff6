//! Prometheus text exposition (generated with `prometheus-client`) and a tiny `/metrics`
//! HTTP server on its own thread, off the hot path.
//!
//! Metrics (all prefixed `arbiter_`):
//! - `stage_latency_seconds{stage}`: histogram since start, buckets 100 ns .. 10 s.
//! - `stage_latency_quantile_seconds{stage,quantile}`: gauges from the HdrHistogram since
//!   start, quantiles 0.5, 0.9, 0.99, 0.999, 0.9999 and 1 (max), for dashboards that want
//!   exact tails rather than `histogram_quantile` bucket interpolation.
//! - `orders_total`, `fills_total`, `cancels_total`, `replaces_total`,
//!   `rejects_total{reason}`, `ring_occupancy{ring}`, `durable_lag_records`,
//!   `durable_lag_seconds`, `agent_cycles_total{agent,kind="work"|"idle"}`,
//!   `agent_duty_cycle{agent}`, `kill_switch`, `session_state{session}`.
//! - `certificate_expiry_days{file,subject}`: whole days until each configured TLS
//!   certificate expires (negative: expired), read from its file at every scrape, so a
//!   renewed file shows at once. A file that cannot be read exports no series.
//!
//! With TLS ([`MetricsOptions::tls`], the same rustls configuration as the FIX listener:
//! TLS 1.3 only) every scrape is a TLS connection; a plaintext request is closed after a
//! failed handshake, without an answer.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::recorder::StageHistograms;
use crate::stage::Stage;
use crate::telemetry::Telemetry;

/// Upper bounds (ns) of the exported latency histogram buckets; `+Inf` follows.
pub const BUCKET_BOUNDS_NS: [u64; 22] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// Exported quantiles.
pub const QUANTILES: [f64; 6] = [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

const NS_PER_SECOND: f64 = 1e9;

#[derive(Debug)]
struct TelemetryCollector(Arc<Telemetry>);

fn encode_counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    counter.encode(metric)
}

fn encode_gauge_family<'v, V: prometheus_client::encoding::EncodeGaugeValue + Copy + 'v>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Vec<(&'static str, String)>, V)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        let family = metric.encode_family(&labels)?;
        ConstGauge::new(value).encode(family)?;
    }
    Ok(())
}

fn encode_latency(
    encoder: &mut DescriptorEncoder<'_>,
    histograms: &StageHistograms,
) -> Result<(), std::fmt::Error> {
    {
        let mut metric = encoder.encode_descriptor(
            "arbiter_stage_latency_seconds",
            "Latency of each order-path stage since start",
            None,
            MetricType::Histogram,
        )?;
        for stage in Stage::ALL {
            let h = histograms.get(stage);
            let mut buckets = Vec::with_capacity(BUCKET_BOUNDS_NS.len() + 1);
            let mut below: u64 = 0;
            for bound in BUCKET_BOUNDS_NS {
                let cumulative = if h.is_empty() {
                    0
                } else {
                    h.count_between(0, bound)
                };
                buckets.push((bound as f64 / NS_PER_SECOND, cumulative - below));
                below = cumulative;
            }
            buckets.push((f64::MAX, h.len() - below));
            let sum = h.mean() * h.len() as f64 / NS_PER_SECOND;
            let labels = [("stage", stage.name())];
            let mut family = metric.encode_family(&labels)?;
            family.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                sum,
                h.len(),
                &buckets,
                None,
            )?;
        }
    }
    let series = Stage::ALL.into_iter().flat_map(|stage| {
        let h = histograms.get(stage);
        QUANTILES.into_iter().map(move |q| {
            let value = if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64 / NS_PER_SECOND
            };
            (
                vec![
                    ("stage", stage.name().to_owned()),
                    ("quantile", q.to_string()),
                ],
                value,
            )
        })
    });
    encode_gauge_family(
        encoder,
        "arbiter_stage_latency_quantile_seconds",
        "Quantiles of each stage's latency since start (HdrHistogram, 3 significant digits)",
        series,
    )
}

impl Collector for TelemetryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let m = &self.0.metrics;
        encode_counter(
            &mut encoder,
            "arbiter_orders",
            "New orders sequenced",
            m.orders.get(),
        )?;
        encode_counter(
            &mut encoder,
            "arbiter_fills",
            "Fills emitted",
            m.fills.get(),
        )?;
        encode_counter(
            &mut encoder,
            "arbiter_cancels",
            "Cancels emitted",
            m.cancels.get(),
        )?;
        encode_counter(
            &mut encoder,
            "arbiter_replaces",
            "Replaces applied",
            m.replaces.get(),
        )?;
        {
            let mut metric = encoder.encode_descriptor(
                "arbiter_rejects",
                "Rejects by engine reason code",
                None,
                MetricType::Counter,
            )?;
            for (reason, count) in m.reject_counts() {
                let labels = [("reason", reason.to_string())];
                ConstCounter::new(count).encode(metric.encode_family(&labels)?)?;
            }
        }
        encode_gauge_family(
            &mut encoder,
            "arbiter_ring_occupancy",
            "Entries waiting in each ring",
            m.rings()
                .map(|(n, g)| (vec![("ring", n.to_owned())], g.get())),
        )?;
        encode_gauge_family(
            &mut encoder,
            "arbiter_durable_lag_records",
            "Journal records appended but not yet durable",
            [(Vec::new(), m.durable_lag_records.get())],
        )?;
        for (name, help, value) in [
            (
                "arbiter_replication_lag_records",
                "Journal records not yet acknowledged by JetStream",
                m.replication_lag_records.get(),
            ),
            (
                "arbiter_replication_lag_us",
                "Age in microseconds of the oldest unacknowledged replicated record",
                m.replication_lag_us.get(),
            ),
            (
                "arbiter_replication_publish_p50_us",
                "Replication batch publish-to-ack latency p50, microseconds",
                m.replication_publish_p50_us.get(),
            ),
            (
                "arbiter_replication_publish_p99_us",
                "Replication batch publish-to-ack latency p99, microseconds",
                m.replication_publish_p99_us.get(),
            ),
            (
                "arbiter_replication_state",
                "0 not clustered, 1 replicating, 2 lost, 3 fenced",
                m.replication_state.get(),
            ),
        ] {
            encode_gauge_family(&mut encoder, name, help, [(Vec::new(), value)])?;
        }
        encode_gauge_family(
            &mut encoder,
            "arbiter_durable_lag_seconds",
            "Age of the oldest record not yet durable",
            [(Vec::new(), m.durable_lag_ns.get() as f64 / NS_PER_SECOND)],
        )?;
        {
            let mut metric = encoder.encode_descriptor(
                "arbiter_agent_cycles",
                "Agent duty cycles: work or idle",
                None,
                MetricType::Counter,
            )?;
            for (name, duty) in m.agents() {
                for (kind, value) in [
                    ("work", duty.work_cycles.get()),
                    ("idle", duty.idle_cycles.get()),
                ] {
                    let labels = [("agent", name), ("kind", kind)];
                    ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        encode_gauge_family(
            &mut encoder,
            "arbiter_agent_duty_cycle",
            "Fraction of agent cycles that did work since start (1 - idle ratio)",
            m.agents()
                .map(|(n, d)| (vec![("agent", n.to_owned())], d.duty_cycle())),
        )?;
        encode_gauge_family(
            &mut encoder,
            "arbiter_kill_switch",
            "Kill switch status (0 off)",
            [(Vec::new(), m.kill_switch.get())],
        )?;
        encode_gauge_family(
            &mut encoder,
            "arbiter_session_state",
            "FIX session state code",
            m.sessions()
                .map(|(n, g)| (vec![("session", n.to_owned())], g.get())),
        )?;
        self.0.with_cumulative(|h| encode_latency(&mut encoder, h))
    }
}

/// The days until each certificate of some PEM files expires, read at every scrape.
#[derive(Debug)]
struct CertificateCollector(Vec<PathBuf>);

impl Collector for CertificateCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut series = Vec::new();
        for path in &self.0 {
            let Ok(certificates) = arbiter_fix::tls::certificate_days_left(path, now_s) else {
                continue;
            };
            for (subject, days) in certificates {
                let labels = vec![("file", path.display().to_string()), ("subject", subject)];
                series.push((labels, days));
            }
        }
        encode_gauge_family(
            &mut encoder,
            "arbiter_certificate_expiry_days",
            "Whole days until each configured TLS certificate expires (negative: expired)",
            series,
        )
    }
}

/// What a [`MetricsServer`] serves beyond the telemetry.
#[derive(Clone, Debug, Default)]
pub struct MetricsOptions {
    /// TLS for every scrape (build it with `arbiter_fix::tls::server_config`: TLS 1.3
    /// only); `None`: plaintext HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// PEM files whose certificates' days until expiry are exported as
    /// `arbiter_certificate_expiry_days`.
    pub certificates: Vec<PathBuf>,
}

/// A registry exporting `telemetry`.
#[must_use]
pub fn registry(telemetry: &Arc<Telemetry>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(TelemetryCollector(Arc::clone(telemetry))));
    registry
}

/// The text exposition of `registry` (ends with `# EOF`, OpenMetrics style).
///
/// # Panics
/// If formatting into a `String` fails (it cannot).
#[must_use]
pub fn render(registry: &Registry) -> String {
    let mut text = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut text, registry).expect("String write");
    text
}

/// Serves `GET /metrics` on a std `TcpListener`, one request at a time, on its own thread.
#[derive(Debug)]
pub struct MetricsServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Content type of the exposition served.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl MetricsServer {
    /// Binds `address` (port 0 picks one) and starts serving.
    ///
    /// # Errors
    /// Bind or thread spawn failure.
    pub fn start(address: &str, telemetry: &Arc<Telemetry>) -> io::Result<Self> {
        Self::start_with(address, telemetry, MetricsOptions::default())
    }

    /// Binds `address` (port 0 picks one) and starts serving, over TLS when
    /// `options.tls` is set, with the certificate gauges of `options.certificates`.
    ///
    /// # Errors
    /// Bind or thread spawn failure.
    pub fn start_with(
        address: &str,
        telemetry: &Arc<Telemetry>,
        options: MetricsOptions,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let mut registry = registry(telemetry);
        if !options.certificates.is_empty() {
            registry.register_collector(Box::new(CertificateCollector(options.certificates)));
        }
        let tls = options.tls;
        let thread = std::thread::Builder::new()
            .name("arbiter-metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop_flag.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .is_err()
                        || stream
                            .set_write_timeout(Some(Duration::from_secs(2)))
                            .is_err()
                    {
                        continue;
                    }
                    let _ = match &tls {
                        None => serve_one(stream, &registry),
                        Some(config) => match rustls::ServerConnection::new(Arc::clone(config)) {
                            // The handshake runs inside the first read; a plaintext or
                            // TLS 1.2 client fails it and is closed without an answer.
                            Ok(connection) => {
                                let mut tls = rustls::StreamOwned::new(connection, stream);
                                let served = serve_one(&mut tls, &registry);
                                tls.conn.send_close_notify();
                                let _ = tls.flush();
                                served
                            }
                            Err(_) => continue,
                        },
                    };
                }
            })?;
        Ok(MetricsServer {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server and joins its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Request bytes read at most: a scrape request is a few hundred bytes.
const REQUEST_BYTES_MAX: usize = 8192;

fn serve_one(mut stream: impl Read + Write, registry: &Registry) -> io::Result<()> {
    let mut request = [0u8; REQUEST_BYTES_MAX];
    let mut len = 0;
    while len < request.len() {
        let n = stream.read(&mut request[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if request[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = &request[..len];
    let response = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?") {
        let body = render(registry);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else if head.is_empty() {
        return Ok(());
    } else {
        let body = "not found: try /metrics\n";
        format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    stream.write_all(response.as_bytes())?;
    stream.flush()
}
