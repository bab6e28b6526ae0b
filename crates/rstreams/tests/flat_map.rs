//! flat_map / concat_map: results, concurrency and demand bounds, fairness, errors, panics,
//! cancellation reaching every live inner, and inners signalling from other threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::*;

#[test]
fn merges_every_inner_item() {
    let mut v = rstreams::range(0, 50)
        .flat_map_with(|x| rstreams::range(x * 100, 20), 4, 8)
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    v.sort();
    let mut want: Vec<u64> = (0..50).flat_map(|x| x * 100..x * 100 + 20).collect();
    want.sort();
    assert_eq!(v, want);
}

#[test]
fn at_most_max_concurrency_inners_are_subscribed_at_once() {
    let inner = counted(5, |i| i);
    let inner2 = inner.clone();
    let (sub, probe) = recorder(0);
    rstreams::range(0, 100)
        .flat_map_with(move |_| inner2.clone(), 3, 4)
        .subscribe(sub);
    // Slowly, in small requests, so that inners overlap.
    for _ in 0..250 {
        probe.request(2);
    }
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.len(), 500);
    assert!(probe.completed());
    let c = &inner.counters;
    assert_eq!(c.subscribed.load(Ordering::SeqCst), 100);
    assert_eq!(c.alive(), 0, "every inner released");
    assert!(c.max_alive.load(Ordering::SeqCst) <= 3);
    assert_eq!(c.max_alive.load(Ordering::SeqCst), 3, "concurrency is used");
    probe.assert_clean();
}

#[test]
fn inner_demand_is_bounded_by_prefetch() {
    let inner = counted(u64::MAX, |i| i);
    let inner2 = inner.clone();
    let (sub, probe) = recorder(1);
    rstreams::range(0, 10)
        .flat_map_with(move |_| inner2.clone(), 4, 16)
        .subscribe(sub);
    assert!(probe.wait_items(1, WAIT));
    // One item went downstream; each of the 4 live inners was asked for at most 16.
    let produced = inner.counters.produced.load(Ordering::SeqCst);
    assert!(produced <= 4 * 16, "produced {produced}");
    assert_eq!(produced, 4 * 16, "each inner was asked for its prefetch");
    probe.request(100);
    assert!(probe.wait_items(101, WAIT));
    // In flight never exceeds delivered + what is buffered (4 x 16).
    let produced = inner.counters.produced.load(Ordering::SeqCst);
    assert!(produced <= 101 + 4 * 16, "produced {produced}");
    probe.cancel();
    assert_eq!(inner.counters.alive(), 0);
    probe.assert_clean();
}

#[test]
fn inners_are_merged_round_robin() {
    // Two endless inners with full queues: the drain takes runs of at most one prefetch (32)
    // from each in turn, so the next 128 items downstream split evenly, in runs of <= 32.
    let (sub, probe) = recorder(0);
    rstreams::from_iter(vec![0u64, 1])
        .flat_map_with(|k| rstreams::range(0, u64::MAX).map(move |_| k), 2, 32)
        .subscribe(sub);
    probe.request(128);
    assert!(probe.wait_items(128, WAIT));
    let items = probe.items();
    let ones = items.iter().filter(|&&k| k == 1).count();
    assert_eq!(ones, 64, "unfair split: {items:?}");
    let longest = items
        .chunk_by(|a, b| a == b)
        .map(<[u64]>::len)
        .max()
        .unwrap();
    assert!(longest <= 32, "a run longer than the prefetch: {items:?}");
    probe.cancel();
    probe.assert_clean();
}

#[test]
fn concat_map_keeps_order_and_runs_one_inner_at_a_time() {
    let inner = counted(7, |i| i);
    let inner2 = inner.clone();
    let v = rstreams::range(0, 30)
        .concat_map(move |x| inner2.clone().map(move |i| x * 10 + i), 2)
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    let want: Vec<u64> = (0..30)
        .flat_map(|x| (0..7).map(move |i| x * 10 + i))
        .collect();
    assert_eq!(v, want);
    assert_eq!(inner.counters.max_alive.load(Ordering::SeqCst), 1);
}

#[test]
fn cancel_reaches_every_live_inner_and_the_outer_and_drops_buffers() {
    let live = Arc::new(AtomicU64::new(0));
    let l2 = Arc::clone(&live);
    let inner = counted(u64::MAX, move |i| Tracked::new(i, &l2));
    let inner2 = inner.clone();
    let outer = counted(u64::MAX, |i| i);
    let (sub, probe) = recorder(10);
    outer
        .clone()
        .flat_map_with(move |_| inner2.clone(), 8, 16)
        .subscribe(sub);
    assert!(probe.wait_items(10, WAIT));
    assert_eq!(inner.counters.alive(), 8);
    assert!(
        live.load(Ordering::SeqCst) > 10,
        "items are buffered in flight"
    );
    probe.cancel();
    assert_eq!(inner.counters.alive(), 0, "every inner cancelled");
    assert_eq!(outer.counters.alive(), 0, "outer cancelled");
    drop(probe);
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "every buffered item dropped"
    );
}

#[test]
fn inner_error_fails_at_once_and_cancels_the_rest() {
    // No downstream demand: the three endless inners sit with full queues when inner 3 fails,
    // and the error must not wait for demand.
    let inner = counted(u64::MAX, |i| i);
    let inner2 = inner.clone();
    let (sub, probe) = recorder(0);
    rstreams::range(0, 5)
        .flat_map_with(
            move |x| {
                if x == 3 {
                    rstreams::error::<u64>(Error::msg("inner 3 failed")).boxed()
                } else {
                    inner2.clone().boxed()
                }
            },
            4,
            8,
        )
        .subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    let e = probe.error().expect("failed");
    assert_eq!(e.to_string(), "inner 3 failed");
    assert_eq!(inner.counters.subscribed.load(Ordering::SeqCst), 3);
    assert_eq!(inner.counters.alive(), 0);
    probe.assert_clean();
}

#[test]
fn a_panic_in_the_mapper_is_a_rule_2_13_error() {
    let r = rstreams::range(0, 5)
        .flat_map_with(
            |x| {
                assert!(x < 2, "bad item");
                rstreams::just(x)
            },
            2,
            4,
        )
        .to_vec()
        .blocking_first();
    let e = r.unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.is_panic());
}

#[test]
fn zero_sizes_are_rejected_with_a_clear_error() {
    let e = rstreams::range(0, 5)
        .flat_map_with(rstreams::just, 0, 4)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("max_concurrency"), "{e}");
    assert_eq!(e.kind(), ErrorKind::User);
    let e = rstreams::range(0, 5)
        .concat_map(rstreams::just, 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("prefetch"), "{e}");
}

#[test]
fn empty_outer_and_empty_inners_complete() {
    let v = rstreams::empty::<u64>()
        .flat_map_with(rstreams::just, 2, 2)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![]));
    let v = rstreams::range(0, 100)
        .flat_map_with(|_| rstreams::empty::<u64>(), 2, 2)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![]));
}

#[test]
fn inners_on_pool_threads_are_serialised_downstream() {
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    for _ in 0..5 {
        let p = Arc::clone(&pool);
        let (sub, probe) = recorder(0);
        rstreams::range(0, 40)
            .flat_map_with(
                move |x| rstreams::range(x * 1000, 50).publish_on_with(Arc::clone(&p), 8),
                6,
                8,
            )
            .subscribe(sub);
        for _ in 0..200 {
            probe.request(10);
        }
        assert!(probe.wait_terminal(WAIT));
        assert!(probe.completed());
        let mut v = probe.items();
        v.sort();
        let want: Vec<u64> = (0..40).flat_map(|x| x * 1000..x * 1000 + 50).collect();
        assert_eq!(v, want);
        probe.assert_clean();
    }
}

#[test]
fn finished_inners_hold_their_place_until_drained() {
    // Inners complete at once, but their items wait for downstream demand: the outer must not
    // be asked for more publishers than max_concurrency meanwhile (else buffers grow unbounded).
    let outer = counted(1_000_000, |i| i);
    let (sub, probe) = recorder(0);
    outer
        .clone()
        .flat_map_with(rstreams::just, 4, 8)
        .subscribe(sub);
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 4);
    probe.request(2);
    assert!(probe.wait_items(2, WAIT));
    // `just` inners take the scalar path, whose places are given back in batches of 75% of
    // max_concurrency (3 here), as Reactor and RxJava do: never more than 4 in flight.
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 4);
    probe.request(1);
    assert!(probe.wait_items(3, WAIT));
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 7);
    probe.cancel();
    assert_eq!(outer.counters.alive(), 0);
    probe.assert_clean();
}
