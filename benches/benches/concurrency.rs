//! Concurrency operators and multicast against the simplest crossbeam-channel equivalents.
//!
//! Read each group's ratio from one run (these 2-core machines swing from run to run):
//!
//! * `flat_map_1000x1000_c16`: 1000 inner ranges of 1000 items merged with concurrency 16 and
//!   inner prefetch 256, summed. Baselines: a producer thread sending every inner's items into
//!   a crossbeam `bounded(256)` read by the consumer; and the nested loop (no hand-off at all).
//!   `rstreams_sync_inners` merges synchronous inners on the calling thread;
//!   `rstreams_pool_inners` runs each inner on a 2-worker pool (`publish_on_with(pool, 256)`), so
//!   16 inners really signal concurrently into the merge.
//! * `flat_map_just_1e6`: `range(0, 10^6).flat_map(just)` (Reactor's defaults: concurrency 256,
//!   prefetch 32), summed on the calling thread: every inner is a scalar (issue 14.2's fast
//!   path). Baselines: the plain loop; a producer thread sending into a crossbeam `bounded(256)`.
//! * `multicast_4x1e6`: 10^6 items to 4 subscribers, each on its own thread. Baseline: a
//!   producer thread sending each item into 4 crossbeam `bounded(256)` channels, one consumer
//!   thread per channel. rstreams: a `Multicast` (256 per subscriber, Hold) with 4
//!   `blocking_iter_with(256)` consumer threads; `_publish_on`: each subscriber behind
//!   `publish_on_with(pool, 256)` on a 2-worker pool; `_same_thread`: four summing subscribers on
//!   the producing thread (the fan-out cost alone).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rstreams::PublisherExt as _;
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::multicast::Multicast;
use rstreams::prelude::*;
use rstreams_benches::{Demand, SumSubscriber};

const INNERS: u64 = 1000;
const INNER_LEN: u64 = 1000;
const ITEMS: u64 = 1_000_000;
const EXPECTED: u64 = ITEMS * (ITEMS - 1) / 2;

fn flat_map(c: &mut Criterion) {
    let mut g = c.benchmark_group("flat_map_1000x1000_c16");
    g.throughput(Throughput::Elements(INNERS * INNER_LEN));
    g.sample_size(10);
    g.bench_function("nested_loop", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for x in 0..black_box(INNERS) {
                for i in x * INNER_LEN..(x + 1) * INNER_LEN {
                    sum = sum.wrapping_add(black_box(i));
                }
            }
            assert_eq!(sum, EXPECTED);
        })
    });
    g.bench_function("crossbeam_bounded_256", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
            let producer = std::thread::spawn(move || {
                for x in 0..INNERS {
                    for i in x * INNER_LEN..(x + 1) * INNER_LEN {
                        tx.send(i).unwrap();
                    }
                }
            });
            let mut sum = 0u64;
            for i in rx {
                sum = sum.wrapping_add(black_box(i));
            }
            producer.join().unwrap();
            assert_eq!(sum, EXPECTED);
        })
    });
    g.bench_function("rstreams_sync_inners", |b| {
        b.iter(|| {
            let out = Arc::new(AtomicU64::new(0));
            rstreams::range(0, INNERS)
                .flat_map_with(|x| rstreams::range(x * INNER_LEN, INNER_LEN), 16, 256)
                .subscribe(SumSubscriber::new(
                    Demand::Batched {
                        batch: 256,
                        low: 64,
                    },
                    Arc::clone(&out),
                ));
            assert_eq!(out.load(Ordering::Acquire), EXPECTED);
        })
    });
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    g.bench_function("rstreams_pool_inners", |b| {
        b.iter(|| {
            let p = Arc::clone(&pool);
            let sum = rstreams::range(0, INNERS)
                .flat_map_with(
                    move |x| {
                        rstreams::range(x * INNER_LEN, INNER_LEN)
                            .publish_on_with(Arc::clone(&p), 256)
                    },
                    16,
                    256,
                )
                .reduce(|a, b| a.wrapping_add(b))
                .blocking_first()
                .unwrap()
                .unwrap();
            assert_eq!(sum, EXPECTED);
        })
    });
    g.finish();
}

/// `flat_map` whose inners are all `just(x)`: the scalar fast path (issue 14.2).
fn flat_map_just(c: &mut Criterion) {
    let mut g = c.benchmark_group("flat_map_just_1e6");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(10);
    g.bench_function("plain_loop", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for i in 0..black_box(ITEMS) {
                sum = sum.wrapping_add(black_box(i));
            }
            assert_eq!(sum, EXPECTED);
        })
    });
    g.bench_function("crossbeam_bounded_256", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
            let producer = std::thread::spawn(move || {
                for i in 0..ITEMS {
                    tx.send(i).unwrap();
                }
            });
            let mut sum = 0u64;
            for i in rx {
                sum = sum.wrapping_add(black_box(i));
            }
            producer.join().unwrap();
            assert_eq!(sum, EXPECTED);
        })
    });
    g.bench_function("rstreams_just_inners", |b| {
        b.iter(|| {
            let out = Arc::new(AtomicU64::new(0));
            rstreams::range(0, ITEMS)
                .flat_map(rstreams::just)
                .subscribe(SumSubscriber::new(
                    Demand::Batched {
                        batch: 256,
                        low: 64,
                    },
                    Arc::clone(&out),
                ));
            assert_eq!(out.load(Ordering::Acquire), EXPECTED);
        })
    });
    g.finish();
}

fn multicast(c: &mut Criterion) {
    let mut g = c.benchmark_group("multicast_4x1e6");
    g.throughput(Throughput::Elements(ITEMS * 4));
    g.sample_size(10);
    g.bench_function("crossbeam_bounded_256_x4", |b| {
        b.iter(|| {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..4)
                .map(|_| crossbeam_channel::bounded::<u64>(256))
                .unzip();
            let consumers: Vec<_> = rxs
                .into_iter()
                .map(|rx| {
                    std::thread::spawn(move || {
                        rx.iter().fold(0u64, |a, i| a.wrapping_add(black_box(i)))
                    })
                })
                .collect();
            let producer = std::thread::spawn(move || {
                for i in 0..ITEMS {
                    for tx in &txs {
                        tx.send(i).unwrap();
                    }
                }
            });
            producer.join().unwrap();
            for h in consumers {
                assert_eq!(h.join().unwrap(), EXPECTED);
            }
        })
    });
    g.bench_function("rstreams_multicast_256_x4", |b| {
        b.iter(|| {
            let hub = Multicast::<u64>::new(256);
            let consumers: Vec<_> = (0..4)
                .map(|_| {
                    let it = hub.blocking_iter_with(256);
                    std::thread::spawn(move || {
                        it.fold(0u64, |a, i| a.wrapping_add(black_box(i.unwrap())))
                    })
                })
                .collect();
            rstreams::range(0, ITEMS).subscribe(hub.clone());
            for h in consumers {
                assert_eq!(h.join().unwrap(), EXPECTED);
            }
        })
    });
    // Each subscriber behind its own thread hop (publish_on a 2-worker pool, 256).
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    g.bench_function("rstreams_multicast_256_x4_publish_on", |b| {
        b.iter(|| {
            let hub = Multicast::<u64>::new(256);
            let (tx, rx) = crossbeam_channel::bounded::<u64>(4);
            let _subs: Vec<_> = (0..4)
                .map(|_| {
                    let sum = Arc::new(AtomicU64::new(0));
                    let s2 = Arc::clone(&sum);
                    let tx = tx.clone();
                    hub.clone()
                        .publish_on_with(Arc::clone(&pool), 256)
                        .subscribe_with(
                            move |x| {
                                let v = s2.load(Ordering::Relaxed);
                                s2.store(v.wrapping_add(black_box(x)), Ordering::Relaxed);
                            },
                            |e| panic!("{e}"),
                            move || tx.send(sum.load(Ordering::Relaxed)).unwrap(),
                        )
                })
                .collect();
            rstreams::range(0, ITEMS).subscribe(hub.clone());
            for _ in 0..4 {
                assert_eq!(rx.recv().unwrap(), EXPECTED);
            }
        })
    });
    // The fan-out alone: four summing subscribers on the calling thread (no hand-off).
    g.bench_function("rstreams_multicast_256_x4_same_thread", |b| {
        b.iter(|| {
            let hub = Multicast::<u64>::new(256);
            let outs: Vec<_> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
            for out in &outs {
                hub.subscribe(SumSubscriber::new(
                    Demand::Batched {
                        batch: 256,
                        low: 64,
                    },
                    Arc::clone(out),
                ));
            }
            rstreams::range(0, ITEMS).subscribe(hub.clone());
            for out in &outs {
                assert_eq!(out.load(Ordering::Acquire), EXPECTED);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, flat_map, flat_map_just, multicast);
criterion_main!(benches);
