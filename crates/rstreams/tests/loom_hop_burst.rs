//! Loom model of `subscribe_on`'s burst gate (`hop/burst.rs`): a lane task holds the
//! downstream's lock for a whole burst; a clean-up on another thread (the scheduler dropped
//! queued work) wants the stream ended under that lock but must not wait for the burst. Every
//! interleaving and every stale read loom allows must end with the downstream taken out and
//! ended exactly once: by the clean-up (it got the lock), by a signal of the burst (it saw
//! `pending` under the lock), or by the burst holder after it released the lock.
//!
//! The broken twin omits both fences: loom finds the store-buffer outcome where the holder reads
//! a stale `pending = false` after its burst and the clean-up a stale `bursting = true`, and
//! nobody ends the stream.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" cargo test -p rstreams --profile loom --test loom_hop_burst`
#![cfg(rstreams_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use rstreams::hop::__loom::BurstGate;

struct Stream<const B: bool> {
    gate: BurstGate<B>,
    /// The downstream (`Some` until ended).
    down: Mutex<Option<()>>,
    ended: AtomicUsize,
}

impl<const B: bool> Stream<B> {
    fn end(&self, slot: &mut Option<()>) {
        if slot.take().is_some() {
            // Relaxed: read after joining.
            self.ended.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The clean-up's (and the holder's) attempt: with the lock, end the stream.
    fn try_end(&self) -> bool {
        match self.down.try_lock() {
            Ok(mut slot) => {
                self.end(&mut slot);
                true
            }
            Err(_) => false,
        }
    }
}

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let s = Arc::new(Stream::<BROKEN> {
            gate: BurstGate::new(),
            down: Mutex::new(Some(())),
            ended: AtomicUsize::new(0),
        });

        let holder = {
            let s = Arc::clone(&s);
            thread::spawn(move || {
                {
                    let mut slot = s.down.lock().unwrap();
                    s.gate.set_bursting(true);
                    // One signal of the burst, then its check (`check_pending`).
                    if s.gate.is_pending() {
                        s.end(&mut slot);
                    }
                    s.gate.set_bursting(false);
                }
                s.gate.after_burst(|| s.try_end());
            })
        };

        s.gate.request_end(|| s.try_end());
        holder.join().unwrap();
        assert_eq!(
            s.ended.load(Ordering::Relaxed),
            1,
            "the stream was never ended: its clean-up was lost"
        );
    });
}

#[test]
fn burst_gate_never_loses_the_ending() {
    model::<false>();
}

#[test]
#[should_panic(expected = "never ended")]
fn broken_gate_without_fences_is_caught() {
    model::<true>();
}
