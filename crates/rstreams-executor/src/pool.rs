//! The fixed-size thread pool; its design notes are on [`ThreadPool`] (rendered in rustdoc).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Condvar, Mutex};

use crate::Scheduler;
use crate::gate::{Gate, MAX_CAPACITY, Refused};
use crate::lane::{Job, LaneHost, LaneInner, SerialLane};
use crate::sleep::{MAX_SLEEPERS, Sleep};
use crate::task::{
    ExecutorStats, PanicHandler, RejectReason, Rejected, RepeatingTask, Task, TaskPanic,
    TimerHandle, run_caught,
};
use crate::timer::Timers;

/// Most jobs a worker moves from the shared queue into its own deque at once.
const STEAL_BATCH: usize = 32;

/// Idle rounds (each a full `Backoff` of looking) a worker spins while the gate shows admitted
/// jobs it cannot find yet, before it parks for at most `BACKLOG_WAIT` per round instead.
const BACKLOG_SPINS: u32 = 4;
const BACKLOG_WAIT: Duration = Duration::from_millis(1);

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

    /// Bound of the submission queue: jobs admitted and not yet started (see "Bounded
    /// submission" on [`ThreadPool`]). At most 2^32. Default [`DEFAULT_QUEUE_CAPACITY`].
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
        if self.queue_capacity == 0 || self.queue_capacity > MAX_CAPACITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "queue capacity must be between 1 and 2^32",
            ));
        }
        let locals: Vec<Worker<Job>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let stealers: Box<[Stealer<Job>]> = locals.iter().map(Worker::stealer).collect();
        let id = NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed); // Relaxed: only uniqueness matters.
        let name = self.name_prefix.clone();
        let inner = Arc::new_cyclic(|weak: &Weak<PoolInner>| {
            let to_pool = weak.clone();
            PoolInner {
                id,
                injector: Injector::new(),
                stealers,
                capacity: self.queue_capacity,
                space: CachePadded::new(Sleep::new()),
                policy: self.full_policy,
                gate: CachePadded::new(Gate::new()),
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
        for (index, local) in locals.into_iter().enumerate() {
            let mut builder =
                std::thread::Builder::new().name(format!("{}-{index}", self.name_prefix));
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let worker_inner = Arc::clone(&pool.inner);
            *pool.inner.live.lock() += 1;
            match builder.spawn(move || worker_main(&worker_inner, index, &local)) {
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
    /// Jobs this worker started and has not reported to the gate yet (single writer: the
    /// worker); read by submitters that find the queue full (`PoolInner::unreported`).
    unreported: AtomicUsize,
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
    /// The shared queue every submission goes to (FIFO). Bounded by `capacity` at admission
    /// (`gate`); workers move batches of at most `STEAL_BATCH` jobs into their own deque.
    injector: Injector<Job>,
    /// Thieves for every worker's own deque (index = worker index).
    stealers: Box<[Stealer<Job>]>,
    capacity: usize,
    /// Submitters blocked on a full queue park here; workers `publish` after reporting started
    /// jobs to the gate. The fence-based `Sleep` protocol, with "queue has room" as the condition.
    space: CachePadded<Sleep>,
    policy: FullPolicy,
    /// Admission count + CLOSED + idle workers' sleep protocol in one word, on its own cache
    /// line: one RMW per submission; workers write it once per batch and when they sleep.
    gate: CachePadded<Gate>,
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
    /// One RMW on the gate admits the job (or refuses it: closed, full), and tells whether a
    /// worker sleeps; then the push, and a wake only if one did. No lock, no fence. A job
    /// admitted before the close is counted, and workers do not exit while any admitted job is
    /// untaken, so an accepted task is never stranded (see the shutdown notes on `ThreadPool`).
    fn submit(&self, job: Job, force_block: bool) -> Result<(), (Job, RejectReason)> {
        let sleeper = loop {
            match self.gate.admit(self.capacity, || self.unreported()) {
                Ok(sleeper) => break sleeper,
                Err(Refused::Closed) => return Err((job, RejectReason::Shutdown)),
                Err(Refused::Full) => {
                    if self.policy == FullPolicy::Reject && !force_block {
                        return Err((job, RejectReason::QueueFull));
                    }
                    if let Some(index) = self.own_worker_slot() {
                        tracing::trace!("queue full on a worker: caller runs");
                        self.run_job(job, &self.slots[index]);
                        return Ok(());
                    }
                    self.wait_for_room();
                }
            }
        };
        self.injector.push(job);
        if sleeper {
            self.gate.wake_one();
        }
        Ok(())
    }

    /// Blocks (spin, then park on `space`) until the queue has room or the pool is closed.
    fn wait_for_room(&self) {
        let backoff = Backoff::new();
        while self.is_full() && !self.is_closed() {
            if backoff.is_completed() {
                self.space.sleep(|| !self.is_full() || self.is_closed());
            } else {
                backoff.snooze();
            }
        }
    }

    /// Whether `capacity` jobs are admitted and not yet started.
    fn is_full(&self) -> bool {
        self.gate.queued() >= self.capacity.saturating_add(self.unreported())
    }

    /// Starts the workers have not reported to the gate yet (at most `STEAL_BATCH` each): they
    /// still count there but wait for nobody, so a full check discounts them. A stale read can
    /// discount a batch already reported: the bound then loosens by at most `STEAL_BATCH` per
    /// worker, never more.
    fn unreported(&self) -> usize {
        self.slots
            .iter()
            // Relaxed: a hint for the full check (the bound's slack above), no data hangs on it.
            .map(|slot| slot.unreported.load(Ordering::Relaxed))
            .sum()
    }

    /// Pushes without ever blocking; gives the job back if full or closed.
    fn try_push(&self, job: Job) -> Result<(), Job> {
        match self.gate.admit(self.capacity, || self.unreported()) {
            Ok(sleeper) => {
                self.injector.push(job);
                if sleeper {
                    self.gate.wake_one();
                }
                Ok(())
            }
            Err(_) => Err(job),
        }
    }

    /// Takes one job from the shared queue (not from workers' deques), reporting it to the gate.
    fn pop_shared(&self) -> Option<Job> {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => {
                    self.gate.taken(1);
                    return Some(job);
                }
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// After close and join: run (or, after `shutdown_now`, drop) anything a racing submission
    /// left behind.
    fn drain_after_join(&self) {
        if !self.injector.is_empty() {
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

    /// Own deque first, then a batch from the shared queue, then one job from another worker.
    ///
    /// Every job found counts in `started`, reported to the gate (one RMW, then a `space`
    /// publish for blocked submitters) before the worker runs the last job its deque holds, or
    /// once `STEAL_BATCH` have accumulated: so the gate hears of starts once per batch, and a
    /// worker never runs a job (which may take long) while its unreported starts keep the count
    /// above zero with an empty deque behind them.
    fn find_job(&self, local: &Worker<Job>, index: usize, started: &mut usize) -> Option<Job> {
        let Some(job) = self.find_job_inner(local, index) else {
            // A thief may have emptied our deque while we ran a job: report before idling.
            self.report_started(started, &self.slots[index]);
            return None;
        };
        *started += 1;
        if *started >= STEAL_BATCH || local.is_empty() {
            self.report_started(started, &self.slots[index]);
        } else {
            // Relaxed: see `unreported`. Single writer, so a plain store.
            self.slots[index]
                .unreported
                .store(*started, Ordering::Relaxed);
        }
        Some(job)
    }

    fn report_started(&self, started: &mut usize, slot: &Slot) {
        if *started > 0 {
            // Zero first, then the report: a full check in between sees the jobs counted and not
            // discounted (strict), never discounted twice. Relaxed: see `unreported`.
            slot.unreported.store(0, Ordering::Relaxed);
            self.gate.taken(std::mem::take(started));
            // Room was made: wake a submitter blocked on a full queue, if any.
            self.space.publish();
        }
    }

    fn find_job_inner(&self, local: &Worker<Job>, index: usize) -> Option<Job> {
        let backoff = Backoff::new();
        loop {
            if let Some(job) = local.pop() {
                return Some(job);
            }
            match self
                .injector
                .steal_batch_with_limit_and_pop(local, STEAL_BATCH)
            {
                Steal::Success(job) => return Some(job),
                Steal::Retry => continue,
                Steal::Empty => {}
            }
            for (other, stealer) in self.stealers.iter().enumerate() {
                if other != index
                    && let Steal::Success(job) = stealer.steal()
                {
                    return Some(job);
                }
            }
            if backoff.is_completed() {
                return None;
            }
            backoff.snooze();
        }
    }

    fn is_closed(&self) -> bool {
        self.gate.is_closed()
    }

    fn is_stopping_now(&self) -> bool {
        // Acquire pairs with the Release store in `shutdown_now`.
        self.stop_now.load(Ordering::Acquire)
    }

    /// Stops accepting work and wakes every worker. Idempotent.
    fn close(&self) {
        let first = self.gate.close();
        // Then wake submitters blocked on a full queue: they re-check `is_closed` (the gate, set
        // just before) and give up.
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
            queued: self.injector.len() + self.stealers.iter().map(Stealer::len).sum::<usize>(),
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

fn worker_main(inner: &Arc<PoolInner>, index: usize, local: &Worker<Job>) {
    WORKER.with(|w| w.set((inner.id, index)));
    let slot = &inner.slots[index];
    let span = tracing::debug_span!("rstreams_worker", pool = %inner.name, index);
    let _entered = span.enter();
    tracing::debug!("worker started");
    // Jobs this worker found but has not yet reported to the gate (see `find_job`).
    let mut started = 0;
    // Consecutive idle rounds that saw a backlog in the gate but found nothing (`Gate::sleep`).
    let mut backlog_rounds = 0;
    loop {
        match inner.find_job(local, index, &mut started) {
            Some(job) => {
                backlog_rounds = 0;
                if inner.is_stopping_now() {
                    inner.discard(job);
                    break;
                }
                inner.run_job(job, slot);
            }
            None => {
                // `find_job` reported every start before giving up, so the gate's count is
                // only other workers' jobs and pushes in flight.
                if inner.is_stopping_now() || inner.gate.is_drained() {
                    break;
                }
                let wait = (backlog_rounds >= BACKLOG_SPINS).then_some(BACKLOG_WAIT);
                if inner.gate.sleep(|| inner.is_stopping_now(), wait) {
                    backlog_rounds += 1;
                } else {
                    backlog_rounds = 0;
                }
            }
        }
    }
    // Immediate shutdown may leave claimed jobs in our deque: drop (and count) them.
    while let Some(job) = local.pop() {
        started += 1;
        inner.discard(job);
    }
    inner.report_started(&mut started, slot);
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
/// * **Work distribution: a shared injector plus per-worker deques with stealing**
///   (`crossbeam-deque`), chosen by benchmark (`benches/benches/executor.rs`, ratios in
///   `docs/performance.md`, section "Executor"): against one shared bounded channel popped by
///   every worker, moving jobs in batches cuts the traffic on the shared queue's head, and the
///   design won clearly on 10^6 short tasks. Submissions go to the injector (FIFO). An idle worker
///   takes a batch of up to 32 jobs from it into its own FIFO deque, then runs them; a worker with
///   nothing in either steals one job from another worker's deque. With one worker (see
///   [`DedicatedThread`](crate::DedicatedThread)) execution is strictly FIFO; with several it is
///   FIFO per batch.
/// * **Bounded submission.** A submission is admitted only while fewer than
///   [`queue_capacity`](ThreadPoolBuilder::queue_capacity) jobs are *admitted and not yet
///   started*: a count in the gate word (below), raised by each admission and lowered by the
///   workers, which report the jobs they started once per batch (before running the last job of
///   a batch, at the latest after 32). So jobs waiting in the injector or in a worker's deque
///   count. Starts not yet reported also count, but a submission that finds the count at the
///   capacity discounts them (each worker publishes its unreported number with a plain store),
///   so a worker blocked in a long task does not shrink the queue. That discount may read a
///   number the worker has just reported: the overshoot is then at most 32 jobs per worker,
///   never more (and submitters racing a refused admission can briefly see "full" too early,
///   never too late). When the queue is full, [`FullPolicy::Block`] (default)
///   parks the submitter until a worker reports starts (a condvar protocol with "room in the
///   queue" as the condition; a shutdown releases it with [`RejectReason::Shutdown`]), and
///   [`FullPolicy::Reject`] hands the task back in a [`Rejected`]. A *worker* of the pool that
///   submits into its own full queue under `Block` would risk a deadlock (every worker blocked on
///   the queue only workers drain), so in that case the task runs at once on the submitting worker
///   ("caller runs").
/// * **Idle workers** spin briefly (crossbeam `Backoff`: a few exponential spins, then a few
///   `yield`s), then park on a condition variable, following the protocol below. Submitting costs
///   one read-modify-write and no lock while all workers are busy.
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
/// how many tasks it dropped. Dropping the pool is a graceful `shutdown`. Called from one of the
/// pool's own workers, these do not join the calling worker (it exits once its task returns).
///
/// Closing is one bit (CLOSED) in the gate word that admission increments, so submission takes
/// no lock: every admission comes before or after the close in that word's modification order.
/// One before it is counted, and a worker exits only once the pool is closed *and* the count is
/// zero, so the job it admitted is pushed and run before the workers leave; one after it sees
/// CLOSED and is refused. So a task accepted (`Ok`) is always run (or, after `shutdown_now`,
/// dropped and counted); a task refused comes back. (The closer still drains the injector after
/// joining, for the case of a shutdown called from one of the pool's own workers.)
///
/// ## Submission gate: admission, CLOSED and sleepers in one word
///
/// One atomic word, the *gate*, holds the count of admitted-not-started jobs (low bits), the
/// number of workers registered as sleeping that no submitter has claimed yet (middle bits) and
/// CLOSED. A mutex guards a count of wakeup tokens; a condition variable goes with it. Every
/// change of the word is a read-modify-write, so they are totally ordered and each sees the
/// latest value: that order, not fences, carries the protocol.
///
/// * **Submitter**: one `fetch_add` of one job. The old value says closed (undo, refuse), full
///   (undo; block or refuse), or admitted, and whether a sleeper is registered. Then the push;
///   then, only if a sleeper was seen, take the mutex, claim one (move a unit from the word to
///   the tokens) and `notify_one`. Later submitters see no unclaimed sleeper and skip the lock.
/// * **Worker**, after failing to find a job (own deque, injector, other deques) and a short
///   spin: take the mutex; register with one `fetch_add` whose old value is the re-check:
///   a positive count (a push in flight, or another worker's unreported starts), CLOSED, or an
///   immediate shutdown means do not wait. Otherwise `wait`, which releases the mutex atomically,
///   until a token (or a broadcast at close). A worker that keeps seeing a count but no job
///   spins a few rounds, then waits at most 1 ms per round (still registered, so an admission
///   wakes it), so it never spins through another worker's long task.
///
/// ## Why no wakeup is lost
///
/// Take a submission and a worker's registration. If the admission comes first in the word's
/// order, the registration's old value shows the count, and the worker goes back to looking
/// (the push lands within the submitter's next few instructions; the count stays up until a
/// worker has started that job). If the registration comes first, the admission's old value
/// shows the sleeper, and the submitter takes the mutex after its push: the worker has held the
/// mutex since before registering and releases it only inside `wait`, so the claim and
/// `notify_one` find it waiting (or gone, its registration withdrawn, and nothing is claimed). If
/// another submitter claimed that sleeper first, the woken worker looks for work until it finds
/// none, which includes our job. `tests/loom_pool_gate.rs` model-checks submissions, sleep and
/// close against this word, with broken twins (a worker that decides from the queue's emptiness
/// instead of the count, a close that lets workers leave with admitted jobs unpushed) that loom
/// shows losing a wakeup or a task.
///
/// Earlier versions paid more per submission: an `RwLock` read gate, then an RMW of the sleep word
/// plus a length read for the bound, then a SeqCst fence + load for the sleep protocol plus a
/// separate admission-credit RMW. The fence and the second RMW cost ~40 ns on the benchmark VM
/// (see `docs/performance.md`, "Session 3: pool (14.5)").
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
    fn drop(&mut self) {
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
