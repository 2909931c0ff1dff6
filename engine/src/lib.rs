//! The deterministic matching and pre-trade risk engine.
//!
//! Placeholder: being built.
#![deny(missing_docs)]
