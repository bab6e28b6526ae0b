//! Hand-written publishers (no kit) in the shapes real libraries take: each buggy one must be
//! caught by name with the rule it breaks, and the legal mailbox design must pass every
//! required test (see `gallery/handwritten.rs`).

#[path = "gallery/handwritten.rs"]
mod handwritten;

use std::time::Duration;

use handwritten::{JvmAsyncIterableShape, MailboxPublisher, SyncBug, SyncPublisher};
use rstreams_protocol::{BoxPublisher, Publisher, Rule};
use rstreams_tck::outcome::{Outcome, Settings, SuiteReport, is_required};
use rstreams_tck::publisher::{self, PublisherVerification};

struct Verify<F>(F);

impl<P, F> PublisherVerification for Verify<F>
where
    F: Fn(u64) -> P,
    P: Publisher<Item = u64> + Send + Sync + 'static,
{
    type Item = u64;
    type Pub = P;
    fn create_publisher(&self, elements: u64) -> P {
        (self.0)(elements)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        None
    }
}

fn settings() -> Settings {
    let env = Settings::from_env();
    Settings {
        timeout: env.timeout.min(Duration::from_millis(500)),
        no_signal: env.no_signal.min(Duration::from_millis(30)),
        ..env
    }
}

fn failures(report: &SuiteReport) -> Vec<(&'static str, Option<Rule>, String)> {
    report
        .results
        .iter()
        .filter_map(|(name, _, o)| match o {
            Outcome::Failed { rule, message } => Some((*name, *rule, message.clone())),
            _ => None,
        })
        .collect()
}

/// The suite must fail each `(test, rule)` of `expected`, by name and with that rule.
fn caught(report: &SuiteReport, expected: &[(&str, Rule)]) {
    let got = failures(report);
    for (n, r, m) in &got {
        println!("{}: {n} failed {r:?}: {m}", report.implementation);
    }
    for (test, rule) in expected {
        assert!(
            got.iter().any(|(n, r, _)| n == test && *r == Some(*rule)),
            "{}: expected {test} to fail with rule {rule:?}; failures:\n{got:#?}",
            report.implementation
        );
    }
}

#[test]
fn the_jvm_async_iterable_shape_is_caught_with_rule_1_1() {
    let report = publisher::run(
        "JvmAsyncIterableShape",
        &Verify(JvmAsyncIterableShape::new),
        &settings(),
    );
    caught(
        &report,
        &[
            (
                "rust_spec101_large_requests_are_counted_exactly",
                Rule::R1_1,
            ),
            (
                "rust_spec101_requests_of_hundreds_of_thousands_are_counted_exactly",
                Rule::R1_1,
            ),
            (
                "rust_spec101_seeded_random_batches_are_counted_exactly",
                Rule::R1_1,
            ),
        ],
    );
}

#[test]
fn a_miscounted_last_item_of_large_batches_is_caught_with_rule_1_1() {
    let report = publisher::run(
        "SyncPublisher(MiscountLastOfBatch)",
        &Verify(|n| SyncPublisher::new(n, SyncBug::MiscountLastOfBatch)),
        &settings(),
    );
    caught(
        &report,
        &[(
            "rust_spec101_requests_of_hundreds_of_thousands_are_counted_exactly",
            Rule::R1_1,
        )],
    );
}

#[test]
fn a_cancel_checked_every_10_000_items_is_caught_with_rule_3_12() {
    let report = publisher::run(
        "SyncPublisher(StaleCancelCheck)",
        &Verify(|n| SyncPublisher::new(n, SyncBug::StaleCancelCheck)),
        &settings(),
    );
    caught(
        &report,
        &[
            (
                "rust_spec312_cancel_inside_on_next_stops_unbounded_emission",
                Rule::R3_12,
            ),
            (
                "rust_spec312_cancel_from_another_thread_stops_unbounded_emission",
                Rule::R3_12,
            ),
        ],
    );
}

#[test]
fn a_worker_that_holds_its_mailbox_weakly_is_caught_with_rule_1_5() {
    let report = publisher::run(
        "MailboxPublisher(weak)",
        &Verify(MailboxPublisher::holding_the_mailbox_weakly),
        &settings(),
    );
    caught(
        &report,
        &[(
            "rust_spec105_must_signal_on_complete_after_the_subscriber_dropped_its_subscription",
            Rule::R1_5,
        )],
    );
}

#[test]
fn the_mailbox_design_whose_cancel_waits_behind_a_batch_passes_every_required_test() {
    let report = publisher::run(
        "MailboxPublisher",
        &Verify(MailboxPublisher::new),
        &settings(),
    );
    let required: Vec<_> = failures(&report)
        .into_iter()
        .filter(|(n, _, _)| is_required(n))
        .collect();
    assert_eq!(required, vec![], "a legal design failed a required test");
}
