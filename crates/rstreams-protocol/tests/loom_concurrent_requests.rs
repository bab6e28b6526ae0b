//! loom model: concurrent requests sum exactly, and saturate at unbounded (rules 3.8, 3.17).
//! Broken twins: a load-then-store addition loses a request; a wrapping addition turns
//! "unbounded" into a small number.
#![cfg(rstreams_loom)]

#[path = "support/broken.rs"]
mod broken;
#[path = "support/loom_probe.rs"]
mod support;

use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use rstreams_protocol::{Demand, pull};
use support::{Counter, Probe, Seen, model};

#[test]
fn demand_counter_sums_exactly_under_concurrency() {
    model(|| {
        let demand = std::sync::Arc::new(Demand::new());
        let d2 = demand.clone();
        let t = thread::spawn(move || {
            d2.add(2);
        });
        demand.add(3);
        demand.produced(0);
        t.join().unwrap();
        assert_eq!(demand.get(), 5);
    });
}

#[test]
fn concurrent_requests_are_delivered_exactly() {
    model(|| {
        let seen = Seen::new();
        pull::serve(
            Counter {
                next: 0,
                limit: u64::MAX,
            },
            Probe::new(&seen, 0),
        );
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(2));
        seen.request(1);
        t.join().unwrap();
        assert_eq!(seen.received.load(SeqCst), 3);
        seen.assert_clean();
    });
}

#[test]
fn saturation_to_unbounded_sticks_under_concurrency() {
    model(|| {
        let demand = std::sync::Arc::new(Demand::new());
        let d2 = demand.clone();
        let t = thread::spawn(move || {
            d2.add(u64::MAX - 1);
        });
        demand.add(5);
        t.join().unwrap();
        assert!(demand.is_unbounded());
        demand.produced(7);
        assert!(demand.is_unbounded());
    });
}

#[test]
fn saturating_requests_deliver_everything() {
    model(|| {
        let seen = Seen::new();
        pull::serve(Counter { next: 0, limit: 10 }, Probe::new(&seen, 0));
        let subscription = seen.subscription();
        let sub2 = subscription.clone();
        let t = thread::spawn(move || sub2.request(u64::MAX - 1));
        subscription.request(5);
        t.join().unwrap();
        assert_eq!(
            seen.received.load(SeqCst),
            10,
            "unbounded demand must deliver everything"
        );
        assert_eq!(seen.completes.load(SeqCst), 1);
    });
}

#[test]
#[should_panic(expected = "left:")]
fn broken_twin_racy_add_loses_a_request() {
    model(|| {
        let seen = Seen::new();
        let _hand = broken::Hand::subscribe(Probe::new(&seen, 0), u64::MAX, broken::Bug::RacyAdd);
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(2));
        seen.request(1);
        t.join().unwrap();
        assert_eq!(seen.received.load(SeqCst), 3);
    });
}

#[test]
#[should_panic(expected = "unbounded")]
fn broken_twin_wrapping_add_forgets_unbounded() {
    model(|| {
        let seen = Seen::new();
        let _hand = broken::Hand::subscribe(Probe::new(&seen, 0), 10, broken::Bug::WrappingAdd);
        // When both additions land before a pass, (MAX - 1) + 5 wraps to 3 instead of sticking
        // at unbounded: the 10-item stream stalls after 3.
        let subscription = seen.subscription();
        let sub2 = subscription.clone();
        let t = thread::spawn(move || sub2.request(u64::MAX - 1));
        subscription.request(5);
        t.join().unwrap();
        assert_eq!(
            seen.received.load(SeqCst),
            10,
            "unbounded demand must deliver everything"
        );
    });
}
