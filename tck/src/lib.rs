//! # rstreams-tck
//!
//! The Reactive Streams conformance suite (TCK) for Rust implementations: a port of the JVM
//! TCK's four verification classes, under their JVM test names in snake_case, plus Rust-only
//! tests for the rules the JVM TCK leaves untested.
//!
//! | suite | module | user trait | macro |
//! | --- | --- | --- | --- |
//! | PublisherVerification (38 + Rust-only) | [`publisher`] | [`publisher::PublisherVerification`] | [`publisher_verification_tests!`] |
//! | IdentityProcessorVerification (68 + Rust-only) | [`processor`] | [`processor::IdentityProcessorVerification`] | [`identity_processor_verification_tests!`] |
//! | Subscriber whitebox / blackbox | [`subscriber`] | see that module | see that module |
//!
//! Each suite is a list of [`TestCase`]s. The macros expand to one `#[test]` per case, so
//! `cargo test` lists every rule by name; [`outcome::SuiteReport::run`] (or each module's `run`)
//! returns a report instead. A skipped test passes and prints why; a failure panics naming the
//! rule. Timeouts come from [`Settings`]: see `docs/guide/tck.md`.
//!
//! ```
//! use rstreams_protocol::reference::RangePublisher;
//! use rstreams_tck::publisher::PublisherVerification;
//!
//! struct Range;
//! impl PublisherVerification for Range {
//!     type Item = u64;
//!     type Pub = RangePublisher;
//!     fn create_publisher(&self, elements: u64) -> RangePublisher {
//!         RangePublisher::new(0, elements.min(u64::MAX - 1))
//!     }
//! }
//!
//! // In a test file: `rstreams_tck::publisher_verification_tests!(range, Range);`
//! let report = rstreams_tck::publisher::run("Range", &Range, &Default::default());
//! assert_eq!(report.counts().1, 0);
//! ```

pub mod checker;
pub mod helpers;
pub mod outcome;
pub mod probe;
pub mod processor;
pub mod publisher;
pub mod report;
pub mod subscriber;

use outcome::{Outcome, Settings, TestCase};

/// Runs the case called `name` from `cases` against `implementation`, for the generated
/// `#[test]` functions: passes on success, prints the reason and passes on a skip, panics with
/// the rule and message on a failure.
pub fn run_one<I: ?Sized>(cases: &[TestCase<I>], implementation: &I, name: &str) {
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        panic!("rstreams-tck: no test named {name} in this suite");
    };
    let settings = Settings::from_env();
    match case.execute(implementation, &settings) {
        Outcome::Passed => {}
        Outcome::SettledByTypes(why) => println!("{name}: settled by types: {why}"),
        Outcome::Skipped { reason } => println!("{name}: SKIPPED: {reason}"),
        Outcome::Failed {
            rule: Some(rule),
            message,
        } => panic!("{name} failed {rule}: {message}"),
        Outcome::Failed {
            rule: None,
            message,
        } => panic!("{name} failed: {message}"),
    }
}

/// Runs every case of `cases` whose name is not in `listed` (see the generated
/// `tests_not_listed_by_name`), panicking with all their failures; prints what it ran.
pub fn run_unlisted<I: ?Sized>(cases: &[TestCase<I>], implementation: &I, listed: &[&str]) {
    let settings = Settings::from_env();
    let mut failures = Vec::new();
    for case in cases.iter().filter(|c| !listed.contains(&c.name)) {
        println!("running {} (not listed by name in the macro)", case.name);
        if let Outcome::Failed { rule, message } = case.execute(implementation, &settings) {
            failures.push(match rule {
                Some(rule) => format!("{} failed {rule}: {message}", case.name),
                None => format!("{} failed: {message}", case.name),
            });
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Expands to a module of `#[test]` functions, one per test of a suite. Used by the per-suite
/// macros; not meant to be called directly.
#[doc(hidden)]
#[macro_export]
macro_rules! __tck_tests {
    ($cases:path, $module:ident, $make:expr, [$($test:ident),* $(,)?]) => {
        #[allow(non_snake_case)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            $(
                #[test]
                fn $test() {
                    let verification = $make;
                    $crate::run_one(&$cases(), &verification, stringify!($test));
                }
            )*

            /// Runs the suite's tests this macro does not list by name (tests added to a suite
            /// after the macro's list was written), so that none is left out.
            #[test]
            fn tests_not_listed_by_name() {
                let verification = $make;
                $crate::run_unlisted(&$cases(), &verification, &[$(stringify!($test)),*]);
            }
        }
    };
}

/// Generates one `#[test]` per [`PublisherVerification`](publisher::PublisherVerification)
/// test, in a module named `$module`, for the verification `$make` builds.
///
/// ```ignore
/// struct MyVerification;
/// impl rstreams_tck::publisher::PublisherVerification for MyVerification { /* ... */ }
/// rstreams_tck::publisher_verification_tests!(my_publisher, MyVerification);
/// // cargo test lists my_publisher::required_spec101_..., my_publisher::rust_spec313_..., ...
/// ```
#[macro_export]
macro_rules! publisher_verification_tests {
    ($module:ident, $make:expr) => {
        $crate::__publisher_test_names!(
            $crate::__tck_tests,
            $crate::publisher::cases,
            $module,
            $make
        );
    };
}

/// Generates one `#[test]` per
/// [`IdentityProcessorVerification`](processor::IdentityProcessorVerification) test (the
/// delegated publisher and whitebox tests under their own names, then the processor's own), in
/// a module named `$module`.
///
/// ```ignore
/// rstreams_tck::identity_processor_verification_tests!(my_processor, MyVerification);
/// ```
#[macro_export]
macro_rules! identity_processor_verification_tests {
    ($module:ident, $make:expr) => {
        // The whitebox names come from the whitebox suite's own list, so the two cannot drift.
        $crate::__rstreams_tck_whitebox_names!($crate::__processor_test_names, $module, $make);
    };
}

/// Receives the whitebox name list and adds the publisher names and the processor's own tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __processor_test_names {
    ($module:ident, $make:expr, [$($whitebox:ident),* $(,)?]) => {
        $crate::__publisher_test_names!($crate::__tck_tests, $crate::processor::cases, $module, $make,
            $($whitebox,)*
            required_spec104_must_call_on_error_on_all_its_subscribers_if_it_encounters_a_non_recoverable_error,
            must_immediately_pass_on_on_error_events_received_from_its_upstream_to_its_downstream,
            required_must_request_from_upstream_for_elements_that_have_been_requested_long_ago
        );
    };
}

/// Calls `$callback!($cases, $module, $make, [every publisher test name])`.
#[doc(hidden)]
#[macro_export]
macro_rules! __publisher_test_names {
    ($callback:path, $cases:path, $module:ident, $make:expr $(, $extra:ident)*) => {
        $callback!($cases, $module, $make, [
            required_create_publisher_1_must_produce_a_stream_of_exactly_1_element,
            required_create_publisher_3_must_produce_a_stream_of_exactly_3_elements,
            required_validate_max_elements_from_publisher,
            required_validate_bounded_depth_of_on_next_and_request_recursion,
            required_spec101_subscription_request_must_result_in_the_correct_number_of_produced_elements,
            required_spec102_may_signal_less_than_requested_and_terminate_subscription,
            stochastic_spec103_must_signal_on_methods_sequentially,
            optional_spec104_must_signal_on_error_when_fails,
            required_spec105_must_signal_on_complete_when_finite_stream_terminates,
            optional_spec105_empty_stream_must_terminate_by_signalling_on_complete,
            untested_spec106_must_consider_subscription_cancelled_after_on_error_or_on_complete_has_been_called,
            required_spec107_must_not_emit_further_signals_once_on_complete_has_been_signalled,
            untested_spec107_must_not_emit_further_signals_once_on_error_has_been_signalled,
            untested_spec108_possibly_canceled_subscription_should_not_receive_on_error_or_on_complete_signals,
            untested_spec109_subscribe_should_not_throw_non_fatal_throwable,
            required_spec109_subscribe_throw_npe_on_null_subscriber,
            required_spec109_must_issue_on_subscribe_for_non_null_subscriber,
            required_spec109_may_reject_calls_to_subscribe_if_publisher_is_unable_or_unwilling_to_serve_them_rejection_must_trigger_on_error_after_on_subscribe,
            untested_spec110_reject_a_subscription_request_if_the_same_subscriber_subscribes_twice,
            optional_spec111_may_support_multi_subscribe,
            optional_spec111_registered_subscribers_must_receive_on_next_or_on_complete_signals,
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_one_by_one,
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront,
            optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront_and_complete_as_expected,
            required_spec302_must_allow_synchronous_request_calls_from_on_next_and_on_subscribe,
            required_spec303_must_not_allow_unbounded_recursion,
            untested_spec304_request_should_not_perform_heavy_computations,
            untested_spec305_cancel_must_not_synchronously_perform_heavy_computation,
            required_spec306_after_subscription_is_cancelled_request_must_be_nops,
            required_spec307_after_subscription_is_cancelled_additional_cancelations_must_be_nops,
            required_spec309_request_zero_must_signal_illegal_argument_exception,
            required_spec309_request_negative_number_must_signal_illegal_argument_exception,
            optional_spec309_request_negative_number_may_signal_illegal_argument_exception_with_specific_message,
            required_spec312_cancel_must_make_the_publisher_to_eventually_stop_signaling,
            required_spec313_cancel_must_make_the_publisher_eventually_drop_all_references_to_the_subscriber,
            required_spec317_must_support_a_pending_element_count_up_to_long_max_value,
            required_spec317_must_support_a_cumulative_pending_element_count_up_to_long_max_value,
            required_spec317_must_not_signal_on_error_when_pending_above_long_max_value,
            rust_spec101_large_requests_are_counted_exactly,
            rust_spec101_requests_of_hundreds_of_thousands_are_counted_exactly,
            rust_spec101_seeded_random_batches_are_counted_exactly,
            rust_optional_spec108_no_terminal_signal_after_cancel,
            rust_spec312_cancel_inside_on_next_stops_unbounded_emission,
            rust_spec312_cancel_from_another_thread_stops_unbounded_emission,
            rust_spec302_reentrant_requests_deliver_exact_totals,
            rust_spec308_concurrent_requests_from_other_threads_add_up_exactly,
            rust_spec313_cancel_before_any_request_drops_the_subscriber,
            rust_spec313_cancel_inside_on_next_drops_the_subscriber,
            rust_spec317_demand_saturates_instead_of_wrapping,
            rust_spec213_subscriber_panic_counts_as_cancellation,
            $($extra),*
        ]);
    };
}
