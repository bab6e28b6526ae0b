//! Loom model of `publish_on`'s deferred signals (`hop/park.rs`, "Deferred signals"): inside a
//! burst the producer publishes items and only *loads* `parked` after each
//! (`Parking::signal_lazily`); when that load misses a drain that is parking, it owes one fenced
//! `signal`, paid when the burst ends. The drain runs as usual: takes what is there, parks
//! (store `parked`, fence, re-check). Every interleaving and every stale read loom allows must
//! end with both items taken: by the drain, or by a drain a (lazy or owed) signal claimed.
//!
//! The broken twin never pays the owed signal: loom finds the run where the unfenced load reads
//! a stale `parked = false`, the parking drain a stale tail, and the last item is stranded.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" cargo test -p rstreams --profile loom --test loom_hop_defer`
#![cfg(rstreams_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use rstreams::hop::__loom::Parking;

const ITEMS: usize = 2;

fn model<const PAY_OWED: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        // `publish_on`'s drain starts awake (its first lane task looks at the ring).
        let parking = Arc::new(Parking::<false>::awake());
        // The "ring": how many items were published, and how many the drains took.
        let published = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));

        let p = {
            let (parking, published) = (Arc::clone(&parking), Arc::clone(&published));
            thread::spawn(move || {
                let mut claimed = false;
                let mut owed = false;
                for i in 1..=ITEMS {
                    // Release: the item's contents precede its publication (the tail store).
                    published.store(i, Ordering::Release);
                    match parking.signal_lazily() {
                        Some(c) => claimed |= c,
                        None => owed = true,
                    }
                }
                // The end of the burst.
                if PAY_OWED && owed {
                    claimed |= parking.signal();
                }
                claimed
            })
        };

        // The running drain: take what is there, then park unless work arrived.
        loop {
            // Acquire: pairs with the producer's Release stores.
            let avail = published.load(Ordering::Acquire);
            if avail > taken.load(Ordering::Relaxed) {
                taken.store(avail, Ordering::Relaxed);
                continue;
            }
            let t = Arc::clone(&taken);
            let pb = Arc::clone(&published);
            if !parking.park(move || pb.load(Ordering::Acquire) > t.load(Ordering::Relaxed)) {
                break;
            }
        }
        if p.join().unwrap() {
            // The drain a signal claimed runs now (after the first one left).
            let avail = published.load(Ordering::Acquire);
            taken.store(avail, Ordering::Relaxed);
        }
        assert_eq!(
            taken.load(Ordering::Relaxed),
            ITEMS,
            "a published item was stranded: nobody drains it"
        );
    });
}

#[test]
fn deferred_signals_never_strand_an_item() {
    model::<true>();
}

#[test]
#[should_panic(expected = "stranded")]
fn broken_burst_that_never_pays_its_owed_signal_is_caught() {
    model::<false>();
}
