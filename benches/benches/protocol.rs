//! The pull kit's emission loop against a plain loop feeding the same subscriber.
//!
//! Read the ratio `plain_loop / range_publisher` within one run: the figure is the ratio.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rstreams_benches::{DEMANDS, SumSubscriber};
use rstreams_protocol::reference::RangePublisher;
use rstreams_protocol::{Publisher, Subscriber};

const N: u64 = 10_000_000;

fn range_to_sum(c: &mut Criterion) {
    for (name, demand) in DEMANDS {
        let mut group = c.benchmark_group(format!("range_to_sum/{name}"));
        group.throughput(Throughput::Elements(N));
        group.sample_size(10);
        group.bench_function("plain_loop", |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                // The same subscriber, fed directly: its per-item work (and, batched, its demand
                // bookkeeping) is on both sides; only the publisher's cost differs.
                let mut sink = SumSubscriber::new(demand, out);
                for i in 0..black_box(N) {
                    sink.on_next(i);
                }
                black_box(sink.total())
            })
        });
        group.bench_function("range_publisher", |b| {
            b.iter(|| {
                let out = Arc::new(AtomicU64::new(0));
                RangePublisher::new(0, black_box(N))
                    .subscribe(SumSubscriber::new(demand, out.clone()));
                black_box(out.load(Ordering::Acquire))
            })
        });
        group.finish();
    }
}

criterion_group!(benches, range_to_sum);
criterion_main!(benches);
