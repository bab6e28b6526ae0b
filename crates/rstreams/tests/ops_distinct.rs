//! distinct_by and distinct_until_changed (issue 15, item 5).

mod support;

use std::collections::{HashSet, VecDeque};

use proptest::prelude::*;
use rstreams::Rule;
use rstreams::prelude::*;
use support::Tracker;
use support::recorder;

/// The reference model: the same FIFO-bounded memory over a Vec.
fn model_distinct(items: &[u8], max: usize) -> Vec<u8> {
    let mut set = HashSet::new();
    let mut order = VecDeque::new();
    let mut out = Vec::new();
    for &x in items {
        let k = x % 7;
        if set.contains(&k) {
            continue;
        }
        if set.len() >= max {
            let old = order.pop_front().unwrap();
            set.remove(&old);
        }
        set.insert(k);
        order.push_back(k);
        out.push(x);
    }
    out
}

#[test]
fn at_the_bound_the_oldest_key_is_forgotten() {
    let v = rstreams::from_iter(vec![1, 2, 3, 1, 2, 3])
        .distinct_by(|x| *x, 2)
        .to_vec()
        .blocking_first()
        .unwrap();
    // Memory of 2: seeing 3 forgets 1, seeing 1 again forgets 2, and so on.
    assert_eq!(v, Some(vec![1, 2, 3, 1, 2, 3]));
    let v = rstreams::from_iter(vec![1, 2, 1, 2, 3, 3])
        .distinct_by(|x| *x, 2)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![1, 2, 3]));
}

#[test]
fn zero_max_keys_is_a_clear_error() {
    let e = rstreams::range(0, 3)
        .distinct_by(|x| *x, 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("max_keys"), "{e}");
}

#[test]
fn dropped_duplicates_are_asked_for_again_and_demand_is_exact() {
    let up = Tracker::new();
    let (rec, probe) = recorder(2);
    up.wrap(rstreams::from_iter(vec![1, 1, 1, 2, 2, 3, 4]))
        .distinct_until_changed()
        .subscribe(rec);
    assert_eq!(probe.items(), vec![1, 2]);
    assert!(!probe.terminated());
    probe.request(10);
    assert_eq!(probe.items(), vec![1, 2, 3, 4]);
    assert!(probe.completed());
}

#[test]
fn a_panicking_key_fails_with_rule_2_13_and_cancels_upstream() {
    let up = Tracker::new();
    let (rec, probe) = recorder(10);
    up.wrap(rstreams::range(0, 10))
        .distinct_by(|x| if *x == 3 { panic!("bad key") } else { *x }, 8)
        .subscribe(rec);
    assert_eq!(probe.items(), vec![0, 1, 2]);
    let e = probe.error().unwrap();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.to_string().contains("ops_distinct.rs"), "{e}");
    assert_eq!(up.cancelled(), 1);
    assert!(up.all_released());

    let (rec, probe) = recorder(10);
    rstreams::range(0, 10)
        .distinct_until_changed_by(|x| if *x == 1 { panic!("bad") } else { *x })
        .subscribe(rec);
    assert_eq!(probe.error().and_then(|e| e.rule()), Some(Rule::R2_13));
}

#[test]
fn cancel_releases_the_upstream() {
    let up = Tracker::new();
    let (rec, probe) = recorder(1);
    up.wrap(rstreams::never::<u32>())
        .distinct_by(|x| *x, 4)
        .subscribe(rec);
    probe.cancel();
    assert_eq!(up.cancelled(), 1);
    assert!(up.all_released());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn distinct_by_matches_the_model(items in proptest::collection::vec(0u8..30, 0..40), max in 1usize..6, batch in 1u64..4) {
        let (rec, probe) = recorder(0);
        rstreams::from_iter(items.clone()).distinct_by(|x| x % 7, max).subscribe(rec);
        while !probe.terminated() { probe.request(batch); }
        prop_assert_eq!(probe.items(), model_distinct(&items, max));
    }

    #[test]
    fn distinct_until_changed_matches_dedup(items in proptest::collection::vec(0u8..4, 0..40), batch in 1u64..4) {
        let (rec, probe) = recorder(0);
        rstreams::from_iter(items.clone()).distinct_until_changed().subscribe(rec);
        while !probe.terminated() { probe.request(batch); }
        let mut expected = items.clone();
        expected.dedup();
        prop_assert_eq!(probe.items(), expected);
    }
}
