//! Criterion benchmarks for the hardware area: the production SPSC ring
//! (`arbiter_hardware::spsc`, rtrb inside) between two pinned threads, and clock reads.
//!
//! The ring benches busy-spin two cores; run briefly on an idle host:
//! `CARGO_TARGET_DIR=/work/target-hardware cargo bench -p arbiter-benches --bench hardware`
//! The rtrb / ringbuf / crossbeam comparison lives in `hardware/benches/ring_compare.rs`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use arbiter_hardware::{allowed_cores, pin_current_thread, spsc, MonoClock, WallClock};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Message {
    sequence: u64,
    payload: [u64; 7],
}
const _: () = assert!(std::mem::size_of::<Message>() == 64);

const CAPACITY: usize = 1024;

fn message(sequence: u64) -> Message {
    Message {
        sequence,
        payload: [sequence; 7],
    }
}

fn pin(index: usize) {
    let cores = allowed_cores();
    if let Some(core) = cores.get(index % cores.len().max(1)) {
        let _ = pin_current_thread(*core);
    }
}

fn ring_hop(c: &mut Criterion) {
    let (mut ping_tx, mut ping_rx) = spsc::channel::<Message>(CAPACITY);
    let (mut pong_tx, mut pong_rx) = spsc::channel::<Message>(CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        pin(1);
        loop {
            match ping_rx.try_pop() {
                Some(message) => {
                    let mut pending = message;
                    while let Err(spsc::Full(back)) = pong_tx.try_push(pending) {
                        pending = back;
                        std::hint::spin_loop();
                    }
                }
                None if echo_stop.load(Ordering::Relaxed) => break,
                None => std::hint::spin_loop(),
            }
        }
    });
    c.bench_function("hardware/ring_hop/rtrb", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for sequence in 0..iterations {
                let mut pending = message(sequence);
                while let Err(spsc::Full(back)) = ping_tx.try_push(pending) {
                    pending = back;
                    std::hint::spin_loop();
                }
                loop {
                    if let Some(back) = pong_rx.try_pop() {
                        black_box(back);
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            start.elapsed() / 2
        });
    });
    stop.store(true, Ordering::Relaxed);
    echo.join().unwrap();
}

fn ring_throughput(c: &mut Criterion) {
    let (mut tx, mut rx) = spsc::channel::<Message>(CAPACITY);
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (consumer_received, consumer_stop) = (Arc::clone(&received), Arc::clone(&stop));
    let consumer = thread::spawn(move || {
        pin(1);
        let mut count = 0_u64;
        loop {
            match rx.try_pop() {
                Some(message) => {
                    black_box(message);
                    count += 1;
                    consumer_received.store(count, Ordering::Release);
                }
                None if consumer_stop.load(Ordering::Relaxed) => break,
                None => std::hint::spin_loop(),
            }
        }
    });
    let mut sent = 0_u64;
    let mut group = c.benchmark_group("hardware/ring_throughput");
    group.throughput(Throughput::Elements(1));
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                let mut pending = message(sent);
                while let Err(spsc::Full(back)) = tx.try_push(pending) {
                    pending = back;
                    std::hint::spin_loop();
                }
                sent += 1;
            }
            while received.load(Ordering::Acquire) < sent {
                std::hint::spin_loop();
            }
            start.elapsed()
        });
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    consumer.join().unwrap();
}

fn rings(c: &mut Criterion) {
    pin(0);
    ring_hop(c);
    ring_throughput(c);
}

fn clocks(c: &mut Criterion) {
    let mut wall = WallClock::new();
    c.bench_function("hardware/clock/wall", |b| {
        b.iter(|| black_box(wall.now_ns()))
    });
    let mono = MonoClock::calibrate();
    eprintln!("hardware/clock/mono source: {:?}", mono.source());
    c.bench_function("hardware/clock/mono", |b| {
        b.iter(|| black_box(mono.now_ns()))
    });
    let fallback = MonoClock::monotonic();
    c.bench_function("hardware/clock/mono_clock_monotonic", |b| {
        b.iter(|| black_box(fallback.now_ns()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = clocks, rings
}
criterion_main!(benches);
