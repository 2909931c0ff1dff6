//! Criterion benchmarks for the engine area (filled in by its issue).
fn main() {}
