//! Executors for rstreams: where stream stages run.
//!
//! Operators such as `publish_on` take a [`Scheduler`] — usually stored as `Arc<dyn Scheduler>` —
//! and never care which executor is behind it. This crate provides four:
//!
//! | executor | runs tasks on | use it for |
//! |---|---|---|
//! | [`ThreadPool`] | N worker threads, bounded shared queue, work stealing | production work |
//! | [`DedicatedThread`] | one thread, FIFO | thread-affine work, event loops |
//! | [`ImmediateExecutor`] | the submitting thread, trampolined | no thread hop at all |
//! | [`ManualExecutor`] | whoever calls `step` / `advance` | deterministic tests, virtual time |
//!
//! Operators accept any of them through [`IntoScheduler`] (`pool`, `&pool`, `Arc<dyn Scheduler>`,
//! …), and [`default_pool`] is a process-wide pool sized to the machine, created on first use,
//! for code that does not want to own one (see its notes on process exit).
//!
//! Every executor can also hand out [`SerialLane`]s: ordered, one-at-a-time sub-executors that
//! cost no thread while idle (one per stream stage that must see its signals serially).
//!
//! # A tour
//!
//! ```
//! use rstreams_executor::{Scheduler, SchedulerExt, ThreadPool};
//! use std::sync::{Arc, mpsc};
//! use std::time::Duration;
//!
//! // A pool, used through the object-safe trait, as operators do.
//! let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build()?);
//!
//! let (tx, rx) = mpsc::channel();
//! let t = tx.clone();
//! pool.spawn(move || t.send("task").unwrap())?;
//!
//! // A lane: these run in order, never concurrently, on whichever worker is free.
//! let lane = pool.lane();
//! for i in 0..3 {
//!     let t = tx.clone();
//!     lane.spawn(move || t.send(["a", "b", "c"][i]).unwrap())?;
//! }
//!
//! // A timer; dropping the handle does not cancel it.
//! let t = tx.clone();
//! let _timer = pool.execute_after(Duration::from_millis(1), Box::new(move || t.send("timer").unwrap()))?;
//! drop(tx);
//!
//! let got: Vec<&str> = rx.iter().take(5).collect();
//! let lane_order: Vec<&str> = got.iter().copied().filter(|s| s.len() == 1).collect();
//! assert_eq!(lane_order, ["a", "b", "c"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! * **Bounded.** The pool's queue has a fixed capacity (see [`ThreadPool`] for the exact
//!   meaning); when full, a submitter blocks
//!   ([`FullPolicy::Block`], default) or gets its task back ([`FullPolicy::Reject`]). The only
//!   unbounded queues are named so: a lane's own queue (bounded by whoever feeds the lane), the
//!   immediate executor's trampoline, and the manual executor's test queue.
//! * **Nothing is lost.** A refused task comes back in [`Rejected::into_task`]. Graceful
//!   shutdown runs everything queued; immediate shutdown drops (never leaks) every queued task and
//!   says how many.
//! * **Panics are isolated.** A panicking task is caught; the worker, the pool and the lane go on.
//!   The panic is counted in [`ExecutorStats::panicked`], reported as a `tracing` error event, and
//!   passed to an optional hook ([`ThreadPoolBuilder::panic_handler`]).
//! * **Lanes are serial.** Tasks of one [`SerialLane`] run in submission order and never
//!   overlap; see [`SerialLane`] for the hand-off protocol (model-checked with loom).
//! * **Deterministic testing.** [`ManualExecutor`] runs nothing on its own and has a virtual clock.
//!
//! Design notes: the pool's work distribution, the worker sleep/wake protocol with its
//! lost-wakeup argument, and shutdown are documented on [`ThreadPool`]; the lane hand-off on
//! [`SerialLane`]. Both hand-offs are model-checked with loom (`tests/loom_*.rs`).
//! `docs/guide/executor.md` explains how to choose and size an executor.
#![doc(test(attr(deny(warnings))))]
#![forbid(unsafe_code)]

mod dedicated;
mod default_pool;
mod immediate;
mod into_scheduler;
mod lane;
mod manual;
mod pool;
mod sleep;
mod sync;
mod task;
mod timer;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use dedicated::DedicatedThread;
pub use default_pool::{DEFAULT_POOL_THREAD_PREFIX, default_pool, shutdown_default_pool};
pub use immediate::ImmediateExecutor;
pub use into_scheduler::IntoScheduler;
pub use lane::{LaneStats, SerialLane};
pub use manual::ManualExecutor;
pub use pool::{DEFAULT_QUEUE_CAPACITY, FullPolicy, ThreadPool, ThreadPoolBuilder};
pub use task::{
    ExecutorStats, PanicHandler, RejectReason, Rejected, RepeatingTask, Task, TaskPanic,
    TimerHandle,
};

/// Where tasks run. Object-safe: operators store `Arc<dyn Scheduler>`.
///
/// Every method that takes a task gives it back inside [`Rejected`] if it refuses it.
pub trait Scheduler: Send + Sync + 'static {
    /// Runs `task` as soon as possible.
    ///
    /// # Errors
    ///
    /// [`RejectReason::Shutdown`] after shutdown; [`RejectReason::QueueFull`] when a bounded queue
    /// is full and the policy is to reject.
    fn execute(&self, task: Task) -> Result<(), Rejected>;

    /// Runs `task` once, `delay` after [`now`](Scheduler::now). The returned handle can cancel it;
    /// dropping the handle does not.
    ///
    /// # Errors
    ///
    /// [`RejectReason::Shutdown`] after shutdown.
    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected>;

    /// Runs `task` first after `initial`, then every `period` (fixed rate: the n-th run is due at
    /// `now + initial + n * period`; late runs catch up; runs never overlap). A panicking run is
    /// reported and the schedule continues. Stops when the handle is cancelled or the executor
    /// shuts down.
    ///
    /// # Errors
    ///
    /// [`RejectReason::ZeroPeriod`] if `period` is zero; [`RejectReason::Shutdown`] after
    /// shutdown.
    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>>;

    /// A new serial lane on this executor.
    fn lane(&self) -> SerialLane;

    /// This executor's clock: the real [`Instant::now`], or the virtual clock of a
    /// [`ManualExecutor`].
    fn now(&self) -> Instant;
}

impl<S: Scheduler + ?Sized> Scheduler for Arc<S> {
    fn execute(&self, task: Task) -> Result<(), Rejected> {
        (**self).execute(task)
    }

    fn execute_after(&self, delay: Duration, task: Task) -> Result<TimerHandle, Rejected> {
        (**self).execute_after(delay, task)
    }

    fn execute_at_fixed_rate(
        &self,
        initial: Duration,
        period: Duration,
        task: RepeatingTask,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        (**self).execute_at_fixed_rate(initial, period, task)
    }

    fn lane(&self) -> SerialLane {
        (**self).lane()
    }

    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// Closure conveniences for any [`Scheduler`], including `dyn Scheduler`.
pub trait SchedulerExt: Scheduler {
    /// [`Scheduler::execute`] for a closure (boxes it).
    ///
    /// # Errors
    ///
    /// As [`Scheduler::execute`].
    fn spawn<F>(&self, f: F) -> Result<(), Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute(Box::new(f))
    }

    /// [`Scheduler::execute_after`] for a closure (boxes it).
    ///
    /// # Errors
    ///
    /// As [`Scheduler::execute_after`].
    fn spawn_after<F>(&self, delay: Duration, f: F) -> Result<TimerHandle, Rejected>
    where
        F: FnOnce() + Send + 'static,
    {
        self.execute_after(delay, Box::new(f))
    }
}

impl<S: Scheduler + ?Sized> SchedulerExt for S {}

/// Internals exposed to the loom models in `tests/loom_*.rs` only (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::lane::LaneCore;
    pub use crate::sleep::Sleep;
    pub use crate::sync::{BoundedQueue, UnboundedQueue, order_after_seqcst_rmw};
}
