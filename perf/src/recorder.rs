//! Per-thread stage recorders and the lock-free interval hand-off to the reporter.
//!
//! # Protocol
//! Each [`StageRecorder`] owns two sets of preallocated histograms, *even* and *odd*, and
//! a writer/reader phaser (HdrHistogram's `WriterReaderPhaser`, by Gil Tene) made of three
//! atomics: `start_epoch`, `even_end_epoch` and `odd_end_epoch`.
//!
//! - Writer (the hot path, wait-free): `token = start_epoch.fetch_add(1)`. The sign of the
//!   token names the active set (`>= 0`: even, `< 0`: odd), so the choice of buffer and the
//!   registration as a writer are one atomic step. The writer records into that set, then
//!   increments the end epoch of the same phase. Two uncontended atomic adds per record; no
//!   lock, no allocation, no syscall.
//! - Reader (the reporter thread, at most one per recorder, enforced by `&mut`): resets the
//!   end epoch of the next phase to that phase's start value (`0` or `i64::MIN`), swaps
//!   `start_epoch` to the same start value (from now on writers enter the next phase), and
//!   waits until the end epoch of the previous phase equals the value `start_epoch` had at
//!   the swap: every writer that entered the previous phase has then left it.
//!
//! # Safety
//! After the wait the previous set is reachable only by the reader: new writers get tokens
//! of the other sign, and all writers with tokens of the old sign have incremented the old
//! end epoch (SeqCst read-modify-write after their last write, observed by the reader's
//! SeqCst load, so their writes happen-before the reader's reads). The reader reads and
//! clears the set before it can flip again, because both need `&mut IntervalReader`. The
//! writer holds `&mut StageRecorder`, so there is one writer at a time.
//!
//! The reader waits only for a writer already inside `record` (tens of nanoseconds unless
//! the writer thread is preempted); it spins briefly, then yields, then sleeps 50 µs.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::stage::{Stage, STAGE_COUNT};

/// Lowest discernible value: 1 ns.
pub const LATENCY_NS_MIN: u64 = 1;
/// Highest trackable value: 10 s. Larger values are clamped to it (and counted).
pub const LATENCY_NS_MAX: u64 = 10_000_000_000;
/// Significant decimal digits kept (0.1 % relative error).
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A histogram with Arbiter's latency bounds and no auto-resize, so recording never
/// allocates.
///
/// # Panics
/// Never: the bounds are constants valid for `Histogram::new_with_bounds`.
#[must_use]
pub fn latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(LATENCY_NS_MIN, LATENCY_NS_MAX, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid");
    h.auto(false);
    h
}

/// One histogram per stage, all preallocated; the reporter side's accumulator.
#[derive(Debug, Clone)]
pub struct StageHistograms {
    histograms: Vec<Histogram<u64>>,
}

impl Default for StageHistograms {
    fn default() -> Self {
        Self::new()
    }
}

impl StageHistograms {
    /// A set with one empty histogram per [`Stage`].
    #[must_use]
    pub fn new() -> Self {
        StageHistograms {
            histograms: (0..STAGE_COUNT).map(|_| latency_histogram()).collect(),
        }
    }

    /// The histogram of `stage`.
    #[must_use]
    pub fn get(&self, stage: Stage) -> &Histogram<u64> {
        &self.histograms[stage.index()]
    }

    /// The histogram of `stage`, mutably.
    pub fn get_mut(&mut self, stage: Stage) -> &mut Histogram<u64> {
        &mut self.histograms[stage.index()]
    }

    /// Adds every histogram of `other` into this set.
    ///
    /// # Panics
    /// If a histogram cannot be added; impossible with equal bounds.
    pub fn add(&mut self, other: &StageHistograms) {
        for (into, from) in self.histograms.iter_mut().zip(&other.histograms) {
            into.add(from).expect("same bounds");
        }
    }

    /// Empties every histogram (keeps the memory).
    pub fn reset(&mut self) {
        for h in &mut self.histograms {
            h.reset();
        }
    }

    /// Total recorded values over all stages.
    #[must_use]
    pub fn total_count(&self) -> u64 {
        self.histograms.iter().map(Histogram::len).sum()
    }
}

/// A set of stages a recorder tracks, as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageMask(pub u32);

impl StageMask {
    /// A mask of the given stages.
    #[must_use]
    pub fn of(stages: &[Stage]) -> Self {
        StageMask(stages.iter().fold(0, |m, s| m | (1 << s.index())))
    }

    /// Whether `stage` is in the mask.
    #[must_use]
    pub const fn contains(self, stage: Stage) -> bool {
        self.0 & (1 << stage as u32) != 0
    }
}

const _: () = assert!(STAGE_COUNT <= 32, "StageMask has 32 bits");

/// One buffer: a histogram for each tracked stage, `None` for the others.
struct Buffer {
    histograms: [Option<Histogram<u64>>; STAGE_COUNT],
}

impl Buffer {
    fn new(mask: StageMask) -> Self {
        Buffer {
            histograms: core::array::from_fn(|i| {
                mask.contains(Stage::ALL[i]).then(latency_histogram)
            }),
        }
    }
}

/// Writer/reader phaser, see the module docs.
#[derive(Debug)]
struct Phaser {
    start_epoch: AtomicI64,
    even_end_epoch: AtomicI64,
    odd_end_epoch: AtomicI64,
}

impl Phaser {
    fn new() -> Self {
        Phaser {
            start_epoch: AtomicI64::new(0),
            even_end_epoch: AtomicI64::new(0),
            odd_end_epoch: AtomicI64::new(i64::MIN),
        }
    }

    /// Enters a writer critical section; the token's sign names the active buffer.
    #[inline]
    fn writer_enter(&self) -> i64 {
        self.start_epoch.fetch_add(1, Ordering::SeqCst)
    }

    #[inline]
    fn writer_exit(&self, token: i64) {
        if token < 0 {
            self.odd_end_epoch.fetch_add(1, Ordering::SeqCst);
        } else {
            self.even_end_epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Flips the phase and waits for the writers of the previous one; returns the index of
    /// the buffer the previous phase wrote (0 even, 1 odd). Needs exclusive reader access.
    fn flip(&self) -> usize {
        let next_is_even = self.start_epoch.load(Ordering::SeqCst) < 0;
        let initial = if next_is_even { 0 } else { i64::MIN };
        if next_is_even {
            self.even_end_epoch.store(initial, Ordering::SeqCst);
        } else {
            self.odd_end_epoch.store(initial, Ordering::SeqCst);
        }
        let start_at_flip = self.start_epoch.swap(initial, Ordering::SeqCst);
        let previous_end = if next_is_even {
            &self.odd_end_epoch
        } else {
            &self.even_end_epoch
        };
        let mut waits: u32 = 0;
        while previous_end.load(Ordering::SeqCst) != start_at_flip {
            waits = waits.saturating_add(1);
            if waits < 64 {
                core::hint::spin_loop();
            } else if waits < 1_064 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        usize::from(next_is_even)
    }
}

#[inline]
fn buffer_index(token: i64) -> usize {
    usize::from(token < 0)
}

struct Shared {
    name: String,
    mask: StageMask,
    phaser: Phaser,
    buffers: [UnsafeCell<Buffer>; 2],
    /// Values outside [`LATENCY_NS_MIN`, `LATENCY_NS_MAX`] (clamped) or for an untracked
    /// stage (dropped).
    out_of_range: AtomicU64,
    untracked: AtomicU64,
}

// SAFETY: the buffers are only reached under the phaser protocol described in the module
// docs: one writer (`&mut StageRecorder`) in the active buffer, one reader
// (`&mut IntervalReader`) in the inactive buffer after `Phaser::flip`.
unsafe impl Sync for Shared {}
// SAFETY: as above; `Histogram` itself is `Send`.
unsafe impl Send for Shared {}

impl core::fmt::Debug for Shared {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("mask", &self.mask)
            .finish_non_exhaustive()
    }
}

/// The hot-path side: owned by one thread, records stage latencies in nanoseconds.
///
/// ```
/// use arbiter_perf::{stage_recorder, Stage, StageHistograms};
/// let (mut recorder, mut reader) = stage_recorder("gateway", &[Stage::SocketReadToDecoded]);
/// recorder.record(Stage::SocketReadToDecoded, 250);
/// let mut interval = StageHistograms::new();
/// reader.collect_into(&mut interval);
/// assert_eq!(interval.get(Stage::SocketReadToDecoded).len(), 1);
/// ```
#[derive(Debug)]
pub struct StageRecorder {
    shared: Arc<Shared>,
}

/// The reporter side of one [`StageRecorder`]: swaps its buffers and drains the filled one.
#[derive(Debug)]
pub struct IntervalReader {
    shared: Arc<Shared>,
}

/// A recorder for `stages` named `name` (the owning thread's role), and its reader.
/// Allocates both buffers now; nothing is allocated afterwards.
#[must_use]
pub fn stage_recorder(name: &str, stages: &[Stage]) -> (StageRecorder, IntervalReader) {
    let mask = StageMask::of(stages);
    let shared = Arc::new(Shared {
        name: name.to_owned(),
        mask,
        phaser: Phaser::new(),
        buffers: [
            UnsafeCell::new(Buffer::new(mask)),
            UnsafeCell::new(Buffer::new(mask)),
        ],
        out_of_range: AtomicU64::new(0),
        untracked: AtomicU64::new(0),
    });
    (
        StageRecorder {
            shared: Arc::clone(&shared),
        },
        IntervalReader { shared },
    )
}

impl StageRecorder {
    /// Records one latency of `stage`. Never allocates, locks or blocks: two atomic adds
    /// and a histogram increment. A value outside 1 ns..=10 s is clamped and counted; a
    /// stage this recorder does not track is counted and dropped.
    #[inline]
    pub fn record(&mut self, stage: Stage, latency_ns: u64) {
        let shared = &*self.shared;
        let token = shared.phaser.writer_enter();
        // SAFETY: the token's phase buffer belongs to writers until the reader's flip has
        // waited for this critical section to exit; `&mut self` makes us the one writer.
        let buffer = unsafe { &mut *shared.buffers[buffer_index(token)].get() };
        match &mut buffer.histograms[stage.index()] {
            Some(h) => {
                let clamped = latency_ns.clamp(LATENCY_NS_MIN, LATENCY_NS_MAX);
                if clamped != latency_ns {
                    shared.out_of_range.fetch_add(1, Ordering::Relaxed);
                }
                h.saturating_record(clamped);
            }
            None => {
                shared.untracked.fetch_add(1, Ordering::Relaxed);
            }
        }
        shared.phaser.writer_exit(token);
    }

    /// Records `start_ns..end_ns` (saturating at 0 if the clock went backwards).
    #[inline]
    pub fn record_span(&mut self, stage: Stage, start_ns: u64, end_ns: u64) {
        self.record(stage, end_ns.saturating_sub(start_ns));
    }

    /// The recorder's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl IntervalReader {
    /// Flips the recorder's phase, adds what was recorded since the previous call into
    /// `into`, and clears that buffer for reuse. May wait briefly (see module docs).
    ///
    /// # Panics
    /// If histograms cannot be added (impossible: equal bounds).
    pub fn collect_into(&mut self, into: &mut StageHistograms) {
        let shared = &*self.shared;
        let index = shared.phaser.flip();
        // SAFETY: after `flip` no writer is in buffer `index` and none can enter it until
        // the next flip, which needs `&mut self` again.
        let buffer = unsafe { &mut *shared.buffers[index].get() };
        for (stage, slot) in Stage::ALL.iter().zip(buffer.histograms.iter_mut()) {
            if let Some(h) = slot {
                if !h.is_empty() {
                    into.get_mut(*stage).add(&*h).expect("same bounds");
                    h.reset();
                }
            }
        }
    }

    /// The recorder's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Values clamped into range so far.
    #[must_use]
    pub fn out_of_range_count(&self) -> u64 {
        self.shared.out_of_range.load(Ordering::Relaxed)
    }

    /// Values dropped because their stage is not tracked by this recorder.
    #[must_use]
    pub fn untracked_count(&self) -> u64 {
        self.shared.untracked.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_reach_the_reader_once() {
        let (mut rec, mut reader) =
            stage_recorder("t", &[Stage::DecodedToEnqueued, Stage::WireToWire]);
        let mut into = StageHistograms::new();
        for v in 1..=1000 {
            rec.record(Stage::DecodedToEnqueued, v);
        }
        rec.record(Stage::WireToWire, 20_000_000_000);
        rec.record(Stage::JournaledToMatched, 5);
        reader.collect_into(&mut into);
        assert_eq!(into.get(Stage::DecodedToEnqueued).len(), 1000);
        assert_eq!(into.get(Stage::WireToWire).len(), 1);
        assert_eq!(into.get(Stage::JournaledToMatched).len(), 0);
        assert_eq!(reader.out_of_range_count(), 1);
        assert_eq!(reader.untracked_count(), 1);
        // Second phase: only new values.
        rec.record(Stage::DecodedToEnqueued, 7);
        let mut second = StageHistograms::new();
        reader.collect_into(&mut second);
        assert_eq!(second.total_count(), 1);
        // Third flip returns to the first buffer, which was cleared.
        let mut third = StageHistograms::new();
        reader.collect_into(&mut third);
        assert_eq!(third.total_count(), 0);
    }

    #[test]
    fn concurrent_writer_loses_nothing() {
        let (mut rec, mut reader) = stage_recorder("t", &[Stage::EnqueuedToDequeued]);
        let total: u64 = 200_000;
        let writer = std::thread::spawn(move || {
            for i in 0..total {
                rec.record(Stage::EnqueuedToDequeued, 1 + i % 5000);
                if i % 10_000 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut into = StageHistograms::new();
        while !writer.is_finished() {
            reader.collect_into(&mut into);
            std::thread::sleep(Duration::from_millis(1));
        }
        writer.join().unwrap();
        reader.collect_into(&mut into);
        assert_eq!(into.get(Stage::EnqueuedToDequeued).len(), total);
    }

    #[test]
    fn mask_membership() {
        let m = StageMask::of(&[Stage::SocketReadToDecoded, Stage::WireToWire]);
        assert!(m.contains(Stage::SocketReadToDecoded));
        assert!(m.contains(Stage::WireToWire));
        assert!(!m.contains(Stage::EncodedToWritten));
    }
}
