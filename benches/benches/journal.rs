//! Criterion benchmarks for the journal area (filled in by its issue).
fn main() {}
