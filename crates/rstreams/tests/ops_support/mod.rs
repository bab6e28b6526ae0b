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

/// A publisher driven by the test: it keeps its (one) subscriber and sends what the test says,
/// recording the demand received and whether it was cancelled. Ignores rule 1.1 on purpose, so
/// a test can also send more than requested.
pub struct Manual<T> {
    inner: Arc<ManualInner<T>>,
}

struct ManualInner<T> {
    sub: parking_lot::Mutex<Option<Box<dyn Subscriber<T> + Send>>>,
    requested: AtomicU64,
    cancelled: std::sync::atomic::AtomicBool,
}

impl<T> Clone for Manual<T> {
    fn clone(&self) -> Self {
        Manual {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct ManualSubscription<T>(Arc<ManualInner<T>>);

impl<T: Send + 'static> Subscription for ManualSubscription<T> {
    fn request(&self, n: u64) {
        let _ = self
            .0
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                Some(c.saturating_add(n))
            });
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        // Release the subscriber (rule 3.13) unless a signal is being sent right now.
        if let Some(mut g) = self.0.sub.try_lock() {
            g.take();
        }
    }
}

impl<T: Send + 'static> Manual<T> {
    pub fn new() -> Self {
        Manual {
            inner: Arc::new(ManualInner {
                sub: parking_lot::Mutex::new(None),
                requested: AtomicU64::new(0),
                cancelled: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }
    pub fn requested(&self) -> u64 {
        self.inner.requested.load(Ordering::SeqCst)
    }
    pub fn cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }
    pub fn subscribed(&self) -> bool {
        self.inner.sub.lock().is_some()
    }
    fn with(&self, f: impl FnOnce(&mut (dyn Subscriber<T> + Send))) {
        let taken = self.inner.sub.lock().take();
        if let Some(mut s) = taken {
            f(&mut *s);
            if !self.cancelled() {
                *self.inner.sub.lock() = Some(s);
            }
        }
    }
    pub fn next(&self, item: T) {
        self.with(|s| s.on_next(item));
    }
    pub fn complete(&self) {
        self.with(|s| s.on_complete());
        self.inner.sub.lock().take();
    }
    pub fn error(&self, e: Error) {
        self.with(|s| s.on_error(e));
        self.inner.sub.lock().take();
    }
}

impl<T: Send + 'static> Publisher for Manual<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Box::new(ManualSubscription(Arc::clone(&self.inner))));
        if !self.cancelled() {
            *self.inner.sub.lock() = Some(Box::new(subscriber));
        }
    }
}
