//! Criterion benchmarks of the journal, named `journal/<operation>/<param>`.
//!
//! - `journal/append/N`: one append of an N-byte payload into a mapped, pre-faulted
//!   segment, with a `Durability::None` flusher thread preparing spare segments (so
//!   durability and segment preparation stay off the append path). Timed in batches of
//!   [`BATCH`] appends per clock-read pair. Segments roll every 64 MiB; old segments are
//!   deleted outside the timed region so the disk use stays bounded. Includes the
//!   seals: the flusher hashes blocks, the writer places the seal frames.
//! - `journal/iterate/100000x64`: a full read of 100,000 64-byte records (CRC checked)
//!   through `Reader::iter_from_seq`.
//! - `journal/verify/100000x64`: `verify` over the same journal (CRC, sequence, BLAKE3
//!   chain).
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use arbiter_journal::{
    verify, Durability, Journal, JournalConfig, JournalId, Reader, RecordType, Sequence,
    TimestampNs, Writer,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Appends timed between two clock reads.
const BATCH: u64 = 64;

fn config() -> JournalConfig {
    let mut config = JournalConfig::new(JournalId::from_u128(1));
    config.segment_size_bytes = 64 << 20;
    config
}

fn remove_old_segments(writer: &Writer) {
    let current = writer.segment_path().to_path_buf();
    for entry in std::fs::read_dir(writer.dir()).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "seg") && path != current {
            std::fs::remove_file(path).unwrap();
        }
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal/append");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1));
    for size in [64usize, 256] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config();
        cfg.durability = Durability::None;
        let (mut writer, _) = Journal::open(dir.path(), cfg).unwrap();
        // As in production: the flusher prepares the next segment off the append path.
        let flusher = writer.flusher().unwrap().spawn();
        let payload = vec![0x5Au8; size];
        group.throughput(Throughput::Elements(1));
        group.bench_function(size.to_string(), |b| {
            b.iter_custom(|iters| {
                remove_old_segments(&writer);
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = BATCH.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        let sequence = writer.next_sequence();
                        writer
                            .append(
                                RecordType(1),
                                sequence,
                                TimestampNs(sequence.0),
                                black_box(&payload),
                            )
                            .unwrap();
                    }
                    total += start.elapsed();
                    done += n;
                }
                total
            });
        });
        flusher.stop().unwrap();
    }
    group.finish();
}

fn build(dir: &Path, records: u64, size: usize) {
    let (mut writer, _) = Journal::open(dir, config()).unwrap();
    let payload = vec![7u8; size];
    for sequence in 1..=records {
        writer
            .append(
                RecordType(1),
                Sequence(sequence),
                TimestampNs(sequence),
                &payload,
            )
            .unwrap();
    }
    writer.close().unwrap();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 100_000, 64);
    let mut group = c.benchmark_group("journal/iterate");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(100_000));
    let reader = Reader::open(dir.path()).unwrap();
    group.bench_function("100000x64", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            for record in reader.iter_from_seq(Sequence(1)) {
                bytes += record.unwrap().payload().len();
            }
            black_box(bytes)
        });
    });
    group.finish();
    let mut group = c.benchmark_group("journal/verify");
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("100000x64", |b| {
        b.iter(|| {
            let report = verify(dir.path()).unwrap();
            assert!(report.is_ok());
            black_box(report.records)
        });
    });
    group.finish();
}

criterion_group!(benches, append, read);
criterion_main!(benches);
