//! Loom model of the merge core's wake gate and ready set (`flat/gate.rs`) over the hop's SPSC
//! rings: two inners each push an item into their own ring and report their ready bit to the
//! gate; the drain takes the bits while busy, visits the rings whose bits it took, then arms the
//! gate, visits the rings of the bits the arm returned, and stops. The property is "no lost
//! item": every item is either seen by that pass, or a producer was told to wake the drain
//! (after the arm) and the next pass, which takes the bits again, sees it. The model starts
//! with a wake-up pending (`AWAKE` set), the case where producers may skip waking. The broken
//! twin uses a stale-load short-cut with `Relaxed` orderings, and loom must find the
//! interleaving where an item is neither seen nor signalled.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams --profile loom --test loom_flat_gate`
#![cfg(rstreams_loom)]

use loom::sync::Arc;
use loom::thread;
use rstreams::flat::__loom::{Gate, bit_of};
use rstreams::hop::__loom::{Consumer, ring};

/// One pass's visit of the rings whose bits are in `bits`: pops everything there.
fn visit<const B: bool>(bits: u64, rings: &mut [Consumer<u32, B>; 2], seen: &mut [bool; 3]) {
    for (id, r) in rings.iter_mut().enumerate() {
        if bits & bit_of(id as u64) != 0 {
            while let Some(v) = r.pop() {
                seen[v as usize] = true;
            }
        }
    }
}

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let gate = Arc::new(Gate::<BROKEN>::new());
        let (mut p0, c0) = ring::<u32, false>(2);
        let (mut p1, c1) = ring::<u32, false>(2);
        // Earlier pushes by both inners (items 0 and 1) already woke the drain, whose pass is
        // about to start: the word holds both bits and `AWAKE`.
        p0.push(0).unwrap();
        assert!(gate.notify(bit_of(0)));
        p1.push(1).unwrap();
        assert!(!gate.notify(bit_of(1)));
        let g = Arc::clone(&gate);
        let producer = thread::spawn(move || {
            // Inner 1 (another thread) pushes item 2 and reports.
            p1.push(2).unwrap();
            g.notify(bit_of(1))
        });
        let mut rings = [c0, c1];
        let mut seen = [false; 3];
        // The pending pass: a busy take, its visits, then the arm and its visits.
        let bits = gate.take();
        visit(bits, &mut rings, &mut seen);
        let bits = gate.arm();
        visit(bits, &mut rings, &mut seen);
        let woke = producer.join().unwrap();
        if woke {
            // The wake-up runs another pass, which takes the bits and visits.
            let bits = gate.arm();
            visit(bits, &mut rings, &mut seen);
        }
        assert!(
            seen.iter().all(|s| *s),
            "lost wake-up: an item is in its ring, unseen, and nobody was told to wake the \
             drain (seen {seen:?}, woke {woke})"
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
