//! loom model: emitted <= requested at every moment (rule 1.1), with two threads requesting
//! concurrently against the pull kit. Broken twin: a drain whose entry is check-then-set lets two
//! threads emit from the same demand.
#![cfg(rstreams_loom)]

#[path = "support/broken.rs"]
mod broken;
#[path = "support/loom_probe.rs"]
mod support;

use loom::thread;
use rstreams_protocol::pull;
use support::{Counter, Probe, Seen, model};

#[test]
fn emitted_never_exceeds_requested() {
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
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        seen.assert_clean();
        assert_eq!(seen.received.load(loom::sync::atomic::Ordering::SeqCst), 2);
    });
}

#[test]
#[should_panic]
fn broken_twin_check_then_set_entry_over_delivers() {
    model(|| {
        let seen = Seen::new();
        let _hand = broken::Hand::subscribe(
            Probe::new(&seen, 0),
            u64::MAX,
            broken::Bug::CheckThenSetEntry,
        );
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        seen.assert_clean();
        assert_eq!(seen.received.load(loom::sync::atomic::Ordering::SeqCst), 2);
    });
}

/// Three threads: two requesters and a canceller. The bound holds at every delivery, callbacks
/// never overlap, and the subscriber is released.
#[test]
fn bound_holds_with_two_requesters_and_a_canceller() {
    model(|| {
        let seen = Seen::new();
        pull::serve(
            Counter {
                next: 0,
                limit: u64::MAX,
            },
            Probe::new(&seen, 0),
        );
        let subscription = seen.subscription();
        let (s1, sub1) = (seen.clone(), subscription.clone());
        let requester = thread::spawn(move || s1.request_on(&sub1, 2));
        let sub2 = subscription.clone();
        let canceller = thread::spawn(move || sub2.cancel());
        seen.request_on(&subscription, 1);
        requester.join().unwrap();
        canceller.join().unwrap();
        seen.assert_clean();
        assert!(seen.received.load(loom::sync::atomic::Ordering::SeqCst) <= 3);
        assert!(seen.dropped.load(loom::sync::atomic::Ordering::SeqCst));
    });
}
