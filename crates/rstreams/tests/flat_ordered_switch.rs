//! flat_map_sequential and switch_map: order, concurrency and buffer bounds, exact demand across
//! a switch, errors and panics (rule 2.13 at the assembly site), and cancellation releasing
//! every source and inner (drop counters).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::*;

fn pool() -> Arc<dyn Scheduler> {
    Arc::new(ThreadPool::builder().workers(2).build().unwrap())
}

// ---- flat_map_sequential ----------------------------------------------------------------

#[test]
fn sequential_keeps_outer_order_with_inners_on_other_threads() {
    let p = pool();
    let v = rstreams::range(0, 40)
        .flat_map_sequential(
            move |x| rstreams::range(x * 100, 25).publish_on_with(Arc::clone(&p), 4),
            4,
            8,
        )
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    let want: Vec<u64> = (0..40).flat_map(|x| x * 100..x * 100 + 25).collect();
    assert_eq!(v, want);
}

#[test]
fn sequential_runs_inners_concurrently_and_bounds_each_buffer_by_prefetch() {
    let inner = counted(u64::MAX, |i| i);
    let inner2 = inner.clone();
    let (sub, probe) = recorder(1);
    rstreams::range(0, 10)
        .flat_map_sequential(move |_| inner2.clone(), 3, 16)
        .subscribe(sub);
    assert!(probe.wait_items(1, WAIT));
    let c = &inner.counters;
    // Three inners live at once, each asked for exactly its prefetch: 3 x 16 produced.
    assert_eq!(c.max_alive.load(Ordering::SeqCst), 3);
    assert_eq!(c.produced.load(Ordering::SeqCst), 3 * 16);
    probe.request(40);
    assert!(probe.wait_items(41, WAIT));
    // Only the first inner is drained (it is endless); the others wait with full buffers.
    assert!(
        probe
            .items()
            .iter()
            .enumerate()
            .all(|(i, &x)| x == i as u64)
    );
    let produced = c.produced.load(Ordering::SeqCst);
    assert!(produced <= 41 + 3 * 16, "produced {produced}");
    probe.cancel();
    assert_eq!(c.alive(), 0, "every inner released on cancel");
    probe.assert_clean();
}

#[test]
fn sequential_cancel_releases_the_upstream_every_inner_and_every_buffered_item() {
    let live = Arc::new(AtomicU64::new(0));
    let l2 = Arc::clone(&live);
    let inner = counted(u64::MAX, move |i| Tracked::new(i, &l2));
    let inner2 = inner.clone();
    let outer = counted(u64::MAX, |i| i);
    let (sub, probe) = recorder(5);
    outer
        .clone()
        .flat_map_sequential(move |_| inner2.clone(), 4, 8)
        .subscribe(sub);
    assert!(probe.wait_items(5, WAIT));
    assert!(
        live.load(Ordering::SeqCst) > 5,
        "later inners buffer meanwhile"
    );
    probe.cancel();
    assert_eq!(outer.counters.alive(), 0, "the upstream is released");
    assert_eq!(inner.counters.alive(), 0, "every inner is released");
    drop(probe);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every buffered item is dropped"
    );
}

#[test]
fn sequential_panic_in_the_mapper_is_a_rule_2_13_error_at_the_call_site() {
    let line = line!() + 3;
    let e = rstreams::range(0, 5)
        .map(|x| x)
        .flat_map_sequential(
            |x| {
                assert!(x < 2, "bad item");
                rstreams::just(x)
            },
            2,
            4,
        )
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.is_panic());
    let stage = e.stage().expect("the assembly site");
    assert!(stage.file().ends_with("flat_ordered_switch.rs"), "{stage}");
    assert_eq!(stage.line(), line, "{e}");
}

#[test]
fn sequential_inner_error_fails_at_once() {
    let e = rstreams::range(0, 5)
        .flat_map_sequential(
            |x| {
                if x == 2 {
                    rstreams::error(rstreams::Error::msg("inner failed")).boxed()
                } else {
                    rstreams::range(x * 10, 3).boxed()
                }
            },
            2,
            4,
        )
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("inner failed"), "{e}");
}

#[test]
fn sequential_zero_sizes_are_rejected_with_a_clear_error() {
    let e = rstreams::range(0, 5)
        .flat_map_sequential(rstreams::just, 0, 4)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("max_concurrency"), "{e}");
    assert_eq!(e.kind(), ErrorKind::User);
    let e = rstreams::range(0, 5)
        .flat_map_sequential(rstreams::just, 4, 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("prefetch"), "{e}");
}

// ---- switch_map ----------------------------------------------------------------------------

/// An inner publisher the test drives by hand: it records what was requested and whether it
/// was cancelled, and `emit`/`complete` signal its subscriber on the test thread.
#[derive(Clone, Default)]
struct Manual(Arc<ManualState>);

#[derive(Default)]
struct ManualState {
    subscriber: Mutex<Option<Box<dyn Subscriber<u64> + Send>>>,
    requested: AtomicU64,
    cancelled: AtomicBool,
}

struct ManualSub(Arc<ManualState>);

impl Subscription for ManualSub {
    fn request(&self, n: u64) {
        self.0.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Manual {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Box::new(ManualSub(Arc::clone(&self.0))));
        *self.0.subscriber.lock() = Some(Box::new(subscriber));
    }
}

impl Manual {
    fn requested(&self) -> u64 {
        self.0.requested.load(Ordering::SeqCst)
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }
    fn emit(&self, x: u64) {
        self.0.subscriber.lock().as_mut().unwrap().on_next(x);
    }
    fn complete(&self) {
        self.0.subscriber.lock().take().unwrap().on_complete();
    }
}

#[test]
fn switch_carries_demand_over_exactly() {
    let inners: Vec<Manual> = (0..3).map(|_| Manual::default()).collect();
    let pick = inners.clone();
    let (tx, outer) = rstreams::emitter::<usize>(4);
    let (sub, probe) = recorder(10);
    outer.switch_map(move |i| pick[i].clone()).subscribe(sub);
    tx.send(0).unwrap();
    let (a, b, c) = (&inners[0], &inners[1], &inners[2]);
    assert_eq!(
        a.requested(),
        10,
        "the first inner is asked for the downstream's demand"
    );
    for x in 0..3 {
        a.emit(x);
    }
    assert_eq!(probe.len(), 3);
    tx.send(1).unwrap();
    assert!(a.cancelled(), "a new outer item cancels the current inner");
    assert_eq!(b.requested(), 7, "exactly the demand left over");
    for x in 10..17 {
        b.emit(x);
    }
    assert_eq!(probe.len(), 10);
    assert_eq!(
        b.requested(),
        7,
        "nothing asked beyond the downstream's demand"
    );
    probe.request(5);
    assert_eq!(b.requested(), 12);
    b.emit(17);
    tx.send(2).unwrap();
    assert!(b.cancelled());
    assert_eq!(c.requested(), 4);
    drop(tx); // the outer completes; the stream ends when the last inner does
    assert!(!probe.completed());
    c.emit(20);
    c.complete();
    assert!(probe.wait_terminal(WAIT));
    assert!(probe.completed());
    assert_eq!(
        probe.items(),
        vec![0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 17, 20]
    );
    assert!(!c.cancelled(), "a completed inner is not cancelled");
    probe.assert_clean();
}

#[test]
fn switch_with_synchronous_inners_sees_each_inner_whole() {
    let v = rstreams::range(0, 20)
        .switch_map(|x| rstreams::range(x * 10, 3))
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    let want: Vec<u64> = (0..20).flat_map(|x| x * 10..x * 10 + 3).collect();
    assert_eq!(v, want);
}

#[test]
fn switch_asks_an_endless_inner_for_exactly_the_demand() {
    let inner = counted(u64::MAX, |i| i);
    let inner2 = inner.clone();
    // 1000 > the 256 in flight: the inner is topped up as items go downstream, never beyond.
    let (sub, probe) = recorder(1000);
    let (tx, outer) = rstreams::emitter::<u64>(4);
    outer.switch_map(move |_| inner2.clone()).subscribe(sub);
    tx.send(0).unwrap();
    assert!(probe.wait_items(1000, WAIT));
    assert_eq!(inner.counters.produced.load(Ordering::SeqCst), 1000);
    probe.cancel();
    assert_eq!(inner.counters.alive(), 0, "the inner is released on cancel");
    assert!(tx.is_cancelled(), "the upstream is cancelled");
    probe.assert_clean();
}

#[test]
fn switch_cancel_releases_upstream_and_current_inner_and_every_replaced_one() {
    let inner = counted(u64::MAX, |i| i);
    let inner2 = inner.clone();
    let (sub, probe) = recorder(3);
    let (tx, outer) = rstreams::emitter::<u64>(4);
    outer.switch_map(move |_| inner2.clone()).subscribe(sub);
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    // Each new item replaced (and released) the previous inner: one alive.
    assert_eq!(inner.counters.subscribed.load(Ordering::SeqCst), 5);
    assert_eq!(inner.counters.alive(), 1);
    probe.cancel();
    assert_eq!(inner.counters.alive(), 0);
    assert!(tx.is_cancelled());
    probe.assert_clean();
}

#[test]
fn switch_panic_in_the_mapper_is_a_rule_2_13_error_at_the_call_site() {
    let line = line!() + 3;
    let e = rstreams::range(0, 5)
        .map(|x| x)
        .switch_map(|x| {
            assert!(x < 2, "bad item");
            rstreams::just(x)
        })
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.is_panic());
    assert_eq!(e.stage().expect("the assembly site").line(), line, "{e}");
}

#[test]
fn switch_inner_overflow_is_a_rule_1_1_error() {
    let inner = Manual::default();
    let i2 = inner.clone();
    let (sub, probe) = recorder(2);
    rstreams::just(0u64)
        .switch_map(move |_| i2.clone())
        .subscribe(sub);
    assert_eq!(inner.requested(), 2);
    inner.emit(1);
    inner.emit(2);
    inner.emit(3); // never asked for
    assert!(probe.wait_terminal(WAIT));
    let e = probe.error().expect("an error");
    assert_eq!(e.rule(), Some(Rule::R1_1), "{e}");
    assert!(inner.cancelled());
}
