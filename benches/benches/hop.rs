//! Thread hop: `range -> publish_on(pool, 256) -> sum` over 10^7 items, beside its baselines in
//! the same group: crossbeam-channel `bounded(256)` with a producer and a consumer thread, and a
//! hand-written batched SPSC ring (capacity 256, indices published once per batch), the
//! near-physical limit of a two-thread hand-off. Also `subscribe_on(pool) -> publish_on(pool)`,
//! which forces producer and consumer onto different threads.
//!
//! `cargo bench -p rstreams-benches --bench hop -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_utils::{Backoff, CachePadded};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

const N: u64 = 10_000_000;

/// Sums `u64`s with unbounded demand and reports the total on completion.
struct Sum {
    total: u64,
    done: mpsc::Sender<u64>,
}

impl Subscriber<u64> for Sum {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    #[inline]
    fn on_next(&mut self, x: u64) {
        self.total = self.total.wrapping_add(black_box(x));
    }
    fn on_error(&mut self, e: rstreams::Error) {
        panic!("{e}");
    }
    fn on_complete(&mut self) {
        let _ = self.done.send(self.total);
    }
}

fn run_rstreams<P: Publisher<Item = u64>>(p: &P) -> u64 {
    let (tx, rx) = mpsc::channel();
    p.subscribe(Sum { total: 0, done: tx });
    rx.recv().expect("completes")
}

fn crossbeam_bounded(n: u64) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let mut total = 0u64;
    for x in rx {
        total = total.wrapping_add(black_box(x));
    }
    producer.join().unwrap();
    total
}

/// A batched SPSC ring of `u64` (atomic slots, so no unsafe): the producer publishes `tail`
/// once per batch of 32 (or when the ring is full), the consumer publishes `head` once per batch
/// of whatever it found; both spin, then yield, when they must wait.
struct Ring {
    slots: Box<[AtomicU64]>,
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    done: AtomicBool,
}

const CAP: usize = 256;
const BATCH: usize = 32;

fn batched_ring(n: u64) -> u64 {
    let ring = Arc::new(Ring {
        slots: (0..CAP).map(|_| AtomicU64::new(0)).collect(),
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        done: AtomicBool::new(false),
    });
    let r = Arc::clone(&ring);
    let producer = std::thread::spawn(move || {
        let mut tail = 0usize;
        let mut head = 0usize;
        let mut i = 0u64;
        while i < n {
            if tail - head == CAP {
                r.tail.store(tail, Ordering::Release);
                let backoff = Backoff::new();
                loop {
                    head = r.head.load(Ordering::Acquire);
                    if tail - head < CAP {
                        break;
                    }
                    backoff.snooze();
                }
            }
            r.slots[tail % CAP].store(i, Ordering::Relaxed);
            tail += 1;
            i += 1;
            if tail.is_multiple_of(BATCH) {
                r.tail.store(tail, Ordering::Release);
            }
        }
        r.tail.store(tail, Ordering::Release);
        r.done.store(true, Ordering::Release);
    });
    let mut head = 0usize;
    let mut total = 0u64;
    let backoff = Backoff::new();
    loop {
        let tail = ring.tail.load(Ordering::Acquire);
        if tail == head {
            if ring.done.load(Ordering::Acquire) && ring.tail.load(Ordering::Acquire) == head {
                break;
            }
            backoff.snooze();
            continue;
        }
        backoff.reset();
        while head != tail {
            total = total.wrapping_add(black_box(ring.slots[head % CAP].load(Ordering::Relaxed)));
            head += 1;
        }
        ring.head.store(head, Ordering::Release);
    }
    producer.join().unwrap();
    total
}

fn hop(c: &mut Criterion) {
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let expected = (0..N).fold(0u64, u64::wrapping_add);
    let mut g = c.benchmark_group("hop_1e7");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("crossbeam_bounded_256", |b| {
        b.iter(|| assert_eq!(crossbeam_bounded(N), expected))
    });
    g.bench_function("batched_spsc_ring_256", |b| {
        b.iter(|| assert_eq!(batched_ring(N), expected))
    });
    let publish_on = rstreams::range(0, N).publish_on(Arc::clone(&pool), 256);
    g.bench_function("publish_on_256", |b| {
        b.iter(|| assert_eq!(run_rstreams(&publish_on), expected))
    });
    let two_threads = rstreams::range(0, N)
        .subscribe_on(Arc::clone(&pool))
        .publish_on(Arc::clone(&pool), 256);
    g.bench_function("subscribe_on_publish_on_256", |b| {
        b.iter(|| assert_eq!(run_rstreams(&two_threads), expected))
    });
    g.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);
