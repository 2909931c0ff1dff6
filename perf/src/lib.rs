//! Per-stage latency histograms, HdrHistogram interval logs, percentile dumps and the FIX load generator.
//!
//! Placeholder: this crate is filled in by the latency/metrics issue.
#![deny(missing_docs)]
