//! The whitebox probe: how a subscriber under test reports what it received, and hands the TCK
//! its puppet.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::{Error, Rule, Subscriber, Subscription};

use super::env::Env;
use crate::outcome::TestFailure;

/// Items the probe keeps unread; tests use a few (bounded, overflow is a failure).
const MAX_PROBE_ITEMS: usize = 256;

/// What the TCK uses to make a whitebox subscriber act, registered with
/// [`WhiteboxProbe::register_on_subscribe`].
///
/// * `trigger_request(n)`: the subscriber must *eventually* request at least `n` more items in
///   total (all at once or in pieces as earlier ones arrive).
/// * `signal_cancel()`: the subscriber must cancel its subscription.
///
/// The simplest puppet is the subscription itself shared through an `Arc` (implemented below):
/// the TCK's puppet calls are its own instrumentation and are not held to rule 2.7 against the
/// subscriber's own calls.
pub trait SubscriberPuppet: Send + Sync {
    /// Make the subscriber request at least `n` more items.
    fn trigger_request(&self, n: u64);
    /// Make the subscriber cancel.
    fn signal_cancel(&self);
}

impl<S: Subscription + ?Sized> SubscriberPuppet for Arc<S> {
    fn trigger_request(&self, n: u64) {
        self.request(n);
    }
    fn signal_cancel(&self) {
        self.cancel();
    }
}

struct ProbeLog<T> {
    puppet: Option<Arc<dyn SubscriberPuppet>>,
    items: VecDeque<T>,
    received: u64,
    /// The threads that registered items (bounded), for the rule 2.2 test.
    item_threads: Vec<std::thread::ThreadId>,
    completes: u32,
    errors: Vec<Error>,
}

struct ProbeInner<T> {
    env: Arc<Env>,
    log: Mutex<ProbeLog<T>>,
    changed: Condvar,
    terminal_seen: Arc<AtomicBool>,
}

/// Handed to [`create_subscriber`](super::whitebox::SubscriberWhiteboxVerification::create_subscriber):
/// the subscriber calls the `register_*` methods from its callbacks (or from wherever it really
/// processes the signals, for an asynchronous subscriber), so that the TCK sees what it
/// received.
///
/// Cheap to clone, `Send + Sync`: move clones wherever the subscriber processes signals.
///
/// [`wrap`](WhiteboxProbe::wrap) instruments an existing subscriber without changing it.
pub struct WhiteboxProbe<T> {
    inner: Arc<ProbeInner<T>>,
}

impl<T> Clone for WhiteboxProbe<T> {
    fn clone(&self) -> Self {
        WhiteboxProbe {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for WhiteboxProbe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.inner.log.lock();
        f.debug_struct("WhiteboxProbe")
            .field("registered", &log.puppet.is_some())
            .field("received", &log.received)
            .field("completes", &log.completes)
            .field("errors", &log.errors.len())
            .finish()
    }
}

impl<T: Send + 'static> WhiteboxProbe<T> {
    pub(crate) fn new(env: Arc<Env>, terminal_seen: Arc<AtomicBool>) -> Self {
        WhiteboxProbe {
            inner: Arc::new(ProbeInner {
                env,
                log: Mutex::new(ProbeLog {
                    puppet: None,
                    items: VecDeque::new(),
                    received: 0,
                    item_threads: Vec::new(),
                    completes: 0,
                    errors: Vec::new(),
                }),
                changed: Condvar::new(),
                terminal_seen,
            }),
        }
    }

    /// Call from `on_subscribe` (once): hands the TCK the puppet that drives the subscriber. A
    /// second registration is ignored.
    pub fn register_on_subscribe(&self, puppet: impl SubscriberPuppet + 'static) {
        let mut log = self.inner.log.lock();
        if log.puppet.is_none() {
            log.puppet = Some(Arc::new(puppet));
        }
        self.inner.changed.notify_all();
    }

    /// Call when an item is received (processed).
    pub fn register_on_next(&self, item: T) {
        let mut log = self.inner.log.lock();
        if log.items.len() >= MAX_PROBE_ITEMS {
            self.inner.env.flop(
                None,
                format!("the probe holds {MAX_PROBE_ITEMS} unread items: more than any test sends"),
            );
        } else {
            log.items.push_back(item);
        }
        log.received += 1;
        if log.item_threads.len() < 64 {
            log.item_threads.push(std::thread::current().id());
        }
        self.inner.changed.notify_all();
    }

    /// Call when `on_complete` is received (processed).
    pub fn register_on_complete(&self) {
        self.inner.terminal_seen.store(true, Ordering::Release);
        let mut log = self.inner.log.lock();
        log.completes += 1;
        self.inner.changed.notify_all();
    }

    /// Call when `on_error` is received (processed).
    pub fn register_on_error(&self, error: Error) {
        self.inner.terminal_seen.store(true, Ordering::Release);
        let mut log = self.inner.log.lock();
        if log.errors.len() < 8 {
            log.errors.push(error);
        }
        self.inner.changed.notify_all();
    }

    /// Instruments `subscriber`: the returned subscriber registers every signal with this probe
    /// before forwarding it, and registers the subscription (shared) as the puppet.
    ///
    /// ```
    /// use rstreams_tck::subscriber::whitebox::SubscriberWhiteboxVerification;
    /// use rstreams_tck::subscriber::{WhiteboxProbe, reference::SyncSubscriber};
    /// use rstreams_protocol::Subscriber;
    ///
    /// struct MyVerification;
    /// impl SubscriberWhiteboxVerification for MyVerification {
    ///     type Item = u64;
    ///     fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
    ///         Box::new(probe.wrap(SyncSubscriber::new(4, |_x: u64| true)))
    ///     }
    ///     fn create_element(&self, i: u64) -> u64 { i }
    /// }
    /// let report = rstreams_tck::subscriber::whitebox::run(
    ///     "SyncSubscriber", &MyVerification, &rstreams_tck::outcome::Settings::from_env());
    /// assert_eq!(report.failed(), Vec::<&str>::new());
    /// ```
    pub fn wrap<S>(&self, subscriber: S) -> ProbedSubscriber<T, S>
    where
        S: Subscriber<T> + Send,
        T: Clone,
    {
        ProbedSubscriber {
            probe: self.clone(),
            inner: subscriber,
        }
    }

    fn wait<R>(&self, mut f: impl FnMut(&mut ProbeLog<T>) -> Option<R>) -> Option<R> {
        let deadline = Instant::now() + self.inner.env.settings.timeout;
        let mut log = self.inner.log.lock();
        loop {
            if let Some(r) = f(&mut log) {
                return Some(r);
            }
            if self
                .inner
                .changed
                .wait_until(&mut log, deadline)
                .timed_out()
            {
                return f(&mut log);
            }
        }
    }

    /// Waits for the puppet (the JVM's "did not registerOnSubscribe" check).
    pub(crate) fn expect_puppet(&self) -> Result<Arc<dyn SubscriberPuppet>, TestFailure> {
        self.wait(|log| log.puppet.clone()).ok_or_else(|| {
            self.inner.env.timeout(
                None,
                format!(
                    "the subscriber did not call WhiteboxProbe::register_on_subscribe within \
                     {:?} of on_subscribe",
                    self.inner.env.settings.timeout
                ),
            )
        })
    }

    /// Waits for the next item the subscriber registered.
    pub(crate) fn expect_next(&self, rule: Option<Rule>) -> Result<T, TestFailure> {
        self.wait(|log| log.items.pop_front()).ok_or_else(|| {
            self.inner.env.timeout(
                rule,
                format!(
                    "the subscriber did not register an item within {:?} of receiving it",
                    self.inner.env.settings.timeout
                ),
            )
        })
    }

    /// The threads items were registered on so far.
    pub(crate) fn item_threads(&self) -> Vec<std::thread::ThreadId> {
        self.inner.log.lock().item_threads.clone()
    }

    /// Waits for a registered completion.
    pub(crate) fn expect_complete(&self, rule: Option<Rule>) -> Result<(), TestFailure> {
        self.wait(|log| (log.completes > 0).then_some(()))
            .ok_or_else(|| {
                self.inner.env.timeout(
                    rule,
                    format!(
                        "the subscriber did not register on_complete within {:?}",
                        self.inner.env.settings.timeout
                    ),
                )
            })
    }

    /// Waits for a registered error.
    pub(crate) fn expect_error(&self, rule: Option<Rule>) -> Result<Error, TestFailure> {
        self.wait(|log| log.errors.first().cloned()).ok_or_else(|| {
            self.inner.env.timeout(
                rule,
                format!(
                    "the subscriber did not register on_error within {:?}",
                    self.inner.env.settings.timeout
                ),
            )
        })
    }

    /// Watches for the no-signal time: fails if an item or terminal signal is registered.
    pub(crate) fn expect_none(&self, rule: Option<Rule>) -> Result<(), TestFailure> {
        let deadline = Instant::now() + self.inner.env.settings.no_signal;
        let mut log = self.inner.log.lock();
        loop {
            if !log.items.is_empty() || log.completes > 0 || !log.errors.is_empty() {
                return Err(TestFailure::Failed {
                    rule,
                    message: "the subscriber registered a signal the TCK never sent".into(),
                });
            }
            if self
                .inner
                .changed
                .wait_until(&mut log, deadline)
                .timed_out()
            {
                return Ok(());
            }
        }
    }
}

/// A subscriber instrumented by [`WhiteboxProbe::wrap`].
pub struct ProbedSubscriber<T, S> {
    probe: WhiteboxProbe<T>,
    inner: S,
}

impl<T, S> fmt::Debug for ProbedSubscriber<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbedSubscriber").finish_non_exhaustive()
    }
}

impl<T, S> Subscriber<T> for ProbedSubscriber<T, S>
where
    T: Clone + Send + 'static,
    S: Subscriber<T> + Send,
{
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let shared: Arc<dyn Subscription> = Arc::from(subscription);
        self.probe.register_on_subscribe(Arc::clone(&shared));
        self.inner.on_subscribe(Box::new(shared));
    }
    fn on_next(&mut self, item: T) {
        self.probe.register_on_next(item.clone());
        self.inner.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.probe.register_on_error(error.clone());
        self.inner.on_error(error);
    }
    fn on_complete(&mut self) {
        self.probe.register_on_complete();
        self.inner.on_complete();
    }
}
