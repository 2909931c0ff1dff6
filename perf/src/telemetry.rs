//! The reporter thread: drains every recorder once per interval, writes the `.hlog`,
//! keeps cumulative histograms for dumps and `/metrics`, and dumps on request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::dump::dump_percentiles;
use crate::hlog::{HlogConfig, HlogError, HlogWriter};
use crate::metrics::{Metrics, MetricsLayout};
use crate::recorder::{IntervalReader, StageHistograms};
use crate::stage::Stage;

/// What the scrapers and dumpers read: the counters plus the latency histograms since
/// start (cumulative) and of the last completed interval. The mutexes are taken by the
/// reporter, the `/metrics` server and dumps only, never by a recording thread.
#[derive(Debug)]
pub struct Telemetry {
    /// Counters and gauges.
    pub metrics: Metrics,
    cumulative: Mutex<StageHistograms>,
    last_interval: Mutex<StageHistograms>,
}

impl Telemetry {
    /// Telemetry for `layout`, with empty histograms.
    #[must_use]
    pub fn new(layout: MetricsLayout) -> Arc<Self> {
        Arc::new(Telemetry {
            metrics: Metrics::new(layout),
            cumulative: Mutex::new(StageHistograms::new()),
            last_interval: Mutex::new(StageHistograms::new()),
        })
    }

    /// Runs `f` on the cumulative histograms.
    pub fn with_cumulative<R>(&self, f: impl FnOnce(&StageHistograms) -> R) -> R {
        f(&self
            .cumulative
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on the last completed interval's histograms.
    pub fn with_last_interval<R>(&self, f: impl FnOnce(&StageHistograms) -> R) -> R {
        f(&self
            .last_interval
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
    }

    /// Writes the cumulative percentile distributions into `dir` (see [`dump_percentiles`]).
    ///
    /// # Errors
    /// The directory or a file cannot be written.
    pub fn dump(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.with_cumulative(|h| dump_percentiles(dir, h))
    }

    fn fold_interval(&self, interval: &StageHistograms) {
        self.cumulative
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(interval);
        let mut last = self
            .last_interval
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.reset();
        last.add(interval);
    }
}

/// How the reporter runs.
#[derive(Clone, Debug)]
pub struct ReporterConfig {
    /// Length of one interval (one `.hlog` line per non-empty stage per interval).
    pub interval: Duration,
    /// Interval log, if any.
    pub hlog: Option<HlogConfig>,
    /// Where dumps go (on request, SIGUSR1 and stop), if anywhere.
    pub dump_dir: Option<PathBuf>,
}

impl Default for ReporterConfig {
    fn default() -> Self {
        ReporterConfig {
            interval: Duration::from_secs(1),
            hlog: None,
            dump_dir: None,
        }
    }
}

/// Drains recorders into interval histograms. Use [`Reporter::tick`] directly (tests,
/// single-threaded tools) or [`Reporter::spawn`] for the daemon's reporter thread.
#[derive(Debug)]
pub struct Reporter {
    config: ReporterConfig,
    telemetry: Arc<Telemetry>,
    readers: Vec<IntervalReader>,
    interval: StageHistograms,
    interval_start: SystemTime,
    hlog: Option<HlogWriter>,
}

impl Reporter {
    /// A reporter for `readers` (more can be added before spawning).
    ///
    /// # Errors
    /// The `.hlog` file cannot be created.
    pub fn new(
        config: ReporterConfig,
        telemetry: Arc<Telemetry>,
        readers: Vec<IntervalReader>,
    ) -> Result<Self, HlogError> {
        let hlog = config.hlog.clone().map(HlogWriter::create).transpose()?;
        Ok(Reporter {
            config,
            telemetry,
            readers,
            interval: StageHistograms::new(),
            interval_start: SystemTime::now(),
            hlog,
        })
    }

    /// Adds the reader of one more recorder.
    pub fn add_reader(&mut self, reader: IntervalReader) {
        self.readers.push(reader);
    }

    /// Ends the current interval: drains every recorder, writes one `.hlog` line per
    /// non-empty stage, folds the interval into the cumulative histograms.
    ///
    /// # Errors
    /// The `.hlog` cannot be written.
    pub fn tick(&mut self) -> Result<(), HlogError> {
        let end = SystemTime::now();
        for reader in &mut self.readers {
            reader.collect_into(&mut self.interval);
        }
        let duration = end
            .duration_since(self.interval_start)
            .unwrap_or(Duration::ZERO);
        if let Some(hlog) = &mut self.hlog {
            for stage in Stage::ALL {
                let h = self.interval.get(stage);
                if !h.is_empty() {
                    hlog.write(stage.name(), self.interval_start, duration, h)?;
                }
            }
            hlog.flush()?;
        }
        self.telemetry.fold_interval(&self.interval);
        self.interval.reset();
        self.interval_start = end;
        Ok(())
    }

    /// Files of the interval log so far.
    #[must_use]
    pub fn hlog_files(&self) -> Vec<PathBuf> {
        self.hlog
            .as_ref()
            .map(|h| h.files().to_vec())
            .unwrap_or_default()
    }

    /// Starts the reporter thread. It ticks every interval, dumps when asked (handle,
    /// SIGUSR1 if [`install_sigusr1_dump`] was called) and, at stop, ticks and dumps once more.
    ///
    /// # Errors
    /// The thread cannot be spawned.
    pub fn spawn(mut self) -> std::io::Result<ReporterHandle> {
        let stop = Arc::new(AtomicBool::new(false));
        let dump = Arc::new(AtomicBool::new(false));
        let (stop_flag, dump_flag) = (Arc::clone(&stop), Arc::clone(&dump));
        let thread = std::thread::Builder::new()
            .name("arbiter-reporter".into())
            .spawn(move || {
                let mut errors = Vec::new();
                let mut next_tick = Instant::now() + self.config.interval;
                loop {
                    let stopping = stop_flag.load(Ordering::Acquire);
                    let dump_now = dump_flag.swap(false, Ordering::AcqRel) || take_sigusr1();
                    if stopping || dump_now || Instant::now() >= next_tick {
                        if let Err(e) = self.tick() {
                            errors.push(e.to_string());
                        }
                        next_tick = Instant::now() + self.config.interval;
                    }
                    if stopping || dump_now {
                        if let Some(dir) = &self.config.dump_dir {
                            if let Err(e) = self.telemetry.dump(dir) {
                                errors.push(format!("dump: {e}"));
                            }
                        }
                    }
                    if stopping {
                        return errors;
                    }
                    let wait = next_tick.saturating_duration_since(Instant::now());
                    std::thread::sleep(wait.min(Duration::from_millis(20)));
                }
            })?;
        Ok(ReporterHandle {
            stop,
            dump,
            thread: Some(thread),
        })
    }
}

/// Controls a spawned reporter.
#[derive(Debug)]
pub struct ReporterHandle {
    stop: Arc<AtomicBool>,
    dump: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<String>>>,
}

impl ReporterHandle {
    /// Asks for a dump at the reporter's next wake-up (within 20 ms); the admin command.
    pub fn request_dump(&self) {
        self.dump.store(true, Ordering::Release);
    }

    /// Final tick and dump, then joins the thread; returns the errors it met.
    #[must_use]
    pub fn stop(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| vec!["reporter panicked".into()])
            })
            .unwrap_or_default()
    }
}

impl Drop for ReporterHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

static SIGUSR1_SEEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigusr1(_signal: libc::c_int) {
    // Async-signal-safe: one atomic store.
    SIGUSR1_SEEN.store(true, Ordering::Release);
}

/// Makes SIGUSR1 request a dump from every spawned reporter (the flag is process-wide).
///
/// # Errors
/// `sigaction` failed.
pub fn install_sigusr1_dump() -> std::io::Result<()> {
    // SAFETY: installs a handler that only stores to an atomic; the sigaction struct is
    // zero-initialised and then filled as documented for sigaction(2).
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = on_sigusr1 as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGUSR1, &action, core::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn take_sigusr1() -> bool {
    SIGUSR1_SEEN.swap(false, Ordering::AcqRel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hlog::read_hlog;
    use crate::recorder::stage_recorder;

    #[test]
    fn tick_writes_hlog_and_accumulates() {
        let dir = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new(MetricsLayout::default());
        let (mut rec, reader) = stage_recorder("gw", &[Stage::WireToWire, Stage::EncodedToWritten]);
        let mut reporter = Reporter::new(
            ReporterConfig {
                hlog: Some(HlogConfig::single(dir.path().join("x.hlog"))),
                ..ReporterConfig::default()
            },
            Arc::clone(&telemetry),
            vec![reader],
        )
        .unwrap();
        for i in 0..100 {
            rec.record(Stage::WireToWire, 1000 + i);
        }
        reporter.tick().unwrap();
        rec.record(Stage::EncodedToWritten, 50);
        reporter.tick().unwrap();
        reporter.tick().unwrap();
        let intervals = read_hlog(&dir.path().join("x.hlog")).unwrap();
        assert_eq!(intervals.len(), 2);
        assert_eq!(intervals[0].tag.as_deref(), Some("wire_to_wire"));
        assert_eq!(intervals[0].histogram.len(), 100);
        assert_eq!(intervals[1].tag.as_deref(), Some("encoded_to_written"));
        telemetry.with_cumulative(|h| assert_eq!(h.total_count(), 101));
        telemetry.with_last_interval(|h| assert_eq!(h.total_count(), 0));
    }

    #[test]
    fn spawned_reporter_dumps_on_request_and_stop() {
        let dir = tempfile::tempdir().unwrap();
        let telemetry = Telemetry::new(MetricsLayout::default());
        let (mut rec, reader) = stage_recorder("seq", &[Stage::JournaledToMatched]);
        let handle = Reporter::new(
            ReporterConfig {
                interval: Duration::from_secs(3600),
                hlog: None,
                dump_dir: Some(dir.path().to_path_buf()),
            },
            Arc::clone(&telemetry),
            vec![reader],
        )
        .unwrap()
        .spawn()
        .unwrap();
        rec.record(Stage::JournaledToMatched, 400);
        handle.request_dump();
        assert!(handle.stop().is_empty());
        let text =
            std::fs::read_to_string(dir.path().join("journaled_to_matched_us.hgrm")).unwrap();
        assert!(text.contains("Total count    =            1]"), "{text}");
    }
}
