//! `delay`: shift every signal later by a fixed duration; see [`Delay`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rstreams_executor::Scheduler;
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use super::arm_timer;
use crate::stage::Loc;
use rstreams_protocol::signal::{Signal, SignalSerializer as Serializer};

/// The publisher made by [`PublisherExt::delay`](crate::PublisherExt::delay): each item (and the
/// completion or error) is delivered `by` after it arrived, in arrival order, on the
/// scheduler's timer. Demand passes through, so at most the downstream's outstanding demand is
/// waiting at any time. Cancel drops whatever is waiting.
pub struct Delay<P> {
    pub(crate) upstream: P,
    pub(crate) by: Duration,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) loc: Loc,
}

impl<P: fmt::Debug> fmt::Debug for Delay<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("upstream", &self.upstream)
            .field("by", &self.by)
            .finish()
    }
}

impl<P> Publisher for Delay<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            ser: Serializer::new(subscriber, self.loc),
            waiting: Mutex::new(Waiting {
                queue: VecDeque::new(),
                armed: false,
            }),
            by: self.by,
            scheduler: Arc::clone(&self.scheduler),
            loc: self.loc,
        });
        self.upstream.subscribe(DelaySubscriber { shared });
    }
}

struct Waiting<T> {
    /// Signals with their due time, in arrival order (so also in due order).
    queue: VecDeque<(Instant, Signal<T>)>,
    /// A timer is armed for the head of the queue.
    armed: bool,
}

struct Shared<T, S> {
    ser: Serializer<T, S>,
    waiting: Mutex<Waiting<T>>,
    by: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
}

impl<T, S> Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn later(self: &Arc<Self>, signal: Signal<T>) {
        if self.ser.is_cancelled() {
            return;
        }
        let due = self.scheduler.now() + self.by;
        let arm = {
            let mut w = self.waiting.lock();
            w.queue.push_back((due, signal));
            // One timer at a time, for the head of the queue: O(1) timers however many wait.
            !std::mem::replace(&mut w.armed, true)
        };
        if arm {
            self.arm(self.by);
        }
    }

    fn arm(self: &Arc<Self>, after: Duration) {
        // The armed timer holds the stage strongly: the signals it waits for may be all that is
        // left of the stream (a synchronous upstream has completed and dropped its subscriber,
        // and the downstream may have dropped its `Subscription` after requesting everything:
        // not a cancel). It runs or is lost exactly once, so this is no cycle.
        let me = Arc::clone(self);
        let lost = Arc::clone(self);
        let fire = move || me.release_due();
        // Dropped unrun (the scheduler shut down): what waits would wait forever; fail instead.
        let lost = move || {
            lost.fail(Error::msg(
                "delay: the scheduler shut down before the timer fired; delayed signals dropped",
            ));
        };
        // The handle is not kept: the one timer always fires (or is lost) and re-arms itself.
        if let Err(reason) = arm_timer(&*self.scheduler, after, fire, lost) {
            self.fail(Error::msg(format!(
                "delay: the scheduler refused the timer ({reason})"
            )));
        }
    }

    /// The timer cannot run: drop what waits and end the stream with `error`.
    fn fail(&self, error: Error) {
        tracing::debug!(stage = %self.loc, %error, "delay failed");
        self.waiting.lock().queue.clear();
        if self.ser.enqueue(Signal::Error(error.at_stage(self.loc))) {
            self.ser.cancel_upstream();
        }
        self.ser.drive();
    }

    /// Moves every due signal to the serialiser, in order, delivers, and re-arms for the next.
    fn release_due(self: &Arc<Self>) {
        let now = self.scheduler.now();
        let next = {
            // Holding `waiting` while enqueueing keeps two timer threads from interleaving.
            let mut w = self.waiting.lock();
            while w.queue.front().is_some_and(|(due, _)| *due <= now) {
                let (_, signal) = w.queue.pop_front().expect("checked");
                self.ser.enqueue(signal);
            }
            match w.queue.front() {
                Some((due, _)) => Some(*due - now),
                None => {
                    w.armed = false;
                    None
                }
            }
        };
        self.ser.drive();
        if let Some(after) = next
            && !self.ser.is_cancelled()
        {
            self.arm(after);
        }
    }
}

struct DelaySubscriber<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscriber<T> for DelaySubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        if !self.shared.ser.set_upstream(Arc::clone(&up)) {
            return; // a second upstream, or after the end: cancelled (2.5)
        }
        self.shared
            .ser
            .push(Signal::Subscribe(Box::new(DelaySubscription {
                up,
                shared: Arc::clone(&self.shared),
            })));
    }
    fn on_next(&mut self, item: T) {
        self.shared.later(Signal::Next(item));
    }
    fn on_error(&mut self, error: Error) {
        self.shared.later(Signal::Error(error));
    }
    fn on_complete(&mut self) {
        self.shared.later(Signal::Complete);
    }
}

struct DelaySubscription<T, S> {
    up: Arc<dyn Subscription>,
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscription for DelaySubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn request(&self, n: u64) {
        self.up.request(n);
    }
    fn cancel(&self) {
        self.shared.ser.cancel();
        let dropped = std::mem::take(&mut self.shared.waiting.lock().queue);
        drop(dropped);
    }
}
