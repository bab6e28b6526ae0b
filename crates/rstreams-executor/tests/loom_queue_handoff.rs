//! Loom model of the pool's queue hand-off: a worker that finds the queue empty parks (`Sleep`),
//! and a submitter that pushes afterwards must wake it (no lost wakeup). A lost wakeup leaves the
//! worker parked forever, which loom reports as a deadlock.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test 'loom_*'`
#![cfg(rstreams_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
// std `Arc` for sharing: a loom `Arc` asserts in its destructor, which turns the deadlock that the
// broken twin must produce into an abort instead of a catchable panic.
use loom::sync::{Condvar, Mutex};
use loom::thread;
use rstreams_executor::__loom::{Sleep, UnboundedQueue};
use std::sync::Arc;

/// The protocol both the real `Sleep` and the broken twin implement.
trait Parking: Send + Sync + 'static {
    fn notify_one(&self);
    fn sleep(&self, must_wake: &dyn Fn() -> bool);
}

impl Parking for Sleep {
    fn notify_one(&self) {
        // The pool only helps drain when `publish` reports a close; nothing closes here.
        let closed = Sleep::publish(self);
        assert!(!closed);
    }
    fn sleep(&self, must_wake: &dyn Fn() -> bool) {
        Sleep::sleep(self, must_wake);
    }
}

fn check_handoff<P: Parking>(parking: impl Fn() -> P + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let queue = Arc::new(UnboundedQueue::<u32>::new());
        let parking = Arc::new(parking());
        // The worker: pop, or park until woken; exits after two tasks.
        let worker = {
            let (queue, parking) = (Arc::clone(&queue), Arc::clone(&parking));
            thread::spawn(move || {
                let mut got = 0;
                while got < 2 {
                    if queue.pop().is_some() {
                        got += 1;
                    } else {
                        parking.sleep(&|| !queue.is_empty());
                    }
                }
            })
        };
        // Two submitters: push, then notify (the order the pool uses).
        let submitter = {
            let (queue, parking) = (Arc::clone(&queue), Arc::clone(&parking));
            thread::spawn(move || {
                queue.push(1);
                parking.notify_one();
            })
        };
        queue.push(2);
        parking.notify_one();
        submitter.join().unwrap();
        worker.join().unwrap();
    });
}

#[test]
fn queue_handoff_never_loses_a_wakeup() {
    check_handoff(Sleep::new);
}

/// Submission racing with close: a submitter checks `is_closed`, pushes, publishes; the worker
/// exits once it sees CLOSED and an empty queue; the closer closes, joins, then drains what is
/// left (as `ThreadPool::shutdown` does). Every accepted task must run exactly once: a worker
/// runs it, or the submitter learns from `publish` that it raced and drains the queue itself, or
/// the closer's final drain finds it.
#[test]
fn close_racing_a_submission_strands_nothing() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let queue = Arc::new(UnboundedQueue::<u32>::new());
        let sleep = Arc::new(Sleep::new());
        let ran = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (queue, sleep, ran) = (Arc::clone(&queue), Arc::clone(&sleep), Arc::clone(&ran));
            thread::spawn(move || {
                loop {
                    if queue.pop().is_some() {
                        ran.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    if sleep.is_closed() && queue.is_empty() {
                        return;
                    }
                    sleep.sleep(|| !queue.is_empty() || sleep.is_closed());
                }
            })
        };
        let submitter = {
            let (queue, sleep, ran) = (Arc::clone(&queue), Arc::clone(&sleep), Arc::clone(&ran));
            thread::spawn(move || {
                if sleep.is_closed() {
                    return false; // rejected, the task is handed back
                }
                queue.push(1);
                if sleep.publish() {
                    while queue.pop().is_some() {
                        ran.fetch_add(1, Ordering::SeqCst);
                    }
                }
                true
            })
        };
        sleep.close();
        worker.join().unwrap();
        // The final drain: in the pool the closer also waits for racing submitters only through
        // this drain, so join the submitter afterwards to model a drain that overlaps with it,
        // then count what it accepted.
        while queue.pop().is_some() {
            ran.fetch_add(1, Ordering::SeqCst);
        }
        let accepted = submitter.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), usize::from(accepted));
        assert!(queue.is_empty());
    });
}

/// The broken twin: identical, except that the submitter notifies without taking the sleep lock.
/// Between the worker's registration + re-check and its `wait`, the notify finds nobody waiting
/// and is lost; the worker then waits forever.
struct BrokenSleep {
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Parking for BrokenSleep {
    fn notify_one(&self) {
        if self.sleepers.fetch_add(0, Ordering::AcqRel) != 0 {
            // BUG: no `self.lock.lock()` here.
            self.cv.notify_one();
        }
    }

    fn sleep(&self, must_wake: &dyn Fn() -> bool) {
        let guard = self.lock.lock().unwrap();
        self.sleepers.fetch_add(1, Ordering::AcqRel);
        let guard = if must_wake() {
            guard
        } else {
            self.cv.wait(guard).unwrap()
        };
        self.sleepers.fetch_sub(1, Ordering::Release);
        drop(guard);
    }
}

#[test]
#[should_panic]
fn broken_queue_handoff_loses_a_wakeup() {
    check_handoff(|| BrokenSleep {
        sleepers: AtomicUsize::new(0),
        lock: Mutex::new(()),
        cv: Condvar::new(),
    });
}

/// The second broken twin: the real protocol minus the SeqCst fences — the submitter reads the
/// sleeper count with a plain load after its push, the worker re-checks the queue right after
/// registering. Both can read stale values (store-buffer pattern): the submitter sees no sleeper,
/// the worker sees an empty queue and waits forever.
struct NoFenceSleep {
    sleepers: AtomicUsize,
    tokens: Mutex<usize>,
    cv: Condvar,
}

impl Parking for NoFenceSleep {
    fn notify_one(&self) {
        // BUG: no fence between the push and this load.
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
        // BUG: no fence between the registration and the re-check.
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
fn unfenced_queue_handoff_loses_a_wakeup() {
    check_handoff(|| NoFenceSleep {
        sleepers: AtomicUsize::new(0),
        tokens: Mutex::new(0),
        cv: Condvar::new(),
    });
}
