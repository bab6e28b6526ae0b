//! The cost of run-time diagnostics (issue 12.2): the synchronous chain
//! `range(0, 10^6) -> map -> filter -> sum` (the `operators/unbounded` shape) with no metering,
//! with a metered edge before the sink on an enabled registry, and with the same edge on a
//! disabled registry. Same group, so the ratios are the figures: `pipeline / pipeline_metered`
//! (target: enabled loses at most 5%) and `pipeline / pipeline_metered_disabled` (target: no
//! measurable difference). `pipeline_metered_two_edges` adds a second edge right after the
//! source (inside the fused loop). The `stage_by_stage*` trio is the same chain subscribed from
//! generic code (no fusion).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rstreams::diag::Registry;
use rstreams::prelude::*;
use rstreams_benches::{Demand, SumSubscriber, f, keep, subscribe_generic};

const N: u64 = 1_000_000;

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("diag/unbounded");
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);
    let on = Registry::new();
    let off = Registry::disabled();

    group.bench_function("pipeline", |b| {
        b.iter(|| {
            let out = Arc::new(AtomicU64::new(0));
            rstreams::range(0, black_box(N))
                .map(f)
                .filter(keep)
                .subscribe(SumSubscriber::new(Demand::Unbounded, out.clone()));
            black_box(out.load(Ordering::Acquire))
        })
    });
    for (name, registry) in [
        ("pipeline_metered", &on),
        ("pipeline_metered_disabled", &off),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                rstreams::range(0, black_box(N))
                    .map(f)
                    .filter(keep)
                    .metered(registry, "sink")
                    .subscribe(SumSubscriber::new(Demand::Unbounded, out.clone()));
                registry.forget_finished();
                black_box(out.load(Ordering::Acquire))
            })
        });
    }
    group.bench_function("pipeline_metered_two_edges", |b| {
        b.iter(|| {
            let out = Arc::new(AtomicU64::new(0));
            rstreams::range(0, black_box(N))
                .metered(&on, "source")
                .map(f)
                .filter(keep)
                .metered(&on, "sink")
                .subscribe(SumSubscriber::new(Demand::Unbounded, out.clone()));
            on.forget_finished();
            black_box(out.load(Ordering::Acquire))
        })
    });

    group.bench_function("stage_by_stage", |b| {
        b.iter(|| {
            let out = Arc::new(AtomicU64::new(0));
            let chain = rstreams::range(0, black_box(N)).map(f).filter(keep);
            subscribe_generic(&chain, SumSubscriber::new(Demand::Unbounded, out.clone()));
            black_box(out.load(Ordering::Acquire))
        })
    });
    for (name, registry) in [
        ("stage_by_stage_metered", &on),
        ("stage_by_stage_metered_disabled", &off),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                let chain = rstreams::range(0, black_box(N))
                    .map(f)
                    .filter(keep)
                    .metered(registry, "sink");
                subscribe_generic(&chain, SumSubscriber::new(Demand::Unbounded, out.clone()));
                registry.forget_finished();
                black_box(out.load(Ordering::Acquire))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
