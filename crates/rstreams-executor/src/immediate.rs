//! The immediate executor: runs tasks on the submitting thread, trampolined.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::Scheduler;
use crate::lane::{Job, LaneHost, LaneInner, SerialLane};
use crate::task::{
    ExecutorStats, RejectReason, Rejected, RepeatingTask, Task, TimerHandle, run_caught,
};
use crate::timer::Timers;

/// Runs each task on the thread that submits it, before `execute` returns, **trampolined**: a
/// task submitted while another is running on the same thread (recursion) is queued on a
/// thread-local list and run after the current one returns, so the stack depth stays constant
/// however deep the submission chain goes.
///
/// Delayed and periodic tasks run on a timer thread (started on first use) when due. Lanes work
/// (they run on the submitting thread, in order). Panics are caught, counted and reported; they
/// do not reach the submitter.
///
/// The thread-local trampoline list is unbounded by nature: it holds the tasks submitted by the
/// task that is currently running on this thread.
///
/// ```
/// use rstreams_executor::ImmediateExecutor;
/// use std::sync::{Arc, Mutex};
///
/// let exec = ImmediateExecutor::new();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let (e, l) = (exec.clone(), Arc::clone(&log));
/// exec.spawn(move || {
///     let l2 = Arc::clone(&l);
///     e.spawn(move || l2.lock().unwrap().push("inner")).unwrap(); // queued, not nested
///     l.lock().unwrap().push("outer");
/// })
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["outer", "inner"]); // all done before spawn returned
/// ```
#[derive(Clone)]
pub struct ImmediateExecutor {
    inner: Arc<ImmediateInner>,
}

struct ImmediateInner {
    running: AtomicUsize,
    completed: AtomicUsize,
    panicked: AtomicUsize,
    rejected: AtomicUsize,
    shutdown: AtomicBool,
    timers: Timers,
    weak_self: Weak<ImmediateInner>,
}

struct Trampoline {
    active: Cell<bool>,
    unbounded_queue: RefCell<VecDeque<(Arc<ImmediateInner>, Job)>>,
}

thread_local! {
    static TRAMPOLINE: Trampoline = const {
        Trampoline { active: Cell::new(false), unbounded_queue: RefCell::new(VecDeque::new()) }
    };
}

fn trampoline(inner: Arc<ImmediateInner>, job: Job) {
    let mut first = Some((inner, job));
    let entered = TRAMPOLINE.try_with(|t| {
        if t.active.get() {
            if let Some(item) = first.take() {
                t.unbounded_queue.borrow_mut().push_back(item);
            }
            return;
        }
        t.active.set(true);
        let mut next = first.take();
        while let Some((inner, job)) = next {
            inner.run_job(job);
            next = t.unbounded_queue.borrow_mut().pop_front();
        }
        t.active.set(false);
    });
    if entered.is_err() {
        // Thread-local storage is being torn down: run without trampolining.
        if let Some((inner, job)) = first {
            inner.run_job(job);
        }
    }
}

impl ImmediateInner {
    fn run(&self, task: Task) -> bool {
        // Relaxed everywhere: statistics only.
        self.running.fetch_add(1, Ordering::Relaxed);
        let ok = run_caught(task, "immediate", None);
        self.running.fetch_sub(1, Ordering::Relaxed);
        let counter = if ok { &self.completed } else { &self.panicked };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }

    fn run_job(self: Arc<Self>, job: Job) {
        match job {
            Job::Task(task) => {
                self.run(task);
            }
            Job::Lane(lane) => {
                if lane.drain_batch(|t| self.run(t)) {
                    // We are inside the trampoline: this queues the next batch behind other work.
                    trampoline(self, Job::Lane(lane));
                }
            }
        }
    }

    fn is_shutdown(&self) -> bool {
        // Acquire pairs with the Release store in `shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }
}

impl LaneHost for ImmediateInner {
    fn accepting(&self) -> bool {
        !self.is_shutdown()
    }

    fn schedule_lane(&self, lane: Arc<LaneInner>) -> Result<(), Arc<LaneInner>> {
        match self.weak_self.upgrade() {
            Some(inner) => {
                trampoline(inner, Job::Lane(lane));
                Ok(())
            }
            None => Err(lane),
        }
    }

    fn run_lane_task(&self, task: Task) -> bool {
        self.run(task)
    }
}

impl Default for ImmediateExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ImmediateExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImmediateExecutor")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ImmediateExecutor {
    /// A new immediate executor (its timer thread starts on the first delayed task).
    pub fn new() -> Self {
        Self {
            inner: Arc::new_cyclic(|weak: &Weak<ImmediateInner>| {
                let to_exec = weak.clone();
                ImmediateInner {
                    running: AtomicUsize::new(0),
                    completed: AtomicUsize::new(0),
                    panicked: AtomicUsize::new(0),
                    rejected: AtomicUsize::new(0),
                    shutdown: AtomicBool::new(false),
                    timers: Timers::new(
                        "rstreams-immediate-timer".to_owned(),
                        Arc::new(move |task| {
                            if let Some(inner) = to_exec.upgrade() {
                                trampoline(inner, Job::Task(task));
                            }
                        }),
                    ),
                    weak_self: weak.clone(),
                }
            }),
        }
    }

    /// [`Scheduler::execute`] for a closure (boxes it).
    ///
    /// # Errors
    ///
    /// After [`shutdown`](ImmediateExecutor::shutdown).
    pub fn spawn<F>(&self, f: F) -> Result<(), Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute(Box::new(f))
    }

    /// Stops accepting submissions and cancels pending timers (joining the timer thread).
    pub fn shutdown(&self) {
        // Release pairs with the Acquire in `is_shutdown`.
        self.inner.shutdown.store(true, Ordering::Release);
        self.inner.timers.stop(true);
    }

    /// A snapshot of the counters (`queued` is always 0: nothing waits).
    pub fn stats(&self) -> ExecutorStats {
        ExecutorStats {
            queued: 0,
            // Relaxed: statistics only.
            running: self.inner.running.load(Ordering::Relaxed),
            completed: self.inner.completed.load(Ordering::Relaxed),
            panicked: self.inner.panicked.load(Ordering::Relaxed),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
        }
    }

    fn rejected<T>(&self, task: T) -> Rejected<T> {
        // Relaxed: statistics only.
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
        Rejected::new(task, RejectReason::Shutdown)
    }
}

impl Scheduler for ImmediateExecutor {
    fn execute(&self, task: Task) -> Result<(), Rejected> {
        if self.inner.is_shutdown() {
            return Err(self.rejected(task));
        }
        trampoline(Arc::clone(&self.inner), Job::Task(task));
        Ok(())
    }

    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected> {
        if self.inner.is_shutdown() {
            return Err(self.rejected(task));
        }
        self.inner
            .timers
            .schedule_once(Instant::now() + delay, task)
            .map_err(|task| self.rejected(task))
    }

    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        if period.is_zero() {
            // Relaxed: statistics only.
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Rejected::new(task, RejectReason::ZeroPeriod));
        }
        if self.inner.is_shutdown() {
            return Err(self.rejected(task));
        }
        self.inner
            .timers
            .schedule_periodic(Instant::now() + initial, task, period)
            .map_err(|f| self.rejected(f))
    }

    fn lane(&self) -> SerialLane {
        let host: Weak<dyn LaneHost> = self.inner.weak_self.clone();
        SerialLane::new(host)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
