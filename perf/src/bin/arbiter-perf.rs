//! `arbiter-perf`: read `.hlog` interval logs: summaries, plots, comparisons.
#![deny(missing_docs)]

use std::path::PathBuf;
use std::process::ExitCode;

use arbiter_perf::plot::{
    compare_table, plot_svg, summarize_file, summary_table, PlotSeries, TagSummary,
};
use clap::{Parser, Subcommand};

/// Latency interval log tools for Arbiter.
#[derive(Parser, Debug)]
#[command(name = "arbiter-perf", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Percentile table (µs) per tag, with the interval count and time span.
    Summary {
        /// The interval log.
        file: PathBuf,
        /// Only this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// SVG percentile plot (log 1/(1-p) x axis), one line per file and tag.
    Plot {
        /// Interval logs.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output SVG.
        #[arg(short, long)]
        output: PathBuf,
        /// Only these tags (repeat; default: all).
        #[arg(long)]
        tag: Vec<String>,
        /// Plot title.
        #[arg(long, default_value = "Latency by percentile")]
        title: String,
    },
    /// Side-by-side percentiles of two logs, with B/A ratios.
    Compare {
        /// Baseline log.
        a: PathBuf,
        /// Candidate log.
        b: PathBuf,
        /// Only this tag.
        #[arg(long)]
        tag: Option<String>,
    },
}

fn load(path: &std::path::Path, tags: &[String]) -> Result<Vec<TagSummary>, String> {
    let summaries = summarize_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(summaries
        .into_iter()
        .filter(|s| tags.is_empty() || tags.contains(&s.tag))
        .collect())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Summary { file, tag } => {
            let tags: Vec<String> = tag.into_iter().collect();
            let summaries = load(&file, &tags)?;
            print!("{}", summary_table(&summaries));
        }
        Command::Plot {
            files,
            output,
            tag,
            title,
        } => {
            let mut series = Vec::new();
            for file in &files {
                let name = file
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                for s in load(file, &tag)? {
                    let label = if files.len() == 1 {
                        s.tag.clone()
                    } else {
                        format!("{name}:{}", s.tag)
                    };
                    series.push(PlotSeries {
                        label,
                        histogram: s.histogram,
                    });
                }
            }
            if series.is_empty() {
                return Err("nothing to plot (no intervals or no matching tag)".into());
            }
            plot_svg(&series, &title, &output)?;
            println!("wrote {} ({} series)", output.display(), series.len());
        }
        Command::Compare { a, b, tag } => {
            let tags: Vec<String> = tag.into_iter().collect();
            let left = load(&a, &tags)?;
            let right = load(&b, &tags)?;
            println!("A = {}\nB = {}", a.display(), b.display());
            print!("{}", compare_table(&left, &right));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("arbiter-perf: {e}");
            ExitCode::FAILURE
        }
    }
}
