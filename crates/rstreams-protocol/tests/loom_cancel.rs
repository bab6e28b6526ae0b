//! loom model: cancel racing with emission stops emission and drops the subscriber (rules 1.8,
//! 3.12, 3.13). Broken twin: cancel that only sets a flag leaves the subscriber alive when no
//! drain comes after it.
#![cfg(rstreams_loom)]

#[path = "support/broken.rs"]
mod broken;
#[path = "support/loom_probe.rs"]
mod support;

use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use rstreams_protocol::pull;
use support::{Counter, Probe, Seen, model};

#[test]
fn cancel_racing_with_emission_drops_the_subscriber() {
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
        let (s2, sub2) = (seen.clone(), subscription.clone());
        let t = thread::spawn(move || s2.request_on(&sub2, 2));
        subscription.cancel();
        t.join().unwrap();
        // Emission stopped: nothing after the last in-flight delivery, at most what was asked.
        assert!(seen.received.load(SeqCst) <= 2);
        assert!(
            seen.dropped.load(SeqCst),
            "rule 3.13: subscriber still referenced after cancel"
        );
        assert_eq!(seen.terminals(), 0, "cancel sends no terminal signal");
        // 3.6: requests after cancel do nothing.
        let before = seen.received.load(SeqCst);
        subscription.request(1);
        assert_eq!(seen.received.load(SeqCst), before);
        seen.assert_clean();
    });
}

#[test]
#[should_panic(expected = "rule 3.13")]
fn broken_twin_cancel_without_drain_keeps_the_subscriber() {
    model(|| {
        let seen = Seen::new();
        let _hand = broken::Hand::subscribe(
            Probe::new(&seen, 0),
            u64::MAX,
            broken::Bug::CancelWithoutDrain,
        );
        let subscription = seen.subscription();
        let (s2, sub2) = (seen.clone(), subscription.clone());
        let t = thread::spawn(move || s2.request_on(&sub2, 2));
        subscription.cancel();
        t.join().unwrap();
        assert!(
            seen.dropped.load(SeqCst),
            "rule 3.13: subscriber still referenced after cancel"
        );
    });
}
