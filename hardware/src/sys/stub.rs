//! Fallback backend for non-Linux targets: portable clocks, "unsupported" for the rest.

use std::io;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::clock_sync::KernelTimeState;

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is only implemented on Linux"),
    )
}

pub(crate) fn realtime_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(crate) fn monotonic_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) fn cpus_configured() -> usize {
    std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get)
}

pub(crate) fn set_realtime_priority(_priority: i32) -> io::Result<()> {
    Err(unsupported("SCHED_FIFO"))
}

pub(crate) fn lock_all_memory() -> io::Result<()> {
    Err(unsupported("mlockall"))
}

pub(crate) fn kernel_time() -> io::Result<KernelTimeState> {
    Err(unsupported("adjtimex"))
}
