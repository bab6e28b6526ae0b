//! The recording subscriber every publisher test subscribes, and the waits built on it.
//!
//! A [`Probe`] is the test's view; the [`ProbeSubscriber`] it hands to the publisher records each
//! signal in order, checks the protocol grammar as signals arrive (on_subscribe first and once,
//! nothing after a terminal signal, never more items than requested, never two threads inside a
//! callback at once) and notes when the publisher drops it. Violations noticed on the
//! publisher's threads are stored, never lost: [`Probe::verify`] reports them on the test thread.
//!
//! Every wait returns as soon as the awaited signal arrives; only "expect nothing" waits for the
//! whole [`Settings::no_signal`] window.
//!
//! ```
//! use rstreams_protocol::{Rule, reference::RangePublisher};
//! use rstreams_tck::outcome::Settings;
//! use rstreams_tck::probe::Probe;
//!
//! let probe = Probe::subscribe(&RangePublisher::new(0, 2), &Settings::default()).unwrap();
//! probe.request(2).unwrap();
//! assert_eq!(probe.expect_next(Rule::R1_1).unwrap(), 0);
//! assert_eq!(probe.expect_next(Rule::R1_1).unwrap(), 1);
//! probe.expect_complete(Rule::R1_5).unwrap();
//! probe.verify().unwrap();
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::outcome::{Settings, TestFailure, TestResult};

/// Most signals a probe keeps untaken; items beyond are counted but not kept. No test asks for
/// more than a few thousand items at once.
pub const MAX_QUEUED_SIGNALS: usize = 1 << 16;

/// A signal the probe received after `on_subscribe`.
#[derive(Debug)]
pub enum Signal<T> {
    /// `on_next(item)`; the item is `None` when the probe only counts items.
    Next(Option<T>),
    /// `on_error`.
    Error(Error),
    /// `on_complete`.
    Complete,
}

impl<T> Signal<T> {
    fn describe(&self) -> String {
        match self {
            Signal::Next(_) => "on_next".to_owned(),
            Signal::Error(e) => format!("on_error({e})"),
            Signal::Complete => "on_complete".to_owned(),
        }
    }
}

struct State<T> {
    subscription: Option<Arc<dyn Subscription>>,
    subscribed: u32,
    /// Signals not yet taken by an `expect_*` call.
    signals: VecDeque<Signal<T>>,
    /// `on_next` calls so far.
    received: u64,
    /// Total demand the test asked for (saturating; `u64::MAX` = unbounded).
    requested: u64,
    terminated: bool,
    violations: Vec<(Rule, String)>,
    dropped: bool,
    max_depth: u32,
}

struct Shared<T> {
    /// Set when a guarded call never returned: the publisher may hold a lock forever, so the
    /// probe must not call into it again (not even to cancel on drop).
    stuck: std::sync::atomic::AtomicBool,
    state: Mutex<State<T>>,
    changed: Condvar,
    /// Token of the thread inside a callback, 0 when none (rule 1.3 check).
    busy: AtomicU64,
}

impl<T> Shared<T> {
    fn violation(&self, rule: Rule, message: String) {
        tracing::debug!(rule = rule.number(), %message, "probe saw a protocol violation");
        let mut st = self.state.lock();
        if st.violations.len() < 16 {
            st.violations.push((rule, message));
        }
        drop(st);
        self.changed.notify_all();
    }
}

thread_local! {
    /// Callback nesting per probe on this thread, keyed by the probe's address: recursion
    /// (3.3) is counted per thread, so two threads inside callbacks at once are an overlap
    /// (1.3), never a depth of 2.
    static DEPTHS: RefCell<Vec<(usize, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Adds `delta` to this thread's nesting depth for the probe at `key`; returns the new depth.
fn nest(key: usize, delta: i32) -> u32 {
    DEPTHS.with(|d| {
        let mut d = d.borrow_mut();
        let i = match d.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                d.push((key, 0));
                d.len() - 1
            }
        };
        let depth = d[i].1.saturating_add_signed(delta);
        if depth == 0 {
            d.swap_remove(i);
        } else {
            d[i].1 = depth;
        }
        depth
    })
}

fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

/// Adds `n` to the probe's demand record, then forwards it; a panic from the subscription is a
/// rule 3.16 failure. The record is updated first so that a synchronous publisher delivering
/// from inside `request` is never flagged as delivering beyond demand.
fn request_through<T>(shared: &Shared<T>, n: u64) -> TestResult {
    let sub = {
        let mut st = shared.state.lock();
        st.requested = st.requested.saturating_add(n);
        st.subscription.clone()
    };
    let Some(sub) = sub else {
        return Err(TestFailure::rule(
            Rule::R1_9,
            "request before on_subscribe delivered a subscription",
        ));
    };
    catch_unwind(AssertUnwindSafe(|| sub.request(n))).map_err(|p| {
        TestFailure::rule(
            Rule::R3_16,
            format!("request({n}) panicked: {}", panic_text(&*p)),
        )
    })
}

fn cancel_through<T>(shared: &Shared<T>) -> TestResult {
    let sub = shared.state.lock().subscription.clone();
    let Some(sub) = sub else {
        return Err(TestFailure::rule(
            Rule::R1_9,
            "cancel before on_subscribe delivered a subscription",
        ));
    };
    catch_unwind(AssertUnwindSafe(|| sub.cancel())).map_err(|p| {
        TestFailure::rule(Rule::R3_15, format!("cancel panicked: {}", panic_text(&*p)))
    })
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic".to_owned())
}

/// What a probe hook may do from inside a callback: request and cancel, recorded like the
/// test's own calls. A panicking subscription is recorded as a violation (3.15/3.16).
pub struct Ctl<'a, T> {
    shared: &'a Shared<T>,
}

impl<T> Ctl<'_, T> {
    /// Requests `n` more items (re-entrantly, from inside the callback).
    pub fn request(&self, n: u64) {
        if let Err(TestFailure::Failed { rule, message }) = request_through(self.shared, n) {
            self.shared.violation(
                rule.unwrap_or(Rule::R3_16),
                format!("inside a callback: {message}"),
            );
        }
    }

    /// Cancels the subscription.
    pub fn cancel(&self) {
        if let Err(TestFailure::Failed { rule, message }) = cancel_through(self.shared) {
            self.shared.violation(
                rule.unwrap_or(Rule::R3_15),
                format!("inside a callback: {message}"),
            );
        }
    }
}

type SubscribeHook<T> = Box<dyn FnMut(&Ctl<'_, T>) + Send>;
type NextHook<T> = Box<dyn FnMut(&Ctl<'_, T>, u64) + Send>;

/// Configures a probe before subscribing it: hooks that run inside the callbacks, and whether
/// items are kept or only counted.
pub struct ProbeBuilder<T> {
    on_subscribe: Option<SubscribeHook<T>>,
    on_next: Option<NextHook<T>>,
    keep_items: bool,
    forget: bool,
}

impl<T: Send + 'static> Default for ProbeBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> ProbeBuilder<T> {
    /// A probe that keeps items and runs no hooks.
    pub fn new() -> Self {
        Self {
            on_subscribe: None,
            on_next: None,
            keep_items: true,
            forget: false,
        }
    }

    /// Runs `hook` inside `on_subscribe`, after the subscription is stored.
    pub fn on_subscribe(mut self, hook: impl FnMut(&Ctl<'_, T>) + Send + 'static) -> Self {
        self.on_subscribe = Some(Box::new(hook));
        self
    }

    /// Runs `hook` inside each `on_next`, after the item is recorded; the second argument is the
    /// item's 1-based index.
    pub fn on_next(mut self, hook: impl FnMut(&Ctl<'_, T>, u64) + Send + 'static) -> Self {
        self.on_next = Some(Box::new(hook));
        self
    }

    /// Counts items without keeping them (for long streams).
    pub fn count_only(mut self) -> Self {
        self.keep_items = false;
        self
    }

    /// Drops the `Subscription` at the end of `on_subscribe`, after the hook ran: the probe
    /// keeps no handle, as a subscriber does that requested all it needs up front. Dropping
    /// the handle is not a cancel (see [`Subscription`]); the probe can then neither request
    /// nor cancel, and dropping the [`Probe`] cancels nothing.
    pub fn forget_subscription(mut self) -> Self {
        self.forget = true;
        self
    }

    /// [`subscribe`](Self::subscribe) on a helper thread, failing `rule` if `subscribe` does not
    /// return within the timeout (e.g. a synchronous publisher that deadlocks when a hook
    /// requests re-entrantly from `on_subscribe`).
    pub fn subscribe_guarded<P>(
        self,
        publisher: &Arc<P>,
        settings: &Settings,
        rule: Rule,
    ) -> Result<Probe<T>, TestFailure>
    where
        P: Publisher<Item = T> + Send + Sync + 'static,
    {
        let (probe, subscriber) = self.split(settings);
        let publisher = Arc::clone(publisher);
        match guarded(settings, move || {
            catch_unwind(AssertUnwindSafe(|| publisher.subscribe(subscriber)))
                .map_err(|p| panic_text(&*p))
        }) {
            Some(Ok(())) => Ok(probe),
            Some(Err(text)) => Err(TestFailure::rule(
                Rule::R1_9,
                format!("subscribe panicked instead of returning normally: {text}"),
            )),
            None => {
                probe.shared.stuck.store(true, Ordering::Release);
                Err(TestFailure::rule(
                    rule,
                    format!("subscribe did not return within {:?}", settings.timeout),
                ))
            }
        }
    }

    /// Subscribes the probe to `publisher`. `subscribe` must return normally (rule 1.9); a panic
    /// is reported as a failure of that rule.
    pub fn subscribe<P>(self, publisher: &P, settings: &Settings) -> Result<Probe<T>, TestFailure>
    where
        P: Publisher<Item = T> + ?Sized,
    {
        let (probe, subscriber) = self.split(settings);
        catch_unwind(AssertUnwindSafe(|| publisher.subscribe(subscriber))).map_err(|p| {
            TestFailure::rule(
                Rule::R1_9,
                format!(
                    "subscribe panicked instead of returning normally: {}",
                    panic_text(&*p)
                ),
            )
        })?;
        Ok(probe)
    }

    /// The probe and its subscriber, for subscribing by other means (e.g. a processor's input).
    pub fn split(self, settings: &Settings) -> (Probe<T>, ProbeSubscriber<T>) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                subscription: None,
                subscribed: 0,
                signals: VecDeque::new(),
                received: 0,
                requested: 0,
                terminated: false,
                violations: Vec::new(),
                dropped: false,
                max_depth: 0,
            }),
            changed: Condvar::new(),
            stuck: std::sync::atomic::AtomicBool::new(false),
            busy: AtomicU64::new(0),
        });
        let subscriber = ProbeSubscriber {
            shared: Arc::clone(&shared),
            on_subscribe: self.on_subscribe,
            on_next: self.on_next,
            keep_items: self.keep_items,
            forget: self.forget,
        };
        let probe = Probe {
            shared,
            settings: *settings,
        };
        (probe, subscriber)
    }
}

/// The subscriber half of a probe: what the publisher receives.
pub struct ProbeSubscriber<T> {
    shared: Arc<Shared<T>>,
    on_subscribe: Option<SubscribeHook<T>>,
    on_next: Option<NextHook<T>>,
    keep_items: bool,
    forget: bool,
}

/// Marks a callback's entry and exit for the serial-signal (1.3) and depth (3.3) checks.
struct Enter<'a, T> {
    shared: &'a Shared<T>,
    owned: bool,
}

impl<'a, T> Enter<'a, T> {
    fn new(shared: &'a Shared<T>, what: &str) -> Self {
        let me = thread_token();
        let owned = match shared
            .busy
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(other) if other == me => false,
            Err(_) => {
                shared.violation(
                    Rule::R1_3,
                    format!("{what} ran on one thread while another signal ran on another thread"),
                );
                false
            }
        };
        let depth = nest(shared as *const Shared<T> as usize, 1);
        let mut st = shared.state.lock();
        st.max_depth = st.max_depth.max(depth);
        Self { shared, owned }
    }
}

impl<T> Drop for Enter<'_, T> {
    fn drop(&mut self) {
        nest(self.shared as *const Shared<T> as usize, -1);
        if self.owned {
            self.shared.busy.store(0, Ordering::Release);
        }
    }
}

impl<T: Send + 'static> Subscriber<T> for ProbeSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let _enter = Enter::new(&self.shared, "on_subscribe");
        let mut st = self.shared.state.lock();
        st.subscribed += 1;
        if st.subscribed > 1 {
            drop(st);
            self.shared.violation(
                Rule::R1_9,
                "on_subscribe was called a second time".to_owned(),
            );
            // 2.5: a second subscription is cancelled.
            let _ = catch_unwind(AssertUnwindSafe(|| subscription.cancel()));
            return;
        }
        if st.terminated || !st.signals.is_empty() || st.received > 0 {
            st.violations.push((
                Rule::R1_9,
                "on_subscribe arrived after another signal".to_owned(),
            ));
        }
        st.subscription = Some(Arc::from(subscription));
        drop(st);
        self.shared.changed.notify_all();
        if let Some(hook) = self.on_subscribe.as_mut() {
            hook(&Ctl {
                shared: &self.shared,
            });
        }
        if self.forget {
            let handle = self.shared.state.lock().subscription.take();
            drop(handle);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.shared.stuck.load(Ordering::Acquire) {
            // The test gave up on a call that never returned, typically a publisher emitting
            // without end after cancel; unwinding its thread is the only way left to stop it.
            panic!(
                "rstreams-tck: this subscription was abandoned by the TCK (a call never returned)"
            );
        }
        let _enter = Enter::new(&self.shared, "on_next");
        let mut st = self.shared.state.lock();
        st.received += 1;
        let index = st.received;
        let mut problems = Vec::new();
        if st.subscribed == 0 {
            problems.push((Rule::R1_9, "on_next arrived before on_subscribe".to_owned()));
        }
        if st.terminated {
            problems.push((
                Rule::R1_7,
                "on_next arrived after a terminal signal".to_owned(),
            ));
        }
        if index > st.requested {
            problems.push((
                Rule::R1_1,
                format!(
                    "on_next #{index} arrived with only {} requested in total",
                    st.requested
                ),
            ));
        }
        for p in problems {
            if st.violations.len() < 16 {
                st.violations.push(p);
            }
        }
        // Bounded: a publisher flooding the probe (e.g. ignoring cancel under unbounded demand)
        // is still counted, but its items beyond the cap are not kept.
        if st.signals.len() < MAX_QUEUED_SIGNALS {
            let kept = if self.keep_items { Some(item) } else { None };
            st.signals.push_back(Signal::Next(kept));
        }
        drop(st);
        self.shared.changed.notify_all();
        if let Some(hook) = self.on_next.as_mut() {
            hook(
                &Ctl {
                    shared: &self.shared,
                },
                index,
            );
        }
    }

    fn on_error(&mut self, error: Error) {
        let _enter = Enter::new(&self.shared, "on_error");
        self.terminal(Signal::Error(error));
    }

    fn on_complete(&mut self) {
        let _enter = Enter::new(&self.shared, "on_complete");
        self.terminal(Signal::Complete);
    }
}

impl<T> ProbeSubscriber<T> {
    fn terminal(&self, signal: Signal<T>) {
        let mut st = self.shared.state.lock();
        let what = signal.describe();
        if st.subscribed == 0 {
            st.violations
                .push((Rule::R1_9, format!("{what} arrived before on_subscribe")));
        }
        if st.terminated {
            st.violations.push((
                Rule::R1_7,
                format!("{what} arrived after a terminal signal"),
            ));
        }
        st.terminated = true;
        st.signals.push_back(signal);
        drop(st);
        self.shared.changed.notify_all();
    }
}

impl<T> Drop for ProbeSubscriber<T> {
    fn drop(&mut self) {
        self.shared.state.lock().dropped = true;
        self.shared.changed.notify_all();
    }
}

/// The test's handle on a subscribed probe. Dropping it cancels the subscription, so a test
/// that returns early never leaves a producer running.
pub struct Probe<T> {
    shared: Arc<Shared<T>>,
    settings: Settings,
}

impl<T> Drop for Probe<T> {
    fn drop(&mut self) {
        if self.shared.stuck.load(Ordering::Acquire) {
            return;
        }
        let sub = self.shared.state.lock().subscription.take();
        if let Some(sub) = sub {
            let _ = catch_unwind(AssertUnwindSafe(|| sub.cancel()));
        }
    }
}

impl<T: Send + 'static> Probe<T> {
    /// Subscribes a plain probe (no hooks, items kept) to `publisher`.
    pub fn subscribe<P>(publisher: &P, settings: &Settings) -> Result<Probe<T>, TestFailure>
    where
        P: Publisher<Item = T> + ?Sized,
    {
        ProbeBuilder::new().subscribe(publisher, settings)
    }
}

impl<T: Send + 'static> Probe<T> {
    /// [`request`](Self::request) on a helper thread, failing `rule` if it does not return within
    /// the timeout (a publisher that deadlocks when `request` re-enters from `on_next`). The
    /// stuck thread is abandoned and the probe stops calling into the publisher.
    pub fn request_guarded(&self, n: u64, rule: Rule) -> TestResult {
        self.expect_subscribed()?;
        let shared = Arc::clone(&self.shared);
        let outcome = guarded(&self.settings, move || request_through(&shared, n));
        match outcome {
            Some(result) => result,
            None => {
                self.shared.stuck.store(true, Ordering::Release);
                Err(TestFailure::rule(
                    rule,
                    format!(
                        "request({n}) did not return within {:?}",
                        self.settings.timeout
                    ),
                ))
            }
        }
    }
}

/// A handle that requests and cancels on a probe's subscription from another thread, recorded
/// like the probe's own calls. Unlike a [`Probe`], dropping it does not cancel.
pub struct ProbeHandle<T> {
    shared: Arc<Shared<T>>,
}

impl<T> ProbeHandle<T> {
    /// See [`Probe::abandon`].
    pub fn abandon(&self) {
        self.shared.stuck.store(true, Ordering::Release);
    }

    /// Requests `n` more items (see [`Probe::request`]).
    pub fn request(&self, n: u64) -> TestResult {
        request_through(&self.shared, n)
    }

    /// Cancels the subscription (see [`Probe::cancel`]).
    pub fn cancel(&self) -> TestResult {
        cancel_through(&self.shared)
    }
}

/// Runs `f` on a helper thread and waits up to the timeout for it; `None` if it did not return.
pub fn guarded<R: Send + 'static>(
    settings: &Settings,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("rstreams-tck-guard".to_owned())
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        });
    if spawned.is_err() {
        return None;
    }
    match rx.recv_timeout(settings.timeout) {
        Ok(Ok(r)) => Some(r),
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => None,
    }
}

impl<T> Probe<T> {
    /// The settings this probe waits with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops calling into the publisher (not even to cancel on drop) and makes the next
    /// `on_next` panic, for a test that gave up on a call that never returned: the publisher may
    /// hold a lock for ever, or emit without end on another thread.
    pub fn abandon(&self) {
        self.shared.stuck.store(true, Ordering::Release);
    }

    /// A handle for requesting and cancelling from another thread.
    pub fn handle(&self) -> ProbeHandle<T> {
        ProbeHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Waits up to `limit` for `ready` to hold on the state; returns whether it did.
    fn wait_until(&self, limit: Duration, mut ready: impl FnMut(&State<T>) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut st = self.shared.state.lock();
        loop {
            if ready(&st) {
                return true;
            }
            if self
                .shared
                .changed
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                return ready(&st);
            }
        }
    }

    /// Waits for `on_subscribe` (rule 1.9).
    pub fn expect_subscribed(&self) -> TestResult {
        if self.wait_until(self.settings.timeout, |st| st.subscribed > 0) {
            Ok(())
        } else {
            Err(TestFailure::rule(
                Rule::R1_9,
                format!(
                    "on_subscribe did not arrive within {:?} of subscribe",
                    self.settings.timeout
                ),
            ))
        }
    }

    /// Requests `n` items through the subscription.
    pub fn request(&self, n: u64) -> TestResult {
        self.expect_subscribed()?;
        request_through(&self.shared, n)
    }

    /// Cancels the subscription.
    pub fn cancel(&self) -> TestResult {
        self.expect_subscribed()?;
        cancel_through(&self.shared)
    }

    /// Takes the next signal, waiting up to the timeout; `None` if none arrived.
    pub fn next_signal(&self) -> Option<Signal<T>> {
        self.next_signal_within(self.settings.timeout)
    }

    /// Takes the next signal, waiting up to `limit`; `None` if none arrived.
    pub fn next_signal_within(&self, limit: Duration) -> Option<Signal<T>> {
        self.wait_until(limit, |st| !st.signals.is_empty());
        self.shared.state.lock().signals.pop_front()
    }

    /// Expects an item next; anything else (or nothing) fails `rule`.
    pub fn expect_next(&self, rule: Rule) -> Result<T, TestFailure> {
        match self.expect_next_or_end(rule)? {
            Some(Some(item)) => Ok(item),
            Some(None) => Err(TestFailure::rule(
                rule,
                "the probe counts items only; use expect_next_counted",
            )),
            None => Err(TestFailure::rule(
                rule,
                "expected an item but the stream completed",
            )),
        }
    }

    /// Expects an item (kept or counted) or completion next: `Some(item)` or `None` at the end.
    /// An error or silence fails `rule`.
    pub fn expect_next_or_end(&self, rule: Rule) -> Result<Option<Option<T>>, TestFailure> {
        match self.next_signal() {
            Some(Signal::Next(item)) => Ok(Some(item)),
            Some(Signal::Complete) => Ok(None),
            Some(Signal::Error(e)) => Err(TestFailure::rule(
                rule,
                format!("expected an item, got on_error: {e}"),
            )),
            None => Err(TestFailure::rule(
                rule,
                format!(
                    "expected an item, nothing arrived within {:?} ({} received so far)",
                    self.settings.timeout,
                    self.received()
                ),
            )),
        }
    }

    /// Expects `k` items (kept or only counted) next.
    pub fn expect_items(&self, k: u64, rule: Rule) -> Result<Vec<Option<T>>, TestFailure> {
        let mut out = Vec::new();
        for i in 0..k {
            match self.expect_next_or_end(rule)? {
                Some(item) => out.push(item),
                None => {
                    return Err(TestFailure::rule(
                        rule,
                        format!("expected {k} items, the stream completed after {i}"),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Expects `on_complete` next.
    pub fn expect_complete(&self, rule: Rule) -> TestResult {
        match self.next_signal() {
            Some(Signal::Complete) => Ok(()),
            Some(Signal::Next(_)) => Err(TestFailure::rule(
                rule,
                "expected on_complete, got another on_next",
            )),
            Some(Signal::Error(e)) => Err(TestFailure::rule(
                rule,
                format!("expected on_complete, got on_error: {e}"),
            )),
            None => Err(TestFailure::rule(
                rule,
                format!(
                    "on_complete did not arrive within {:?}",
                    self.settings.timeout
                ),
            )),
        }
    }

    /// Expects `on_error` next and returns the error.
    pub fn expect_error(&self, rule: Rule) -> Result<Error, TestFailure> {
        match self.next_signal() {
            Some(Signal::Error(e)) => Ok(e),
            Some(other) => Err(TestFailure::rule(
                rule,
                format!("expected on_error, got {}", other.describe()),
            )),
            None => Err(TestFailure::rule(
                rule,
                format!("on_error did not arrive within {:?}", self.settings.timeout),
            )),
        }
    }

    /// Watches for the no-signal window: any signal arriving fails `rule`. Returns early on
    /// failure.
    pub fn expect_none(&self, rule: Rule) -> TestResult {
        match self.next_signal_within(self.settings.no_signal) {
            None => Ok(()),
            Some(s) => Err(TestFailure::rule(
                rule,
                format!("expected no signal, got {}", s.describe()),
            )),
        }
    }

    /// Waits for the publisher to drop the subscriber (rules 1.6, 3.13).
    pub fn expect_dropped(&self, rule: Rule, after: &str) -> TestResult {
        if self.wait_until(self.settings.timeout, |st| st.dropped) {
            Ok(())
        } else {
            Err(TestFailure::rule(
                rule,
                format!(
                    "the publisher still holds the subscriber {:?} after {after}",
                    self.settings.timeout
                ),
            ))
        }
    }

    /// Whether the publisher has dropped the subscriber.
    pub fn is_dropped(&self) -> bool {
        self.shared.state.lock().dropped
    }

    /// `on_next` calls so far.
    pub fn received(&self) -> u64 {
        self.shared.state.lock().received
    }

    /// Waits until `k` items in total have arrived (or a terminal signal); returns the count.
    /// The timeout bounds each gap between items, not the whole wait: a slow publisher that
    /// keeps delivering (e.g. one paced by a timer) is waited for; one that stalls is not.
    pub fn wait_received(&self, k: u64) -> u64 {
        loop {
            let before = self.received();
            let progressed = self.wait_until(self.settings.timeout, |st| {
                st.received >= k || st.terminated || st.received != before
            });
            let st = self.shared.state.lock();
            if !progressed || st.received >= k || st.terminated {
                return st.received;
            }
        }
    }

    /// Whether a terminal signal arrived.
    pub fn is_terminated(&self) -> bool {
        self.shared.state.lock().terminated
    }

    /// Waits for a terminal signal; returns whether one arrived.
    pub fn wait_terminated(&self, limit: Duration) -> bool {
        self.wait_until(limit, |st| st.terminated)
    }

    /// Waits until no `on_next` has arrived for the no-signal window, for at most `limit`;
    /// returns the items received by then, as `Ok` when the stream went quiet and `Err` when
    /// items were still arriving at `limit` (the publisher did not stop). After an `Err` the
    /// probe stops calling into the publisher, and its next `on_next` panics to unwind the
    /// thread that is still emitting.
    pub fn wait_quiet(&self, limit: Duration) -> Result<u64, u64> {
        let deadline = Instant::now() + limit;
        loop {
            let before = self.received();
            // Drop what the test no longer reads, so a flood cannot fill the signal queue.
            self.shared
                .state
                .lock()
                .signals
                .retain(|s| !matches!(s, Signal::Next(None)));
            let window = self.settings.no_signal;
            if !self.wait_until(window, |st| st.received != before) {
                return Ok(self.received());
            }
            if Instant::now() >= deadline {
                self.shared.stuck.store(true, Ordering::Release);
                return Err(self.received());
            }
        }
    }

    /// The deepest nesting of callbacks on one thread so far (rule 3.3).
    pub fn max_depth(&self) -> u32 {
        self.shared.state.lock().max_depth
    }

    /// Drops the signals not yet taken and returns how many there were.
    pub fn discard_signals(&self) -> usize {
        let mut st = self.shared.state.lock();
        let n = st.signals.len();
        st.signals.clear();
        n
    }

    /// Fails with the first protocol violation seen on any thread, or with an `on_error` the
    /// test did not take.
    pub fn verify(&self) -> TestResult {
        let st = self.shared.state.lock();
        if let Some((rule, message)) = st.violations.first() {
            return Err(TestFailure::rule(*rule, message.clone()));
        }
        for s in &st.signals {
            if let Signal::Error(e) = s {
                return Err(TestFailure::rule(
                    e.rule().unwrap_or(Rule::R1_4),
                    format!("unexpected on_error: {e}"),
                ));
            }
        }
        Ok(())
    }

    /// [`verify`](Self::verify), then again after the no-signal window.
    pub fn verify_after_quiet(&self) -> TestResult {
        self.verify()?;
        self.wait_until(self.settings.no_signal, |st| !st.violations.is_empty());
        self.verify()
    }
}

impl<T> std::fmt::Debug for Ctl<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctl").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for ProbeBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeBuilder").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for ProbeSubscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeSubscriber").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Probe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for ProbeHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeHandle").finish_non_exhaustive()
    }
}
