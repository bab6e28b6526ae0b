//! The stage: the fake upstream publisher that the subscriber suites drive the subscriber under
//! test with (the JVM TCK's `ManualPublisher`, plus the checks the JVM cannot make).
//!
//! Every signal to the subscriber goes through one [`SerialDrain`], so signals never overlap
//! (1.3) whichever thread sends them, and a request made from inside a callback is trampolined.
//! Every call into the subscriber is wrapped in `catch_unwind` (a panic is a 2.13 failure, and
//! the subscriber is then treated as cancelled and dropped). The subscriptions the stage hands out
//! check, naming the rule: `request(0)` (3.9), calls from inside `on_complete`/`on_error` (2.3),
//! calls after the subscriber saw a terminal signal (2.4, when enabled), overlapping calls from
//! two threads (2.7), and requests on a second subscription the subscriber must cancel (2.5).
//!
//! In *synchronous* mode the stage behaves like a synchronous publisher: `request` delivers the
//! requested items (and the terminal signal) from inside the call, on the requesting thread
//! (3.10, 3.11), trampolined when the request itself comes from inside a callback.

use std::any::Any;
use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::{Error, Rule, SerialDrain, Subscriber, Subscription};

use super::env::{Env, in_puppet, panic_text};
use crate::outcome::{TestFailure, TestResult};

/// Requests remembered for `expect_request`; tests look at a handful (bounded).
const MAX_PENDING_REQUESTS: usize = 1024;

thread_local! {
    /// The terminal callback this thread is inside, if any (for rule 2.3).
    static IN_TERMINAL: Cell<Option<&'static str>> = const { Cell::new(None) };
    /// Set while this thread runs one of the subscriber's callbacks (for rule 2.2 evidence).
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// The subscriber under test, boxed, still reachable by its concrete type (for the blackbox
/// `trigger_request` hook).
pub(crate) trait TestSubscriber<T>: Subscriber<T> + Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T, S: Subscriber<T> + Send + 'static> TestSubscriber<T> for S {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The subscriber under test, boxed.
pub(crate) type BoxSubscriber<T> = Box<dyn TestSubscriber<T>>;

/// Which subscription a call came through.
pub(crate) const PRIMARY: usize = 0;
/// The second subscription of the rule 2.5 tests.
pub(crate) const SECOND: usize = 1;

enum Signal<T> {
    Subscribe(Box<dyn Subscription>),
    Next(T),
    Complete,
    Error(Error),
    /// Drop the subscriber (the publisher shut down, or the TCK stopped needing it).
    Drop,
}

/// What a synchronous stage does once its items are used up.
pub(crate) enum SyncEnd {
    /// Nothing: the stream stays open.
    Open,
    /// `on_complete` right after the last item (eagerly, without waiting for more demand).
    Complete,
    /// `on_error` right after the last item.
    Error(Error),
    /// `on_error` from inside the first `request` (a request that fails).
    ErrorOnRequest(Error),
}

/// How the stage behaves.
pub(crate) struct StageConfig<T> {
    /// `Some((items, end))`: synchronous mode, emitting `items` on demand then `end`.
    pub(crate) sync: Option<(Vec<T>, SyncEnd)>,
    /// Any `request` on the second subscription is a rule 2.5 failure (blackbox).
    pub(crate) strict_second: bool,
    /// Treat the subscriber as having seen the terminal signal once the call returns (blackbox;
    /// the whitebox probe reports it instead).
    pub(crate) terminal_seen_on_delivery: bool,
    /// The flag shared with the whitebox probe, if any.
    pub(crate) terminal_seen: Option<Arc<AtomicBool>>,
}

impl<T> Default for StageConfig<T> {
    fn default() -> Self {
        StageConfig {
            sync: None,
            strict_second: false,
            terminal_seen_on_delivery: false,
            terminal_seen: None,
        }
    }
}

#[derive(Default)]
struct Log {
    /// Requests on the primary subscription not yet taken by `expect_request`.
    pending: VecDeque<u64>,
    /// How many requests the primary subscription got, ever.
    requests_seen: u64,
    /// How many of them were made synchronously from inside a callback.
    requests_from_callbacks: u64,
    /// Outstanding demand of the primary subscription (saturating; `u64::MAX` sticks).
    demand: u64,
    cancelled: [bool; 2],
    delivered_next: u64,
    terminal_delivered: bool,
}

struct State<T> {
    subscriber: Option<BoxSubscriber<T>>,
    subscribed: bool,
    terminated: bool,
    source: VecDeque<T>,
    end: SyncEnd,
}

struct Core<T> {
    env: Arc<Env>,
    drain: SerialDrain<State<T>>,
    inbox: Mutex<VecDeque<Signal<T>>>,
    log: Mutex<Log>,
    changed: Condvar,
    sync: bool,
    strict_second: bool,
    seen_on_delivery: bool,
    /// Set once the subscriber has seen a terminal signal (by the probe, or on delivery).
    terminal_seen: Arc<AtomicBool>,
    check_after_terminal: AtomicBool,
    widen: AtomicBool,
    in_call: [AtomicUsize; 2],
}

/// The fake upstream. Dropping it drops the subscriber under test.
pub(crate) struct Stage<T: Send + 'static> {
    core: Arc<Core<T>>,
}

/// A subscription handed to the subscriber under test.
struct StageSubscription<T: Send + 'static> {
    core: Arc<Core<T>>,
    id: usize,
}

impl<T: Send + 'static> Subscription for StageSubscription<T> {
    fn request(&self, n: u64) {
        self.core.on_request(self.id, n);
    }
    fn cancel(&self) {
        self.core.on_cancel(self.id);
    }
}

/// Marks this thread as inside a subscriber callback until dropped.
struct InCallback;

impl InCallback {
    fn enter() -> Self {
        IN_CALLBACK.with(|c| c.set(true));
        InCallback
    }
}

impl Drop for InCallback {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| c.set(false));
    }
}

/// Releases the rule 2.7 guard when a call leaves.
struct CallGuard<'a>(Option<&'a AtomicUsize>);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<T: Send + 'static> Core<T> {
    fn drive(&self) {
        self.drain.drain(|st| self.pass(st));
    }

    /// Common checks of `request` and `cancel`; returns `false` when the call must be ignored.
    fn check_call(&self, id: usize, what: &str) -> bool {
        if let Some(callback) = IN_TERMINAL.with(Cell::get) {
            self.env.flop(
                Some(Rule::R2_3),
                format!("the subscriber called {what} from inside {callback}"),
            );
            return false;
        }
        if self.check_after_terminal.load(Ordering::Acquire)
            && self.terminal_seen.load(Ordering::Acquire)
        {
            self.env.flop(
                Some(Rule::R2_4),
                format!(
                    "the subscriber called {what} on subscription #{id} after it had received a \
                     terminal signal (the subscription counts as cancelled then)"
                ),
            );
        }
        true
    }

    fn guard(&self, id: usize, what: &str) -> CallGuard<'_> {
        if in_puppet() {
            return CallGuard(None);
        }
        let c = &self.in_call[id];
        if c.fetch_add(1, Ordering::AcqRel) != 0 {
            self.env.flop(
                Some(Rule::R2_7),
                format!(
                    "{what} on subscription #{id} overlapped another request/cancel call from a \
                     different thread (calls must be serial)"
                ),
            );
        }
        if self.widen.load(Ordering::Relaxed) {
            // Not synchronisation: holds the call open briefly so that unserialised calls from
            // two threads are caught overlapping.
            std::thread::sleep(Duration::from_millis(1));
        }
        CallGuard(Some(c))
    }

    fn on_request(&self, id: usize, n: u64) {
        if !self.check_call(id, &format!("request({n})")) {
            return;
        }
        {
            let _guard = self.guard(id, "request");
            if n == 0 {
                self.env.flop(
                    Some(Rule::R3_9),
                    format!("the subscriber called request(0) on subscription #{id}"),
                );
                return;
            }
            let mut log = self.log.lock();
            if id == PRIMARY {
                if log.pending.len() < MAX_PENDING_REQUESTS {
                    log.pending.push_back(n);
                }
                log.requests_seen += 1;
                if IN_CALLBACK.with(Cell::get) {
                    log.requests_from_callbacks += 1;
                }
                if log.demand != u64::MAX {
                    log.demand = log.demand.saturating_add(n);
                }
            } else if self.strict_second {
                self.env.flop(
                    Some(Rule::R2_5),
                    format!(
                        "the subscriber called request({n}) on a second subscription it must \
                         cancel (it already had an active one)"
                    ),
                );
            }
            self.changed.notify_all();
        }
        if self.sync && id == PRIMARY {
            // A synchronous publisher: deliver from inside this call (3.10, 3.11).
            self.drive();
        }
    }

    fn on_cancel(&self, id: usize) {
        if !self.check_call(id, "cancel()") {
            return;
        }
        {
            let _guard = self.guard(id, "cancel");
            self.log.lock().cancelled[id] = true;
            self.changed.notify_all();
        }
        if self.sync && id == PRIMARY {
            self.drive();
        }
    }

    fn pass(&self, st: &mut State<T>) {
        loop {
            let next = self.inbox.lock().pop_front();
            let signal = match next {
                Some(s) => s,
                None => match self.sync_step(st) {
                    Some(s) => s,
                    None => return,
                },
            };
            self.deliver(st, signal);
        }
    }

    /// Synchronous mode: the next signal the demand allows, if any.
    fn sync_step(&self, st: &mut State<T>) -> Option<Signal<T>> {
        if !self.sync || !st.subscribed || st.terminated || st.subscriber.is_none() {
            return None;
        }
        let mut log = self.log.lock();
        if log.cancelled[PRIMARY] {
            return None;
        }
        if let SyncEnd::ErrorOnRequest(e) = &st.end
            && log.requests_seen > 0
        {
            return Some(Signal::Error(e.clone()));
        }
        if log.demand > 0
            && let Some(item) = st.source.pop_front()
        {
            if log.demand != u64::MAX {
                log.demand -= 1;
            }
            return Some(Signal::Next(item));
        }
        if st.source.is_empty() {
            match &st.end {
                SyncEnd::Complete => return Some(Signal::Complete),
                SyncEnd::Error(e) => return Some(Signal::Error(e.clone())),
                _ => {}
            }
        }
        None
    }

    fn deliver(&self, st: &mut State<T>, signal: Signal<T>) {
        let Some(subscriber) = st.subscriber.as_mut() else {
            return; // shut down: the signal goes nowhere
        };
        let _in_callback = InCallback::enter();
        let (callback, result) = match signal {
            Signal::Drop => {
                let s = st.subscriber.take();
                let r = catch_unwind(AssertUnwindSafe(move || drop(s)));
                if let Err(p) = r {
                    self.env.flop(
                        Some(Rule::R2_13),
                        format!("the subscriber panicked when dropped: {}", panic_text(&*p)),
                    );
                }
                return;
            }
            Signal::Subscribe(s) => {
                st.subscribed = true;
                let r = catch_unwind(AssertUnwindSafe(|| subscriber.on_subscribe(s)));
                ("on_subscribe", r)
            }
            Signal::Next(item) => {
                {
                    let mut log = self.log.lock();
                    log.delivered_next += 1;
                    self.changed.notify_all();
                }
                let r = catch_unwind(AssertUnwindSafe(|| subscriber.on_next(item)));
                ("on_next", r)
            }
            Signal::Complete | Signal::Error(_) => {
                st.terminated = true;
                {
                    self.log.lock().terminal_delivered = true;
                    self.changed.notify_all();
                }
                let (name, r) = match signal {
                    Signal::Error(e) => {
                        IN_TERMINAL.with(|t| t.set(Some("on_error")));
                        let r = catch_unwind(AssertUnwindSafe(|| subscriber.on_error(e)));
                        ("on_error", r)
                    }
                    _ => {
                        IN_TERMINAL.with(|t| t.set(Some("on_complete")));
                        let r = catch_unwind(AssertUnwindSafe(|| subscriber.on_complete()));
                        ("on_complete", r)
                    }
                };
                IN_TERMINAL.with(|t| t.set(None));
                if self.seen_on_delivery {
                    self.terminal_seen.store(true, Ordering::Release);
                }
                (name, r)
            }
        };
        if let Err(p) = result {
            self.env.flop(
                Some(Rule::R2_13),
                format!(
                    "the subscriber's {callback} panicked: {} (callbacks must return normally)",
                    panic_text(&*p)
                ),
            );
            // 2.13: the subscription now counts as cancelled; the publisher drops the subscriber.
            self.log.lock().cancelled[PRIMARY] = true;
            let s = st.subscriber.take();
            let _ = catch_unwind(AssertUnwindSafe(move || drop(s)));
        }
    }
}

impl<T: Send + 'static> Stage<T> {
    /// A stage for `subscriber`; nothing is signalled yet.
    pub(crate) fn new(env: Arc<Env>, subscriber: BoxSubscriber<T>, config: StageConfig<T>) -> Self {
        let (sync, source, end) = match config.sync {
            Some((items, end)) => (true, items.into(), end),
            None => (false, VecDeque::new(), SyncEnd::Open),
        };
        Stage {
            core: Arc::new(Core {
                env,
                drain: SerialDrain::new(State {
                    subscriber: Some(subscriber),
                    subscribed: false,
                    terminated: false,
                    source,
                    end,
                }),
                inbox: Mutex::new(VecDeque::new()),
                log: Mutex::new(Log::default()),
                changed: Condvar::new(),
                sync,
                strict_second: config.strict_second,
                seen_on_delivery: config.terminal_seen_on_delivery,
                terminal_seen: config
                    .terminal_seen
                    .unwrap_or_else(|| Arc::new(AtomicBool::new(false))),
                check_after_terminal: AtomicBool::new(false),
                widen: AtomicBool::new(false),
                in_call: [AtomicUsize::new(0), AtomicUsize::new(0)],
            }),
        }
    }

    fn push(&self, signal: Signal<T>) {
        self.core.inbox.lock().push_back(signal);
        self.core.drive();
    }

    /// From now on, flag `request`/`cancel` made after the subscriber saw a terminal signal
    /// (rule 2.4).
    pub(crate) fn check_after_terminal(&self) {
        self.core
            .check_after_terminal
            .store(true, Ordering::Release);
    }

    /// Hold each subscriber call open briefly so that unserialised calls overlap (rule 2.7).
    pub(crate) fn widen_calls(&self) {
        self.core.widen.store(true, Ordering::Relaxed);
    }

    /// Sends `on_subscribe` with the primary subscription.
    pub(crate) fn subscribe(&self) {
        self.subscribe_id(PRIMARY);
    }

    /// Sends `on_subscribe` with a second subscription (rule 2.5).
    pub(crate) fn subscribe_second(&self) {
        self.subscribe_id(SECOND);
    }

    fn subscribe_id(&self, id: usize) {
        let s = StageSubscription {
            core: Arc::clone(&self.core),
            id,
        };
        self.push(Signal::Subscribe(Box::new(s)));
    }

    /// Sends `on_next(item)` once the subscriber has demand, waiting for it up to the timeout
    /// (failing rule 2.1 if none comes).
    pub(crate) fn send_next(&self, item: T) -> TestResult {
        let got = self.wait(|log| {
            (log.demand > 0).then(|| {
                if log.demand != u64::MAX {
                    log.demand -= 1;
                }
            })
        });
        if got.is_none() {
            return Err(self.core.env.timeout(
                Some(Rule::R2_1),
                format!(
                    "the subscriber had no outstanding demand within {:?}, so on_next could not \
                     be sent (it must request to receive items)",
                    self.core.env.settings.timeout
                ),
            ));
        }
        self.push(Signal::Next(item));
        Ok(())
    }

    /// Sends `on_next(item)` if the subscriber has demand within `wait`; `false` otherwise.
    pub(crate) fn try_send_next(&self, item: T, wait: Duration) -> bool {
        let mut take = |log: &mut Log| {
            (log.demand > 0 && !log.cancelled[PRIMARY]).then(|| {
                if log.demand != u64::MAX {
                    log.demand -= 1;
                }
            })
        };
        if self.wait_for(wait, &mut take).is_none() {
            return false;
        }
        self.push(Signal::Next(item));
        true
    }

    /// Sends `on_next(item)` regardless of demand (items in flight when the subscriber
    /// cancelled, rule 2.8).
    pub(crate) fn send_next_in_flight(&self, item: T) {
        self.push(Signal::Next(item));
    }

    /// Sends `on_complete`.
    pub(crate) fn send_complete(&self) {
        self.push(Signal::Complete);
    }

    /// Sends `on_error(e)`.
    pub(crate) fn send_error(&self, e: Error) {
        self.push(Signal::Error(e));
    }

    /// Drops the subscriber (after the signals already queued).
    pub(crate) fn drop_subscriber(&self) {
        self.push(Signal::Drop);
    }

    /// Runs `f` with the subscriber, serialised with every signal, waiting up to the timeout for
    /// a signal in progress on another thread to finish.
    pub(crate) fn with_subscriber(&self, f: impl FnOnce(&mut dyn Any)) -> TestResult {
        let deadline = Instant::now() + self.core.env.settings.timeout;
        let mut f = Some(f);
        let mut panicked = None;
        loop {
            self.core.drain.drain(|st| {
                if let Some(f) = f.take()
                    && let Some(s) = st.subscriber.as_mut()
                    && let Err(p) = catch_unwind(AssertUnwindSafe(|| f((**s).as_any_mut())))
                {
                    panicked = Some(panic_text(&*p));
                }
                self.core.pass(st);
            });
            if f.is_none() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(TestFailure::Failed {
                    rule: None,
                    message: "the subscriber stayed busy in a callback on another thread".into(),
                });
            }
            std::thread::yield_now();
        }
        match panicked {
            Some(msg) => Err(TestFailure::Failed {
                rule: None,
                message: format!("trigger_request panicked: {msg}"),
            }),
            None => Ok(()),
        }
    }

    fn wait<R>(&self, mut f: impl FnMut(&mut Log) -> Option<R>) -> Option<R> {
        self.wait_for(self.core.env.settings.timeout, &mut f)
    }

    fn wait_for<R>(&self, d: Duration, f: &mut impl FnMut(&mut Log) -> Option<R>) -> Option<R> {
        let deadline = Instant::now() + d;
        let mut log = self.core.log.lock();
        loop {
            if let Some(r) = f(&mut log) {
                return Some(r);
            }
            if self.core.changed.wait_until(&mut log, deadline).timed_out() {
                return f(&mut log);
            }
        }
    }

    /// Waits for the next request on the primary subscription and returns its `n`.
    /// No request is a rule 2.1 failure: a subscriber signals demand with `request`.
    pub(crate) fn expect_request(&self, context: &str) -> Result<u64, TestFailure> {
        self.wait(|log| log.pending.pop_front()).ok_or_else(|| {
            self.core.env.timeout(
                Some(Rule::R2_1),
                format!(
                    "expected a request within {:?} {context}, none came",
                    self.core.env.settings.timeout
                ),
            )
        })
    }

    /// Waits up to `within` for a request; `None` when none came.
    pub(crate) fn maybe_request(&self, within: Duration) -> Option<u64> {
        self.wait_for(within, &mut |log: &mut Log| log.pending.pop_front())
    }

    /// Drops requests not yet looked at.
    pub(crate) fn clear_requests(&self) {
        self.core.log.lock().pending.clear();
    }

    /// Waits for `cancel` on subscription `id`.
    pub(crate) fn expect_cancel(&self, id: usize, rule: Option<Rule>, context: &str) -> TestResult {
        self.wait(|log| log.cancelled[id].then_some(()))
            .ok_or_else(|| {
                self.core.env.timeout(
                    rule,
                    format!(
                        "expected cancel on subscription #{id} within {:?} {context}, none came",
                        self.core.env.settings.timeout
                    ),
                )
            })
    }

    /// Whether subscription `id` was cancelled.
    pub(crate) fn cancelled(&self, id: usize) -> bool {
        self.core.log.lock().cancelled[id]
    }

    /// How many requests on the primary subscription were made from inside a callback.
    pub(crate) fn requests_from_callbacks(&self) -> u64 {
        self.core.log.lock().requests_from_callbacks
    }

    /// Waits until `n` items in total were delivered.
    pub(crate) fn wait_delivered(&self, n: u64) -> bool {
        self.wait(|log| (log.delivered_next >= n).then_some(()))
            .is_some()
    }

    /// Waits until a terminal signal was delivered.
    pub(crate) fn wait_terminal_delivered(&self) -> bool {
        self.wait(|log| log.terminal_delivered.then_some(()))
            .is_some()
    }
}

impl<T: Send + 'static> Drop for Stage<T> {
    fn drop(&mut self) {
        // Breaks the stage -> subscriber -> subscription -> stage cycle. If a signal is in
        // progress elsewhere, the drainer will pick the request up.
        self.push(Signal::Drop);
    }
}
