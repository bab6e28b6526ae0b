//! One thread, FIFO.

use std::io;
use std::time::{Duration, Instant};

use crate::pool::{FullPolicy, ThreadPool};
use crate::task::{ExecutorStats, Rejected, RepeatingTask, Task, TimerHandle};
use crate::{Scheduler, SerialLane};

/// A single dedicated thread running tasks one at a time in submission order (FIFO) — for work
/// that must stay on one thread, or an event loop. It is a one-worker [`ThreadPool`] (same bounded
/// queue, shutdown, timers and panic isolation); a panicking task does not kill the thread.
///
/// ```
/// use rstreams_executor::{DedicatedThread, Scheduler};
/// use std::sync::mpsc;
///
/// let thread = DedicatedThread::new("ui").unwrap();
/// let (tx, rx) = mpsc::channel();
/// thread.execute(Box::new(move || {
///     tx.send(std::thread::current().name().map(str::to_owned)).unwrap();
/// })).unwrap();
/// assert_eq!(rx.recv().unwrap().as_deref(), Some("ui-0"));
/// ```
#[derive(Debug)]
pub struct DedicatedThread {
    pool: ThreadPool,
}

impl DedicatedThread {
    /// Spawns the thread, named `{name}-0`, with a blocking queue of
    /// [`DEFAULT_QUEUE_CAPACITY`](crate::DEFAULT_QUEUE_CAPACITY).
    ///
    /// # Errors
    ///
    /// If the thread cannot be spawned.
    pub fn new(name: &str) -> io::Result<Self> {
        Self::with_queue(name, crate::DEFAULT_QUEUE_CAPACITY, FullPolicy::Block)
    }

    /// Spawns the thread with the given queue bound and full-queue policy.
    ///
    /// # Errors
    ///
    /// If the thread cannot be spawned or `capacity` is 0.
    pub fn with_queue(name: &str, capacity: usize, policy: FullPolicy) -> io::Result<Self> {
        let pool = ThreadPool::builder()
            .workers(1)
            .thread_name_prefix(name)
            .queue_capacity(capacity)
            .full_policy(policy)
            .build()?;
        Ok(Self { pool })
    }

    /// Graceful shutdown (see [`ThreadPool::shutdown`]).
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// Immediate shutdown (see [`ThreadPool::shutdown_now`]).
    pub fn shutdown_now(&self) -> usize {
        self.pool.shutdown_now()
    }

    /// See [`ThreadPool::await_termination`].
    pub fn await_termination(&self, timeout: Duration) -> bool {
        self.pool.await_termination(timeout)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ExecutorStats {
        self.pool.stats()
    }
}

impl Scheduler for DedicatedThread {
    fn execute(&self, task: Task) -> Result<(), Rejected> {
        self.pool.execute(task)
    }

    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected> {
        self.pool.execute_after(delay, task)
    }

    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        self.pool.execute_at_fixed_rate(initial, period, task)
    }

    fn lane(&self) -> SerialLane {
        self.pool.lane()
    }

    fn now(&self) -> Instant {
        self.pool.now()
    }
}
