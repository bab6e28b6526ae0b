//! loom model: a request that arrives while the drainer is leaving is not lost. Broken twin: the
//! drainer leaves by storing 0 instead of subtracting the marks it saw.
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
fn request_racing_with_drain_exit_is_served() {
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
        // Both requests were served, by whichever thread drained.
        assert_eq!(seen.received.load(SeqCst), 2);
        seen.assert_clean();
    });
}

#[test]
#[should_panic(expected = "left:")]
fn broken_twin_reset_on_exit_loses_a_request() {
    model(|| {
        let seen = Seen::new();
        let _hand =
            broken::Hand::subscribe(Probe::new(&seen, 0), u64::MAX, broken::Bug::ResetOnExit);
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        assert_eq!(seen.received.load(SeqCst), 2);
    });
}
