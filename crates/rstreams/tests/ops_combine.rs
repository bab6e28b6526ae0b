//! combine_latest, with_latest_from and zip3 (issue 15, item 7).

mod support;

use proptest::prelude::*;
use rstreams::Rule;
use rstreams::prelude::*;
use support::recorder;
use support::{Manual, Tracker};

#[test]
fn combine_latest_emits_once_both_have_a_value() {
    let a = Manual::<u32>::new();
    let b = Manual::<u32>::new();
    let (rec, probe) = recorder(u64::MAX);
    rstreams::combine_latest(a.clone(), b.clone(), |x, y| (*x, *y)).subscribe(rec);
    assert_eq!(
        a.requested(),
        rstreams::ops::DEFAULT_COMBINE_PREFETCH as u64
    );
    a.next(1);
    a.next(2);
    assert_eq!(probe.count(), 0);
    b.next(10);
    a.next(3);
    b.next(20);
    assert_eq!(probe.items(), vec![(2, 10), (3, 10), (3, 20)]);
    a.complete();
    assert!(!probe.terminated(), "b may still change");
    b.complete();
    assert!(probe.completed());
}

#[test]
fn combine_latest_completes_when_a_source_completes_empty_and_cancels_the_other() {
    let a = Manual::<u32>::new();
    let b = Manual::<u32>::new();
    let (rec, probe) = recorder(5);
    rstreams::combine_latest(a.clone(), b.clone(), |x, y| x + y).subscribe(rec);
    a.next(1);
    b.complete();
    assert!(probe.completed());
    assert!(a.cancelled() && !a.subscribed());
}

#[test]
fn combine_latest_runs_f_only_for_demand() {
    let a = Manual::<u32>::new();
    let b = Manual::<u32>::new();
    let (rec, probe) = recorder(1);
    rstreams::combine_latest(a.clone(), b.clone(), |x, y| x + y).subscribe(rec);
    b.next(100);
    a.next(1);
    a.next(2);
    a.next(3);
    assert_eq!(probe.items(), vec![101]);
    probe.request(5);
    assert_eq!(probe.items(), vec![101, 102, 103]);
}

#[test]
fn combine_latest_panic_is_rule_2_13_and_cancels_both() {
    let a = Manual::<u32>::new();
    let b = Manual::<u32>::new();
    let (rec, probe) = recorder(5);
    rstreams::combine_latest(a.clone(), b.clone(), |_, _| -> u32 { panic!("bad f") })
        .subscribe(rec);
    a.next(1);
    b.next(1);
    let e = probe.error().unwrap();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.to_string().contains("ops_combine.rs"), "{e}");
    assert!(a.cancelled() && b.cancelled());
}

#[test]
fn combine_latest_error_and_cancel_release_both() {
    let a = Manual::<u32>::new();
    let b = Tracker::new();
    let (rec, probe) = recorder(5);
    rstreams::combine_latest(a.clone(), b.wrap(rstreams::never::<u32>()), |x, y| x + y)
        .subscribe(rec);
    a.error(Error::msg("a failed"));
    assert!(probe.error().is_some());
    assert_eq!(b.cancelled(), 1);
    assert!(b.all_released());

    let a = Tracker::new();
    let b = Tracker::new();
    let (rec, probe) = recorder(5);
    rstreams::combine_latest(
        a.wrap(rstreams::never::<u32>()),
        b.wrap(rstreams::never::<u32>()),
        |x, y| x + y,
    )
    .subscribe(rec);
    probe.cancel();
    assert!(a.all_released() && b.all_released());
    assert_eq!((a.cancelled(), b.cancelled()), (1, 1));
}

#[test]
fn with_latest_from_drops_until_other_has_a_value() {
    let main = Manual::<u32>::new();
    let other = Manual::<&'static str>::new();
    let (rec, probe) = recorder(3);
    main.clone()
        .with_latest_from(other.clone(), |x, s| format!("{x}{s}"))
        .subscribe(rec);
    assert_eq!(other.requested(), u64::MAX);
    assert_eq!(main.requested(), 3);
    main.next(1);
    assert_eq!(main.requested(), 4, "the dropped item is asked for again");
    other.next("a");
    main.next(2);
    other.next("b");
    main.next(3);
    assert_eq!(probe.items(), vec!["2a".to_string(), "3b".to_string()]);
    main.complete();
    assert!(probe.completed());
    assert!(other.cancelled());
}

#[test]
fn with_latest_from_completes_when_other_completes_empty() {
    let main = Manual::<u32>::new();
    let other = Manual::<u32>::new();
    let (rec, probe) = recorder(3);
    main.clone()
        .with_latest_from(other.clone(), |x, y| x + y)
        .subscribe(rec);
    other.complete();
    assert!(probe.completed());
    assert!(main.cancelled() && !main.subscribed());
}

#[test]
fn with_latest_from_panic_and_cancel() {
    let main = Tracker::new();
    let (rec, probe) = recorder(3);
    main.wrap(rstreams::range(0, 10))
        .with_latest_from(rstreams::just(1u64), |x, _| -> u64 {
            if x == 1 { panic!("bad") } else { x }
        })
        .subscribe(rec);
    assert_eq!(probe.items(), vec![0]);
    assert_eq!(probe.error().and_then(|e| e.rule()), Some(Rule::R2_13));
    assert!(main.all_released());

    let main = Tracker::new();
    let other = Tracker::new();
    let (rec, probe) = recorder(3);
    main.wrap(rstreams::never::<u32>())
        .with_latest_from(other.wrap(rstreams::never::<u32>()), |x, y| x + y)
        .subscribe(rec);
    probe.cancel();
    assert!(main.all_released() && other.all_released());
    assert_eq!((main.cancelled(), other.cancelled()), (1, 1));
}

#[test]
fn zip3_triples_and_releases_all_sources() {
    let (a, b, c) = (Tracker::new(), Tracker::new(), Tracker::new());
    let v = rstreams::zip3(
        a.wrap(rstreams::range(0, 5)),
        b.wrap(rstreams::range(10, 3)),
        c.wrap(rstreams::never::<u64>()),
        4,
    );
    let (rec, probe) = recorder(10);
    v.subscribe(rec);
    assert_eq!(probe.count(), 0);
    probe.cancel();
    assert!(a.all_released() && b.all_released() && c.all_released());
    assert!(c.cancelled() >= 1);

    let e = rstreams::zip3(rstreams::just(1), rstreams::just(2), rstreams::just(3), 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("zip3"), "{e}");
}

#[derive(Debug, Clone)]
enum Ev {
    A(u32),
    B(u32),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn combine_latest_matches_the_model(events in proptest::collection::vec(prop_oneof![(0u32..50).prop_map(Ev::A), (0u32..50).prop_map(Ev::B)], 0..30)) {
        let a = Manual::<u32>::new();
        let b = Manual::<u32>::new();
        let (rec, probe) = recorder(u64::MAX);
        rstreams::combine_latest(a.clone(), b.clone(), |x, y| (*x, *y)).subscribe(rec);
        let (mut la, mut lb, mut expected) = (None, None, Vec::new());
        for e in &events {
            match e { Ev::A(x) => { a.next(*x); la = Some(*x) } Ev::B(y) => { b.next(*y); lb = Some(*y) } }
            if let (Some(x), Some(y)) = (la, lb) { expected.push((x, y)); }
        }
        prop_assert_eq!(probe.items(), expected);
    }

    #[test]
    fn with_latest_from_matches_the_model(events in proptest::collection::vec(prop_oneof![(0u32..50).prop_map(Ev::A), (0u32..50).prop_map(Ev::B)], 0..30)) {
        let main = Manual::<u32>::new();
        let other = Manual::<u32>::new();
        let (rec, probe) = recorder(u64::MAX);
        main.clone().with_latest_from(other.clone(), |x, y| (x, *y)).subscribe(rec);
        let (mut lb, mut expected) = (None, Vec::new());
        for e in &events {
            match e {
                Ev::A(x) => { main.next(*x); if let Some(y) = lb { expected.push((*x, y)); } }
                Ev::B(y) => { other.next(*y); lb = Some(*y) }
            }
        }
        prop_assert_eq!(probe.items(), expected);
    }

    #[test]
    fn zip3_matches_iterator_zip(na in 0u64..8, nb in 0u64..8, nc in 0u64..8, prefetch in 1usize..4) {
        let v = rstreams::zip3(rstreams::range(0, na), rstreams::range(100, nb), rstreams::range(200, nc), prefetch)
            .to_vec().blocking_first().unwrap().unwrap();
        let expected: Vec<_> = (0..na).zip(100..100 + nb).zip(200..200 + nc).map(|((a, b), c)| (a, b, c)).collect();
        prop_assert_eq!(v, expected);
    }
}
