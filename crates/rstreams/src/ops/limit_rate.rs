//! `limit_rate(high, low)`: splits the downstream's demand into upstream requests of at most
//! `high` in flight, replenished in batches of `low`.
//!
//! Reactor's `limitRate(highTide, lowTide)` requests `highTide` first and then `lowTide` each time
//! `lowTide` items have been emitted (`lowTide == 0` means replenish `highTide` once all arrived;
//! `lowTide >= highTide` means the 75% rule, `highTide - highTide / 4`). It is a `publishOn` on the
//! immediate scheduler, so it prefetches `highTide` whatever the downstream asked for and queues.
//!
//! Ours keeps the same request sizes but never asks upstream for more than the downstream has
//! asked for, so it needs no queue:
//!
//! * `pending`: downstream demand not yet forwarded (`u64::MAX` = unbounded, sticky);
//! * `in_flight`: requested upstream, not yet received; always `<= high`.
//!
//! Whenever `in_flight == 0` or there is room for a whole batch (`high - in_flight >= low`),
//! `min(pending, high - in_flight)` is forwarded. With unbounded downstream demand that is exactly
//! Reactor's sequence: `high`, then `low` after every `low` items.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Link, Loc, reject};

/// The publisher made by [`PublisherExt::limit_rate`](crate::PublisherExt::limit_rate).
#[derive(Clone, Debug)]
pub struct LimitRate<P> {
    pub(crate) upstream: P,
    pub(crate) high: u64,
    pub(crate) low: u64,
    pub(crate) loc: Loc,
}

/// The replenish batch size for `limit_rate(high, low)`, clamped as Reactor does.
pub(crate) fn batch(high: u64, low: u64) -> u64 {
    if low == 0 {
        high
    } else if low >= high {
        (high - high / 4).max(1)
    } else {
        low
    }
}

impl<P> Publisher for LimitRate<P>
where
    P: Publisher,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if self.high == 0 {
            reject(
                subscriber,
                Error::msg("limit_rate(0, _): at least one item must be allowed in flight")
                    .at_stage(self.loc),
            );
            return;
        }
        self.upstream.subscribe(LimitSubscriber {
            link: Link::new(subscriber, "limit_rate", self.loc),
            high: self.high,
            low: batch(self.high, self.low),
            shared: None,
        });
    }
}

struct Rate {
    high: u64,
    low: u64,
    /// Written only under `lock`; read without it as a hint by `on_next`.
    pending: AtomicU64,
    in_flight: AtomicU64,
    lock: Mutex<()>,
    up: Arc<dyn Subscription>,
}

impl Rate {
    /// Forwards what the rule allows. Never holds the lock while calling upstream.
    fn top_up(&self) {
        let claim = {
            let _guard = self.lock.lock();
            let pending = self.pending.load(Ordering::SeqCst);
            let in_flight = self.in_flight.load(Ordering::SeqCst);
            let room = self.high - in_flight;
            if pending == 0 || room == 0 || (in_flight != 0 && room < self.low) {
                return;
            }
            let claim = room.min(pending);
            if pending != u64::MAX {
                self.pending.store(pending - claim, Ordering::SeqCst);
            }
            // Before the request: a synchronous upstream delivers inside it.
            self.in_flight.fetch_add(claim, Ordering::SeqCst);
            claim
        };
        tracing::trace!(claim, "limit_rate: requesting upstream");
        self.up.request(claim);
    }

    #[inline]
    fn received(&self) {
        let left = self
            .in_flight
            .fetch_sub(1, Ordering::SeqCst)
            .saturating_sub(1);
        // SeqCst with the requester's store of `pending` then load of `in_flight`: one of the two
        // sides sees the other, so new demand is never stranded.
        if (left == 0 || self.high - left >= self.low) && self.pending.load(Ordering::SeqCst) != 0 {
            self.top_up();
        }
    }
}

struct RateSubscription(Arc<Rate>);

impl Subscription for RateSubscription {
    fn request(&self, n: u64) {
        let r = &self.0;
        if n == 0 {
            r.up.request(0); // the upstream answers with the rule-3.9 error
            return;
        }
        {
            let _guard = r.lock.lock();
            let pending = r.pending.load(Ordering::SeqCst);
            r.pending.store(pending.saturating_add(n), Ordering::SeqCst);
        }
        r.top_up();
    }
    fn cancel(&self) {
        self.0.up.cancel();
    }
}

struct LimitSubscriber<S> {
    link: Link<S>,
    high: u64,
    low: u64,
    shared: Option<Arc<Rate>>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for LimitSubscriber<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            let rate = Arc::new(Rate {
                high: self.high,
                low: self.low,
                pending: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
                lock: Mutex::new(()),
                up,
            });
            self.shared = Some(Arc::clone(&rate));
            self.link
                .down
                .on_subscribe(Box::new(RateSubscription(rate)));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        self.link.down.on_next(item);
        if let Some(rate) = &self.shared {
            rate.received();
        }
    }
    fn on_error(&mut self, error: Error) {
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        self.link.upstream_complete();
    }
}
