//! The TCK over the concurrency operators and the multicast processor, plus a property test of
//! random request/cancel schedules through `flat_map` (synchronous and pool-hopping inners)
//! under the protocol checker.
//!
//! Property cases: `RSTREAMS_PROPTEST_CASES` (default 64 for CI; run by hand with 10000).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use proptest::prelude::*;
use rstreams::PublisherExt;
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::multicast::{Multicast, SlowConsumer};
use rstreams_protocol::{BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::checker::{CheckedSubscriber, CheckerReport};
use rstreams_tck::processor::IdentityProcessorVerification;
use rstreams_tck::publisher::PublisherVerification;

fn failed<P>(op: impl FnOnce(BoxPublisher<u64>) -> P) -> BoxPublisher<P::Item>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    op(rstreams::error::<u64>(Error::msg("upstream failed")).boxed()).boxed()
}

struct FlatMapV;
impl PublisherVerification for FlatMapV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        rstreams::range(0, n)
            .flat_map_with(rstreams::just, 4, 8)
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.flat_map_with(rstreams::just, 4, 8)))
    }
}

struct ConcatMapV;
impl PublisherVerification for ConcatMapV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // Inners of two items (and one of one when n is odd).
        let pairs = n / 2 + n % 2;
        rstreams::range(0, pairs)
            .concat_map(
                move |i| rstreams::range(i * 2, if i * 2 + 1 < n { 2 } else { 1 }),
                4,
            )
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.concat_map(rstreams::just, 4)))
    }
}

struct MergeV;
impl PublisherVerification for MergeV {
    type Item = u64;
    type Pub = rstreams::flat::Merge<rstreams::source::Range>;
    fn create_publisher(&self, n: u64) -> Self::Pub {
        let half = n / 2;
        rstreams::merge(
            vec![rstreams::range(0, half), rstreams::range(half, n - half)],
            8,
        )
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.merge_with(rstreams::range(0, 3), 8)))
    }
}

struct ZipV;
impl PublisherVerification for ZipV {
    type Item = (u64, u64);
    type Pub = rstreams::flat::Zip<rstreams::source::Range, rstreams::source::Range>;
    fn create_publisher(&self, n: u64) -> Self::Pub {
        rstreams::range(0, n).zip(rstreams::range(0, u64::MAX), 8)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<(u64, u64)>> {
        Some(failed(|p| p.zip(rstreams::range(0, 3), 8)))
    }
}

struct MulticastV;
impl IdentityProcessorVerification for MulticastV {
    type Item = u64;
    type Input = Multicast<u64>;
    type Output = Multicast<u64>;
    fn create_identity_processor(&self, buffer: usize) -> (Multicast<u64>, Multicast<u64>) {
        let m = Multicast::with_policy(buffer, SlowConsumer::Hold);
        (m.clone(), m)
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn create_helper_publisher(&self, n: u64) -> BoxPublisher<u64> {
        rstreams_tck::helpers::SyncHelperPublisher::new(n, |i| i).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        let m = Multicast::<u64>::new(4);
        rstreams::error::<u64>(Error::msg("upstream failed")).subscribe(m.clone());
        Some(m.boxed())
    }
}

rstreams_tck::publisher_verification_tests!(flat_map, super::FlatMapV);
rstreams_tck::publisher_verification_tests!(concat_map, super::ConcatMapV);
rstreams_tck::publisher_verification_tests!(merge, super::MergeV);
rstreams_tck::publisher_verification_tests!(zip, super::ZipV);
rstreams_tck::identity_processor_verification_tests!(multicast, super::MulticastV);

// ---------------------------------------------------------------------------------------------
// Random request/cancel schedules through flat_map, under the protocol checker.

fn pool() -> Arc<dyn Scheduler> {
    static POOL: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    Arc::clone(
        POOL.get_or_init(|| Arc::new(ThreadPool::builder().workers(2).build().expect("pool"))),
    )
}

#[derive(Default)]
struct Seen {
    sub: Option<Arc<dyn Subscription>>,
    items: u64,
    done: bool,
}

#[derive(Clone, Default)]
struct Driven(Arc<(Mutex<Seen>, Condvar)>);

impl Subscriber<u64> for Driven {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.0.0.lock().sub = Some(Arc::from(s));
        self.0.1.notify_all();
    }
    fn on_next(&mut self, _: u64) {
        self.0.0.lock().items += 1;
        self.0.1.notify_all();
    }
    fn on_error(&mut self, _: Error) {
        self.0.0.lock().done = true;
        self.0.1.notify_all();
    }
    fn on_complete(&mut self) {
        self.0.0.lock().done = true;
        self.0.1.notify_all();
    }
}

#[derive(Clone, Debug)]
enum Op {
    Request(u64),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..40).prop_map(Op::Request),
        1 => Just(Op::Request(u64::MAX)),
        1 => Just(Op::Cancel),
    ]
}

fn cases() -> u32 {
    std::env::var("RSTREAMS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn flat_map_schedules_never_break_the_protocol(
        outer in 0u64..12,
        inner in 0u64..30,
        concurrency in 1usize..5,
        prefetch in 1usize..9,
        hop in any::<bool>(),
        ops in prop::collection::vec(op(), 1..12),
    ) {
        let report = CheckerReport::new();
        let driven = Driven::default();
        let subscriber = CheckedSubscriber::with_report(driven.clone(), report.clone());
        let p = if hop {
            let s = pool();
            rstreams::range(0, outer)
                .flat_map_with(move |x| rstreams::range(x * 100, inner).publish_on_with(Arc::clone(&s), 4), concurrency, prefetch)
                .boxed()
        } else {
            rstreams::range(0, outer)
                .flat_map_with(move |x| rstreams::range(x * 100, inner), concurrency, prefetch)
                .boxed()
        };
        p.subscribe(subscriber);
        let sub = driven.0.0.lock().sub.clone().expect("on_subscribe is synchronous");
        let mut requested: u64 = 0;
        let mut cancelled = false;
        for o in &ops {
            match o {
                Op::Request(n) => { requested = requested.saturating_add(*n); sub.request(*n); }
                Op::Cancel => { cancelled = true; sub.cancel(); }
            }
        }
        let total = outer * inner;
        if !cancelled {
            // Everything requested (up to the total) must arrive; then top up and expect completion.
            let want = requested.min(total);
            let (lock, cv) = &*driven.0;
            let mut seen = lock.lock();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while seen.items < want && !seen.done {
                prop_assert!(!cv.wait_until(&mut seen, deadline).timed_out(), "stalled at {} of {}", seen.items, want);
            }
            drop(seen);
            sub.request(u64::MAX);
            let mut seen = lock.lock();
            while !seen.done {
                prop_assert!(!cv.wait_until(&mut seen, deadline).timed_out(), "no completion after {} of {}", seen.items, total);
            }
            prop_assert_eq!(seen.items, total);
        }
        report.assert_clean();
    }
}
