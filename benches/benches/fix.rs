//! Criterion benchmarks for the fix area (filled in by its issue).
fn main() {}
