//! Time operators: [`Timeout`], [`Delay`], [`BufferTimeout`] and [`Retry`] (immediate or with
//! exponential backoff). Each takes its timer from an `Arc<dyn Scheduler>`, so tests run them
//! on a [`ManualExecutor`](rstreams_executor::ManualExecutor) with virtual time. The periodic
//! source, [`interval`](crate::overflow::interval), is hot and lives in
//! [`overflow`](crate::overflow).

mod buffer_timeout;
mod delay;
mod rate;
mod retry;
mod timeout;

pub use buffer_timeout::BufferTimeout;
pub use delay::Delay;
pub use rate::{Debounce, Sample, ThrottleFirst};
pub(crate) use retry::Backoff;
pub use retry::Retry;
pub use timeout::{TimedOut, Timeout};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rstreams_executor::{RejectReason, Scheduler, Task, TimerHandle};

/// A timer armed by a time operator with [`arm_timer`].
pub(crate) struct Armed {
    handle: TimerHandle,
    disarmed: Arc<AtomicBool>,
}

impl Armed {
    /// Cancels the timer; its task will neither run nor report itself lost.
    pub(crate) fn cancel(&self) {
        // Release: pairs with the Acquire in `Lost::drop`.
        self.disarmed.store(true, Ordering::Release);
        self.handle.cancel();
    }
}

/// Runs `lost` if dropped while still armed: the scheduler dropped the task unrun.
struct Lost<F: FnOnce()> {
    lost: Option<F>,
    disarmed: Arc<AtomicBool>,
}

impl<F: FnOnce()> Lost<F> {
    /// The task runs: nothing was lost.
    fn defuse(mut self) {
        self.lost = None;
    }
}

impl<F: FnOnce()> Drop for Lost<F> {
    fn drop(&mut self) {
        // Acquire: pairs with the Release in `Armed::cancel`.
        if let Some(lost) = self.lost.take()
            && !self.disarmed.load(Ordering::Acquire)
        {
            lost();
        }
    }
}

/// Arms `run` after `after` on `scheduler`. If the scheduler drops the task without running it
/// (a pool shut down with the timer pending, or its due task still queued), `lost` runs instead,
/// on the thread that dropped it, so that the operator can end its stream rather than wait for a
/// timer that will never fire. [`Armed::cancel`] and a refused submission (the `Err`) disarm it.
pub(crate) fn arm_timer(
    scheduler: &dyn Scheduler,
    after: Duration,
    run: impl FnOnce() + Send + 'static,
    lost: impl FnOnce() + Send + 'static,
) -> Result<Armed, RejectReason> {
    let disarmed = Arc::new(AtomicBool::new(false));
    let guard = Lost {
        lost: Some(lost),
        disarmed: Arc::clone(&disarmed),
    };
    let task: Task = Box::new(move || {
        guard.defuse();
        run();
    });
    match scheduler.execute_after(after, task) {
        Ok(handle) => Ok(Armed { handle, disarmed }),
        Err(rejected) => {
            // Release: the task is dropped just below; its guard must not report it lost.
            disarmed.store(true, Ordering::Release);
            Err(rejected.reason())
        }
    }
}
