//! Core pinning, idle strategies, agents, clocks and host checks.
//!
//! Placeholder: being built by the hardware issue.
#![deny(missing_docs)]
