//! Issue 16 item 2: `fold(seed, f)`, `enumerate()` and the move-once source `once(value)`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::{DropCounter, Requests, recorder};

#[test]
fn fold_changes_type_waits_for_demand_and_emits_the_seed_for_nothing() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::from_iter(["a", "bb", "ccc"])
        .do_on_request(reqs.hook())
        .fold(String::new(), |mut acc, s| {
            acc.push_str(s);
            acc
        })
        .subscribe(r);
    assert!(
        reqs.get().is_empty(),
        "nothing requested before the downstream asks"
    );
    probe.request(1);
    assert_eq!(reqs.get(), vec![u64::MAX]);
    assert_eq!(probe.items(), vec!["abbccc".to_owned()]);
    assert!(probe.completed());

    // Unlike reduce, an empty stream folds to the seed (held until requested).
    let (r, probe) = recorder(0);
    rstreams::empty::<u8>().fold(5u32, |a, _| a).subscribe(r);
    assert!(!probe.terminated());
    probe.request(1);
    assert_eq!(probe.items(), vec![5]);
    assert!(probe.completed());
}

#[test]
fn fold_starts_each_subscription_from_its_own_seed_and_passes_errors() {
    let p = rstreams::range(1, 4).fold(vec![0u64], |mut v, x| {
        v.push(x);
        v
    });
    assert_eq!(p.blocking_first().unwrap(), Some(vec![0, 1, 2, 3, 4]));
    assert_eq!(p.blocking_first().unwrap(), Some(vec![0, 1, 2, 3, 4]));

    let e = rstreams::error::<u8>(rstreams::Error::msg("up"))
        .fold(0u8, |a, _| a)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().starts_with("up"), "{e}");
}

#[test]
fn fold_panic_cancels_upstream_and_names_rule_and_site() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let line = line!() + 3;
    let err = rstreams::range(0, 10)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .fold(0u64, |a, x| if x == 4 { panic!("bad {x}") } else { a + x })
        .blocking_first()
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R2_13));
    assert_eq!(err.kind(), ErrorKind::Panic);
    assert_eq!(err.panic_message(), Some("bad 4"));
    let stage = err.stage().expect("stage recorded");
    assert!(stage.file().ends_with("tests/ops_fold.rs"), "{stage}");
    assert_eq!(stage.line(), line, "{err}");
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn enumerate_counts_from_zero_per_subscription_and_passes_demand() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    let p = rstreams::range(10, 5)
        .do_on_request(reqs.hook())
        .enumerate();
    p.clone().subscribe(r);
    probe.request(2);
    assert_eq!(probe.items(), vec![(0, 10), (1, 11)]);
    probe.request(3);
    assert_eq!(reqs.get(), vec![2, 3]);
    assert_eq!(probe.items().last(), Some(&(4, 14)));
    assert!(probe.completed());
    // A second subscription counts from 0 again.
    assert_eq!(p.blocking_first().unwrap(), Some((0, 10)));

    let e = rstreams::error::<u8>(rstreams::Error::msg("up"))
        .enumerate()
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().starts_with("up"), "{e}");
}

/// Neither `Clone` nor `Sync`: `just` cannot carry it, `once` can.
struct Handle(u32, std::cell::Cell<u8>, #[allow(dead_code)] support::Token);

#[test]
fn once_moves_its_value_to_the_first_subscriber_after_demand() {
    let drops = DropCounter::default();
    let p = rstreams::once(Handle(3, std::cell::Cell::new(0), drops.token()));
    let (r, probe) = recorder(0);
    p.subscribe(r);
    assert_eq!(probe.count(), 0, "nothing before demand");
    probe.request(1);
    assert_eq!(probe.count(), 1);
    assert!(probe.completed());
    assert_eq!(
        drops.drops(),
        0,
        "moved into the subscriber, not cloned and dropped"
    );
    drop(probe);
    assert_eq!(drops.drops(), 1, "one value, dropped once");

    let h = rstreams::once(Handle(4, std::cell::Cell::new(1), drops.token()))
        .blocking_first()
        .unwrap()
        .expect("the value");
    assert_eq!((h.0, h.1.get()), (4, 1));
}

#[test]
fn once_refuses_a_second_subscriber_with_rule_1_11_naming_the_site() {
    let line = line!() + 1;
    let p = rstreams::once(1u8);
    assert_eq!(p.blocking_first().unwrap(), Some(1));
    let (r, probe) = recorder::<u8>(0);
    p.subscribe(r);
    let e = probe.error().expect("second subscriber fails at once");
    assert_eq!(e.rule(), Some(Rule::R1_11), "{e}");
    assert!(e.to_string().contains("single-use"), "{e}");
    assert_eq!(e.stage().expect("stage").line(), line, "{e}");
}

#[test]
fn once_cancelled_before_demand_drops_the_value_unsent() {
    let drops = DropCounter::default();
    let p = rstreams::once(drops.token());
    let (r, probe) = recorder(0);
    p.subscribe(r);
    probe.cancel();
    assert_eq!(probe.count(), 0);
    assert_eq!(drops.drops(), 1, "the value is released on cancel");
    assert_eq!(
        p.map(|_| ()).blocking_first().unwrap_err().rule(),
        Some(Rule::R1_11)
    );
}
