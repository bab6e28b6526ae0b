//! Issue 17 item 4: a `BlockingIter` dropped before its `on_subscribe` arrives must still cancel
//! when the subscription turns up later (a hop upstream delivers `on_subscribe` on a lane), and
//! must not request anything: otherwise the source, the subscriber and the pool's lane stay
//! alive forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rstreams::executor::{ManualExecutor, ThreadPool};
use rstreams::prelude::*;

/// An endless iterator that counts its own drops, so a leaked subscription shows.
#[derive(Clone)]
struct Tracked {
    next: u64,
    drops: Arc<AtomicU64>,
}

impl Iterator for Tracked {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.next += 1;
        Some(self.next)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `f` holds; a leak shows as a failure, not a hang.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dropped_before_on_subscribe_cancels_when_it_arrives_and_requests_nothing() {
    let exec = ManualExecutor::new();
    let drops = Arc::new(AtomicU64::new(0));
    let requested = Arc::new(AtomicU64::new(0));
    let cancels = Arc::new(AtomicU64::new(0));
    let (r, c) = (Arc::clone(&requested), Arc::clone(&cancels));
    let source = Tracked {
        next: 0,
        drops: Arc::clone(&drops),
    };
    let p = rstreams::from_iter(source)
        .do_on_request(move |n| {
            r.fetch_add(n, Ordering::SeqCst);
        })
        .do_on_cancel(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .subscribe_on(Arc::new(exec.clone()));
    let it = p.blocking_iter(16);
    // Nothing has run yet: the subscription is still queued on the lane.
    drop(it);
    exec.run_until_idle();
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        1,
        "the late subscription was cancelled"
    );
    assert_eq!(
        requested.load(Ordering::SeqCst),
        0,
        "nothing requested after the drop"
    );
    // The subscription's own clone of the iterator is gone; only the publisher's remains.
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(exec.queued(), 0);
    drop(p);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn many_iterators_dropped_early_on_a_pool_free_their_sources() {
    let pool = Arc::new(ThreadPool::new().expect("pool"));
    let drops = Arc::new(AtomicU64::new(0));
    const ROUNDS: u64 = 200;
    for _ in 0..ROUNDS {
        let source = Tracked {
            next: 0,
            drops: Arc::clone(&drops),
        };
        let p = rstreams::from_iter(source).subscribe_on(pool.clone());
        // Dropped at once: on_subscribe usually arrives later, on a worker.
        drop(p.blocking_iter(8));
    }
    // Each round: one drop for the publisher's iterator, one for the subscription's clone.
    eventually("every source freed", || {
        drops.load(Ordering::SeqCst) == 2 * ROUNDS
    });
}
