//! Loom model of the pool's submission gate (`Gate`): admission count, CLOSED and sleepers in one
//! word. Submitters admit (one RMW), push, and wake only if the admission saw a sleeper; a worker
//! registers with one RMW whose old value is its re-check. A lost wakeup leaves the worker parked
//! forever (loom reports a deadlock); a stranded task fails the final count.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test loom_pool_gate`
#![cfg(rstreams_loom)]

use loom::sync::{Condvar, Mutex};
// std `Arc` for sharing (see loom_queue_handoff.rs): a loom `Arc` would abort on the deadlock the
// broken twins must produce instead of panicking.
use loom::thread;
use rstreams_executor::__loom::{Gate, Refused, UnboundedQueue};
use std::sync::Arc;

/// The worker's side of the protocol, so a broken twin can replace it.
trait WorkerSide: Send + Sync + 'static {
    /// Park unless there is reason not to (the pool's `Gate::sleep` with spinning on a backlog).
    fn sleep(&self, gate: &Gate, queue: &UnboundedQueue<u32>);
    /// May the worker exit (pool closed and nothing left for it)?
    fn may_exit(&self, gate: &Gate, queue: &UnboundedQueue<u32>) -> bool;
}

/// The real protocol, as `ThreadPool`'s workers run it.
struct Real;

impl WorkerSide for Real {
    fn sleep(&self, gate: &Gate, _queue: &UnboundedQueue<u32>) {
        if gate.sleep(|| false, None) {
            // A backlog with nothing visible yet: the push is in flight; let it land.
            thread::yield_now();
        }
    }
    fn may_exit(&self, gate: &Gate, _queue: &UnboundedQueue<u32>) -> bool {
        gate.is_drained()
    }
}

/// Submits one task the way `ThreadPool::submit` does; `false` if refused.
fn submit(gate: &Gate, queue: &UnboundedQueue<u32>, capacity: usize, task: u32) -> bool {
    match gate.admit(capacity, || 0) {
        Ok(sleeper) => {
            queue.push(task);
            if sleeper {
                gate.wake_one();
            }
            true
        }
        Err(Refused::Full | Refused::Closed) => false,
    }
}

/// Tasks run so far, with a condvar so the main thread can wait for them without spinning (a
/// worker parked for good then shows as a deadlock, not as an endless spin).
#[derive(Default)]
struct Ran {
    count: Mutex<usize>,
    cv: Condvar,
}

impl Ran {
    fn one(&self) {
        *self.count.lock().unwrap() += 1;
        self.cv.notify_all();
    }
    fn wait_for(&self, n: usize) {
        let mut count = self.count.lock().unwrap();
        while *count < n {
            count = self.cv.wait(count).unwrap();
        }
    }
    fn get(&self) -> usize {
        *self.count.lock().unwrap()
    }
}

/// The worker loop: take a task (reporting it to the gate), or sleep; exits when allowed.
fn work(side: &dyn WorkerSide, gate: &Gate, queue: &UnboundedQueue<u32>, ran: &Ran) {
    loop {
        if queue.pop().is_some() {
            gate.taken(1);
            ran.one();
            continue;
        }
        if side.may_exit(gate, queue) {
            return;
        }
        side.sleep(gate, queue);
    }
}

/// Two submitters race a worker going to sleep; the main thread waits until both tasks have run
/// (before any close, whose broadcast would wake a worker a lost wakeup left parked), then closes
/// and joins: every task runs exactly once, and the worker exits.
fn check_handoff(side: impl Fn() -> Box<dyn WorkerSide> + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let gate = Arc::new(Gate::new());
        let queue = Arc::new(UnboundedQueue::<u32>::new());
        let ran = Arc::new(Ran::default());
        let worker = {
            let (gate, queue, ran, side) = (
                Arc::clone(&gate),
                Arc::clone(&queue),
                Arc::clone(&ran),
                side(),
            );
            thread::spawn(move || work(&*side, &gate, &queue, &ran))
        };
        let submitter = {
            let (gate, queue) = (Arc::clone(&gate), Arc::clone(&queue));
            thread::spawn(move || submit(&gate, &queue, 4, 1))
        };
        let mine = submit(&gate, &queue, 4, 2);
        let theirs = submitter.join().unwrap();
        assert!(mine && theirs, "nothing was closed or full at submission");
        ran.wait_for(2);
        gate.close();
        worker.join().unwrap();
        assert_eq!(ran.get(), 2);
    });
}

#[test]
fn gate_handoff_never_loses_a_wakeup() {
    check_handoff(|| Box::new(Real));
}

/// Close racing a submission: the close happens while the submitter may be between its admission
/// and its push. A worker may only exit once the count shows the admitted task taken, so the
/// task an `Ok` submission promised is run by the worker (nobody drains after the join here).
#[test]
fn close_racing_a_submission_strands_nothing() {
    check_close(|| Box::new(Real));
}

fn check_close(side: impl Fn() -> Box<dyn WorkerSide> + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let gate = Arc::new(Gate::new());
        let queue = Arc::new(UnboundedQueue::<u32>::new());
        let ran = Arc::new(Ran::default());
        let worker = {
            let (gate, queue, ran, side) = (
                Arc::clone(&gate),
                Arc::clone(&queue),
                Arc::clone(&ran),
                side(),
            );
            thread::spawn(move || work(&*side, &gate, &queue, &ran))
        };
        let submitter = {
            let (gate, queue) = (Arc::clone(&gate), Arc::clone(&queue));
            thread::spawn(move || submit(&gate, &queue, 4, 1))
        };
        gate.close();
        worker.join().unwrap();
        let accepted = submitter.join().unwrap();
        assert_eq!(ran.get(), usize::from(accepted));
    });
}

/// The bound: with capacity 1 and no worker, of two racing submissions exactly one is admitted.
#[test]
fn admission_never_exceeds_the_capacity() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let gate = Arc::new(Gate::new());
        let other = {
            let gate = Arc::clone(&gate);
            thread::spawn(move || gate.admit(1, || 0).is_ok())
        };
        let mine = gate.admit(1, || 0).is_ok();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one of two racing admissions fits");
        assert_eq!(gate.queued(), 1);
    });
}

/// Broken twin 1: the worker trusts the queue instead of the admission count: it parks (with no
/// deadline) unless the queue shows a task, even when its registration's old value shows a
/// backlog. An admission before the registration whose push has not landed yet: the submitter
/// saw no sleeper and does not wake; the worker saw an empty queue and parks for good. (The real
/// worker spins on a backlog; only after several rounds does it park, and then with a 1 ms
/// deadline, which loom does not model.)
struct QueueCheck;

impl WorkerSide for QueueCheck {
    fn sleep(&self, gate: &Gate, queue: &UnboundedQueue<u32>) {
        // BUG: park on a backlog unless the queue shows the task.
        gate.sleep(
            || !queue.is_empty(),
            Some(std::time::Duration::from_millis(1)),
        );
    }
    fn may_exit(&self, gate: &Gate, _queue: &UnboundedQueue<u32>) -> bool {
        gate.is_drained()
    }
}

#[test]
#[should_panic]
fn queue_check_twin_loses_a_wakeup() {
    check_handoff(|| Box::new(QueueCheck));
}

/// Broken twin 2: the worker exits once the pool is closed and the *queue* is empty, ignoring the
/// count: a submission admitted before the close but not yet pushed is stranded.
struct ExitOnEmptyQueue;

impl WorkerSide for ExitOnEmptyQueue {
    fn sleep(&self, gate: &Gate, queue: &UnboundedQueue<u32>) {
        Real.sleep(gate, queue);
    }
    fn may_exit(&self, gate: &Gate, queue: &UnboundedQueue<u32>) -> bool {
        // BUG: the queue, not the count.
        gate.is_closed() && queue.is_empty()
    }
}

#[test]
#[should_panic]
fn exit_on_empty_queue_twin_strands_a_task() {
    check_close(|| Box::new(ExitOnEmptyQueue));
}
