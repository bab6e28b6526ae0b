//! The TCK proves itself, subscriber side: every broken subscriber in the gallery fails the
//! tests of the rule it breaks, naming that rule, and nothing else; the correct ones (the
//! gallery's control and the reference subscribers) pass everything.
//!
//! Where a flaw shows in every test that exercises it (a panic in `on_next`, `request(0)`, a
//! request from `on_complete`), the assertion is that the dedicated test fails and every failure
//! names the flaw's rule; where it belongs to one test, the failing set is exact.

mod gallery_sub;

use std::time::Duration;

use gallery_sub::{Blackbox, BlackboxClaimsAsync, ClaimsAsync, Flaw, TriggeredBlackbox, Whitebox};
use rstreams_protocol::Rule;
use rstreams_tck::outcome::{Outcome, Settings, SuiteReport};
use rstreams_tck::subscriber::reference::builtin::{
    AsyncBlackbox, AsyncWhitebox, SyncBlackbox, SyncWhitebox,
};
use rstreams_tck::subscriber::{blackbox, whitebox};

/// Short waits: the broken subscribers make many tests wait for a signal that never comes.
/// Signals that do come arrive in microseconds, so this is still generous for the passing ones.
fn settings() -> Settings {
    let env = Settings::from_env();
    Settings {
        timeout: env.timeout.min(Duration::from_millis(400)),
        no_signal: env.no_signal.min(Duration::from_millis(40)),
        ..env
    }
}

/// Which rule the failures must name.
enum Expect {
    /// This rule, in every failing test.
    Rule(Rule),
    /// Each failing test's own rule.
    Own,
    /// No rule (a broken whitebox contract, not a spec rule).
    NoRule,
}

/// Asserts that `must_fail` fail (and, when `exact`, nothing else), naming the expected rule.
fn check(report: &SuiteReport, expect: Expect, must_fail: &[&str], exact: bool) {
    let failed: Vec<(&str, Option<Rule>, Option<Rule>, String)> = report
        .results
        .iter()
        .filter_map(|(name, own, o)| match o {
            Outcome::Failed { rule, message } => Some((*name, *own, *rule, message.clone())),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = failed.iter().map(|f| f.0).collect();
    let who = format!("{} under {}", report.implementation, report.suite);
    for name in must_fail {
        assert!(
            names.contains(name),
            "{who}: {name} should fail; failures: {failed:#?}"
        );
    }
    if exact {
        assert_eq!(
            names.len(),
            must_fail.len(),
            "{who}: unexpected failures {failed:#?}"
        );
    }
    for (name, own, rule, message) in &failed {
        let want = match expect {
            Expect::Rule(r) => Some(r),
            Expect::Own => *own,
            Expect::NoRule => None,
        };
        assert_eq!(
            *rule, want,
            "{who}: {name} failed naming the wrong rule: {message}"
        );
    }
}

fn passes(report: &SuiteReport) {
    check(report, Expect::NoRule, &[], true);
}

fn wb(flaw: Flaw) -> SuiteReport {
    whitebox::run(format!("{flaw:?}"), &Whitebox(flaw), &settings())
}

fn bb(flaw: Flaw) -> SuiteReport {
    blackbox::run(format!("{flaw:?}"), &Blackbox(flaw), &settings())
}

/// Both suites over `flaw`, side by side (the waits dominate, not the CPU).
fn both(flaw: Flaw) -> (SuiteReport, SuiteReport) {
    std::thread::scope(|s| {
        let w = s.spawn(move || wb(flaw));
        let b = bb(flaw);
        (w.join().expect("whitebox run panicked"), b)
    })
}

const W_HAPPY: &str = "required_exercise_whitebox_happy_path";
const W_202: &str = "untested_spec202_should_asynchronously_dispatch";
const W_201: &str = "required_spec201_must_signal_demand_via_subscription_request";
const W_203C: &str =
    "required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_complete";
const W_203E: &str =
    "required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_error";
const W_204: &str = "untested_spec204_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error";
const W_205: &str = "required_spec205_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal";
const W_206: &str = "untested_spec206_must_call_subscription_cancel_if_it_is_no_longer_valid";
const W_207: &str = "untested_spec207_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization";
const W_208: &str = "required_spec208_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel";
const W_210: &str =
    "required_spec210_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call";
const W_210W: &str = "required_spec210_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call";
const W_209W: &str = "required_spec209_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call";
const W_213: &str = "untested_spec213_failing_on_signal_invocation";
const W_310: &str = "untested_spec310_request_may_synchronously_call_on_next_on_subscriber";
const W_311: &str = "untested_spec311_request_may_synchronously_call_on_complete_or_on_error";
const W_314: &str =
    "untested_spec314_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists";
const W_315: &str = "untested_spec315_cancel_must_not_throw_exception_and_must_signal_on_error";
const W_R309: &str = "rust_spec309_must_not_request_zero";
const W_R310: &str = "rust_spec310_whole_stream_from_synchronous_source";
const B_202: &str = "untested_spec202_blackbox_should_asynchronously_dispatch";
const B_201: &str = "required_spec201_blackbox_must_signal_demand_via_subscription_request";
const B_203C: &str =
    "required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_complete";
const B_203E: &str =
    "required_spec203_blackbox_must_not_call_methods_on_subscription_or_publisher_in_on_error";
const B_204: &str = "untested_spec204_blackbox_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error";
const B_205: &str = "required_spec205_blackbox_must_call_subscription_cancel_if_it_already_has_an_subscription_and_receives_another_on_subscribe_signal";
const B_206: &str =
    "untested_spec206_blackbox_must_call_subscription_cancel_if_it_is_no_longer_valid";
const B_207: &str = "untested_spec207_blackbox_must_ensure_all_calls_on_its_subscription_take_place_from_the_same_thread_or_take_care_of_synchronization";
const B_208: &str = "untested_spec208_blackbox_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel";
const B_210: &str = "required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_with_preceding_request_call";
const B_210W: &str = "required_spec210_blackbox_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call";
const B_209W: &str = "required_spec209_blackbox_must_be_prepared_to_receive_an_on_complete_signal_without_preceding_request_call";
const B_213: &str = "untested_spec213_blackbox_failing_on_signal_invocation";
const B_R309: &str = "rust_spec309_blackbox_must_not_request_zero";

#[test]
fn reference_subscribers_pass_both_suites() {
    let s = settings();
    let reports = std::thread::scope(|scope| {
        let runs = [
            scope.spawn(|| whitebox::run("SyncSubscriber", &SyncWhitebox, &s)),
            scope.spawn(|| whitebox::run("AsyncSubscriber", &AsyncWhitebox, &s)),
            scope.spawn(|| blackbox::run("SyncSubscriber", &SyncBlackbox, &s)),
            scope.spawn(|| blackbox::run("AsyncSubscriber", &AsyncBlackbox, &s)),
        ];
        runs.map(|r| r.join().expect("suite run panicked"))
    });
    for report in &reports {
        passes(report);
    }
}

#[test]
fn control_without_flaw_passes_both_suites() {
    let (w, b) = both(Flaw::None);
    passes(&w);
    passes(&b);
}

#[test]
fn never_requesting_fails_rule_2_1() {
    let (w, b) = both(Flaw::NeverRequests);
    check(
        &w,
        Expect::Rule(Rule::R2_1),
        &[W_HAPPY, W_201, W_310, W_311],
        false,
    );
    check(&b, Expect::Rule(Rule::R2_1), &[B_201], false);
}

#[test]
fn request_from_on_complete_fails_rule_2_3() {
    let (w, b) = both(Flaw::RequestsInOnComplete);
    check(&w, Expect::Rule(Rule::R2_3), &[W_203C], false);
    assert!(
        !w.failed().contains(&W_203E),
        "on_error is not where the flaw is"
    );
    check(&b, Expect::Rule(Rule::R2_3), &[B_203C], false);
    assert!(
        !b.failed().contains(&B_203E),
        "on_error is not where the flaw is"
    );
}

#[test]
fn cancel_from_on_error_fails_rule_2_3() {
    let (w, b) = both(Flaw::CancelsInOnError);
    check(&w, Expect::Rule(Rule::R2_3), &[W_203E], false);
    assert!(
        !w.failed().contains(&W_203C),
        "on_complete is not where the flaw is"
    );
    check(&b, Expect::Rule(Rule::R2_3), &[B_203E], false);
    assert!(
        !b.failed().contains(&B_203C),
        "on_complete is not where the flaw is"
    );
}

#[test]
fn request_after_terminal_fails_rule_2_4() {
    let (w, b) = both(Flaw::RequestsAfterTerminal);
    check(&w, Expect::Rule(Rule::R2_4), &[W_204], true);
    check(&b, Expect::Rule(Rule::R2_4), &[B_204], true);
}

#[test]
fn keeping_a_second_subscription_fails_rule_2_5() {
    let (w, b) = both(Flaw::KeepsSecondSubscription);
    check(&w, Expect::Rule(Rule::R2_5), &[W_205], true);
    check(&b, Expect::Rule(Rule::R2_5), &[B_205], true);
}

#[test]
fn requesting_on_a_second_subscription_fails_blackbox_rule_2_5() {
    let (w, b) = both(Flaw::RequestsOnSecondSubscription);
    // As on the JVM, the whitebox 2.5 test only asks for the cancel; the blackbox one is strict.
    passes(&w);
    check(&b, Expect::Rule(Rule::R2_5), &[B_205], true);
}

#[test]
fn not_cancelling_when_dropped_fails_rule_2_6() {
    let (w, b) = both(Flaw::NoCancelOnDrop);
    check(&w, Expect::Rule(Rule::R2_6), &[W_206], true);
    check(&b, Expect::Rule(Rule::R2_6), &[B_206], true);
}

#[test]
fn overlapping_requests_fail_rule_2_7() {
    let (w, b) = both(Flaw::OverlappingRequests);
    check(&w, Expect::Rule(Rule::R2_7), &[W_207], false);
    check(&b, Expect::Rule(Rule::R2_7), &[B_207], false);
}

#[test]
fn panicking_on_items_after_cancel_fails_rule_2_8() {
    let (w, b) = both(Flaw::PanicsOnItemAfterCancel);
    // The subscriber panics, so the failure names 2.13 (callbacks must return normally).
    check(&w, Expect::Rule(Rule::R2_13), &[W_208], true);
    check(&b, Expect::Rule(Rule::R2_13), &[B_208], true);
}

#[test]
fn panicking_on_completion_without_items_fails_rule_2_9() {
    let (w, b) = both(Flaw::PanicsOnEmptyCompletion);
    check(&w, Expect::Rule(Rule::R2_13), &[W_209W], false);
    check(&b, Expect::Rule(Rule::R2_13), &[B_209W], false);
}

#[test]
fn panicking_in_on_next_fails_rule_2_13() {
    let (w, b) = both(Flaw::PanicsInOnNext);
    check(&w, Expect::Rule(Rule::R2_13), &[W_213, W_201], false);
    check(&b, Expect::Rule(Rule::R2_13), &[B_213, B_201], false);
}

#[test]
fn requesting_zero_fails_rule_3_9() {
    let (w, b) = both(Flaw::RequestsZero);
    check(&w, Expect::Rule(Rule::R3_9), &[W_R309], false);
    check(&b, Expect::Rule(Rule::R3_9), &[B_R309], false);
}

#[test]
fn lock_held_across_request_deadlocks_with_a_synchronous_source() {
    // Rules 3.10/3.11 allow delivery from inside request: a subscriber holding a lock across
    // request that on_next also takes deadlocks; the watchdog reports it instead of hanging.
    check(
        &wb(Flaw::LockAcrossRequest),
        Expect::Own,
        &[W_310, W_311, W_R310],
        true,
    );
}

#[test]
fn puppet_ignoring_cancel_fails_the_cancel_tests() {
    check(
        &wb(Flaw::IgnoresCancelSignal),
        Expect::NoRule,
        &[W_HAPPY, W_208, W_314, W_315],
        true,
    );
}

#[test]
fn forgetting_register_on_subscribe_fails_every_test_clearly() {
    // Every test fails waiting for the puppet, so short waits lose nothing here.
    let quick = Settings {
        timeout: Duration::from_millis(100),
        no_signal: Duration::from_millis(10),
        ..Settings::from_env()
    };
    let report = whitebox::run(
        "ForgetsToRegister",
        &Whitebox(Flaw::ForgetsToRegister),
        &quick,
    );
    let mut ran = 0;
    for (name, _, outcome) in &report.results {
        match outcome {
            Outcome::Failed { rule, message } => {
                ran += 1;
                assert_eq!(*rule, None, "{name}: {message}");
                assert!(
                    message.contains("register_on_subscribe"),
                    "{name}: {message}"
                );
            }
            Outcome::Passed => panic!("{name} passed without a puppet"),
            Outcome::SettledByTypes(_) | Outcome::Skipped { .. } => {}
        }
    }
    assert!(ran >= 20, "only {ran} tests failed");
}

#[test]
fn a_subscriber_that_waits_for_an_outside_trigger_needs_the_hook() {
    // With the hook it is correct (JVM issue #233); without, it never requests: rule 2.1.
    passes(&blackbox::run(
        "Triggered",
        &TriggeredBlackbox(true),
        &settings(),
    ));
    check(
        &blackbox::run(
            "Triggered without hook",
            &TriggeredBlackbox(false),
            &settings(),
        ),
        Expect::Rule(Rule::R2_1),
        &[B_201],
        false,
    );
}

#[test]
fn claiming_asynchronous_processing_without_it_fails_rule_2_2() {
    check(
        &whitebox::run("ClaimsAsync", &ClaimsAsync, &settings()),
        Expect::Rule(Rule::R2_2),
        &[W_202],
        true,
    );
    check(
        &blackbox::run("ClaimsAsync", &BlackboxClaimsAsync, &settings()),
        Expect::Rule(Rule::R2_2),
        &[B_202],
        true,
    );
}

#[test]
fn generated_tests_fail_naming_the_rule_and_skip_with_a_reason() {
    use rstreams_tck::run_named_case;
    let broken = Whitebox(Flaw::KeepsSecondSubscription);
    let cases = whitebox::cases::<Whitebox>();
    let failure = run_named_case(&broken, &cases, W_205).unwrap_err();
    assert!(failure.contains("rule 2.5"), "{failure}");
    let note = run_named_case(&broken, &cases, W_202).unwrap().unwrap();
    assert!(note.contains("SKIPPED"), "{note}");
    assert_eq!(run_named_case(&broken, &cases, W_201), Ok(None));
    assert!(run_named_case(&broken, &cases, "no_such_test").is_err());
}

#[test]
fn panicking_in_on_error_fails_rule_2_10() {
    let (w, b) = both(Flaw::PanicsInOnError);
    check(&w, Expect::Rule(Rule::R2_13), &[W_210, W_210W], false);
    check(&b, Expect::Rule(Rule::R2_13), &[B_210, B_210W], false);
}
