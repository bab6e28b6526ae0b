//! using(resource, make, release): released exactly once on complete, error, cancel and when
//! the subscriber panics (issue 15, item 8).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rstreams::prelude::*;
use rstreams::{Rule, Subscription};
use support::{DropCounter, recorder};
use support::{Manual, Tracker};

/// A resource whose release is counted, and whose drop is counted too (to prove `release`,
/// not a silent drop, consumed it).
struct Res {
    _token: support::Token,
}

fn counted() -> (DropCounter, Arc<AtomicUsize>) {
    (DropCounter::default(), Arc::new(AtomicUsize::new(0)))
}

fn make_using<P>(
    drops: &DropCounter,
    released: &Arc<AtomicUsize>,
    upstream: P,
) -> impl Publisher<Item = P::Item> + use<P>
where
    P: Publisher + Clone + Send + Sync + 'static,
{
    let d = drops.clone();
    let r = Arc::clone(released);
    rstreams::using(
        move || Res { _token: d.token() },
        move |_res| upstream.clone(),
        move |res: Res| {
            r.fetch_add(1, Ordering::SeqCst);
            drop(res);
        },
    )
}

#[test]
fn released_once_on_complete_before_the_terminal_signal() {
    let (drops, released) = counted();
    let r2 = Arc::clone(&released);
    let p = make_using(&drops, &released, rstreams::range(0, 3));
    let v = p
        .do_on_complete(move || assert_eq!(r2.load(Ordering::SeqCst), 1, "released before"))
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![0, 1, 2]));
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn released_once_on_error() {
    let (drops, released) = counted();
    let p = make_using(&drops, &released, rstreams::error::<u8>(Error::msg("x")));
    assert!(p.blocking_first().is_err());
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert_eq!(drops.drops(), 1);
}

#[test]
fn released_once_on_cancel_and_upstream_released() {
    let (drops, released) = counted();
    let up = Tracker::new();
    let (rec, probe) = recorder(1);
    make_using(
        &drops,
        &released,
        Arc::new(up.wrap(rstreams::never::<u8>())),
    )
    .subscribe(rec);
    assert_eq!(released.load(Ordering::SeqCst), 0);
    probe.cancel();
    probe.cancel();
    assert_eq!(
        released.load(Ordering::SeqCst),
        1,
        "a second cancel releases nothing"
    );
    assert!(up.cancelled() >= 1);
    assert!(up.all_released());
    assert_eq!(drops.drops(), 1);
}

#[test]
fn released_once_when_the_subscriber_panics() {
    struct Panicker;
    impl Subscriber<u64> for Panicker {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            s.request(10)
        }
        fn on_next(&mut self, _: u64) {
            panic!("subscriber bug")
        }
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {}
    }
    let (drops, released) = counted();
    let up = Tracker::new();
    let hook_hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hook_hits);
    rstreams::set_undeliverable_hook(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    make_using(&drops, &released, Arc::new(up.wrap(rstreams::range(0, 5)))).subscribe(Panicker);
    assert_eq!(released.load(Ordering::SeqCst), 1);
    assert_eq!(drops.drops(), 1);
    assert!(up.all_released());
}

#[test]
fn released_when_the_upstream_completes_later_from_its_own_thread() {
    let (drops, released) = counted();
    let main = Manual::<u8>::new();
    let (rec, probe) = recorder(5);
    make_using(&drops, &released, Arc::new(main.clone())).subscribe(rec);
    main.next(1);
    assert_eq!(released.load(Ordering::SeqCst), 0);
    let m = main.clone();
    std::thread::spawn(move || m.complete()).join().unwrap();
    assert!(probe.completed());
    assert_eq!(released.load(Ordering::SeqCst), 1);
}

#[test]
fn panics_in_resource_or_make_fail_with_rule_2_13_and_release_what_was_acquired() {
    let e = rstreams::using(
        || -> u8 { panic!("cannot open") },
        |_| rstreams::just(1u8),
        |_| {},
    )
    .blocking_first()
    .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.to_string().contains("ops_using.rs"), "{e}");

    let released = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&released);
    let e = rstreams::using(
        || 7u8,
        |_| -> rstreams::source::Just<u8> { panic!("cannot read") },
        move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        },
    )
    .blocking_first()
    .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert_eq!(released.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_release_on_complete_becomes_the_error() {
    let e = rstreams::using(|| 1u8, |_| rstreams::just(1u8), |_| panic!("close failed"))
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
}

#[test]
fn each_subscription_gets_and_releases_its_own_resource() {
    let (drops, released) = counted();
    let p = make_using(&drops, &released, rstreams::range(0, 2));
    for _ in 0..3 {
        p.blocking_last().unwrap();
    }
    assert_eq!(released.load(Ordering::SeqCst), 3);
    assert_eq!(drops.drops(), 3);
}
