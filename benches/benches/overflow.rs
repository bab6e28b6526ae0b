//! The overflow policy stage (`on_backpressure_*`, issue 13 item 1) against the bare range.
//!
//! Read each group's ratio `range / <policy>` from one run: `range(0, N)` into a
//! `SumSubscriber`, directly (the baseline) and through the policy stage, with unbounded demand
//! (`overflow/unbounded`) and batched demand (`overflow/batched_256_192`: the stage buffers
//! while the subscriber's demand runs low). Every item crosses the stage's queue and drain.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rstreams::overflow::OverflowPolicy;
use rstreams::prelude::*;
use rstreams_benches::{DEMANDS, Demand, SumSubscriber};

const N: u64 = 1_000_000;

/// Subscribes from generic code, so the range's fused inherent paths play no part.
fn run<P: Publisher<Item = u64>>(p: &P, demand: Demand) -> u64 {
    let out = Arc::new(AtomicU64::new(0));
    p.subscribe(SumSubscriber::new(demand, Arc::clone(&out)));
    out.load(std::sync::atomic::Ordering::SeqCst)
}

fn overflow(c: &mut Criterion) {
    for (name, demand) in DEMANDS {
        let mut group = c.benchmark_group(format!("overflow/{name}"));
        group.throughput(Throughput::Elements(N));
        group.sample_size(10);
        let range = rstreams::range(0, N);
        group.bench_function("range", |b| b.iter(|| run(&range, demand)));
        let buffer = rstreams::range(0, N).on_backpressure_buffer(1024, OverflowPolicy::Error);
        group.bench_function("buffer_1024", |b| b.iter(|| run(&buffer, demand)));
        let latest = rstreams::range(0, N).on_backpressure_latest();
        group.bench_function("latest", |b| b.iter(|| run(&latest, demand)));
        let unbounded = rstreams::range(0, N).on_backpressure_buffer_unbounded();
        group.bench_function("buffer_unbounded", |b| b.iter(|| run(&unbounded, demand)));
        group.finish();
    }
}

criterion_group!(benches, overflow);
criterion_main!(benches);
