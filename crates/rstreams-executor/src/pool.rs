//! The fixed-size thread pool; its design notes are on [`ThreadPool`] (rendered in rustdoc).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Condvar, Mutex};

use crate::Scheduler;
use crate::lane::{Job, LaneHost, LaneInner, SerialLane};
use crate::sleep::{MAX_SLEEPERS, Sleep};
use crate::sync::BoundedQueue;
use crate::task::{
    ExecutorStats, PanicHandler, RejectReason, Rejected, RepeatingTask, Task, TaskPanic,
    TimerHandle, run_caught,
};
use crate::timer::Timers;

/// Default bound of the submission queue.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// What a submission does when the pool's bounded queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Block the submitting thread until a slot frees up (the default). Backpressure by waiting.
    #[default]
    Block,
    /// Return [`RejectReason::QueueFull`] at once, handing the task back.
    Reject,
}

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// use rstreams_executor::{FullPolicy, ThreadPool};
///
/// let pool = ThreadPool::builder()
///     .workers(2)
///     .thread_name_prefix("decoder")
///     .queue_capacity(256)
///     .full_policy(FullPolicy::Reject)
///     .panic_handler(|p| eprintln!("task panicked: {:?}", p.message()))
///     .build()
///     .expect("spawn worker threads");
/// assert_eq!(pool.workers(), 2);
/// ```
#[must_use]
pub struct ThreadPoolBuilder {
    workers: Option<usize>,
    name_prefix: String,
    stack_size: Option<usize>,
    queue_capacity: usize,
    full_policy: FullPolicy,
    panic_handler: Option<PanicHandler>,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self {
            workers: None,
            name_prefix: "rstreams-worker".to_owned(),
            stack_size: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            full_policy: FullPolicy::Block,
            panic_handler: None,
        }
    }
}

impl std::fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("workers", &self.workers)
            .field("name_prefix", &self.name_prefix)
            .field("stack_size", &self.stack_size)
            .field("queue_capacity", &self.queue_capacity)
            .field("full_policy", &self.full_policy)
            .field("panic_handler", &self.panic_handler.is_some())
            .finish()
    }
}

impl ThreadPoolBuilder {
    /// The default configuration (same as [`ThreadPool::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of worker threads. Default: [`std::thread::available_parallelism`] (1 if unknown).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// Thread name prefix; workers are named `{prefix}-{index}` and the timer thread
    /// `{prefix}-timer`. Default `rstreams-worker`.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// Stack size of each worker thread, in bytes. Default: the std default.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Bound of the submission queue (jobs waiting, not counting running ones; exact). Its slots
    /// are allocated when the pool is built. Default [`DEFAULT_QUEUE_CAPACITY`].
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// What a submission does when the queue is full. Default [`FullPolicy::Block`].
    pub fn full_policy(mut self, policy: FullPolicy) -> Self {
        self.full_policy = policy;
        self
    }

    /// A hook called (on the worker) for every caught task panic, after the `tracing` error event.
    pub fn panic_handler(mut self, hook: impl Fn(&TaskPanic<'_>) + Send + Sync + 'static) -> Self {
        self.panic_handler = Some(Arc::new(hook));
        self
    }

    /// Spawns the workers.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `workers` or `queue_capacity` is 0 (or `workers` is absurdly large);
    /// the OS error if a thread cannot be spawned (threads already spawned are shut down).
    pub fn build(self) -> io::Result<ThreadPool> {
        let workers = self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        if workers == 0 || workers > MAX_SLEEPERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "worker count must be between 1 and 2^20 - 1",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "queue capacity must be at least 1",
            ));
        }
        let id = NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed); // Relaxed: only uniqueness matters.
        let name = self.name_prefix.clone();
        let inner = Arc::new_cyclic(|weak: &Weak<PoolInner>| {
            let to_pool = weak.clone();
            PoolInner {
                id,
                queue: BoundedQueue::new(self.queue_capacity),
                space: CachePadded::new(Sleep::new()),
                policy: self.full_policy,
                sleep: CachePadded::new(Sleep::new()),
                stop_now: AtomicBool::new(false),
                // One slot per worker plus one shared by threads that are not workers.
                slots: (0..=workers)
                    .map(|i| {
                        CachePadded::new(Slot {
                            exclusive: i < workers,
                            ..Slot::default()
                        })
                    })
                    .collect(),
                rejected: AtomicUsize::new(0),
                dropped: AtomicUsize::new(0),
                panic_handler: self.panic_handler,
                live: Mutex::new(0),
                terminated: Condvar::new(),
                threads: Mutex::new(Vec::with_capacity(workers)),
                timers: Timers::new(
                    format!("{}-timer", self.name_prefix),
                    Arc::new(move |task| {
                        if let Some(pool) = to_pool.upgrade() {
                            // Err: the pool is closed; the due task is dropped, as documented.
                            let _ = pool.submit(Job::Task(task), true);
                        }
                    }),
                ),
                name,
                weak_self: weak.clone(),
            }
        });
        let pool = ThreadPool { inner };
        for index in 0..workers {
            let mut builder =
                std::thread::Builder::new().name(format!("{}-{index}", self.name_prefix));
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let worker_inner = Arc::clone(&pool.inner);
            *pool.inner.live.lock() += 1;
            match builder.spawn(move || worker_main(&worker_inner, index)) {
                Ok(handle) => pool.inner.threads.lock().push(handle),
                Err(error) => {
                    *pool.inner.live.lock() -= 1;
                    return Err(error); // `pool` drops here: the started workers are shut down.
                }
            }
        }
        tracing::debug!(pool = %pool.inner.name, workers, capacity = self.queue_capacity, "thread pool started");
        Ok(pool)
    }
}

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// (pool id, slot index) of the pool this thread is a worker of; pool id 0 = none.
    static WORKER: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Per-worker counters, each on its own cache line so workers never share one.
#[derive(Default)]
struct Slot {
    /// `true` for a worker's own slot (single writer); `false` for the shared external slot.
    exclusive: bool,
    running: AtomicUsize,
    completed: AtomicUsize,
    panicked: AtomicUsize,
}

impl Slot {
    fn add(&self, counter: &AtomicUsize, delta: isize) {
        if self.exclusive {
            // Single writer (the owning worker): a plain load+store avoids a locked instruction
            // on the hot path. Relaxed: the counters are statistics, readers only sum them.
            let value = counter.load(Ordering::Relaxed).wrapping_add_signed(delta);
            counter.store(value, Ordering::Relaxed);
        } else {
            // Relaxed: statistics only.
            counter.fetch_add(delta as usize, Ordering::Relaxed);
        }
    }
}

struct PoolInner {
    id: usize,
    name: String,
    /// The one queue every submission goes to and every worker pops from (FIFO, bounded exactly
    /// by the configured capacity; one SeqCst compare-exchange per push and per pop).
    queue: BoundedQueue<Job>,
    /// Submitters blocked on a full queue park here; workers `publish` after every pop.
    /// The same protocol as `sleep`, with "queue has room" as the condition.
    space: CachePadded<Sleep>,
    policy: FullPolicy,
    /// Sleep/wake protocol and the CLOSED gate, on its own cache line: submitters read it on
    /// every submission, sleeping workers write it.
    sleep: CachePadded<Sleep>,
    /// Immediate shutdown: workers drop instead of run.
    stop_now: AtomicBool,
    slots: Box<[CachePadded<Slot>]>,
    rejected: AtomicUsize,
    dropped: AtomicUsize,
    panic_handler: Option<PanicHandler>,
    live: Mutex<usize>,
    terminated: Condvar,
    threads: Mutex<Vec<JoinHandle<()>>>,
    timers: Timers,
    weak_self: Weak<PoolInner>,
}

impl PoolInner {
    /// The slot of the current thread if it is one of our workers.
    fn own_worker_slot(&self) -> Option<usize> {
        let (pool, index) = WORKER.with(Cell::get);
        (pool == self.id).then_some(index)
    }

    fn external_slot(&self) -> &Slot {
        &self.slots[self.slots.len() - 1]
    }

    fn current_slot(&self) -> &Slot {
        match self.own_worker_slot() {
            Some(index) => &self.slots[index],
            None => self.external_slot(),
        }
    }

    /// Pushes a job. `force_block` makes a full queue block even under `FullPolicy::Reject`
    /// (timer dispatch).
    ///
    /// Gate: a cheap `is_closed` check before the push, and the SeqCst read in `publish` after
    /// it. If that read shows the queue was closed meanwhile, the workers may have exited after
    /// finding the queue empty, so this thread drains the queue itself (`help_after_close`); if
    /// not, the closer's final drain will see the push. An accepted task is never stranded, and
    /// no lock is taken on the submission path.
    #[inline]
    fn submit(&self, job: Job, force_block: bool) -> Result<(), (Job, RejectReason)> {
        if self.sleep.is_closed() {
            return Err((job, RejectReason::Shutdown));
        }
        match self.queue.try_push(job) {
            Ok(()) => {
                if self.sleep.publish() {
                    self.help_after_close();
                }
                Ok(())
            }
            Err(job) => self.submit_full(job, force_block),
        }
    }

    /// The queue was full: apply the policy (out of line, off the fast path).
    #[cold]
    fn submit_full(&self, mut job: Job, force_block: bool) -> Result<(), (Job, RejectReason)> {
        if self.policy == FullPolicy::Reject && !force_block {
            return Err((job, RejectReason::QueueFull));
        }
        if let Some(index) = self.own_worker_slot() {
            tracing::trace!("queue full on a worker: caller runs");
            self.run_job(job, &self.slots[index]);
            return Ok(());
        }
        let backoff = Backoff::new();
        loop {
            if self.is_closed() {
                return Err((job, RejectReason::Shutdown));
            }
            match self.queue.try_push(job) {
                Ok(()) => {
                    if self.sleep.publish() {
                        self.help_after_close();
                    }
                    return Ok(());
                }
                Err(back) => job = back,
            }
            if backoff.is_completed() {
                self.space
                    .sleep(|| !self.queue.is_full() || self.is_closed());
            } else {
                backoff.snooze();
            }
        }
    }

    /// Pushes without ever blocking; gives the job back if full or closed.
    fn try_push(&self, job: Job) -> Result<(), Job> {
        if self.sleep.is_closed() {
            return Err(job);
        }
        self.queue.try_push(job)?;
        if self.sleep.publish() {
            self.help_after_close();
        }
        Ok(())
    }

    /// Takes one job from the queue; wakes a submitter blocked on a full queue, if any.
    #[inline]
    fn pop_shared(&self) -> Option<Job> {
        let job = self.queue.pop()?;
        // The pop's SeqCst compare-exchange on the head, then `publish`'s SeqCst read: the same
        // pairing as a submission's, with "room in the queue" as the condition.
        self.space.publish();
        Some(job)
    }

    /// After close and join: run (or, after `shutdown_now`, drop) anything a racing submission
    /// left behind.
    fn drain_after_join(&self) {
        if !self.queue.is_empty() {
            self.help_after_close();
        }
    }

    /// A push raced with `close`: run (or, after `shutdown_now`, drop) whatever is queued.
    fn help_after_close(&self) {
        tracing::debug!("submission raced with shutdown; draining the queue on this thread");
        let slot = self.current_slot();
        while let Some(job) = self.pop_shared() {
            if self.is_stopping_now() {
                self.discard(job);
            } else {
                self.run_job(job, slot);
            }
        }
    }

    fn execute(&self, task: Task) -> Result<(), Rejected> {
        self.submit(Job::Task(task), false)
            .map_err(|(job, reason)| {
                // Relaxed: statistics only.
                self.rejected.fetch_add(1, Ordering::Relaxed);
                let Job::Task(task) = job else {
                    unreachable!("submit hands back the job it was given")
                };
                Rejected::new(task, reason)
            })
    }

    fn run_task(&self, task: Task, slot: &Slot) -> bool {
        // Acquire pairs with the Release store in `shutdown_now`.
        if self.stop_now.load(Ordering::Acquire) {
            drop(task);
            self.dropped.fetch_add(1, Ordering::Relaxed); // Relaxed: read after joining.
            return true;
        }
        slot.add(&slot.running, 1);
        let ok = run_caught(task, &self.name, self.panic_handler.as_ref());
        slot.add(&slot.running, -1);
        slot.add(if ok { &slot.completed } else { &slot.panicked }, 1);
        ok
    }

    fn run_job(&self, job: Job, slot: &Slot) {
        match job {
            Job::Task(task) => {
                self.run_task(task, slot);
            }
            Job::Lane(lane) => {
                if lane.drain_batch(|t| self.run_task(t, slot)) {
                    self.requeue_lane(lane, slot);
                }
            }
        }
    }

    /// A drain that still has work goes to the back of the queue; if the queue is full or closed
    /// the worker keeps draining instead (never blocks on its own queue).
    fn requeue_lane(&self, mut lane: Arc<LaneInner>, slot: &Slot) {
        loop {
            match self.try_push(Job::Lane(lane)) {
                Ok(()) => return,
                Err(Job::Lane(back)) => {
                    lane = back;
                    if !lane.drain_batch(|t| self.run_task(t, slot)) {
                        return;
                    }
                }
                Err(Job::Task(_)) => unreachable!("try_push hands back the job it was given"),
            }
        }
    }

    fn discard(&self, job: Job) {
        let n = match job {
            Job::Task(task) => {
                drop(task);
                1
            }
            Job::Lane(lane) => lane.discard_all(),
        };
        self.dropped.fetch_add(n, Ordering::Relaxed); // Relaxed: read after joining.
    }

    /// Pops, spinning briefly (crossbeam `Backoff`: exponential spins, then a few yields) while
    /// the queue is empty; `None` once the spin is spent.
    fn find_job(&self) -> Option<Job> {
        let backoff = Backoff::new();
        loop {
            if let Some(job) = self.pop_shared() {
                return Some(job);
            }
            if backoff.is_completed() {
                return None;
            }
            backoff.snooze();
        }
    }

    fn is_closed(&self) -> bool {
        self.sleep.is_closed()
    }

    fn is_stopping_now(&self) -> bool {
        // Acquire pairs with the Release store in `shutdown_now`.
        self.stop_now.load(Ordering::Acquire)
    }

    /// Stops accepting work and wakes every worker. Idempotent.
    fn close(&self) {
        // CLOSED first, then wake the submitters blocked on a full queue: a woken submitter
        // re-checks `is_closed` (the CLOSED bit of `sleep`), so the bit must already be set when
        // `space` wakes it, or it sees "not closed", waits again and nothing wakes it a second
        // time (no worker may pop again: after `shutdown_now` they exit, and the closer's own
        // drain may already be over). `tests/loom_pool_close.rs` checks this order and catches the reverse one.
        let first = self.sleep.close();
        self.space.close();
        if first {
            // Not joined from a worker: the timer thread may be blocked handing a due task to a
            // full queue that only the workers (this one included) can drain.
            let timers = self.timers.stop(self.own_worker_slot().is_none());
            tracing::debug!(pool = %self.name, cancelled_timers = timers, "pool closed");
        }
    }

    /// Joins the workers (all but the calling one, if it is a worker) and waits for termination.
    fn join(&self) {
        let handles = std::mem::take(&mut *self.threads.lock());
        let me = std::thread::current().id();
        for handle in handles {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
        if self.own_worker_slot().is_none() {
            let mut live = self.live.lock();
            while *live > 0 {
                self.terminated.wait(&mut live);
            }
        }
    }

    fn stats(&self) -> ExecutorStats {
        let mut stats = ExecutorStats {
            queued: self.queue.len(),
            // Relaxed: statistics only.
            rejected: self.rejected.load(Ordering::Relaxed),
            ..ExecutorStats::default()
        };
        for slot in self.slots.iter() {
            // Relaxed: statistics only.
            stats.running += slot.running.load(Ordering::Relaxed);
            stats.completed += slot.completed.load(Ordering::Relaxed);
            stats.panicked += slot.panicked.load(Ordering::Relaxed);
        }
        stats
    }
}

impl LaneHost for PoolInner {
    fn accepting(&self) -> bool {
        !self.is_closed()
    }

    fn schedule_lane(&self, lane: Arc<LaneInner>) -> Result<(), Arc<LaneInner>> {
        self.submit(Job::Lane(lane), false)
            .map_err(|(job, _)| match job {
                Job::Lane(lane) => lane,
                Job::Task(_) => unreachable!("submit hands back the job it was given"),
            })
    }

    fn run_lane_task(&self, task: Task) -> bool {
        self.run_task(task, self.current_slot())
    }
}

fn worker_main(inner: &Arc<PoolInner>, index: usize) {
    WORKER.with(|w| w.set((inner.id, index)));
    let slot = &inner.slots[index];
    let span = tracing::debug_span!("rstreams_worker", pool = %inner.name, index);
    let _entered = span.enter();
    tracing::debug!("worker started");
    loop {
        match inner.find_job() {
            Some(job) => {
                if inner.is_stopping_now() {
                    inner.discard(job);
                    break;
                }
                inner.run_job(job, slot);
            }
            None => {
                if inner.is_stopping_now() || (inner.is_closed() && inner.queue.is_empty()) {
                    break;
                }
                inner.sleep.sleep(|| {
                    !inner.queue.is_empty() || inner.is_closed() || inner.is_stopping_now()
                });
            }
        }
    }
    WORKER.with(|w| w.set((0, 0)));
    tracing::debug!("worker exits");
    let mut live = inner.live.lock();
    *live -= 1;
    if *live == 0 {
        inner.terminated.notify_all();
    }
}

/// A fixed-size pool of worker threads behind a bounded queue.
///
/// # Design
///
/// * **Work distribution: one bounded MPMC array queue** (crossbeam-channel's `bounded` flavour,
///   used as a queue: Vyukov's array with a stamp per slot), FIFO: every submission pushes into
///   it and every worker pops from it. A push claims its slot with one SeqCst compare-exchange
///   on the tail, a pop with one on the head; that same SeqCst order also serves the sleep
///   protocol below, so a submission costs one locked instruction plus plain loads and stores
///   (`docs/performance.md`, "Session 5: pool", for the measurements against the earlier
///   injector + per-worker deques + stealing design and its admission credits). With one worker
///   (see [`DedicatedThread`](crate::DedicatedThread)) execution is strictly FIFO; with several,
///   jobs start in FIFO order.
/// * **Bounded submission, exactly.** The queue holds at most
///   [`queue_capacity`](ThreadPoolBuilder::queue_capacity) jobs (running jobs do not count). When
///   it is full, [`FullPolicy::Block`] (default) spins briefly and then parks the submitter until
///   a worker pops (same park/wake protocol as idle workers, with "room in the queue" as the
///   condition; a shutdown releases it with [`RejectReason::Shutdown`]), and
///   [`FullPolicy::Reject`] hands the task back in a [`Rejected`]. A *worker* of the pool that
///   submits into its own full queue under `Block` would risk a deadlock (every worker blocked on
///   the queue only workers drain), so in that case the task runs at once on the submitting worker
///   ("caller runs").
/// * **Idle workers** spin briefly (crossbeam `Backoff`: a few exponential spins, then a few
///   `yield`s), then park on a condition variable, following the protocol below. Submitting costs
///   no lock while all workers are busy.
/// * **Serial lanes** ([`SerialLane`]) put a single drain job on the queue while they have work;
///   the drain runs a batch of the lane's tasks and re-queues itself at the back if more remain.
///   A re-queue never blocks: if the queue is full the worker keeps draining instead.
/// * **Timers** live on one timer thread per pool, started on first use; due tasks are submitted
///   to the queue like any other task (blocking if it is full, whatever the policy).
///
/// ## Shutdown
///
/// [`shutdown`](ThreadPool::shutdown) closes the queue to new submissions (they get
/// [`RejectReason::Shutdown`] and their task back), cancels pending timers, lets the workers run
/// everything already queued (including lane tasks), then joins them.
/// [`shutdown_now`](ThreadPool::shutdown_now) also closes, then drops every queued task (each one
/// is dropped, running its destructors, not leaked), lets running tasks finish, joins, and returns
/// how many tasks it dropped. Dropping the pool is a graceful `shutdown`, except that a drop on one
/// of the pool's own workers detaches instead of joining (see [`Drop`](#impl-Drop-for-ThreadPool)).
/// Called from one of the pool's own workers, `shutdown` and `shutdown_now` do not join the calling
/// worker (it exits once its task returns).
///
/// Closing is one bit (CLOSED) in the same atomic word the sleep protocol uses, so submission
/// takes no lock: a submitter checks the bit, pushes, then runs the protocol's SeqCst read of the
/// word (below). The closer sets the bit, issues a SeqCst fence, wakes and joins the workers, and
/// finally drains whatever is still queued on its own thread. Of the submitter's SeqCst push and
/// read and the closer's fence, the total order S decides: either the submitter's read sees CLOSED (then it drains the queue
/// itself, because the workers may be gone), or the closer's final drain sees the push. So a task
/// accepted (`Ok`) is always run (or, after `shutdown_now`, dropped and counted), possibly on the
/// submitting or the closing thread when it raced with the shutdown; a task refused comes back.
///
/// ## Sleep/wake protocol
///
/// One word, `state`, holds the number of workers registered as sleeping that no submitter has
/// claimed yet (low bits) and the CLOSED bit. A mutex guards a count of wakeup tokens; a
/// condition variable goes with it.
///
/// * **Submitter** (`Sleep::publish`), *after* pushing its task onto the queue (whose slot claim
///   is a SeqCst compare-exchange): a SeqCst load of `state`, no fence. Only if it shows an
///   unclaimed sleeper does it take the mutex, claim the sleeper (move one unit from `state` to
///   the tokens) and `notify_one`. Later submitters then see no unclaimed sleeper and skip the
///   lock until that worker sleeps again. While every worker is busy a submission is one
///   compare-exchange, a stamp store and two loads: no lock, no fence, and no write to a line
///   the workers read.
/// * **Worker** (`Sleep::sleep`), after a failed pop and a short spin: take the mutex; register
///   (one RMW on `state`); a SeqCst fence; re-check `must_wake()` (queue non-empty, read with
///   SeqCst loads of head and tail; or closed); if nothing, `wait`, which releases the mutex
///   atomically. It returns when it finds a token (or, after a broadcast, when `must_wake()`
///   holds, releasing its own registration) and goes back to popping. Every worker inside
///   `sleep` accounts for exactly one unit of sleepers + tokens.
/// * A submitter blocked on a full queue sleeps the same way on a second word (`space`), and a
///   worker runs the submitter's side after each pop (the pop's SeqCst compare-exchange on the
///   head, then a SeqCst load).
///
/// ## Why no wakeup is lost
///
/// SeqCst operations and fences are totally ordered (the order S), consistently with each
/// thread's program order. Suppose the submitter's load of `state` misses the worker's
/// registration. Then that load precedes, in S, the worker's fence (which comes after the
/// registration), so the submitter's push, earlier still, precedes that fence too, and the
/// worker's SeqCst re-check of the queue after its fence sees the push (or a later state): it
/// does not wait. Otherwise the submitter's load sees the registration (or a later value) and
/// goes to take the mutex. The worker has held it since before registering and only releases it
/// inside `wait` (or after deciding not to wait), so the claim and `notify_one` happen while the
/// worker is already waiting (or after it left, in which case its registration is gone and
/// nothing is claimed). If another submitter claimed that sleeper first, that worker is awake and
/// will pop our task too: a woken worker pops until the queue is empty before it sleeps again.
///
/// With a Relaxed load after the push both threads could read stale values (the store-buffer
/// pattern) and both proceed as if the other were not there. Earlier versions paid a SeqCst
/// fence per submission on top of a queue push with two locked read-modify-writes and an
/// admission counter; they were correct but the submission alone cost twice a channel send (see
/// `docs/performance.md`). `tests/loom_pool_injector.rs` model-checks push/pop and both sleep
/// pairs with the queue in the model, with a broken twin (the Relaxed read) that loom shows
/// losing a wakeup; `tests/loom_queue_handoff.rs` checks the close race.
///
/// # Example
///
/// ```
/// use rstreams_executor::ThreadPool;
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::builder().workers(2).build().unwrap();
/// let (tx, rx) = mpsc::channel();
/// for i in 0..4 {
///     let tx = tx.clone();
///     pool.spawn(move || tx.send(i * i).unwrap()).unwrap();
/// }
/// drop(tx);
/// let mut squares: Vec<i32> = rx.iter().collect();
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub struct ThreadPool {
    inner: Arc<PoolInner>,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.inner.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ThreadPool {
    /// A builder with the defaults (available parallelism, queue of
    /// [`DEFAULT_QUEUE_CAPACITY`], [`FullPolicy::Block`]).
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// A pool with the default configuration.
    ///
    /// # Errors
    ///
    /// If a worker thread cannot be spawned.
    pub fn new() -> io::Result<Self> {
        Self::builder().build()
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.inner.slots.len() - 1
    }

    /// [`Scheduler::execute`] for a closure (boxes it).
    ///
    /// # Errors
    ///
    /// As [`Scheduler::execute`]: shut down, or full under [`FullPolicy::Reject`].
    pub fn spawn<F>(&self, f: F) -> Result<(), Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.inner.execute(Box::new(f))
    }

    /// Graceful shutdown: stop taking work, cancel pending timers, run what is queued, join the
    /// workers. Idempotent.
    pub fn shutdown(&self) {
        self.inner.close();
        self.inner.join();
        // A submission that raced with the close may have pushed after the workers left; its
        // push is visible here (see the shutdown notes), so run it now.
        self.inner.drain_after_join();
    }

    /// Immediate shutdown: stop taking work, cancel pending timers, drop every queued task
    /// (including lane tasks), let running tasks finish, join. Returns the number of tasks
    /// dropped (pending timers are not counted). If called from one of the pool's own workers
    /// the count excludes tasks other workers drop after this returns.
    pub fn shutdown_now(&self) -> usize {
        // Release pairs with the workers' Acquire loads: they drop instead of run from now on.
        self.inner.stop_now.store(true, Ordering::Release);
        self.inner.close();
        while let Some(job) = self.inner.pop_shared() {
            self.inner.discard(job);
        }
        self.inner.join();
        self.inner.drain_after_join();
        // Relaxed: the joins above ordered every worker's increments before this load.
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every worker to exit (after a shutdown). Returns `true` if they
    /// all did. Does not itself shut down.
    pub fn await_termination(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut live = self.inner.live.lock();
        while *live > 0 {
            if self
                .inner
                .terminated
                .wait_until(&mut live, deadline)
                .timed_out()
            {
                return *live == 0;
            }
        }
        true
    }

    /// Whether [`shutdown`](ThreadPool::shutdown) or [`shutdown_now`](ThreadPool::shutdown_now)
    /// has been called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_closed()
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> ExecutorStats {
        self.inner.stats()
    }

    /// Pending timers: armed, not yet due, not cancelled.
    pub fn pending_timers(&self) -> usize {
        self.inner.timers.pending()
    }
}

impl Drop for ThreadPool {
    /// A graceful [`shutdown`](ThreadPool::shutdown), except on one of the pool's own workers
    /// (e.g. the last stream stage owning the pool, via [`IntoScheduler`](crate::IntoScheduler),
    /// ended on it): there it *detaches*: it closes the pool and returns without joining. Joining
    /// the other workers from inside one of them deadlocks as soon as one of them waits for the
    /// task doing the drop. The workers still run everything queued (the dropping one included,
    /// once its task returns) and then exit on their own.
    fn drop(&mut self) {
        if self.inner.own_worker_slot().is_some() {
            self.inner.close();
            tracing::debug!(pool = %self.inner.name, "pool dropped on its own worker: detached");
            return;
        }
        self.shutdown();
    }
}

impl Scheduler for ThreadPool {
    fn execute(&self, task: Task) -> Result<(), Rejected> {
        self.inner.execute(task)
    }

    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected> {
        if self.inner.is_closed() {
            return Err(Rejected::new(task, RejectReason::Shutdown));
        }
        let deadline = Instant::now() + delay;
        self.inner
            .timers
            .schedule_once(deadline, task)
            .map_err(|task| Rejected::new(task, RejectReason::Shutdown))
    }

    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        if period.is_zero() {
            return Err(Rejected::new(task, RejectReason::ZeroPeriod));
        }
        if self.inner.is_closed() {
            return Err(Rejected::new(task, RejectReason::Shutdown));
        }
        let deadline = Instant::now() + initial;
        self.inner
            .timers
            .schedule_periodic(deadline, task, period)
            .map_err(|f| Rejected::new(f, RejectReason::Shutdown))
    }

    fn lane(&self) -> SerialLane {
        let host: Weak<dyn LaneHost> = self.inner.weak_self.clone();
        SerialLane::new(host)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
