//! The subscriber suites: [`whitebox`] (SubscriberWhiteboxVerification, 27 JVM tests) and
//! [`blackbox`] (SubscriberBlackboxVerification, 26 JVM tests), plus Rust-only tests, the
//! reference subscribers that pass them ([`mod@reference`]) and the macros that turn a suite into one
//! `#[test]` per test.
//!
//! The subscriber under test is driven by a TCK-controlled *stage* (a fake upstream publisher).
//! Beyond what the JVM TCK checks, the stage's subscriptions detect, naming the rule:
//! `request(0)` (3.9), `request`/`cancel` from inside `on_complete`/`on_error` (2.3), calls after
//! the subscriber saw a terminal signal (2.4), overlapping calls from two threads (2.7) and
//! requests on a second subscription (2.5); every callback is wrapped in `catch_unwind` (2.13);
//! and some tests run against a *synchronous* stage that delivers items and terminal signals
//! from inside `request` (3.10, 3.11, 3.16). Failures raised on other threads are collected and
//! reported by the test that was running.
//!
//! Of the JVM's 28 subscriber-side `untested_` placeholders (13 whitebox, 15 blackbox), 22 run
//! real checks here (2.4, 2.6, 2.7, 2.13, 3.10, 3.11, 3.14, 3.15, 3.16 in both suites, 2.8 and
//! 3.8 in the blackbox one, and 2.2 in both for subscribers that declare asynchronous
//! processing; synchronous ones skip it, as the rule only recommends hand-off), and 6 are
//! settled by Rust's types (2.11, 2.12, 3.1) and say why in the report.
//! The Rust-only tests (`rust_` prefix) check that no `request(0)` is ever made (3.9), a whole
//! stream from a synchronous source (3.10) and seeded random legal signal sequences (2.13).
//!
//! Waits come from [`Settings`]: a wait for an expected signal returns as soon as it arrives;
//! only "nothing more happens" checks watch for the full no-signal time.
//!
//! ```
//! use rstreams_tck::subscriber::blackbox::{SubscriberBlackboxVerification, run_blackbox};
//! use rstreams_tck::subscriber::reference::SyncSubscriber;
//! use rstreams_tck::outcome::Settings;
//!
//! struct Verify;
//! impl SubscriberBlackboxVerification for Verify {
//!     type Item = u64;
//!     type Subscriber = SyncSubscriber<u64, fn(u64) -> bool>;
//!     fn create_subscriber(&self) -> Self::Subscriber {
//!         SyncSubscriber::new(8, |_x: u64| true)
//!     }
//!     fn create_element(&self, i: u64) -> u64 { i }
//! }
//! let report = run_blackbox("SyncSubscriber", &Verify, &Settings::from_env());
//! assert!(report.failed().is_empty(), "{:?}", report.results);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use rstreams_protocol::{Error, Rule};

use crate::outcome::{Outcome, Settings, SuiteReport, TestCase, TestResult};

pub mod blackbox;
mod env;
mod probe;
pub mod reference;
mod stage;
pub mod whitebox;

pub use blackbox::{SubscriberBlackboxVerification, blackbox_cases, run_blackbox};
pub use probe::{ProbedSubscriber, SubscriberPuppet, WhiteboxProbe};
pub use whitebox::{SubscriberWhiteboxVerification, run_whitebox, whitebox_cases};

pub(crate) const SETTLED_2_11: &str = "safe Rust has no data races: signals and the items they carry \
     cross threads only as Send values through synchronised hand-offs, so whatever the caller did \
     before a signal is visible to the code that processes it";
pub(crate) const SETTLED_2_12: &str = "Publisher::subscribe takes the subscriber by value: one \
     subscriber value cannot be subscribed twice, so on_subscribe reaches it at most once";
pub(crate) const SETTLED_3_1: &str = "on_subscribe moves a Box<dyn Subscription> into the \
     subscriber, and it is not Clone: only its owner can call request or cancel";
pub(crate) const SETTLED_NULL: &str = "Rust values cannot be null: on_subscribe takes a \
     Box<dyn Subscription>, on_next an owned item, on_error an Error";

pub(crate) fn case<I>(
    name: &'static str,
    rule: Option<Rule>,
    run: fn(&I, &Settings) -> TestResult,
) -> TestCase<I> {
    TestCase {
        name,
        rule,
        settled_by_types: None,
        run,
    }
}

pub(crate) fn settled<I>(name: &'static str, rule: Rule, why: &'static str) -> TestCase<I> {
    TestCase {
        name,
        rule: Some(rule),
        settled_by_types: Some(why),
        run: |_, _| Ok(()),
    }
}

/// A small deterministic generator (xorshift64*) for the random-sequence tests: the same
/// sequences every run, so a failure reproduces.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Rounds of the random-sequence tests, and the most steps in one.
pub(crate) const RANDOM_ROUNDS: u64 = 6;
pub(crate) const RANDOM_STEPS: u64 = 12;

/// An error with a unique message, so the test can recognise the very error it sent.
pub(crate) fn test_error(tag: &str) -> Error {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    Error::msg(format!("TCK test error #{id} ({tag})"))
}

/// Lets requests already in flight land (an asynchronous subscriber may still be working
/// through earlier signals): returns once no request arrived for a quiet period (the no-signal
/// time, but at least a fifth of the timeout, so that a loaded machine does not turn a late
/// request into a false rule 2.4 failure), after at most a few rounds.
pub(crate) fn settle_requests<T: Send + 'static>(stage: &stage::Stage<T>, settings: &Settings) {
    let quiet = settings.no_signal.max(settings.timeout / 5);
    for _ in 0..8 {
        if stage.maybe_request(quiet).is_none() {
            break;
        }
    }
    stage.clear_requests();
}

/// Runs the test `name` of `cases` for a generated `#[test]`: `Err(message)` when it failed
/// (the message names the rule), `Ok(Some(note))` when it was skipped or settled by types (the
/// generated test prints the note and passes), `Ok(None)` when it passed.
#[doc(hidden)]
pub fn run_named_case<I>(
    implementation: &I,
    cases: &[TestCase<I>],
    name: &str,
) -> Result<Option<String>, String> {
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        return Err(format!("rstreams-tck: no test named {name} in this suite"));
    };
    let settings = Settings::from_env();
    match case.execute(implementation, &settings) {
        Outcome::Passed => Ok(None),
        Outcome::SettledByTypes(why) => Ok(Some(format!("{name}: settled by Rust's types: {why}"))),
        Outcome::Skipped { reason } => Ok(Some(format!("{name}: SKIPPED: {reason}"))),
        Outcome::Failed {
            rule: Some(rule),
            message,
        } => Err(format!("{name} failed {rule}: {message}")),
        Outcome::Failed {
            rule: None,
            message,
        } => Err(format!("{name} failed: {message}")),
    }
}

/// Both suites over the reference subscribers (what the report CLI shows for subscribers). The
/// four runs go side by side: they spend their time waiting, not computing.
pub fn builtin_reports(settings: &Settings) -> Vec<SuiteReport> {
    use reference::builtin as b;
    std::thread::scope(|scope| {
        let runs = [
            scope.spawn(|| run_whitebox("SyncSubscriber", &b::SyncWhitebox, settings)),
            scope.spawn(|| run_whitebox("AsyncSubscriber", &b::AsyncWhitebox, settings)),
            scope.spawn(|| run_blackbox("SyncSubscriber", &b::SyncBlackbox, settings)),
            scope.spawn(|| run_blackbox("AsyncSubscriber", &b::AsyncBlackbox, settings)),
        ];
        // A suite run catches every test's panic, so a join error is a TCK bug worth surfacing.
        runs.into_iter()
            .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Generates one `#[test]` per SubscriberWhiteboxVerification test (JVM names in snake_case,
/// plus the `rust_` ones) in a module `$mod_name`, running against `$implementation` (an
/// expression evaluated once per test, whose type implements
/// [`SubscriberWhiteboxVerification`]). A failure panics with the rule and message; a skip
/// passes and prints its reason. The module also gets `NAMES`, the list of generated tests.
///
/// ```
/// use rstreams_tck::subscriber::reference::builtin::SyncWhitebox;
///
/// // In a test file: one #[test] per whitebox test, e.g.
/// // `sync_subscriber_whitebox::required_spec201_must_signal_demand_via_subscription_request`.
/// rstreams_tck::subscriber_whitebox_tests!(sync_subscriber_whitebox, SyncWhitebox);
/// # fn main() { assert_eq!(sync_subscriber_whitebox::NAMES.len(), 30); }
/// ```
#[macro_export]
macro_rules! subscriber_whitebox_tests {
    ($mod_name:ident, $implementation:expr) => {
        $crate::__rstreams_tck_whitebox_names!(
            $crate::__rstreams_tck_subscriber_tests,
            $mod_name,
            $implementation,
            whitebox_cases_for
        );
    };
}

/// Calls `$callback!($($args)*, [every whitebox test name, in suite order])`: the one list of
/// whitebox test names, for any macro that generates tests from it (the processor suite's
/// included), so that none can drift from [`whitebox_cases`].
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_whitebox_names {
    ($callback:path, $($args:tt)*) => {
        $callback!($($args)*, [
            required_exercise_whitebox_happy_path,
            required_spec201_must_signal_demand_via_subscription_request,
            untested_spec202_should_asynchronously_dispatch,
            required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_complete,
            required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_error,
            untested_spec204_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error,
            required_spec205_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal,
            untested_spec206_must_call_subscription_cancel_if_it_is_no_longer_valid,
            untested_spec207_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization,
            required_spec208_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel,
            required_spec209_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call,
            required_spec209_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call,
            required_spec210_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call,
            required_spec210_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call,
            untested_spec211_must_make_sure_that_all_calls_on_its_methods_happen_before_the_processing_of_the_respective_events,
            untested_spec212_must_not_call_on_subscribe_more_than_once_based_on_object_equality_spec_violation,
            untested_spec213_failing_on_signal_invocation,
            required_spec213_on_subscribe_must_throw_null_pointer_exception_when_parameters_are_null,
            required_spec213_on_next_must_throw_null_pointer_exception_when_parameters_are_null,
            required_spec213_on_error_must_throw_null_pointer_exception_when_parameters_are_null,
            untested_spec301_must_not_be_called_outside_subscriber_context,
            required_spec308_request_must_register_given_number_elements_to_be_produced,
            untested_spec310_request_may_synchronously_call_on_next_on_subscriber,
            untested_spec311_request_may_synchronously_call_on_complete_or_on_error,
            untested_spec314_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists,
            untested_spec315_cancel_must_not_throw_exception_and_must_signal_on_error,
            untested_spec316_request_must_not_throw_exception_and_must_on_error_the_subscriber,
            rust_spec309_must_not_request_zero,
            rust_spec310_whole_stream_from_synchronous_source,
            rust_spec213_random_legal_signal_sequences,
        ]);
    };
}

/// Generates one `#[test]` per SubscriberBlackboxVerification test in a module `$mod_name`,
/// running against `$implementation` (its type implements [`SubscriberBlackboxVerification`]).
/// Same conventions as [`subscriber_whitebox_tests!`].
///
/// ```
/// use rstreams_tck::subscriber::reference::builtin::AsyncBlackbox;
///
/// rstreams_tck::subscriber_blackbox_tests!(async_subscriber_blackbox, AsyncBlackbox);
/// # fn main() { assert_eq!(async_subscriber_blackbox::NAMES.len(), 28); }
/// ```
#[macro_export]
macro_rules! subscriber_blackbox_tests {
    ($mod_name:ident, $implementation:expr) => {
        $crate::__rstreams_tck_subscriber_tests!($mod_name, $implementation, blackbox_cases_for, [
            required_spec201_blackbox_must_signal_demand_via_subscription_request,
            untested_spec202_blackbox_should_asynchronously_dispatch,
            required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_complete,
            required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_error,
            untested_spec204_blackbox_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error,
            required_spec205_blackbox_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal,
            untested_spec206_blackbox_must_call_subscription_cancel_if_it_is_no_longer_valid,
            untested_spec207_blackbox_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization,
            untested_spec208_blackbox_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel,
            required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call,
            required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call,
            required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call,
            required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call,
            untested_spec211_blackbox_must_make_sure_that_all_calls_on_its_methods_happen_before_the_processing_of_the_respective_events,
            untested_spec212_blackbox_must_not_call_on_subscribe_more_than_once_based_on_object_equality,
            untested_spec213_blackbox_failing_on_signal_invocation,
            required_spec213_blackbox_on_subscribe_must_throw_null_pointer_exception_when_parameters_are_null,
            required_spec213_blackbox_on_next_must_throw_null_pointer_exception_when_parameters_are_null,
            required_spec213_blackbox_on_error_must_throw_null_pointer_exception_when_parameters_are_null,
            untested_spec301_blackbox_must_not_be_called_outside_subscriber_context,
            untested_spec308_blackbox_request_must_register_given_number_elements_to_be_produced,
            untested_spec310_blackbox_request_may_synchronously_call_on_next_on_subscriber,
            untested_spec311_blackbox_request_may_synchronously_call_on_complete_or_on_error,
            untested_spec314_blackbox_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists,
            untested_spec315_blackbox_cancel_must_not_throw_exception_and_must_signal_on_error,
            untested_spec316_blackbox_request_must_not_throw_exception_and_must_on_error_the_subscriber,
            rust_spec309_blackbox_must_not_request_zero,
            rust_spec213_blackbox_random_legal_signal_sequences,
        ]);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_subscriber_tests {
    ($mod_name:ident, $implementation:expr, $cases:ident, [$($name:ident),* $(,)?]) => {
        #[allow(non_snake_case)]
        mod $mod_name {
            #[allow(unused_imports)]
            use super::*;

            /// The tests this module generates, in suite order.
            #[allow(dead_code)]
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];

            $(
                #[test]
                fn $name() {
                    let implementation = $implementation;
                    let cases = $crate::subscriber::$cases(&implementation);
                    match $crate::subscriber::run_named_case(
                        &implementation,
                        &cases,
                        stringify!($name),
                    ) {
                        Ok(None) => {}
                        Ok(Some(note)) => println!("{note}"),
                        Err(failure) => panic!("{failure}"),
                    }
                }
            )*
        }
    };
}

/// The cases of the whitebox suite for `implementation`'s type (used by the macros, where the
/// type is only known from the expression).
#[doc(hidden)]
pub fn whitebox_cases_for<I: SubscriberWhiteboxVerification>(_: &I) -> Vec<TestCase<I>> {
    whitebox_cases::<I>()
}

/// As [`whitebox_cases_for`], for the blackbox suite.
#[doc(hidden)]
pub fn blackbox_cases_for<I: SubscriberBlackboxVerification>(_: &I) -> Vec<TestCase<I>> {
    blackbox_cases::<I>()
}
