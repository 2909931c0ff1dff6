//! The entitlement check (account name to id, then the session's bit) neither allocates nor
//! frees once its tables are built: it runs on every order (STYLE.md rule 4).
//!
//! A counting `#[global_allocator]` counts this thread's heap operations while a flag is set.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arbiter_fix::entitlement::{AccountNames, Entitlement};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAllocator;

fn note() {
    // `try_with`: the allocator can run while thread-locals are being torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = OPERATIONS.try_with(|count| count.set(count.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn the_entitlement_check_does_not_allocate() {
    let names: Vec<String> = (0..256).map(|i| format!("ACCOUNT-{i}")).collect();
    let table = AccountNames::new(names.iter().map(String::as_str).zip(0..), 256);
    let mut entitled = Entitlement::new(256);
    for id in (0..256).step_by(3) {
        entitled.grant(id);
    }
    let asked: Vec<Vec<u8>> = names
        .iter()
        .map(|n| n.clone().into_bytes())
        .chain([b"NOPE".to_vec(), Vec::new()])
        .collect();
    COUNTING.with(|c| c.set(true));
    let mut allowed = 0u32;
    for round in 0..1000u32 {
        for name in &asked {
            if table.id(name).is_some_and(|id| entitled.allows(id)) {
                allowed += 1;
            }
        }
        if entitled.allows(round) {
            allowed += 1;
        }
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(OPERATIONS.with(Cell::get), 0);
    // 86 of the 256 names are entitled, and 86 of the ids below 256.
    assert_eq!(allowed, 1000 * 86 + 86);
}
