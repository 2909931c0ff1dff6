//! A counting global allocator, for the tests that prove a path does not allocate after
//! warm-up (STYLE.md rule 4). A test binary installs it with
//! `#[global_allocator] static GLOBAL: CountingAllocator = CountingAllocator;` and brackets
//! the path with [`start`] and [`stop`]; only the calling thread's operations count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static DEALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts this thread's heap operations while counting is on, then defers to `System`.
#[derive(Debug)]
pub struct CountingAllocator;

fn note(counter: &'static LocalKey<Cell<u64>>) {
    // `try_with`: the allocator can run while thread-locals are being torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = counter.try_with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(&ALLOCATIONS);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(pointer, layout, new_size) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        note(&DEALLOCATIONS);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(pointer, layout) }
    }
}

/// Heap operations counted between [`start`] and [`stop`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// Allocations and reallocations.
    pub allocations: u64,
    /// Frees.
    pub deallocations: u64,
}

/// Starts counting this thread's heap operations, from zero.
pub fn start() {
    ALLOCATIONS.with(|count| count.set(0));
    DEALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
}

/// Stops counting and returns what was counted since [`start`].
pub fn stop() -> AllocCounts {
    COUNTING.with(|counting| counting.set(false));
    AllocCounts {
        allocations: ALLOCATIONS.with(Cell::get),
        deallocations: DEALLOCATIONS.with(Cell::get),
    }
}
