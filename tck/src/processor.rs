//! `IdentityProcessorVerification`: the JVM TCK's 68 processor tests (the 38 publisher tests and
//! the 27 whitebox subscriber tests, delegated, plus its 3 own), and the Rust-only tests of both
//! delegated suites.
//!
//! The delegated tests are generated from the publisher and whitebox suites' own lists, so they
//! cannot drift from them:
//! * as a **publisher**, `pub(n)` is a fresh processor subscribed to
//!   [`create_helper_publisher(n)`](IdentityProcessorVerification::create_helper_publisher);
//! * as a **subscriber**, the processor's input is the subscriber under test, and a TCK
//!   subscriber attached to its output registers what comes out with the whitebox probe; the
//!   puppet's `trigger_request(n)` is a downstream `request(n)`, so the tests check that
//!   downstream demand and cancellation reach upstream through the processor.
//!
//! ```
//! use rstreams_protocol::{BoxPublisher, Publisher};
//! use rstreams_tck::helpers::{IdentityProcessor, ProcessorInput, SyncHelperPublisher};
//! use rstreams_tck::processor::IdentityProcessorVerification;
//!
//! struct Verify;
//! impl IdentityProcessorVerification for Verify {
//!     type Item = u64;
//!     type Input = ProcessorInput<u64>;
//!     type Output = IdentityProcessor<u64>;
//!     fn create_identity_processor(&self, buffer: usize) -> (Self::Input, Self::Output) {
//!         let p = IdentityProcessor::new(buffer);
//!         (p.input(), p)
//!     }
//!     fn create_element(&self, i: u64) -> u64 { i }
//!     fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
//!         SyncHelperPublisher::new(elements, |i| i).boxed()
//!     }
//!     fn max_supported_subscribers(&self) -> u64 { 1 }
//! }
//!
//! let report = rstreams_tck::processor::run("IdentityProcessor", &Verify, &Default::default());
//! assert!(report.failed().is_empty(), "{:?}", report.failed());
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;
use rstreams_protocol::{BoxPublisher, Error, Publisher, Rule, Subscriber, Subscription};

use crate::outcome::{Settings, SuiteReport, TestCase, TestFailure, TestResult};
use crate::probe::Probe;
use crate::publisher::PublisherVerification;
use crate::subscriber::{SubscriberWhiteboxVerification, WhiteboxProbe};

/// The name reports use for this suite.
pub const SUITE: &str = "IdentityProcessorVerification";

/// The buffer size the JVM TCK asks processors for.
pub const TEST_BUFFER_SIZE: usize = 16;

/// What a processor under test must provide.
///
/// A Rust processor is usually a cheap handle (`Clone`) implementing both [`Subscriber`] and
/// [`Publisher`]; return two clones. Processors split into an input and an output half return
/// the two halves.
pub trait IdentityProcessorVerification {
    /// The item type.
    type Item: Send + PartialEq + fmt::Debug + 'static;
    /// The processor's subscriber side.
    type Input: Subscriber<Self::Item> + Send + 'static;
    /// The processor's publisher side.
    type Output: Publisher<Item = Self::Item> + Send + Sync + 'static;

    /// A fresh pass-through processor able to buffer `buffer_size` items.
    fn create_identity_processor(&self, buffer_size: usize) -> (Self::Input, Self::Output);

    /// The `i`-th test item; equal `i` must give equal items, distinct `i` distinct items.
    fn create_element(&self, i: u64) -> Self::Item;

    /// A publisher of exactly `elements` items (endless for `u64::MAX`) feeding the processor in
    /// the publisher tests. [`SyncHelperPublisher`](crate::helpers::SyncHelperPublisher) and
    /// [`AsyncHelperPublisher`](crate::helpers::AsyncHelperPublisher) are ready-made.
    fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<Self::Item>;

    /// A publisher that signals `on_subscribe` then `on_error` (e.g. a processor that was sent
    /// `on_error`), or `None` to skip the failed-publisher tests.
    fn create_failed_publisher(&self) -> Option<BoxPublisher<Self::Item>> {
        None
    }

    /// As [`PublisherVerification::max_elements_from_publisher`].
    fn max_elements_from_publisher(&self) -> u64 {
        u64::MAX - 1
    }

    /// As [`PublisherVerification::bounded_depth_of_on_next_and_request_recursion`].
    fn bounded_depth_of_on_next_and_request_recursion(&self) -> u64 {
        1
    }

    /// As [`PublisherVerification::skip_stochastic_tests`].
    fn skip_stochastic_tests(&self) -> bool {
        false
    }

    /// How many downstream subscribers the processor serves at once; the tests needing two are
    /// skipped below 2.
    fn max_supported_subscribers(&self) -> u64 {
        u64::MAX
    }

    /// Whether the processor emits an item only when every subscriber has asked for it.
    fn does_coordinated_emission(&self) -> bool {
        false
    }

    /// As the whitebox suite's `cancels_when_dropped` (rule 2.6): whether dropping the input
    /// side while subscribed cancels upstream.
    fn cancels_when_dropped(&self) -> bool {
        true
    }
}

/// Runs the whole suite over `verification`.
pub fn run<V: IdentityProcessorVerification>(
    implementation: impl Into<String>,
    verification: &V,
    settings: &Settings,
) -> SuiteReport {
    SuiteReport::run(implementation, SUITE, verification, &cases::<V>(), settings)
}

// ---------------------------------------------------------------------------------------------
// The processor seen as a publisher.

/// The processor as a [`PublisherVerification`]: `create_publisher(n)` is a fresh processor fed
/// by the helper publisher of `n` items.
pub struct AsPublisher<'a, V>(pub &'a V);

impl<V: IdentityProcessorVerification> PublisherVerification for AsPublisher<'_, V> {
    type Item = V::Item;
    type Pub = V::Output;

    fn create_publisher(&self, elements: u64) -> V::Output {
        let (input, output) = self.0.create_identity_processor(TEST_BUFFER_SIZE);
        self.0.create_helper_publisher(elements).subscribe(input);
        output
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<V::Item>> {
        self.0.create_failed_publisher()
    }
    fn max_elements_from_publisher(&self) -> u64 {
        self.0.max_elements_from_publisher()
    }
    fn bounded_depth_of_on_next_and_request_recursion(&self) -> u64 {
        self.0.bounded_depth_of_on_next_and_request_recursion()
    }
    fn skip_stochastic_tests(&self) -> bool {
        self.0.skip_stochastic_tests()
    }
    fn max_supported_subscribers(&self) -> u64 {
        self.0.max_supported_subscribers()
    }
    /// A processor passes on what arrives while a subscriber is attached; subscribers that join
    /// at different times see different items, so the multicast tests do not apply.
    fn same_elements_for_every_subscriber(&self) -> bool {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// The processor seen as a whitebox subscriber.

/// The processor's input as a [`SubscriberWhiteboxVerification`]: what comes out of its output
/// is registered with the probe, and the downstream subscription is the puppet.
pub struct AsWhitebox<'a, V>(pub &'a V);

impl<V: IdentityProcessorVerification> SubscriberWhiteboxVerification for AsWhitebox<'_, V> {
    type Item = V::Item;

    fn create_subscriber(
        &self,
        probe: WhiteboxProbe<V::Item>,
    ) -> Box<dyn Subscriber<V::Item> + Send> {
        let (input, output) = self.0.create_identity_processor(TEST_BUFFER_SIZE);
        output.subscribe(Downstream { probe });
        Box::new(input)
    }
    fn create_element(&self, i: u64) -> V::Item {
        self.0.create_element(i)
    }
    fn cancels_when_dropped(&self) -> bool {
        self.0.cancels_when_dropped()
    }
}

/// Attached to the processor's output: registers what comes out, hands over the downstream
/// subscription as the puppet.
struct Downstream<T> {
    probe: WhiteboxProbe<T>,
}

impl<T: Send + 'static> Subscriber<T> for Downstream<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let puppet: Arc<dyn Subscription> = Arc::from(subscription);
        self.probe.register_on_subscribe(puppet);
    }
    fn on_next(&mut self, item: T) {
        self.probe.register_on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.probe.register_on_error(error);
    }
    fn on_complete(&mut self) {
        self.probe.register_on_complete();
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// Calls `$callback!($($args)* [the processor's own tests])`: the ONE list of the tests this
/// suite adds to the delegated publisher and whitebox ones (JVM names), in the format of the
/// other suites' lists. [`cases`] and
/// [`identity_processor_verification_tests!`](crate::identity_processor_verification_tests)
/// are generated from it and from those lists.
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_processor_list {
    ($cb0:tt $(:: $cb:tt)*, $($args:tt)*) => {
        $cb0 $(:: $cb)* ! {$($args)* [
            required_spec104_must_call_on_error_on_all_its_subscribers_if_it_encounters_a_non_recoverable_error (Some(Rule::R1_4)),
            must_immediately_pass_on_on_error_events_received_from_its_upstream_to_its_downstream (Some(Rule::R4_2)),
            required_must_request_from_upstream_for_elements_that_have_been_requested_long_ago (Some(Rule::R2_1)),
        ]}
    };
}

/// Builds the delegated cases from another suite's name list: each body is a closure that runs
/// that suite's test of the same name on the processor seen through `$adapter`.
macro_rules! delegated_cases {
    ($suite:path, $adapter:ident, [$($name:ident ($($meta:tt)*)),* $(,)?]) => {
        vec![$(delegated_case!($suite, $adapter, $name, $($meta)*)),*]
    };
}

macro_rules! delegated_case {
    ($suite:path, $adapter:ident, $name:ident, $rule:expr) => {
        TestCase {
            name: stringify!($name),
            rule: $rule,
            settled_by_types: None,
            run: |v: &V, s: &Settings| {
                use $suite as suite;
                suite::$name(&$adapter(v), s)
            },
        }
    };
    ($suite:path, $adapter:ident, $name:ident, $rule:expr, settled: $why:expr) => {
        TestCase {
            name: stringify!($name),
            rule: $rule,
            settled_by_types: Some($why),
            run: |_, _| Ok(()),
        }
    };
}

/// How many of [`cases`] are ports of JVM tests: 38 publisher + 27 whitebox + 3 own.
pub const JVM_TESTS: usize = 68;

/// Every test: the publisher suite's (JVM then Rust-only), the whitebox suite's (JVM then
/// Rust-only), then the processor's own three.
pub fn cases<V: IdentityProcessorVerification>() -> Vec<TestCase<V>> {
    let mut out: Vec<TestCase<V>> =
        crate::__rstreams_tck_publisher_list!(delegated_cases, crate::publisher, AsPublisher,);
    out.extend(crate::__rstreams_tck_whitebox_list!(
        delegated_cases,
        crate::subscriber::whitebox,
        AsWhitebox,
    ));
    out.extend(crate::__rstreams_tck_processor_list!(crate::cases_vec, V,));
    out
}

// ---------------------------------------------------------------------------------------------
// A test-controlled upstream for the processor's own tests.

/// Requests the processor made upstream, kept bounded: a processor that issues more than this
/// many separate requests in one test is reported, not buffered without limit.
const MAX_RECORDED_REQUESTS: usize = 1024;

struct UpSubscription {
    requests: Sender<u64>,
    overflow: Arc<AtomicBool>,
    cancelled: Arc<AtomicBool>,
}

impl Subscription for UpSubscription {
    fn request(&self, n: u64) {
        if let Err(TrySendError::Full(_)) = self.requests.try_send(n) {
            self.overflow.store(true, Ordering::Release);
        }
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }
}

/// Drives the processor's input from the test thread and records what it asks for.
struct Upstream<T, S> {
    _items: std::marker::PhantomData<fn(T)>,
    input: Mutex<S>,
    requests: Receiver<u64>,
    overflow: Arc<AtomicBool>,
    /// Total requested and total sent, to know when a send needs a request first.
    requested: AtomicU64,
    sent: AtomicU64,
    settings: Settings,
}

impl<T, S: Subscriber<T>> Upstream<T, S> {
    fn attach(mut input: S, settings: &Settings) -> Self {
        let (tx, rx) = bounded(MAX_RECORDED_REQUESTS);
        let overflow = Arc::new(AtomicBool::new(false));
        input.on_subscribe(Box::new(UpSubscription {
            requests: tx,
            overflow: Arc::clone(&overflow),
            cancelled: Arc::new(AtomicBool::new(false)),
        }));
        Upstream {
            _items: std::marker::PhantomData,
            input: Mutex::new(input),
            requests: rx,
            overflow,
            requested: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            settings: *settings,
        }
    }

    /// Takes every request already made, then waits (up to the timeout) until the processor
    /// has asked for more than was sent.
    fn expect_demand(&self, why: &str) -> TestResult {
        loop {
            while let Ok(n) = self.requests.try_recv() {
                self.add(n);
            }
            if self.requested.load(Ordering::Acquire) > self.sent.load(Ordering::Acquire) {
                return Ok(());
            }
            match self.requests.recv_timeout(self.settings.timeout) {
                Ok(n) => self.add(n),
                Err(_) => {
                    return Err(TestFailure::rule(
                        Rule::R2_1,
                        format!(
                            "the processor did not request from upstream within {:?} ({why})",
                            self.settings.timeout
                        ),
                    ));
                }
            }
        }
    }

    fn add(&self, n: u64) {
        let cur = self.requested.load(Ordering::Acquire);
        self.requested
            .store(cur.saturating_add(n), Ordering::Release);
    }

    fn send_next(&self, item: T, why: &str) -> TestResult {
        self.expect_demand(why)?;
        self.sent.fetch_add(1, Ordering::AcqRel);
        self.call(|s| s.on_next(item), "on_next")
    }

    fn send_error(&self, error: Error) -> TestResult {
        self.call(|s| s.on_error(error), "on_error")
    }

    fn send_complete(&self) -> TestResult {
        self.call(|s| s.on_complete(), "on_complete")
    }

    fn call(&self, f: impl FnOnce(&mut S), what: &str) -> TestResult {
        let mut input = self.input.lock();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut input))).map_err(|p| {
            TestFailure::rule(
                Rule::R2_13,
                format!(
                    "the processor's {what} panicked: {}",
                    crate::probe::panic_text(&*p)
                ),
            )
        })?;
        if self.overflow.load(Ordering::Acquire) {
            return Err(TestFailure::rule(
                Rule::R2_1,
                format!("the processor made more than {MAX_RECORDED_REQUESTS} separate requests"),
            ));
        }
        Ok(())
    }
}

fn two_subscribers<V: IdentityProcessorVerification>(v: &V) -> TestResult {
    let max = v.max_supported_subscribers();
    if max < 2 {
        return Err(TestFailure::skip(format!(
            "needs 2 subscribers at once; max_supported_subscribers is {max}"
        )));
    }
    Ok(())
}

fn same_error(rule: Rule, got: &Error, sent: &Error) -> TestResult {
    if got.to_string() != sent.to_string() {
        return Err(TestFailure::rule(
            rule,
            format!("downstream received a different error: {got} (sent {sent})"),
        ));
    }
    Ok(())
}

fn unique_error(test: &str) -> Error {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    Error::msg(format!(
        "rstreams-tck test error #{} from {test}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn expect_item<T: PartialEq + fmt::Debug + Send + 'static>(
    probe: &Probe<T>,
    want: &T,
    rule: Rule,
) -> TestResult {
    let got = probe.expect_next(rule)?;
    if got != *want {
        return Err(TestFailure::rule(
            rule,
            format!("expected {want:?} downstream, got {got:?}"),
        ));
    }
    Ok(())
}

fn required_spec104_must_call_on_error_on_all_its_subscribers_if_it_encounters_a_non_recoverable_error<
    V: IdentityProcessorVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    two_subscribers(v)?;
    let rule = Rule::R1_4;
    let (input, output) = v.create_identity_processor(TEST_BUFFER_SIZE);
    let upstream = Upstream::attach(input, s);
    let a = Probe::subscribe(&output, s)?;
    let b = Probe::subscribe(&output, s)?;
    a.expect_subscribed()?;
    b.expect_subscribed()?;
    let x = v.create_element(0);
    if v.does_coordinated_emission() {
        a.request(1)?;
        b.request(1)?;
        upstream.send_next(v.create_element(0), "both subscribers requested 1")?;
        expect_item(&a, &x, rule)?;
        expect_item(&b, &x, rule)?;
        a.request(1)?;
        b.request(1)?;
    } else {
        a.request(1)?;
        upstream.send_next(v.create_element(0), "a subscriber requested 1")?;
        expect_item(&a, &x, rule)?;
        a.request(1)?;
    }
    let e = unique_error("spec104");
    upstream.send_error(e.clone())?;
    same_error(rule, &a.expect_error(rule)?, &e)?;
    same_error(rule, &b.expect_error(rule)?, &e)?;
    a.verify()?;
    b.verify()
}

fn must_immediately_pass_on_on_error_events_received_from_its_upstream_to_its_downstream<
    V: IdentityProcessorVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let rule = Rule::R4_2;
    let (input, output) = v.create_identity_processor(TEST_BUFFER_SIZE);
    let upstream = Upstream::attach(input, s);
    let probe = Probe::subscribe(&output, s)?;
    probe.expect_subscribed()?;
    // No request downstream: the error must not wait for demand.
    let e = unique_error("spec402");
    upstream.send_error(e.clone())?;
    same_error(rule, &probe.expect_error(rule)?, &e)?;
    probe.verify()
}

fn required_must_request_from_upstream_for_elements_that_have_been_requested_long_ago<
    V: IdentityProcessorVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    two_subscribers(v)?;
    let rule = Rule::R2_1;
    let (input, output) = v.create_identity_processor(TEST_BUFFER_SIZE);
    let upstream = Upstream::attach(input, s);
    let a = Probe::subscribe(&output, s)?;
    a.request(20)?;
    let (x, y, z) = (
        v.create_element(0),
        v.create_element(1),
        v.create_element(2),
    );
    upstream.send_next(v.create_element(0), "20 were requested downstream")?;
    expect_item(&a, &x, rule)?;
    upstream.send_next(v.create_element(1), "19 are still requested downstream")?;
    expect_item(&a, &y, rule)?;
    let b = Probe::subscribe(&output, s)?;
    b.expect_subscribed()?;
    if v.does_coordinated_emission() {
        b.expect_none(rule)?;
        b.request(1)?;
        upstream.send_next(v.create_element(2), "both subscribers have demand")?;
        expect_item(&a, &z, rule)?;
        expect_item(&b, &z, rule)?;
    } else {
        upstream.send_next(v.create_element(2), "18 are still requested downstream")?;
        expect_item(&a, &z, rule)?;
        b.expect_none(rule)?;
        b.request(1)?;
        expect_item(&b, &z, rule)?;
    }
    upstream.send_complete()?;
    a.expect_complete(rule)?;
    b.expect_complete(rule)?;
    a.verify()?;
    b.verify()
}

impl<V> std::fmt::Debug for AsPublisher<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsPublisher").finish_non_exhaustive()
    }
}

impl<V> std::fmt::Debug for AsWhitebox<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsWhitebox").finish_non_exhaustive()
    }
}
