//! Several threads request concurrently; the totals are exact (rules 1.1, 1.3, 3.8).

mod common;

use std::sync::Barrier;

use common::{Log, Recorder};
use rstreams_protocol::Publisher;
use rstreams_protocol::reference::RangePublisher;

#[test]
fn concurrent_requesters_get_exactly_what_they_asked_for() {
    const THREADS: u64 = 4;
    const REQUESTS: u64 = 5_000;
    for round in 0..5 {
        let log = Log::new();
        // More items than will be requested, so every unit of demand is served.
        RangePublisher::new(0, u64::MAX / 2).subscribe(Recorder::new(&log, 0));
        let s = log.subscription();
        let barrier = Barrier::new(THREADS as usize);
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (s, barrier) = (&s, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..REQUESTS {
                        s.request(1 + (i + t + round) % 3);
                    }
                });
            }
        });
        let total: u64 = (0..THREADS)
            .map(|t| (0..REQUESTS).map(|i| 1 + (i + t + round) % 3).sum::<u64>())
            .sum();
        let items = log.items();
        assert_eq!(items.len() as u64, total);
        assert!(items.iter().copied().eq(0..total), "serial and in order");
        s.cancel();
        assert!(log.is_dropped());
    }
}

#[test]
fn cancel_from_another_thread_stops_unbounded_emission() {
    let log = Log::new();
    let started = std::sync::Arc::new(Barrier::new(2));
    let b2 = started.clone();
    let mut first = true;
    let rec = Recorder::new(&log, 0).with_hook(move |_, _| {
        if first {
            first = false;
            b2.wait();
        }
    });
    RangePublisher::new(0, u64::MAX / 2).subscribe(rec);
    let s = log.subscription();
    std::thread::scope(|scope| {
        let s2 = s.clone();
        scope.spawn(move || s2.request(u64::MAX));
        started.wait();
        s.cancel();
    });
    // The emitter thread returned, so emission stopped (1.8) and the subscriber was released.
    assert!(log.is_dropped());
    let n = log.items().len();
    s.request(10);
    assert_eq!(log.items().len(), n);
}
