//! Loom model of the hop's SPSC ring: a producer pushes, a consumer pops and publishes its head
//! in batches, and the ring wraps around so slots are reused. Loom checks every interleaving
//! for an unsynchronised slot access (its `UnsafeCell` tracks causality) and the test checks
//! FIFO order and that nothing is lost. The broken twin publishes `tail` with `Relaxed`, so the
//! consumer may read a slot whose write it has not synchronised with: loom must reject it.
//! The windowed variants drive the consumer as `publish_on`'s drain does (`refill` to look at
//! the producer's position, then `pop_cached` through that window), with the same twin.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" cargo test -p rstreams --profile loom --test loom_hop_queue`
#![cfg(rstreams_loom)]

use loom::thread;
use rstreams::hop::__loom::ring;

fn model<const BROKEN: bool, const WINDOWED: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        // Capacity 2 and 3 items: the third push must wait for the consumer to publish.
        let (mut producer, mut consumer) = ring::<u32, BROKEN>(2);
        let p = thread::spawn(move || {
            let mut next = 0;
            while next < 3 {
                match producer.push(next) {
                    Ok(()) => next += 1,
                    Err(_) => thread::yield_now(),
                }
            }
        });
        let mut seen = Vec::new();
        while seen.len() < 3 {
            let popped = if WINDOWED {
                match consumer.pop_cached() {
                    Some(x) => Some(x),
                    None if consumer.refill() != 0 => continue,
                    None => None,
                }
            } else {
                consumer.pop()
            };
            match popped {
                Some(x) => seen.push(x),
                None => {
                    consumer.publish();
                    thread::yield_now();
                }
            }
        }
        consumer.publish();
        p.join().unwrap();
        assert_eq!(seen, [0, 1, 2]);
    });
}

#[test]
fn ring_hand_off_is_ordered_and_synchronised() {
    model::<false, false>();
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_ring_with_relaxed_tail_is_caught() {
    model::<true, false>();
}

#[test]
fn windowed_hand_off_is_ordered_and_synchronised() {
    model::<false, true>();
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_windowed_ring_with_relaxed_tail_is_caught() {
    model::<true, true>();
}
