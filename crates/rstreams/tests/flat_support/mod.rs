//! Test helpers shared by the flat_*, merge_*, zip_* and multicast_* tests: a recording
//! subscriber driven by hand, a counted source (live subscriptions, requests, drops) and items
//! that count their drops.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rstreams::protocol::pull::{self, Source, Step};
use rstreams::{Error, Publisher, Subscriber, Subscription};

/// How long to wait for a signal that is expected (returns as soon as it arrives).
pub const WAIT: Duration = Duration::from_secs(10);

/// What a [`Recorder`] saw.
pub struct Seen<T> {
    pub items: Vec<T>,
    pub error: Option<Error>,
    pub completed: bool,
    /// Protocol problems noticed by the recorder (overlap, signal after terminal, too many items).
    pub violations: Vec<String>,
    pub requested: u64,
}

pub struct Shared<T> {
    seen: Mutex<Seen<T>>,
    cv: Condvar,
    sub: Mutex<Option<Arc<dyn Subscription>>>,
    busy: AtomicBool,
}

/// The test's side of a [`Recorder`].
pub struct Probe<T>(pub Arc<Shared<T>>);

/// A subscriber that records every signal and checks overlap and demand.
pub struct Recorder<T>(Arc<Shared<T>>, u64);

pub fn recorder<T>(initial: u64) -> (Probe<T>, Recorder<T>) {
    let shared = Arc::new(Shared {
        seen: Mutex::new(Seen {
            items: Vec::new(),
            error: None,
            completed: false,
            violations: Vec::new(),
            requested: 0,
        }),
        cv: Condvar::new(),
        sub: Mutex::new(None),
        busy: AtomicBool::new(false),
    });
    (Probe(Arc::clone(&shared)), Recorder(shared, initial))
}

impl<T> Recorder<T> {
    fn enter(&self) {
        if self.0.busy.swap(true, Ordering::AcqRel) {
            self.0
                .seen
                .lock()
                .violations
                .push("overlapping signals (1.3)".into());
        }
    }
    fn leave(&self) {
        self.0.busy.store(false, Ordering::Release);
        self.0.cv.notify_all();
    }
}

impl<T> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        *self.0.sub.lock() = Some(Arc::clone(&s));
        if self.1 > 0 {
            {
                let mut seen = self.0.seen.lock();
                seen.requested = seen.requested.saturating_add(self.1);
            }
            s.request(self.1);
        }
        self.0.cv.notify_all();
    }
    fn on_next(&mut self, item: T) {
        self.enter();
        {
            let mut seen = self.0.seen.lock();
            if seen.completed || seen.error.is_some() {
                seen.violations.push("on_next after terminal (1.7)".into());
            }
            if seen.items.len() as u64 >= seen.requested {
                seen.violations.push("on_next beyond demand (1.1)".into());
            }
            seen.items.push(item);
        }
        self.leave();
    }
    fn on_error(&mut self, e: Error) {
        self.enter();
        {
            let mut seen = self.0.seen.lock();
            if seen.completed || seen.error.is_some() {
                seen.violations.push("second terminal (1.7)".into());
            }
            seen.error = Some(e);
        }
        self.leave();
    }
    fn on_complete(&mut self) {
        self.enter();
        {
            let mut seen = self.0.seen.lock();
            if seen.completed || seen.error.is_some() {
                seen.violations.push("second terminal (1.7)".into());
            }
            seen.completed = true;
        }
        self.leave();
    }
}

impl<T> Probe<T> {
    pub fn request(&self, n: u64) {
        {
            let mut seen = self.0.seen.lock();
            seen.requested = seen.requested.saturating_add(n);
        }
        let s = self.0.sub.lock().clone().expect("subscribed");
        s.request(n);
    }
    pub fn cancel(&self) {
        let s = self.0.sub.lock().clone().expect("subscribed");
        s.cancel();
    }
    /// Waits until `f` holds on what was seen; false on timeout.
    pub fn wait(&self, mut f: impl FnMut(&Seen<T>) -> bool) -> bool {
        let deadline = std::time::Instant::now() + WAIT;
        let mut seen = self.0.seen.lock();
        while !f(&seen) {
            if self.0.cv.wait_until(&mut seen, deadline).timed_out() {
                return f(&seen);
            }
        }
        true
    }
    pub fn wait_items(&self, n: usize) -> bool {
        self.wait(|s| s.items.len() >= n || s.error.is_some())
    }
    pub fn wait_terminal(&self) -> bool {
        self.wait(|s| s.completed || s.error.is_some())
    }
    pub fn with<R>(&self, f: impl FnOnce(&Seen<T>) -> R) -> R {
        f(&self.0.seen.lock())
    }
    pub fn len(&self) -> usize {
        self.0.seen.lock().items.len()
    }
    pub fn assert_clean(&self) {
        let v = self.0.seen.lock().violations.clone();
        assert!(v.is_empty(), "protocol violations: {v:?}");
    }
}

impl<T: Clone> Probe<T> {
    pub fn items(&self) -> Vec<T> {
        self.0.seen.lock().items.clone()
    }
}

/// Counters of a [`Counted`] publisher, shared by all its subscriptions.
#[derive(Default)]
pub struct Counters {
    /// Subscriptions made.
    pub subscribed: AtomicUsize,
    /// Subscriptions whose source was dropped (ended or cancelled).
    pub dropped: AtomicUsize,
    /// Largest number alive at once.
    pub max_alive: AtomicUsize,
    /// Items produced in total.
    pub produced: AtomicU64,
}

impl Counters {
    pub fn alive(&self) -> usize {
        self.subscribed.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

/// A publisher of `count` items `make(i)` (`u64::MAX`: endless) whose subscriptions are counted.
pub struct Counted<T> {
    pub count: u64,
    pub counters: Arc<Counters>,
    pub make: Arc<dyn Fn(u64) -> T + Send + Sync>,
}

impl<T> Clone for Counted<T> {
    fn clone(&self) -> Self {
        Counted {
            count: self.count,
            counters: Arc::clone(&self.counters),
            make: Arc::clone(&self.make),
        }
    }
}

pub fn counted<T>(count: u64, make: impl Fn(u64) -> T + Send + Sync + 'static) -> Counted<T> {
    Counted {
        count,
        counters: Arc::new(Counters::default()),
        make: Arc::new(make),
    }
}

struct CountedSource<T> {
    next: u64,
    count: u64,
    counters: Arc<Counters>,
    make: Arc<dyn Fn(u64) -> T + Send + Sync>,
}

impl<T: Send + 'static> Source for CountedSource<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        if self.next >= self.count {
            return Step::Complete;
        }
        let item = (self.make)(self.next);
        self.next += 1;
        self.counters.produced.fetch_add(1, Ordering::SeqCst);
        Step::Next(item)
    }
    fn is_exhausted(&mut self) -> bool {
        self.next >= self.count
    }
}

impl<T> Drop for CountedSource<T> {
    fn drop(&mut self) {
        self.counters.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl<T: Send + 'static> Publisher for Counted<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let n = self.counters.subscribed.fetch_add(1, Ordering::SeqCst) + 1;
        let alive = n - self.counters.dropped.load(Ordering::SeqCst);
        self.counters.max_alive.fetch_max(alive, Ordering::SeqCst);
        pull::serve(
            CountedSource {
                next: 0,
                count: self.count,
                counters: Arc::clone(&self.counters),
                make: Arc::clone(&self.make),
            },
            subscriber,
        );
    }
}

/// An item that counts how many of its kind are alive.
pub struct Tracked {
    pub value: u64,
    live: Arc<AtomicU64>,
}

impl Tracked {
    pub fn new(value: u64, live: &Arc<AtomicU64>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Tracked {
            value,
            live: Arc::clone(live),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.value, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({})", self.value)
    }
}
