//! The TCK over `flat_map_sequential` and `switch_map`, plus property tests of random
//! request/cancel schedules through both under the protocol checker, against a reference model
//! (the concatenation of the inner ranges, in outer order: `flat_map_sequential` must keep it
//! whatever the threads do; `switch_map` over synchronous inners sees each inner whole).
//!
//! Property cases: `RSTREAMS_PROPTEST_CASES` (default 64 for CI; run by hand with 10000).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use proptest::prelude::*;
use rstreams::PublisherExt;
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams_protocol::{BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::checker::{CheckedSubscriber, CheckerReport};
use rstreams_tck::publisher::PublisherVerification;

fn pool() -> Arc<dyn Scheduler> {
    static POOL: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    Arc::clone(
        POOL.get_or_init(|| Arc::new(ThreadPool::builder().workers(2).build().expect("pool"))),
    )
}

fn failed<P>(op: impl FnOnce(BoxPublisher<u64>) -> P) -> BoxPublisher<P::Item>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    op(rstreams::error::<u64>(Error::msg("upstream failed")).boxed()).boxed()
}

struct SequentialV;
impl PublisherVerification for SequentialV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // Inners of two items (one of one when n is odd), hopping onto the pool.
        rstreams::range(0, n.div_ceil(2))
            .flat_map_sequential(
                move |x| rstreams::range(x * 2, (n - x * 2).min(2)).publish_on_with(pool(), 2),
                3,
                2,
            )
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.flat_map_sequential(rstreams::just, 4, 8)))
    }
}

struct SwitchV;
impl PublisherVerification for SwitchV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // One outer item, so that all n inner items count whatever the demand's timing (a
        // synchronous outer of many items would switch away every inner but the last).
        rstreams::just(0u64)
            .switch_map(move |_| rstreams::range(0, n))
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.switch_map(rstreams::just)))
    }
}

rstreams_tck::publisher_verification_tests!(flat_map_sequential, super::SequentialV);
rstreams_tck::publisher_verification_tests!(switch_map, super::SwitchV);

// ---------------------------------------------------------------------------------------------
// Random request/cancel schedules under the protocol checker, against the reference model.

#[derive(Default)]
struct Seen {
    sub: Option<Arc<dyn Subscription>>,
    items: Vec<u64>,
    done: bool,
}

#[derive(Clone, Default)]
struct Driven(Arc<(Mutex<Seen>, Condvar)>, u64);

impl Subscriber<u64> for Driven {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        self.0.0.lock().sub = Some(Arc::clone(&s));
        self.0.1.notify_all();
        if self.1 > 0 {
            s.request(self.1);
        }
    }
    fn on_next(&mut self, x: u64) {
        self.0.0.lock().items.push(x);
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

/// Drives `p` with `ops`; unless cancelled, checks that the items equal `want` exactly (all of
/// it, after topping demand up) and that every prefix delivered matched it on the way.
fn drive(
    p: BoxPublisher<u64>,
    initial: u64,
    ops: &[Op],
    want: &[u64],
) -> Result<(), TestCaseError> {
    let report = CheckerReport::new();
    let driven = Driven(Arc::default(), initial);
    p.subscribe(CheckedSubscriber::with_report(
        driven.clone(),
        report.clone(),
    ));
    let sub = driven
        .0
        .0
        .lock()
        .sub
        .clone()
        .expect("on_subscribe is synchronous");
    let mut requested: u64 = initial;
    let mut cancelled = false;
    for o in ops {
        match o {
            Op::Request(n) => {
                requested = requested.saturating_add(*n);
                sub.request(*n);
            }
            Op::Cancel => {
                cancelled = true;
                sub.cancel();
            }
        }
    }
    let (lock, cv) = &*driven.0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    if !cancelled {
        let first = requested.min(want.len() as u64) as usize;
        let mut seen = lock.lock();
        while seen.items.len() < first && !seen.done {
            prop_assert!(
                !cv.wait_until(&mut seen, deadline).timed_out(),
                "stalled at {} of {}",
                seen.items.len(),
                first
            );
        }
        drop(seen);
        sub.request(u64::MAX);
        let mut seen = lock.lock();
        while !seen.done {
            prop_assert!(
                !cv.wait_until(&mut seen, deadline).timed_out(),
                "no completion after {} of {}",
                seen.items.len(),
                want.len()
            );
        }
        prop_assert_eq!(&seen.items[..], want);
    } else {
        // Whatever arrived before the cancel is a prefix of the model.
        let seen = lock.lock();
        prop_assert!(
            want.starts_with(&seen.items),
            "{:?} is not a prefix",
            seen.items
        );
    }
    report.assert_clean();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn flat_map_sequential_matches_the_model_under_random_schedules(
        outer in 0u64..12,
        inner in 0u64..30,
        concurrency in 1usize..5,
        prefetch in 1usize..9,
        hop in any::<bool>(),
        ops in prop::collection::vec(op(), 1..12),
    ) {
        let p = if hop {
            rstreams::range(0, outer)
                .flat_map_sequential(move |x| rstreams::range(x * 100, inner).publish_on_with(pool(), 4), concurrency, prefetch)
                .boxed()
        } else {
            rstreams::range(0, outer)
                .flat_map_sequential(move |x| rstreams::range(x * 100, inner), concurrency, prefetch)
                .boxed()
        };
        let want: Vec<u64> = (0..outer).flat_map(|x| x * 100..x * 100 + inner).collect();
        drive(p, 0, &ops, &want)?;
    }

    #[test]
    fn switch_map_matches_the_model_under_random_schedules(
        outer in 0u64..12,
        inner in 0u64..30,
        initial in 0u64..60,
        ops in prop::collection::vec(op(), 1..12),
    ) {
        // The synchronous outer emits all its items while being subscribed; the demand
        // requested in on_subscribe (`initial`) is all the inners can use meanwhile: each gets
        // what is left of it, and every inner but the last is switched away then. The last one
        // delivers everything after later requests.
        let p = rstreams::range(0, outer)
            .switch_map(move |x| rstreams::range(x * 100, inner))
            .boxed();
        let mut want = Vec::new();
        let mut left = initial;
        for x in 0..outer {
            let k = if x + 1 == outer { inner } else { left.min(inner) };
            left -= left.min(k);
            want.extend(x * 100..x * 100 + k);
        }
        drive(p, initial, &ops, &want)?;
    }
}
