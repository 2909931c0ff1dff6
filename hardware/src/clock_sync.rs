//! Is this host's wall clock disciplined, and how far off is it?
//!
//! MiFID II RTS 25 requires HFT venues' business clocks to stay within 100 µs
//! of UTC; the sequencer stamps commands with wall time, so an unsynchronised
//! host produces wrong stamps in the journal forever.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::sys;

/// Default offset limit: 100 µs (MiFID II RTS 25, HFT).
pub const CLOCK_OFFSET_LIMIT_US_DEFAULT: u64 = 100;

/// Time-sync daemons recognised, as they appear in `/proc/<pid>/comm`
/// (which truncates names to 15 bytes: `systemd-timesyncd` shows as `systemd-timesyn`).
pub const SYNC_DAEMONS: &[&str] = &["chronyd", "ptp4l", "phc2sys", "ntpd", "systemd-timesyn"];

/// The kernel's NTP discipline state, as read with `adjtimex(2)` (modes = 0).
///
/// Raw kernel fields converted to nanoseconds so callers never deal with the
/// `STA_NANO` unit switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KernelTimeState {
    /// `STA_UNSYNC` clear and the call did not return `TIME_ERROR`.
    pub synchronized: bool,
    /// Current offset estimate of the kernel PLL, in nanoseconds. chronyd does
    /// not drive the kernel PLL, so 0 here is common; `error_estimated_ns` is
    /// then the better figure.
    pub offset_ns: i64,
    /// Maximum error bound the sync daemon reported, in nanoseconds.
    pub error_max_ns: u64,
    /// Estimated error the sync daemon reported, in nanoseconds.
    pub error_estimated_ns: u64,
}

impl KernelTimeState {
    /// Reads the live kernel state (read-only `adjtimex`).
    ///
    /// # Errors
    /// The OS error; `Unsupported` off Linux.
    pub fn read() -> io::Result<Self> {
        sys::kernel_time()
    }

    /// The offset estimate used against the limit: the larger of |offset| and
    /// the estimated error.
    #[must_use]
    pub fn offset_estimate_ns(&self) -> u64 {
        self.offset_ns.unsigned_abs().max(self.error_estimated_ns)
    }
}

/// Names of the recognised sync daemons running, read from `<proc_root>/*/comm`.
/// Unreadable entries (processes that just exited) are skipped.
#[must_use]
pub fn running_sync_daemons(proc_root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|entry| fs::read_to_string(entry.path().join("comm")).ok())
        .map(|comm| comm.trim().to_owned())
        .filter(|comm| SYNC_DAEMONS.contains(&comm.as_str()))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// True when a process with this `comm` runs under `proc_root`.
#[must_use]
pub fn process_running(proc_root: &Path, comm: &str) -> bool {
    let Ok(entries) = fs::read_dir(proc_root) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        fs::read_to_string(entry.path().join("comm")).is_ok_and(|text| text.trim() == comm)
    })
}

/// Verdict on the clock sync state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncVerdict {
    /// Daemon running, kernel synchronised, offset within the limit.
    Synchronized,
    /// Offset estimate above the limit.
    OffsetOverLimit,
    /// The kernel says unsynchronised (`STA_UNSYNC`).
    KernelUnsynchronized,
    /// No recognised daemon is running.
    NoDaemon,
    /// Daemon running but the kernel state could not be read.
    Unknown,
}

/// Everything known about clock sync, for the host check and for metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClockSyncStatus {
    /// Recognised daemons found running.
    pub daemons: Vec<String>,
    /// Kernel state, when readable.
    pub kernel: Option<KernelTimeState>,
    /// Warning threshold for the offset estimate.
    pub offset_limit_us: u64,
}

impl ClockSyncStatus {
    /// Reads the live state: daemons under `proc_root`, kernel state via `adjtimex`.
    #[must_use]
    pub fn read(proc_root: &Path, offset_limit_us: u64) -> Self {
        Self {
            daemons: running_sync_daemons(proc_root),
            kernel: KernelTimeState::read().ok(),
            offset_limit_us,
        }
    }

    /// The verdict (daemon first, then kernel sync flag, then offset).
    #[must_use]
    pub fn verdict(&self) -> SyncVerdict {
        if self.daemons.is_empty() {
            return SyncVerdict::NoDaemon;
        }
        let Some(kernel) = self.kernel else {
            return SyncVerdict::Unknown;
        };
        if !kernel.synchronized {
            return SyncVerdict::KernelUnsynchronized;
        }
        if kernel.offset_estimate_ns() > self.offset_limit_us.saturating_mul(1_000) {
            return SyncVerdict::OffsetOverLimit;
        }
        SyncVerdict::Synchronized
    }

    /// Human-readable warnings (empty when synchronised).
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        let limit = self.offset_limit_us;
        match self.verdict() {
            SyncVerdict::Synchronized => Vec::new(),
            SyncVerdict::NoDaemon => vec![format!(
                "no time sync daemon running (looked for {})",
                SYNC_DAEMONS.join(", ")
            )],
            SyncVerdict::Unknown => vec!["kernel time state (adjtimex) not readable".to_owned()],
            SyncVerdict::KernelUnsynchronized => {
                vec!["kernel reports clock unsynchronised (STA_UNSYNC)".to_owned()]
            }
            SyncVerdict::OffsetOverLimit => vec![format!(
                "clock offset estimate {} ns exceeds the {limit} µs limit",
                self.kernel.map_or(0, |k| k.offset_estimate_ns())
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(
        synchronized: bool,
        offset_ns: i64,
        error_estimated_ns: u64,
    ) -> Option<KernelTimeState> {
        Some(KernelTimeState {
            synchronized,
            offset_ns,
            error_max_ns: 0,
            error_estimated_ns,
        })
    }

    fn status(daemons: &[&str], kernel: Option<KernelTimeState>) -> ClockSyncStatus {
        ClockSyncStatus {
            daemons: daemons.iter().map(|d| (*d).to_owned()).collect(),
            kernel,
            offset_limit_us: 100,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            status(&[], kernel(true, 0, 0)).verdict(),
            SyncVerdict::NoDaemon
        );
        assert_eq!(status(&["chronyd"], None).verdict(), SyncVerdict::Unknown);
        assert_eq!(
            status(&["chronyd"], kernel(false, 0, 0)).verdict(),
            SyncVerdict::KernelUnsynchronized
        );
        assert_eq!(
            status(&["ptp4l"], kernel(true, -150_000, 0)).verdict(),
            SyncVerdict::OffsetOverLimit
        );
        assert_eq!(
            status(&["chronyd"], kernel(true, 0, 100_001)).verdict(),
            SyncVerdict::OffsetOverLimit
        );
        assert_eq!(
            status(&["chronyd"], kernel(true, -2_000, 5_000)).verdict(),
            SyncVerdict::Synchronized
        );
        assert!(status(&["chronyd"], kernel(true, 0, 0))
            .warnings()
            .is_empty());
        assert!(status(&["chronyd"], kernel(true, 200_000, 0)).warnings()[0].contains("100 µs"));
    }

    #[test]
    fn daemons_found_in_fixture_proc() {
        let dir = tempfile::tempdir().unwrap();
        for (pid, comm) in [
            ("1", "systemd"),
            ("812", "chronyd"),
            ("813", "ptp4l"),
            ("self", "chronyd"),
        ] {
            std::fs::create_dir(dir.path().join(pid)).unwrap();
            std::fs::write(dir.path().join(pid).join("comm"), format!("{comm}\n")).unwrap();
        }
        assert_eq!(running_sync_daemons(dir.path()), ["chronyd", "ptp4l"]);
        assert!(process_running(dir.path(), "systemd"));
        assert!(running_sync_daemons(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn live_read_does_not_panic() {
        let live = ClockSyncStatus::read(Path::new("/proc"), CLOCK_OFFSET_LIMIT_US_DEFAULT);
        let _ = live.verdict();
        let _ = live.warnings();
    }
}
