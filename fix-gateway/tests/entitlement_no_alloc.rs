//! The entitlement check (account name to id, then the session's bit) neither allocates nor
//! frees once its tables are built: it runs on every order (STYLE.md rule 4).
//!
//! A counting `#[global_allocator]` counts this thread's heap operations while a flag is set.

use arbiter_fix::entitlement::{AccountNames, Entitlement};
use arbiter_hardware::alloc_count::{self, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    alloc_count::start();
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
    assert_eq!(alloc_count::stop(), alloc_count::AllocCounts::default());
    // 86 of the 256 names are entitled, and 86 of the ids below 256.
    assert_eq!(allowed, 1000 * 86 + 86);
}
