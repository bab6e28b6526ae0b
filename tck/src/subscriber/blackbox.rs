//! SubscriberBlackboxVerification: the subscriber under test is not instrumented; the TCK only
//! sees what reaches its upstream (requests, cancels) and whether its callbacks return normally.
//!
//! All 26 JVM tests keep their JVM names (in snake_case). Where the JVM's blackbox 2.1 test has
//! an inverted loop (reactive-streams-jvm#459) this port does what the test intends: it sends
//! the requested items (up to 64), stopping if the subscriber cancels, then completes.

use std::sync::Arc;
use std::time::Duration;

use rstreams_protocol::{Rule, Subscriber};

use super::env::Env;
use super::stage::{PRIMARY, SECOND, Stage, StageConfig, SyncEnd};
use super::{RANDOM_ROUNDS, RANDOM_STEPS, Rng, settle_requests, test_error};
use crate::outcome::{Settings, SuiteReport, TestCase, TestFailure, TestResult};

/// The suite's name in reports.
pub const SUITE: &str = "SubscriberBlackboxVerification";

/// What a blackbox-verified subscriber provides.
pub trait SubscriberBlackboxVerification {
    /// The item type.
    type Item: Send + 'static;

    /// The subscriber type (`Box<dyn Subscriber<Self::Item> + Send>` works too).
    type Subscriber: Subscriber<Self::Item> + Send + 'static;

    /// A fresh subscriber.
    fn create_subscriber(&self) -> Self::Subscriber;

    /// The `i`-th test item.
    fn create_element(&self, i: u64) -> Self::Item;

    /// Makes a subscriber that only requests after some outside event request (called after
    /// `on_subscribe`, serialised with the signals, on the test's thread). The default does
    /// nothing: most subscribers request from `on_subscribe`.
    fn trigger_request(&self, subscriber: &mut Self::Subscriber) {
        let _ = subscriber;
    }

    /// Whether the subscriber cancels its subscription when it is dropped while the subscription
    /// is still active (the rule 2.6 test); see
    /// [`SubscriberWhiteboxVerification::cancels_when_dropped`](super::SubscriberWhiteboxVerification::cancels_when_dropped).
    fn cancels_when_dropped(&self) -> bool {
        true
    }

    /// Whether the subscriber hands signals off to be processed elsewhere (rule 2.2). Default
    /// `false`: the 2.2 test is skipped (the rule only recommends it); `true` makes the test
    /// check that no request comes from inside a callback.
    fn processes_asynchronously(&self) -> bool {
        false
    }
}

struct Rig<'a, I: SubscriberBlackboxVerification + ?Sized> {
    imp: &'a I,
    env: Arc<Env>,
    stage: Stage<I::Item>,
    next_index: u64,
}

impl<'a, I: SubscriberBlackboxVerification + ?Sized> Rig<'a, I> {
    fn new(imp: &'a I, settings: &Settings, sync: Option<(Vec<I::Item>, SyncEnd)>) -> Self {
        let env = Env::new(settings);
        let stage = Stage::new(
            Arc::clone(&env),
            Box::new(imp.create_subscriber()),
            StageConfig {
                sync,
                strict_second: true,
                terminal_seen_on_delivery: true,
                terminal_seen: None,
            },
        );
        Rig {
            imp,
            env,
            stage,
            next_index: 0,
        }
    }

    /// The JVM "with setup" start: `on_subscribe`, nothing awaited.
    fn setup(imp: &'a I, settings: &Settings) -> Self {
        let rig = Rig::new(imp, settings, None);
        rig.stage.subscribe();
        rig
    }

    fn synchronous(imp: &'a I, settings: &Settings, count: u64, end: SyncEnd) -> Self {
        let items = (0..count).map(|i| imp.create_element(i)).collect();
        let rig = Rig::new(imp, settings, Some((items, end)));
        rig.stage.subscribe();
        rig
    }

    fn trigger_request(&self) -> TestResult {
        let mut reached = true;
        self.stage
            .with_subscriber(|s| match s.downcast_mut::<I::Subscriber>() {
                Some(s) => self.imp.trigger_request(s),
                None => reached = false,
            })?;
        if reached {
            Ok(())
        } else {
            Err(TestFailure::Failed {
                rule: None,
                message: "TCK bug: trigger_request could not reach the subscriber's type".into(),
            })
        }
    }

    fn element(&mut self) -> I::Item {
        let i = self.next_index;
        self.next_index += 1;
        self.imp.create_element(i)
    }

    /// Sends items while the subscriber keeps demand up, at most `max`; stops when it cancels
    /// or leaves no demand for the no-signal time. Returns how many were sent.
    fn send_while_demanded(&mut self, max: u64) -> u64 {
        let mut sent = 0;
        while sent < max && !self.stage.cancelled(PRIMARY) {
            let item = self.element();
            if !self.stage.try_send_next(item, self.env.settings.no_signal) {
                break;
            }
            sent += 1;
        }
        sent
    }

    fn finish(&self) -> TestResult {
        self.env.verify_after_quiet()
    }
}

fn required_spec201_blackbox_must_signal_demand_via_subscription_request<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    let n = rig
        .stage
        .expect_request("after on_subscribe and trigger_request")?;
    let mut sent = 0;
    while sent < n.min(64) && !rig.stage.cancelled(PRIMARY) {
        let item = rig.element();
        rig.stage.send_next(item)?;
        sent += 1;
    }
    if !rig.stage.cancelled(PRIMARY) {
        rig.stage.send_complete();
    }
    rig.finish()
}

fn untested_spec202_blackbox_should_asynchronously_dispatch<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    if !imp.processes_asynchronously() {
        return Err(TestFailure::skip(
            "the subscriber processes signals on the publisher's thread; rule 2.2 only \
             recommends handing them off (declare processes_asynchronously to check it)",
        ));
    }
    // A subscriber that hands signals off does its work, requesting included, elsewhere: no
    // request may come synchronously from inside one of its callbacks.
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    rig.send_while_demanded(8);
    settle_requests(&rig.stage, &rig.env.settings);
    rig.finish()?;
    let inside = rig.stage.requests_from_callbacks();
    if inside > 0 {
        return Err(TestFailure::rule(
            Rule::R2_2,
            format!(
                "the subscriber says it processes asynchronously, but {inside} request(s) came \
                 from inside its callbacks, on the delivering thread"
            ),
        ));
    }
    Ok(())
}

fn terminal_callback_test<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
    error: bool,
) -> TestResult {
    let rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    if error {
        rig.stage.send_error(test_error("spec203"));
    } else {
        rig.stage.send_complete();
    }
    rig.stage.wait_terminal_delivered();
    rig.finish()
}

fn required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_complete<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    terminal_callback_test(imp, s, false)
}

fn required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_error<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    terminal_callback_test(imp, s, true)
}

fn untested_spec204_blackbox_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    for error in [false, true] {
        let mut rig = Rig::setup(imp, s);
        rig.trigger_request()?;
        rig.stage
            .expect_request("after on_subscribe and trigger_request")?;
        let item = rig.element();
        rig.stage.send_next(item)?;
        // The subscriber goes quiet first, so that any call after the terminal signal was caused
        // by it rather than by an item still being processed.
        settle_requests(&rig.stage, &rig.env.settings);
        rig.stage.check_after_terminal();
        if error {
            rig.stage.send_error(test_error("spec204"));
        } else {
            rig.stage.send_complete();
        }
        rig.stage.wait_terminal_delivered();
        rig.finish()?;
    }
    Ok(())
}

fn required_spec205_blackbox_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::setup(imp, s);
    rig.stage.subscribe_second();
    rig.stage
        .expect_cancel(SECOND, Some(Rule::R2_5), "of the second subscription")?;
    rig.env.verify()?;
    rig.stage.send_complete();
    rig.finish()
}

fn untested_spec206_blackbox_must_call_subscription_cancel_if_it_is_no_longer_valid<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    if !imp.cancels_when_dropped() {
        return Err(TestFailure::skip(
            "the verification says the subscriber does not cancel when dropped",
        ));
    }
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    let item = rig.element();
    rig.stage.send_next(item)?;
    rig.stage.drop_subscriber();
    rig.stage.expect_cancel(
        PRIMARY,
        Some(Rule::R2_6),
        "after the subscriber was dropped with its subscription still active",
    )?;
    rig.finish()
}

fn untested_spec207_blackbox_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s);
    rig.stage.widen_calls();
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    rig.send_while_demanded(16);
    settle_requests(&rig.stage, &rig.env.settings);
    if !rig.stage.cancelled(PRIMARY) {
        rig.stage.send_complete();
    }
    rig.finish()
}

/// Sends items until the subscriber cancels, then `after_cancel` (items or an error in flight).
/// Skips when the subscriber never cancels: there is nothing to check then.
fn after_cancel_test<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
    error_after: bool,
) -> TestResult {
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    rig.send_while_demanded(32);
    if !rig.stage.cancelled(PRIMARY) {
        rig.env.verify()?;
        return Err(TestFailure::skip(
            "the subscriber did not cancel within 32 items, so there was no cancel to send \
             signals after",
        ));
    }
    if error_after {
        rig.stage.send_error(test_error("after cancel"));
    } else {
        for _ in 0..2 {
            let item = rig.element();
            rig.stage.send_next_in_flight(item);
        }
        rig.stage.send_complete();
    }
    rig.stage.wait_terminal_delivered();
    rig.finish()
}

fn untested_spec208_blackbox_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    after_cancel_test(imp, s, false)
}

fn complete_test<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
    request_first: bool,
    error: bool,
) -> TestResult {
    let rig = Rig::setup(imp, s);
    if request_first {
        rig.trigger_request()?;
        rig.stage
            .expect_request("after on_subscribe and trigger_request")?;
    }
    if error {
        rig.stage.send_error(test_error("blackbox terminal"));
    } else {
        rig.stage.send_complete();
    }
    rig.stage.wait_terminal_delivered();
    rig.finish()
}

fn required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    complete_test(imp, s, true, false)
}

fn required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    complete_test(imp, s, false, false)
}

fn required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    complete_test(imp, s, true, true)
}

fn required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    complete_test(imp, s, false, true)
}

fn whole_stream<I: SubscriberBlackboxVerification>(imp: &I, s: &Settings, max: u64) -> TestResult {
    for error in [false, true] {
        let mut rig = Rig::setup(imp, s);
        rig.trigger_request()?;
        rig.stage
            .expect_request("after on_subscribe and trigger_request")?;
        rig.send_while_demanded(max);
        if !rig.stage.cancelled(PRIMARY) {
            if error {
                rig.stage.send_error(test_error("whole stream"));
            } else {
                rig.stage.send_complete();
            }
            rig.stage.wait_terminal_delivered();
        }
        rig.finish()?;
    }
    Ok(())
}

fn untested_spec213_blackbox_failing_on_signal_invocation<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    // Every callback is guarded: a whole stream, ending either way, must go through without a
    // callback panicking.
    whole_stream(imp, s, 8)
}

fn untested_spec308_blackbox_request_must_register_given_number_elements_to_be_produced<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    // The stage adds up the requests and delivers exactly that many items (up to 24): the
    // subscriber must accept every item its requests add up to.
    whole_stream(imp, s, 24)
}

fn untested_spec310_blackbox_request_may_synchronously_call_on_next_on_subscriber<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::synchronous(imp, s, 8, SyncEnd::Open);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    if !rig.stage.wait_delivered(1) {
        return Err(rig.env.timeout(
            Some(Rule::R3_10),
            "the synchronous stage delivered no item: the subscriber did not request",
        ));
    }
    rig.finish()
}

fn untested_spec311_blackbox_request_may_synchronously_call_on_complete_or_on_error<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    for end in [SyncEnd::Complete, SyncEnd::Error(test_error("spec311"))] {
        let rig = Rig::synchronous(imp, s, 1, end);
        rig.trigger_request()?;
        rig.stage
            .expect_request("after on_subscribe and trigger_request")?;
        if !rig.stage.wait_terminal_delivered() {
            return Err(rig.env.timeout(
                Some(Rule::R3_11),
                "the synchronous stage never got to its terminal signal: the subscriber did \
                 not request",
            ));
        }
        rig.finish()?;
    }
    Ok(())
}

fn untested_spec314_blackbox_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    let item = rig.element();
    rig.stage.send_next(item)?;
    // The publisher shuts down: it drops the subscriber without a terminal signal.
    rig.stage.drop_subscriber();
    rig.finish()
}

fn untested_spec315_blackbox_cancel_must_not_throw_exception_and_must_signal_on_error<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    after_cancel_test(imp, s, true)
}

fn untested_spec316_blackbox_request_must_not_throw_exception_and_must_on_error_the_subscriber<
    I: SubscriberBlackboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::synchronous(imp, s, 0, SyncEnd::ErrorOnRequest(test_error("spec316")));
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    if !rig.stage.wait_terminal_delivered() {
        return Err(rig.env.timeout(
            Some(Rule::R3_16),
            "the failing request never happened: the subscriber did not request",
        ));
    }
    rig.finish()
}

fn rust_spec309_blackbox_must_not_request_zero<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s);
    rig.trigger_request()?;
    rig.stage
        .expect_request("after on_subscribe and trigger_request")?;
    rig.send_while_demanded(8);
    settle_requests(&rig.stage, &rig.env.settings);
    rig.finish()
}

/// Random legal sequences (seeded, so they repeat): items only within the subscriber's demand,
/// then a completion, an error or nothing. Any panic or rule violation the stage sees fails.
fn rust_spec213_blackbox_random_legal_signal_sequences<I: SubscriberBlackboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rng = Rng::new(0x5EED_B1AC);
    for _ in 0..RANDOM_ROUNDS {
        let mut rig = Rig::setup(imp, s);
        rig.trigger_request()?;
        for _ in 0..=rng.below(RANDOM_STEPS) {
            let item = rig.element();
            if !rig.stage.try_send_next(item, Duration::ZERO) {
                rig.next_index -= 1;
            }
        }
        match rng.below(3) {
            0 => rig.stage.send_complete(),
            1 => rig.stage.send_error(test_error("random sequence")),
            _ => {}
        }
        rig.finish()?;
    }
    Ok(())
}

/// Calls `$callback!($($args)* [every test of the suite])`: the ONE list of the blackbox
/// suite's tests (JVM order, then the Rust-only ones), each `test_name (rule)` or
/// `test_name (rule, settled: why)`. [`cases`], the `subscriber_blackbox_tests!` macro are
/// generated from it, so none can drift.
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_blackbox_list {
    ($cb0:tt $(:: $cb:tt)*, $($args:tt)*) => {
        $cb0 $(:: $cb)* ! {$($args)* [
            required_spec201_blackbox_must_signal_demand_via_subscription_request (Some(Rule::R2_1)),
            untested_spec202_blackbox_should_asynchronously_dispatch (Some(Rule::R2_2)),
            required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_complete (Some(Rule::R2_3)),
            required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_error (Some(Rule::R2_3)),
            untested_spec204_blackbox_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error (Some(Rule::R2_4)),
            required_spec205_blackbox_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal (Some(Rule::R2_5)),
            untested_spec206_blackbox_must_call_subscription_cancel_if_it_is_no_longer_valid (Some(Rule::R2_6)),
            untested_spec207_blackbox_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization (Some(Rule::R2_7)),
            untested_spec208_blackbox_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel (Some(Rule::R2_8)),
            required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call (Some(Rule::R2_9)),
            required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call (Some(Rule::R2_9)),
            required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call (Some(Rule::R2_10)),
            required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call (Some(Rule::R2_10)),
            untested_spec211_blackbox_must_make_sure_that_all_calls_on_its_methods_happen_before_the_processing_of_the_respective_events (Some(Rule::R2_11), settled: $crate::subscriber::SETTLED_2_11),
            untested_spec212_blackbox_must_not_call_on_subscribe_more_than_once_based_on_object_equality (Some(Rule::R2_12), settled: $crate::subscriber::SETTLED_2_12),
            untested_spec213_blackbox_failing_on_signal_invocation (Some(Rule::R2_13)),
            required_spec213_blackbox_on_subscribe_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            required_spec213_blackbox_on_next_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            required_spec213_blackbox_on_error_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            untested_spec301_blackbox_must_not_be_called_outside_subscriber_context (Some(Rule::R3_1), settled: $crate::subscriber::SETTLED_3_1),
            untested_spec308_blackbox_request_must_register_given_number_elements_to_be_produced (Some(Rule::R3_8)),
            untested_spec310_blackbox_request_may_synchronously_call_on_next_on_subscriber (Some(Rule::R3_10)),
            untested_spec311_blackbox_request_may_synchronously_call_on_complete_or_on_error (Some(Rule::R3_11)),
            untested_spec314_blackbox_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists (Some(Rule::R3_14)),
            untested_spec315_blackbox_cancel_must_not_throw_exception_and_must_signal_on_error (Some(Rule::R3_15)),
            untested_spec316_blackbox_request_must_not_throw_exception_and_must_on_error_the_subscriber (Some(Rule::R3_16)),
            rust_spec309_blackbox_must_not_request_zero (Some(Rule::R3_9)),
            rust_spec213_blackbox_random_legal_signal_sequences (Some(Rule::R2_13)),
        ]}
    };
}

/// Every blackbox test: the 26 JVM tests in JVM order, then the Rust-only ones.
pub fn cases<I: SubscriberBlackboxVerification>() -> Vec<TestCase<I>> {
    crate::__rstreams_tck_blackbox_list!(crate::cases_vec, I,)
}

/// Runs the whole blackbox suite against `implementation`.
pub fn run<I: SubscriberBlackboxVerification>(
    implementation_name: impl Into<String>,
    implementation: &I,
    settings: &Settings,
) -> SuiteReport {
    SuiteReport::run(
        implementation_name,
        SUITE,
        implementation,
        &cases::<I>(),
        settings,
    )
}
