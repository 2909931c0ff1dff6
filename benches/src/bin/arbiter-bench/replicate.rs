//! `arbiter-bench replicate`: a journal replicated through JetStream, then rebuilt by a
//! standby from the stream.
//!
//! Writes `--records` 32-byte-payload records (64-byte frames) to a fresh journal while the
//! replicator publishes batches of `--batch` records (`--batch` × 64 bytes per message,
//! `--in-flight` awaiting acknowledgement) to a `--replicas` stream; then a standby follows
//! the stream into its own journal (CRC, sequence and hash chain checked, bytes appended
//! verbatim). `--baseline` first measures a plain JetStream publisher on the same servers
//! (`arbiter-bench publish`), so the two can be compared within one run. Starts its own
//! nats-server (a local cluster for `--replicas` > 1) unless `--url` is given. Last line:
//!
//! ```text
//! records=N batch=B replicas=R publish_p50_us=A publish_p99_us=B records_per_sec=C standby_apply_per_sec=D
//! ```
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use arbiter_cluster::{follow, FollowerConfig, Replicator, ReplicatorConfig, StreamSettings};
use arbiter_journal::{
    Durability, Journal, JournalConfig, JournalId, RecordType, Sequence, TimestampNs,
};
use clap::Args;

/// Arguments of `arbiter-bench replicate`.
#[derive(Args, Debug)]
pub struct ReplicateArgs {
    /// Records to replicate.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Records per batch message (64-byte frames: 64 records = 4 KiB).
    #[arg(long, default_value_t = 64)]
    pub batch: u64,
    /// Stream replicas (a local cluster of this many servers is started without --url).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Batches in flight (the replicator's default).
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Use this JetStream instead of starting nats-server.
    #[arg(long)]
    pub url: Option<String>,
    /// First measure a plain JetStream publisher on the same servers (one at a time, and
    /// `--batch` × 64-byte messages with `--in-flight` in flight) and print it on a
    /// `plain:` line before the summary.
    #[arg(long)]
    pub baseline: bool,
}

const FRAME_BYTES: u64 = 64;

/// Runs the benchmark.
///
/// # Errors
/// Any setup, replication or follower failure, as text.
pub fn run(args: &ReplicateArgs) -> Result<(), String> {
    if args.records == 0 || args.batch == 0 || args.replicas == 0 {
        return Err("--records, --batch and --replicas must be at least 1".into());
    }
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (servers, url) =
        crate::publish::servers_for(args.url.as_deref(), args.replicas, store.path())?;
    if args.baseline {
        let single = crate::publish::measure(&url, args.replicas, 2_000, 64, 1, false)?;
        let batches = (args.records / args.batch).clamp(1, 20_000);
        let pipelined = crate::publish::measure(
            &url,
            args.replicas,
            batches,
            usize::try_from(args.batch * FRAME_BYTES).map_err(|e| e.to_string())?,
            args.in_flight,
            false,
        )?;
        println!(
            "plain: one_at_a_time_p50_us={} one_at_a_time_p99_us={} batch_messages={batches} \
             batch_p50_us={} batch_p99_us={} batch_records_per_sec={:.0}",
            single.p50_us,
            single.p99_us,
            pipelined.p50_us,
            pipelined.p99_us,
            pipelined.messages_per_sec * args.batch as f64
        );
    }
    let shard = format!("bench{}", std::process::id());
    let settings = StreamSettings {
        shard: shard.clone(),
        replicas: args.replicas,
        duplicate_window: Duration::from_secs(120),
    };
    let mut config = JournalConfig::new(JournalId::from_u128(u128::from(std::process::id())));
    config.segment_size_bytes = 64 << 20;
    config.durability = Durability::None;
    let leader_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut writer, _) =
        Journal::open(leader_dir.path(), config.clone()).map_err(|e| e.to_string())?;
    let flusher = writer.flusher().map_err(|e| e.to_string())?.spawn();
    let mut replicator_config = ReplicatorConfig::new(
        url.clone(),
        settings,
        leader_dir.path(),
        writer.identity(),
        writer.segment_size_bytes(),
    );
    replicator_config.batch_bytes_max =
        usize::try_from(args.batch * FRAME_BYTES).map_err(|e| e.to_string())?;
    replicator_config.in_flight_max = args.in_flight;
    replicator_config.ack_timeout = Duration::from_secs(30);
    let replicator = Replicator::spawn(replicator_config, Some(writer.durable_cursor()))
        .map_err(|e| e.to_string())?;
    let cursor = replicator.cursor();
    let started = Instant::now();
    for n in 1..=args.records {
        let seq = writer.next_sequence();
        let mut payload = [0u8; 32];
        payload[..8].copy_from_slice(&n.to_le_bytes());
        writer
            .append(RecordType(1), seq, TimestampNs(n), &payload)
            .map_err(|e| e.to_string())?;
        // Keep the writer within a bounded distance of the replicator (a bounded queue).
        if n % 65_536 == 0 {
            while cursor.get().0 + 4 * 65_536 < n && !cursor.is_failed() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    let last = writer.next_sequence().0 - 1;
    writer.close().map_err(|e| e.to_string())?;
    if !cursor.wait_for(Sequence(last), Duration::from_secs(600)) {
        let stalled_at = cursor.get();
        let why = replicator
            .stop()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err(format!("replication stalled at {stalled_at:?}: {why}"));
    }
    let elapsed = started.elapsed();
    let stats = replicator.stats();
    replicator.stop().map_err(|e| e.to_string())?;
    flusher.stop().map_err(|e| e.to_string())?;
    let (p50, p99, batches) = {
        let histogram = stats.publish_latency_us.lock().map_err(|e| e.to_string())?;
        (
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
            histogram.len(),
        )
    };

    let standby_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (mut standby, _) = Journal::open(standby_dir.path(), config).map_err(|e| e.to_string())?;
    let mut follower = FollowerConfig::new(url, shard);
    follower.until = Some(Sequence(last));
    follower.idle_timeout = Some(Duration::from_secs(60));
    let mut applied = 0u64;
    let follow_started = Instant::now();
    let report = follow(
        &follower,
        &mut standby,
        &AtomicBool::new(false),
        &mut |_, _, _, _| {
            applied += 1;
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    let follow_elapsed = follow_started.elapsed();
    if report.applied_through != Sequence(last) || applied != args.records {
        return Err(format!(
            "standby applied {applied} records through {:?}",
            report.applied_through
        ));
    }
    standby.close().map_err(|e| e.to_string())?;
    drop(servers);
    println!(
        "batches={batches} frames={} retries={} standby_batches={}",
        stats.frames.load(std::sync::atomic::Ordering::Relaxed),
        stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        report.batches
    );
    println!(
        "records={} batch={} replicas={} publish_p50_us={p50} publish_p99_us={p99} records_per_sec={:.0} standby_apply_per_sec={:.0}",
        args.records,
        args.batch,
        args.replicas,
        args.records as f64 / elapsed.as_secs_f64(),
        args.records as f64 / follow_elapsed.as_secs_f64()
    );
    Ok(())
}
