//! SPSC ring comparison: rtrb vs ringbuf 0.4 vs crossbeam `ArrayQueue`,
//! 64-byte `Copy` messages between two pinned, busy-spinning threads.
//!
//! `hardware/ring_hop/<impl>`: ping-pong round trip / 2 (one hop).
//! `hardware/ring_throughput/<impl>`: one producer streaming to one consumer.
//! `hardware/ring_push_pop/<impl>`: push + pop on one thread (uncontended op cost).
//!
//! Busy-spins two cores: run briefly, on an otherwise idle host:
//! `CARGO_TARGET_DIR=/work/target-hardware cargo bench -p arbiter-hardware --bench ring_compare`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
use ringbuf::HeapRb;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Message {
    sequence: u64,
    payload: [u64; 7],
}
const _: () = assert!(std::mem::size_of::<Message>() == 64);

const CAPACITY: usize = 1024;

trait Tx: Send + 'static {
    fn push(&mut self, message: Message) -> bool;
}
trait Rx: Send + 'static {
    fn pop(&mut self) -> Option<Message>;
}

impl Tx for rtrb::Producer<Message> {
    #[inline]
    fn push(&mut self, message: Message) -> bool {
        rtrb::Producer::push(self, message).is_ok()
    }
}
impl Rx for rtrb::Consumer<Message> {
    #[inline]
    fn pop(&mut self) -> Option<Message> {
        rtrb::Consumer::pop(self).ok()
    }
}
impl Tx for ringbuf::HeapProd<Message> {
    #[inline]
    fn push(&mut self, message: Message) -> bool {
        self.try_push(message).is_ok()
    }
}
impl Rx for ringbuf::HeapCons<Message> {
    #[inline]
    fn pop(&mut self) -> Option<Message> {
        self.try_pop()
    }
}
struct Crossbeam(Arc<ArrayQueue<Message>>);
impl Tx for Crossbeam {
    #[inline]
    fn push(&mut self, message: Message) -> bool {
        self.0.push(message).is_ok()
    }
}
impl Rx for Crossbeam {
    #[inline]
    fn pop(&mut self) -> Option<Message> {
        self.0.pop()
    }
}

fn make_rtrb() -> (rtrb::Producer<Message>, rtrb::Consumer<Message>) {
    rtrb::RingBuffer::new(CAPACITY)
}
fn make_ringbuf() -> (ringbuf::HeapProd<Message>, ringbuf::HeapCons<Message>) {
    HeapRb::<Message>::new(CAPACITY).split()
}
fn make_crossbeam() -> (Crossbeam, Crossbeam) {
    let queue = Arc::new(ArrayQueue::new(CAPACITY));
    (Crossbeam(Arc::clone(&queue)), Crossbeam(queue))
}

fn pin(core_index: usize) {
    if let Some(cores) = core_affinity::get_core_ids() {
        if let Some(core) = cores.get(core_index % cores.len().max(1)) {
            core_affinity::set_for_current(*core);
        }
    }
}

fn message(sequence: u64) -> Message {
    Message {
        sequence,
        payload: [sequence; 7],
    }
}

/// Ping-pong: the bench thread sends, an echo thread on the other core sends it back.
fn bench_hop<T: Tx, R: Rx>(c: &mut Criterion, name: &str, ping: (T, R), pong: (T, R)) {
    let (mut ping_tx, mut ping_rx) = ping;
    let (mut pong_tx, mut pong_rx) = pong;
    let stop = Arc::new(AtomicBool::new(false));
    let echo_stop = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        pin(1);
        loop {
            match ping_rx.pop() {
                Some(message) => {
                    while !pong_tx.push(message) {
                        std::hint::spin_loop();
                    }
                }
                None => {
                    if echo_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
        }
    });
    c.bench_function(&format!("hardware/ring_hop/{name}"), |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for sequence in 0..iterations {
                while !ping_tx.push(message(sequence)) {
                    std::hint::spin_loop();
                }
                loop {
                    if let Some(back) = pong_rx.pop() {
                        debug_assert_eq!(back.sequence, sequence);
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

/// Streaming: the bench thread pushes, a consumer on the other core drains and counts.
fn bench_throughput<T: Tx, R: Rx>(c: &mut Criterion, name: &str, ring: (T, R)) {
    let (mut tx, mut rx) = ring;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (consumer_received, consumer_stop) = (Arc::clone(&received), Arc::clone(&stop));
    let consumer = thread::spawn(move || {
        pin(1);
        let mut count = 0_u64;
        loop {
            match rx.pop() {
                Some(message) => {
                    black_box(message);
                    count += 1;
                    consumer_received.store(count, Ordering::Release);
                }
                None => {
                    if consumer_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
        }
    });
    let mut sent = 0_u64;
    let mut group = c.benchmark_group("hardware/ring_throughput");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                while !tx.push(message(sent)) {
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

/// Push then pop on one thread: the uncontended cost of the two operations,
/// meaningful even on a loaded host where the two-thread figures measure the scheduler.
fn bench_same_thread<T: Tx, R: Rx>(c: &mut Criterion, name: &str, ring: (T, R)) {
    let (mut tx, mut rx) = ring;
    let mut sequence = 0_u64;
    c.bench_function(&format!("hardware/ring_push_pop/{name}"), |b| {
        b.iter(|| {
            sequence += 1;
            assert!(tx.push(message(sequence)));
            black_box(rx.pop())
        });
    });
}

fn rings(c: &mut Criterion) {
    pin(0);
    bench_same_thread(c, "rtrb", make_rtrb());
    bench_same_thread(c, "ringbuf", make_ringbuf());
    bench_same_thread(c, "crossbeam", make_crossbeam());
    bench_hop(c, "rtrb", make_rtrb(), make_rtrb());
    bench_hop(c, "ringbuf", make_ringbuf(), make_ringbuf());
    bench_hop(c, "crossbeam", make_crossbeam(), make_crossbeam());
    bench_throughput(c, "rtrb", make_rtrb());
    bench_throughput(c, "ringbuf", make_ringbuf());
    bench_throughput(c, "crossbeam", make_crossbeam());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = rings
}
criterion_main!(benches);
