//! `PublisherVerification`: the 38 tests of the JVM TCK's class of that name, under their JVM
//! names in snake_case, plus Rust-only tests (names starting with `rust_`).
//!
//! Implement [`PublisherVerification`] for a small factory type, then either expand
//! [`publisher_verification_tests!`](crate::publisher_verification_tests) (one `#[test]` per
//! TCK test) or call [`run`] for a [`SuiteReport`].
//!
//! Differences from the JVM TCK, all deliberate:
//! * the seven `untested_` placeholders run real checks (drop flags instead of a garbage
//!   collector, `catch_unwind`, a blocked subscriber for the "returns quickly" rules), except
//!   1.10, which ownership settles;
//! * optional tests fail when they fail; what a publisher supports is declared up front
//!   ([`max_supported_subscribers`](PublisherVerification::max_supported_subscribers),
//!   [`same_elements_for_every_subscriber`](PublisherVerification::same_elements_for_every_subscriber))
//!   and the tests that do not apply are skipped with the reason;
//! * the null-subscriber and negative-request tests pass as "settled by types".

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams_protocol::{BoxPublisher, Publisher, Rule};

use crate::outcome::{Settings, SuiteReport, TestCase, TestFailure, TestResult};
use crate::probe::{Probe, ProbeBuilder, Signal, guarded};

/// The name reports use for this suite.
pub const SUITE: &str = "PublisherVerification";

/// What a publisher under test must provide. Only [`create_publisher`] is required.
///
/// [`create_publisher`]: PublisherVerification::create_publisher
///
/// ```
/// use rstreams_protocol::reference::RangePublisher;
/// use rstreams_tck::publisher::PublisherVerification;
///
/// struct Range;
/// impl PublisherVerification for Range {
///     type Item = u64;
///     type Pub = RangePublisher;
///     fn create_publisher(&self, elements: u64) -> RangePublisher {
///         // u64::MAX elements would overflow start + count; a range that long never ends anyway.
///         RangePublisher::new(0, elements.min(u64::MAX - 1))
///     }
/// }
///
/// let report = rstreams_tck::publisher::run("RangePublisher", &Range, &Default::default());
/// assert!(report.failed().is_empty(), "{:?}", report.failed());
/// ```
pub trait PublisherVerification {
    /// The item type; compared between subscribers in the multi-subscriber tests.
    type Item: Send + PartialEq + fmt::Debug + 'static;
    /// The publisher type under test.
    type Pub: Publisher<Item = Self::Item> + Send + Sync + 'static;

    /// A publisher of exactly `elements` items followed by `on_complete`; `u64::MAX` means an
    /// endless stream. Never called with more than
    /// [`max_elements_from_publisher`](Self::max_elements_from_publisher), except `u64::MAX`.
    fn create_publisher(&self, elements: u64) -> Self::Pub;

    /// A publisher that signals `on_subscribe` then `on_error`, or `None` (the failed-publisher
    /// tests are then skipped).
    fn create_failed_publisher(&self) -> Option<BoxPublisher<Self::Item>> {
        None
    }

    /// The longest stream the publisher can produce; tests needing more are skipped.
    /// `u64::MAX` says the publisher never completes (tests needing `on_complete` are skipped).
    fn max_elements_from_publisher(&self) -> u64 {
        u64::MAX - 1
    }

    /// How deeply `request` and `on_next` may recurse on one thread (rule 3.3); at least 1.
    fn bounded_depth_of_on_next_and_request_recursion(&self) -> u64 {
        1
    }

    /// Skips the stochastic rule 1.3 test.
    fn skip_stochastic_tests(&self) -> bool {
        false
    }

    /// How many subscribers one publisher serves at once (rule 1.11); the multi-subscriber
    /// tests need 2 or 3 and are skipped below that.
    fn max_supported_subscribers(&self) -> u64 {
        u64::MAX
    }

    /// Whether every subscriber sees the same items in the same order (a cold or replaying
    /// publisher). `false` skips the three `multicast` tests of rule 1.11.
    fn same_elements_for_every_subscriber(&self) -> bool {
        true
    }
}

/// Runs the whole suite over `verification`.
pub fn run<V: PublisherVerification>(
    implementation: impl Into<String>,
    verification: &V,
    settings: &Settings,
) -> SuiteReport {
    SuiteReport::run(implementation, SUITE, verification, &cases::<V>(), settings)
}

/// Calls `$callback!($($args)* [every test of the suite])`: the ONE list of the publisher
/// suite's tests, in the JVM TCK's order, then the Rust-only ones. Each entry is
/// `test_name (rule)` or `test_name (rule, settled: why)`; [`cases`] and
/// [`publisher_verification_tests!`](crate::publisher_verification_tests) (and the processor
/// suite, which delegates to these tests) are all generated from it, so none can drift.
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_publisher_list {
    ($cb0:tt $(:: $cb:tt)*, $($args:tt)*) => {
        $cb0 $(:: $cb)* ! {$($args)* [
            required_create_publisher_1_must_produce_a_stream_of_exactly_1_element (None),
            required_create_publisher_3_must_produce_a_stream_of_exactly_3_elements (None),
            required_validate_max_elements_from_publisher (None, settled: "max_elements_from_publisher returns u64, which cannot be negative"),
            required_validate_bounded_depth_of_on_next_and_request_recursion (None),
            required_spec101_subscription_request_must_result_in_the_correct_number_of_produced_elements (Some(Rule::R1_1)),
            required_spec102_may_signal_less_than_requested_and_terminate_subscription (Some(Rule::R1_2)),
            stochastic_spec103_must_signal_on_methods_sequentially (Some(Rule::R1_3)),
            optional_spec104_must_signal_on_error_when_fails (Some(Rule::R1_4)),
            required_spec105_must_signal_on_complete_when_finite_stream_terminates (Some(Rule::R1_5)),
            optional_spec105_empty_stream_must_terminate_by_signalling_on_complete (Some(Rule::R1_5)),
            untested_spec106_must_consider_subscription_cancelled_after_on_error_or_on_complete_has_been_called (Some(Rule::R1_6)),
            required_spec107_must_not_emit_further_signals_once_on_complete_has_been_signalled (Some(Rule::R1_7)),
            untested_spec107_must_not_emit_further_signals_once_on_error_has_been_signalled (Some(Rule::R1_7)),
            untested_spec108_possibly_canceled_subscription_should_not_receive_on_error_or_on_complete_signals (Some(Rule::R1_8)),
            untested_spec109_subscribe_should_not_throw_non_fatal_throwable (Some(Rule::R1_9)),
            required_spec109_subscribe_throw_npe_on_null_subscriber (Some(Rule::R1_9), settled: "subscribe takes the subscriber by value: there is no null subscriber in Rust"),
            required_spec109_must_issue_on_subscribe_for_non_null_subscriber (Some(Rule::R1_9)),
            required_spec109_may_reject_calls_to_subscribe_if_publisher_is_unable_or_unwilling_to_serve_them_rejection_must_trigger_on_error_after_on_subscribe (Some(Rule::R1_9)),
            untested_spec110_reject_a_subscription_request_if_the_same_subscriber_subscribes_twice (Some(Rule::R1_10), settled: "subscribe moves the subscriber in, so the same subscriber cannot be subscribed twice"),
            optional_spec111_may_support_multi_subscribe (Some(Rule::R1_11)),
            optional_spec111_registered_subscribers_must_receive_on_next_or_on_complete_signals (Some(Rule::R1_11)),
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_one_by_one (Some(Rule::R1_11)),
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront (Some(Rule::R1_11)),
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront_and_complete_as_expected (Some(Rule::R1_11)),
            required_spec302_must_allow_synchronous_request_calls_from_on_next_and_on_subscribe (Some(Rule::R3_2)),
            required_spec303_must_not_allow_unbounded_recursion (Some(Rule::R3_3)),
            untested_spec304_request_should_not_perform_heavy_computations (Some(Rule::R3_4)),
            untested_spec305_cancel_must_not_synchronously_perform_heavy_computation (Some(Rule::R3_5)),
            required_spec306_after_subscription_is_cancelled_request_must_be_nops (Some(Rule::R3_6)),
            required_spec307_after_subscription_is_cancelled_additional_cancelations_must_be_nops (Some(Rule::R3_7)),
            required_spec309_request_zero_must_signal_illegal_argument_exception (Some(Rule::R3_9)),
            required_spec309_request_negative_number_must_signal_illegal_argument_exception (Some(Rule::R3_9), settled: "request takes u64: a negative demand does not compile"),
            optional_spec309_request_negative_number_may_signal_illegal_argument_exception_with_specific_message (Some(Rule::R3_9)),
            required_spec312_cancel_must_make_the_publisher_to_eventually_stop_signaling (Some(Rule::R3_12)),
            required_spec313_cancel_must_make_the_publisher_eventually_drop_all_references_to_the_subscriber (Some(Rule::R3_13)),
            required_spec317_must_support_a_pending_element_count_up_to_long_max_value (Some(Rule::R3_17)),
            required_spec317_must_support_a_cumulative_pending_element_count_up_to_long_max_value (Some(Rule::R3_17)),
            required_spec317_must_not_signal_on_error_when_pending_above_long_max_value (Some(Rule::R3_17)),
            // Rust-only.
            rust_spec101_large_requests_are_counted_exactly (Some(Rule::R1_1)),
            rust_spec101_requests_of_hundreds_of_thousands_are_counted_exactly (Some(Rule::R1_1)),
            rust_spec101_seeded_random_batches_are_counted_exactly (Some(Rule::R1_1)),
            rust_optional_spec108_no_terminal_signal_after_cancel (Some(Rule::R1_8)),
            rust_spec312_cancel_inside_on_next_stops_unbounded_emission (Some(Rule::R3_12)),
            rust_spec312_cancel_from_another_thread_stops_unbounded_emission (Some(Rule::R3_12)),
            rust_spec302_reentrant_requests_deliver_exact_totals (Some(Rule::R3_2)),
            rust_spec308_concurrent_requests_from_other_threads_add_up_exactly (Some(Rule::R3_8)),
            rust_spec313_cancel_before_any_request_drops_the_subscriber (Some(Rule::R3_13)),
            rust_spec313_cancel_inside_on_next_drops_the_subscriber (Some(Rule::R3_13)),
            rust_spec317_demand_saturates_instead_of_wrapping (Some(Rule::R3_17)),
            rust_spec213_subscriber_panic_counts_as_cancellation (Some(Rule::R2_13)),
            rust_spec105_must_signal_on_complete_after_the_subscriber_dropped_its_subscription (Some(Rule::R1_5)),
        ]}
    };
}

/// Every test of the suite, in the JVM TCK's order, then the Rust-only ones.
pub fn cases<V: PublisherVerification>() -> Vec<TestCase<V>> {
    crate::__rstreams_tck_publisher_list!(crate::cases_vec, V,)
}

/// How many of [`cases`] are ports of JVM tests (the rest are Rust-only).
pub const JVM_TESTS: usize = 38;

// ---------------------------------------------------------------------------------------------
// Shared steps.

/// The publisher for an "active" test of `n` elements, or the skip the JVM TCK would take.
fn active<V: PublisherVerification>(
    v: &V,
    n: u64,
    needs_complete: bool,
) -> Result<Arc<V::Pub>, TestFailure> {
    let max = v.max_elements_from_publisher();
    if n != u64::MAX && n > max {
        return Err(TestFailure::skip(format!(
            "needs a stream of {n} elements; max_elements_from_publisher is {max}"
        )));
    }
    if needs_complete && max == u64::MAX {
        return Err(TestFailure::skip(
            "needs on_complete; max_elements_from_publisher is u64::MAX (never completes)",
        ));
    }
    Ok(Arc::new(v.create_publisher(n)))
}

fn failed_publisher<V: PublisherVerification>(v: &V) -> Result<BoxPublisher<V::Item>, TestFailure> {
    v.create_failed_publisher()
        .ok_or_else(|| TestFailure::skip("create_failed_publisher returned None"))
}

fn subscribe<P: Publisher + ?Sized>(p: &P, s: &Settings) -> Result<Probe<P::Item>, TestFailure>
where
    P::Item: Send + 'static,
{
    Probe::subscribe(p, s)
}

fn subscribers<V: PublisherVerification>(v: &V, k: u64) -> TestResult {
    let max = v.max_supported_subscribers();
    if max < k {
        return Err(TestFailure::skip(format!(
            "needs {k} subscribers at once; max_supported_subscribers is {max}"
        )));
    }
    Ok(())
}

/// A failure with no rule: the publisher does not do what the test setup needs.
fn setup(r: TestResult) -> TestResult {
    r.map_err(|f| match f {
        TestFailure::Failed { message, .. } => TestFailure::Failed {
            rule: None,
            message,
        },
        skip => skip,
    })
}

fn fail(rule: Rule, message: impl Into<String>) -> TestResult {
    Err(TestFailure::rule(rule, message))
}

/// Takes up to `limit` signals, stopping at the first no-signal window; returns (items,
/// terminal signals) seen. Queued signals are taken at once; only the final window waits.
fn drain_until_quiet<T: Send + 'static>(probe: &Probe<T>, limit: u32) -> (u64, u32) {
    let (mut items, mut terminals) = (0, 0);
    for _ in 0..limit {
        match probe.next_signal_within(probe.settings().no_signal) {
            Some(Signal::Next(_)) => items += 1,
            Some(_) => terminals += 1,
            None => break,
        }
    }
    (items, terminals)
}

// ---------------------------------------------------------------------------------------------
// The 38 JVM tests.

pub(crate) fn required_create_publisher_1_must_produce_a_stream_of_exactly_1_element<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 1, true)?;
    setup((|| {
        let probe = subscribe(&*p, s)?;
        probe.request(1)?;
        probe.expect_next(Rule::R1_1)?;
        probe.request(1)?;
        probe.expect_complete(Rule::R1_5)?;
        probe.verify_after_quiet()
    })())
}

pub(crate) fn required_create_publisher_3_must_produce_a_stream_of_exactly_3_elements<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, true)?;
    setup((|| {
        let probe = subscribe(&*p, s)?;
        for _ in 0..3 {
            probe.request(1)?;
            probe.expect_next(Rule::R1_1)?;
        }
        probe.request(1)?;
        probe.expect_complete(Rule::R1_5)?;
        probe.verify_after_quiet()
    })())
}

pub(crate) fn required_validate_bounded_depth_of_on_next_and_request_recursion<
    V: PublisherVerification,
>(
    v: &V,
    _: &Settings,
) -> TestResult {
    if v.bounded_depth_of_on_next_and_request_recursion() < 1 {
        return Err(TestFailure::Failed {
            rule: None,
            message: "bounded_depth_of_on_next_and_request_recursion must be at least 1".into(),
        });
    }
    Ok(())
}

pub(crate) fn required_spec101_subscription_request_must_result_in_the_correct_number_of_produced_elements<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 5, false)?;
    let probe = subscribe(&*p, s)?;
    probe.expect_none(Rule::R1_1)?; // nothing before a request
    probe.request(1)?;
    probe.expect_next(Rule::R1_1)?;
    probe.expect_none(Rule::R1_1)?;
    probe.request(1)?;
    probe.request(2)?;
    probe.expect_items(3, Rule::R1_1)?;
    probe.expect_none(Rule::R1_1)?;
    probe.cancel()?;
    probe.verify()
}

pub(crate) fn required_spec102_may_signal_less_than_requested_and_terminate_subscription<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, true)?;
    let probe = subscribe(&*p, s)?;
    probe.request(10)?;
    probe.expect_items(3, Rule::R1_2)?;
    probe.expect_complete(Rule::R1_2)?;
    probe.verify_after_quiet()
}

pub(crate) fn stochastic_spec103_must_signal_on_methods_sequentially<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    if v.skip_stochastic_tests() {
        return Err(TestFailure::skip("skip_stochastic_tests is true"));
    }
    active(v, 10, true)?;
    for iteration in 0..100 {
        let p = Arc::new(v.create_publisher(10));
        // One more request than there are items, each from inside the previous callback.
        let probe = ProbeBuilder::new()
            .count_only()
            .on_subscribe(|c| c.request(1))
            .on_next(|c, i| {
                if i <= 10 {
                    c.request(1)
                }
            })
            .subscribe_guarded(&p, s, Rule::R1_3)?;
        probe.expect_subscribed()?;
        if !probe.wait_terminated(s.timeout * 10) {
            return fail(
                Rule::R1_3,
                format!(
                    "iteration {iteration}: no terminal signal after {} items",
                    probe.received()
                ),
            );
        }
        let items = probe.expect_items(10, Rule::R1_3);
        items?;
        probe.expect_complete(Rule::R1_3)?;
        probe.verify()?;
    }
    Ok(())
}

pub(crate) fn optional_spec104_must_signal_on_error_when_fails<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = failed_publisher(v)?;
    let probe = subscribe(&p, s)?;
    probe.expect_subscribed()?;
    probe.expect_error(Rule::R1_4)?;
    probe.verify_after_quiet()
}

pub(crate) fn required_spec105_must_signal_on_complete_when_finite_stream_terminates<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, true)?;
    let probe = subscribe(&*p, s)?;
    for _ in 0..3 {
        probe.request(1)?;
        probe.expect_next(Rule::R1_5)?;
    }
    probe.request(1)?;
    probe.expect_complete(Rule::R1_5)?;
    probe.expect_none(Rule::R1_7)?;
    probe.verify()
}

pub(crate) fn optional_spec105_empty_stream_must_terminate_by_signalling_on_complete<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 0, true)?;
    let probe = subscribe(&*p, s)?;
    probe.request(1)?;
    probe.expect_complete(Rule::R1_5)?;
    probe.expect_none(Rule::R1_7)?;
    probe.verify()
}

pub(crate) fn untested_spec106_must_consider_subscription_cancelled_after_on_error_or_on_complete_has_been_called<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Completion: the publisher drops the subscriber, and later calls on the old subscription
    // neither panic nor produce signals.
    let p = active(v, 1, true)?;
    let probe = subscribe(&*p, s)?;
    // One more than there is: completion may need demand to be detected (lazy end).
    probe.request(2)?;
    probe.expect_next(Rule::R1_6)?;
    probe.expect_complete(Rule::R1_6)?;
    probe.expect_dropped(Rule::R1_6, "on_complete")?;
    probe.request(1)?;
    probe.cancel()?;
    probe.expect_none(Rule::R1_6)?;
    probe.verify()?;
    // The error case, when the publisher can fail.
    if let Some(failed) = v.create_failed_publisher() {
        let probe = subscribe(&failed, s)?;
        probe.expect_error(Rule::R1_6)?;
        probe.expect_dropped(Rule::R1_6, "on_error")?;
        probe.request(1)?;
        probe.cancel()?;
        probe.expect_none(Rule::R1_6)?;
        probe.verify()?;
    }
    Ok(())
}

pub(crate) fn required_spec107_must_not_emit_further_signals_once_on_complete_has_been_signalled<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 1, true)?;
    let probe = subscribe(&*p, s)?;
    probe.request(10)?;
    probe.expect_next(Rule::R1_7)?;
    probe.expect_complete(Rule::R1_7)?;
    probe.request(10)?;
    probe.expect_none(Rule::R1_7)?;
    probe.verify()
}

pub(crate) fn untested_spec107_must_not_emit_further_signals_once_on_error_has_been_signalled<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = failed_publisher(v)?;
    let probe = subscribe(&p, s)?;
    probe.expect_error(Rule::R1_4)?;
    probe.request(10)?;
    probe.cancel()?;
    probe.expect_none(Rule::R1_7)?;
    probe.verify()
}

pub(crate) fn untested_spec108_possibly_canceled_subscription_should_not_receive_on_error_or_on_complete_signals<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Rule 1.8 says signals must *eventually* stop, and 2.8 that a subscriber must be ready for
    // signals after cancel: a publisher whose cancel waits behind in-flight work may finish the
    // demand it had accepted and even complete. What this test requires is that the signals
    // stop; that no terminal signal follows a cancel is the SHOULD of this test's name, checked
    // by `rust_optional_spec108_no_terminal_signal_after_cancel`.
    let p = active(v, 10, false)?;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(10))
        .on_next(|c, i| {
            if i == 1 {
                c.cancel()
            }
        })
        .subscribe_guarded(&p, s, Rule::R1_8)?;
    probe.expect_subscribed()?;
    probe.wait_received(1);
    if let Err(got) = probe.wait_quiet(s.timeout) {
        return fail(
            Rule::R1_8,
            format!(
                "signals did not stop: {got} items had arrived after cancel inside on_next #1 \
                 and more were still arriving after {:?}",
                s.timeout
            ),
        );
    }
    probe.verify()?;
    // Cancel inside on_subscribe of an empty stream: the stream must stay quiet afterwards.
    let empty = active(v, 0, false)?;
    let probe = ProbeBuilder::new()
        .on_subscribe(|c| c.cancel())
        .subscribe_guarded(&empty, s, Rule::R1_8)?;
    probe.expect_subscribed()?;
    if let Err(got) = probe.wait_quiet(s.timeout) {
        return fail(
            Rule::R1_8,
            format!("{got} items arrived from an empty stream cancelled in on_subscribe"),
        );
    }
    probe.verify()
}

pub(crate) fn rust_optional_spec108_no_terminal_signal_after_cancel<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // The SHOULD of rule 1.8's JVM test name: after cancel (inside on_next, demand
    // outstanding) no terminal signal. Optional: a legal publisher may already have decided to
    // complete when the cancel arrives.
    let p = active(v, 10, false)?;
    let probe = ProbeBuilder::new()
        .on_subscribe(|c| c.request(10))
        .on_next(|c, i| {
            if i == 1 {
                c.cancel()
            }
        })
        .subscribe_guarded(&p, s, Rule::R1_8)?;
    probe.expect_subscribed()?;
    probe.wait_received(1);
    let (_, terminals) = drain_until_quiet(&probe, 64);
    probe.verify()?;
    if terminals > 0 {
        return fail(
            Rule::R1_8,
            "a terminal signal arrived after cancel (called inside on_next #1 with 10 requested)",
        );
    }
    let empty = active(v, 0, false)?;
    let probe = ProbeBuilder::new()
        .on_subscribe(|c| c.cancel())
        .subscribe_guarded(&empty, s, Rule::R1_8)?;
    probe.expect_subscribed()?;
    probe.expect_none(Rule::R1_8)?;
    probe.verify()
}

pub(crate) fn untested_spec109_subscribe_should_not_throw_non_fatal_throwable<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Every subscribe in this suite runs under catch_unwind; here it is the point of the test.
    for n in [0, 1] {
        if let Ok(p) = active(v, n, false) {
            let probe = subscribe(&*p, s)?;
            probe.expect_subscribed()?;
            probe.cancel()?;
        }
    }
    if let Some(failed) = v.create_failed_publisher() {
        let probe = subscribe(&failed, s)?;
        probe.expect_subscribed()?;
    }
    Ok(())
}

pub(crate) fn required_spec109_must_issue_on_subscribe_for_non_null_subscriber<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 0, false)?;
    let probe = subscribe(&*p, s)?;
    probe.expect_subscribed()?;
    probe.verify()?;
    probe.cancel()
}

pub(crate) fn required_spec109_may_reject_calls_to_subscribe_if_publisher_is_unable_or_unwilling_to_serve_them_rejection_must_trigger_on_error_after_on_subscribe<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = failed_publisher(v)?;
    let probe = subscribe(&p, s)?;
    probe.expect_subscribed()?;
    probe.expect_error(Rule::R1_9)?;
    probe.verify()
}

pub(crate) fn optional_spec111_may_support_multi_subscribe<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    subscribers(v, 2)?;
    let p = active(v, 1, false)?;
    let a = subscribe(&*p, s)?;
    let b = subscribe(&*p, s)?;
    a.expect_subscribed()?;
    b.expect_subscribed()?;
    a.verify_after_quiet()?;
    b.verify()?;
    a.cancel()?;
    b.cancel()
}

pub(crate) fn optional_spec111_registered_subscribers_must_receive_on_next_or_on_complete_signals<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    subscribers(v, 2)?;
    let p = active(v, 1, false)?;
    let a = subscribe(&*p, s)?;
    let b = subscribe(&*p, s)?;
    a.request(1)?;
    b.request(1)?;
    a.expect_next_or_end(Rule::R1_11)?;
    b.expect_next_or_end(Rule::R1_11)?;
    a.verify_after_quiet()?;
    b.verify()?;
    a.cancel()?;
    b.cancel()
}

fn same_elements<V: PublisherVerification>(v: &V, k: u64) -> TestResult {
    subscribers(v, k)?;
    if !v.same_elements_for_every_subscriber() {
        return Err(TestFailure::skip(
            "same_elements_for_every_subscriber is false",
        ));
    }
    Ok(())
}

fn compare_sequences<T: PartialEq + fmt::Debug>(seqs: &[Vec<T>]) -> TestResult {
    for (i, seq) in seqs.iter().enumerate().skip(1) {
        if *seq != seqs[0] {
            return fail(
                Rule::R1_11,
                format!(
                    "subscriber 1 received {:?} but subscriber {} received {:?}",
                    seqs[0],
                    i + 1,
                    seq
                ),
            );
        }
    }
    Ok(())
}

pub(crate) fn optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_one_by_one<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    same_elements(v, 3)?;
    let p = active(v, 5, true)?;
    let subs = [subscribe(&*p, s)?, subscribe(&*p, s)?, subscribe(&*p, s)?];
    let mut seqs: [Vec<V::Item>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    // Interleaved requests, in the JVM test's order: (subscriber, how many).
    for (who, n) in [(0, 1), (1, 2), (0, 1), (2, 3), (2, 1), (2, 1)] {
        subs[who].request(n)?;
        for _ in 0..n {
            seqs[who].push(subs[who].expect_next(Rule::R1_11)?);
        }
    }
    subs[2].request(1)?;
    subs[2].expect_complete(Rule::R1_11)?;
    subs[1].request(3)?;
    for _ in 0..3 {
        seqs[1].push(subs[1].expect_next(Rule::R1_11)?);
    }
    subs[1].request(1)?;
    subs[1].expect_complete(Rule::R1_11)?;
    subs[0].request(2)?;
    for _ in 0..2 {
        seqs[0].push(subs[0].expect_next(Rule::R1_11)?);
    }
    subs[0].request(1)?;
    seqs[0].push(subs[0].expect_next(Rule::R1_11)?);
    subs[0].request(1)?;
    subs[0].expect_complete(Rule::R1_11)?;
    compare_sequences(&seqs)?;
    for sub in &subs {
        sub.verify()?;
    }
    Ok(())
}

fn many_upfront<V: PublisherVerification>(v: &V, s: &Settings, complete: bool) -> TestResult {
    same_elements(v, 3)?;
    let p = active(v, 3, complete)?;
    let subs = [subscribe(&*p, s)?, subscribe(&*p, s)?, subscribe(&*p, s)?];
    let mut seqs: Vec<Vec<V::Item>> = Vec::new();
    for sub in &subs {
        sub.request(4)?;
    }
    for sub in &subs {
        let mut seq = Vec::new();
        for _ in 0..3 {
            seq.push(sub.expect_next(Rule::R1_11)?);
        }
        seqs.push(seq);
    }
    compare_sequences(&seqs)?;
    if complete {
        for sub in &subs {
            sub.expect_complete(Rule::R1_11)?;
        }
    }
    for sub in &subs {
        sub.verify()?;
    }
    Ok(())
}

pub(crate) fn optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    many_upfront(v, s, false)
}

pub(crate) fn optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront_and_complete_as_expected<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    many_upfront(v, s, true)
}

pub(crate) fn required_spec302_must_allow_synchronous_request_calls_from_on_next_and_on_subscribe<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 6, false)?;
    let probe = ProbeBuilder::new()
        .on_subscribe(|c| {
            c.request(1);
            c.request(1);
            c.request(1);
        })
        .on_next(|c, _| c.request(1))
        .subscribe_guarded(&p, s, Rule::R3_2)?;
    probe.expect_subscribed()?;
    probe.verify_after_quiet()
}

pub(crate) fn required_spec303_must_not_allow_unbounded_recursion<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let bound = v.bounded_depth_of_on_next_and_request_recursion().max(1);
    let p = active(v, bound.saturating_add(1), false)?;
    let stop_after = bound.saturating_add(1);
    let probe = ProbeBuilder::new()
        .count_only()
        .on_next(move |c, i| {
            if i < stop_after {
                c.request(1)
            }
        })
        .subscribe_guarded(&p, s, Rule::R3_3)?;
    probe.expect_subscribed()?;
    probe.request_guarded(1, Rule::R3_3)?;
    probe.wait_received(stop_after);
    let depth = u64::from(probe.max_depth());
    if depth > bound {
        return fail(
            Rule::R3_3,
            format!(
                "on_next and request recursed {depth} deep on one thread; the bound is {bound}"
            ),
        );
    }
    probe.cancel()?;
    probe.verify()
}

/// Blocks the subscriber inside its first `on_next` (on whatever thread delivers it) and calls
/// `act` on the subscription from another thread: it must return while the subscriber is busy.
fn while_subscriber_busy<V: PublisherVerification>(
    v: &V,
    s: &Settings,
    rule: Rule,
    what: &'static str,
    act: fn(&Probe<V::Item>) -> TestResult,
) -> TestResult {
    let p = active(v, 3, false)?;
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let limit = s.timeout * 2;
    let probe = Arc::new(
        ProbeBuilder::new()
            .on_next(move |_, i| {
                if i == 1 {
                    // Bounded, so a test that fails cannot leave this thread parked for ever.
                    let _ = release_rx.recv_timeout(limit);
                }
            })
            .subscribe(&*p, s)?,
    );
    probe.expect_subscribed()?;
    // The first request may deliver synchronously and block in on_next: issue it elsewhere.
    let first = Arc::clone(&probe);
    let _ = std::thread::Builder::new()
        .name("rstreams-tck-first-request".into())
        .spawn(move || first.request(1));
    if probe.wait_received(1) < 1 {
        let _ = release_tx.send(());
        return fail(Rule::R1_1, "the first requested item did not arrive");
    }
    let other = Arc::clone(&probe);
    let returned = guarded(s, move || act(&other));
    let _ = release_tx.send(());
    match returned {
        Some(r) => r?,
        None => {
            return fail(
                rule,
                format!(
                    "{what} did not return within {:?} while the subscriber was busy in on_next",
                    s.timeout
                ),
            );
        }
    }
    probe.verify()
}

pub(crate) fn untested_spec304_request_should_not_perform_heavy_computations<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    while_subscriber_busy(v, s, Rule::R3_4, "request(1)", |p| p.request(1))
}

pub(crate) fn untested_spec305_cancel_must_not_synchronously_perform_heavy_computation<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    while_subscriber_busy(v, s, Rule::R3_5, "cancel", |p| p.cancel())
}

pub(crate) fn required_spec306_after_subscription_is_cancelled_request_must_be_nops<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, false)?;
    let probe = subscribe(&*p, s)?;
    probe.cancel()?;
    for _ in 0..3 {
        probe.request(1).map_err(|f| match f {
            TestFailure::Failed { message, .. } => TestFailure::rule(Rule::R3_6, message),
            other => other,
        })?;
    }
    probe.expect_none(Rule::R3_6)?;
    probe.verify()
}

pub(crate) fn required_spec307_after_subscription_is_cancelled_additional_cancelations_must_be_nops<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 1, false)?;
    let probe = subscribe(&*p, s)?;
    for _ in 0..3 {
        probe.cancel().map_err(|f| match f {
            TestFailure::Failed { message, .. } => TestFailure::rule(Rule::R3_7, message),
            other => other,
        })?;
    }
    probe.expect_none(Rule::R3_7)?;
    probe.verify()
}

pub(crate) fn required_spec309_request_zero_must_signal_illegal_argument_exception<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 10, false)?;
    let probe = subscribe(&*p, s)?;
    probe.request(0)?;
    probe.expect_error(Rule::R3_9)?;
    Ok(())
}

pub(crate) fn optional_spec309_request_negative_number_may_signal_illegal_argument_exception_with_specific_message<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Unsigned demand: the illegal request is 0, and the error's kind names the rule (no
    // message matching).
    let p = active(v, 10, false)?;
    let probe = subscribe(&*p, s)?;
    probe.request(0)?;
    let e = probe.expect_error(Rule::R3_9)?;
    if e.rule() != Some(Rule::R3_9) {
        return fail(
            Rule::R3_9,
            format!(
                "the error for request(0) does not name rule 3.9 (Error::rule is {:?}): {e}",
                e.rule()
            ),
        );
    }
    Ok(())
}

pub(crate) fn required_spec312_cancel_must_make_the_publisher_to_eventually_stop_signaling<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 20, false)?;
    let probe = subscribe(&*p, s)?;
    probe.request(10)?;
    probe.request(5)?;
    probe.expect_next(Rule::R3_12)?;
    probe.cancel()?;
    let (items, _) = drain_until_quiet(&probe, 64);
    let total = items + 1;
    if total > 15 {
        return fail(
            Rule::R3_12,
            format!("{total} items arrived for a demand of 15 (cancelled after the first)"),
        );
    }
    probe.verify()
}

pub(crate) fn required_spec313_cancel_must_make_the_publisher_eventually_drop_all_references_to_the_subscriber<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, false)?;
    let probe = subscribe(&*p, s)?;
    probe.request(1)?;
    probe.expect_next(Rule::R3_13)?;
    probe.cancel()?;
    probe.expect_dropped(Rule::R3_13, "cancel")
}

pub(crate) fn required_spec317_must_support_a_pending_element_count_up_to_long_max_value<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, true)?;
    let probe = subscribe(&*p, s)?;
    probe.request(u64::MAX)?;
    probe.expect_items(3, Rule::R3_17)?;
    probe.expect_complete(Rule::R3_17)?;
    probe.verify()
}

pub(crate) fn required_spec317_must_support_a_cumulative_pending_element_count_up_to_long_max_value<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, true)?;
    let probe = subscribe(&*p, s)?;
    probe.request(u64::MAX / 2)?;
    probe.request(u64::MAX / 2)?;
    probe.request(1)?;
    probe.expect_items(3, Rule::R3_17)?;
    probe.expect_complete(Rule::R3_17)?;
    probe.verify()?;
    probe.cancel()
}

pub(crate) fn required_spec317_must_not_signal_on_error_when_pending_above_long_max_value<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, (1 << 31) - 1, false)?;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_next(|c, i| {
            if i < 10 {
                c.request(u64::MAX - 1)
            } else if i == 10 {
                c.cancel()
            }
        })
        .subscribe_guarded(&p, s, Rule::R3_17)?;
    probe.expect_subscribed()?;
    probe.request_guarded(1, Rule::R3_17)?;
    probe.wait_received(10);
    probe.verify_after_quiet()?;
    probe.cancel()
}

// ---------------------------------------------------------------------------------------------
// Rust-only tests.

/// Request sizes the exact-count sweep makes, in order: small ones, then every power of two
/// from 2^2 to 2^16 with its neighbours (batch boundaries are usually powers of two), then one
/// far above any plausible batch. Their sum is [`SWEEP_TOTAL`].
const SWEEP: &[u64] = &[
    1, 2, 3, 5, 7, 11, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255,
    256, 257, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192,
    8193, 16383, 16384, 16385, 32767, 32768, 32769, 65535, 65536, 65537,
];

/// One request of hundreds of thousands, then requests added while those items flow.
const LARGE: u64 = 300_007;

/// Waits for `total` items, then checks the count again after the no-signal window; `what`
/// describes the requests for the message.
fn expect_exactly<T: Send + 'static>(probe: &Probe<T>, total: u64, what: &str) -> TestResult {
    let got = probe.wait_received(total);
    if got < total {
        probe.verify()?;
        return fail(
            Rule::R1_1,
            format!(
                "{what}: {total} requested in total, {got} received within {:?}",
                probe.settings().timeout
            ),
        );
    }
    probe.verify_after_quiet()?;
    let got = probe.received();
    if got != total {
        return fail(
            Rule::R1_1,
            format!("{what}: {total} requested in total, {got} received"),
        );
    }
    probe.discard_signals();
    Ok(())
}

pub(crate) fn rust_spec101_large_requests_are_counted_exactly<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Each request waits for its items (the probe flags any item beyond the demand recorded so
    // far); the exact total is checked after a quiet window at the end.
    let sum: u64 = SWEEP.iter().sum();
    let p = active(v, sum + 1, false)?;
    let probe = ProbeBuilder::new().count_only().subscribe(&*p, s)?;
    let mut total = 0;
    for &n in SWEEP {
        probe.request(n)?;
        total += n;
        let got = probe.wait_received(total);
        probe.verify()?;
        if got < total {
            return fail(
                Rule::R1_1,
                format!("after request({n}): {total} requested in total, {got} received"),
            );
        }
        probe.discard_signals();
    }
    expect_exactly(
        &probe,
        total,
        "requests of 1 to 65 537 items, one at a time",
    )?;
    probe.cancel()
}

pub(crate) fn rust_spec101_requests_of_hundreds_of_thousands_are_counted_exactly<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // One request far above any batch size, then more requests (large, small and of one item)
    // made from the test thread while those items are still flowing.
    let adds: [u64; 4] = [70_001, 1, 2, 4097];
    let total: u64 = LARGE + adds.iter().sum::<u64>();
    let p = active(v, total + 1, false)?;
    let probe = ProbeBuilder::new().count_only().subscribe(&*p, s)?;
    probe.expect_subscribed()?;
    // A synchronous publisher emits inside request: issue the first one elsewhere so the test
    // thread can add demand while items flow.
    let first = guarded_request(&probe, LARGE, s, Rule::R1_1);
    for (k, &n) in adds.iter().enumerate() {
        probe.wait_received(LARGE / 8 * (k as u64 + 1));
        probe.request(n)?;
    }
    expect_exactly(
        &probe,
        total,
        "request(300 007), then 70 001, 1, 2 and 4 097 more while items flowed",
    )?;
    first()?;
    probe.cancel()
}

/// Starts `probe.request(n)` on a helper thread; the returned closure waits (bounded) for it.
fn guarded_request<T: Send + 'static>(
    probe: &Probe<T>,
    n: u64,
    s: &Settings,
    rule: Rule,
) -> impl FnOnce() -> TestResult + use<T> {
    let handle = probe.handle();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _ = std::thread::Builder::new()
        .name("rstreams-tck-request".into())
        .spawn(move || {
            let _ = tx.send(handle.request(n));
        });
    let limit = s.timeout * 10;
    let stuck = probe.handle();
    move || match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => {
            stuck.abandon();
            fail(
                rule,
                format!("request({n}) did not return within {limit:?}"),
            )
        }
    }
}

/// A xorshift64 generator: reproducible from the seed, with no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(crate) fn rust_spec101_seeded_random_batches_are_counted_exactly<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // A random schedule of large and small requests from the test thread, and runs of
    // re-entrant request(1) calls from inside on_next while a large request is outstanding.
    const STEPS: usize = 48;
    let seed = s.seed;
    let mut rng = Rng::new(seed);
    enum Step {
        Outer(u64),
        Reentrant { outer: u64, inner: u64 },
    }
    let mut plan = Vec::new();
    let mut bound = 0u64;
    for _ in 0..STEPS {
        let step = match rng.below(8) {
            0 => Step::Outer(1_000 + rng.below(20_000)),
            1 => Step::Reentrant {
                outer: 1_000 + rng.below(5_000),
                inner: 1 + rng.below(1_500),
            },
            2 => Step::Reentrant {
                outer: 1 + rng.below(64),
                inner: 1 + rng.below(64),
            },
            _ => Step::Outer(1 + rng.below(300)),
        };
        bound += match step {
            Step::Outer(n) => n,
            Step::Reentrant { outer, inner } => outer + inner,
        };
        plan.push(step);
    }
    let p = active(v, bound + 1, false)?;
    let asked = Arc::new(AtomicU64::new(0));
    let pending = Arc::new(AtomicU64::new(0));
    let (in_asked, in_pending) = (Arc::clone(&asked), Arc::clone(&pending));
    let probe = ProbeBuilder::new()
        .count_only()
        .on_next(move |c, _| {
            if in_pending
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| p.checked_sub(1))
                .is_ok()
            {
                in_asked.fetch_add(1, Ordering::SeqCst);
                c.request(1);
            }
        })
        .subscribe(&*p, s)?;
    probe.expect_subscribed()?;
    let describe = |i: usize, what: &str| {
        format!("seed {seed:#x} (RSTREAMS_TCK_SEED), step {i} of {STEPS}: {what}")
    };
    for (i, step) in plan.iter().enumerate() {
        let outer = match *step {
            Step::Outer(n) => n,
            Step::Reentrant { outer, inner } => {
                pending.fetch_add(inner, Ordering::SeqCst);
                outer
            }
        };
        asked.fetch_add(outer, Ordering::SeqCst);
        // Re-entrant requests are made from inside on_next: a call that never returns is
        // most often a deadlock when request re-enters (3.2).
        let returned = guarded_request(&probe, outer, s, Rule::R3_2)();
        returned.map_err(|f| match f {
            TestFailure::Failed { rule, message } => TestFailure::Failed {
                rule,
                message: describe(i, &message),
            },
            skip => skip,
        })?;
        // Re-entrant requests add demand as items flow: wait until the demand stops growing.
        loop {
            let want = asked.load(Ordering::SeqCst);
            let got = probe.wait_received(want);
            probe.verify().map_err(|f| match f {
                TestFailure::Failed { rule, message } => TestFailure::Failed {
                    rule,
                    message: describe(i, &message),
                },
                skip => skip,
            })?;
            if got < want {
                return fail(
                    Rule::R1_1,
                    describe(i, &format!("{want} requested in total, {got} received")),
                );
            }
            if asked.load(Ordering::SeqCst) == want {
                break;
            }
        }
        probe.discard_signals();
    }
    let total = asked.load(Ordering::SeqCst);
    expect_exactly(&probe, total, &describe(STEPS, "after the whole schedule"))?;
    probe.cancel()
}

pub(crate) fn rust_spec302_reentrant_requests_deliver_exact_totals<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // Requests of 2 from inside every other on_next, while earlier demand is still outstanding,
    // stopping exactly at TARGET: the publisher must add them up (3.8), never lose or exceed.
    const TARGET: u64 = 100;
    let p = active(v, TARGET + 50, false)?;
    let asked = Arc::new(AtomicU64::new(2));
    let in_hook = Arc::clone(&asked);
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(2))
        .on_next(move |c, i| {
            let so_far = in_hook.load(Ordering::Relaxed);
            let want = if i % 2 == 1 {
                2.min(TARGET - so_far)
            } else {
                0
            };
            if want > 0 {
                in_hook.fetch_add(want, Ordering::Relaxed);
                c.request(want);
            }
        })
        .subscribe_guarded(&p, s, Rule::R3_2)?;
    probe.expect_subscribed()?;
    probe.wait_received(TARGET);
    probe.verify_after_quiet()?;
    let requested = asked.load(Ordering::Relaxed);
    let got = probe.received();
    if got != requested {
        return fail(
            Rule::R3_8,
            format!(
                "requested {requested} in total (mostly from inside on_next, while demand was \
                 outstanding), received {got}: demand was not added up"
            ),
        );
    }
    probe.cancel()
}

pub(crate) fn rust_spec308_concurrent_requests_from_other_threads_add_up_exactly<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    const THREADS: u64 = 4;
    const EACH: u64 = 250;
    let p = active(v, THREADS * EACH + 1, false)?;
    let probe = ProbeBuilder::new().count_only().subscribe(&*p, s)?;
    probe.expect_subscribed()?;
    let results: Vec<TestResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..EACH {
                        probe.request(1)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| fail(Rule::R3_16, "request panicked"))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let total = THREADS * EACH;
    probe.wait_received(total);
    probe.verify_after_quiet()?;
    let got = probe.received();
    if got != total {
        return fail(
            Rule::R3_8,
            format!("{THREADS} threads requested {total} one by one, received {got}"),
        );
    }
    probe.cancel()
}

/// An endless publisher for the cancel-under-unbounded-demand tests, or the skip: a publisher
/// that cannot produce long streams (`max_elements_from_publisher` below `u64::MAX - 1`) has no
/// unbounded emission to stop.
fn endless<V: PublisherVerification>(v: &V) -> Result<Arc<V::Pub>, TestFailure> {
    let max = v.max_elements_from_publisher();
    if max < u64::MAX - 1 {
        return Err(TestFailure::skip(format!(
            "needs an endless stream (create_publisher(u64::MAX)); max_elements_from_publisher is {max}"
        )));
    }
    active(v, u64::MAX, false)
}

/// After a cancel under unbounded demand: waits for the stream to go quiet and checks that at
/// most [`Settings::cancel_tail`] items arrived after `cancelled_at` (the count when cancel
/// returned). A terminal signal is allowed (rules 1.8 and 2.8); never stopping is not.
fn expect_stopped<T: Send + 'static>(
    probe: &Probe<T>,
    cancelled_at: u64,
    what: &str,
) -> TestResult {
    let s = *probe.settings();
    match probe.wait_quiet(s.timeout * 2) {
        Err(got) => fail(
            Rule::R3_12,
            format!(
                "signals never stopped: {} items arrived after {what} with unbounded demand \
                 outstanding, and they were still arriving {:?} later",
                got - cancelled_at,
                s.timeout * 2
            ),
        ),
        Ok(got) if got - cancelled_at > s.cancel_tail => fail(
            Rule::R3_12,
            format!(
                "{} items arrived after {what} with unbounded demand outstanding; at most {} \
                 may (RSTREAMS_TCK_CANCEL_TAIL)",
                got - cancelled_at,
                s.cancel_tail
            ),
        ),
        Ok(_) => probe.verify(),
    }
}

pub(crate) fn rust_spec312_cancel_inside_on_next_stops_unbounded_emission<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    const AT: u64 = 100;
    let p = endless(v)?;
    let returned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let in_hook = Arc::clone(&returned);
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(u64::MAX))
        .on_next(move |c, i| {
            if i == AT {
                c.cancel();
                in_hook.store(true, Ordering::SeqCst);
            }
        })
        .split(s);
    let (probe, subscriber) = probe;
    // A synchronous publisher emits inside subscribe: run it elsewhere, bounded.
    let publisher = Arc::clone(&p);
    let _ = std::thread::Builder::new()
        .name("rstreams-tck-subscribe".into())
        .spawn(move || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                publisher.subscribe(subscriber)
            }));
        });
    probe.expect_subscribed()?;
    let got = probe.wait_received(AT);
    if got < AT {
        // subscribe may still be running (e.g. blocked on a lock): leave the publisher alone.
        probe.abandon();
        probe.verify()?;
        return fail(
            Rule::R3_17,
            format!("with unbounded demand only {got} of the first {AT} items arrived"),
        );
    }
    let stopped = expect_stopped(&probe, AT, "cancel inside on_next #100");
    if !returned.load(Ordering::SeqCst) {
        // The publisher's thread is still inside that cancel (e.g. waiting for a lock it holds
        // itself): the probe must not call into the publisher again, not even to cancel.
        probe.abandon();
        return fail(
            Rule::R3_5,
            format!(
                "cancel called inside on_next #{AT} had not returned {:?} after the stream went quiet",
                s.no_signal
            ),
        );
    }
    stopped
}

pub(crate) fn rust_spec312_cancel_from_another_thread_stops_unbounded_emission<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // The subscriber is held inside on_next #1 while another thread cancels; once cancel has
    // returned and the subscriber is released, signals must stop within the allowed tail.
    let p = endless(v)?;
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let limit = s.timeout * 2;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_next(move |_, i| {
            if i == 1 {
                let _ = release_rx.recv_timeout(limit);
            }
        })
        .subscribe(&*p, s)?;
    probe.expect_subscribed()?;
    let first = probe.handle();
    let _ = std::thread::Builder::new()
        .name("rstreams-tck-first-request".into())
        .spawn(move || first.request(u64::MAX));
    if probe.wait_received(1) < 1 {
        let _ = release_tx.send(());
        probe.abandon();
        probe.verify()?;
        return fail(
            Rule::R3_17,
            "with unbounded demand the first item did not arrive",
        );
    }
    let other = probe.handle();
    let returned = guarded(s, move || other.cancel());
    let cancelled_at = probe.received();
    let _ = release_tx.send(());
    match returned {
        Some(r) => r?,
        None => {
            probe.abandon();
            return fail(
                Rule::R3_5,
                format!(
                    "cancel from another thread did not return within {:?} while the subscriber \
                     was busy in on_next",
                    s.timeout
                ),
            );
        }
    }
    expect_stopped(
        &probe,
        cancelled_at,
        "cancel from another thread (while on_next #1 ran)",
    )
}

pub(crate) fn rust_spec313_cancel_before_any_request_drops_the_subscriber<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 3, false)?;
    let probe = subscribe(&*p, s)?;
    probe.cancel()?;
    probe.expect_dropped(Rule::R3_13, "cancel without any request")?;
    probe.verify()
}

pub(crate) fn rust_spec313_cancel_inside_on_next_drops_the_subscriber<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    let p = active(v, 10, false)?;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(10))
        .on_next(|c, i| {
            if i == 2 {
                c.cancel()
            }
        })
        .subscribe_guarded(&p, s, Rule::R3_13)?;
    probe.expect_subscribed()?;
    probe.expect_dropped(Rule::R3_13, "cancel inside on_next")?;
    probe.verify()
}

pub(crate) fn rust_spec317_demand_saturates_instead_of_wrapping<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // 2^63 + 2^63 is exactly 2^64: wrapping arithmetic lands on the outstanding demand (0 or
    // 1) and the stream stalls; saturating arithmetic makes the demand unbounded.
    let p = active(v, 10, true)?;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(1))
        .on_next(|c, i| {
            if i == 1 {
                c.request(1 << 63);
                c.request(1 << 63);
            }
        })
        .subscribe_guarded(&p, s, Rule::R3_17)?;
    probe.expect_subscribed()?;
    let got = probe.wait_received(10);
    if got != 10 {
        return fail(
            Rule::R3_17,
            format!("after request(1), then request(2^63) twice, only {got} of 10 items arrived"),
        );
    }
    probe.expect_items(10, Rule::R3_17)?;
    probe.expect_complete(Rule::R3_17)?;
    probe.verify()
}

pub(crate) fn rust_spec213_subscriber_panic_counts_as_cancellation<V: PublisherVerification>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // The subscriber breaks 2.13 by panicking in its first on_next. The publisher may let the
    // panic unwind out of the call that delivered it, or catch and report it; either way the
    // subscription counts as cancelled: nothing more is signalled and the subscriber is dropped.
    let p = active(v, 10, false)?;
    let (probe, subscriber) = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(10))
        .on_next(|_, i| {
            if i == 1 {
                panic!("rstreams-tck: a deliberately panicking subscriber (rule 2.13 test)");
            }
        })
        .split(s);
    let publisher = Arc::clone(&p);
    // Unwinding runs the panic hook, which may capture and print a backtrace
    // (RUST_BACKTRACE): slow on a loaded machine, so this wait is longer than the others.
    let patient = Settings {
        timeout: s.timeout * 4,
        ..*s
    };
    match guarded(&patient, move || {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            publisher.subscribe(subscriber)
        }));
    }) {
        Some(()) => {}
        None => {
            return fail(
                Rule::R2_13,
                format!("subscribe did not return within {:?}", patient.timeout),
            );
        }
    }
    probe.wait_received(1);
    probe.expect_dropped(Rule::R2_13, "the subscriber panicked in on_next")?;
    let (items, terminals) = drain_until_quiet(&probe, 64);
    if items > 1 || terminals > 0 {
        return fail(
            Rule::R2_13,
            format!(
                "after the subscriber panicked in on_next #1, {} more item(s) and {terminals} \
                 terminal signal(s) arrived",
                items.saturating_sub(1)
            ),
        );
    }
    Ok(())
}

pub(crate) fn rust_spec105_must_signal_on_complete_after_the_subscriber_dropped_its_subscription<
    V: PublisherVerification,
>(
    v: &V,
    s: &Settings,
) -> TestResult {
    // A subscriber that requested all it needs in on_subscribe may drop its Subscription: it
    // never calls it again. Only cancel stops a stream (3.12); a publisher that holds its state
    // only through the handle (a weak reference from its worker, say) takes the drop for a
    // cancel and the subscriber waits forever for items and on_complete.
    let p = active(v, 10, true)?;
    let probe = ProbeBuilder::new()
        .count_only()
        .on_subscribe(|c| c.request(u64::MAX))
        .forget_subscription()
        .subscribe_guarded(&p, s, Rule::R1_5)?;
    probe.expect_subscribed()?;
    let got = probe.wait_received(10);
    if got != 10 || !probe.wait_terminated(s.timeout) {
        let how = if probe.is_dropped() {
            "dropped the subscriber"
        } else {
            "went quiet"
        };
        return fail(
            Rule::R1_5,
            format!(
                "the subscriber requested u64::MAX in on_subscribe and dropped its Subscription \
                 (not a cancel); {got} of 10 items arrived, then the publisher {how} without \
                 on_complete"
            ),
        );
    }
    probe.expect_items(10, Rule::R1_5)?;
    probe.expect_complete(Rule::R1_5)?;
    probe.verify()
}
