//! loom model: never two threads inside a callback of one subscriber (rule 1.3). The kit keeps
//! the subscriber in a loom `UnsafeCell`, so loom itself proves exclusivity; the probe's
//! "inside" flag double-checks. Broken twin: the same race as a check-then-set entry, observed as
//! concurrent access to the subscriber.
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
fn callbacks_never_overlap() {
    model(|| {
        let seen = Seen::new();
        // Two items: the second request may arrive while the first item is being delivered.
        pull::serve(Counter { next: 0, limit: 2 }, Probe::new(&seen, 0));
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        seen.assert_clean();
        assert_eq!(seen.received.load(SeqCst), 2);
        assert_eq!(seen.completes.load(SeqCst), 1);
    });
}

#[test]
#[should_panic]
fn broken_twin_overlapping_callbacks_are_caught() {
    model(|| {
        let seen = Seen::new();
        let _hand =
            broken::Hand::subscribe(Probe::new(&seen, 0), 2, broken::Bug::CheckThenSetEntry);
        let s2 = seen.clone();
        let t = thread::spawn(move || s2.request(1));
        seen.request(1);
        t.join().unwrap();
        seen.assert_clean();
    });
}
