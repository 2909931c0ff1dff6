//! A progress spinner on standard error, only when it is a terminal: piped and CI output
//! stays clean.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Updates every this many records: cheap enough to never show in a profile.
const TICK_RECORDS: u64 = 1 << 16;

/// A spinner showing records read and the rate, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a spinner labelled `label` if standard error is a terminal.
    #[must_use]
    pub fn new(label: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(label);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// Reports `records` read so far (cheap: acts every [`TICK_RECORDS`]).
    #[inline]
    pub fn tick(&mut self, records: u64) {
        if records % TICK_RECORDS == 0 {
            if let Some(bar) = &self.bar {
                bar.set_position(records);
            }
        }
    }

    /// Removes the spinner.
    pub fn finish(&mut self, records: u64) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(records);
            bar.finish_and_clear();
        }
    }
}
