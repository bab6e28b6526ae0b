//! The deterministic executor for tests: nothing runs until the test says so.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::Scheduler;
use crate::lane::{Job, LaneHost, LaneInner, SerialLane};
use crate::task::{
    ExecutorStats, RejectReason, Rejected, RepeatingTask, Task, TimerHandle, run_caught,
};
use crate::timer::{HeapWatch, TimerHeap, entry_task};

/// A deterministic executor: submitted tasks wait in a FIFO queue until the test calls
/// [`step`](ManualExecutor::step) or [`run_until_idle`](ManualExecutor::run_until_idle), and
/// timers wait for a **virtual clock** that only [`advance`](ManualExecutor::advance) moves.
/// No threads, no wall-clock sleeps: schedules replay identically on every run.
///
/// It is a cheap `Clone` handle; clones share the queue and the clock, so tasks can hold one and
/// submit more work while the test thread drives it. Tasks run on the thread that calls `step`,
/// `run_until_idle` or `advance`, with no lock held (a task may submit, step or advance).
///
/// Its queue is unbounded by design (a test tool: the test controls what goes in). Panics are
/// caught, counted and reported like on the pool.
///
/// ```
/// use rstreams_executor::{ManualExecutor, Scheduler};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let exec = ManualExecutor::new();
/// let log = Arc::new(Mutex::new(Vec::new()));
///
/// let l = Arc::clone(&log);
/// exec.execute_after(Duration::from_secs(10), Box::new(move || l.lock().unwrap().push("late"))).unwrap();
/// let l = Arc::clone(&log);
/// exec.execute_after(Duration::from_secs(1), Box::new(move || l.lock().unwrap().push("early"))).unwrap();
/// let l = Arc::clone(&log);
/// exec.spawn(move || l.lock().unwrap().push("now")).unwrap();
///
/// assert!(log.lock().unwrap().is_empty()); // nothing runs by itself
/// assert_eq!(exec.run_until_idle(), 1);
/// assert_eq!(exec.advance(Duration::from_secs(5)), 1); // the 1 s timer fires
/// assert_eq!(exec.advance(Duration::from_secs(5)), 1); // the 10 s timer fires
/// assert_eq!(*log.lock().unwrap(), ["now", "early", "late"]);
/// ```
#[derive(Clone)]
pub struct ManualExecutor {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    state: Mutex<ManualState>,
    running: AtomicUsize,
    completed: AtomicUsize,
    panicked: AtomicUsize,
    rejected: AtomicUsize,
    weak_self: Weak<ManualInner>,
}

struct ManualState {
    unbounded_queue: VecDeque<Job>,
    timers: TimerHeap,
    now: Instant,
    shutdown: bool,
}

impl std::fmt::Debug for ManualExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualExecutor")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for ManualExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualInner {
    fn run(&self, task: Task) -> bool {
        // Relaxed everywhere below: statistics only; the tasks themselves are ordered by the
        // state mutex they were queued through.
        self.running.fetch_add(1, Ordering::Relaxed);
        let ok = run_caught(task, "manual", None);
        self.running.fetch_sub(1, Ordering::Relaxed);
        let counter = if ok { &self.completed } else { &self.panicked };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }

    fn finished(&self) -> usize {
        // Relaxed: statistics only.
        self.completed.load(Ordering::Relaxed) + self.panicked.load(Ordering::Relaxed)
    }

    fn push(&self, job: Job) -> Result<(), Job> {
        let mut state = self.state.lock();
        if state.shutdown {
            return Err(job);
        }
        state.unbounded_queue.push_back(job);
        Ok(())
    }
}

impl LaneHost for ManualInner {
    fn accepting(&self) -> bool {
        !self.state.lock().shutdown
    }

    fn schedule_lane(&self, lane: Arc<LaneInner>) -> Result<(), Arc<LaneInner>> {
        self.push(Job::Lane(lane)).map_err(|job| match job {
            Job::Lane(lane) => lane,
            Job::Task(_) => unreachable!("push hands back the job it was given"),
        })
    }

    fn run_lane_task(&self, task: Task) -> bool {
        self.run(task)
    }
}

impl ManualExecutor {
    /// An empty executor whose virtual clock starts at the current [`Instant`].
    pub fn new() -> Self {
        Self {
            inner: Arc::new_cyclic(|weak: &Weak<ManualInner>| ManualInner {
                state: Mutex::new(ManualState {
                    unbounded_queue: VecDeque::new(),
                    timers: TimerHeap::new(HeapWatch::new({
                        let weak = weak.clone();
                        move || {
                            if let Some(inner) = weak.upgrade()
                                && let Some(mut state) = inner.state.try_lock()
                            {
                                state.timers.compact();
                                let dead = state.timers.bury();
                                drop(state);
                                drop(dead);
                            }
                        }
                    })),
                    now: Instant::now(),
                    shutdown: false,
                }),
                running: AtomicUsize::new(0),
                completed: AtomicUsize::new(0),
                panicked: AtomicUsize::new(0),
                rejected: AtomicUsize::new(0),
                weak_self: weak.clone(),
            }),
        }
    }

    /// [`Scheduler::execute`] for a closure (boxes it).
    ///
    /// # Errors
    ///
    /// After [`shutdown`](ManualExecutor::shutdown).
    pub fn spawn<F>(&self, f: F) -> Result<(), Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute(Box::new(f))
    }

    /// Runs the next queued job (one task, or one batch of a serial lane) on the calling thread.
    /// Returns `false` if the queue was empty.
    pub fn step(&self) -> bool {
        let job = self.inner.state.lock().unbounded_queue.pop_front();
        match job {
            None => false,
            Some(Job::Task(task)) => {
                self.inner.run(task);
                true
            }
            Some(Job::Lane(lane)) => {
                if lane.drain_batch(|t| self.inner.run(t)) {
                    // Back of the queue, like the pool: other jobs get their turn.
                    self.inner
                        .state
                        .lock()
                        .unbounded_queue
                        .push_back(Job::Lane(lane));
                }
                true
            }
        }
    }

    /// Steps until the queue is empty, including tasks submitted meanwhile. Returns the number of
    /// tasks run. Does not move the clock. (A task that always re-submits itself never lets this
    /// return.)
    pub fn run_until_idle(&self) -> usize {
        let before = self.inner.finished();
        while self.step() {}
        self.inner.finished() - before
    }

    /// Moves the virtual clock forward by `by`. Every timer due by the new time fires in deadline
    /// order (ties in arming order): the clock is set to the timer's deadline, its task is queued,
    /// and the queue is run until idle, so work a timer triggers (including timers it arms that are
    /// also due) happens before later timers. Finally the clock is set to the target. Returns the
    /// number of tasks run.
    pub fn advance(&self, by: Duration) -> usize {
        let target = self.now() + by;
        let mut ran = self.run_until_idle();
        loop {
            let (due, dead) = {
                let mut state = self.inner.state.lock();
                let entry = state.timers.pop_due(target);
                if let Some(entry) = &entry {
                    state.now = state.now.max(entry.deadline);
                }
                (entry, state.timers.bury())
            };
            // Cancelled entries' destructors run unlocked: they may arm timers.
            drop(dead);
            let Some(entry) = due else { break };
            let weak = self.inner.weak_self.clone();
            let task = entry_task(entry, move |deadline, handle, f, period| {
                if let Some(inner) = weak.upgrade() {
                    let mut state = inner.state.lock();
                    if !state.shutdown {
                        state.timers.rearm(deadline, handle, f, period);
                    }
                }
            });
            self.inner
                .state
                .lock()
                .unbounded_queue
                .push_back(Job::Task(task));
            ran += self.run_until_idle();
        }
        let mut state = self.inner.state.lock();
        state.now = state.now.max(target);
        ran
    }

    /// Queued jobs (a lane with work counts as one).
    pub fn queued(&self) -> usize {
        self.inner.state.lock().unbounded_queue.len()
    }

    /// Armed timers that are not cancelled.
    pub fn pending_timers(&self) -> usize {
        self.inner.state.lock().timers.live()
    }

    /// Stops accepting submissions and drops pending timers; what is queued can still be run with
    /// `step` / `run_until_idle`.
    pub fn shutdown(&self) {
        let timers = {
            let mut state = self.inner.state.lock();
            state.shutdown = true;
            state.timers.take_all()
        };
        // Dropped outside the lock: a timer task's destructor may touch the executor.
        drop(timers);
    }

    /// Stops accepting submissions, drops every queued task and pending timer, and returns how
    /// many queued tasks were dropped.
    pub fn shutdown_now(&self) -> usize {
        let (jobs, timers): (Vec<Job>, _) = {
            let mut state = self.inner.state.lock();
            state.shutdown = true;
            let timers = state.timers.take_all();
            (state.unbounded_queue.drain(..).collect(), timers)
        };
        drop(timers);
        // Dropped outside the lock: a task's destructor may touch the executor.
        jobs.into_iter()
            .map(|job| match job {
                Job::Task(task) => {
                    drop(task);
                    1
                }
                Job::Lane(lane) => lane.discard_all(),
            })
            .sum()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ExecutorStats {
        ExecutorStats {
            queued: self.queued(),
            // Relaxed: statistics only.
            running: self.inner.running.load(Ordering::Relaxed),
            completed: self.inner.completed.load(Ordering::Relaxed),
            panicked: self.inner.panicked.load(Ordering::Relaxed),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
        }
    }

    fn rejected<T>(&self, task: T, reason: RejectReason) -> Rejected<T> {
        // Relaxed: statistics only.
        self.inner.rejected.fetch_add(1, Ordering::Relaxed);
        Rejected::new(task, reason)
    }

    /// Runs `push` on the timer heap with the deadline `delay` after the virtual now, unless
    /// shut down: then `value` (the task) is given back.
    fn arm<V>(
        &self,
        delay: Duration,
        value: V,
        push: impl FnOnce(&mut TimerHeap, Instant, V) -> TimerHandle,
    ) -> Result<TimerHandle, V> {
        let mut state = self.inner.state.lock();
        if state.shutdown {
            return Err(value);
        }
        let deadline = state.now + delay;
        let handle = push(&mut state.timers, deadline, value);
        let dead = state.timers.bury();
        drop(state);
        drop(dead);
        Ok(handle)
    }
}

impl Scheduler for ManualExecutor {
    fn execute(&self, task: Task) -> Result<(), Rejected> {
        self.inner.push(Job::Task(task)).map_err(|job| match job {
            Job::Task(task) => self.rejected(task, RejectReason::Shutdown),
            Job::Lane(_) => unreachable!("push hands back the job it was given"),
        })
    }

    /// Arms a timer `delay` after the *virtual* now; it fires during a later
    /// [`advance`](ManualExecutor::advance) (a zero delay fires on `advance(Duration::ZERO)`).
    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected> {
        self.arm(delay, task, |timers, deadline, task| {
            timers.push_once(deadline, task)
        })
        .map_err(|task| self.rejected(task, RejectReason::Shutdown))
    }

    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        if period.is_zero() {
            return Err(self.rejected(task, RejectReason::ZeroPeriod));
        }
        self.arm(initial, task, |timers, deadline, f| {
            timers.push_periodic(deadline, f, period)
        })
        .map_err(|f| self.rejected(f, RejectReason::Shutdown))
    }

    fn lane(&self) -> SerialLane {
        let host: Weak<dyn LaneHost> = self.inner.weak_self.clone();
        SerialLane::new(host)
    }

    /// The virtual clock.
    fn now(&self) -> Instant {
        self.inner.state.lock().now
    }
}
