//! Loom model of the pool's bounded queue with its two sleep pairs (issue 14.5, session 5), the
//! queue included in the model because the protocol relies on its ordering:
//!
//! * a submitter pushes (the queue's SeqCst slot claim) and then reads the sleeper word with a
//!   SeqCst load and no fence (`Sleep::publish`); a worker that found the queue empty registers,
//!   fences and re-checks the queue before it parks (`Sleep::sleep`);
//! * a worker pops (SeqCst claim of the head) and runs the same `publish` on `space`, where a
//!   submitter that found the queue full waits for room.
//!
//! Loom does not model the total order of SeqCst *accesses* (it treats them as Acquire/Release),
//! only SeqCst fences, so its build of `order_after_seqcst_rmw` is the fence that stands in for
//! what the real build gets from the C++20 order S (see `sync.rs`). A lost wakeup leaves a thread
//! parked forever, which loom reports as a deadlock: the broken twin (the sleeper word read with
//! Relaxed and nothing ordering it after the push) shows one.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test loom_pool_injector`
#![cfg(rstreams_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering, fence};
use loom::sync::{Condvar, Mutex};
use loom::thread;
use rstreams_executor::__loom::{BoundedQueue, Sleep, order_after_seqcst_rmw};
// std `Arc`: a loom `Arc` asserts in its destructor, turning the twin's deadlock into an abort.
use std::sync::Arc;

/// The two halves of the sleep protocol, real or broken.
trait Parking: Send + Sync + 'static {
    /// After a push (or a pop, for `space`).
    fn publish(&self);
    fn sleep(&self, must_wake: &dyn Fn() -> bool);
}

impl Parking for Sleep {
    fn publish(&self) {
        // The pool only helps drain when `publish` reports a close; nothing closes here.
        assert!(!Sleep::publish(self));
    }
    fn sleep(&self, must_wake: &dyn Fn() -> bool) {
        Sleep::sleep(self, must_wake);
    }
}

/// `PoolInner::submit` under `FullPolicy::Block`, without the spin.
fn submit<P: Parking>(queue: &BoundedQueue<u32>, sleep: &P, space: &P, mut item: u32) {
    loop {
        match queue.try_push(item) {
            Ok(()) => {
                sleep.publish();
                return;
            }
            Err(back) => {
                item = back;
                space.sleep(&|| !queue.is_full());
            }
        }
    }
}

/// Two submitters, one worker popping two items (publishing `space` after each pop, parking on
/// `sleep` when the queue is empty); `capacity` 1 makes a submitter meet a full queue.
fn check<P: Parking>(capacity: usize, parking: impl Fn() -> P + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let queue = Arc::new(BoundedQueue::<u32>::new(capacity));
        let sleep = Arc::new(parking());
        let space = Arc::new(parking());
        let worker = {
            let (queue, sleep, space) =
                (Arc::clone(&queue), Arc::clone(&sleep), Arc::clone(&space));
            thread::spawn(move || {
                let mut got = 0;
                while got < 2 {
                    if queue.pop().is_some() {
                        space.publish();
                        got += 1;
                    } else {
                        sleep.sleep(&|| !queue.is_empty());
                    }
                }
            })
        };
        let submitter = {
            let (queue, sleep, space) =
                (Arc::clone(&queue), Arc::clone(&sleep), Arc::clone(&space));
            thread::spawn(move || submit(&queue, &*sleep, &*space, 1))
        };
        submit(&queue, &*sleep, &*space, 2);
        submitter.join().unwrap();
        worker.join().unwrap();
        assert!(queue.is_empty());
    });
}

#[test]
fn push_then_publish_never_loses_a_wakeup() {
    check(2, Sleep::new);
}

#[test]
fn a_full_queue_wakes_its_blocked_submitter() {
    check(1, Sleep::new);
}

/// The broken twin: `Sleep` with the submitter's read of the sleeper count Relaxed and nothing
/// ordering it after the push (no `order_after_seqcst_rmw`). The sleeper side is intact
/// (register, SeqCst fence, re-check). Store-buffer pattern: the submitter sees no sleeper, the
/// worker's re-check sees the queue empty, and the worker waits for ever.
struct RelaxedPublish {
    sleepers: AtomicUsize,
    tokens: Mutex<usize>,
    cv: Condvar,
}

impl RelaxedPublish {
    fn new() -> Self {
        Self {
            sleepers: AtomicUsize::new(0),
            tokens: Mutex::new(0),
            cv: Condvar::new(),
        }
    }
}

impl Parking for RelaxedPublish {
    fn publish(&self) {
        // BUG: Relaxed, and no order_after_seqcst_rmw() before it.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            let mut tokens = self.tokens.lock().unwrap();
            if self.sleepers.load(Ordering::Relaxed) != 0 {
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                *tokens += 1;
                self.cv.notify_one();
            }
        }
    }

    fn sleep(&self, must_wake: &dyn Fn() -> bool) {
        let mut tokens = self.tokens.lock().unwrap();
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if must_wake() {
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        loop {
            tokens = self.cv.wait(tokens).unwrap();
            if *tokens > 0 {
                *tokens -= 1;
                return;
            }
        }
    }
}

#[test]
#[should_panic]
fn relaxed_publish_loses_a_wakeup() {
    check(2, RelaxedPublish::new);
}

/// The fence the loom build puts in `order_after_seqcst_rmw` is what makes the real `publish`
/// pass above; this checks the twin differs from `Sleep` only there: with that call added, the
/// twin passes too.
struct OrderedPublish(RelaxedPublish);

impl Parking for OrderedPublish {
    fn publish(&self) {
        order_after_seqcst_rmw();
        self.0.publish();
    }
    fn sleep(&self, must_wake: &dyn Fn() -> bool) {
        self.0.sleep(must_wake);
    }
}

#[test]
fn the_twin_with_the_ordering_restored_passes() {
    check(2, || OrderedPublish(RelaxedPublish::new()));
}
