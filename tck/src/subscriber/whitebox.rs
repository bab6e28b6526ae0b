//! SubscriberWhiteboxVerification: the subscriber under test reports what it receives through a
//! [`WhiteboxProbe`] and hands the TCK a [`SubscriberPuppet`], so the TCK can make it request and
//! cancel and can check what it processed.
//!
//! All 27 JVM tests keep their JVM names (in snake_case); the JVM's `untested_` placeholders are
//! real tests here where Rust allows it (see each test's docs in the report), and settled by
//! Rust's types where the type system rules the violation out.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rstreams_protocol::{Rule, Subscriber};

use super::env::Env;
use super::probe::{SubscriberPuppet, WhiteboxProbe};
use super::stage::{PRIMARY, SECOND, Stage, StageConfig, SyncEnd};
use super::{RANDOM_ROUNDS, RANDOM_STEPS, Rng, settle_requests, test_error};
use crate::outcome::{Settings, SuiteReport, TestCase, TestFailure, TestResult};

/// The suite's name in reports.
pub const SUITE: &str = "SubscriberWhiteboxVerification";

/// What a whitebox-verified subscriber provides.
///
/// The subscriber must call [`WhiteboxProbe::register_on_subscribe`] from `on_subscribe` with a
/// puppet, and `register_on_next`/`register_on_error`/`register_on_complete` when it processes
/// the matching signals. [`WhiteboxProbe::wrap`] does all of this for any subscriber whose items
/// are `Clone`.
///
/// A processor is verified as a subscriber through this trait too: `create_subscriber` returns
/// the processor's subscriber side, wired so that the puppet's `trigger_request` leads to an
/// upstream request and the items it forwards are registered.
pub trait SubscriberWhiteboxVerification {
    /// The item type. Equality is how the TCK checks that an item arrived intact.
    type Item: Send + PartialEq + fmt::Debug + 'static;

    /// A fresh subscriber wired to `probe`.
    fn create_subscriber(
        &self,
        probe: WhiteboxProbe<Self::Item>,
    ) -> Box<dyn Subscriber<Self::Item> + Send>;

    /// The `i`-th test item; equal `i` must give equal items.
    fn create_element(&self, i: u64) -> Self::Item;

    /// Whether the subscriber cancels its subscription when it is dropped while the subscription
    /// is still active (the rule 2.6 test). Default `true`: a dropped subscriber can no longer
    /// use its subscription, so rule 2.6 asks it to cancel (implement `Drop`). Return `false` to
    /// skip that test with a reason in the report.
    fn cancels_when_dropped(&self) -> bool {
        true
    }

    /// Whether the subscriber hands signals off to be processed elsewhere (rule 2.2) and
    /// registers them with the probe where it processes them. Default `false`: the 2.2 test is
    /// skipped (the rule only recommends it); `true` makes the test check it.
    fn processes_asynchronously(&self) -> bool {
        false
    }
}

/// One test's world: the stage upstream, the probe, and the subscriber's puppet.
struct Rig<'a, I: SubscriberWhiteboxVerification + ?Sized> {
    imp: &'a I,
    env: Arc<Env>,
    stage: Stage<I::Item>,
    probe: WhiteboxProbe<I::Item>,
    puppet: Option<Arc<dyn SubscriberPuppet>>,
    next_index: u64,
}

impl<'a, I: SubscriberWhiteboxVerification + ?Sized> Rig<'a, I> {
    /// A subscriber and its stage; nothing signalled yet.
    fn new(imp: &'a I, settings: &Settings, sync: Option<(Vec<I::Item>, SyncEnd)>) -> Self {
        let env = Env::new(settings);
        let seen = Arc::new(AtomicBool::new(false));
        let probe = WhiteboxProbe::new(Arc::clone(&env), Arc::clone(&seen));
        let subscriber = imp.create_subscriber(probe.clone());
        let stage = Stage::new(
            Arc::clone(&env),
            Box::new(subscriber),
            StageConfig {
                sync,
                terminal_seen: Some(seen),
                ..StageConfig::default()
            },
        );
        Rig {
            imp,
            env,
            stage,
            probe,
            puppet: None,
            next_index: 0,
        }
    }

    /// `on_subscribe`, then the puppet must be registered.
    fn subscribe(&mut self) -> TestResult {
        self.stage.subscribe();
        self.puppet = Some(self.probe.expect_puppet()?);
        self.env.verify()
    }

    /// The JVM "with setup" start.
    fn setup(imp: &'a I, settings: &Settings) -> Result<Self, TestFailure> {
        let mut rig = Rig::new(imp, settings, None);
        rig.subscribe()?;
        Ok(rig)
    }

    /// A rig over a synchronous stage emitting `count` items then `end`, subscribed.
    fn synchronous(
        imp: &'a I,
        settings: &Settings,
        count: u64,
        end: SyncEnd,
    ) -> Result<Self, TestFailure> {
        let items = (0..count).map(|i| imp.create_element(i)).collect();
        let mut rig = Rig::new(imp, settings, Some((items, end)));
        rig.subscribe()?;
        Ok(rig)
    }

    fn puppet(&self) -> Arc<dyn SubscriberPuppet> {
        Arc::clone(
            self.puppet
                .as_ref()
                .expect("subscribe() registered the puppet"),
        )
    }

    /// `puppet.trigger_request(n)` on a watchdog thread; `rule` is blamed for a deadlock.
    fn trigger_request_for(&self, n: u64, rule: Option<Rule>) -> TestResult {
        let puppet = self.puppet();
        self.env
            .call_guarded(rule, &format!("trigger_request({n})"), true, move || {
                puppet.trigger_request(n)
            })
    }

    fn trigger_request(&self, n: u64) -> TestResult {
        self.trigger_request_for(n, None)
    }

    fn signal_cancel(&self) -> TestResult {
        let puppet = self.puppet();
        self.env
            .call_guarded(None, "signal_cancel()", true, move || {
                puppet.signal_cancel()
            })
    }

    /// Sends the next test item once there is demand; the probe must then report it intact.
    fn signal_next(&mut self, rule: Option<Rule>) -> TestResult {
        let i = self.next_index;
        self.next_index += 1;
        self.stage.send_next(self.imp.create_element(i))?;
        self.expect_item(i, rule)
    }

    fn expect_item(&self, i: u64, rule: Option<Rule>) -> TestResult {
        let got = self.probe.expect_next(rule)?;
        let want = self.imp.create_element(i);
        if got != want {
            return Err(TestFailure::Failed {
                rule,
                message: format!("the subscriber registered {got:?}, the TCK sent {want:?}"),
            });
        }
        Ok(())
    }

    /// The JVM's "no errors, also after a quiet period" ending.
    fn finish(&self) -> TestResult {
        self.env.verify_after_quiet()
    }
}

pub(crate) fn required_exercise_whitebox_happy_path<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.trigger_request(1)?;
    rig.stage.expect_request("after trigger_request(1)")?;
    rig.signal_next(None)?;
    rig.trigger_request(1)?;
    rig.signal_next(None)?;
    rig.signal_cancel()?;
    rig.stage
        .expect_cancel(PRIMARY, None, "after signal_cancel()")?;
    rig.finish()
}

pub(crate) fn required_spec201_must_signal_demand_via_subscription_request<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.stage.expect_request("after trigger_request(1)")?;
    rig.signal_next(Some(Rule::R2_1))?;
    rig.finish()
}

pub(crate) fn untested_spec202_should_asynchronously_dispatch<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    if !imp.processes_asynchronously() {
        return Err(TestFailure::skip(
            "the subscriber processes signals on the publisher's thread; rule 2.2 only \
             recommends handing them off (declare processes_asynchronously to check it)",
        ));
    }
    // The TCK delivers on this thread; a subscriber that hands signals off processes (and
    // registers) them on another one.
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(2)?;
    rig.signal_next(Some(Rule::R2_2))?;
    rig.signal_next(Some(Rule::R2_2))?;
    let here = std::thread::current().id();
    if rig.probe.item_threads().contains(&here) {
        return Err(TestFailure::rule(
            Rule::R2_2,
            "the subscriber says it processes asynchronously, but it registered an item on the \
             thread that delivered it",
        ));
    }
    rig.finish()
}

fn terminal_callback_test<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
    error: bool,
) -> TestResult {
    let mut rig = Rig::new(imp, s, None);
    rig.subscribe()?;
    if error {
        rig.stage.send_error(test_error("spec203"));
        rig.probe.expect_error(None)?;
    } else {
        rig.stage.send_complete();
        rig.probe.expect_complete(None)?;
    }
    rig.finish()
}

pub(crate) fn required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_complete<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    terminal_callback_test(imp, s, false)
}

pub(crate) fn required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_error<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    terminal_callback_test(imp, s, true)
}

pub(crate) fn untested_spec204_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    for error in [false, true] {
        let mut rig = Rig::setup(imp, s)?;
        rig.trigger_request(1)?;
        rig.stage.expect_request("after trigger_request(1)")?;
        rig.signal_next(None)?;
        // Let requests already in flight land before the terminal signal.
        settle_requests(&rig.stage, &rig.env.settings);
        rig.stage.check_after_terminal();
        if error {
            rig.stage.send_error(test_error("spec204"));
            rig.probe.expect_error(Some(Rule::R2_4))?;
        } else {
            rig.stage.send_complete();
            rig.probe.expect_complete(Some(Rule::R2_4))?;
        }
        rig.finish()?;
    }
    Ok(())
}

pub(crate) fn required_spec205_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::setup(imp, s)?;
    rig.stage.subscribe_second();
    rig.stage
        .expect_cancel(SECOND, Some(Rule::R2_5), "of the second subscription")?;
    rig.finish()
}

pub(crate) fn untested_spec206_must_call_subscription_cancel_if_it_is_no_longer_valid<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    if !imp.cancels_when_dropped() {
        return Err(TestFailure::skip(
            "the verification says the subscriber does not cancel when dropped",
        ));
    }
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.stage.expect_request("after trigger_request(1)")?;
    rig.signal_next(None)?;
    // Nobody can use the subscription once the subscriber is gone: it is no longer needed.
    rig.stage.drop_subscriber();
    rig.stage.expect_cancel(
        PRIMARY,
        Some(Rule::R2_6),
        "after the subscriber was dropped with its subscription still active",
    )?;
    rig.finish()
}

pub(crate) fn untested_spec207_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.stage.widen_calls();
    rig.trigger_request(8)?;
    for _ in 0..8 {
        rig.signal_next(None)?;
    }
    settle_requests(&rig.stage, &rig.env.settings);
    rig.stage.send_complete();
    rig.probe.expect_complete(None)?;
    rig.finish()
}

pub(crate) fn required_spec208_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.stage.expect_request("after trigger_request(1)")?;
    rig.signal_cancel()?;
    rig.stage
        .expect_cancel(PRIMARY, None, "after signal_cancel()")?;
    // An item already in flight when the subscriber cancelled.
    let item = rig.imp.create_element(rig.next_index);
    rig.next_index += 1;
    rig.stage.send_next_in_flight(item);
    rig.trigger_request(1)?;
    rig.trigger_request(1)?;
    rig.finish()
}

pub(crate) fn required_spec209_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.stage.send_complete();
    rig.probe.expect_complete(Some(Rule::R2_9))?;
    rig.finish()
}

pub(crate) fn required_spec209_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::setup(imp, s)?;
    rig.stage.send_complete();
    rig.probe.expect_complete(Some(Rule::R2_9))?;
    rig.finish()
}

fn error_test<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
    request_first: bool,
) -> TestResult {
    let rig = Rig::setup(imp, s)?;
    if request_first {
        rig.trigger_request(1)?;
        rig.trigger_request(1)?;
    }
    let sent = test_error("spec210");
    rig.stage.send_error(sent.clone());
    let got = rig.probe.expect_error(Some(Rule::R2_10))?;
    if got.to_string() != sent.to_string() {
        return Err(TestFailure::rule(
            Rule::R2_10,
            format!("the subscriber registered the error `{got}`, the TCK sent `{sent}`"),
        ));
    }
    rig.finish()
}

pub(crate) fn required_spec210_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    error_test(imp, s, true)
}

pub(crate) fn required_spec210_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    error_test(imp, s, false)
}

pub(crate) fn untested_spec213_failing_on_signal_invocation<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    // Every call into the subscriber is guarded; a whole stream of each kind must go through
    // without a callback panicking.
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(3)?;
    for _ in 0..3 {
        rig.signal_next(Some(Rule::R2_13))?;
    }
    rig.stage.send_complete();
    rig.probe.expect_complete(Some(Rule::R2_13))?;
    rig.finish()?;

    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.signal_next(Some(Rule::R2_13))?;
    rig.stage.send_error(test_error("spec213"));
    rig.probe.expect_error(Some(Rule::R2_13))?;
    rig.finish()
}

pub(crate) fn required_spec308_request_must_register_given_number_elements_to_be_produced<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(2)?;
    rig.stage.expect_request("after trigger_request(2)")?;
    rig.signal_next(Some(Rule::R3_8))?;
    rig.signal_next(Some(Rule::R3_8))?;
    rig.probe.expect_none(Some(Rule::R3_8))?;
    rig.trigger_request(3)?;
    rig.finish()
}

pub(crate) fn untested_spec310_request_may_synchronously_call_on_next_on_subscriber<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::synchronous(imp, s, 3, SyncEnd::Open)?;
    rig.trigger_request_for(3, Some(Rule::R3_10))?;
    rig.stage.expect_request("after trigger_request(3)")?;
    for i in 0..3 {
        rig.expect_item(i, Some(Rule::R3_10))?;
    }
    rig.finish()
}

pub(crate) fn untested_spec311_request_may_synchronously_call_on_complete_or_on_error<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let rig = Rig::synchronous(imp, s, 2, SyncEnd::Complete)?;
    rig.trigger_request_for(2, Some(Rule::R3_11))?;
    rig.stage.expect_request("after trigger_request(2)")?;
    rig.expect_item(0, Some(Rule::R3_11))?;
    rig.expect_item(1, Some(Rule::R3_11))?;
    rig.probe.expect_complete(Some(Rule::R3_11))?;
    rig.finish()?;

    let rig = Rig::synchronous(imp, s, 1, SyncEnd::Error(test_error("spec311")))?;
    rig.trigger_request_for(2, Some(Rule::R3_11))?;
    rig.stage.expect_request("after trigger_request(2)")?;
    rig.expect_item(0, Some(Rule::R3_11))?;
    rig.probe.expect_error(Some(Rule::R3_11))?;
    rig.finish()
}

pub(crate) fn untested_spec314_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.signal_next(None)?;
    rig.signal_cancel()?;
    rig.stage
        .expect_cancel(PRIMARY, None, "after signal_cancel()")?;
    // The publisher shuts down: it drops the subscriber without a terminal signal; later calls
    // on the dead subscription must still return normally.
    rig.stage.drop_subscriber();
    rig.trigger_request(1)?;
    rig.finish()
}

pub(crate) fn untested_spec315_cancel_must_not_throw_exception_and_must_signal_on_error<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(1)?;
    rig.signal_next(None)?;
    rig.signal_cancel()?;
    rig.stage
        .expect_cancel(PRIMARY, None, "after signal_cancel()")?;
    // A publisher whose cancel failed reports it with on_error instead of throwing.
    rig.stage.send_error(test_error("spec315"));
    rig.stage.wait_terminal_delivered();
    rig.finish()
}

pub(crate) fn untested_spec316_request_must_not_throw_exception_and_must_on_error_the_subscriber<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    // A request that fails is answered with on_error, from inside the request call.
    let rig = Rig::synchronous(imp, s, 0, SyncEnd::ErrorOnRequest(test_error("spec316")))?;
    rig.trigger_request_for(1, Some(Rule::R3_16))?;
    rig.stage.expect_request("after trigger_request(1)")?;
    rig.probe.expect_error(Some(Rule::R3_16))?;
    rig.finish()
}

pub(crate) fn rust_spec309_must_not_request_zero<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rig = Rig::setup(imp, s)?;
    rig.trigger_request(4)?;
    for _ in 0..4 {
        rig.signal_next(Some(Rule::R3_9))?;
    }
    settle_requests(&rig.stage, &rig.env.settings);
    rig.stage.send_complete();
    rig.probe.expect_complete(Some(Rule::R3_9))?;
    rig.finish()
}

pub(crate) fn rust_spec310_whole_stream_from_synchronous_source<
    I: SubscriberWhiteboxVerification,
>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    const N: u64 = 20;
    let rig = Rig::synchronous(imp, s, N, SyncEnd::Complete)?;
    rig.trigger_request_for(N, Some(Rule::R3_10))?;
    rig.stage.expect_request("after trigger_request")?;
    for i in 0..N {
        rig.expect_item(i, Some(Rule::R3_10))?;
    }
    rig.probe.expect_complete(Some(Rule::R3_10))?;
    rig.finish()
}

/// Random legal sequences (seeded, so they repeat): requests through the puppet, items only
/// within demand, a cancel now and then, and a completion, an error or nothing at the end. Any
/// panic or rule violation the stage sees fails the test.
pub(crate) fn rust_spec213_random_legal_signal_sequences<I: SubscriberWhiteboxVerification>(
    imp: &I,
    s: &Settings,
) -> TestResult {
    let mut rng = Rng::new(0x5EED_2013);
    for _ in 0..RANDOM_ROUNDS {
        let mut rig = Rig::setup(imp, s)?;
        let mut cancelled = false;
        for _ in 0..=rng.below(RANDOM_STEPS) {
            match rng.below(8) {
                0..=2 => rig.trigger_request(1 + rng.below(3))?,
                3..=6 => {
                    let item = rig.imp.create_element(rig.next_index);
                    if rig.stage.try_send_next(item, Duration::ZERO) {
                        rig.next_index += 1;
                    }
                }
                _ if !cancelled => {
                    rig.signal_cancel()?;
                    cancelled = true;
                }
                _ => {}
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

/// Calls `$callback!($($args)* [every test of the suite])`: the ONE list of the whitebox
/// suite's tests (JVM order, then the Rust-only ones), each `test_name (rule)` or
/// `test_name (rule, settled: why)`. [`cases`], the `subscriber_whitebox_tests!` macro and the processor suite are
/// generated from it, so none can drift.
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_whitebox_list {
    ($cb0:tt $(:: $cb:tt)*, $($args:tt)*) => {
        $cb0 $(:: $cb)* ! {$($args)* [
            required_exercise_whitebox_happy_path (None),
            required_spec201_must_signal_demand_via_subscription_request (Some(Rule::R2_1)),
            untested_spec202_should_asynchronously_dispatch (Some(Rule::R2_2)),
            required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_complete (Some(Rule::R2_3)),
            required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_error (Some(Rule::R2_3)),
            untested_spec204_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error (Some(Rule::R2_4)),
            required_spec205_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal (Some(Rule::R2_5)),
            untested_spec206_must_call_subscription_cancel_if_it_is_no_longer_valid (Some(Rule::R2_6)),
            untested_spec207_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization (Some(Rule::R2_7)),
            required_spec208_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel (Some(Rule::R2_8)),
            required_spec209_must_be_prepared_to_receive_an_on_complete_signal_with_preceding_request_call (Some(Rule::R2_9)),
            required_spec209_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call (Some(Rule::R2_9)),
            required_spec210_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call (Some(Rule::R2_10)),
            required_spec210_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call (Some(Rule::R2_10)),
            untested_spec211_must_make_sure_that_all_calls_on_its_methods_happen_before_the_processing_of_the_respective_events (Some(Rule::R2_11), settled: $crate::subscriber::SETTLED_2_11),
            untested_spec212_must_not_call_on_subscribe_more_than_once_based_on_object_equality_spec_violation (Some(Rule::R2_12), settled: $crate::subscriber::SETTLED_2_12),
            untested_spec213_failing_on_signal_invocation (Some(Rule::R2_13)),
            required_spec213_on_subscribe_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            required_spec213_on_next_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            required_spec213_on_error_must_throw_null_pointer_exception_when_parameters_are_null (Some(Rule::R2_13), settled: $crate::subscriber::SETTLED_NULL),
            untested_spec301_must_not_be_called_outside_subscriber_context (Some(Rule::R3_1), settled: $crate::subscriber::SETTLED_3_1),
            required_spec308_request_must_register_given_number_elements_to_be_produced (Some(Rule::R3_8)),
            untested_spec310_request_may_synchronously_call_on_next_on_subscriber (Some(Rule::R3_10)),
            untested_spec311_request_may_synchronously_call_on_complete_or_on_error (Some(Rule::R3_11)),
            untested_spec314_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists (Some(Rule::R3_14)),
            untested_spec315_cancel_must_not_throw_exception_and_must_signal_on_error (Some(Rule::R3_15)),
            untested_spec316_request_must_not_throw_exception_and_must_on_error_the_subscriber (Some(Rule::R3_16)),
            rust_spec309_must_not_request_zero (Some(Rule::R3_9)),
            rust_spec310_whole_stream_from_synchronous_source (Some(Rule::R3_10)),
            rust_spec213_random_legal_signal_sequences (Some(Rule::R2_13)),
        ]}
    };
}

/// Every whitebox test: the 27 JVM tests in JVM order, then the Rust-only ones.
pub fn cases<I: SubscriberWhiteboxVerification>() -> Vec<TestCase<I>> {
    crate::__rstreams_tck_whitebox_list!(crate::cases_vec, I,)
}

/// Runs the whole whitebox suite against `implementation`.
pub fn run<I: SubscriberWhiteboxVerification>(
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
