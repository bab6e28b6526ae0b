//! The async bridges (issue 11), each beside its baseline in the same group:
//!
//! * `into_stream`: `range(0, N).publish_on_with(pool, 256).into_stream(256)` summed by a tokio task,
//!   against the same count through `tokio::sync::mpsc::channel(256)` from a producer thread
//!   (target: at least 2x the tokio channel);
//! * `from_stream`: `from_stream(futures::stream::iter(0..N))` polled on the tokio runtime into a
//!   summing subscriber, against the plain stream summed by `StreamExt::fold` in a task on the
//!   same runtime (target: at least 0.5x).
//!
//! N is 10^6 (not the 10^7) so that three loaded runs take minutes; both sides of each
//! ratio use the same N.
//!
//! `cargo bench -p rstreams-benches --bench async_bridge -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::{Arc, mpsc};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use rstreams::bridge::{Spawner, from_stream};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

const N: u64 = 1_000_000;

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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime")
}

fn into_stream(c: &mut Criterion) {
    let rt = runtime();
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let expect = (0..N).fold(0u64, u64::wrapping_add);
    let mut g = c.benchmark_group("async_bridge_into_stream");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("rstreams_publish_on_into_stream_256", |b| {
        b.iter(|| {
            let stream = rstreams::range(0, N)
                .publish_on_with(Arc::clone(&pool), 256)
                .into_stream(256);
            let total = rt
                .block_on(rt.spawn(async move {
                    let mut stream = stream;
                    let mut total = 0u64;
                    while let Some(x) = stream.next().await {
                        total = total.wrapping_add(black_box(x.unwrap()));
                    }
                    total
                }))
                .unwrap();
            assert_eq!(total, expect);
        })
    });
    g.bench_function("tokio_mpsc_channel_256_from_thread", |b| {
        b.iter(|| {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(256);
            let producer = std::thread::spawn(move || {
                for i in 0..N {
                    tx.blocking_send(i).unwrap();
                }
            });
            let total = rt
                .block_on(rt.spawn(async move {
                    let mut total = 0u64;
                    while let Some(x) = rx.recv().await {
                        total = total.wrapping_add(black_box(x));
                    }
                    total
                }))
                .unwrap();
            producer.join().unwrap();
            assert_eq!(total, expect);
        })
    });
    g.finish();
}

fn from_stream_bench(c: &mut Criterion) {
    let rt = runtime();
    let expect = (0..N).fold(0u64, u64::wrapping_add);
    let mut g = c.benchmark_group("async_bridge_from_stream");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("rstreams_from_stream_iter_sum", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            from_stream(
                futures_util::stream::iter(0..N),
                Spawner::tokio(rt.handle().clone()),
            )
            .subscribe(Sum { total: 0, done: tx });
            assert_eq!(rx.recv().unwrap(), expect);
        })
    });
    g.bench_function("stream_iter_fold_in_a_task", |b| {
        b.iter(|| {
            let total = rt
                .block_on(
                    rt.spawn(
                        futures_util::stream::iter(0..N)
                            .fold(0u64, |a, x| async move { a.wrapping_add(black_box(x)) }),
                    ),
                )
                .unwrap();
            assert_eq!(total, expect);
        })
    });
    g.finish();
}

criterion_group!(benches, into_stream, from_stream_bench);
criterion_main!(benches);
