//! Reading `.hlog` files back for people: per-tag merges, percentile tables, comparisons
//! and SVG percentile plots (HdrHistogram plotter style: latency against `1/(1-p)` on a
//! log axis, so 90 %, 99 %, 99.9 % ... are evenly spaced).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::hlog::{read_hlog, HlogError, HlogInterval};
use crate::recorder::latency_histogram;

/// Percentiles shown in tables.
pub const TABLE_PERCENTILES: [f64; 7] = [50.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];

/// The intervals of one tag merged.
#[derive(Debug, Clone)]
pub struct TagSummary {
    /// Tag (`untagged` when the lines had none).
    pub tag: String,
    /// Intervals merged.
    pub intervals: usize,
    /// Start of the first interval, seconds since the epoch (or since BaseTime).
    pub first_start_s: f64,
    /// End of the last interval.
    pub last_end_s: f64,
    /// The merged histogram (ns).
    pub histogram: Histogram<u64>,
}

/// Merges intervals per tag, in tag order.
///
/// # Panics
/// If histograms of a tag have incompatible bounds (not written by Arbiter).
#[must_use]
pub fn merge_by_tag(intervals: &[HlogInterval]) -> Vec<TagSummary> {
    let mut by_tag: BTreeMap<String, TagSummary> = BTreeMap::new();
    for interval in intervals {
        let tag = interval.tag.clone().unwrap_or_else(|| "untagged".into());
        let entry = by_tag.entry(tag.clone()).or_insert_with(|| TagSummary {
            tag,
            intervals: 0,
            first_start_s: f64::INFINITY,
            last_end_s: f64::NEG_INFINITY,
            histogram: latency_histogram(),
        });
        entry.intervals += 1;
        entry.first_start_s = entry.first_start_s.min(interval.start_s);
        entry.last_end_s = entry.last_end_s.max(interval.start_s + interval.duration_s);
        let mut h = latency_histogram();
        // Clamp foreign values into our range rather than failing.
        for v in interval.histogram.iter_recorded() {
            h.saturating_record_n(
                v.value_iterated_to()
                    .clamp(1, crate::recorder::LATENCY_NS_MAX),
                v.count_at_value(),
            );
        }
        entry.histogram.add(&h).expect("same bounds");
    }
    by_tag.into_values().collect()
}

/// Reads `path` and merges it per tag.
///
/// # Errors
/// See [`read_hlog`].
pub fn summarize_file(path: &Path) -> Result<Vec<TagSummary>, HlogError> {
    Ok(merge_by_tag(&read_hlog(path)?))
}

fn us_at(h: &Histogram<u64>, percentile: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    if percentile >= 100.0 {
        h.max() as f64 / 1000.0
    } else {
        h.value_at_percentile(percentile) as f64 / 1000.0
    }
}

fn percentile_label(p: f64) -> String {
    if p >= 100.0 {
        "max".into()
    } else {
        format!("p{p}")
    }
}

/// A text table: one row per tag, percentiles in µs.
#[must_use]
pub fn summary_table(summaries: &[TagSummary]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "{:<30} {:>9} {:>10} {:>9}",
        "tag", "intervals", "count", "span_s"
    );
    for p in TABLE_PERCENTILES {
        let _ = write!(out, " {:>11}", format!("{}_us", percentile_label(p)));
    }
    let _ = writeln!(out, " {:>11}", "mean_us");
    for s in summaries {
        let _ = write!(
            out,
            "{:<30} {:>9} {:>10} {:>9.3}",
            s.tag,
            s.intervals,
            s.histogram.len(),
            s.last_end_s - s.first_start_s
        );
        for p in TABLE_PERCENTILES {
            let _ = write!(out, " {:>11.3}", us_at(&s.histogram, p));
        }
        let _ = writeln!(out, " {:>11.3}", s.histogram.mean() / 1000.0);
    }
    out
}

/// Side-by-side percentiles (µs) of the tags present in both, with `B/A` ratios.
#[must_use]
pub fn compare_table(a: &[TagSummary], b: &[TagSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30} {:>10} {:>12} {:>12} {:>8}",
        "tag", "percentile", "A_us", "B_us", "B/A"
    );
    for left in a {
        let Some(right) = b.iter().find(|r| r.tag == left.tag) else {
            let _ = writeln!(out, "{:<30} only in A", left.tag);
            continue;
        };
        let _ = writeln!(
            out,
            "{:<30} {:>10} {:>12} {:>12} {:>8}",
            left.tag,
            "count",
            left.histogram.len(),
            right.histogram.len(),
            ""
        );
        for p in TABLE_PERCENTILES {
            let (x, y) = (us_at(&left.histogram, p), us_at(&right.histogram, p));
            let ratio = if x > 0.0 {
                format!("{:.3}", y / x)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "{:<30} {:>10} {:>12.3} {:>12.3} {:>8}",
                left.tag,
                percentile_label(p),
                x,
                y,
                ratio
            );
        }
    }
    for right in b {
        if !a.iter().any(|l| l.tag == right.tag) {
            let _ = writeln!(out, "{:<30} only in B", right.tag);
        }
    }
    out
}

/// One line of a plot.
#[derive(Debug, Clone)]
pub struct PlotSeries {
    /// Legend text.
    pub label: String,
    /// Latencies (ns).
    pub histogram: Histogram<u64>,
}

/// `(x = 1/(1-q), y = µs)` points of a percentile curve, x capped at `x_max`.
#[must_use]
pub fn percentile_curve(h: &Histogram<u64>, x_max: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    if h.is_empty() {
        return points;
    }
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 {
            x_max
        } else {
            (1.0 / (1.0 - q)).min(x_max)
        };
        points.push((
            x,
            h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
        ));
        if q >= 1.0 {
            break;
        }
    }
    points
}

/// Writes an SVG percentile plot of `series` to `out`.
///
/// # Errors
/// Drawing or file errors, as text.
pub fn plot_svg(series: &[PlotSeries], title: &str, out: &Path) -> Result<(), String> {
    let count_max = series
        .iter()
        .map(|s| s.histogram.len())
        .max()
        .unwrap_or(1)
        .max(10);
    // Show nines up to what the data supports (1/(1-p) <= count).
    let decades = (count_max as f64).log10().ceil().clamp(2.0, 7.0);
    let x_max = 10f64.powf(decades);
    let curves: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| percentile_curve(&s.histogram, x_max))
        .collect();
    let y_max = curves.iter().flatten().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let root = SVGBackend::new(out, (1100, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..x_max).log_scale(), 0f64..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 1.0 / x);
            if p < 1e-9 {
                "0%".into()
            } else {
                let text = format!("{p:.5}");
                format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (s, curve)) in series.iter().zip(curves).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(curve, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("{} (n={})", s.label, s.histogram.len()))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_is_monotone_and_ends_at_max() {
        let mut h = latency_histogram();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let curve = percentile_curve(&h, 1e4);
        assert!(curve
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let last = curve.last().unwrap();
        assert!((last.0 - 1e4).abs() < 1e-6);
        assert!((last.1 - h.max() as f64 / 1000.0).abs() < 1.0);
    }

    #[test]
    fn plot_writes_svg() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = latency_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let out = dir.path().join("p.svg");
        plot_svg(
            &[PlotSeries {
                label: "a".into(),
                histogram: h,
            }],
            "t",
            &out,
        )
        .unwrap();
        let svg = std::fs::read_to_string(out).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    }
}
