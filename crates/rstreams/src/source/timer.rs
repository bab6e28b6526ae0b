use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::{IntoScheduler, Scheduler, TimerHandle};
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber};

use crate::stage::Loc;

/// The publisher made by [`timer()`].
#[derive(Clone)]
pub struct Timer {
    after: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("after", &self.after)
            .field("loc", &self.loc)
            .finish()
    }
}

/// Emits `0` once, `after` the subscription, on `scheduler`'s timer, then completes.
///
/// The timer is armed at subscribe time, for each subscriber. When it fires before the
/// subscriber has requested anything, the tick is kept (a buffer of one) and delivered on the
/// first `request`; cancelling cancels the timer. A scheduler that refuses the timer (shut
/// down) fails the subscriber with an error saying so.
///
/// Deviation: Reactor's `Mono.delay` fails with an overflow error when the tick finds no
/// demand; here the tick waits for demand instead, which is what a `Publisher` of one item
/// can always afford.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::executor::ManualExecutor;
/// use std::time::Duration;
///
/// let exec = ManualExecutor::new();
/// let it = rstreams::timer(Duration::from_secs(2), &exec).blocking_iter_with(1);
/// exec.advance(Duration::from_secs(2));
/// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, vec![0]);
/// # Ok::<(), rstreams::Error>(())
/// ```
#[doc(alias = "delay")]
#[doc(alias = "Mono.delay")]
#[track_caller]
pub fn timer(after: Duration, scheduler: impl IntoScheduler) -> Timer {
    Timer {
        after,
        scheduler: scheduler.into_scheduler(),
        loc: Location::caller(),
    }
}

#[derive(Default)]
enum Tick {
    #[default]
    Waiting,
    Fired,
    Failed(Error),
    Done,
}

struct TimerSource {
    tick: Arc<Mutex<Tick>>,
    handle: Option<TimerHandle>,
}

impl Source for TimerSource {
    type Item = u64;

    fn stage_name(&self) -> &'static str {
        "timer"
    }
    fn pull(&mut self) -> Step<u64> {
        let mut tick = self.tick.lock();
        match std::mem::replace(&mut *tick, Tick::Done) {
            Tick::Waiting => {
                *tick = Tick::Waiting;
                Step::Pending
            }
            Tick::Fired => Step::Next(0),
            Tick::Failed(e) => Step::Error(e),
            Tick::Done => Step::Complete,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        matches!(*self.tick.lock(), Tick::Done | Tick::Failed(_))
    }
}

impl Drop for TimerSource {
    fn drop(&mut self) {
        // Cancelled or finished: the timer need not fire (a no-op if it already did).
        if let Some(h) = self.handle.take() {
            h.cancel();
        }
    }
}

impl Publisher for Timer {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let after = self.after;
        let scheduler = Arc::clone(&self.scheduler);
        let loc = self.loc;
        pull::serve_with(
            move |handle| {
                let tick = Arc::new(Mutex::new(Tick::Waiting));
                let fired = Arc::clone(&tick);
                // A wake before the kit is fully built finds no subscription and does nothing;
                // the kit's first pass, which follows, sees the tick instead: nothing is lost.
                let task = Box::new(move || {
                    {
                        let mut t = fired.lock();
                        if matches!(*t, Tick::Waiting) {
                            *t = Tick::Fired;
                        }
                    }
                    handle.wake();
                });
                let handle = match scheduler.execute_after(after, task) {
                    Ok(h) => Some(h),
                    Err(rejected) => {
                        let e = Error::msg(format!(
                            "timer: the scheduler refused the timer ({})",
                            rejected.reason()
                        ))
                        .at_stage(loc);
                        *tick.lock() = Tick::Failed(e);
                        None
                    }
                };
                TimerSource { tick, handle }.at(loc)
            },
            subscriber,
        );
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Timer => "timer");
