//! Issue 17 item 4: a `BlockingIter` dropped before its `on_subscribe` arrives must still cancel
//! when the subscription turns up later (a hop upstream delivers `on_subscribe` on a lane), and
//! must not request anything: otherwise the source, the subscriber and the pool's lane stay
//! alive forever.
//!
//! Also the ordering guarantee of the iterator's synchronous fast path (issue 14 item 3): items
//! delivered on the iterating thread inside its own `request` bypass the ring, and must
//! never overtake items sent through the ring from another thread (the broken variant, without the
//! "ring drained" check, fails `items_from_the_iterating_thread_and_another_thread_...`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    let it = p.blocking_iter_with(16);
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
        drop(p.blocking_iter_with(8));
    }
    // Each round: one drop for the publisher's iterator, one for the subscription's clone.
    eventually("every source freed", || {
        drops.load(Ordering::SeqCst) == 2 * ROUNDS
    });
}

/// A publisher that delivers each requested batch partly on the requesting thread (inside
/// `request`) and partly on a producer thread afterwards, serially, in one global order: the
/// iterator's lock-free path for items delivered inside its own `request` must never let an
/// item overtake one queued from the other thread.
struct SplitDelivery {
    total: u64,
}

impl Publisher for SplitDelivery {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        use std::sync::Mutex;
        use std::sync::mpsc;

        struct State<S> {
            sub: S,
            next: u64,
            total: u64,
            done: bool,
        }
        impl<S: Subscriber<u64>> State<S> {
            fn emit(&mut self, k: u64) -> u64 {
                let mut sent = 0;
                while sent < k && self.next < self.total {
                    self.sub.on_next(self.next);
                    self.next += 1;
                    sent += 1;
                }
                if self.next == self.total && !self.done {
                    self.done = true;
                    self.sub.on_complete();
                }
                sent
            }
        }
        struct Split<S> {
            state: Arc<Mutex<State<S>>>,
            later: mpsc::Sender<u64>,
            /// `on_subscribe` is running (with the lock held): everything goes to the producer.
            subscribing: Arc<AtomicBool>,
        }
        impl<S: Subscriber<u64> + Send> Subscription for Split<S> {
            fn request(&self, n: u64) {
                // The first half now, on the caller's thread; the rest from the producer.
                let sent = if self.subscribing.load(Ordering::SeqCst) {
                    0
                } else {
                    self.state.lock().unwrap().emit(n / 2)
                };
                let _ = self.later.send(n - sent);
            }
            fn cancel(&self) {}
        }
        let state = Arc::new(Mutex::new(State {
            sub: subscriber,
            next: 0,
            total: self.total,
            done: false,
        }));
        let (tx, rx) = mpsc::channel::<u64>();
        let producer_state = Arc::clone(&state);
        std::thread::spawn(move || {
            while let Ok(k) = rx.recv_timeout(Duration::from_secs(10)) {
                let mut st = producer_state.lock().unwrap();
                st.emit(k);
                if st.done {
                    break;
                }
            }
        });
        let subscribing = Arc::new(AtomicBool::new(true));
        let split = Split {
            state: Arc::clone(&state),
            later: tx,
            subscribing: Arc::clone(&subscribing),
        };
        // on_subscribe under the lock: the producer cannot signal before it returns (1.3).
        let mut st = state.lock().unwrap();
        st.sub.on_subscribe(Box::new(split));
        subscribing.store(false, Ordering::SeqCst);
    }
}

#[test]
fn items_from_the_iterating_thread_and_another_thread_keep_their_order() {
    const TOTAL: u64 = 20_000;
    let got: Vec<u64> = SplitDelivery { total: TOTAL }
        .blocking_iter_with(16)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>());
}
