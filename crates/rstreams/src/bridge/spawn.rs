//! Where `from_stream` polls: a [`Spawner`] runs a future on an executor the user names.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;
use rstreams_executor::{IntoScheduler, Scheduler};

/// A boxed, sendable future with no output: what a [`Spawner`] runs.
pub type BoxTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs the polling task of [`from_stream`](super::from_stream) and
/// [`from_future`](super::from_future) on an executor of your choice.
///
/// * [`Spawner::scheduler`] (or `From<Arc<impl Scheduler>>`): any `rstreams-executor`
///   [`Scheduler`] — a [`ThreadPool`](rstreams_executor::ThreadPool), a
///   [`DedicatedThread`](rstreams_executor::DedicatedThread), the deterministic
///   [`ManualExecutor`](rstreams_executor::ManualExecutor). A wake-up submits one task that polls
///   the future once; no thread waits or spins while the future is pending.
/// * `Spawner::tokio(handle)` (feature `tokio`): a task on a tokio runtime.
/// * [`Spawner::from_fn`]: anything else that can run a `Pin<Box<dyn Future + Send>>`.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct Spawner(Arc<dyn Fn(BoxTask) + Send + Sync>);

impl fmt::Debug for Spawner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Spawner")
    }
}

impl Spawner {
    /// Polls on an `rstreams-executor` scheduler.
    pub fn scheduler(scheduler: impl IntoScheduler) -> Self {
        let scheduler = scheduler.into_scheduler();
        Spawner(Arc::new(move |future| {
            SchedTask::start(Arc::clone(&scheduler), future);
        }))
    }

    /// Polls on a tokio runtime (`handle.spawn`). The bridge itself needs no runtime; this is
    /// only a way to name one.
    #[cfg(feature = "tokio")]
    pub fn tokio(handle: tokio::runtime::Handle) -> Self {
        Spawner(Arc::new(move |future| {
            drop(handle.spawn(future));
        }))
    }

    /// Any other executor: `spawn` must eventually poll the future until it completes, or drop
    /// it (the subscriber then receives `on_error`, never silence).
    pub fn from_fn(spawn: impl Fn(BoxTask) + Send + Sync + 'static) -> Self {
        Spawner(Arc::new(spawn))
    }

    pub(crate) fn spawn(&self, task: BoxTask) {
        (self.0)(task)
    }
}

impl From<Arc<dyn Scheduler>> for Spawner {
    fn from(scheduler: Arc<dyn Scheduler>) -> Self {
        Spawner::scheduler(scheduler)
    }
}

impl<S: Scheduler> From<Arc<S>> for Spawner {
    fn from(scheduler: Arc<S>) -> Self {
        Spawner::scheduler(scheduler)
    }
}

#[cfg(feature = "tokio")]
impl From<tokio::runtime::Handle> for Spawner {
    fn from(handle: tokio::runtime::Handle) -> Self {
        Spawner::tokio(handle)
    }
}

// The task's states. A wake-up moves IDLE to SCHEDULED (and submits one run) or RUNNING to
// NOTIFIED (the running poll resubmits when it returns `Pending`); anything else is already
// covered, so a burst of wake-ups costs one submission.
const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

/// A future run on a [`Scheduler`]: one executor task per wake-up, never two polls at once.
struct SchedTask {
    state: AtomicU8,
    /// Only the one run that moved the state to RUNNING locks it, so it is never contended; a
    /// lock keeps the code free of `unsafe`.
    future: Mutex<Option<BoxTask>>,
    scheduler: Arc<dyn Scheduler>,
}

impl SchedTask {
    fn start(scheduler: Arc<dyn Scheduler>, future: BoxTask) {
        let task = Arc::new(SchedTask {
            state: AtomicU8::new(SCHEDULED),
            future: Mutex::new(Some(future)),
            scheduler,
        });
        task.submit();
    }

    fn submit(self: &Arc<Self>) {
        let me = Arc::clone(self);
        if let Err(rejected) = self.scheduler.execute(Box::new(move || me.run())) {
            // Shut down (or full with the reject policy): the future is dropped, and its own
            // `Drop` tells its subscriber (see `Driver`), so nothing hangs silently.
            tracing::debug!(reason = %rejected.reason(), "the scheduler refused a from_stream task");
            drop(rejected);
            self.state.store(DONE, Ordering::Release);
            let future = self.future.lock().take();
            drop(future);
        }
    }

    fn schedule(self: &Arc<Self>) {
        // Acquire/AcqRel: pairs with the Release stores in `run`, so a wake-up that sees IDLE
        // also sees that the last poll has finished with the future.
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let next = match current {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if next == SCHEDULED {
                        self.submit();
                    }
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }

    fn run(self: Arc<Self>) {
        // Release: pairs with the Acquire in `schedule`; only this run can be here (SCHEDULED).
        self.state.store(RUNNING, Ordering::Release);
        let waker = Waker::from(Arc::clone(&self));
        let mut cx = Context::from_waker(&waker);
        let mut slot = self.future.lock();
        let Some(future) = slot.as_mut() else { return };
        // The bridge's futures catch user panics themselves; this only keeps a stray one from
        // taking the executor's worker down with a half-polled future.
        let done = !matches!(
            catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))),
            Ok(Poll::Pending)
        );
        if done {
            let future = slot.take();
            drop(slot);
            self.state.store(DONE, Ordering::Release);
            drop(future);
            return;
        }
        drop(slot);
        if self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Woken while polling (NOTIFIED): run again, through the executor's queue so that
            // a busy stream takes turns with other tasks.
            self.state.store(SCHEDULED, Ordering::Release);
            self.submit();
        }
    }
}

impl Wake for SchedTask {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}
