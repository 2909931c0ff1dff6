//! Per-stage latency histograms, HdrHistogram interval logs, percentile dumps, Prometheus
//! `/metrics`, plots, and the FIX load generator of Arbiter.
//!
//! # Usage
//! At start-up the daemon builds one [`Telemetry`] (counters and gauges for its rings,
//! agents and sessions), one [`StageRecorder`] per thread for the stages that thread
//! times, and a [`Reporter`] holding every recorder's [`IntervalReader`]. The hot path
//! calls [`StageRecorder::record`] (no allocation, no lock, no syscall) and bumps
//! [`Metrics`] atomics. The reporter thread swaps the recorders' double buffers once per
//! interval, writes the `.hlog`, and keeps the cumulative histograms that
//! [`MetricsServer`] exports and [`Telemetry::dump`] writes as `.hgrm` tables.
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! use arbiter_perf::{stage_recorder, MetricsLayout, Reporter, ReporterConfig, Stage, Telemetry};
//!
//! let telemetry = Telemetry::new(MetricsLayout::default());
//! let (mut gateway, reader) = stage_recorder("gateway", &[Stage::SocketReadToDecoded]);
//! let mut reporter = Reporter::new(ReporterConfig::default(), Arc::clone(&telemetry), vec![reader])
//!     .unwrap();
//! gateway.record(Stage::SocketReadToDecoded, 180);
//! telemetry.metrics.orders.increment();
//! reporter.tick().unwrap();
//! telemetry.with_cumulative(|h| assert_eq!(h.get(Stage::SocketReadToDecoded).len(), 1));
//! ```
#![deny(missing_docs, missing_debug_implementations, unsafe_op_in_unsafe_fn)]

mod dump;
mod exposition;
mod hlog;
pub mod load;
mod metrics;
pub mod plot;
mod recorder;
mod stage;
mod telemetry;

pub use dump::{dump_percentiles, percentile_distribution, TICKS_PER_HALF_DISTANCE};
pub use exposition::{
    registry, render, MetricsOptions, MetricsServer, BUCKET_BOUNDS_NS, CONTENT_TYPE, QUANTILES,
};
pub use hlog::{
    epoch_seconds, parse_hlog, read_hlog, HlogConfig, HlogError, HlogInterval, HlogWriter,
};
pub use metrics::{
    AgentDuty, AgentIndex, Counter, Gauge, Metrics, MetricsLayout, RingIndex, SessionIndex,
    REJECT_REASONS,
};
pub use recorder::{
    latency_histogram, stage_recorder, IntervalReader, StageHistograms, StageMask, StageRecorder,
    LATENCY_NS_MAX, LATENCY_NS_MIN, SIGNIFICANT_DIGITS,
};
pub use stage::{Stage, STAGE_COUNT};
pub use telemetry::{install_sigusr1_dump, Reporter, ReporterConfig, ReporterHandle, Telemetry};
