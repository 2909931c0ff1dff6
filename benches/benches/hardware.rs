//! Criterion benchmarks for the hardware area (filled in by its issue).
fn main() {}
