//! The multicast processor: fan-out, the three slow-consumer policies, terminal signals,
//! cancellation dropping buffers, and `share` cancelling upstream after its last subscriber.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::multicast::{Multicast, SlowConsumer};
use rstreams::prelude::*;
use support::*;

#[test]
fn every_subscriber_gets_every_item() {
    // Both attach before any demand, so both see the stream from its first item.
    let hub = rstreams::range(0, 1000).multicast(16, SlowConsumer::Hold);
    let (sa, a) = recorder(0);
    let (sb, b) = recorder(0);
    hub.subscribe(sa);
    hub.subscribe(sb);
    a.request(u64::MAX);
    for _ in 0..100 {
        b.request(10);
    }
    assert!(a.wait_terminal(WAIT) && b.wait_terminal(WAIT));
    let want: Vec<u64> = (0..1000).collect();
    assert_eq!(a.items(), want);
    assert_eq!(b.items(), want);
    assert!(a.completed() && b.completed());
    a.assert_clean();
    b.assert_clean();
}

#[test]
fn hold_keeps_everyone_to_the_slowest_buffer() {
    let up = counted(u64::MAX, |i| i);
    let hub = up.clone().multicast(8, SlowConsumer::Hold);
    let (sf, fast) = recorder(0);
    let (ss, slow) = recorder(0);
    hub.subscribe(sf);
    hub.subscribe(ss);
    // Finite demand: the upstream is synchronous and endless.
    fast.request(1000);
    assert!(fast.wait_items(8, WAIT));
    // The slow subscriber's buffer (8) is full: nothing more was asked of upstream.
    assert_eq!(up.counters.produced.load(Ordering::SeqCst), 8);
    assert_eq!(fast.len(), 8);
    slow.request(6);
    assert!(slow.wait_items(6, WAIT));
    // Room for 6 again (>= 75% of 8): one batch was asked for and reached the fast one.
    assert!(fast.wait_items(14, WAIT));
    assert_eq!(up.counters.produced.load(Ordering::SeqCst), 14);
    slow.cancel();
    // The slow one left: the fast one is held back by nobody.
    assert!(fast.wait_items(1000, WAIT));
    fast.cancel();
    fast.assert_clean();
    slow.assert_clean();
}

#[test]
fn drop_policy_counts_what_a_slow_subscriber_missed() {
    let hub = Multicast::<u64>::new(8);
    let (sf, fast) = recorder(u64::MAX);
    let (ss, slow) = recorder(0);
    hub.subscribe(sf);
    let stats = hub.subscribe_with_policy(ss, SlowConsumer::Drop);
    rstreams::range(0, 100).subscribe(hub.clone());
    assert!(fast.wait_terminal(WAIT));
    assert_eq!(fast.len(), 100);
    assert_eq!(stats.lagged(), 92, "8 buffered, the rest dropped for it");
    slow.request(100);
    assert!(slow.wait_terminal(WAIT));
    assert_eq!(slow.items(), (0..8).collect::<Vec<_>>());
    assert_eq!(stats.delivered(), 8);
    fast.assert_clean();
    slow.assert_clean();
}

#[test]
fn fail_policy_cuts_off_only_the_slow_subscriber() {
    let hub = Multicast::<u64>::new(4);
    let (sf, fast) = recorder(u64::MAX);
    let (ss, slow) = recorder(0);
    hub.subscribe(sf);
    hub.subscribe_with_policy(ss, SlowConsumer::Fail);
    rstreams::range(0, 50).subscribe(hub.clone());
    assert!(fast.wait_terminal(WAIT));
    assert_eq!(fast.len(), 50);
    assert!(slow.wait_terminal(WAIT));
    let e = slow.error().expect("cut off");
    assert!(e.to_string().contains("buffer of 4"), "{e}");
    assert_eq!(slow.len(), 0);
    fast.assert_clean();
    slow.assert_clean();
}

#[test]
fn errors_reach_everyone_at_once_and_late_subscribers_see_the_end() {
    let hub = Multicast::<u64>::new(4);
    let (sa, a) = recorder(0);
    let (sb, b) = recorder(0);
    hub.subscribe(sa);
    hub.subscribe(sb);
    rstreams::error::<u64>(Error::msg("boom")).subscribe(hub.clone());
    assert!(a.wait_terminal(WAIT) && b.wait_terminal(WAIT));
    assert_eq!(a.error().unwrap().to_string(), "boom");
    assert_eq!(b.error().unwrap().to_string(), "boom");
    let (sl, late) = recorder(0);
    hub.subscribe(sl);
    assert!(late.wait_terminal(WAIT));
    assert_eq!(late.error().unwrap().to_string(), "boom");

    let done = rstreams::range(0, 3).multicast(4, SlowConsumer::Hold);
    let (sf, first) = recorder(u64::MAX);
    done.subscribe(sf);
    assert!(first.wait_terminal(WAIT));
    let (sl, late) = recorder(0);
    done.subscribe(sl);
    assert!(late.wait_terminal(WAIT));
    assert!(late.with(|s| s.completes == 1 && s.items.is_empty()));
}

#[test]
fn cancelling_drops_the_subscribers_buffer() {
    let live = Arc::new(AtomicU64::new(0));
    let l2 = Arc::clone(&live);
    let up = counted(u64::MAX, move |i| Tracked::new(i, &l2));
    let hub = up.clone().multicast(16, SlowConsumer::Hold);
    let (sa, a) = recorder(1);
    let (sb, b) = recorder(0);
    hub.subscribe(sa);
    hub.subscribe(sb);
    assert!(a.wait_items(1, WAIT));
    assert!(live.load(Ordering::SeqCst) >= 16, "b holds a full buffer");
    b.cancel();
    a.cancel();
    drop((a, b));
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "no item survives its subscribers"
    );
    // The last subscriber left: the upstream is cancelled.
    assert_eq!(up.counters.alive(), 0);
    assert_eq!(hub.subscriber_count(), 0);
}

#[test]
fn with_options_keeps_its_upstream_without_subscribers() {
    let up = counted(u64::MAX, |i| i);
    let hub = Multicast::<u64>::with_options(4, SlowConsumer::Hold, false);
    up.subscribe(hub.clone());
    assert_eq!(up.counters.alive(), 1);
    let (sa, a) = recorder(2);
    hub.subscribe(sa);
    assert!(a.wait_items(2, WAIT));
    a.cancel();
    assert_eq!(
        up.counters.alive(),
        1,
        "multicast keeps its upstream without subscribers"
    );
}

#[test]
fn share_connects_on_first_and_cancels_after_last_subscriber() {
    let up = counted(u64::MAX, |i| i);
    let shared = up.clone().share(8);
    assert_eq!(up.counters.subscribed.load(Ordering::SeqCst), 0, "lazy");
    let (sa, a) = recorder(5);
    shared.subscribe(sa);
    assert!(a.wait_items(5, WAIT));
    let (sb, b) = recorder(3);
    shared.subscribe(sb);
    assert_eq!(
        up.counters.subscribed.load(Ordering::SeqCst),
        1,
        "second joins the first"
    );
    a.request(3);
    assert!(b.wait_items(3, WAIT));
    a.cancel();
    assert_eq!(up.counters.alive(), 1);
    b.cancel();
    assert_eq!(up.counters.alive(), 0, "last one left: upstream cancelled");
    let (sc, c) = recorder(2);
    shared.subscribe(sc);
    assert!(c.wait_items(2, WAIT));
    assert_eq!(c.items(), vec![0, 1], "a fresh connection starts over");
    assert_eq!(up.counters.subscribed.load(Ordering::SeqCst), 2);
    c.cancel();
}

#[test]
fn subscribers_on_other_threads_see_every_item_in_order() {
    // Attach all four, then connect the upstream (publish-then-connect).
    let hub = Multicast::<u64>::new(64);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let it = hub.blocking_iter_with(32);
            std::thread::spawn(move || it.collect::<Result<Vec<u64>, _>>())
        })
        .collect();
    rstreams::range(0, 20_000).subscribe(hub.clone());
    let want: Vec<u64> = (0..20_000).collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), want);
    }
}
