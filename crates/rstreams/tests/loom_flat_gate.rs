//! Loom model of the merge core's wake gate (`flat/gate.rs`) over the hop's SPSC ring: an
//! inner pushes an item and asks the gate whether to wake the drain; the drain arms the gate
//! and scans the ring. The property is "no lost wake-up": either the drain's scan sees the item
//! or the producer was told to wake the drain. The model starts with the gate already notified
//! (a wake-up pending), the case where the producer may skip waking. The broken twin uses a
//! stale-load short-cut with `Relaxed` orderings, and loom must find the interleaving where
//! the item is neither seen nor signalled.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams --profile loom --test loom_flat_gate`
#![cfg(rstreams_loom)]

use loom::sync::Arc;
use loom::thread;
use rstreams::flat::__loom::Gate;
use rstreams::hop::__loom::ring;

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let gate = Arc::new(Gate::<BROKEN>::new());
        // An earlier push already woke the drain, whose pass has not armed yet.
        assert!(gate.notify());
        let (mut producer, mut consumer) = ring::<u32, false>(2);
        let g = Arc::clone(&gate);
        let p = thread::spawn(move || {
            producer.push(7).unwrap();
            g.notify() // true: the producer wakes the drain
        });
        // The pending pass: arm, then scan.
        gate.arm();
        let seen = consumer.pop();
        let woke = p.join().unwrap();
        assert!(
            seen == Some(7) || woke,
            "lost wake-up: the scan missed the item and nobody was told to wake the drain"
        );
    });
}

#[test]
fn gate_never_loses_a_wake_up() {
    model::<false>();
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn broken_gate_with_a_stale_load_is_caught() {
    model::<true>();
}
