//! Serial lanes; the hand-off protocol is documented on [`SerialLane`] (rendered in rustdoc).

// `pub` (not `pub(crate)`) so that `--cfg rstreams_loom` builds can re-export these types to the
// loom models (`crate::__loom`); outside that cfg nothing names them from outside the crate.
#![allow(unreachable_pub)]

use std::sync::{Arc, Weak};

use crate::sync::{AtomicUsize, Ordering, UnboundedQueue};
use crate::task::{RejectReason, Rejected, Task};

/// Tasks a drain runs before re-scheduling itself (fairness towards other lanes and tasks).
pub(crate) const LANE_BATCH: usize = 128;

/// The lane hand-off protocol, independent of any executor (this is what loom checks).
///
/// The queue is unbounded by name: a lane's occupancy is bounded by whoever feeds it (in rstreams,
/// by the downstream demand of the stage that owns the lane), not by the lane.
#[derive(Debug)]
pub struct LaneCore<T> {
    wip: AtomicUsize,
    unbounded_queue: UnboundedQueue<T>,
}

impl<T> Default for LaneCore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> LaneCore<T> {
    /// An idle lane.
    pub fn new() -> Self {
        Self {
            wip: AtomicUsize::new(0),
            unbounded_queue: UnboundedQueue::new(),
        }
    }

    /// Enqueues `item`. Returns `true` if the caller took the drain token and must arrange for
    /// [`drain`](LaneCore::drain) to be called.
    pub fn push(&self, item: T) -> bool {
        self.unbounded_queue.push(item);
        // AcqRel: the release half publishes the push to the drainer (whose acquire reads this
        // increment); the acquire half pairs with the previous drainer's release `fetch_sub`
        // when we observe 0, so we start after that drain's effects.
        self.wip.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// Runs up to `budget` items (`budget >= 1`) with `run`, in queue order. Only the token
    /// holder may call it. Returns `true` if items remain: the caller still holds the token and
    /// must call `drain` again (typically after re-scheduling). `run` must not unwind.
    pub fn drain(&self, budget: usize, mut run: impl FnMut(T)) -> bool {
        debug_assert!(budget >= 1);
        let mut done = 0;
        // Acquire pairs with the AcqRel increments in `push`: every counted item is visible.
        let mut owed = self.wip.load(Ordering::Acquire);
        debug_assert!(owed >= 1, "drain without the token");
        loop {
            let n = owed.min(budget - done);
            for _ in 0..n {
                let item = self
                    .unbounded_queue
                    .pop()
                    .expect("lane invariant: a counted item is in the queue");
                run(item);
            }
            done += n;
            // AcqRel: release hands our effects to the next token holder (who reads this value
            // with an acquire); acquire makes items counted since our load visible.
            owed = self.wip.fetch_sub(n, Ordering::AcqRel) - n;
            if owed == 0 {
                return false;
            }
            if done >= budget {
                return true;
            }
        }
    }

    /// Items pushed and not yet run (a snapshot).
    pub fn pending(&self) -> usize {
        // Relaxed: statistic only.
        self.wip.load(Ordering::Relaxed)
    }
}

/// A job on an executor queue: a plain task, or a lane's drain.
pub(crate) enum Job {
    Task(Task),
    Lane(Arc<LaneInner>),
}

/// What a lane needs from the executor it runs on.
pub(crate) trait LaneHost: Send + Sync + 'static {
    /// Whether new submissions are still accepted.
    fn accepting(&self) -> bool;
    /// Queues the lane's drain job. Never blocks forever: on failure (queue full, shut down) the
    /// lane is handed back and the caller runs the drain itself.
    fn schedule_lane(&self, lane: Arc<LaneInner>) -> Result<(), Arc<LaneInner>>;
    /// Runs one lane task with the executor's panic isolation and counters; `true` if it returned
    /// normally.
    fn run_lane_task(&self, task: Task) -> bool;
}

pub(crate) struct LaneInner {
    core: LaneCore<Task>,
    host: Weak<dyn LaneHost>,
    completed: AtomicUsize,
    panicked: AtomicUsize,
}

impl LaneInner {
    /// Runs one batch with `run` (which applies the executor's panic isolation). Returns `true` if
    /// work remains and the caller must re-schedule (or drain again).
    pub(crate) fn drain_batch(&self, mut run: impl FnMut(Task) -> bool) -> bool {
        self.core.drain(LANE_BATCH, |task| {
            // Single writer: only the token holder gets here, and successive holders are ordered
            // by `wip`, so Relaxed load+store is enough (no RMW needed).
            let counter = if run(task) {
                &self.completed
            } else {
                &self.panicked
            };
            counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        })
    }

    /// Drains everything on the calling thread (fallback when the drain cannot be scheduled).
    fn drain_inline(self: &Arc<Self>, host: &dyn LaneHost) {
        tracing::debug!("lane drain could not be scheduled; running it on the submitting thread");
        while self.drain_batch(|t| host.run_lane_task(t)) {}
    }

    /// Drops every pending task (immediate shutdown). Returns how many were dropped.
    pub(crate) fn discard_all(&self) -> usize {
        let mut dropped = 0;
        while self.core.drain(usize::MAX, |task| {
            drop(task);
            dropped += 1;
        }) {}
        dropped
    }
}

/// A serial lane: tasks submitted to it run **in submission order, never two at once**, on the
/// executor it came from ([`Scheduler::lane`](crate::Scheduler::lane)), on whichever worker is
/// free. An idle lane holds no thread.
///
/// Clones share the lane. "Submission order" is the order in which `execute` calls take effect; two
/// threads racing to submit are ordered arbitrarily but each thread's own tasks keep their order.
///
/// A panicking task is caught, counted (on the lane and the executor) and reported; the lane goes on
/// with its next task.
///
/// ```
/// use rstreams_executor::{Scheduler, ThreadPool};
/// use std::sync::{Arc, Mutex};
///
/// let pool = ThreadPool::builder().workers(2).build().unwrap();
/// let lane = pool.lane();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// for i in 0..100 {
///     let seen = Arc::clone(&seen);
///     lane.spawn(move || seen.lock().unwrap().push(i)).unwrap();
/// }
/// pool.shutdown(); // graceful: runs what is queued, then joins
/// assert_eq!(*seen.lock().unwrap(), (0..100).collect::<Vec<_>>());
/// ```
///
/// # Hand-off protocol (work-in-progress counter)
///
/// A lane is a FIFO queue plus a counter `wip` of tasks pushed but not yet run.
///
/// * **Submit:** push the task, *then* `wip.fetch_add(1)`. The one submitter that moves `wip` from
///   0 to 1 holds the *drain token* and schedules the lane's drain job on the executor; everyone
///   else just leaves.
/// * **Drain:** whoever holds the token runs tasks in queue order. After running `n` tasks it does
///   `wip.fetch_sub(n)`: if that reaches 0 the lane is idle and the token is given up (the next
///   submitter will pick it up); otherwise the drain keeps the token and continues. After a
///   bounded batch it re-schedules itself at the back of the executor's queue instead, so one busy
///   lane cannot starve other work.
///
/// Consequences: only the token holder ever pops, so tasks run in push order and never two at a
/// time; the drain runs on whichever worker picks the job; a lane with no work holds no worker
/// (it is just memory). Because every push precedes its increment, a drain that has counted a
/// task (acquire on `wip`) is guaranteed to find it in the queue.
///
/// `tests/loom_lane_handoff.rs` model-checks `LaneCore` and a broken twin (the idle check done
/// as a load followed by a store) which loses a task.
///
/// # Capacity and rejection
///
/// The lane's own queue is unbounded by design: a lane is an execution vehicle and whoever feeds it
/// bounds it (a `publish_on` stage bounds it by its prefetch). The lane occupies at most one slot
/// of the executor's bounded queue. A submission is rejected (task handed back) only when the
/// executor is shut down. If the drain job cannot be queued (the executor's queue is full under
/// [`FullPolicy::Reject`](crate::FullPolicy::Reject), or a shutdown races the submission), the
/// submitting thread runs the drain itself, so no accepted task is lost or reordered.
#[derive(Clone)]
pub struct SerialLane {
    inner: Arc<LaneInner>,
}

impl std::fmt::Debug for SerialLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialLane")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Counters of one [`SerialLane`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneStats {
    /// Tasks submitted and not yet finished (includes the one running, if any).
    pub pending: usize,
    /// Tasks that returned normally.
    pub completed: usize,
    /// Tasks that panicked.
    pub panicked: usize,
}

impl SerialLane {
    pub(crate) fn new(host: Weak<dyn LaneHost>) -> Self {
        Self {
            inner: Arc::new(LaneInner {
                core: LaneCore::new(),
                host,
                completed: AtomicUsize::new(0),
                panicked: AtomicUsize::new(0),
            }),
        }
    }

    /// Submits a task to run after every task previously submitted to this lane.
    pub fn execute(&self, task: Task) -> Result<(), Rejected> {
        let Some(host) = self.inner.host.upgrade() else {
            return Err(Rejected::new(task, RejectReason::Shutdown));
        };
        if !host.accepting() {
            return Err(Rejected::new(task, RejectReason::Shutdown));
        }
        if self.inner.core.push(task)
            && let Err(lane) = host.schedule_lane(Arc::clone(&self.inner))
        {
            lane.drain_inline(&*host);
        }
        Ok(())
    }

    /// [`execute`](SerialLane::execute) for a closure (boxes it).
    pub fn spawn<F>(&self, f: F) -> Result<(), Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute(Box::new(f))
    }

    /// A snapshot of this lane's counters.
    pub fn stats(&self) -> LaneStats {
        LaneStats {
            pending: self.inner.core.pending(),
            // Relaxed: statistics only.
            completed: self.inner.completed.load(Ordering::Relaxed),
            panicked: self.inner.panicked.load(Ordering::Relaxed),
        }
    }
}
