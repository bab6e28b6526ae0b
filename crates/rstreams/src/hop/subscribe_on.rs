//! `subscribe_on`: subscribing and requesting happen on a scheduler; see [`SubscribeOn`].

use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_executor::{Scheduler, SerialLane};
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Loc, reject};

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
/// the producer runs on `subscribe_on`'s lane, the consumer on `publish_on`'s.
///
/// If the scheduler refuses the subscription (it is shut down) the subscriber receives
/// `on_subscribe` then `on_error`; a refused `request` runs on the calling thread instead of
/// being lost.
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

impl<P> Publisher for SubscribeOn<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let lane = self.scheduler.lane();
        // The slot lets us take the subscriber back if the task is refused.
        let slot = Arc::new(Mutex::new(Some(subscriber)));
        let task_slot = Arc::clone(&slot);
        let upstream = Arc::clone(&self.upstream);
        let task_lane = lane.clone();
        let scheduler = Arc::clone(&self.scheduler);
        let submitted = lane.execute(Box::new(move || {
            if let Some(down) = task_slot.lock().take() {
                upstream.subscribe(SubscribeOnSubscriber {
                    down,
                    lane: task_lane,
                    scheduler,
                });
            }
        }));
        if let Err(rejected) = submitted {
            drop(rejected);
            if let Some(down) = slot.lock().take() {
                reject(
                    down,
                    Error::msg("subscribe_on: the scheduler refused the subscription (shut down)")
                        .at_stage(self.loc),
                );
            }
        }
    }
}

struct SubscribeOnSubscriber<S> {
    down: S,
    lane: SerialLane,
    scheduler: Arc<dyn Scheduler>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for SubscribeOnSubscriber<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.down.on_subscribe(Box::new(SubscribeOnSubscription {
            up: Arc::from(s),
            lane: self.lane.clone(),
            _scheduler: Arc::clone(&self.scheduler),
        }));
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        self.down.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.down.on_error(error);
    }
    fn on_complete(&mut self) {
        self.down.on_complete();
    }
}

struct SubscribeOnSubscription {
    up: Arc<dyn Subscription>,
    lane: SerialLane,
    /// Keeps the executor alive while the subscription is (a lane only holds it weakly).
    _scheduler: Arc<dyn Scheduler>,
}

impl Subscription for SubscribeOnSubscription {
    fn request(&self, n: u64) {
        let up = Arc::clone(&self.up);
        if let Err(rejected) = self.lane.execute(Box::new(move || up.request(n))) {
            tracing::debug!(reason = %rejected.reason(), "subscribe_on: request runs on the caller");
            rejected.into_task()();
        }
    }
    fn cancel(&self) {
        self.up.cancel();
    }
}
