//! A subscriber that panics on a pool thread behind `publish_on`: the panic reaches the
//! undeliverable hook (rule 2.13), the upstream is cancelled, and the pool's worker survives.
//! Its own binary: the hook is process-global.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::bounded;
use rstreams::prelude::*;
use support::{WAIT, pool, recorder};

struct Panicky;
impl Subscriber<u64> for Panicky {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        assert!(x < 5, "subscriber exploded at {x}");
    }
    fn on_error(&mut self, _: rstreams::Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn panic_in_a_subscriber_on_a_pool_thread_reaches_the_hook_and_cancels_upstream() {
    let (tx, rx) = bounded(4);
    rstreams::set_undeliverable_hook(move |e| {
        let _ = tx.try_send(e.clone());
    });
    let produced = Arc::new(AtomicU64::new(0));
    let (cancel_tx, cancel_rx) = bounded(1);
    let p = Arc::clone(&produced);
    rstreams::range(0, u64::MAX - 1)
        .do_on_next(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        })
        .do_on_cancel(move || {
            let _ = cancel_tx.try_send(());
        })
        .subscribe_on(pool())
        .publish_on_with(pool(), 8)
        .subscribe(Panicky);
    let e = rx.recv_timeout(WAIT).expect("the panic reached the hook");
    assert_eq!(e.rule(), Some(rstreams::Rule::R2_13));
    assert!(e.to_string().contains("subscriber exploded at 5"), "{e}");
    cancel_rx.recv_timeout(WAIT).expect("upstream cancelled");
    // Bounded: at most the prefetch plus one replenish batch were ever produced.
    assert!(
        produced.load(Ordering::SeqCst) <= 8 + 6,
        "{}",
        produced.load(Ordering::SeqCst)
    );
    // The workers survived: another pipeline on the same pool completes.
    let (rec, probe) = recorder(u64::MAX);
    rstreams::range(0, 100)
        .publish_on_with(pool(), 8)
        .subscribe(rec);
    let (items, end) = probe.until_end();
    assert!(end.is_ok());
    assert_eq!(items.len(), 100);
}
