//! The registry of rstreams' own implementations: every publisher and processor the project's
//! TCK report verifies, one row each, after the TCK's reference implementations. The report
//! binary (`./scripts/run`) and this crate's test (`cargo test -p rstreams-tck-builtins`) both
//! run exactly [`entries`], so the two cannot drift.
//!
//! To add a publisher, add one row to [`entries`]:
//!
//! ```ignore
//! publisher("rstreams::range.map", |n| rstreams::range(0, n).map(|x| x + 1)),
//! ```
//!
//! `make(n)` must return a publisher of exactly `n` items then `on_complete` (`u64::MAX`: an
//! endless stream). [`Entry::with_failed`] adds a publisher that fails, for the 1.4/1.9 tests.
#![forbid(unsafe_code)]

use std::sync::Arc;

use rstreams::{PublisherExt, overflow::OverflowPolicy};
use rstreams_protocol::{BoxPublisher, Error, Publisher};
use rstreams_tck::publisher::PublisherVerification;
pub use rstreams_tck::report::{Entry, processor, publisher, publisher_verification};

fn failing<T: Send + 'static>() -> BoxPublisher<T> {
    rstreams::error::<T>(Error::msg("a failed publisher for the TCK")).boxed()
}

/// Every implementation the report verifies: the TCK's reference ones, then one row per
/// rstreams publisher and processor.
pub fn entries() -> Vec<Entry> {
    // The reference publishers and processor first, the reference subscribers last.
    let (subscribers, mut all): (Vec<Entry>, Vec<Entry>) =
        rstreams_tck::report::reference_entries()
            .into_iter()
            .partition(|e| e.tests().0.starts_with("Subscriber"));
    all.extend(rows());
    all.extend(subscribers);
    all
}

fn rows() -> Vec<Entry> {
    vec![
        // The operator crate.
        publisher("rstreams::range", |n| rstreams::range(0, n)).with_failed(failing::<u64>),
        publisher("rstreams::from_iter", |n| rstreams::from_iter(0..n)).with_failed(failing::<u64>),
        publisher("rstreams::range.map", |n| {
            rstreams::range(0, n).map(|x| x * 2)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.filter", |n| {
            rstreams::range(0, n.saturating_mul(2)).filter(|x| x % 2 == 0)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.take", |n| {
            rstreams::range(0, u64::MAX).take(n)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.boxed", |n| rstreams::range(0, n).boxed())
            .with_failed(failing::<u64>),
        publisher("rstreams::defer", |n| {
            rstreams::defer(move || rstreams::range(0, n))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::generate", |n| {
            rstreams::generate(
                || 0u64,
                move |i, sink| {
                    if *i == n {
                        sink.complete()
                    } else {
                        sink.next(*i);
                        *i += 1
                    }
                },
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::concat", |n| {
            rstreams::concat([rstreams::range(0, n / 2), rstreams::range(n / 2, n - n / 2)])
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.filter_map", |n| {
            rstreams::range(0, n.saturating_mul(3)).filter_map(|x| (x % 3 == 1).then_some(x / 3))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.take_while", |n| {
            rstreams::range(0, u64::MAX).take_while(move |x| *x < n)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.skip", |n| {
            rstreams::range(0, n.saturating_add(5)).skip(5)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.skip_while", |n| {
            rstreams::range(0, n.saturating_add(7)).skip_while(|x| *x < 7)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.scan", |n| {
            rstreams::range(0, n).scan(0, |a, x| a + x)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.buffer", |n| {
            rstreams::range(0, n.saturating_mul(3))
                .buffer(3)
                .map(|v| v[0])
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.limit_rate", |n| {
            rstreams::range(0, n).limit_rate(8, 2)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::on_error_resume", |n| {
            let half = n / 2;
            rstreams::concat([rstreams::range(0, half).boxed(), failing::<u64>()])
                .on_error_resume(move |_| rstreams::range(half, n - half))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.on_error_map", |n| {
            rstreams::range(0, n).on_error_map(|e| e)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.taps", |n| {
            rstreams::range(0, n)
                .do_on_next(|_| {})
                .do_on_request(|_| {})
                .do_on_cancel(|| {})
        })
        .with_failed(failing::<u64>),
        // Concurrency operators and multicast (ops 2b).
        publisher("rstreams::range.flat_map", |n| {
            rstreams::range(0, n).flat_map_with(rstreams::just, 4, 8)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.concat_map", |n| {
            rstreams::range(0, n).concat_map(rstreams::just, 4)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::merge", |n| {
            rstreams::merge(
                [rstreams::range(0, n / 2), rstreams::range(n / 2, n - n / 2)],
                8,
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.zip", |n| {
            rstreams::range(0, n).zip(rstreams::range(0, u64::MAX), 8)
        })
        .with_failed(failing::<(u64, u64)>),
        processor("rstreams::Multicast", u64::MAX, |b| {
            let m = rstreams::multicast::Multicast::<u64>::new(b);
            (m.clone(), m)
        }),
        // Thread hops, overflow policies, hot sources and time operators (issue 6, part 2a).
        publisher("rstreams::range.publish_on", |n| {
            rstreams::range(0, n).publish_on_with(flow_pool(), 16)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.subscribe_on", |n| {
            rstreams::range(0, n).subscribe_on(flow_pool())
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.subscribe_on.publish_on", |n| {
            rstreams::range(0, n)
                .subscribe_on(flow_pool())
                .publish_on_with(flow_pool(), 8)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.on_backpressure_buffer(drop_oldest)", |n| {
            // Room for every item the suite asks for: a full buffer drops items by design,
            // and a publisher of `n` items must deliver `n`.
            let room = n.clamp(1 << 16, 1 << 20) as usize;
            rstreams::range(0, n)
                .subscribe_on(flow_pool())
                .on_backpressure_buffer(room, OverflowPolicy::DropOldest)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.on_backpressure_buffer_unbounded", |n| {
            rstreams::range(0, n.min(1 << 20)).on_backpressure_buffer_unbounded()
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::interval.on_backpressure_buffer.take", |n| {
            rstreams::overflow::interval(std::time::Duration::from_micros(20), flow_pool())
                .on_backpressure_buffer(1 << 16, OverflowPolicy::Error)
                .take(n)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.timeout", |n| {
            rstreams::range(0, n).timeout(std::time::Duration::from_secs(3600), flow_pool())
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.delay", |n| {
            rstreams::range(0, n).delay(std::time::Duration::from_micros(20), flow_pool())
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.buffer_timeout", |n| {
            rstreams::range(0, n.saturating_mul(3)).buffer_timeout(
                3,
                std::time::Duration::from_secs(3600),
                flow_pool(),
            )
        }),
        publisher("rstreams::range.retry", |n| rstreams::range(0, n).retry(3))
            .with_failed(failing::<u64>),
        publisher("rstreams::range.retry_backoff", |n| {
            rstreams::range(0, n).retry_backoff(
                3,
                std::time::Duration::from_micros(10),
                std::time::Duration::from_millis(1),
                flow_pool(),
            )
        })
        .with_failed(failing::<u64>),
        // issue 15: operators
        publisher("rstreams::on_error_return", |n| {
            let half = n.min(u64::MAX - 1) / 2;
            rstreams::concat([rstreams::range(0, half).boxed(), failing::<u64>()])
                .on_error_return(half)
                .concat_map(
                    move |x| rstreams::range(x, if x == half { n - half } else { 1 }),
                    1,
                )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::empty.switch_if_empty", |n| {
            rstreams::empty::<u64>().switch_if_empty(rstreams::range(0, n))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::empty.default_if_empty", |n| {
            // The default value is the first item, the rest come after it.
            rstreams::empty::<u64>()
                .default_if_empty(0)
                .take(n.min(1))
                .concat_map(move |x| rstreams::range(x, n), 1)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.start_with", |n| {
            let k = n.min(2);
            rstreams::range(k, n - k).start_with(0..k)
        })
        .with_failed(failing::<u64>),
        // The timer's one tick, on the pool's timer thread, opens the stream (a timer per item
        // would make the 300 007-item tests take minutes).
        publisher("rstreams::timer.concat_map", |n| {
            rstreams::timer(std::time::Duration::from_micros(10), flow_pool())
                .concat_map(move |_| rstreams::range(0, n), 1)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.take_until", |n| {
            rstreams::range(0, n).take_until(rstreams::never::<()>())
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.skip_until", |n| {
            rstreams::range(0, n).skip_until(rstreams::just(()))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.distinct_by", |n| {
            // Every item twice in a row: half are duplicates to drop.
            rstreams::range(0, n.saturating_mul(2))
                .map(|x| x / 2)
                .distinct_by(|x| *x, 4)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.distinct_until_changed", |n| {
            rstreams::range(0, n.saturating_mul(2))
                .map(|x| x / 2)
                .distinct_until_changed()
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::using", |n| {
            rstreams::using(move || n, |n| rstreams::range(0, *n), drop)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::combine_latest", |n| {
            rstreams::combine_latest(rstreams::just(0u64), rstreams::range(0, n), |_, x| *x)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.with_latest_from", |n| {
            rstreams::range(0, n).with_latest_from(rstreams::just(1u64), |x, _| x)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::zip3", |n| {
            rstreams::zip3(
                rstreams::range(0, n),
                rstreams::range(0, u64::MAX),
                rstreams::range(0, u64::MAX),
                8,
            )
            .map(|(a, _, _)| a)
        })
        .with_failed(failing::<u64>),
        // Rate operators drop by design: each inner carries one item, flushed at completion.
        publisher("rstreams::just.debounce", |n| {
            rstreams::range(0, n).concat_map(
                |x| rstreams::just(x).debounce(std::time::Duration::from_secs(3600), flow_pool()),
                1,
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::just.throttle_first", |n| {
            rstreams::range(0, n).concat_map(
                |x| {
                    rstreams::just(x)
                        .throttle_first(std::time::Duration::from_secs(3600), flow_pool())
                },
                1,
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::just.sample", |n| {
            rstreams::range(0, n).concat_map(
                |x| rstreams::just(x).sample(std::time::Duration::from_secs(3600), flow_pool()),
                1,
            )
        })
        .with_failed(failing::<u64>),
        // Sub-streams are flattened back: every group drained concurrently, windows in order.
        publisher("rstreams::range.group_by.flat_map", |n| {
            rstreams::range(0, n)
                .group_by(|x| x % 4, 4, 16)
                .flat_map_with(|g| g, 4, 16)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.window.concat_map", |n| {
            rstreams::range(0, n).window(3).concat_map(|w| w, 1)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.window_timeout.concat_map", |n| {
            rstreams::range(0, n)
                .window_timeout(3, std::time::Duration::from_secs(3600), flow_pool())
                .concat_map(|w| w, 1)
        })
        .with_failed(failing::<u64>),
        // issue 11: async bridges (futures Stream/Future -> Publisher, polled on the flow pool).
        // They poll only with demand, so the failed publishers fail without demand another way:
        // a panicking stream factory (rule 1.4), or a single-use source already consumed (1.11).
        publisher("rstreams::bridge::from_stream_fn", |n| {
            rstreams::bridge::from_stream_fn(move || futures_util::stream::iter(0..n), flow_pool())
        })
        .with_failed(|| {
            rstreams::bridge::from_stream_fn(
                || -> futures_util::stream::Iter<std::ops::Range<u64>> { panic!("factory fails") },
                flow_pool(),
            )
            .boxed()
        }),
        {
            // Single use: one subscriber per publisher (the multi-subscriber tests skip).
            struct FromStream;
            impl PublisherVerification for FromStream {
                type Item = u64;
                type Pub = BoxPublisher<u64>;
                fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
                    rstreams::bridge::from_stream(futures_util::stream::iter(0..n), flow_pool())
                        .boxed()
                }
                fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
                    let once = rstreams::bridge::from_stream(
                        futures_util::stream::iter(0..1u64),
                        flow_pool(),
                    );
                    once.subscribe_consumer(rstreams::Consumer::new(|_: u64| {}));
                    Some(once.boxed())
                }
                fn max_supported_subscribers(&self) -> u64 {
                    1
                }
            }
            publisher_verification("rstreams::bridge::from_stream", FromStream)
        },
        {
            // One item at most: 0 items is the same future behind `skip(1)`, so both lengths
            // are the future's own on_next/on_complete.
            struct FromFuture;
            impl PublisherVerification for FromFuture {
                type Item = u64;
                type Pub = BoxPublisher<u64>;
                fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
                    rstreams::bridge::from_future(async move { 7 + n }, flow_pool())
                        .skip(1 - n.min(1))
                        .boxed()
                }
                fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
                    let once = rstreams::bridge::from_future(async { 7u64 }, flow_pool());
                    once.subscribe_consumer(rstreams::Consumer::new(|_: u64| {}));
                    Some(once.boxed())
                }
                fn max_elements_from_publisher(&self) -> u64 {
                    1
                }
                fn max_supported_subscribers(&self) -> u64 {
                    1
                }
            }
            publisher_verification("rstreams::bridge::from_future", FromFuture)
        },
        // issue 14: the fused synchronous path (one pull kit serving range + map/filter), as
        // concrete-type calls and `rstreams::source::fuse::Fused` take it.
        publisher("rstreams::range.map (fused)", |n| {
            rstreams::source::fuse::Fused(rstreams::range(0, n).map(|x| x * 2))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.filter (fused)", |n| {
            rstreams::source::fuse::Fused(
                rstreams::range(0, n.saturating_mul(2)).filter(|x| x % 2 == 0),
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.map.filter_map (fused)", |n| {
            rstreams::source::fuse::Fused(
                rstreams::range(0, n.saturating_mul(3))
                    .map(|x| x + 1)
                    .filter_map(|x| (x % 3 == 1).then_some(x / 3)),
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.map.take (fused)", |n| {
            rstreams::source::fuse::Fused(rstreams::range(0, u64::MAX).map(|x| x + 1).take(n))
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::from_iter.filter (fused)", |n| {
            rstreams::source::fuse::Fused(
                rstreams::from_iter(0..n.saturating_mul(2)).filter(|x| x % 2 == 1),
            )
        })
        .with_failed(failing::<u64>),
        // issue 15: flat_map_sequential, switch_map
        publisher("rstreams::range.flat_map_sequential", |n| {
            rstreams::range(0, n).flat_map_sequential(rstreams::just, 4, 8)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.flat_map_sequential(pool inners)", |n| {
            // Two items per inner, each inner hopping onto the pool: order across threads.
            rstreams::range(0, n.div_ceil(2)).flat_map_sequential(
                move |x| rstreams::range(x * 2, (n - x * 2).min(2)).publish_on_with(flow_pool(), 2),
                3,
                2,
            )
        })
        .with_failed(failing::<u64>),
        // A synchronous range outer with no demand yet would switch every inner away but the
        // last (as Reactor's switchMap does), so the outer is one item and the inner the stream.
        publisher("rstreams::just.switch_map", |n| {
            rstreams::just(0u64).switch_map(move |_| rstreams::range(0, n))
        })
        .with_failed(failing::<u64>),
        // issue 16: folds, indices, the move-once source
        publisher("rstreams::range.enumerate", |n| {
            rstreams::range(0, n).enumerate().map(|(i, _)| i)
        })
        .with_failed(failing::<u64>),
        // One-item stages: each item is a fold (or a fresh `once`) of its own, flattened back.
        publisher("rstreams::range.fold", |n| {
            // Folds of at most three items each: linear in n (a fold of `0..x` per item was quadratic).
            rstreams::range(0, n).concat_map(|x| rstreams::range(0, x.min(3)).fold(x, |a, _| a), 1)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::once", |n| {
            rstreams::range(0, n).concat_map(rstreams::once, 1)
        })
        .with_failed(failing::<u64>),
        // Rails joined back: in source order on the flow pool, and in arrival order.
        publisher("rstreams::range.parallel.ordered", |n| {
            rstreams::range(0, n)
                .parallel_with(2, 8)
                .run_on(flow_pool())
                .map(|x| x)
                .ordered()
        })
        .with_failed(failing::<u64>),
        // Inline rails (no run_on): arrival order is then deterministic, as the optional 1.11
        // test (same sequence to every subscriber) expects; `ordered` covers the pool.
        publisher("rstreams::range.parallel.sequential", |n| {
            rstreams::range(0, n)
                .parallel_with(2, 8)
                .filter(|_| true)
                .sequential()
        })
        .with_failed(failing::<u64>),
        // issue 12: buffer bill wrappers. The budget's failed publisher is an over-budget
        // pipeline: its rejection (on_subscribe, then on_error) is what the 1.4/1.9 tests check.
        publisher("rstreams::range.with_buffer_budget", |n| {
            rstreams::range(0, n)
                .buffer(1)
                .map(|v| v[0])
                .with_buffer_budget(1)
        })
        .with_failed(|| {
            rstreams::range(0, 10)
                .on_backpressure_buffer_unbounded()
                .with_buffer_budget(1_000)
                .boxed()
        }),
        publisher("rstreams::range.boxed_billed", |n| {
            rstreams::range(0, n).boxed_billed()
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.declare_buffer", |n| {
            rstreams::range(0, n).declare_buffer("tck", rstreams::diag::bill::Bound::Zero)
        })
        .with_failed(failing::<u64>),
        // issue 16: per-rail folds (one value per rail) joined back, on the flow pool. Each
        // item becomes a one-rail fold, so the row emits exactly n items.
        publisher("rstreams::range.parallel.fold.sequential", |n| {
            rstreams::range(0, n).concat_map(
                |x| {
                    rstreams::range(0, 3)
                        .parallel_with(1, 2)
                        .run_on(flow_pool())
                        .fold(x, |a, _| a)
                        .sequential()
                },
                1,
            )
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.parallel.fold.reduce", |n| {
            rstreams::range(0, n).concat_map(
                |x| {
                    rstreams::range(0, 4)
                        .parallel_with(2, 2)
                        .fold(0u64, |a, _| a + 1)
                        .reduce(|a, b| a + b)
                        .map(move |_| x)
                },
                1,
            )
        })
        .with_failed(failing::<u64>),
    ]
}

/// The pool the thread-hop and time entries run on (shared, never shut down).
fn flow_pool() -> Arc<dyn rstreams::executor::Scheduler> {
    static POOL: std::sync::OnceLock<Arc<dyn rstreams::executor::Scheduler>> =
        std::sync::OnceLock::new();
    Arc::clone(POOL.get_or_init(|| {
        Arc::new(
            rstreams::executor::ThreadPool::builder()
                .workers(2)
                .thread_name_prefix("tck-flow")
                .build()
                .expect("the TCK's flow pool"),
        )
    }))
}
