//! The protocol checker: wrap any subscriber (or every subscriber of a publisher) and have each
//! protocol violation recorded with the rule it breaks, in your own tests, outside the TCK.
//!
//! [`CheckedSubscriber`] sits between a publisher and a subscriber, forwards every signal and
//! call unchanged, and records in a shared [`CheckerReport`]:
//!
//! | rule | violation | who broke it |
//! | --- | --- | --- |
//! | 1.1 | `on_next` beyond the demand requested so far | publisher |
//! | 1.3 | a signal while another signal to the same subscriber is still running | publisher |
//! | 1.7 | any signal after `on_complete`/`on_error` | publisher |
//! | 1.9 | `on_next`/`on_error`/`on_complete` before `on_subscribe` | publisher |
//! | 2.12 | a second `on_subscribe` | publisher |
//! | 3.9 | `request(0)` | subscriber |
//! | 2.3 | `request`/`cancel` called from inside `on_complete`/`on_error` | subscriber |
//!
//! In safe Rust, the `&mut self` callbacks already make overlapping signals to one subscriber
//! value impossible; the 1.3 guard catches publishers built with `unsafe` code, and clones of a
//! cloneable checked subscriber (which share one checker state) being signalled at once.
//!
//! By default violations are only recorded; [`CheckerReport::panicking`] makes the first one
//! panic at the point where it happens instead (a panic inside a callback is itself a 2.13
//! violation, so use that mode only in tests, to get a backtrace).
//!
//! ```
//! use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};
//! use rstreams_protocol::reference::RangePublisher;
//! use rstreams_tck::checker::{CheckedSubscriber, checked};
//! use rstreams_tck::subscriber::reference::SyncSubscriber;
//!
//! // Every subscriber of a checked publisher is checked.
//! let publisher = checked(RangePublisher::new(0, 100));
//! publisher.subscribe(SyncSubscriber::new(8, |_x: u64| true));
//! publisher.report().assert_clean();
//!
//! // One subscriber: a subscriber asking for zero items is caught.
//! struct AskZero;
//! impl Subscriber<u64> for AskZero {
//!     fn on_subscribe(&mut self, s: Box<dyn Subscription>) { s.request(0) }
//!     fn on_next(&mut self, _: u64) {}
//!     fn on_error(&mut self, _: Error) {}
//!     fn on_complete(&mut self) {}
//! }
//! let zero = CheckedSubscriber::new(AskZero);
//! let report = zero.report();
//! RangePublisher::new(0, 3).subscribe(zero);
//! assert_eq!(report.rules(), vec![Rule::R3_9]);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::ThreadId;

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

/// Violations kept per report; later ones are only counted (bounded memory).
const MAX_VIOLATIONS: usize = 256;

/// One protocol violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule that was broken.
    pub rule: Rule,
    /// What happened, naming the subscriber (`subscriber #k`).
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

struct ReportInner {
    violations: Mutex<(Vec<Violation>, usize)>,
    panic_on_violation: bool,
}

/// Where checked subscribers record violations; cheap to clone, shared by every clone.
#[derive(Clone)]
pub struct CheckerReport {
    inner: Arc<ReportInner>,
}

impl Default for CheckerReport {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CheckerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckerReport")
            .field("violations", &self.violations())
            .field("panic_on_violation", &self.inner.panic_on_violation)
            .finish()
    }
}

impl CheckerReport {
    /// A report that records violations.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// A report that panics at the first violation, where it happens (after recording it).
    pub fn panicking() -> Self {
        Self::build(true)
    }

    fn build(panic_on_violation: bool) -> Self {
        CheckerReport {
            inner: Arc::new(ReportInner {
                violations: Mutex::new((Vec::new(), 0)),
                panic_on_violation,
            }),
        }
    }

    /// Records a violation (and panics in [`panicking`](Self::panicking) mode).
    pub fn record(&self, rule: Rule, message: impl Into<String>) {
        let violation = Violation {
            rule,
            message: message.into(),
        };
        tracing::debug!(%violation, "protocol violation");
        {
            let mut v = self.inner.violations.lock();
            if v.0.len() < MAX_VIOLATIONS {
                v.0.push(violation.clone());
            } else {
                v.1 += 1;
            }
        }
        if self.inner.panic_on_violation {
            panic!("protocol violation: {violation}");
        }
    }

    /// The violations recorded so far, in order (at most 256 are kept).
    pub fn violations(&self) -> Vec<Violation> {
        self.inner.violations.lock().0.clone()
    }

    /// The rules of the violations, in order, without repeats.
    pub fn rules(&self) -> Vec<Rule> {
        let mut rules: Vec<Rule> = Vec::new();
        for v in self.violations() {
            if !rules.contains(&v.rule) {
                rules.push(v.rule);
            }
        }
        rules
    }

    /// Whether nothing was recorded.
    pub fn is_clean(&self) -> bool {
        self.inner.violations.lock().0.is_empty()
    }

    /// Panics, listing every violation, unless nothing was recorded.
    #[track_caller]
    pub fn assert_clean(&self) {
        let (list, more) = {
            let v = self.inner.violations.lock();
            (v.0.clone(), v.1)
        };
        if !list.is_empty() {
            let lines: Vec<String> = list.iter().map(|v| format!("  {v}")).collect();
            panic!(
                "{} protocol violation(s){}:\n{}",
                list.len() + more,
                if more > 0 { " (first 256 shown)" } else { "" },
                lines.join("\n")
            );
        }
    }
}

/// What the checker knows about one subscriber.
struct State {
    subscribed: bool,
    terminated: Option<&'static str>,
    /// Requested and not yet delivered (`u64::MAX` = unbounded, sticky).
    demand: u64,
    requested: u64,
    delivered: u64,
    /// The thread running `on_complete`/`on_error` right now, for rule 2.3.
    terminal_thread: Option<ThreadId>,
}

struct Shared {
    id: u64,
    report: CheckerReport,
    state: Mutex<State>,
    /// A signal is running (rule 1.3).
    busy: AtomicBool,
}

impl Shared {
    fn violation(&self, rule: Rule, what: fmt::Arguments<'_>) {
        self.report
            .record(rule, format!("subscriber #{}: {what}", self.id));
    }
}

/// Clears the busy flag when a signal leaves, if this signal set it.
struct Busy<'a>(Option<&'a AtomicBool>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.0 {
            b.store(false, Ordering::Release);
        }
    }
}

/// A subscriber wrapped by the checker; see the [module docs](self).
pub struct CheckedSubscriber<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for CheckedSubscriber<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedSubscriber")
            .field("id", &self.shared.id)
            .finish_non_exhaustive()
    }
}

/// Clones share the checker state: they are one subscriber as far as the protocol goes.
impl<S: Clone> Clone for CheckedSubscriber<S> {
    fn clone(&self) -> Self {
        CheckedSubscriber {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S> CheckedSubscriber<S> {
    /// Wraps `inner` with a report of its own (see [`report`](Self::report)).
    pub fn new(inner: S) -> Self {
        Self::with_report(inner, CheckerReport::new())
    }

    /// Wraps `inner`, recording into `report` (shared with other checked subscribers).
    pub fn with_report(inner: S, report: CheckerReport) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        CheckedSubscriber {
            inner,
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                report,
                state: Mutex::new(State {
                    subscribed: false,
                    terminated: None,
                    demand: 0,
                    requested: 0,
                    delivered: 0,
                    terminal_thread: None,
                }),
                busy: AtomicBool::new(false),
            }),
        }
    }

    /// The report this subscriber records into.
    pub fn report(&self) -> CheckerReport {
        self.shared.report.clone()
    }

    /// The wrapped subscriber.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl Shared {
    fn enter(&self, signal: &str) -> Busy<'_> {
        let busy = &self.busy;
        if busy.swap(true, Ordering::AcqRel) {
            self.violation(
                Rule::R1_3,
                format_args!("{signal} arrived while another signal was still running"),
            );
            Busy(None)
        } else {
            Busy(Some(busy))
        }
    }

    /// Checks common to every signal but `on_subscribe`.
    fn check_signal(&self, st: &State, signal: &str) {
        if !st.subscribed {
            self.violation(
                Rule::R1_9,
                format_args!("{signal} arrived before on_subscribe"),
            );
        }
        if let Some(end) = st.terminated {
            self.violation(Rule::R1_7, format_args!("{signal} arrived after {end}"));
        }
    }
}

impl<S> CheckedSubscriber<S> {
    fn terminal(&mut self, signal: &'static str, call: impl FnOnce(&mut S)) {
        let _busy = self.shared.enter(signal);
        {
            let mut st = self.shared.state.lock();
            self.shared.check_signal(&st, signal);
            if st.terminated.is_none() {
                st.terminated = Some(signal);
            }
            st.terminal_thread = Some(std::thread::current().id());
        }
        call(&mut self.inner);
        self.shared.state.lock().terminal_thread = None;
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for CheckedSubscriber<S> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let _busy = self.shared.enter("on_subscribe");
        let primary = {
            let mut st = self.shared.state.lock();
            if st.subscribed {
                self.shared.violation(
                    Rule::R2_12,
                    format_args!("on_subscribe was called a second time"),
                );
                false
            } else {
                st.subscribed = true;
                true
            }
        };
        self.inner.on_subscribe(Box::new(CheckedSubscription {
            inner: subscription,
            shared: Arc::clone(&self.shared),
            primary,
        }));
    }

    fn on_next(&mut self, item: T) {
        let _busy = self.shared.enter("on_next");
        {
            let mut st = self.shared.state.lock();
            self.shared.check_signal(&st, "on_next");
            st.delivered += 1;
            if st.demand == 0 {
                let (delivered, requested) = (st.delivered, st.requested);
                self.shared.violation(
                    Rule::R1_1,
                    format_args!(
                        "on_next #{delivered} arrived with no outstanding demand ({requested} \
                         requested in total)"
                    ),
                );
            } else if st.demand != u64::MAX {
                st.demand -= 1;
            }
        }
        self.inner.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        self.terminal("on_error", |s| s.on_error(error));
    }

    fn on_complete(&mut self) {
        self.terminal("on_complete", |s| s.on_complete());
    }
}

/// The subscription a checked subscriber receives: counts demand and checks the subscriber's
/// calls, then forwards them.
struct CheckedSubscription {
    inner: Box<dyn Subscription>,
    shared: Arc<Shared>,
    /// `false` for a second subscription (its requests do not add to the checked demand).
    primary: bool,
}

impl CheckedSubscription {
    fn check_terminal(&self, st: &State, call: &str) {
        if st.terminal_thread == Some(std::thread::current().id()) {
            let end = st.terminated.unwrap_or("a terminal signal");
            self.shared.violation(
                Rule::R2_3,
                format_args!("{call} was called from inside {end}"),
            );
        }
    }
}

impl Subscription for CheckedSubscription {
    fn request(&self, n: u64) {
        {
            let mut st = self.shared.state.lock();
            self.check_terminal(&st, &format!("request({n})"));
            if n == 0 {
                drop(st);
                self.shared
                    .violation(Rule::R3_9, format_args!("the subscriber called request(0)"));
            } else if self.primary {
                st.requested = st.requested.saturating_add(n);
                if st.demand != u64::MAX {
                    st.demand = st.demand.saturating_add(n);
                }
            }
        }
        self.inner.request(n);
    }

    fn cancel(&self) {
        {
            let st = self.shared.state.lock();
            self.check_terminal(&st, "cancel()");
        }
        self.inner.cancel();
    }
}

/// A publisher whose every subscriber is wrapped in a [`CheckedSubscriber`] recording into one
/// report. Made by [`checked`].
#[derive(Clone)]
pub struct CheckedPublisher<P> {
    inner: P,
    report: CheckerReport,
}

impl<P> fmt::Debug for CheckedPublisher<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckedPublisher")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Checks every subscription of `publisher` (see the [module docs](self)).
pub fn checked<P: Publisher>(publisher: P) -> CheckedPublisher<P> {
    checked_with_report(publisher, CheckerReport::new())
}

/// As [`checked`], recording into `report`.
pub fn checked_with_report<P: Publisher>(
    publisher: P,
    report: CheckerReport,
) -> CheckedPublisher<P> {
    CheckedPublisher {
        inner: publisher,
        report,
    }
}

impl<P> CheckedPublisher<P> {
    /// The report every subscriber of this publisher records into.
    pub fn report(&self) -> CheckerReport {
        self.report.clone()
    }

    /// The wrapped publisher.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: Publisher> Publisher for CheckedPublisher<P> {
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + Send + 'static,
    {
        self.inner.subscribe(CheckedSubscriber::with_report(
            subscriber,
            self.report.clone(),
        ));
    }
}
