//! Thread hop: `range -> publish_on_with(pool, 256) -> sum` over 10^7 items, beside its baselines in
//! the same group: crossbeam-channel `bounded(256)` with a producer and a consumer thread, and a
//! hand-written batched SPSC ring (capacity 256, indices published once per batch), the
//! near-physical limit of a two-thread hand-off. Also `subscribe_on(pool) -> publish_on(pool)`,
//! which forces producer and consumer onto different threads.
//!
//! `cargo bench -p rstreams-benches --bench hop -- --warm-up-time 1 --measurement-time 5`
//!
//! Extra modes, chosen by environment variable, print a table and exit instead of running
//! criterion (see `docs/performance.md`, "Thread hop and pool"):
//!
//! * `HOP_SWITCHES=1`: context switches (voluntary = parks, involuntary = preemptions) per 10^6
//!   items for the channel, the ring and the two-thread hop, summed over every thread of the
//!   process from `/proc/self/task/*/status` (Linux only).
//! * `HOP_TIMES=1`: median ns/item of 5 runs each of the channel, the ring and the hop, no
//!   criterion; `HOP_TIMES=hop` or `HOP_TIMES=ring` runs only that one (for `perf stat` or
//!   callgrind on the process).
//! * `HOP_FAIRNESS=1`: 100 pipelines whose subscriber requests 1 from inside `on_next`, on a
//!   2-worker pool, for 2 s: items per pipeline, min/max ratio.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use criterion::{Criterion, Throughput, criterion_group};
use crossbeam_utils::{Backoff, CachePadded};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams_benches::{switches, thread_switches};

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

/// Runs `p` to completion. A stream that has not completed after a minute (10^7 items take well
/// under 5 s even on a loaded machine) is reported as a hang with the hop's counters (feature
/// `hop-stats`), instead of the benchmark waiting for ever: how session 6 found a lost wake-up.
fn run_rstreams<P: Publisher<Item = u64>>(p: &P) -> u64 {
    let (tx, rx) = mpsc::channel();
    p.subscribe(Sum { total: 0, done: tx });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(total) => total,
        Err(_) => {
            #[cfg(feature = "hop-stats")]
            eprintln!("hop counters at the hang: {:#?}", rstreams::hop::stats());
            panic!("the hop did not complete within 60 s: a hang (take stacks with gdb first)");
        }
    }
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
    let publish_on = rstreams::range(0, N).publish_on_with(Arc::clone(&pool), 256);
    g.bench_function("publish_on_256", |b| {
        b.iter(|| assert_eq!(run_rstreams(&publish_on), expected))
    });
    let two_threads = rstreams::range(0, N)
        .subscribe_on(Arc::clone(&pool))
        .publish_on_with(Arc::clone(&pool), 256);
    g.bench_function("subscribe_on_publish_on_256", |b| {
        b.iter(|| assert_eq!(run_rstreams(&two_threads), expected))
    });
    g.finish();
}

fn print_switches() {
    const RUNS: u64 = 5;
    let per_million = |d: (u64, u64)| {
        let m = (RUNS * N) as f64 / 1e6;
        (d.0 as f64 / m, d.1 as f64 / m)
    };
    let expected = (0..N).fold(0u64, u64::wrapping_add);
    println!("context switches per 10^6 items ({RUNS} runs of {N} items; voluntary, involuntary)");
    // Channel: the producer thread exits, so it reports its own count.
    let before = switches();
    let mut producer = (0, 0);
    for _ in 0..RUNS {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
        let p = std::thread::spawn(move || {
            for i in 0..N {
                tx.send(i).unwrap();
            }
            thread_switches()
        });
        let mut total = 0u64;
        for x in rx {
            total = total.wrapping_add(black_box(x));
        }
        let s = p.join().unwrap();
        producer = (producer.0 + s.0, producer.1 + s.1);
        assert_eq!(total, expected);
    }
    let after = switches();
    let d = per_million((
        after.0 - before.0 + producer.0,
        after.1 - before.1 + producer.1,
    ));
    println!("crossbeam_bounded_256          {:>10.1} {:>10.1}", d.0, d.1);
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let two_threads = rstreams::range(0, N)
        .subscribe_on(Arc::clone(&pool))
        .publish_on_with(Arc::clone(&pool), 256);
    assert_eq!(run_rstreams(&two_threads), expected); // warm the pool's threads up
    #[cfg(feature = "hop-stats")]
    let stats_before = rstreams::hop::stats();
    let before = switches();
    for _ in 0..RUNS {
        assert_eq!(run_rstreams(&two_threads), expected);
    }
    let after = switches();
    let d = per_million((after.0 - before.0, after.1 - before.1));
    println!("subscribe_on_publish_on_256    {:>10.1} {:>10.1}", d.0, d.1);
    #[cfg(feature = "hop-stats")]
    print_hop_stats(stats_before, rstreams::hop::stats(), RUNS * N);
}

/// The hop's own counters (feature `hop-stats`) per 10^6 items, and items per pass and per
/// look at the ring's tail.
#[cfg(feature = "hop-stats")]
fn print_hop_stats(a: rstreams::hop::HopStats, b: rstreams::hop::HopStats, items: u64) {
    let m = items as f64 / 1e6;
    let per = |x: u64, y: u64| (x - y) as f64 / m;
    println!("hop counters per 10^6 items (feature hop-stats):");
    println!(
        "  drain tasks {:.1}, parks {:.1}, claims {:.1} (by a push {:.1}), idle polls {:.1}",
        per(b.drain_tasks, a.drain_tasks),
        per(b.parks, a.parks),
        per(b.claims + b.claims_by_push, a.claims + a.claims_by_push),
        per(b.claims_by_push, a.claims_by_push),
        per(b.spins, a.spins)
    );
    println!(
        "  passes {:.1} ({:.1} items each), tail looks {:.1} ({:.1} empty; {:.1} items per look that found some)",
        per(b.passes, a.passes),
        (b.items - a.items) as f64 / (b.passes - a.passes).max(1) as f64,
        per(b.tail_looks, a.tail_looks),
        per(b.tail_looks_empty, a.tail_looks_empty),
        (b.items - a.items) as f64
            / ((b.tail_looks - a.tail_looks) - (b.tail_looks_empty - a.tail_looks_empty)).max(1)
                as f64
    );
    println!(
        "  replenishing requests {:.1}, requests through the lane {:.1} ({:.1} scheduled the lane), \
         owed signals paid at a burst's end {:.1}",
        per(b.replenishes, a.replenishes),
        per(b.lane_requests, a.lane_requests),
        per(b.lane_schedules, a.lane_schedules),
        per(b.owed_signals, a.owed_signals)
    );
}

/// The replenishing consumer of issue 17.3, counting what it receives.
struct Counting {
    sub: Option<Box<dyn Subscription>>,
    seen: Arc<AtomicU64>,
}

impl Subscriber<u64> for Counting {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(1);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        if let Some(s) = &self.sub {
            s.request(1);
        }
    }
    fn on_error(&mut self, _: rstreams::Error) {}
    fn on_complete(&mut self) {}
}

fn print_fairness() {
    const PIPELINES: usize = 100;
    let pool = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let scheduler: Arc<dyn Scheduler> = pool.clone();
    let counters: Vec<Arc<AtomicU64>> = (0..PIPELINES).map(|_| Arc::default()).collect();
    for seen in &counters {
        rstreams::range(0, u64::MAX / 2)
            .publish_on_with(Arc::clone(&scheduler), 16)
            .subscribe(Counting {
                sub: None,
                seen: Arc::clone(seen),
            });
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let counts: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let min = *counts.iter().min().unwrap();
    let max = *counts.iter().max().unwrap();
    let total: u64 = counts.iter().sum();
    println!(
        "fairness after 2 s: {PIPELINES} pipelines, {total} items, min {min}, max {max}, \
         min/max {:.3}, pipelines with items {}",
        min as f64 / max.max(1) as f64,
        counts.iter().filter(|c| **c > 0).count()
    );
    let started = std::time::Instant::now();
    pool.shutdown_now();
    println!("shutdown_now returned after {:?}", started.elapsed());
}

/// Median ns/item of `runs` runs of `f` over `N` items.
fn median_ns(runs: usize, mut f: impl FnMut() -> u64) -> f64 {
    let expected = (0..N).fold(0u64, u64::wrapping_add);
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = std::time::Instant::now();
            assert_eq!(f(), expected);
            started.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// A quick side-by-side without criterion: median ns/item of 5 runs each (for A/B work).
fn print_times() {
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let two_threads = rstreams::range(0, N)
        .subscribe_on(Arc::clone(&pool))
        .publish_on_with(Arc::clone(&pool), 256);
    if std::env::var("HOP_TIMES").as_deref() == Ok("ring") {
        // Only the batched ring (for counting its instructions per item with callgrind).
        println!("ring ns/item: {:.2}", median_ns(5, || batched_ring(N)));
        return;
    }
    if std::env::var("HOP_TIMES").as_deref() == Ok("hop") {
        // Only the hop (for `perf stat` on this process).
        println!(
            "hop ns/item: {:.1}",
            median_ns(5, || run_rstreams(&two_threads))
        );
        return;
    }
    let cb = median_ns(5, || crossbeam_bounded(N));
    let ring = median_ns(5, || batched_ring(N));
    let hop = median_ns(5, || run_rstreams(&two_threads));
    println!(
        "ns/item (median of 5): crossbeam {cb:.1}, ring {ring:.2}, hop {hop:.1}; \
         hop vs crossbeam {:.2}x, vs ring {:.3}x",
        cb / hop,
        ring / hop
    );
}

criterion_group!(benches, hop);

fn main() {
    if std::env::var_os("HOP_SWITCHES").is_some() {
        print_switches();
        return;
    }
    if std::env::var_os("HOP_TIMES").is_some() {
        print_times();
        return;
    }
    if std::env::var_os("HOP_FAIRNESS").is_some() {
        print_fairness();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
