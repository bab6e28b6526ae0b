//! `publish_on` and `subscribe_on`: delivery thread, demand batching, prefetch bound, errors,
//! cancel, rejection of bad prefetch, and the reliability cases of issue 6 point 7.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use support::{Sig, recorder};

fn pool(_name: &str) -> Arc<dyn Scheduler> {
    support::pool()
}

#[test]
fn items_arrive_in_order_on_the_scheduler() {
    let (rec, probe) = recorder(u64::MAX);
    rstreams::range(0, 10_000)
        .publish_on_with(pool("po-order"), 64)
        .subscribe(rec);
    let (items, end) = probe.until_end();
    assert!(end.is_ok());
    assert_eq!(items, (0..10_000).collect::<Vec<u64>>());
    let names = probe.shared.thread_names.lock();
    assert!(
        names
            .iter()
            .all(|n| n.as_deref().is_some_and(|n| n.starts_with("flow-test")))
    );
    probe.assert_clean();
}

#[test]
fn upstream_requests_are_prefetch_then_75_percent_batches() {
    let exec = ManualExecutor::new();
    let asked = Arc::new(StdMutex::new(Vec::new()));
    let a = Arc::clone(&asked);
    let (rec, probe) = recorder(u64::MAX);
    rstreams::range(0, 1000)
        .do_on_request(move |n| a.lock().unwrap().push(n))
        .publish_on_with(Arc::new(exec.clone()), 16)
        .subscribe(rec);
    exec.run_until_idle();
    let (items, end) = probe.until_end();
    assert!(end.is_ok());
    assert_eq!(items.len(), 1000);
    let asked = asked.lock().unwrap();
    assert_eq!(asked[0], 16);
    assert!(asked[1..].iter().all(|&n| n == 12), "{asked:?}");
    // 16 + 12k >= 1000 first at k = 82; no request per item.
    assert_eq!(asked.len(), 1 + 82);
}

#[test]
fn downstream_demand_is_respected_and_prefetch_bounds_the_queue() {
    let exec = ManualExecutor::new();
    let produced = Arc::new(AtomicU64::new(0));
    let p = Arc::clone(&produced);
    let (rec, probe) = recorder(0);
    rstreams::range(0, 1_000_000)
        .do_on_next(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .publish_on_with(Arc::new(exec.clone()), 32)
        .subscribe(rec);
    exec.run_until_idle();
    probe.wait_subscribed();
    // No downstream demand: the upstream produced exactly the prefetch, nothing was delivered.
    assert_eq!(produced.load(Ordering::SeqCst), 32);
    assert!(probe.drain_ready().is_empty());
    probe.request(5);
    exec.run_until_idle();
    assert_eq!(probe.expect_items(5), vec![0, 1, 2, 3, 4]);
    assert!(probe.drain_ready().is_empty());
    // 5 consumed < 24 (75% of 32): no replenish yet.
    assert_eq!(produced.load(Ordering::SeqCst), 32);
    probe.request(30);
    exec.run_until_idle();
    assert_eq!(probe.expect_items(30).len(), 30);
    // 35 consumed: one replenish of 24 happened; in flight = 32 + 24 - 35 = 21 <= 32.
    assert_eq!(produced.load(Ordering::SeqCst), 56);
    probe.cancel();
    exec.run_until_idle();
    probe.assert_clean();
}

#[test]
fn error_is_delivered_after_the_queued_items() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder(u64::MAX);
    rstreams::concat([
        rstreams::range(0, 3).boxed(),
        rstreams::error(Error::msg("boom")).boxed(),
    ])
    .publish_on_with(Arc::new(exec.clone()), 8)
    .subscribe(rec);
    exec.run_until_idle();
    let (items, end) = probe.until_end();
    assert_eq!(items, vec![0, 1, 2]);
    assert!(end.unwrap_err().to_string().contains("boom"));
    probe.assert_clean();
}

#[test]
fn empty_upstream_completes_without_demand() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(0);
    rstreams::empty()
        .publish_on_with(Arc::new(exec.clone()), 8)
        .subscribe(rec);
    exec.run_until_idle();
    assert!(matches!(probe.next_signal(), Sig::Complete));
    probe.assert_clean();
}

#[test]
fn prefetch_zero_is_rejected_with_a_clear_error() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(1);
    rstreams::range(0, 3)
        .publish_on_with(Arc::new(exec.clone()), 0)
        .subscribe(rec);
    let Sig::Error(e) = probe.next_signal() else {
        panic!("expected an error")
    };
    let msg = e.to_string();
    assert!(msg.contains("prefetch must be between 1"), "{msg}");
    assert!(msg.contains("hop_publish_on.rs"), "names the stage: {msg}");
}

#[test]
fn request_zero_fails_with_rule_3_9() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(0);
    rstreams::range(0, 3)
        .publish_on_with(Arc::new(exec.clone()), 4)
        .subscribe(rec);
    exec.run_until_idle();
    probe.wait_subscribed();
    probe.request(0);
    exec.run_until_idle();
    let Sig::Error(e) = probe.next_signal() else {
        panic!("expected an error")
    };
    assert_eq!(e.rule(), Some(rstreams::Rule::R3_9));
}

/// Counts live items: created when produced, dropped when the consumer drops them.
struct Tracked(Arc<AtomicU64>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn fast_producer_slow_consumer_never_has_more_than_prefetch_in_flight() {
    // Producer on one pool (subscribe_on), consumer on another (publish_on); the consumer holds
    // each item until the next one arrives, so "in flight" = live - 1 at every on_next.
    let live = Arc::new(AtomicU64::new(0));
    let max_seen = Arc::new(AtomicU64::new(0));
    let l = Arc::clone(&live);
    let prefetch = 16u64;
    let source = rstreams::generate(
        move || (),
        move |_, sink| {
            l.fetch_add(1, Ordering::SeqCst);
            sink.next(Tracked(Arc::clone(&l)));
        },
    );
    let (l2, m2) = (Arc::clone(&live), Arc::clone(&max_seen));
    let total = Arc::new(AtomicU64::new(0));
    let t2 = Arc::clone(&total);
    let handle = source
        .subscribe_on(pool("ff-prod"))
        .publish_on_with(pool("ff-cons"), prefetch as usize)
        .take(5_000)
        .subscribe_with(
            move |item: Tracked| {
                // Everything alive now is in the ring, in flight upstream, or this item.
                m2.fetch_max(l2.load(Ordering::SeqCst), Ordering::SeqCst);
                for _ in 0..200 {
                    std::hint::spin_loop(); // a slow consumer
                }
                t2.fetch_add(1, Ordering::SeqCst);
                drop(item);
            },
            |e| panic!("{e}"),
            || {},
        );
    let deadline = std::time::Instant::now() + support::WAIT;
    while !handle.is_done() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    assert_eq!(total.load(Ordering::SeqCst), 5_000);
    // prefetch in the ring (+ the item being delivered, counted in the ring's budget).
    let max = max_seen.load(Ordering::SeqCst);
    assert!(max <= prefetch, "max in flight {max} > prefetch {prefetch}");
    assert!(max >= 2, "the hop actually buffered ({max})");
}

#[test]
fn oversized_prefetch_is_rejected_too() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(1);
    rstreams::range(0, 3)
        .publish_on_with(Arc::new(exec.clone()), rstreams::hop::MAX_PREFETCH + 1)
        .subscribe(rec);
    let Sig::Error(e) = probe.next_signal() else {
        panic!("expected an error")
    };
    assert!(e.to_string().contains("prefetch must be between 1"), "{e}");
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<rstreams::hop::PublishOn<rstreams::source::Range>>();
    check::<rstreams::hop::SubscribeOn<rstreams::source::Range>>();
    check::<rstreams::overflow::OnBackpressure<rstreams::source::Range>>();
    check::<rstreams::overflow::HotEmitter<u32>>();
    check::<rstreams::overflow::DropCounter>();
    check::<rstreams::time::Timeout<rstreams::source::Range>>();
    check::<rstreams::time::Delay<rstreams::source::Range>>();
    check::<rstreams::time::BufferTimeout<rstreams::source::Range>>();
    check::<rstreams::time::Retry<rstreams::source::Range>>();
}
