//! `StageRecorder::record` never allocates (counted by a global allocator on this thread).

use arbiter_hardware::alloc_count::{self, CountingAllocator};
use arbiter_perf::{stage_recorder, Stage, StageHistograms};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn record_never_allocates() {
    let (mut recorder, mut reader) = stage_recorder("gateway", &Stage::ALL);
    let mut interval = StageHistograms::new();
    alloc_count::start();
    for i in 0..100_000u64 {
        let stage = Stage::ALL[(i % Stage::ALL.len() as u64) as usize];
        // Wide spread of values, including out of range ones (clamped).
        recorder.record(stage, (i * 7_919) % 20_000_000_000);
        recorder.record_span(stage, i, i + 250);
    }
    assert_eq!(alloc_count::stop().allocations, 0, "record allocated");
    alloc_count::start();
    // The reader side does not allocate either once its accumulator exists.
    reader.collect_into(&mut interval);
    assert_eq!(alloc_count::stop().allocations, 0, "collect allocated");
    assert_eq!(interval.total_count(), 200_000);
    // Recording after a flip (into the other buffer) does not allocate.
    alloc_count::start();
    for i in 0..10_000u64 {
        recorder.record(Stage::WireToWire, i + 1);
    }
    assert_eq!(
        alloc_count::stop().allocations,
        0,
        "record after flip allocated"
    );
}
