//! What the TCK test binaries of the built-ins share: a failed upstream, one pool, and the
//! random request/cancel schedule driver checked by the TCK's protocol checker against a model.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use proptest::prelude::*;
use rstreams::PublisherExt;
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams_protocol::{BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::checker::{CheckedSubscriber, CheckerReport};

/// `op` applied to a publisher that fails at once: the verifications' failed publisher.
pub(crate) fn failed<P>(op: impl FnOnce(BoxPublisher<u64>) -> P) -> BoxPublisher<P::Item>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    op(rstreams::error::<u64>(Error::msg("upstream failed")).boxed()).boxed()
}

/// One two-worker pool per test binary, never dropped.
pub(crate) fn pool() -> Arc<dyn Scheduler> {
    static POOL: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    Arc::clone(
        POOL.get_or_init(|| Arc::new(ThreadPool::builder().workers(2).build().expect("pool"))),
    )
}

#[derive(Default)]
struct Seen {
    sub: Option<Arc<dyn Subscription>>,
    items: Vec<u64>,
    done: bool,
}

/// A subscriber driven by the schedule: requests `initial` in `on_subscribe`, records items.
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

/// One step of a random schedule.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Request(u64),
    Cancel,
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..40).prop_map(Op::Request),
        1 => Just(Op::Request(u64::MAX)),
        1 => Just(Op::Cancel),
    ]
}

/// Proptest cases: `RSTREAMS_PROPTEST_CASES`, else 64 (run by hand with 10000).
pub(crate) fn cases() -> u32 {
    std::env::var("RSTREAMS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// How the items must match the model.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Exactly the model, in its order.
    Kept,
    /// The model's items in any order (a merge).
    Any,
}

/// Drives `p` with `ops` under the protocol checker. Unless cancelled: everything requested (up
/// to the model's length) must arrive, then, after topping demand up, exactly the model and
/// completion. Cancelled: what arrived is a prefix of the model (for [`Order::Kept`]).
pub(crate) fn drive(
    p: BoxPublisher<u64>,
    initial: u64,
    ops: &[Op],
    want: &[u64],
    order: Order,
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
        match order {
            Order::Kept => prop_assert_eq!(&seen.items[..], want),
            Order::Any => {
                let (mut got, mut want) = (seen.items.clone(), want.to_vec());
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
        }
    } else if order == Order::Kept {
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

/// `range(0, outer)` flat-mapped (`sequential`: keeping the outer order) to inners
/// `range(x * 100, inner)`, hopping onto the pool when `hop`; with the model of its items.
pub(crate) fn flat_ranges(
    sequential: bool,
    outer: u64,
    inner: u64,
    concurrency: usize,
    prefetch: usize,
    hop: bool,
) -> (BoxPublisher<u64>, Vec<u64>) {
    let make = move |x: u64| {
        let r = rstreams::range(x * 100, inner);
        if hop {
            r.publish_on_with(pool(), 4).boxed()
        } else {
            r.boxed()
        }
    };
    let p = if sequential {
        rstreams::range(0, outer)
            .flat_map_sequential(make, concurrency, prefetch)
            .boxed()
    } else {
        rstreams::range(0, outer)
            .flat_map_with(make, concurrency, prefetch)
            .boxed()
    };
    let want = (0..outer).flat_map(|x| x * 100..x * 100 + inner).collect();
    (p, want)
}
