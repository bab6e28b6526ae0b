//! Sinks and blocking bridges.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rstreams::Rule;
use rstreams::prelude::*;
use support::Requests;

#[test]
fn blocking_iter_prefetches_and_replenishes_at_75_percent() {
    let reqs = Requests::default();
    let v: Vec<u64> = rstreams::range(0, 20)
        .do_on_request(reqs.hook())
        .blocking_iter_with(8)
        .map(Result::unwrap)
        .collect();
    assert_eq!(v, (0..20).collect::<Vec<_>>());
    let seen = reqs.get();
    assert_eq!(seen[0], 8);
    assert!(seen[1..].iter().all(|n| *n == 6), "{seen:?}");
}

#[test]
fn blocking_iter_drop_cancels_upstream() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let mut it = rstreams::range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .blocking_iter_with(4);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert!(!cancelled.load(Ordering::SeqCst));
    drop(it);
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn blocking_iter_prefetch_zero_is_an_error_not_a_hang() {
    let subscribed = Arc::new(AtomicBool::new(false));
    let s = subscribed.clone();
    let p = rstreams::defer(move || {
        s.store(true, Ordering::SeqCst);
        rstreams::range(0, 3)
    });
    let mut it = p.blocking_iter_with(0);
    let e = it.next().unwrap().unwrap_err();
    assert!(e.to_string().contains("prefetch must be at least 1"), "{e}");
    assert!(it.next().is_none());
    assert!(!subscribed.load(Ordering::SeqCst));
}

#[test]
fn blocking_iter_yields_the_error_last_and_is_fused() {
    let p = rstreams::concat([
        rstreams::range(0, 2).boxed(),
        rstreams::error(rstreams::Error::msg("late")).boxed(),
    ]);
    let mut it = p.blocking_iter_with(1);
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert_eq!(it.next().unwrap().unwrap(), 1);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

#[test]
fn blocking_iter_over_a_publisher_fed_by_another_thread() {
    let (tx, rx) = rstreams::emitter::<u64>(4);
    let producer = std::thread::spawn(move || {
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
    });
    let mut expected = 0;
    for x in rx.blocking_iter_with(16) {
        assert_eq!(x.unwrap(), expected);
        expected += 1;
    }
    producer.join().unwrap();
    assert_eq!(expected, 10_000);
}

#[test]
fn for_each_blocks_until_the_end_and_returns_a_panic_as_error() {
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    rstreams::range(1, 100)
        .for_each(move |x| {
            t.fetch_add(x, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(total.load(Ordering::SeqCst), 5050);

    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let e = rstreams::range(0, 100)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .for_each(|x| assert!(x < 5, "too big"))
        .unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn blocking_first_requests_one_and_cancels() {
    let reqs = Requests::default();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let first = rstreams::range(7, u64::MAX - 7)
        .do_on_request(reqs.hook())
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .blocking_first()
        .unwrap();
    assert_eq!(first, Some(7));
    assert_eq!(reqs.get(), vec![1]);
    assert!(cancelled.load(Ordering::SeqCst));
    assert_eq!(rstreams::range(0, 5).blocking_last().unwrap(), Some(4));
    assert_eq!(rstreams::empty::<u8>().blocking_last().unwrap(), None);
}

#[test]
fn consumer_follows_its_demand_policy_and_can_be_cancelled() {
    let reqs = Requests::default();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let handle = rstreams::range(0, 10)
        .do_on_request(reqs.hook())
        .subscribe_consumer(
            Consumer::new(move |_| {
                s.fetch_add(1, Ordering::SeqCst);
            })
            .on_complete(move || d.store(true, Ordering::SeqCst))
            .request(4)
            .replenish_every(3),
        );
    assert_eq!(seen.load(Ordering::SeqCst), 10);
    assert!(done.load(Ordering::SeqCst));
    assert!(handle.is_done());
    assert_eq!(reqs.get(), vec![4, 3, 3, 3]);

    // Without replenishing it stops after the first batch; the handle cancels.
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let count = Arc::new(AtomicU64::new(0));
    let k = count.clone();
    let handle = rstreams::range(0, 10)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .subscribe_consumer(
            Consumer::new(move |_| {
                k.fetch_add(1, Ordering::SeqCst);
            })
            .request(2),
        );
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(!handle.is_done());
    handle.cancel();
    assert!(handle.is_done());
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn consumer_panic_goes_to_its_error_closure() {
    let got = Arc::new(parking_lot::Mutex::new(None));
    let g = got.clone();
    rstreams::range(0, 3).subscribe_with(
        |_| panic!("consumer broke"),
        move |e| *g.lock() = Some(e),
        || panic!("no completion expected"),
    );
    let e = got.lock().take().expect("error delivered");
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert_eq!(e.panic_message(), Some("consumer broke"));
}

#[test]
fn blocking_iter_stops_an_upstream_that_ignores_demand() {
    // A broken publisher: sends 10 items whatever was requested (rule 1.1 violation).
    struct Flood;
    impl Publisher for Flood {
        type Item = u64;
        fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, mut s: S) {
            struct Nop;
            impl Subscription for Nop {
                fn request(&self, _: u64) {}
                fn cancel(&self) {}
            }
            s.on_subscribe(Box::new(Nop));
            for i in 0..10 {
                s.on_next(i);
            }
            s.on_complete();
        }
    }
    let got: Vec<_> = Flood.blocking_iter_with(4).collect();
    assert_eq!(got.len(), 5, "4 items then the error: {got:?}");
    let e = got[4].as_ref().unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R1_1), "{e}");
}
