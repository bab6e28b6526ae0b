//! Overflow policies: what each keeps, drops (reported and counted) or fails with, and the hot
//! sources that can only be subscribed through a policy.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams::executor::ManualExecutor;
use rstreams::overflow::{Overflow, OverflowPolicy, hot_emitter, interval};
use rstreams::prelude::*;
use support::{Sig, recorder};

fn items<T: std::fmt::Debug>(sigs: Vec<Sig<T>>) -> Vec<T> {
    sigs.into_iter()
        .filter_map(|s| match s {
            Sig::Next(x) => Some(x),
            _ => None,
        })
        .collect()
}

/// Emits 0..10 into `policy` with 2 requested up front, then requests 100 more.
fn run_policy<P: Publisher<Item = u32>>(
    make: impl FnOnce(rstreams::overflow::Hot<rstreams::overflow::HotEmitterSource<u32>>) -> P,
) -> (Vec<u32>, Vec<u32>, Option<rstreams::Error>) {
    let (tx, hot) = hot_emitter::<u32>();
    let (rec, probe) = recorder(2);
    make(hot).subscribe(rec);
    for i in 0..10 {
        // After an overflow error the policy has cancelled the source: emit gives items back.
        let _ = tx.emit(i);
    }
    let mut first = Vec::new();
    let mut error = None;
    let mut ended = false;
    for sig in probe.drain_ready() {
        match sig {
            Sig::Next(x) => first.push(x),
            Sig::Complete => ended = true,
            Sig::Error(e) => (ended, error) = (true, Some(e)),
        }
    }
    probe.request(100);
    drop(tx);
    let mut rest = Vec::new();
    while !ended {
        match probe.next_signal() {
            Sig::Next(x) => rest.push(x),
            Sig::Complete => ended = true,
            Sig::Error(e) => (ended, error) = (true, Some(e)),
        }
    }
    probe.assert_clean();
    (first, rest, error)
}

#[test]
fn buffer_drop_oldest_keeps_the_newest() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let d = Arc::clone(&dropped);
    let (first, rest, err) = run_policy(|h| {
        h.on_backpressure_buffer(3, OverflowPolicy::DropOldest)
            .on_drop(move |x| d.lock().unwrap().push(x))
    });
    assert_eq!(first, vec![0, 1]);
    assert_eq!(rest, vec![7, 8, 9]);
    assert!(err.is_none());
    assert_eq!(*dropped.lock().unwrap(), vec![2, 3, 4, 5, 6]);
}

#[test]
fn buffer_drop_newest_keeps_the_oldest_and_counts() {
    let (tx, hot) = hot_emitter::<u32>();
    let p = hot.on_backpressure_buffer(3, OverflowPolicy::DropNewest);
    let counter = p.drop_counter();
    let (rec, probe) = recorder(2);
    p.subscribe(rec);
    for i in 0..10 {
        tx.emit(i).unwrap();
    }
    assert_eq!(counter.get(), 5);
    probe.request(100);
    drop(tx);
    let (items, end) = probe.until_end();
    assert_eq!(items, vec![0, 1, 2, 3, 4]);
    assert!(end.is_ok());
}

#[test]
fn buffer_error_fails_after_the_buffered_items() {
    let (first, rest, err) = run_policy(|h| h.on_backpressure_buffer(3, OverflowPolicy::Error));
    assert_eq!(first, vec![0, 1]);
    assert_eq!(rest, vec![2, 3, 4]);
    let err = err.expect("overflow error");
    assert_eq!(
        err.downcast_ref::<Overflow>(),
        Some(&Overflow { capacity: 3 })
    );
    assert!(err.to_string().contains("overflow_policies.rs"), "{err}");
}

#[test]
fn drop_latest_and_error_policies() {
    let (first, rest, err) = run_policy(|h| h.on_backpressure_drop());
    assert_eq!((first, rest), (vec![0, 1], vec![]));
    assert!(err.is_none());

    let (first, rest, err) = run_policy(|h| h.on_backpressure_latest());
    assert_eq!((first, rest), (vec![0, 1], vec![9]));
    assert!(err.is_none());

    let (first, rest, err) = run_policy(|h| h.on_backpressure_error());
    assert_eq!((first, rest), (vec![0, 1], vec![]));
    assert!(err.unwrap().downcast_ref::<Overflow>().is_some());

    let (first, rest, err) = run_policy(|h| h.on_backpressure_buffer_unbounded());
    assert_eq!(first, vec![0, 1]);
    assert_eq!(rest, (2..10).collect::<Vec<_>>());
    assert!(err.is_none());
}

#[test]
fn policies_on_a_cold_publisher_request_unbounded_and_respect_demand() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = Arc::clone(&asked);
    let p = rstreams::range(0, 100)
        .do_on_request(move |n| a.lock().unwrap().push(n))
        .on_backpressure_buffer(10, OverflowPolicy::DropNewest);
    let counter = p.drop_counter();
    let (rec, probe) = recorder(5);
    p.subscribe(rec);
    assert_eq!(*asked.lock().unwrap(), vec![u64::MAX]);
    // 5 delivered, 10 buffered, 85 dropped, completion waits behind the buffer.
    assert_eq!(items(probe.drain_ready()), vec![0, 1, 2, 3, 4]);
    assert_eq!(counter.get(), 85);
    probe.request(u64::MAX);
    let (rest, end) = probe.until_end();
    assert_eq!(rest, (5..15).collect::<Vec<u64>>());
    assert!(end.is_ok());
}

#[test]
fn cancel_drops_the_buffer_and_detaches_the_hot_source() {
    let (tx, hot) = hot_emitter::<Arc<()>>();
    let token = Arc::new(());
    let (rec, probe) = recorder(0);
    hot.on_backpressure_buffer(8, OverflowPolicy::DropOldest)
        .subscribe(rec);
    for _ in 0..5 {
        tx.emit(Arc::clone(&token)).unwrap();
    }
    assert_eq!(Arc::strong_count(&token), 6);
    probe.cancel();
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "buffered items dropped on cancel"
    );
    assert!(!tx.is_live());
    assert!(tx.emit(Arc::clone(&token)).is_err());
}

#[test]
fn cancel_from_inside_on_next_does_not_deadlock_the_hot_emitter() {
    let (tx, hot) = hot_emitter::<u32>();
    let handle = Arc::new(Mutex::new(None::<rstreams::Cancellable>));
    let h2 = Arc::clone(&handle);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    let c = hot.on_backpressure_drop().subscribe_with(
        move |x| {
            s2.lock().unwrap().push(x);
            if let Some(h) = h2.lock().unwrap().as_ref() {
                h.cancel();
            }
        },
        |_| {},
        || {},
    );
    *handle.lock().unwrap() = Some(c);
    tx.emit(1).unwrap();
    let _ = tx.emit(2);
    assert_eq!(*seen.lock().unwrap(), vec![1]);
    assert!(!tx.is_live());
}

#[test]
fn interval_ticks_on_virtual_time_and_stops_on_cancel() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder(2);
    let p = interval(Duration::from_secs(1), Arc::new(exec.clone())).on_backpressure_latest();
    p.subscribe(rec);
    exec.advance(Duration::from_secs(5));
    // 2 requested: 0 and 1 delivered, then only the latest (4) is kept.
    assert_eq!(items(probe.drain_ready()), vec![0, 1]);
    probe.request(1);
    assert_eq!(items(probe.drain_ready()), vec![4]);
    probe.cancel();
    exec.advance(Duration::from_secs(5));
    assert!(probe.drain_ready().is_empty());
    assert_eq!(exec.pending_timers(), 0);
    probe.assert_clean();
}

#[test]
fn hot_emitter_is_unicast() {
    let (_tx, hot) = hot_emitter::<u32>();
    let p = Arc::new(hot.on_backpressure_drop());
    let (a, _pa) = recorder::<u32>(1);
    p.subscribe(a);
    let (b, pb) = recorder::<u32>(1);
    p.subscribe(b);
    let Sig::Error(e) = pb.next_signal() else {
        panic!("second subscriber must fail")
    };
    assert_eq!(e.rule(), Some(rstreams::Rule::R1_11));
}
