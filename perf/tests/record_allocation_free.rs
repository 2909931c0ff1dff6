//! `StageRecorder::record` never allocates (counted by a global allocator on this thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arbiter_perf::{stage_recorder, Stage, StageHistograms};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn record_never_allocates() {
    let (mut recorder, mut reader) = stage_recorder("gateway", &Stage::ALL);
    let mut interval = StageHistograms::new();
    let before = allocations();
    for i in 0..100_000u64 {
        let stage = Stage::ALL[(i % Stage::ALL.len() as u64) as usize];
        // Wide spread of values, including out of range ones (clamped).
        recorder.record(stage, (i * 7_919) % 20_000_000_000);
        recorder.record_span(stage, i, i + 250);
    }
    assert_eq!(allocations(), before, "record allocated");
    // The reader side does not allocate either once its accumulator exists.
    reader.collect_into(&mut interval);
    assert_eq!(allocations(), before, "collect allocated");
    assert_eq!(interval.total_count(), 200_000);
    // Recording after a flip (into the other buffer) does not allocate.
    for i in 0..10_000u64 {
        recorder.record(Stage::WireToWire, i + 1);
    }
    assert_eq!(allocations(), before, "record after flip allocated");
}
