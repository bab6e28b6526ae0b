//! Concurrent downstream requests against the stages that keep demand counters.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::prelude::*;
use support::{Requests, recorder};

const THREADS: u64 = 4;
const PER_THREAD: u64 = 500;

/// Requests 1 at a time from several threads at once; the synchronous upstream emits on
/// whichever thread wins its drain, so the stage's `on_next` races with the other threads'
/// `request`.
fn hammer<P: Publisher<Item = u64>>(p: P) -> support::Probe<u64> {
    let (r, probe) = recorder(0);
    p.subscribe(r);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let probe = probe.clone();
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    probe.request(1);
                }
            });
        }
    });
    probe
}

#[test]
fn filter_under_concurrent_requests_delivers_exactly_and_never_over_requests() {
    for _round in 0..20 {
        let reqs = Requests::default();
        let emitted = Arc::new(AtomicU64::new(0));
        let e = emitted.clone();
        let probe = hammer(
            rstreams::range(0, u64::MAX)
                .do_on_request(reqs.hook())
                .do_on_next(move |_| {
                    e.fetch_add(1, Ordering::SeqCst);
                })
                .filter(|x| x % 3 == 0),
        );
        let want = THREADS * PER_THREAD;
        // The recorder asserts rule 1.1 on every item; here: exactly what was asked for, in order.
        assert_eq!(probe.items(), (0..want).map(|i| i * 3).collect::<Vec<_>>());
        // Upstream was asked for exactly what it emitted: the 5998 items needed, no more.
        assert_eq!(emitted.load(Ordering::SeqCst), (want - 1) * 3 + 1);
        assert_eq!(reqs.total(), emitted.load(Ordering::SeqCst));
    }
}

#[test]
fn skip_while_and_filter_map_under_concurrent_requests() {
    for _round in 0..10 {
        let probe = hammer(
            rstreams::range(0, u64::MAX)
                .skip_while(|x| *x < 100)
                .filter_map(|x| (x % 2 == 0).then_some(x / 2)),
        );
        let want = THREADS * PER_THREAD;
        assert_eq!(probe.items(), (50..50 + want).collect::<Vec<_>>());
    }
}

#[test]
fn limit_rate_under_concurrent_requests_keeps_its_bound() {
    for _round in 0..20 {
        let reqs = Requests::default();
        let emitted = Arc::new(AtomicU64::new(0));
        let e = emitted.clone();
        let probe = hammer(
            rstreams::range(0, u64::MAX)
                .do_on_request(reqs.hook())
                .do_on_next(move |_| {
                    e.fetch_add(1, Ordering::SeqCst);
                })
                .limit_rate(16, 4),
        );
        let want = THREADS * PER_THREAD;
        assert_eq!(probe.count() as u64, want);
        assert_eq!(reqs.total(), want, "never beyond the downstream's demand");
        assert!(reqs.get().iter().all(|n| *n <= 16), "{:?}", reqs.get());
    }
}

#[test]
fn take_under_concurrent_requests_caps_the_total() {
    for _round in 0..20 {
        let reqs = Requests::default();
        let probe = hammer(
            rstreams::range(0, u64::MAX)
                .do_on_request(reqs.hook())
                .take(777),
        );
        assert_eq!(probe.count(), 777);
        assert!(probe.completed());
        assert_eq!(reqs.total(), 777);
    }
}
