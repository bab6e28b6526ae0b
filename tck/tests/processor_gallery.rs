//! The processor suite proves itself: a correct broadcast processor (two or more subscribers,
//! coordinated emission) passes everything, including the two-subscriber tests; each broken
//! variant fails exactly the listed tests with the listed rule.

#[path = "gallery/broadcast.rs"]
mod broadcast;

use std::time::Duration;

use broadcast::{Broadcast, BroadcastInput, ProcFault};
use rstreams_protocol::{BoxPublisher, Publisher, Rule};
use rstreams_tck::helpers::SyncHelperPublisher;
use rstreams_tck::outcome::{Outcome, Settings, SuiteReport};
use rstreams_tck::processor::{self, IdentityProcessorVerification};

struct BroadcastTck(ProcFault);

/// The same processor with uncoordinated emission: each subscriber is served as it asks, and
/// items are held for the others.
struct UncoordinatedTck;

impl IdentityProcessorVerification for UncoordinatedTck {
    type Item = u64;
    type Input = BroadcastInput<u64>;
    type Output = Broadcast<u64>;
    fn create_identity_processor(&self, _buffer: usize) -> (Self::Input, Self::Output) {
        let p = Broadcast::new(ProcFault::None, false);
        (p.input(), p)
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
        SyncHelperPublisher::new(elements, |i| i).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        let p = Broadcast::new(ProcFault::None, false);
        rstreams_tck::helpers::FailedPublisher::<u64>::new("upstream failed").subscribe(p.input());
        Some(p.boxed())
    }
}

impl IdentityProcessorVerification for BroadcastTck {
    type Item = u64;
    type Input = BroadcastInput<u64>;
    type Output = Broadcast<u64>;
    fn create_identity_processor(&self, _buffer: usize) -> (Self::Input, Self::Output) {
        let p = Broadcast::new(self.0, true);
        (p.input(), p)
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
        SyncHelperPublisher::new(elements, |i| i).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        let p = Broadcast::new(self.0, true);
        rstreams_tck::helpers::FailedPublisher::<u64>::new("upstream failed").subscribe(p.input());
        Some(p.boxed())
    }
    fn does_coordinated_emission(&self) -> bool {
        true
    }
}

fn settings() -> Settings {
    let env = Settings::from_env();
    Settings {
        timeout: env.timeout.min(Duration::from_millis(250)),
        no_signal: env.no_signal.min(Duration::from_millis(30)),
        ..env
    }
}

fn failures(report: &SuiteReport) -> Vec<(&'static str, Option<Rule>)> {
    report
        .results
        .iter()
        .filter_map(|(name, _, outcome)| match outcome {
            Outcome::Failed { rule, .. } => Some((*name, *rule)),
            _ => None,
        })
        .collect()
}

fn check(fault: ProcFault, expected: &[(&str, Option<Rule>)]) {
    let report = processor::run(format!("{fault:?}"), &BroadcastTck(fault), &settings());
    let mut got = failures(&report);
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want, "{fault:?}: {:#?}", report.results);
}

/// Skipped for a live processor whose subscribers joining at different times see different
/// items, and the advisory rule 2.2 test.
const DOCUMENTED_SKIPS: &[&str] = &[
    "optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_one_by_one",
    "optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront",
    "optional_spec111_multicast_must_produce_the_same_elements_in_the_same_sequence_to_all_of_its_subscribers_when_requesting_many_upfront_and_complete_as_expected",
    "untested_spec202_should_asynchronously_dispatch",
];

#[test]
fn a_correct_broadcast_processor_passes_everything_including_the_two_subscriber_tests() {
    let report = processor::run("Broadcast", &BroadcastTck(ProcFault::None), &settings());
    assert_eq!(failures(&report), vec![]);
    for (name, _, outcome) in &report.results {
        if let Outcome::Skipped { reason } = outcome {
            assert!(DOCUMENTED_SKIPS.contains(name), "{name} skipped: {reason}");
        }
    }
    assert_eq!(
        report.results.len(),
        processor::cases::<BroadcastTck>().len()
    );
}

#[test]
fn an_uncoordinated_broadcast_processor_passes_everything_too() {
    let report = processor::run("Broadcast(uncoordinated)", &UncoordinatedTck, &settings());
    assert_eq!(failures(&report), vec![]);
    for (name, _, outcome) in &report.results {
        if let Outcome::Skipped { reason } = outcome {
            assert!(DOCUMENTED_SKIPS.contains(name), "{name} skipped: {reason}");
        }
    }
}

/// 4.2: the upstream error waits for downstream demand.
#[test]
fn error_waits_for_demand() {
    check(
        ProcFault::ErrorWaitsForDemand,
        &[
            (
                "optional_spec104_must_signal_on_error_when_fails",
                Some(Rule::R1_4),
            ),
            (
                "untested_spec106_must_consider_subscription_cancelled_after_on_error_or_on_complete_has_been_called",
                Some(Rule::R1_6),
            ),
            (
                "untested_spec107_must_not_emit_further_signals_once_on_error_has_been_signalled",
                Some(Rule::R1_4),
            ),
            (
                "required_spec109_may_reject_calls_to_subscribe_if_publisher_is_unable_or_unwilling_to_serve_them_rejection_must_trigger_on_error_after_on_subscribe",
                Some(Rule::R1_9),
            ),
            (
                "required_spec203_must_not_call_methods_on_subscription_or_publisher_in_on_error",
                None,
            ),
            (
                "untested_spec204_must_consider_the_subscription_as_cancelled_in_after_recieving_on_complete_or_on_error",
                Some(Rule::R2_4),
            ),
            (
                "required_spec210_must_be_prepared_to_receive_an_on_error_signal_without_preceding_request_call",
                Some(Rule::R2_10),
            ),
            (
                "untested_spec213_failing_on_signal_invocation",
                Some(Rule::R2_13),
            ),
            (
                "must_immediately_pass_on_on_error_events_received_from_its_upstream_to_its_downstream",
                Some(Rule::R4_2),
            ),
        ],
    );
}

/// 1.4: an upstream error reaches only the first subscriber; the others are completed.
#[test]
fn error_to_first_subscriber_only() {
    check(
        ProcFault::ErrorToFirstSubscriberOnly,
        &[(
            "required_spec104_must_call_on_error_on_all_its_subscribers_if_it_encounters_a_non_recoverable_error",
            Some(Rule::R1_4),
        )],
    );
}

/// Downstream cancel never reaches upstream.
#[test]
fn no_upstream_cancel() {
    check(
        ProcFault::NoUpstreamCancel,
        &[
            ("required_exercise_whitebox_happy_path", None),
            (
                "required_spec208_must_be_prepared_to_receive_on_next_signals_after_having_called_subscription_cancel",
                None,
            ),
            (
                "untested_spec314_cancel_may_cause_the_publisher_to_shutdown_if_no_other_subscription_exists",
                None,
            ),
            (
                "untested_spec315_cancel_must_not_throw_exception_and_must_signal_on_error",
                None,
            ),
        ],
    );
}
