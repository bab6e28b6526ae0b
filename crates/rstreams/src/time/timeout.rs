//! `timeout`: fail if no item arrives within a duration; see [`Timeout`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::Scheduler;
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use super::{Armed, arm_timer};
use crate::stage::Loc;
use rstreams_protocol::signal::{Signal, SignalSerializer as Serializer};

/// The error a stream fails with when [`timeout`](crate::PublisherExt::timeout) expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedOut {
    /// The configured duration.
    pub after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timeout: no item within {:?}", self.after)
    }
}

impl std::error::Error for TimedOut {}

/// The publisher made by [`PublisherExt::timeout`](crate::PublisherExt::timeout): the clock starts at
/// subscription and restarts at every item; if it runs out first, the upstream is cancelled and
/// the downstream receives `on_error` with [`TimedOut`]. Demand passes through unchanged.
///
/// The clock is the scheduler's ([`Scheduler::now`]): on a
/// [`ManualExecutor`](rstreams_executor::ManualExecutor) it is virtual.
pub struct Timeout<P> {
    pub(crate) upstream: P,
    pub(crate) after: Duration,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) loc: Loc,
}

impl<P: fmt::Debug> fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("upstream", &self.upstream)
            .field("after", &self.after)
            .finish()
    }
}

impl<P> Publisher for Timeout<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            ser: Serializer::new(subscriber, self.loc),
            generation: AtomicU64::new(0),
            timer: Mutex::new(None),
            after: self.after,
            scheduler: Arc::clone(&self.scheduler),
            loc: self.loc,
        });
        self.upstream.subscribe(TimeoutSubscriber { shared });
    }
}

struct Shared<T, S> {
    ser: Serializer<T, S>,
    /// Bumped by every item; a timer only fires for the generation it was armed in.
    generation: AtomicU64,
    timer: Mutex<Option<Armed>>,
    after: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
}

impl<T, S> Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn arm(self: &Arc<Self>, generation: u64) {
        let weak = Arc::downgrade(self);
        let lost = weak.clone();
        let fired = move || {
            if let Some(me) = weak.upgrade() {
                let error = Error::new(TimedOut { after: me.after });
                me.expire(generation, error, "timeout expired");
            }
        };
        // Dropped unrun (the scheduler shut down): the clock can no longer run out, so end the
        // stream now rather than leave it waiting for a timer that will never fire.
        let lost = move || {
            if let Some(me) = lost.upgrade() {
                let error = Error::msg(
                    "timeout: the scheduler shut down before the timer fired; \
                     the stream cannot be timed any more",
                );
                me.expire(generation, error, "timeout timer dropped by its scheduler");
            }
        };
        match arm_timer(&*self.scheduler, self.after, fired, lost) {
            Ok(armed) => {
                if let Some(old) = self.timer.lock().replace(armed) {
                    old.cancel();
                }
            }
            Err(reason) => {
                let e = Error::msg(format!(
                    "timeout: the scheduler refused the timer ({reason})"
                ))
                .at_stage(self.loc);
                if self.ser.enqueue(Signal::Error(e)) {
                    self.ser.cancel_upstream();
                }
                self.ser.drive();
            }
        }
    }

    /// The timer armed for `generation` fired (or was lost): fail the stream with `error` unless
    /// an item or a terminal signal came since.
    fn expire(&self, generation: u64, error: Error, why: &'static str) {
        // Acquire: pairs with the AcqRel bump in on_next.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        tracing::debug!(stage = %self.loc, after = ?self.after, why);
        if self.ser.enqueue(Signal::Error(error.at_stage(self.loc))) {
            self.ser.cancel_upstream();
        }
        self.ser.drive();
    }

    fn disarm(&self) {
        if let Some(t) = self.timer.lock().take() {
            t.cancel();
        }
    }
}

struct TimeoutSubscriber<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscriber<T> for TimeoutSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        if !self.shared.ser.set_upstream(Arc::clone(&up)) {
            return; // a second upstream, or after the end: cancelled (2.5)
        }
        self.shared.arm(0);
        self.shared
            .ser
            .push(Signal::Subscribe(Box::new(TimeoutSubscription {
                up,
                shared: Arc::clone(&self.shared),
            })));
    }

    fn on_next(&mut self, item: T) {
        // AcqRel: a timer armed earlier sees the bump and stands down.
        let generation = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        if !self.shared.ser.enqueue(Signal::Next(item)) {
            return;
        }
        self.shared.arm(generation);
        self.shared.ser.drive();
    }

    fn on_error(&mut self, error: Error) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.disarm();
        self.shared.ser.push(Signal::Error(error));
    }

    fn on_complete(&mut self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.disarm();
        self.shared.ser.push(Signal::Complete);
    }
}

struct TimeoutSubscription<T, S> {
    up: Arc<dyn Subscription>,
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscription for TimeoutSubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn request(&self, n: u64) {
        self.up.request(n);
    }
    fn cancel(&self) {
        // A timer still due stands down (it fires for a generation that no longer exists).
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.disarm();
        self.shared.ser.cancel();
    }
}
