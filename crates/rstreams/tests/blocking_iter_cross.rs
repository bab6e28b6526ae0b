//! `blocking_iter` fed from another thread (issue 14 item 3, session 5): the items cross through
//! the hop's SPSC ring and the iterator parks on the hop's token (`sink/local.rs`). These check
//! what a user sees: every item, in order, then the end, whatever the prefetch; and a prefetch
//! beyond the ring's bound (4096) asks for no more than the ring holds.

use std::sync::{Arc, Mutex};

use rstreams::executor::ThreadPool;
use rstreams::prelude::*;

#[test]
fn items_from_a_pool_arrive_all_and_in_order_for_any_prefetch() {
    let pool = Arc::new(ThreadPool::new().expect("pool"));
    for prefetch in [1, 2, 3, 16, 256, 5000] {
        let n = 10_000u64;
        let mut expect = 0;
        for item in rstreams::range(0, n)
            .subscribe_on(pool.clone())
            .blocking_iter_with(prefetch)
        {
            assert_eq!(item.expect("no error"), expect, "prefetch {prefetch}");
            expect += 1;
        }
        assert_eq!(expect, n, "prefetch {prefetch}: every item, then the end");
    }
}

#[test]
fn an_error_from_another_thread_follows_the_items_before_it() {
    let pool = Arc::new(ThreadPool::new().expect("pool"));
    let got: Vec<_> = rstreams::range(0, 1000)
        .map(|x| if x == 700 { panic!("boom") } else { x })
        .subscribe_on(pool)
        .blocking_iter_with(64)
        .collect();
    assert_eq!(got.len(), 701, "700 items, then one error");
    assert!(
        got[..700]
            .iter()
            .enumerate()
            .all(|(i, x)| *x.as_ref().unwrap() == i as u64)
    );
    let err = got[700].as_ref().expect_err("the error comes last");
    assert!(err.to_string().contains("2.13"), "{err}");
}

#[test]
fn a_prefetch_beyond_the_ring_requests_at_most_4096() {
    let pool = Arc::new(ThreadPool::new().expect("pool"));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = asked.clone();
    let n = rstreams::range(0, 10_000)
        .do_on_request(move |k| a.lock().unwrap().push(k))
        .subscribe_on(pool)
        .blocking_iter_with(1 << 20)
        .map(Result::unwrap)
        .count();
    assert_eq!(n, 10_000);
    let asked = asked.lock().unwrap();
    assert_eq!(
        asked[0], 4096,
        "the first request is the ring's bound: {asked:?}"
    );
    assert!(asked.iter().all(|&k| k <= 4096), "{asked:?}");
}

#[test]
fn a_producer_that_waits_for_the_iterator_each_time_still_delivers_everything() {
    // The producer sends item i only after the iterator asked for it (a rendezvous), so the
    // iterator finds the ring empty every time and goes through its spin, yield and park paths
    // (which one depends on timing; each must hand over every item, in order, and the end).
    let (tx, rx) = rstreams::emitter::<u64>(4);
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let producer = std::thread::spawn(move || {
        for i in 0..200 {
            if asked.recv().is_err() {
                return;
            }
            tx.send(i).unwrap();
        }
    });
    let mut it = rx.blocking_iter_with(2);
    for i in 0..200 {
        ask.send(()).unwrap();
        assert_eq!(it.next().map(Result::unwrap), Some(i));
    }
    producer.join().unwrap();
    assert!(it.next().is_none(), "completion after the last item");
}
