//! `subscribe_on`: subscribing and requesting happen on a scheduler; see [`SubscribeOn`].

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{ReentrantMutex, ReentrantMutexGuard};
use rstreams_executor::{Scheduler, SerialLane};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use super::burst::BurstGate;
use crate::stage::{Loc, guard, reject};

/// The publisher made by [`PublisherExt::subscribe_on`](crate::PublisherExt::subscribe_on).
///
/// `subscribe` returns at once; the upstream's `subscribe` runs on a [`SerialLane`] of the
/// scheduler, and so does every `request` the downstream makes afterwards (in order). A
/// demand-driven upstream (every source of this crate) therefore produces its items on the
/// scheduler's thread. `cancel` is forwarded directly, so it takes effect without waiting for
/// queued requests. Closures downstream of it up to the next hop (the sink's included) run
/// where the items are produced: on the scheduler, for a demand-driven upstream.
///
/// Combined with [`publish_on`](crate::PublisherExt::publish_on) it gives a two-thread pipeline:
/// the producer runs on `subscribe_on`'s lane, the consumer in `publish_on`'s drain.
///
/// If the scheduler refuses the subscription (it is shut down) the subscriber receives
/// `on_subscribe` then `on_error`; a refused `request` runs on the calling thread instead of
/// being lost. If the scheduler drops a queued subscription or request unrun
/// (`shutdown_now`), the upstream is cancelled and the subscriber receives one `on_error`
/// saying so, on the thread that dropped it.
pub struct SubscribeOn<P> {
    pub(crate) upstream: Arc<P>,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) loc: Loc,
}

impl<P> Clone for SubscribeOn<P> {
    fn clone(&self) -> Self {
        SubscribeOn {
            upstream: Arc::clone(&self.upstream),
            scheduler: Arc::clone(&self.scheduler),
            loc: self.loc,
        }
    }
}

impl<P: std::fmt::Debug> std::fmt::Debug for SubscribeOn<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeOn")
            .field("upstream", &self.upstream)
            .field("stage", &self.loc)
            .finish()
    }
}

fn shut_down_error(loc: Loc) -> Error {
    Error::msg(
        "subscribe_on: the scheduler shut down with work of this stream queued; upstream cancelled",
    )
    .at_stage(loc)
}

impl<P> Publisher for SubscribeOn<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let lane = self.scheduler.lane();
        let down: Arc<Downstream<P::Item, S>> = Arc::new(Downstream {
            down: ReentrantMutex::new(RefCell::new(Some(subscriber))),
            gate: BurstGate::new(),
            loc: self.loc,
            _item: PhantomData,
        });
        let upstream = Arc::clone(&self.upstream);
        let task_lane = lane.clone();
        let scheduler = Arc::clone(&self.scheduler);
        let task = Unrun {
            down: Some(Arc::clone(&down) as Arc<dyn Abandon>),
            up: None,
        };
        tracing::debug!(stage = %self.loc, "subscribe_on: subscribe scheduled");
        let submitted = lane.execute(Box::new(move || {
            task.defuse();
            upstream.subscribe(SubscribeOnSubscriber {
                down,
                lane: task_lane,
                scheduler,
            });
        }));
        // Refused (shut down): dropping the task rejects the subscriber with the shutdown error.
        drop(submitted);
    }
}

thread_local! {
    /// The [`Downstream`] whose signal this thread is delivering right now (its address), or 0.
    /// `abandon` reads it to tell "called from inside that signal" (re-entrant: the signal's own
    /// `check_pending` ends the stream) from "another thread is mid-signal" (wait for it).
    static DELIVERING: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as delivering a signal of one `Downstream` until dropped (also on unwind).
struct Delivering(usize);

impl Delivering {
    #[inline]
    fn enter<T, S>(down: &Downstream<T, S>) -> Self {
        Delivering(DELIVERING.replace(down as *const Downstream<T, S> as *const () as usize))
    }
}

impl Drop for Delivering {
    #[inline]
    fn drop(&mut self) {
        DELIVERING.set(self.0);
    }
}

/// Ends a stream whose queued work the scheduler dropped; runs a lane request as a burst.
trait Abandon: Send + Sync {
    /// Cancels `up` (if subscribed) and gives the downstream one `on_error` (or, if it was never
    /// subscribed, `on_subscribe` then `on_error`); nothing if it has already terminated.
    fn abandon(&self, up: Option<&Arc<dyn Subscription>>);

    /// Runs `request` (a lane task's `up.request(n)`) holding the downstream's lock, so that
    /// the items a synchronous upstream emits inside it re-enter the lock for free (see
    /// `burst.rs`).
    fn burst(&self, request: &mut dyn FnMut());
}

/// How long a clean-up waits for the lock at a time before it looks whether a burst holds it.
const END_WAIT: Duration = Duration::from_micros(200);

/// The downstream, shared between the signals forwarded from upstream and the clean-up of work
/// the scheduler drops unrun. The lock is uncontended in steady state: the upstream signals
/// serially (rule 1.3), a lane request holds it for its whole burst (re-entered per item
/// without a read-modify-write), and the clean-up only runs once the scheduler has dropped
/// the stream's queued work. The `RefCell` is borrowed only for one signal at a time.
struct Downstream<T, S> {
    down: ReentrantMutex<RefCell<Option<S>>>,
    /// Who ends the stream after a clean-up (`burst.rs`).
    gate: BurstGate,
    loc: Loc,
    _item: PhantomData<fn(T)>,
}

/// Ends a burst, also on unwind: clears the mark, releases the lock, then ends the stream if a
/// clean-up left that to us.
struct BurstEnd<'a, T, S: Subscriber<T> + Send> {
    down: &'a Downstream<T, S>,
    guard: Option<ReentrantMutexGuard<'a, RefCell<Option<S>>>>,
}

impl<T, S: Subscriber<T> + Send> Drop for BurstEnd<'_, T, S> {
    fn drop(&mut self) {
        self.down.gate.set_bursting(false);
        drop(self.guard.take());
        let down = self.down;
        down.gate.after_burst(|| down.try_end(true));
    }
}

impl<T, S: Subscriber<T> + Send> Downstream<T, S> {
    /// The downstream slot for one signal. A second borrow at once would be a re-entrant
    /// signal on this thread, which rule 1.3 forbids the upstream.
    #[inline]
    fn slot<'a>(
        guard: &'a ReentrantMutexGuard<'_, RefCell<Option<S>>>,
    ) -> std::cell::RefMut<'a, Option<S>> {
        guard
            .try_borrow_mut()
            .expect("subscribe_on: a signal re-entered its own subscriber (rule 1.3)")
    }

    /// Takes the downstream out (for a terminal signal).
    fn take(&self) -> Option<S> {
        let guard = self.down.lock();
        let mut slot = Self::slot(&guard);
        slot.take()
    }

    /// The clean-up's attempt: with the lock (waited for briefly), takes the downstream out and
    /// ends it. `false` if the lock stayed busy.
    fn try_end(&self, subscribed: bool) -> bool {
        let Some(guard) = self.down.try_lock_for(END_WAIT) else {
            return false;
        };
        // Borrowed: a signal of this stream is in progress on this thread (we re-entered the
        // lock); `pending` is set, and that signal ends the stream when it returns.
        let Ok(mut slot) = guard.try_borrow_mut() else {
            return true;
        };
        let down = slot.take();
        drop(slot);
        drop(guard);
        if let Some(down) = down {
            self.end(down, subscribed);
        }
        true
    }

    /// After a signal, with the lock held: ends the stream if an `abandon` could not.
    #[inline]
    fn check_pending(&self, slot: &mut Option<S>) {
        if self.gate.is_pending()
            && let Some(down) = slot.take()
        {
            // Still under the lock: whatever the subscriber does in `on_error` must not make a
            // nested `abandon` wait for that lock.
            let _delivering = Delivering::enter(self);
            self.end(down, true);
        }
    }

    fn end(&self, mut down: S, subscribed: bool) {
        tracing::debug!(stage = %self.loc, "subscribe_on: queued work dropped by the scheduler; ending the stream");
        let error = shut_down_error(self.loc);
        if !subscribed {
            reject(down, error);
        } else if let Err(p) = guard(|| down.on_error(error)) {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }
}

impl<T, S: Subscriber<T> + Send> Abandon for Downstream<T, S> {
    fn abandon(&self, up: Option<&Arc<dyn Subscription>>) {
        if let Some(up) = up {
            up.cancel();
        }
        // Called from inside one of this stream's signals on this thread (e.g. a refused request
        // in `on_next`): the lock is ours, and that signal ends the stream when it returns
        // (`check_pending` reads `pending` under the same lock, on the same thread).
        if DELIVERING.get() == self as *const Self as *const () as usize {
            self.gate.mark_pending();
            return;
        }
        // Otherwise: end it under the lock, waiting for a single signal in progress on another
        // thread, or leave it to a burst in progress (`burst.rs`).
        let subscribed = up.is_some();
        self.gate.request_end(|| self.try_end(subscribed));
    }

    fn burst(&self, request: &mut dyn FnMut()) {
        let guard = self.down.lock();
        if self.gate.is_bursting() {
            // Nested on this thread (a lane drained inline inside a burst): the outer burst
            // holds the lock and does the ending.
            drop(guard);
            request();
            return;
        }
        self.gate.set_bursting(true);
        let _end = BurstEnd {
            down: self,
            guard: Some(guard),
        };
        // For the whole burst: the items re-enter the held lock without touching it
        // (`on_next`), and a clean-up from this thread leaves the ending to the burst.
        let _delivering = Delivering::enter(self);
        request();
    }
}

/// Work queued on the lane for one stream: runs normally (`defuse`), or, dropped unrun, ends
/// the stream.
struct Unrun {
    down: Option<Arc<dyn Abandon>>,
    up: Option<Arc<dyn Subscription>>,
}

impl Unrun {
    fn defuse(mut self) {
        self.down = None;
    }
}

impl Drop for Unrun {
    fn drop(&mut self) {
        if let Some(down) = self.down.take() {
            down.abandon(self.up.as_ref());
        }
    }
}

struct SubscribeOnSubscriber<T, S> {
    down: Arc<Downstream<T, S>>,
    lane: SerialLane,
    scheduler: Arc<dyn Scheduler>,
}

impl<T: 'static, S: Subscriber<T> + Send + 'static> Subscriber<T> for SubscribeOnSubscriber<T, S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let sub = Box::new(SubscribeOnSubscription {
            up: Arc::from(s),
            down: Arc::downgrade(&(Arc::clone(&self.down) as Arc<dyn Abandon>)),
            lane: self.lane.clone(),
            _scheduler: Arc::clone(&self.scheduler),
        });
        let guard = self.down.down.lock();
        let mut slot = Downstream::slot(&guard);
        if let Some(down) = slot.as_mut() {
            let _delivering = Delivering::enter(&*self.down);
            down.on_subscribe(sub);
        }
        self.down.check_pending(&mut slot);
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if DELIVERING.get() == &*self.down as *const Downstream<T, S> as *const () as usize {
            // Inside a lane request's burst (or, against rule 1.3, inside one of our own
            // signals): this thread holds the lock, so the cell is ours without re-entering it.
            // SAFETY: `DELIVERING` names this downstream only while this thread holds its lock
            // (`burst` and every `Delivering::enter` run under the guard and restore the mark
            // before releasing it), and a reentrant mutex gives its holder thread shared access
            // to the data, which is what this reference is; the `RefCell` then rules out a
            // second borrow exactly as under the guard.
            let cell = unsafe { &*self.down.down.data_ptr() };
            let mut slot = cell
                .try_borrow_mut()
                .expect("subscribe_on: a signal re-entered its own subscriber (rule 1.3)");
            if let Some(down) = slot.as_mut() {
                down.on_next(item);
            }
            self.down.check_pending(&mut slot);
            return;
        }
        let guard = self.down.down.lock();
        let mut slot = Downstream::slot(&guard);
        if let Some(down) = slot.as_mut() {
            let _delivering = Delivering::enter(&*self.down);
            down.on_next(item);
        }
        self.down.check_pending(&mut slot);
    }
    fn on_error(&mut self, error: Error) {
        let down = self.down.take();
        match down {
            Some(mut down) => down.on_error(error),
            None => report_undeliverable(error),
        }
    }
    fn on_complete(&mut self) {
        let down = self.down.take();
        if let Some(mut down) = down {
            down.on_complete();
        }
    }
}

struct SubscribeOnSubscription {
    up: Arc<dyn Subscription>,
    /// Weak: the downstream holds this subscription, so a strong reference would keep the
    /// downstream alive after cancel (rule 3.13). Queued requests upgrade it while they wait.
    down: Weak<dyn Abandon>,
    lane: SerialLane,
    /// Keeps the executor alive while the subscription is (a lane only holds it weakly).
    _scheduler: Arc<dyn Scheduler>,
}

impl Subscription for SubscribeOnSubscription {
    fn request(&self, n: u64) {
        let up = Arc::clone(&self.up);
        // If the downstream is gone (the upstream dropped its subscriber), there is nobody left
        // to end; the request still goes up, harmlessly.
        let task = Unrun {
            down: self.down.upgrade(),
            up: Some(Arc::clone(&self.up)),
        };
        // The downstream, to hold its lock for the whole request (a burst; see `burst.rs`).
        let burst = self.down.upgrade();
        let run = move || {
            task.defuse();
            // A `publish_on` fed inside the burst signals its drain once, at the end.
            super::park::batch_signals(|| match burst {
                Some(down) => down.burst(&mut || up.request(n)),
                None => up.request(n),
            });
        };
        count!(LaneRequest);
        #[cfg(feature = "hop-stats")]
        if self.lane.stats().pending == 0 {
            count!(LaneSchedule);
        }
        if let Err(rejected) = self.lane.execute(Box::new(run)) {
            // Shut down: the request cannot run where the upstream lives. Running it here could
            // re-enter the downstream (this is often called from inside its `on_next`), so the
            // stream ends instead: dropping the refused task runs `Unrun::drop`.
            tracing::debug!(reason = %rejected.reason(), "subscribe_on: request refused; ending the stream");
            drop(rejected);
        }
    }
    fn cancel(&self) {
        self.up.cancel();
    }
}
