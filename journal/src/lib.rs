//! Memory-mapped, hash-chained, crash-safe segment files with recovery and snapshots.
//!
//! Placeholder: being built by the journal issue.
#![deny(missing_docs)]
