//! zip: pairing, bounded per-source buffers, completion cancelling the longer side.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use support::*;

#[test]
fn pairs_items_in_order_and_stops_at_the_shorter() {
    let long = counted(u64::MAX, |i| i * 2);
    let (sub, probe) = recorder(u64::MAX);
    rstreams::range(0, 5).zip(long.clone(), 4).subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), vec![(0, 0), (1, 2), (2, 4), (3, 6), (4, 8)]);
    assert!(probe.completed());
    assert_eq!(long.counters.alive(), 0, "the longer side is cancelled");
    probe.assert_clean();
}

#[test]
fn a_fast_side_is_held_to_its_prefetch() {
    let fast = counted(u64::MAX, |i| i);
    let slow = counted(u64::MAX, |i| i);
    let (sub, probe) = recorder(0);
    fast.clone().zip(slow.clone(), 8).subscribe(sub);
    assert_eq!(fast.counters.produced.load(Ordering::SeqCst), 8);
    probe.request(100);
    assert!(probe.wait_items(100, WAIT));
    let produced = fast.counters.produced.load(Ordering::SeqCst);
    assert!(produced <= 100 + 8, "fast side ran ahead: {produced}");
    probe.cancel();
    assert_eq!(fast.counters.alive() + slow.counters.alive(), 0);
    probe.assert_clean();
}

#[test]
fn an_error_on_either_side_fails_at_once_and_drops_buffers() {
    let live = Arc::new(AtomicU64::new(0));
    let l2 = Arc::clone(&live);
    let left = counted(u64::MAX, move |i| Tracked::new(i, &l2));
    let (sub, probe) = recorder(0);
    left.clone()
        .zip(rstreams::error::<u64>(Error::msg("right failed")), 8)
        .subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.error().unwrap().to_string(), "right failed");
    assert_eq!(left.counters.alive(), 0);
    assert_eq!(live.load(Ordering::SeqCst), 0);
}

#[test]
fn zero_prefetch_is_rejected() {
    let e = rstreams::range(0, 3)
        .zip(rstreams::range(0, 3), 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("prefetch"), "{e}");
}

#[test]
fn sides_on_pool_threads() {
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    let v = rstreams::range(0, 5000)
        .publish_on_with(Arc::clone(&pool), 16)
        .zip(rstreams::range(10, 5000).publish_on_with(pool, 16), 8)
        .map(|(a, b)| b - a)
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    assert_eq!(v.len(), 5000);
    assert!(v.iter().all(|&d| d == 10));
}
