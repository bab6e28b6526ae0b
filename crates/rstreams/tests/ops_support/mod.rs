//! Helpers for the issue-15 operator tests: a publisher wrapper that proves every subscription
//! it served was released (its subscriber dropped) and records the requests it received.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rstreams::{Error, Publisher, Subscriber, Subscription};

/// Counts subscriptions made, released (subscriber dropped), cancelled, and the demand asked.
#[derive(Clone, Default)]
pub struct Tracker(Arc<Counts>);

#[derive(Default)]
pub struct Counts {
    subscribed: AtomicUsize,
    released: AtomicUsize,
    cancelled: AtomicUsize,
    requested: AtomicU64,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn subscribed(&self) -> usize {
        self.0.subscribed.load(Ordering::SeqCst)
    }
    pub fn released(&self) -> usize {
        self.0.released.load(Ordering::SeqCst)
    }
    pub fn cancelled(&self) -> usize {
        self.0.cancelled.load(Ordering::SeqCst)
    }
    pub fn requested(&self) -> u64 {
        self.0.requested.load(Ordering::SeqCst)
    }
    /// Every subscription made has been released.
    pub fn all_released(&self) -> bool {
        self.subscribed() == self.released()
    }
    pub fn wrap<P: Publisher>(&self, upstream: P) -> Tracked<P> {
        Tracked {
            upstream,
            tracker: self.clone(),
        }
    }
}

pub struct Tracked<P> {
    upstream: P,
    tracker: Tracker,
}

impl<P: Publisher> Publisher for Tracked<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.tracker.0.subscribed.fetch_add(1, Ordering::SeqCst);
        self.upstream.subscribe(TrackedSub {
            down: subscriber,
            counts: Arc::clone(&self.tracker.0),
        });
    }
}

struct TrackedSub<S> {
    down: S,
    counts: Arc<Counts>,
}

impl<S> Drop for TrackedSub<S> {
    fn drop(&mut self) {
        self.counts.released.fetch_add(1, Ordering::SeqCst);
    }
}

struct TrackedSubscription {
    up: Box<dyn Subscription>,
    counts: Arc<Counts>,
}

impl Subscription for TrackedSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .counts
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                Some(c.saturating_add(n))
            });
        self.up.request(n)
    }
    fn cancel(&self) {
        self.counts.cancelled.fetch_add(1, Ordering::SeqCst);
        self.up.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for TrackedSub<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.down.on_subscribe(Box::new(TrackedSubscription {
            up: s,
            counts: Arc::clone(&self.counts),
        }))
    }
    fn on_next(&mut self, item: T) {
        self.down.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.down.on_error(error)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}
