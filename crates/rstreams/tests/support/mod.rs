//! THE test-support kit of the `rstreams` integration tests (issue 13 item 3): one recording
//! subscriber with two views (the whole record, and a queue of signals consumed in order), drop
//! and request counters, counted and hand-driven publishers, a shared test pool, and the
//! proptest driver for random request/run/step/cancel schedules on the `ManualExecutor`.
//!
//! The recorder never panics inside a signal (a panic there would be caught by the stage under
//! test and turned into an `on_error`); it records protocol violations instead, and the probe
//! asserts there were none when it is dropped (or earlier, with [`Probe::assert_clean`]).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rstreams::protocol::pull::{self, Source, Step};
use rstreams::{Error, Publisher, Subscriber, Subscription};

/// How long to wait for a signal that is expected (waits return as soon as it arrives).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The recording subscriber
// ---------------------------------------------------------------------------------------------

/// A signal as the recorder saw it.
#[derive(Debug, Clone)]
pub(crate) enum Sig<T> {
    Next(T),
    Error(Error),
    Complete,
}

/// Which signal came, in order; the item of a `Next` is the front of [`Seen::items`] when the
/// queue view reaches it.
#[derive(Clone, Copy)]
enum Event {
    Next,
    Error(usize),
    Complete,
}

/// What a [`Recorder`] saw.
pub(crate) struct Seen<T> {
    /// Items received and not yet taken (by the queue view or [`Probe::take_items`]).
    pub items: VecDeque<T>,
    /// Items received in total.
    pub received: usize,
    pub errors: Vec<Error>,
    pub completes: usize,
    pub subscribes: usize,
    /// Total demand this subscriber asked for (to check rule 1.1).
    pub requested: u64,
    /// Protocol problems noticed (overlap, signal after terminal, too many items, ...).
    pub violations: Vec<String>,
    /// Every signal in order, and how many of them [`Probe::next_signal`] consumed.
    events: Vec<Event>,
    taken: usize,
}

impl<T> Seen<T> {
    fn terminated(&self) -> bool {
        self.completes + self.errors.len() > 0
    }
}

pub(crate) struct Shared<T> {
    pub seen: Mutex<Seen<T>>,
    pub sub: Mutex<Option<Arc<dyn Subscription>>>,
    /// The name of the thread each `on_next` ran on.
    pub thread_names: Mutex<Vec<Option<String>>>,
    changed: Condvar,
    busy: AtomicBool,
}

/// A subscriber that records every signal and checks the grammar (1.1, 1.3, 1.7, 2.12),
/// driven by its [`Probe`].
pub(crate) struct Recorder<T> {
    shared: Arc<Shared<T>>,
    initial: u64,
}

/// The test's side of a [`Recorder`].
pub(crate) struct Probe<T> {
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
pub(crate) fn recorder<T>(initial: u64) -> (Recorder<T>, Probe<T>) {
    let shared = Arc::new(Shared {
        seen: Mutex::new(Seen {
            items: VecDeque::new(),
            received: 0,
            errors: Vec::new(),
            completes: 0,
            subscribes: 0,
            requested: 0,
            violations: Vec::new(),
            events: Vec::new(),
            taken: 0,
        }),
        sub: Mutex::new(None),
        thread_names: Mutex::new(Vec::new()),
        changed: Condvar::new(),
        busy: AtomicBool::new(false),
    });
    (
        Recorder {
            shared: Arc::clone(&shared),
            initial,
        },
        Probe { shared },
    )
}

impl<T> Recorder<T> {
    /// Records one signal under the overlap check (rule 1.3).
    fn signal(&self, f: impl FnOnce(&mut Seen<T>)) {
        let overlap = self.shared.busy.swap(true, Ordering::AcqRel);
        {
            let mut seen = self.shared.seen.lock();
            if overlap {
                seen.violations.push("overlapping signals (1.3)".into());
            }
            f(&mut seen);
        }
        self.shared.busy.store(false, Ordering::Release);
        self.shared.changed.notify_all();
    }

    fn terminal(&self, f: impl FnOnce(&mut Seen<T>)) {
        self.signal(|seen| {
            if seen.subscribes == 0 || seen.terminated() {
                seen.violations
                    .push("second terminal or terminal before on_subscribe (1.7)".into());
            }
            f(seen);
        });
        // Release the subscription once terminated, as a subscriber should (3.13).
        self.shared.sub.lock().take();
    }
}

impl<T> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let mut second = false;
        self.signal(|seen| {
            seen.subscribes += 1;
            if seen.subscribes > 1 {
                seen.violations.push("second on_subscribe (2.12)".into());
                second = true;
            } else {
                seen.requested = seen.requested.saturating_add(self.initial);
            }
        });
        if second {
            s.cancel();
            return;
        }
        let s: Arc<dyn Subscription> = Arc::from(s);
        *self.shared.sub.lock() = Some(Arc::clone(&s));
        self.shared.changed.notify_all();
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: T) {
        self.shared
            .thread_names
            .lock()
            .push(std::thread::current().name().map(str::to_owned));
        self.signal(|seen| {
            if seen.subscribes == 0 || seen.terminated() {
                seen.violations
                    .push("on_next before on_subscribe or after terminal (1.7)".into());
            }
            seen.received += 1;
            if seen.received as u64 > seen.requested {
                let msg = format!(
                    "rule 1.1: {} items for {} requested",
                    seen.received, seen.requested
                );
                seen.violations.push(msg);
            }
            seen.events.push(Event::Next);
            seen.items.push_back(item);
        });
    }
    fn on_error(&mut self, error: Error) {
        self.terminal(|seen| {
            seen.events.push(Event::Error(seen.errors.len()));
            seen.errors.push(error);
        });
    }
    fn on_complete(&mut self) {
        self.terminal(|seen| {
            seen.events.push(Event::Complete);
            seen.completes += 1;
        });
    }
}

impl<T> Probe<T> {
    /// Asks for `n` more (a no-op once the recorder was terminated and let go of it).
    pub(crate) fn request(&self, n: u64) {
        {
            let mut seen = self.shared.seen.lock();
            assert!(seen.subscribes > 0, "request before on_subscribe");
            seen.requested = seen.requested.saturating_add(n);
        }
        let sub = self.shared.sub.lock().clone();
        if let Some(s) = sub {
            s.request(n);
        }
    }
    /// Cancels (a no-op once terminated).
    pub(crate) fn cancel(&self) {
        assert!(
            self.shared.seen.lock().subscribes > 0,
            "cancel before on_subscribe"
        );
        let sub = self.shared.sub.lock().clone();
        if let Some(s) = sub {
            s.cancel();
        }
    }
    /// Items received in total.
    pub(crate) fn count(&self) -> usize {
        self.shared.seen.lock().received
    }
    /// Moves out the items received and not yet taken.
    pub(crate) fn take_items(&self) -> Vec<T> {
        self.shared.seen.lock().items.drain(..).collect()
    }
    pub(crate) fn len(&self) -> usize {
        self.count()
    }
    pub(crate) fn completed(&self) -> bool {
        self.shared.seen.lock().completes == 1
    }
    pub(crate) fn error(&self) -> Option<Error> {
        self.shared.seen.lock().errors.first().cloned()
    }
    pub(crate) fn terminated(&self) -> bool {
        self.shared.seen.lock().terminated()
    }
    /// Runs `f` on what was seen.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Seen<T>) -> R) -> R {
        f(&self.shared.seen.lock())
    }
    /// Waits (condvar) until `f` holds on what was seen; false on timeout ([`WAIT`]).
    pub(crate) fn wait(&self, f: impl FnMut(&Seen<T>) -> bool) -> bool {
        self.wait_for(WAIT, f)
    }
    fn wait_for(&self, timeout: Duration, mut f: impl FnMut(&Seen<T>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut seen = self.shared.seen.lock();
        while !f(&seen) {
            if self
                .shared
                .changed
                .wait_until(&mut seen, deadline)
                .timed_out()
            {
                return f(&seen);
            }
        }
        true
    }
    /// Waits until a terminal signal; false on timeout.
    pub(crate) fn wait_terminal(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, Seen::terminated)
    }
    /// Waits until at least `n` items arrived or the stream ended; true if `n` arrived.
    pub(crate) fn wait_items(&self, n: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.received >= n || s.terminated());
        self.count() >= n
    }
    /// Waits until `on_subscribe` arrived (fails the test after [`WAIT`]).
    pub(crate) fn wait_subscribed(&self) {
        assert!(
            self.wait(|s| s.subscribes > 0),
            "no on_subscribe within {WAIT:?}"
        );
    }
    /// Fails the test if the recorder saw a protocol violation.
    pub(crate) fn assert_clean(&self) {
        let v = self.shared.seen.lock().violations.clone();
        assert!(v.is_empty(), "protocol violations: {v:?}");
    }
}

/// A test that forgot [`Probe::assert_clean`] still fails on a violation.
impl<T> Drop for Probe<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_clean();
        }
    }
}

impl<T: Clone> Probe<T> {
    /// The items received and not yet taken.
    pub(crate) fn items(&self) -> Vec<T> {
        self.shared.seen.lock().items.iter().cloned().collect()
    }
}

/// The queue view: signals consumed one by one, in order (items move out of [`Seen::items`]).
impl<T> Probe<T> {
    fn take(seen: &mut Seen<T>) -> Option<Sig<T>> {
        let ev = *seen.events.get(seen.taken)?;
        seen.taken += 1;
        Some(match ev {
            Event::Next => Sig::Next(seen.items.pop_front().expect("item taken by the test")),
            Event::Error(i) => Sig::Error(seen.errors[i].clone()),
            Event::Complete => Sig::Complete,
        })
    }
    /// The next signal not yet consumed, failing the test after [`WAIT`].
    pub(crate) fn next_signal(&self) -> Sig<T> {
        assert!(
            self.wait(|s| s.events.len() > s.taken),
            "expected a signal within {WAIT:?}"
        );
        Self::take(&mut self.shared.seen.lock()).expect("a signal")
    }
    /// Collects `n` items, failing on anything else.
    pub(crate) fn expect_items(&self, n: usize) -> Vec<T>
    where
        T: std::fmt::Debug,
    {
        (0..n)
            .map(|_| match self.next_signal() {
                Sig::Next(x) => x,
                other => panic!("expected an item, got {other:?}"),
            })
            .collect()
    }
    /// Items until the terminal signal, which is returned.
    pub(crate) fn until_end(&self) -> (Vec<T>, Result<(), Error>) {
        let mut items = Vec::new();
        loop {
            match self.next_signal() {
                Sig::Next(x) => items.push(x),
                Sig::Complete => return (items, Ok(())),
                Sig::Error(e) => return (items, Err(e)),
            }
        }
    }
    /// Signals that are already there and not yet consumed, without waiting.
    pub(crate) fn drain_ready(&self) -> Vec<Sig<T>> {
        let mut seen = self.shared.seen.lock();
        std::iter::from_fn(|| Self::take(&mut seen)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// Counts drops of values made by [`DropCounter::token`].
#[derive(Clone, Default)]
pub(crate) struct DropCounter(pub Arc<AtomicUsize>);

pub(crate) struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl DropCounter {
    pub(crate) fn token(&self) -> Token {
        Token(Arc::clone(&self.0))
    }
    pub(crate) fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Records every `request(n)` an upstream sees.
#[derive(Clone, Default)]
pub(crate) struct Requests(pub Arc<Mutex<Vec<u64>>>);

impl Requests {
    pub(crate) fn hook(&self) -> impl Fn(u64) + Send + Sync + use<> {
        let r = Arc::clone(&self.0);
        move |n| r.lock().push(n)
    }
    pub(crate) fn get(&self) -> Vec<u64> {
        self.0.lock().clone()
    }
    pub(crate) fn total(&self) -> u64 {
        self.0.lock().iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// An item that counts how many of its kind are alive.
pub(crate) struct Tracked {
    pub value: u64,
    live: Arc<AtomicU64>,
}

impl Tracked {
    pub(crate) fn new(value: u64, live: &Arc<AtomicU64>) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Publishers for tests
// ---------------------------------------------------------------------------------------------

/// One pool for every test of a binary, never dropped: tests do not depend on pool shutdown, and
/// the machine's two cores are not oversubscribed.
pub(crate) fn pool() -> Arc<dyn rstreams::executor::Scheduler> {
    static POOL: std::sync::OnceLock<Arc<dyn rstreams::executor::Scheduler>> =
        std::sync::OnceLock::new();
    Arc::clone(POOL.get_or_init(|| {
        Arc::new(
            rstreams::executor::ThreadPool::builder()
                .workers(2)
                .thread_name_prefix("flow-test")
                .build()
                .expect("test pool"),
        )
    }))
}

/// Counters of a [`Counted`] publisher, shared by all its subscriptions.
#[derive(Default)]
pub(crate) struct Counters {
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
    pub(crate) fn alive(&self) -> usize {
        self.subscribed.load(Ordering::SeqCst) - self.dropped.load(Ordering::SeqCst)
    }
}

/// A publisher of `count` items `make(i)` (`u64::MAX`: endless) whose subscriptions are counted.
pub(crate) struct Counted<T> {
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

pub(crate) fn counted<T>(
    count: u64,
    make: impl Fn(u64) -> T + Send + Sync + 'static,
) -> Counted<T> {
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

/// Counts subscriptions made, released (subscriber dropped), cancelled, and the demand asked.
#[derive(Clone, Default)]
pub(crate) struct Tracker(Arc<TrackerCounts>);

#[derive(Default)]
pub(crate) struct TrackerCounts {
    subscribed: AtomicUsize,
    released: AtomicUsize,
    cancelled: AtomicUsize,
    requested: AtomicU64,
}

impl Tracker {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn subscribed(&self) -> usize {
        self.0.subscribed.load(Ordering::SeqCst)
    }
    pub(crate) fn released(&self) -> usize {
        self.0.released.load(Ordering::SeqCst)
    }
    pub(crate) fn cancelled(&self) -> usize {
        self.0.cancelled.load(Ordering::SeqCst)
    }
    pub(crate) fn requested(&self) -> u64 {
        self.0.requested.load(Ordering::SeqCst)
    }
    /// Every subscription made has been released.
    pub(crate) fn all_released(&self) -> bool {
        self.subscribed() == self.released()
    }
    pub(crate) fn wrap<P: Publisher>(&self, upstream: P) -> TrackedPublisher<P> {
        TrackedPublisher {
            upstream,
            tracker: self.clone(),
        }
    }
}

/// A publisher wrapped by [`Tracker::wrap`].
pub(crate) struct TrackedPublisher<P> {
    upstream: P,
    tracker: Tracker,
}

impl<P: Publisher> Publisher for TrackedPublisher<P> {
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
    counts: Arc<TrackerCounts>,
}

impl<S> Drop for TrackedSub<S> {
    fn drop(&mut self) {
        self.counts.released.fetch_add(1, Ordering::SeqCst);
    }
}

struct TrackedSubscription {
    up: Box<dyn Subscription>,
    counts: Arc<TrackerCounts>,
}

fn add_saturating(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
        Some(c.saturating_add(n))
    });
}

impl Subscription for TrackedSubscription {
    fn request(&self, n: u64) {
        add_saturating(&self.counts.requested, n);
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
pub(crate) struct Manual<T> {
    inner: Arc<ManualInner<T>>,
}

struct ManualInner<T> {
    sub: Mutex<Option<Box<dyn Subscriber<T> + Send>>>,
    requested: AtomicU64,
    cancelled: AtomicBool,
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
        add_saturating(&self.0.requested, n);
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
    pub(crate) fn new() -> Self {
        Manual {
            inner: Arc::new(ManualInner {
                sub: Mutex::new(None),
                requested: AtomicU64::new(0),
                cancelled: AtomicBool::new(false),
            }),
        }
    }
    pub(crate) fn requested(&self) -> u64 {
        self.inner.requested.load(Ordering::SeqCst)
    }
    pub(crate) fn cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }
    pub(crate) fn subscribed(&self) -> bool {
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
    pub(crate) fn next(&self, item: T) {
        self.with(|s| s.on_next(item));
    }
    pub(crate) fn complete(&self) {
        self.with(|s| s.on_complete());
        self.inner.sub.lock().take();
    }
    pub(crate) fn error(&self, e: Error) {
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

// ---------------------------------------------------------------------------------------------
// Random schedules (proptest)
// ---------------------------------------------------------------------------------------------

/// One step of a random schedule driven by [`drive`].
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Request(u64),
    Run,
    Step,
    Cancel,
}

/// Requests of `1..max_request` (and now and then `u64::MAX`), executor runs and steps, cancels.
pub(crate) fn op(max_request: u64) -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (1u64..max_request).prop_map(Op::Request),
        1 => Just(Op::Request(u64::MAX)),
        3 => Just(Op::Run),
        3 => Just(Op::Step),
        1 => Just(Op::Cancel),
    ]
}

/// Proptest cases: `RSTREAMS_PROPTEST_CASES`, else `default` (modest, for CI).
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("RSTREAMS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a schedule driven by [`drive`] produced.
#[derive(Debug)]
pub(crate) struct Outcome<T> {
    pub items: Vec<T>,
    /// Demand asked before any cancel.
    pub requested: u64,
    pub cancelled: bool,
    pub completed: bool,
}

impl<T> Outcome<T> {
    /// The common verdict: never beyond demand; without a cancel, exactly `min(requested, len)`
    /// items and completion exactly when everything was requested.
    pub(crate) fn check_len(&self, len: usize) -> Result<(), proptest::test_runner::TestCaseError> {
        proptest::prop_assert!(self.items.len() as u64 <= self.requested);
        if !self.cancelled {
            proptest::prop_assert_eq!(self.items.len() as u64, self.requested.min(len as u64));
            proptest::prop_assert_eq!(self.completed, self.requested >= len as u64);
        }
        Ok(())
    }
}

/// The random-schedule proptests' setup, in one place: a deterministic executor and a
/// recorder that requests nothing by itself, wrapped in the TCK's protocol checker. Subscribe
/// the returned subscriber, then [`play`](Schedule::play) the schedule.
pub(crate) struct Schedule<T> {
    pub exec: rstreams::executor::ManualExecutor,
    probe: Probe<T>,
    report: rstreams_tck::checker::CheckerReport,
}

pub(crate) fn schedule<T>() -> (
    Schedule<T>,
    rstreams_tck::checker::CheckedSubscriber<Recorder<T>>,
) {
    let (rec, probe) = recorder::<T>(0);
    let checked = rstreams_tck::checker::CheckedSubscriber::new(rec);
    let report = checked.report();
    let exec = rstreams::executor::ManualExecutor::new();
    (
        Schedule {
            exec,
            probe,
            report,
        },
        checked,
    )
}

impl<T> Schedule<T> {
    /// The executor as a scheduler for the stages under test.
    pub(crate) fn scheduler(&self) -> Arc<dyn rstreams::executor::Scheduler> {
        Arc::new(self.exec.clone())
    }

    /// Runs what subscribing queued, plays `ops` ([`drive`]), and asserts the protocol checker
    /// saw no violation.
    pub(crate) fn play(
        &self,
        ops: &[Op],
    ) -> Result<Outcome<T>, proptest::test_runner::TestCaseError> {
        self.exec.run_until_idle();
        let out = drive(&self.exec, &self.probe, ops)?;
        self.report.assert_clean();
        Ok(out)
    }
}

/// Plays `ops` against `probe`'s subscription on `exec`, then runs `exec` until idle; fails the
/// case on a signal after the terminal, an item after a settled cancel, or an error. The
/// recorder's own checks are asserted too ([`Probe::assert_clean`]).
pub(crate) fn drive<T>(
    exec: &rstreams::executor::ManualExecutor,
    probe: &Probe<T>,
    ops: &[Op],
) -> Result<Outcome<T>, proptest::test_runner::TestCaseError> {
    use proptest::{prop_assert, prop_assert_eq};
    let mut out = Outcome {
        items: Vec::new(),
        requested: 0,
        cancelled: false,
        completed: false,
    };
    let collect = |out: &mut Outcome<T>, cancelled: bool| {
        for sig in probe.drain_ready() {
            prop_assert!(!out.completed, "signal after terminal");
            match sig {
                Sig::Next(x) => {
                    prop_assert!(!cancelled, "item after cancel settled");
                    out.items.push(x);
                }
                Sig::Complete => out.completed = true,
                Sig::Error(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
        Ok(())
    };
    for op in ops {
        match op {
            Op::Request(n) => {
                if !out.cancelled {
                    out.requested = out.requested.saturating_add(*n);
                    probe.request(*n);
                }
            }
            Op::Run => {
                exec.run_until_idle();
            }
            Op::Step => {
                exec.step();
            }
            Op::Cancel => {
                probe.cancel();
                exec.run_until_idle();
                collect(&mut out, false)?;
                out.cancelled = true;
            }
        }
        let settled = out.cancelled;
        collect(&mut out, settled)?;
    }
    exec.run_until_idle();
    let settled = out.cancelled;
    collect(&mut out, settled)?;
    let v = probe.shared.seen.lock().violations.clone();
    prop_assert_eq!(v, Vec::<String>::new(), "protocol violations");
    Ok(out)
}
