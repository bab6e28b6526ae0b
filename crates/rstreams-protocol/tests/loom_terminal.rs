//! loom model: exactly one terminal signal, and nothing after it (rules 1.6, 1.7), with two
//! threads requesting past the end of a one-item stream. Broken twin: completion decided by a
//! check-then-act outside the drain.
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
fn exactly_one_terminal_signal() {
    model(|| {
        let seen = Seen::new();
        pull::serve(Counter { next: 0, limit: 1 }, Probe::new(&seen, 0));
        // Fetched up front: the slot empties when the probe is dropped after on_complete.
        let subscription = seen.subscription();
        let (s2, sub2) = (seen.clone(), subscription.clone());
        let t = thread::spawn(move || s2.request_on(&sub2, 1));
        seen.request_on(&subscription, 1);
        t.join().unwrap();
        assert_eq!(seen.received.load(SeqCst), 1);
        assert_eq!(seen.completes.load(SeqCst), 1);
        assert!(
            seen.dropped.load(SeqCst),
            "rule 1.6: subscriber kept after on_complete"
        );
        seen.assert_clean();
    });
}

#[test]
#[should_panic]
fn broken_twin_completion_outside_the_drain_signals_twice() {
    model(|| {
        let seen = Seen::new();
        let _hand =
            broken::Hand::subscribe(Probe::new(&seen, 0), 1, broken::Bug::CompleteOutsideDrain);
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        seen.assert_clean();
    });
}
