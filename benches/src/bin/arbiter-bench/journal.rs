//! `arbiter-bench journal`: append N records of one size to a journal with its flusher
//! running on another thread, timing every append.
//!
//! - Every `append` is timed with two `Instant` reads (about 20-40 ns of the figure is the
//!   clock itself) into an HdrHistogram: `append_p50_ns`, `append_p99_ns`.
//! - `records_per_sec`: records over the wall time of the whole append loop.
//! - Durable lag: every 1024th record is sampled; the lag is the time from its append to
//!   the writer seeing the flusher's durable cursor at or past it (checked after every
//!   append with one Acquire load; the tail is waited for after the loop).
//! - With `--signing-key FILE` the flusher signs every seal it makes durable (Ed25519,
//!   off the append path); the summary says `signing=on` and how many checkpoints were
//!   written, so runs with and without show what signing does to append latency.
//! - In `sync` mode the writer never waits per record: the flusher msyncs everything
//!   written so far (group commit) whenever it finds new records.
//!
//! The last line is the machine-read summary:
//!
//! ```text
//! records=N size=B durability=D signing=on|off append_p50_ns=A append_p99_ns=P records_per_sec=R durable_lag_p99_us=L
//! ```
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arbiter_journal::{
    Durability, Journal, JournalConfig, JournalId, RecordType, Sequence, TimestampNs,
};
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;

/// Durability policies selectable on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DurabilityArg {
    /// No msync; the OS writes back.
    None,
    /// msync every 1 ms or 4096 records.
    Batch,
    /// msync whatever is written, continuously (group commit).
    Sync,
}

impl DurabilityArg {
    fn name(self) -> &'static str {
        match self {
            DurabilityArg::None => "none",
            DurabilityArg::Batch => "batch",
            DurabilityArg::Sync => "sync",
        }
    }

    fn policy(self) -> Durability {
        match self {
            DurabilityArg::None => Durability::None,
            DurabilityArg::Batch => Durability::Batch {
                interval_us: 1000,
                records: 4096,
            },
            DurabilityArg::Sync => Durability::Sync,
        }
    }
}

/// Arguments of `arbiter-bench journal`.
#[derive(Args, Debug)]
pub struct JournalArgs {
    /// Records to append.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Durability policy of the flusher.
    #[arg(long, value_enum, default_value_t = DurabilityArg::None)]
    pub durability: DurabilityArg,
    /// Journal directory (default: a fresh temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Segment size in bytes.
    #[arg(long, default_value_t = 256 << 20)]
    pub segment_size: u64,
    /// Writer-side seal backstop in records (0: never; default: the journal's default).
    /// Normally the flusher hashes blocks and the writer only places their seals.
    #[arg(long)]
    pub seal_interval: Option<u32>,
    /// Do not pre-fault segment pages (the first write to each page then takes a fault).
    #[arg(long)]
    pub no_prefault: bool,
    /// Ed25519 secret key file (mode 0600, from `arbiter-replay keygen`): sign every seal
    /// into `checkpoints.sig`, as the daemon does with `journal.signing_key`.
    #[arg(long, value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

/// Every this many records one durable-lag sample is taken.
const LAG_SAMPLE_EVERY: u64 = 1024;

pub fn run(args: &JournalArgs) -> Result<(), String> {
    let temp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().join("journal"));
    let mut config = JournalConfig::new(JournalId::from_u128(0xA4B1_7E40));
    config.segment_size_bytes = args.segment_size;
    config.durability = args.durability.policy();
    config.prefault = !args.no_prefault;
    if let Some(records) = args.seal_interval {
        config.seal_interval_records = records;
    }
    if let Some(path) = &args.signing_key {
        config.signing_key =
            Some(arbiter_journal::SigningKey::load(path).map_err(|e| e.to_string())?);
    }
    let (mut writer, report) = Journal::open(&dir, config).map_err(|e| e.to_string())?;
    let flusher = writer.flusher().map_err(|e| e.to_string())?.spawn();
    let cursor = writer.durable_cursor();
    let first = report.next_sequence.0;

    let mut append_ns =
        Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())?;
    let mut lag_us =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())?;
    let mut pending: VecDeque<(u64, Instant)> = VecDeque::with_capacity(1 << 16);
    let mut payload = vec![0u8; args.size];

    let start = Instant::now();
    for i in 0..args.records {
        let sequence = first + i;
        payload[..args.size.min(8)].copy_from_slice(&sequence.to_le_bytes()[..args.size.min(8)]);
        let t0 = Instant::now();
        writer
            .append(
                RecordType(1),
                Sequence(sequence),
                TimestampNs(sequence),
                &payload,
            )
            .map_err(|e| format!("append {sequence}: {e}"))?;
        let t1 = Instant::now();
        append_ns.saturating_record(
            u64::try_from((t1 - t0).as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        if i % LAG_SAMPLE_EVERY == 0 && pending.len() < pending.capacity() {
            pending.push_back((sequence, t1));
        }
        if let Some(&(oldest, _)) = pending.front() {
            if cursor.get().0 >= oldest {
                let now = Instant::now();
                let durable = cursor.get().0;
                while let Some(&(sampled, at)) = pending.front() {
                    if sampled > durable {
                        break;
                    }
                    lag_us.saturating_record(
                        u64::try_from((now - at).as_micros())
                            .unwrap_or(u64::MAX)
                            .max(1),
                    );
                    pending.pop_front();
                }
            }
        }
    }
    let elapsed = start.elapsed();
    // The tail of the samples: wait for the flusher (bounded).
    while let Some((sampled, at)) = pending.pop_front() {
        if !cursor.wait_for(Sequence(sampled), Duration::from_secs(60)) {
            return Err(format!("sequence {sampled} never became durable"));
        }
        lag_us.saturating_record(
            u64::try_from(at.elapsed().as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        );
    }
    writer.close().map_err(|e| e.to_string())?;
    flusher.stop().map_err(|e| e.to_string())?;

    let records_per_sec = (args.records as f64 / elapsed.as_secs_f64()) as u64;
    println!(
        "dir={} elapsed_ms={} append_p999_ns={} append_max_ns={} durable_lag_p50_us={} durable_lag_max_us={}",
        dir.display(),
        elapsed.as_millis(),
        append_ns.value_at_quantile(0.999),
        append_ns.max(),
        lag_us.value_at_quantile(0.5),
        lag_us.max()
    );
    let checkpoints = std::fs::metadata(dir.join(arbiter_journal::sign::CHECKPOINT_FILE_NAME))
        .map_or(0, |m| {
            m.len() / arbiter_journal::sign::CHECKPOINT_LEN as u64
        });
    println!("checkpoints={checkpoints}");
    println!(
        "records={} size={} durability={} signing={} append_p50_ns={} append_p99_ns={} records_per_sec={} durable_lag_p99_us={}",
        args.records,
        args.size,
        args.durability.name(),
        if args.signing_key.is_some() { "on" } else { "off" },
        append_ns.value_at_quantile(0.5),
        append_ns.value_at_quantile(0.99),
        records_per_sec,
        lag_us.value_at_quantile(0.99)
    );
    Ok(())
}
