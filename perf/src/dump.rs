//! Percentile distribution dumps in HdrHistogram's classic text format (Java's
//! `outputPercentileDistribution`, the `.hgrm` files that HdrHistogram's plotter reads).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::recorder::StageHistograms;
use crate::stage::Stage;

/// Reporting steps per half distance to 100 %, as Java's default.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Formats `h` as a classic percentile distribution, values divided by `unit_ratio`
/// (1000.0 turns ns into µs).
///
/// ```text
///        Value     Percentile TotalCount 1/(1-Percentile)
///
///        1.000 0.000000000000          1           1.00
/// ...
/// #[Mean    =        5.000, StdDeviation   =        2.000]
/// #[Max     =       10.000, Total count    =           10]
/// #[Buckets =           24, SubBuckets     =         2048]
/// ```
#[must_use]
pub fn percentile_distribution(h: &Histogram<u64>, unit_ratio: f64) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total: u64 = 0;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = h.highest_equivalent(v.value_iterated_to()) as f64 / unit_ratio;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / unit_ratio,
        h.stdev() / unit_ratio
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / unit_ratio,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h)
    );
    out
}

/// Sub-buckets per bucket, as Java prints it: the power of two covering
/// `2 * 10^significant_digits`.
fn sub_bucket_count(h: &Histogram<u64>) -> u64 {
    (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
}

/// Writes one `STAGE_us.hgrm` file per stage with values (µs) into `dir` (created if
/// missing) and returns their paths. Empty stages are written too, so a dump always has
/// the same files. This is what the daemon calls on the admin `dump` command, on SIGUSR1
/// and at shutdown.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn dump_percentiles(dir: &Path, histograms: &StageHistograms) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(Stage::ALL.len());
    for stage in Stage::ALL {
        let path = dir.join(format!("{}_us.hgrm", stage.name()));
        let text = percentile_distribution(histograms.get(stage), 1000.0);
        let tmp = path.with_extension("hgrm.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::latency_histogram;

    #[test]
    fn classic_format_shape() {
        let mut h = latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let text = percentile_distribution(&h, 1000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("Value") && lines[0].contains("1/(1-Percentile)"));
        assert_eq!(lines[1], "");
        let rows: Vec<&str> = lines[2..]
            .iter()
            .copied()
            .filter(|l| !l.starts_with('#'))
            .collect();
        assert!(rows.len() > 20);
        for row in &rows[..rows.len() - 1] {
            assert_eq!(row.split_whitespace().count(), 4, "{row}");
        }
        let last: Vec<&str> = rows.last().unwrap().split_whitespace().collect();
        assert_eq!(last.len(), 3);
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "10000");
        assert!(text.contains("#[Mean    ="));
        assert!(text.contains("Total count    =        10000]"));
        // Monotone values and counts.
        let mut previous = (0.0f64, 0u64);
        for row in &rows {
            let f: Vec<&str> = row.split_whitespace().collect();
            let value: f64 = f[0].parse().unwrap();
            let count: u64 = f[2].parse().unwrap();
            assert!(value >= previous.0 && count >= previous.1);
            previous = (value, count);
        }
    }

    #[test]
    fn dump_writes_every_stage() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = StageHistograms::new();
        set.get_mut(Stage::WireToWire).record(12_345).unwrap();
        let paths = dump_percentiles(dir.path(), &set).unwrap();
        assert_eq!(paths.len(), Stage::ALL.len());
        let text = std::fs::read_to_string(dir.path().join("wire_to_wire_us.hgrm")).unwrap();
        assert!(text.contains("Total count    =            1]"));
    }
}
