//! Test helpers: a recording subscriber and drop counters.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use rstreams::{Error, Subscriber, Subscription};

/// What a [`Recorder`] saw.
pub struct Seen<T> {
    pub items: Vec<T>,
    pub errors: Vec<Error>,
    pub completes: usize,
    pub subscribes: usize,
    /// Total demand this subscriber asked for (to check rule 1.1).
    pub requested: u64,
}

pub struct Shared<T> {
    pub seen: Mutex<Seen<T>>,
    pub sub: Mutex<Option<Arc<dyn Subscription>>>,
    changed: Condvar,
}

/// A subscriber that records every signal and checks the grammar, driven by its [`Probe`].
pub struct Recorder<T> {
    shared: Arc<Shared<T>>,
    initial: u64,
}

/// The test's side of a [`Recorder`].
pub struct Probe<T> {
    pub shared: Arc<Shared<T>>,
}

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Self {
        Probe {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A recorder requesting `initial` in `on_subscribe` (0: nothing).
pub fn recorder<T>(initial: u64) -> (Recorder<T>, Probe<T>) {
    let shared = Arc::new(Shared {
        seen: Mutex::new(Seen {
            items: Vec::new(),
            errors: Vec::new(),
            completes: 0,
            subscribes: 0,
            requested: 0,
        }),
        sub: Mutex::new(None),
        changed: Condvar::new(),
    });
    (
        Recorder {
            shared: Arc::clone(&shared),
            initial,
        },
        Probe { shared },
    )
}

impl<T> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut seen = self.shared.seen.lock();
            seen.subscribes += 1;
            assert_eq!(seen.subscribes, 1, "on_subscribe twice");
            seen.requested = seen.requested.saturating_add(self.initial);
        }
        *self.shared.sub.lock() = Some(Arc::clone(&s));
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: T) {
        let mut seen = self.shared.seen.lock();
        assert_eq!(seen.subscribes, 1, "on_next before on_subscribe");
        assert!(
            seen.errors.is_empty() && seen.completes == 0,
            "on_next after terminal"
        );
        seen.items.push(item);
        assert!(
            seen.items.len() as u64 <= seen.requested,
            "rule 1.1: {} items for {} requested",
            seen.items.len(),
            seen.requested
        );
        self.shared.changed.notify_all();
    }
    fn on_error(&mut self, error: Error) {
        let mut seen = self.shared.seen.lock();
        assert!(
            seen.errors.is_empty() && seen.completes == 0,
            "two terminals"
        );
        seen.errors.push(error);
        self.shared.changed.notify_all();
    }
    fn on_complete(&mut self) {
        let mut seen = self.shared.seen.lock();
        assert!(
            seen.errors.is_empty() && seen.completes == 0,
            "two terminals"
        );
        seen.completes += 1;
        self.shared.changed.notify_all();
    }
}

impl<T: Clone> Probe<T> {
    pub fn items(&self) -> Vec<T> {
        self.shared.seen.lock().items.clone()
    }
}

impl<T> Probe<T> {
    pub fn request(&self, n: u64) {
        {
            let mut seen = self.shared.seen.lock();
            seen.requested = seen.requested.saturating_add(n);
        }
        let s = self.shared.sub.lock().clone().expect("subscribed");
        s.request(n);
    }
    pub fn cancel(&self) {
        let s = self.shared.sub.lock().clone().expect("subscribed");
        s.cancel();
    }
    pub fn count(&self) -> usize {
        self.shared.seen.lock().items.len()
    }
    pub fn completed(&self) -> bool {
        self.shared.seen.lock().completes == 1
    }
    pub fn error(&self) -> Option<Error> {
        self.shared.seen.lock().errors.first().cloned()
    }
    pub fn terminated(&self) -> bool {
        let seen = self.shared.seen.lock();
        seen.completes + seen.errors.len() > 0
    }
    /// Waits (condvar, returns as soon as it happens) until a terminal signal; false on timeout.
    pub fn wait_terminal(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = self.shared.seen.lock();
        while seen.completes + seen.errors.len() == 0 {
            if self
                .shared
                .changed
                .wait_until(&mut seen, deadline)
                .timed_out()
            {
                return false;
            }
        }
        true
    }
    /// Waits until at least `n` items arrived; false on timeout.
    pub fn wait_items(&self, n: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut seen = self.shared.seen.lock();
        while seen.items.len() < n {
            if self
                .shared
                .changed
                .wait_until(&mut seen, deadline)
                .timed_out()
            {
                return false;
            }
        }
        true
    }
}

/// Counts drops of values made by [`DropCounter::token`].
#[derive(Clone, Default)]
pub struct DropCounter(pub Arc<AtomicUsize>);

pub struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl DropCounter {
    pub fn token(&self) -> Token {
        Token(Arc::clone(&self.0))
    }
    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Records every `request(n)` an upstream sees.
#[derive(Clone, Default)]
pub struct Requests(pub Arc<Mutex<Vec<u64>>>);

impl Requests {
    pub fn hook(&self) -> impl Fn(u64) + Send + Sync + use<> {
        let r = Arc::clone(&self.0);
        move |n| r.lock().push(n)
    }
    pub fn get(&self) -> Vec<u64> {
        self.0.lock().clone()
    }
    pub fn total(&self) -> u64 {
        self.0.lock().iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

pub const WAIT: Duration = Duration::from_secs(10);
