//! take_until and skip_until (issue 15, item 2).

mod support;

use proptest::prelude::*;
use rstreams::Rule;
use rstreams::prelude::*;
use support::recorder;
use support::{Manual, Tracker};

#[test]
fn take_until_relays_until_other_fires_then_cancels_both() {
    let main = Manual::<u32>::new();
    let other = Manual::<()>::new();
    let (rec, probe) = recorder(10);
    main.clone().take_until(other.clone()).subscribe(rec);
    assert_eq!(other.requested(), 1, "other is asked for one item");
    assert_eq!(main.requested(), 10, "exactly the downstream's demand");
    main.next(1);
    main.next(2);
    other.next(());
    assert_eq!(probe.items(), vec![1, 2]);
    assert!(probe.completed());
    assert!(main.cancelled() && other.cancelled());
    assert!(!main.subscribed() && !other.subscribed(), "both released");
}

#[test]
fn take_until_other_completion_also_ends_and_error_fails() {
    let (rec, probe) = recorder(10);
    let other = Manual::<()>::new();
    rstreams::never::<u32>()
        .take_until(other.clone())
        .subscribe(rec);
    other.complete();
    assert!(probe.completed());

    let (rec, probe) = recorder(10);
    let other = Manual::<()>::new();
    let main = Manual::<u32>::new();
    main.clone().take_until(other.clone()).subscribe(rec);
    other.error(Error::msg("other failed"));
    assert!(probe.error().unwrap().to_string().contains("other failed"));
    assert!(main.cancelled());
}

#[test]
fn main_completion_cancels_other() {
    let other = Manual::<()>::new();
    let v = rstreams::range(0, 3)
        .take_until(other.clone())
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![0, 1, 2]));
    assert!(other.cancelled() && !other.subscribed());
}

#[test]
fn take_until_demand_is_exact_and_tops_up() {
    let main = Tracker::new();
    let (rec, probe) = recorder(2);
    main.wrap(rstreams::range(0, 100))
        .take_until(rstreams::never::<()>())
        .subscribe(rec);
    assert_eq!(probe.items(), vec![0, 1]);
    assert_eq!(main.requested(), 2);
    probe.request(3);
    assert_eq!(probe.count(), 5);
    assert_eq!(main.requested(), 5);
}

#[test]
fn an_upstream_over_delivering_is_reported_as_rule_1_1() {
    let main = Manual::<u32>::new();
    let (rec, probe) = recorder(1);
    main.clone()
        .take_until(rstreams::never::<()>())
        .subscribe(rec);
    main.next(1);
    main.next(2);
    assert_eq!(probe.error().and_then(|e| e.rule()), Some(Rule::R1_1));
    assert!(main.cancelled());
}

#[test]
fn skip_until_drops_before_the_gate_and_replenishes() {
    let main = Manual::<u32>::new();
    let other = Manual::<()>::new();
    let (rec, probe) = recorder(2);
    main.clone().skip_until(other.clone()).subscribe(rec);
    assert_eq!(main.requested(), 2);
    main.next(1);
    main.next(2);
    assert_eq!(probe.count(), 0);
    assert_eq!(main.requested(), 4, "the dropped items are asked for again");
    other.next(());
    assert!(
        other.cancelled(),
        "the gate opened: other is no longer needed"
    );
    main.next(3);
    main.next(4);
    assert_eq!(probe.items(), vec![3, 4]);
    assert_eq!(main.requested(), 4, "no more than the downstream asked for");
    main.complete();
    assert!(probe.completed());
}

#[test]
fn skip_until_other_error_before_the_gate_fails() {
    let main = Manual::<u32>::new();
    let other = Manual::<()>::new();
    let (rec, probe) = recorder(2);
    main.clone().skip_until(other.clone()).subscribe(rec);
    other.error(Error::msg("x"));
    assert!(probe.error().is_some());
    assert!(main.cancelled() && !main.subscribed());
}

#[test]
fn cancel_releases_main_and_other() {
    for take in [true, false] {
        let main = Tracker::new();
        let other = Tracker::new();
        let (rec, probe) = recorder(1);
        let m = main.wrap(rstreams::never::<u32>());
        let o = other.wrap(rstreams::never::<()>());
        if take {
            m.take_until(o).subscribe(rec);
        } else {
            m.skip_until(o).subscribe(rec);
        }
        probe.cancel();
        assert_eq!((main.cancelled(), other.cancelled()), (1, 1), "take={take}");
        assert!(main.all_released() && other.all_released(), "take={take}");
    }
}

#[test]
fn a_second_subscription_to_the_stage_is_independent() {
    let p = rstreams::range(0, 3).skip_until(rstreams::just(()));
    assert_eq!(
        p.clone().to_vec().blocking_first().unwrap(),
        Some(vec![0, 1, 2])
    );
    assert_eq!(p.to_vec().blocking_first().unwrap(), Some(vec![0, 1, 2]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Model: the other fires after the main emitted `at` items (or never).
    #[test]
    fn until_matches_the_vec_model(n in 0u32..12, at in 0u32..14, batch in 1u64..5) {
        let main = Manual::<u32>::new();
        let other = Manual::<()>::new();
        let (rec, probe) = recorder(0);
        main.clone().take_until(other.clone()).subscribe(rec);
        let (rec2, probe2) = recorder(0);
        let main2 = Manual::<u32>::new();
        let other2 = Manual::<()>::new();
        main2.clone().skip_until(other2.clone()).subscribe(rec2);
        let mut sent = 0u64;
        for (sent2, i) in (0..n).enumerate() {
            let sent2 = sent2 as u64;
            if i == at { other.next(()); other2.next(()); }
            // A lawful upstream: each item only once it has been requested.
            while !main.cancelled() && main.requested() <= sent { probe.request(batch); }
            if !main.cancelled() { main.next(i); sent += 1; }
            while main2.requested() <= sent2 { probe2.request(batch); }
            main2.next(i);
        }
        main.complete();
        main2.complete();
        let taken: Vec<u32> = (0..n.min(at)).collect();
        prop_assert_eq!(probe.items(), taken);
        prop_assert!(probe.completed());
        let skipped: Vec<u32> = (at..n).collect();
        prop_assert_eq!(probe2.items(), skipped);
    }
}

#[test]
fn unbounded_demand_is_asked_upstream_in_bounded_batches() {
    let main = Tracker::new();
    let (rec, probe) = recorder(u64::MAX);
    main.wrap(rstreams::range(0, 1000))
        .take_until(rstreams::never::<()>())
        .subscribe(rec);
    assert_eq!(probe.count(), 1000);
    assert!(probe.completed());
    // 1000 items in requests of at most RELAY_BATCH, never an unbounded one.
    assert!(
        main.requested() <= 1000 + rstreams::ops::RELAY_BATCH,
        "{}",
        main.requested()
    );
}

#[test]
fn take_until_across_threads_always_ends_with_a_prefix() {
    use rstreams::executor::{Scheduler, ThreadPool};
    use std::sync::Arc;
    use std::time::Duration;
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    for round in 0..20u64 {
        let v = rstreams::range(0, u64::MAX)
            .subscribe_on(Arc::clone(&pool))
            .take_until(rstreams::timer(
                Duration::from_micros(50 * round),
                Arc::clone(&pool),
            ))
            .to_vec()
            .blocking_first()
            .unwrap()
            .unwrap();
        // Whatever the interleaving: the items are 0, 1, 2, … with no gap, then completion.
        assert!(
            v.iter().enumerate().all(|(i, x)| *x == i as u64),
            "round {round}"
        );
    }
}
