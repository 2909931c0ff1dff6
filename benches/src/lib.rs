//! Criterion benchmarks and the arbiter-bench workload tool.
//!
//! Placeholder: benches live in benches/benches.
#![deny(missing_docs)]
