//! Clocks: a wall clock that never goes backwards, and a cheap monotonic clock
//! for latency measurement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sys;

/// Where a clock reads raw time from; injectable so tests can step time back.
pub trait TimeSource {
    /// Nanoseconds since the Unix epoch, as the source sees them now.
    fn now_ns(&mut self) -> u64;
}

/// `CLOCK_REALTIME` (through the vDSO on Linux: no syscall with the tsc clocksource).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRealtime;

impl TimeSource for SystemRealtime {
    #[inline]
    fn now_ns(&mut self) -> u64 {
        sys::realtime_ns()
    }
}

/// Counters of a [`WallClock`], shareable with a metrics thread.
#[derive(Clone, Debug, Default)]
pub struct WallClockMetrics {
    inner: Arc<WallClockCounters>,
}

#[derive(Debug, Default)]
#[repr(C, align(128))]
struct WallClockCounters {
    backwards_steps: AtomicU64,
    backwards_ns_max: AtomicU64,
}

impl WallClockMetrics {
    /// How many times the source stepped backwards.
    #[must_use]
    pub fn backwards_steps(&self) -> u64 {
        self.inner.backwards_steps.load(Ordering::Relaxed)
    }

    /// The largest single backward step seen, in nanoseconds.
    #[must_use]
    pub fn backwards_ns_max(&self) -> u64 {
        self.inner.backwards_ns_max.load(Ordering::Relaxed)
    }
}

/// Wall time in nanoseconds since the epoch that never goes backwards within a run.
///
/// The sequencer stamps every command with this time, and the journal and
/// replay rely on stamps being non-decreasing. When the system clock steps back
/// (an NTP step, an operator's `date -s`), `now_ns` **holds at the last value it
/// returned** until the source catches up: stamps are non-decreasing, not
/// strictly increasing (the sequence number already orders commands, so equal
/// stamps are harmless, whereas inventing `last + 1` would drift ahead of real
/// time by one ns per read for as long as the hold lasts). Each backward step
/// of the source is counted (see [`WallClockMetrics`]).
///
/// Single-threaded by design (`&mut self`): one clock per stamping thread.
///
/// ```
/// use arbiter_hardware::{TimeSource, WallClock};
/// struct Steps(Vec<u64>);
/// impl TimeSource for Steps {
///     fn now_ns(&mut self) -> u64 { self.0.remove(0) }
/// }
/// let mut clock = WallClock::with_source(Steps(vec![100, 50, 120]));
/// assert_eq!([clock.now_ns(), clock.now_ns(), clock.now_ns()], [100, 100, 120]);
/// assert_eq!(clock.backwards_steps(), 1);
/// ```
#[derive(Debug)]
pub struct WallClock<S = SystemRealtime> {
    source: S,
    last_raw_ns: u64,
    last_stamp_ns: u64,
    metrics: WallClockMetrics,
}

impl WallClock<SystemRealtime> {
    /// Reads `CLOCK_REALTIME`.
    #[must_use]
    pub fn new() -> Self {
        Self::with_source(SystemRealtime)
    }
}

impl Default for WallClock<SystemRealtime> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: TimeSource> WallClock<S> {
    /// Reads `source`.
    #[must_use]
    pub fn with_source(source: S) -> Self {
        Self {
            source,
            last_raw_ns: 0,
            last_stamp_ns: 0,
            metrics: WallClockMetrics::default(),
        }
    }

    /// Current wall time, never less than the previous result.
    #[inline]
    pub fn now_ns(&mut self) -> u64 {
        let raw_ns = self.source.now_ns();
        if raw_ns < self.last_raw_ns {
            self.record_backwards_step(self.last_raw_ns - raw_ns);
        }
        self.last_raw_ns = raw_ns;
        if raw_ns > self.last_stamp_ns {
            self.last_stamp_ns = raw_ns;
        }
        debug_assert!(self.last_stamp_ns >= raw_ns);
        self.last_stamp_ns
    }

    #[cold]
    fn record_backwards_step(&self, step_ns: u64) {
        let counters = &self.metrics.inner;
        let steps = counters.backwards_steps.load(Ordering::Relaxed);
        counters.backwards_steps.store(steps + 1, Ordering::Relaxed);
        if step_ns > counters.backwards_ns_max.load(Ordering::Relaxed) {
            counters.backwards_ns_max.store(step_ns, Ordering::Relaxed);
        }
    }

    /// True while the source is behind the last stamp (stamps are being held).
    #[must_use]
    pub fn is_holding(&self) -> bool {
        self.last_raw_ns < self.last_stamp_ns
    }

    /// How many times the source stepped backwards so far.
    #[must_use]
    pub fn backwards_steps(&self) -> u64 {
        self.metrics.backwards_steps()
    }

    /// A handle on the counters for a metrics thread.
    #[must_use]
    pub fn metrics(&self) -> WallClockMetrics {
        self.metrics.clone()
    }
}

/// What `/proc/cpuinfo` says about the TSC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscFlags {
    /// `constant_tsc`: ticks at a fixed rate regardless of frequency scaling.
    pub constant: bool,
    /// `nonstop_tsc`: keeps ticking in deep C-states.
    pub nonstop: bool,
}

impl TscFlags {
    /// Parses the `flags` line of the first processor in `/proc/cpuinfo` text.
    #[must_use]
    pub fn from_cpuinfo(cpuinfo: &str) -> Self {
        let flags = cpuinfo
            .lines()
            .find(|line| line.starts_with("flags"))
            .and_then(|line| line.split_once(':'))
            .map_or("", |(_, flags)| flags);
        let has = |name: &str| flags.split_whitespace().any(|flag| flag == name);
        Self {
            constant: has("constant_tsc"),
            nonstop: has("nonstop_tsc"),
        }
    }

    /// Both flags: the TSC is usable as a clock.
    #[must_use]
    pub fn invariant(&self) -> bool {
        self.constant && self.nonstop
    }
}

/// A linear map from TSC ticks to `CLOCK_MONOTONIC` nanoseconds.
///
/// `ns = base_ns + ((tsc - base_tsc) * mult) >> 48`, with a 128-bit product so
/// it neither overflows nor loses precision for decades of uptime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TscCalibration {
    base_tsc: u64,
    base_ns: u64,
    mult: u64,
}

impl TscCalibration {
    /// Fixed-point shift of `mult`.
    pub const SHIFT: u32 = 48;

    /// Builds the map from two (tsc, ns) samples.
    ///
    /// Returns `None` when the samples do not move forward in both clocks.
    #[must_use]
    pub fn from_samples(start: (u64, u64), end: (u64, u64)) -> Option<Self> {
        let (tsc_start, ns_start) = start;
        let (tsc_end, ns_end) = end;
        if tsc_end <= tsc_start || ns_end <= ns_start {
            return None;
        }
        let ticks = u128::from(tsc_end - tsc_start);
        let nanos = u128::from(ns_end - ns_start);
        let mult = u64::try_from((nanos << Self::SHIFT) / ticks).ok()?;
        if mult == 0 {
            return None;
        }
        Some(Self {
            base_tsc: tsc_start,
            base_ns: ns_start,
            mult,
        })
    }

    /// Converts a TSC reading to nanoseconds.
    #[inline]
    #[must_use]
    pub fn to_ns(&self, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.wrapping_sub(self.base_tsc));
        let nanos = (ticks * u128::from(self.mult)) >> Self::SHIFT;
        self.base_ns
            .wrapping_add(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Estimated TSC frequency in Hz.
    #[must_use]
    pub fn tsc_hz(&self) -> u64 {
        u64::try_from((1_000_000_000_u128 << Self::SHIFT) / u128::from(self.mult)).unwrap_or(0)
    }
}

/// Which source a [`MonoClock`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonoSource {
    /// `rdtsc` scaled by a calibration.
    Tsc(TscCalibration),
    /// `clock_gettime(CLOCK_MONOTONIC)`.
    ClockMonotonic,
}

/// Cheap monotonic nanoseconds for latency measurement.
///
/// With an invariant TSC (`constant_tsc` and `nonstop_tsc`) a read is one
/// `rdtsc` plus a multiply (about half the cost of `CLOCK_MONOTONIC` via the
/// vDSO: 15 ns vs 31 ns on the loaded dev VM, see `hardware/clock/mono` in the benches);
/// otherwise it falls back to `CLOCK_MONOTONIC`. `rdtsc` is not serialising:
/// the CPU may reorder it by a few tens of instructions, which is below what
/// the per-stage histograms resolve. Values are comparable across cores on
/// invariant-TSC hosts (the kernel checks TSC sync at boot).
#[derive(Clone, Copy, Debug)]
pub struct MonoClock {
    source: MonoSource,
}

/// How long [`MonoClock::calibrate`] sleeps between its two samples.
pub const CALIBRATION_NS: u64 = 10_000_000;

impl MonoClock {
    /// Detects an invariant TSC from `/proc/cpuinfo` and calibrates it against
    /// `CLOCK_MONOTONIC` over [`CALIBRATION_NS`] (a start-up cost: sleeps).
    #[must_use]
    pub fn calibrate() -> Self {
        let flags = std::fs::read_to_string("/proc/cpuinfo").map_or(
            TscFlags {
                constant: false,
                nonstop: false,
            },
            |text| TscFlags::from_cpuinfo(&text),
        );
        Self::calibrate_with(flags)
    }

    /// As [`MonoClock::calibrate`] with the TSC flags given.
    #[must_use]
    pub fn calibrate_with(flags: TscFlags) -> Self {
        if !flags.invariant() {
            return Self::monotonic();
        }
        let Some(start) = tsc_and_ns() else {
            return Self::monotonic();
        };
        std::thread::sleep(std::time::Duration::from_nanos(CALIBRATION_NS));
        let Some(end) = tsc_and_ns() else {
            return Self::monotonic();
        };
        match TscCalibration::from_samples(start, end) {
            Some(calibration) => Self {
                source: MonoSource::Tsc(calibration),
            },
            None => Self::monotonic(),
        }
    }

    /// Always `CLOCK_MONOTONIC`.
    #[must_use]
    pub fn monotonic() -> Self {
        Self {
            source: MonoSource::ClockMonotonic,
        }
    }

    /// The source in use.
    #[must_use]
    pub fn source(&self) -> MonoSource {
        self.source
    }

    /// Monotonic nanoseconds (since boot, in `CLOCK_MONOTONIC`'s epoch).
    #[inline]
    #[must_use]
    pub fn now_ns(&self) -> u64 {
        match &self.source {
            MonoSource::Tsc(calibration) => match sys::read_tsc() {
                Some(tsc) => calibration.to_ns(tsc),
                None => sys::monotonic_ns(),
            },
            MonoSource::ClockMonotonic => sys::monotonic_ns(),
        }
    }
}

/// One (tsc, monotonic ns) pair, taken as close together as possible.
fn tsc_and_ns() -> Option<(u64, u64)> {
    let before = sys::read_tsc()?;
    let ns = sys::monotonic_ns();
    let after = sys::read_tsc()?;
    Some((before / 2 + after / 2, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted {
        readings: Vec<u64>,
        next: usize,
    }

    impl TimeSource for Scripted {
        fn now_ns(&mut self) -> u64 {
            let value = self.readings[self.next];
            self.next += 1;
            value
        }
    }

    fn clock(readings: &[u64]) -> WallClock<Scripted> {
        WallClock::with_source(Scripted {
            readings: readings.to_vec(),
            next: 0,
        })
    }

    #[test]
    fn wall_clock_passes_forward_time_through() {
        let mut wall = clock(&[10, 20, 20, 35]);
        let stamps: Vec<u64> = (0..4).map(|_| wall.now_ns()).collect();
        assert_eq!(stamps, [10, 20, 20, 35]);
        assert_eq!(wall.backwards_steps(), 0);
    }

    #[test]
    fn wall_clock_holds_through_a_step_back_and_counts_it_once() {
        let mut wall = clock(&[1_000, 2_000, 1_500, 1_600, 1_900, 2_000, 2_100]);
        let metrics = wall.metrics();
        let stamps: Vec<u64> = (0..7).map(|_| wall.now_ns()).collect();
        assert_eq!(stamps, [1_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_100]);
        assert_eq!(metrics.backwards_steps(), 1);
        assert_eq!(metrics.backwards_ns_max(), 500);
        assert!(!wall.is_holding());
    }

    #[test]
    fn wall_clock_counts_each_separate_step() {
        let mut wall = clock(&[5_000, 4_000, 4_500, 3_000, 6_000, 5_900]);
        let stamps: Vec<u64> = (0..6).map(|_| wall.now_ns()).collect();
        assert_eq!(stamps, [5_000, 5_000, 5_000, 5_000, 6_000, 6_000]);
        assert_eq!(wall.backwards_steps(), 3);
        assert_eq!(wall.metrics().backwards_ns_max(), 1_500);
        assert!(wall.is_holding());
    }

    #[test]
    fn wall_clock_on_the_real_source_is_non_decreasing() {
        let mut wall = WallClock::new();
        let mut last = wall.now_ns();
        assert!(last > 1_600_000_000_000_000_000, "after 2020");
        for _ in 0..1_000 {
            let now = wall.now_ns();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn cpuinfo_flags_are_parsed() {
        let text = "processor\t: 0\nflags\t\t: fpu tsc constant_tsc rep_good nonstop_tsc cpuid\n";
        assert!(TscFlags::from_cpuinfo(text).invariant());
        let partial = "flags\t\t: fpu tsc constant_tsc\n";
        let flags = TscFlags::from_cpuinfo(partial);
        assert!(flags.constant && !flags.nonstop);
        assert!(!TscFlags::from_cpuinfo("").invariant());
    }

    #[test]
    fn calibration_maps_ticks_to_ns() {
        // A 3 GHz TSC: 3 ticks per ns.
        let calibration =
            TscCalibration::from_samples((3_000, 1_000), (3_000_003_000, 1_000_001_000)).unwrap();
        assert_eq!(calibration.to_ns(3_000), 1_000);
        let after_one_second = calibration.to_ns(3_000 + 3_000_000_000);
        assert!(
            after_one_second.abs_diff(1_000_001_000) <= 1,
            "{after_one_second}"
        );
        let after_an_hour = calibration.to_ns(3_000 + 3_600 * 3_000_000_000);
        assert!(
            after_an_hour.abs_diff(3_600_000_001_000) <= 1,
            "{after_an_hour}"
        );
        assert!(calibration.tsc_hz().abs_diff(3_000_000_000) < 10);
        assert!(TscCalibration::from_samples((10, 10), (10, 20)).is_none());
        assert!(TscCalibration::from_samples((10, 20), (20, 20)).is_none());
    }

    #[test]
    fn calibration_does_not_overflow_for_years_of_ticks() {
        let calibration =
            TscCalibration::from_samples((0, 0), (4_000_000_000, 1_000_000_000)).unwrap();
        let ten_years_ticks = 4_000_000_000_u64 * 86_400 * 365 * 10;
        let ns = calibration.to_ns(ten_years_ticks);
        assert_eq!(ns, 1_000_000_000 * 86_400 * 365 * 10);
    }

    #[test]
    fn mono_clock_is_non_decreasing_on_either_source() {
        for clock in [MonoClock::monotonic(), MonoClock::calibrate()] {
            let mut last = clock.now_ns();
            for _ in 0..1_000 {
                let now = clock.now_ns();
                assert!(now >= last, "{:?}", clock.source());
                last = now;
            }
        }
        let fallback = MonoClock::calibrate_with(TscFlags {
            constant: true,
            nonstop: false,
        });
        assert_eq!(fallback.source(), MonoSource::ClockMonotonic);
    }
}
