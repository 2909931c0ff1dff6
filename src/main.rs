//! The `arbiter` binary.
#![deny(missing_docs)]

mod config;

fn main() {}
