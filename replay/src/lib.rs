//! The quants' journal replay tool: verify, dump, filter, export, rebuild, determinism check.
//!
//! Placeholder: this crate is filled in by the replay-tool issue.
#![deny(missing_docs)]
