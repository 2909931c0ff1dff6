//! Every OS- and architecture-specific call of the crate, behind one module.
//!
//! Mirrors mio's `src/sys`: the Linux backend is the production one; the stub
//! backend keeps the crate compiling (and its tests honest) elsewhere, answering
//! "unsupported" instead of guessing.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod stub;
#[cfg(not(target_os = "linux"))]
pub(crate) use stub::*;

/// Reads the TSC when the architecture has one.
#[inline]
#[must_use]
pub(crate) fn read_tsc() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is available on every x86_64 CPU; it reads a counter
        // and has no memory effects.
        Some(unsafe { core::arch::x86_64::_rdtsc() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
