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

use std::sync::Arc;

use rstreams::{PublisherExt, overflow::OverflowPolicy};
use rstreams_protocol::{BoxPublisher, Error, Publisher};
pub use rstreams_tck::report::{Entry, processor, publisher};

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
            rstreams::range(0, n).flat_map(rstreams::just, 4, 8)
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
            rstreams::range(0, n).publish_on(flow_pool(), 16)
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.subscribe_on", |n| {
            rstreams::range(0, n).subscribe_on(flow_pool())
        })
        .with_failed(failing::<u64>),
        publisher("rstreams::range.subscribe_on.publish_on", |n| {
            rstreams::range(0, n)
                .subscribe_on(flow_pool())
                .publish_on(flow_pool(), 8)
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
