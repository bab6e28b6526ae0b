//! rstreams operators against hand-written loops doing the same work into the same sink.
//!
//! Read each group's ratio `plain_loop / pipeline` from one run:
//!
//! * `operators/{unbounded,batched_256_192}`: range -> map -> filter -> sum over 10^7 items;
//!   the baseline loop applies the same map and filter and feeds the same `SumSubscriber`
//!   (which `black_box`es every item, and in batched mode does the same demand bookkeeping).
//!   `plain_loop_heap_sink` is the same loop with the sink behind an escaped pointer.
//!   `pipeline` goes through the concrete types (the fused path, `rstreams::source::fuse`);
//!   `pipeline_stage_by_stage` is the same chain subscribed from generic code.
//! * `blocking_iter`: a range drained through `blocking_iter_with(256)` against iterating the range
//!   (`plain_loop / blocking_iter_256`: the fused iterator; `_subscribed`: from generic code,
//!   the iterator subscribes and the range delivers inside its requests), and the same range emitted on a pool thread
//!   (`subscribe_on(pool)`) against a producer thread feeding a crossbeam `bounded(256)` that the
//!   benchmark thread receives from (`crossbeam_bounded_256 / subscribe_on_blocking_iter_256`).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams_benches::{DEMANDS, SumSubscriber, f, iter_generic, keep, subscribe_generic};

const N: u64 = 10_000_000;
const N_ITER: u64 = 1_000_000;

fn map_filter_sum(c: &mut Criterion) {
    for (name, demand) in DEMANDS {
        let mut group = c.benchmark_group(format!("operators/{name}"));
        group.throughput(Throughput::Elements(N));
        group.sample_size(10);
        group.bench_function("plain_loop", |b| {
            b.iter(|| {
                let mut sink = SumSubscriber::new(demand, Arc::new(AtomicU64::new(0)));
                for i in 0..black_box(N) {
                    let y = f(i);
                    if keep(&y) {
                        sink.on_next(y);
                    }
                }
                black_box(sink.total())
            })
        });
        // The same loop with the sink behind an escaped pointer, as a subscriber always is (it
        // lives in the publisher's heap state): `black_box` then forces its running total
        // through memory on both sides, which isolates what the operators themselves cost.
        group.bench_function("plain_loop_heap_sink", |b| {
            b.iter(|| {
                let mut boxed = Box::new(SumSubscriber::new(demand, Arc::new(AtomicU64::new(0))));
                let sink = black_box(&mut *boxed);
                for i in 0..black_box(N) {
                    let y = f(i);
                    if keep(&y) {
                        sink.on_next(y);
                    }
                }
                black_box(sink.total())
            })
        });
        // The source and sink alone (the filter's work done in the sink's place is left out:
        // every item reaches the sink), to separate the operators' cost from the kit's.
        group.bench_function("range_only", |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                rstreams::range(0, black_box(N)).subscribe(SumSubscriber::new(demand, out.clone()));
                black_box(out.load(Ordering::Acquire))
            })
        });
        // Through the concrete types: the fused path (one source, one subscription).
        group.bench_function("pipeline", |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                rstreams::range(0, black_box(N))
                    .map(f)
                    .filter(keep)
                    .subscribe(SumSubscriber::new(demand, out.clone()));
                black_box(out.load(Ordering::Acquire))
            })
        });
        // The same chain through generic code: stage by stage, each operator its own subscriber.
        group.bench_function("pipeline_stage_by_stage", |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                let chain = rstreams::range(0, black_box(N)).map(f).filter(keep);
                subscribe_generic(&chain, SumSubscriber::new(demand, out.clone()));
                black_box(out.load(Ordering::Acquire))
            })
        });
        group.finish();
    }
}

fn blocking_iter(c: &mut Criterion) {
    let mut group = c.benchmark_group("blocking_iter");
    group.throughput(Throughput::Elements(N_ITER));
    group.sample_size(10);
    group.bench_function("plain_loop", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in 0..black_box(N_ITER) {
                total = total.wrapping_add(black_box(i));
            }
            black_box(total)
        })
    });
    // The fused iterator: it pulls the range itself on this thread.
    group.bench_function("blocking_iter_256", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in rstreams::range(0, black_box(N_ITER)).blocking_iter_with(256) {
                total = total.wrapping_add(black_box(i.unwrap()));
            }
            black_box(total)
        })
    });
    // Through generic code: the iterator subscribes, the range delivers inside its requests.
    group.bench_function("blocking_iter_256_subscribed", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in iter_generic(&rstreams::range(0, black_box(N_ITER)), 256) {
                total = total.wrapping_add(black_box(i.unwrap()));
            }
            black_box(total)
        })
    });
    // Across threads: the producer on another thread, the consumer on this one.
    group.bench_function("crossbeam_bounded_256", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
            let n = black_box(N_ITER);
            let producer = std::thread::spawn(move || {
                for i in 0..n {
                    if tx.send(i).is_err() {
                        break;
                    }
                }
            });
            let mut total = 0u64;
            for i in rx {
                total = total.wrapping_add(black_box(i));
            }
            producer.join().unwrap();
            black_box(total)
        })
    });
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    group.bench_function("subscribe_on_blocking_iter_256", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in rstreams::range(0, black_box(N_ITER))
                .subscribe_on(Arc::clone(&pool))
                .blocking_iter_with(256)
            {
                total = total.wrapping_add(black_box(i.unwrap()));
            }
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, map_filter_sum, blocking_iter);
criterion_main!(benches);
