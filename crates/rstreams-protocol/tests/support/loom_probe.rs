//! Shared pieces of the loom models: a probe subscriber whose every observation is a loom atomic,
//! an endless source, and a mini publisher skeleton the broken twins vary.
#![allow(dead_code)] // each model uses a different subset

use std::sync::{Arc, Mutex};

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use rstreams_protocol::pull::{Source, Step};
use rstreams_protocol::{Error, Subscriber, Subscription};

/// What the probe saw. SeqCst everywhere: the models check outcomes, not orderings of the probe.
#[derive(Default)]
pub struct Seen {
    /// Total demand the model has asked for *before* calling `request`.
    pub requested: AtomicU64,
    pub received: AtomicU64,
    pub completes: AtomicU64,
    pub errors: AtomicU64,
    pub inside: AtomicBool,
    pub after_terminal: AtomicBool,
    pub over_delivered: AtomicBool,
    pub overlapped: AtomicBool,
    pub dropped: AtomicBool,
    pub subscription: Mutex<Option<Arc<dyn Subscription>>>,
}

impl Seen {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Requests `n` through the stored subscription, recording the demand first so that the
    /// probe's bound check never races ahead of the request it checks against.
    pub fn request(&self, n: u64) {
        self.request_on(&self.subscription(), n);
    }

    /// As `request`, through a subscription fetched earlier (the slot empties when the probe is
    /// dropped, which the cancel models race with).
    pub fn request_on(&self, subscription: &Arc<dyn Subscription>, n: u64) {
        self.requested
            .fetch_update(SeqCst, SeqCst, |r| Some(r.saturating_add(n)))
            .unwrap();
        subscription.request(n);
    }

    pub fn cancel(&self) {
        self.subscription().cancel();
    }

    pub fn subscription(&self) -> Arc<dyn Subscription> {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("on_subscribe has run")
    }

    pub fn terminals(&self) -> u64 {
        self.completes.load(SeqCst) + self.errors.load(SeqCst)
    }

    /// The invariants every model checks at the end.
    pub fn assert_clean(&self) {
        assert!(
            !self.over_delivered.load(SeqCst),
            "rule 1.1: on_next beyond demand"
        );
        assert!(
            !self.overlapped.load(SeqCst),
            "rule 1.3: overlapping on_next"
        );
        assert!(
            !self.after_terminal.load(SeqCst),
            "rule 1.7: signal after terminal"
        );
        assert!(self.terminals() <= 1, "rule 1.7: two terminal signals");
    }
}

/// A subscriber that records into `Seen`. It keeps only a weak view of the subscription (the
/// `Seen` slot) so that dropping it is observable.
pub struct Probe {
    pub seen: Arc<Seen>,
    pub initial: u64,
}

impl Probe {
    pub fn new(seen: &Arc<Seen>, initial: u64) -> Self {
        Probe {
            seen: Arc::clone(seen),
            initial,
        }
    }

    fn enter(&self) {
        if self.seen.inside.swap(true, SeqCst) {
            self.seen.overlapped.store(true, SeqCst);
        }
        if self.seen.terminals() > 0 {
            self.seen.after_terminal.store(true, SeqCst);
        }
    }

    fn leave(&self) {
        self.seen.inside.store(false, SeqCst);
    }
}

impl Subscriber<u64> for Probe {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        *self.seen.subscription.lock().unwrap() = Some(Arc::clone(&s));
        if self.initial > 0 {
            self.seen.request(self.initial);
        }
    }

    fn on_next(&mut self, _item: u64) {
        self.enter();
        let got = self.seen.received.fetch_add(1, SeqCst) + 1;
        if got > self.seen.requested.load(SeqCst) {
            self.seen.over_delivered.store(true, SeqCst);
        }
        self.leave();
    }

    fn on_error(&mut self, _e: Error) {
        self.enter();
        self.seen.errors.fetch_add(1, SeqCst);
        self.leave();
    }

    fn on_complete(&mut self) {
        self.enter();
        self.seen.completes.fetch_add(1, SeqCst);
        self.leave();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.seen.dropped.store(true, SeqCst);
        // Release the subscription the slot holds, so the cycle subscriber -> subscription ->
        // subscriber cannot keep anything alive in the model.
        self.seen.subscription.lock().unwrap().take();
    }
}

/// Counts up from 0; `limit` items then completes (`u64::MAX`: never).
pub struct Counter {
    pub next: u64,
    pub limit: u64,
}

impl Source for Counter {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        if self.next == self.limit {
            return Step::Complete;
        }
        self.next += 1;
        Step::Next(self.next - 1)
    }
    fn is_exhausted(&mut self) -> bool {
        self.next == self.limit
    }
}

/// Runs a loom model with the bounded preemptions the CI uses (LOOM_MAX_PREEMPTIONS, default 3).
pub fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}
