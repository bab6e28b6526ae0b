//! debounce, throttle_first and sample on the ManualExecutor's virtual clock (issue 15, item 6).

mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use support::recorder;
use support::{Manual, Tracker};

const MS: Duration = Duration::from_millis(1);

fn manual() -> (ManualExecutor, Arc<dyn Scheduler>) {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    (exec, sched)
}

#[test]
fn debounce_emits_after_quiet_and_flushes_on_complete() {
    let (exec, sched) = manual();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(10);
    up.clone().debounce(100 * MS, sched).subscribe(rec);
    assert_eq!(up.requested(), u64::MAX);
    up.next(1);
    exec.advance(50 * MS);
    up.next(2);
    exec.advance(99 * MS);
    assert_eq!(probe.count(), 0, "2 has not been quiet for 100 ms yet");
    exec.advance(MS);
    assert_eq!(probe.items(), vec![2]);
    up.next(3);
    up.complete();
    assert_eq!(
        probe.items(),
        vec![2, 3],
        "the last item goes out at completion"
    );
    assert!(probe.completed());
}

#[test]
fn debounce_without_demand_keeps_the_newest() {
    let (exec, sched) = manual();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(0);
    up.clone().debounce(10 * MS, sched).subscribe(rec);
    up.next(1);
    exec.advance(10 * MS);
    up.next(2);
    exec.advance(10 * MS);
    probe.request(5);
    assert_eq!(probe.items(), vec![2]);
}

#[test]
fn throttle_first_emits_then_drops_for_the_window() {
    let (exec, sched) = manual();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(10);
    up.clone().throttle_first(100 * MS, sched).subscribe(rec);
    up.next(1);
    up.next(2);
    exec.advance(99 * MS);
    up.next(3);
    exec.advance(MS);
    up.next(4);
    up.next(5);
    assert_eq!(probe.items(), vec![1, 4]);
    up.complete();
    assert!(probe.completed());
}

#[test]
fn throttle_first_without_demand_keeps_the_first() {
    let (exec, sched) = manual();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(0);
    up.clone().throttle_first(10 * MS, sched).subscribe(rec);
    up.next(1);
    exec.advance(10 * MS);
    up.next(2);
    probe.request(5);
    assert_eq!(probe.items(), vec![1]);
}

#[test]
fn sample_emits_the_latest_of_each_period() {
    let (exec, sched) = manual();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(10);
    up.clone().sample(100 * MS, sched).subscribe(rec);
    up.next(1);
    up.next(2);
    exec.advance(100 * MS);
    assert_eq!(probe.items(), vec![2]);
    exec.advance(100 * MS);
    assert_eq!(probe.items(), vec![2], "nothing new, nothing emitted");
    up.next(3);
    exec.advance(50 * MS);
    up.next(4);
    exec.advance(50 * MS);
    assert_eq!(probe.items(), vec![2, 4]);
    up.next(5);
    up.complete();
    assert_eq!(probe.items(), vec![2, 4, 5]);
    assert!(probe.completed());
}

#[test]
fn errors_pass_through_and_drop_what_waits() {
    for kind in 0..3 {
        let (_exec, sched) = manual();
        let up = Manual::<u32>::new();
        let (rec, probe) = recorder(10);
        let p = up.clone();
        match kind {
            0 => p.debounce(MS, sched).subscribe(rec),
            1 => p.throttle_first(MS, sched).subscribe(rec),
            _ => p.sample(MS, sched).subscribe(rec),
        }
        up.next(1);
        up.error(Error::msg("up failed"));
        assert!(probe.error().is_some(), "kind {kind}");
    }
}

#[test]
fn cancel_releases_the_upstream_and_the_timers() {
    for kind in 0..3 {
        let (exec, sched) = manual();
        let up = Tracker::new();
        let hot = Manual::<u32>::new();
        let (rec, probe) = recorder(10);
        let p = up.wrap(hot.clone());
        match kind {
            0 => p.debounce(MS, sched).subscribe(rec),
            1 => p.throttle_first(MS, sched).subscribe(rec),
            _ => p.sample(MS, sched).subscribe(rec),
        }
        hot.next(1);
        probe.cancel();
        assert_eq!(up.cancelled(), 1, "kind {kind}");
        assert!(up.all_released(), "kind {kind}");
        exec.advance(10 * MS);
        assert_eq!(exec.pending_timers(), 0, "kind {kind}: no timer left armed");
        assert!(probe.count() <= 1, "kind {kind}");
    }
}

#[test]
fn a_shut_down_scheduler_is_a_clear_error() {
    let (exec, sched) = manual();
    exec.shutdown();
    let up = Manual::<u32>::new();
    let (rec, probe) = recorder(10);
    up.clone().debounce(MS, sched.clone()).subscribe(rec);
    up.next(1);
    assert!(probe.error().unwrap().to_string().contains("refused"));
    assert!(up.cancelled());
    let (rec, probe) = recorder(10);
    rstreams::never::<u32>().sample(MS, sched).subscribe(rec);
    assert!(probe.error().unwrap().to_string().contains("refused"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Model: an item is emitted iff the next one came at least `d` later (or it was last).
    #[test]
    fn debounce_matches_the_gap_model(gaps in proptest::collection::vec(0u64..30, 0..20), d in 1u64..20) {
        let (exec, sched) = manual();
        let up = Manual::<u64>::new();
        let (rec, probe) = recorder(u64::MAX);
        up.clone().debounce(Duration::from_millis(d), sched).subscribe(rec);
        let mut expected = Vec::new();
        for (i, gap) in gaps.iter().enumerate() {
            up.next(i as u64);
            exec.advance(Duration::from_millis(*gap));
            let last = i + 1 == gaps.len();
            if *gap >= d || last { expected.push(i as u64); }
        }
        up.complete();
        prop_assert_eq!(probe.items(), expected);
        prop_assert!(probe.completed());
    }

    /// Model: an item passes iff no item passed within the last `d`.
    #[test]
    fn throttle_first_matches_the_window_model(gaps in proptest::collection::vec(0u64..30, 0..20), d in 1u64..20) {
        let (exec, sched) = manual();
        let up = Manual::<u64>::new();
        let (rec, probe) = recorder(u64::MAX);
        up.clone().throttle_first(Duration::from_millis(d), sched).subscribe(rec);
        let (mut now, mut open_at, mut expected) = (0u64, 0u64, Vec::new());
        for (i, gap) in gaps.iter().enumerate() {
            if now >= open_at { expected.push(i as u64); open_at = now + d; }
            up.next(i as u64);
            exec.advance(Duration::from_millis(*gap));
            now += gap;
        }
        up.complete();
        prop_assert_eq!(probe.items(), expected);
    }
}
