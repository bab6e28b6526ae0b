//! Loom model of the hop drain's parking protocol (`hop/park.rs`): a producer publishes an item
//! with a plain store and signals (fence, then a load of `parked`); the drainer, finding
//! nothing, parks (store `parked`, fence, re-check). Every interleaving and every stale read
//! loom allows must end with the item taken: by the drainer's re-check, or by a drain the
//! producer scheduled because it claimed the token. Exactly one of them may hold the token.
//!
//! The broken twin omits both fences: loom finds the store-buffer outcome where the producer
//! reads a stale `parked = false`, the drainer a stale empty slot, and the item is stranded.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" cargo test -p rstreams --profile loom --test loom_hop_park`
#![cfg(rstreams_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use rstreams::hop::__loom::Parking;

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let parking = Arc::new(Parking::<BROKEN>::new());
        // The "ring": how many items were published, and how many the drains took.
        let published = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        // The drain starts out holding the token (as after the first signal).
        assert!(parking.signal());

        let p = {
            let (parking, published) = (Arc::clone(&parking), Arc::clone(&published));
            thread::spawn(move || {
                // Release: the item's contents precede its publication (the ring's tail store).
                published.store(1, Ordering::Release);
                parking.signal()
            })
        };

        // The running drain: take what is there, then park unless work arrived.
        let drainer_holds = loop {
            // Acquire: pairs with the producer's Release store.
            let avail = published.load(Ordering::Acquire);
            let mine = taken.load(Ordering::Relaxed);
            if avail > mine {
                taken.store(avail, Ordering::Relaxed);
                continue;
            }
            let t = Arc::clone(&taken);
            let pb = Arc::clone(&published);
            if !parking.park(move || pb.load(Ordering::Acquire) > t.load(Ordering::Relaxed)) {
                break false;
            }
        };
        assert!(!drainer_holds);
        let producer_claimed = p.join().unwrap();
        if producer_claimed {
            // The drain the producer scheduled runs now (after the first one left).
            let avail = published.load(Ordering::Acquire);
            taken.store(avail, Ordering::Relaxed);
        }
        assert_eq!(
            taken.load(Ordering::Relaxed),
            1,
            "the published item was stranded: nobody drains it"
        );
    });
}

#[test]
fn parked_drain_never_strands_an_item() {
    model::<false>();
}

#[test]
#[should_panic(expected = "stranded")]
fn broken_parking_without_fences_is_caught() {
    model::<true>();
}
