//! The emitter: a bounded, blocking producer handle.

mod support;

use std::time::Duration;

use rstreams::Rule;
use rstreams::emitter::{SendTimeoutError, TrySendError};
use rstreams::prelude::*;
use support::{WAIT, recorder};

#[test]
fn items_flow_on_demand_and_dropping_every_handle_completes() {
    let (tx, rx) = rstreams::emitter::<u32>(4);
    let (r, probe) = recorder(0);
    rx.subscribe(r);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(probe.count(), 0, "no demand, no delivery");
    probe.request(1);
    assert_eq!(probe.items(), vec![1]);
    assert_eq!(tx.requested(), 0);
    probe.request(5);
    assert_eq!(probe.items(), vec![1, 2]);
    assert_eq!(tx.requested(), 4);
    let tx2 = tx.clone();
    drop(tx);
    assert!(!probe.terminated(), "a clone is still alive");
    tx2.send(3).unwrap();
    drop(tx2);
    assert_eq!(probe.items(), vec![1, 2, 3]);
    assert!(probe.completed());
}

#[test]
fn try_send_gives_the_item_back_when_full() {
    let (tx, _rx) = rstreams::emitter::<String>(2);
    tx.try_send("a".into()).unwrap();
    tx.try_send("b".into()).unwrap();
    match tx.try_send("c".into()) {
        Err(TrySendError::Full(item)) => assert_eq!(item, "c"),
        other => panic!("expected Full, got {other:?}"),
    }
}

#[test]
fn send_timeout_gives_the_item_back_after_the_deadline() {
    let (tx, _rx) = rstreams::emitter::<u8>(1);
    tx.send(1).unwrap();
    match tx.send_timeout(2, Duration::from_millis(20)) {
        Err(SendTimeoutError::Timeout(2)) => {}
        other => panic!("expected Timeout(2), got {other:?}"),
    }
}

#[test]
fn blocked_send_resumes_when_demand_arrives() {
    let (tx, rx) = rstreams::emitter::<u32>(1);
    let (r, probe) = recorder(0);
    rx.subscribe(r);
    let producer = std::thread::spawn(move || {
        for i in 0..50 {
            tx.send(i).unwrap(); // blocks while the single slot is taken
        }
    });
    for i in 1..=50 {
        probe.request(1);
        assert!(probe.wait_items(i, WAIT), "item {i} never came");
    }
    producer.join().unwrap();
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), (0..50).collect::<Vec<_>>());
}

#[test]
fn cancel_makes_send_return_the_item_and_nothing_is_lost() {
    let (tx, rx) = rstreams::emitter::<u32>(2);
    let (r, probe) = recorder(1);
    rx.subscribe(r);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    tx.send(3).unwrap();
    assert_eq!(probe.items(), vec![1]);
    let blocked = {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(4)) // buffer full: blocks until cancel
    };
    probe.cancel();
    let err = blocked.join().unwrap().unwrap_err();
    assert_eq!(err.into_inner(), 4);
    assert!(tx.is_cancelled());
    assert!(matches!(
        tx.send(5),
        Err(rstreams::emitter::SendError::Closed(5))
    ));
    assert_eq!(
        tx.undelivered(),
        vec![2, 3],
        "buffered items can be taken back"
    );
}

#[test]
fn several_producers_deliver_everything() {
    let (tx, rx) = rstreams::emitter::<u64>(8);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    tx.send(p * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut all: Vec<u64> = rx.blocking_iter_with(32).map(Result::unwrap).collect();
    for p in producers {
        p.join().unwrap();
    }
    all.sort_unstable();
    assert_eq!(all, (0..4000).collect::<Vec<_>>());
}

#[test]
fn second_subscriber_is_refused_with_rule_1_11() {
    let (_tx, rx) = rstreams::emitter::<u8>(1);
    let (r, _probe) = recorder(1);
    rx.subscribe(r);
    let (r2, probe2) = recorder(1);
    rx.subscribe(r2);
    let e = probe2.error().unwrap();
    assert_eq!(e.rule(), Some(Rule::R1_11));
    assert!(e.to_string().contains("unicast"), "{e}");
}

#[test]
fn fail_ends_the_stream_after_the_buffered_items() {
    let (tx, rx) = rstreams::emitter::<u8>(4);
    let other = tx.clone();
    tx.send(1).unwrap();
    tx.fail(rstreams::Error::msg("sensor broke"));
    assert!(other.send(2).is_err());
    let mut it = rx.blocking_iter_with(4);
    assert_eq!(it.next().unwrap().unwrap(), 1);
    let e = it.next().unwrap().unwrap_err();
    assert!(e.to_string().starts_with("sensor broke"), "{e}");
}

#[test]
fn under_a_concurrent_cancel_every_item_is_delivered_returned_or_undelivered() {
    for round in 0..20u64 {
        let (tx, rx) = rstreams::emitter::<u64>(8);
        let (r, probe) = recorder(0);
        rx.subscribe(r);
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let mut returned = Vec::new();
                    for i in 0..500 {
                        if let Err(e) = tx.send(p * 1000 + i) {
                            returned.push(e.into_inner());
                        }
                    }
                    returned
                })
            })
            .collect();
        // Consume some, then cancel while the producers are still sending.
        probe.request(100 + round * 10);
        assert!(probe.wait_items(100, WAIT));
        probe.cancel();
        let mut returned: Vec<u64> = producers
            .into_iter()
            .flat_map(|p| p.join().unwrap())
            .collect();
        let delivered = probe.items();
        returned.extend(tx.undelivered());
        let mut all: Vec<u64> = delivered.into_iter().chain(returned).collect();
        all.sort_unstable();
        let expected: Vec<u64> = (0..3u64)
            .flat_map(|p| (0..500).map(move |i| p * 1000 + i))
            .collect();
        assert_eq!(
            all, expected,
            "round {round}: an item was lost or duplicated"
        );
    }
}
