//! The built-in implementations the report CLI verifies, one line each.
//!
//! To add a publisher, add one line to [`entries`]:
//!
//! ```ignore
//! publisher("rstreams::range.map", |n| rstreams::range(0, n).map(|x| x + 1)),
//! ```
//!
//! `make(n)` must return a publisher of exactly `n` items then `on_complete` (`u64::MAX`: an
//! endless stream). [`Builtin::with_failed`] adds a publisher that fails, for the 1.4/1.9 tests.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rstreams::{PublisherExt, overflow::OverflowPolicy};
use rstreams_protocol::reference::{IterPublisher, RangePublisher};
use rstreams_protocol::{BoxPublisher, Error, Publisher};

use crate::helpers::{AsyncHelperPublisher, IdentityProcessor, SyncHelperPublisher};
use crate::outcome::{Settings, SuiteReport};
use crate::processor::{self, IdentityProcessorVerification};
use crate::publisher::{self, PublisherVerification};

/// Makes the failed publisher of an entry, type-erased (downcast to `BoxPublisher<Item>`).
type FailedFn = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;
type Runner = Arc<dyn Fn(&Settings, Option<&FailedFn>) -> SuiteReport + Send + Sync>;

/// One implementation and the suite that verifies it.
#[derive(Clone)]
pub struct Builtin {
    /// The implementation's name in the report.
    pub name: &'static str,
    run: Runner,
    failed: Option<FailedFn>,
}

impl fmt::Debug for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builtin").field("name", &self.name).finish()
    }
}

impl Builtin {
    /// Runs the entry's suite.
    pub fn run(&self, settings: &Settings) -> SuiteReport {
        (self.run)(settings, self.failed.as_ref())
    }

    /// The same publisher entry, with `failed()` as its failed publisher (for the tests of
    /// rules 1.4, 1.6, 1.7 and 1.9 that need one). Its item type must be the entry's.
    pub fn with_failed<T: 'static>(
        self,
        failed: impl Fn() -> BoxPublisher<T> + Send + Sync + 'static,
    ) -> Self {
        Builtin {
            failed: Some(Arc::new(move || Box::new(failed()) as Box<dyn Any>)),
            ..self
        }
    }
}

/// A [`PublisherVerification`] from a closure.
struct FnVerification<F> {
    make: F,
    failed: Option<FailedFn>,
}

impl<P, F> PublisherVerification for FnVerification<F>
where
    F: Fn(u64) -> P,
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + PartialEq + fmt::Debug + 'static,
{
    type Item = P::Item;
    type Pub = P;
    fn create_publisher(&self, elements: u64) -> P {
        (self.make)(elements)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<P::Item>> {
        let any = (self.failed.as_ref()?)();
        any.downcast::<BoxPublisher<P::Item>>().ok().map(|b| *b)
    }
}

/// A publisher entry: `make(n)` builds a publisher of `n` items.
pub fn publisher<P, F>(name: &'static str, make: F) -> Builtin
where
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + PartialEq + fmt::Debug + 'static,
{
    Builtin {
        name,
        failed: None,
        run: Arc::new(move |settings: &Settings, failed: Option<&FailedFn>| {
            let v = FnVerification {
                make: &make,
                failed: failed.cloned(),
            };
            publisher::run(name, &v, settings)
        }),
    }
}

/// A processor entry: `make(buffer)` builds a fresh processor's (input, output), fed in the
/// publisher tests by the synchronous helper publisher.
pub fn processor<I, O, F>(name: &'static str, max_subscribers: u64, make: F) -> Builtin
where
    F: Fn(usize) -> (I, O) + Send + Sync + 'static,
    I: rstreams_protocol::Subscriber<u64> + Send + 'static,
    O: Publisher<Item = u64> + Send + Sync + 'static,
{
    struct V<F> {
        make: F,
        max_subscribers: u64,
    }
    impl<I, O, F> IdentityProcessorVerification for V<F>
    where
        F: Fn(usize) -> (I, O),
        I: rstreams_protocol::Subscriber<u64> + Send + 'static,
        O: Publisher<Item = u64> + Send + Sync + 'static,
    {
        type Item = u64;
        type Input = I;
        type Output = O;
        fn create_identity_processor(&self, buffer: usize) -> (I, O) {
            (self.make)(buffer)
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
        fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
            SyncHelperPublisher::new(elements, |i| i).boxed()
        }
        fn max_supported_subscribers(&self) -> u64 {
            self.max_subscribers
        }
        fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
            // A processor whose upstream failed.
            let (input, output) = (self.make)(crate::processor::TEST_BUFFER_SIZE);
            failing::<u64>().subscribe(input);
            Some(output.boxed())
        }
    }
    let v = Arc::new(V {
        make,
        max_subscribers,
    });
    Builtin {
        name,
        failed: None,
        run: Arc::new(move |s: &Settings, _: Option<&FailedFn>| processor::run(name, &*v, s)),
    }
}

fn failing<T: Send + 'static>() -> BoxPublisher<T> {
    rstreams::error::<T>(Error::msg("a failed publisher for the TCK")).boxed()
}

/// Every publisher and processor the report verifies. One line per implementation.
pub fn entries() -> Vec<Builtin> {
    vec![
        // The protocol crate's reference publishers.
        publisher("protocol::RangePublisher", |n| RangePublisher::new(0, n))
            .with_failed(failing::<u64>),
        publisher("protocol::IterPublisher", |n| IterPublisher::new(0..n))
            .with_failed(failing::<u64>),
        // The TCK's own helpers.
        publisher("tck::SyncHelperPublisher", |n| {
            SyncHelperPublisher::new(n, |i| i)
        })
        .with_failed(failing::<u64>),
        publisher("tck::AsyncHelperPublisher", |n| {
            AsyncHelperPublisher::new(n, |i| i)
        })
        .with_failed(failing::<u64>),
        processor("tck::IdentityProcessor", 1, |b| {
            let p = IdentityProcessor::<u64>::new(b);
            (p.input(), p)
        }),
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
            rstreams::range(0, n)
                .subscribe_on(flow_pool())
                .on_backpressure_buffer(1 << 16, OverflowPolicy::DropOldest)
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
        publisher("rstreams::timer", |n| {
            rstreams::range(0, n).concat_map(
                |x| {
                    rstreams::timer(std::time::Duration::from_micros(10), flow_pool())
                        .map(move |_| x)
                },
                1,
            )
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
                .flat_map(|g| g, 4, 16)
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
        // issue 16: folds, indices, the move-once source
        publisher("rstreams::range.enumerate", |n| {
            rstreams::range(0, n).enumerate().map(|(i, _)| i)
        })
        .with_failed(failing::<u64>),
        // One-item stages: each item is a fold (or a fresh `once`) of its own, flattened back.
        publisher("rstreams::range.fold", |n| {
            rstreams::range(0, n).concat_map(|x| rstreams::range(0, x).fold(x, |a, _| a), 1)
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
    ]
}

/// Runs every built-in entry and both subscriber suites over the reference subscribers; up to
/// `parallel` publisher/processor suites run at once, beside the subscriber suites.
pub fn reports(settings: &Settings, parallel: usize) -> Vec<SuiteReport> {
    timed_reports(settings, parallel)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// [`reports`], with how long each suite took (the subscriber suites' time is their total,
/// given with the first of them).
pub fn timed_reports(settings: &Settings, parallel: usize) -> Vec<(SuiteReport, Duration)> {
    let entries = entries();
    let mut out: Vec<Option<(SuiteReport, Duration)>> = vec![None; entries.len()];
    let next = AtomicUsize::new(0);
    let results = parking_lot::Mutex::new(&mut out);
    let subscribers = std::thread::scope(|scope| {
        // The subscriber suites wait on their own signals; run them beside the pool.
        let subscribers = scope.spawn(|| {
            let start = Instant::now();
            let reports = crate::subscriber::builtin_reports(settings);
            (reports, start.elapsed())
        });
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(entry) = entries.get(i) else { break };
                    let start = Instant::now();
                    let report = entry.run(settings);
                    results.lock()[i] = Some((report, start.elapsed()));
                }
            });
        }
        subscribers.join()
    });
    let mut reports: Vec<(SuiteReport, Duration)> = out.into_iter().flatten().collect();
    match subscribers {
        Ok((subs, took)) => {
            for (i, r) in subs.into_iter().enumerate() {
                reports.push((r, if i == 0 { took } else { Duration::ZERO }));
            }
        }
        Err(_) => tracing::debug!("the subscriber suites panicked; their reports are missing"),
    }
    reports
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
