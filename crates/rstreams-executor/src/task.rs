//! Task types, rejection, timer handles, statistics and panic reports shared by every executor.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A unit of work: runs once, on whichever thread the executor picks.
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// A task that runs many times ([`Scheduler::execute_at_fixed_rate`](crate::Scheduler::execute_at_fixed_rate)).
pub type RepeatingTask = Arc<dyn Fn() + Send + Sync + 'static>;

/// Why a submission was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The executor has been shut down (or dropped).
    Shutdown,
    /// The bounded submission queue was full and the pool's policy is
    /// [`FullPolicy::Reject`](crate::FullPolicy::Reject).
    QueueFull,
    /// A fixed-rate task was given a zero period.
    ZeroPeriod,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::Shutdown => "executor is shut down",
            RejectReason::QueueFull => "executor queue is full",
            RejectReason::ZeroPeriod => "fixed-rate period must be non-zero",
        })
    }
}

/// A refused submission. It owns the task, so nothing is lost: take it back with
/// [`into_task`](Rejected::into_task) to retry, run it elsewhere, or drop it.
///
/// ```
/// use rstreams_executor::{ManualExecutor, RejectReason, Scheduler};
///
/// let exec = ManualExecutor::new();
/// exec.shutdown();
/// let err = exec.execute(Box::new(|| println!("never"))).unwrap_err();
/// assert_eq!(err.reason(), RejectReason::Shutdown);
/// let task = err.into_task(); // ours again
/// task();
/// ```
pub struct Rejected<T = Task> {
    task: T,
    reason: RejectReason,
}

impl<T> Rejected<T> {
    pub(crate) fn new(task: T, reason: RejectReason) -> Self {
        Self { task, reason }
    }

    /// Why the task was refused.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// Gives the task back.
    pub fn into_task(self) -> T {
        self.task
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task rejected: {}", self.reason)
    }
}

impl<T> std::error::Error for Rejected<T> {}

/// A handle to a delayed or periodic task.
///
/// [`cancel`](TimerHandle::cancel) stops it. **Dropping the handle does not cancel the timer**:
/// fire-and-forget timers are common and should not need a handle kept alive. Clones share the
/// same timer.
#[derive(Clone, Debug, Default)]
pub struct TimerHandle {
    cancelled: Arc<AtomicBool>,
    /// The heap holding the entry, told on cancel so that it frees cancelled entries early.
    watch: Option<Arc<crate::timer::HeapWatch>>,
}

impl TimerHandle {
    /// A handle whose cancel is reported to `watch`'s heap.
    pub(crate) fn watched(watch: Arc<crate::timer::HeapWatch>) -> Self {
        Self {
            cancelled: Arc::default(),
            watch: Some(watch),
        }
    }

    /// Cancels the timer: a one-shot task that has not started will not run, a periodic task runs
    /// no further occurrences (one already running finishes). Returns `true` if this call did
    /// the cancelling, `false` if it was already cancelled. Cancelling a task that already ran is
    /// harmless.
    pub fn cancel(&self) -> bool {
        // Release pairs with the Acquire in `is_cancelled`: a timer that sees the flag also sees
        // whatever the canceller did before cancelling.
        let first = !self.cancelled.swap(true, Ordering::Release);
        if first && let Some(watch) = &self.watch {
            watch.cancelled();
        }
        first
    }

    /// Whether [`cancel`](TimerHandle::cancel) has been called.
    pub fn is_cancelled(&self) -> bool {
        // Acquire pairs with the Release swap in `cancel`.
        self.cancelled.load(Ordering::Acquire)
    }
}

/// A snapshot of an executor's counters. The fields are read one by one without a global lock,
/// so under load they are individually accurate but not mutually consistent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorStats {
    /// Jobs waiting in the executor's queue (a serial lane with pending work counts as one).
    pub queued: usize,
    /// Tasks running right now.
    pub running: usize,
    /// Tasks that returned normally.
    pub completed: usize,
    /// Tasks that panicked (the panic was caught and reported).
    pub panicked: usize,
    /// Submissions refused (full queue or shut down).
    pub rejected: usize,
}

/// What a panic hook is told about a caught task panic.
pub struct TaskPanic<'a> {
    payload: &'a (dyn Any + Send),
    executor: &'a str,
}

impl<'a> TaskPanic<'a> {
    /// The panic payload, as `catch_unwind` returned it.
    pub fn payload(&self) -> &'a (dyn Any + Send) {
        self.payload
    }

    /// The panic message, if the payload is a string (the usual `panic!("...")` case).
    pub fn message(&self) -> Option<&'a str> {
        panic_message(self.payload)
    }

    /// The name of the executor the task ran on (the pool's thread-name prefix, or the
    /// executor kind).
    pub fn executor(&self) -> &'a str {
        self.executor
    }
}

impl fmt::Debug for TaskPanic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskPanic")
            .field("message", &self.message())
            .field("executor", &self.executor)
            .finish()
    }
}

/// A hook called for every caught task panic (see
/// [`ThreadPoolBuilder::panic_handler`](crate::ThreadPoolBuilder::panic_handler)).
pub type PanicHandler = Arc<dyn Fn(&TaskPanic<'_>) + Send + Sync + 'static>;

fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Runs `task`, catching a panic. Returns `true` if it returned normally.
///
/// `AssertUnwindSafe` is sound here: the task is consumed, so no state it owned is observed after
/// an unwind; state it shares through `Arc`s is the task author's concern, as with threads.
pub(crate) fn run_caught(task: Task, executor: &str, hook: Option<&PanicHandler>) -> bool {
    match catch_unwind(AssertUnwindSafe(task)) {
        Ok(()) => true,
        Err(payload) => {
            report_panic(&*payload, executor, hook);
            // Drop the payload inside catch_unwind: a payload whose Drop panics must not kill
            // the worker either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            false
        }
    }
}

fn report_panic(payload: &(dyn Any + Send), executor: &str, hook: Option<&PanicHandler>) {
    let message = panic_message(payload).unwrap_or("<non-string panic payload>");
    tracing::error!(
        executor,
        message,
        "rstreams task panicked; the worker continues"
    );
    if let Some(hook) = hook {
        let report = TaskPanic { payload, executor };
        if catch_unwind(AssertUnwindSafe(|| hook(&report))).is_err() {
            tracing::error!(executor, "rstreams panic handler itself panicked");
        }
    }
}
