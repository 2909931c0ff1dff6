//! Linux backend: `clock_gettime`, `sched_setscheduler`, `mlockall`, `adjtimex`.

use std::io;

use crate::clock_sync::KernelTimeState;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clocks used here always exist.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0);
    let seconds = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    seconds * 1_000_000_000 + nanos
}

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch (vDSO, no syscall with tsc clocksource).
#[inline]
pub(crate) fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// `CLOCK_MONOTONIC` in nanoseconds since boot.
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Number of CPUs the kernel was configured with (exists, online or not).
pub(crate) fn cpus_configured() -> usize {
    // SAFETY: sysconf has no preconditions.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    usize::try_from(count).unwrap_or(0)
}

/// Moves the calling thread to `SCHED_FIFO` at `priority`.
pub(crate) fn set_realtime_priority(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `mlockall(MCL_CURRENT | MCL_FUTURE)`: no page faults to swap or reclaim later.
pub(crate) fn lock_all_memory() -> io::Result<()> {
    // SAFETY: mlockall only takes flags.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the kernel NTP state without changing it (`modes = 0`).
pub(crate) fn kernel_time() -> io::Result<KernelTimeState> {
    // SAFETY: timex is plain old data; all-zero is a valid value and `modes = 0` means read-only.
    let mut tx: libc::timex = unsafe { core::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(io::Error::last_os_error());
    }
    // `c_long` is i32 on 32-bit targets, i64 here.
    #[allow(clippy::useless_conversion)]
    let offset = i64::from(tx.offset);
    let nano_units = (tx.status & libc::STA_NANO) != 0;
    let offset_ns = if nano_units { offset } else { offset * 1_000 };
    let synchronized = (tx.status & libc::STA_UNSYNC) == 0 && state != libc::TIME_ERROR;
    Ok(KernelTimeState {
        synchronized,
        offset_ns,
        error_max_ns: u64::try_from(tx.maxerror).unwrap_or(0) * 1_000,
        error_estimated_ns: u64::try_from(tx.esterror).unwrap_or(0) * 1_000,
    })
}
