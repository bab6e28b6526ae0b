//! on_error_return, switch_if_empty, default_if_empty, start_with and timer (issue 15, item 9).

mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use support::Tracker;
use support::recorder;

fn failing_after(n: u64) -> BoxPublisher<u64> {
    rstreams::concat([
        rstreams::range(0, n).boxed(),
        rstreams::error::<u64>(Error::msg("boom")).boxed(),
    ])
    .boxed()
}

use rstreams::BoxPublisher;

#[test]
fn on_error_return_replaces_the_error_with_the_value_on_demand() {
    let (rec, probe) = recorder(2);
    failing_after(2).on_error_return(9).subscribe(rec);
    assert_eq!(probe.items(), vec![0, 1]);
    assert!(!probe.terminated(), "the value waits for demand");
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 1, 9]);
    assert!(probe.completed());
}

#[test]
fn on_error_return_does_not_hide_a_rule_3_9_request() {
    let (rec, probe) = recorder(0);
    rstreams::range(0, 3).on_error_return(9).subscribe(rec);
    probe.request(0);
    assert_eq!(
        probe.error().and_then(|e| e.rule()),
        Some(rstreams::Rule::R3_9)
    );
}

#[test]
fn switch_if_empty_subscribes_other_only_when_empty_with_the_demand_left() {
    let other = Tracker::new();
    let (rec, probe) = recorder(5);
    rstreams::empty::<u64>()
        .switch_if_empty(other.wrap(rstreams::range(10, 100)))
        .subscribe(rec);
    assert_eq!(probe.items(), vec![10, 11, 12, 13, 14]);
    assert_eq!(other.requested(), 5, "exactly the demand left");
    probe.cancel();
    assert!(other.all_released());

    let other = Tracker::new();
    let v = rstreams::range(0, 2)
        .switch_if_empty(other.wrap(rstreams::range(10, 2)))
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![0, 1]));
    assert_eq!(other.subscribed(), 0);
}

#[test]
fn switch_if_empty_passes_errors_without_subscribing_other() {
    let other = Tracker::new();
    let e = rstreams::error::<u64>(Error::msg("e"))
        .switch_if_empty(other.wrap(rstreams::just(1u64)))
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains('e'));
    assert_eq!(other.subscribed(), 0);
}

#[test]
fn start_with_prefix_then_upstream_exact_demand() {
    let up = Tracker::new();
    let (rec, probe) = recorder(3);
    up.wrap(rstreams::range(10, 5))
        .start_with([1, 2])
        .subscribe(rec);
    assert_eq!(probe.items(), vec![1, 2, 10]);
    assert_eq!(up.requested(), 1, "the upstream gets only what is left");
    probe.request(10);
    assert_eq!(probe.items(), vec![1, 2, 10, 11, 12, 13, 14]);
    assert!(probe.completed());
    assert!(up.all_released());
}

#[test]
fn cancel_during_the_prefix_never_subscribes_the_upstream() {
    let up = Tracker::new();
    let (rec, probe) = recorder(1);
    up.wrap(rstreams::range(0, 5))
        .start_with([7, 8])
        .subscribe(rec);
    probe.cancel();
    assert_eq!(probe.items(), vec![7]);
    assert_eq!(up.subscribed(), 0);
}

#[test]
fn cancel_releases_the_running_upstream() {
    for which in 0..3 {
        let up = Tracker::new();
        let (rec, probe) = recorder(1);
        let src = up.wrap(rstreams::range(0, 5));
        match which {
            0 => src.on_error_return(1).subscribe(rec),
            1 => src.default_if_empty(1).subscribe(rec),
            _ => src.start_with(Vec::<u64>::new()).subscribe(rec),
        }
        probe.cancel();
        assert_eq!(up.cancelled(), 1, "case {which}");
        assert!(up.all_released(), "case {which}");
    }
}

fn manual() -> (ManualExecutor, Arc<dyn Scheduler>) {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    (exec, sched)
}

#[test]
fn timer_fires_after_the_delay_and_waits_for_demand() {
    let (exec, sched) = manual();
    let (rec, probe) = recorder(0);
    rstreams::timer(Duration::from_secs(3), sched).subscribe(rec);
    exec.advance(Duration::from_secs(2));
    assert!(!probe.terminated());
    exec.advance(Duration::from_secs(1));
    assert_eq!(probe.count(), 0, "no demand, no item");
    assert!(!probe.terminated());
    probe.request(1);
    assert_eq!(probe.items(), vec![0]);
    assert!(probe.completed());
}

#[test]
fn timer_cancel_cancels_the_timer() {
    let (exec, sched) = manual();
    let (rec, probe) = recorder(1);
    rstreams::timer(Duration::from_secs(3), sched).subscribe(rec);
    assert_eq!(exec.pending_timers(), 1);
    probe.cancel();
    exec.advance(Duration::from_secs(5));
    assert_eq!(probe.count(), 0);
    assert!(!probe.terminated());
}

#[test]
fn timer_on_a_shut_down_scheduler_fails_with_a_clear_error() {
    let (exec, sched) = manual();
    exec.shutdown();
    let e = rstreams::timer(Duration::from_secs(1), sched)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn start_with_is_prefix_then_items(prefix in proptest::collection::vec(0u64..100, 0..5), n in 0u64..10, batch in 1u64..4) {
        let (rec, probe) = recorder(0);
        rstreams::range(100, n).start_with(prefix.clone()).subscribe(rec);
        for _ in 0..20 { probe.request(batch); }
        let mut expected = prefix.clone();
        expected.extend(100..100 + n);
        prop_assert_eq!(probe.items(), expected);
        prop_assert!(probe.completed());
    }

    #[test]
    fn default_if_empty_matches_the_model(n in 0u64..6, fail in any::<bool>()) {
        let src = if fail { failing_after(n) } else { rstreams::range(0, n).boxed() };
        let (rec, probe) = recorder(u64::MAX);
        src.clone().default_if_empty(42).subscribe(rec);
        let mut expected: Vec<u64> = (0..n).collect();
        if expected.is_empty() && !fail { expected.push(42); }
        prop_assert_eq!(probe.items(), expected.clone());
        prop_assert_eq!(probe.error().is_some(), fail);

        let (rec, probe) = recorder(u64::MAX);
        src.on_error_return(42).subscribe(rec);
        let mut expected: Vec<u64> = (0..n).collect();
        if fail { expected.push(42); }
        prop_assert_eq!(probe.items(), expected);
        prop_assert!(probe.completed());
    }
}
