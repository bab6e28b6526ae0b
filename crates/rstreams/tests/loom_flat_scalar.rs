//! Loom model of the merge core's scalar lane (`flat/core.rs`: `push_scalar`, `notify_scalar`,
//! `drain_scalars`) over the hop's SPSC ring and the real pull kit.
//!
//! The lane has no gate: the outer subscriber pushes a `just` value into the one scalar ring and
//! wakes the kit, unless it is itself the thread running the drain (the drainer token), in which
//! case it only leaves a note that the drain re-scans. Every pass looks at the scalar ring, and
//! the kit's serial-drain counter orders the push before the pass its wake-up causes (or makes
//! the pass running on another thread go round again). The property is "no lost scalar": with
//! demand outstanding, every pushed value reaches the subscriber, whichever way the push races
//! with a pass started by a downstream `request` on another thread.
//!
//! The broken twin takes the tempting short-cut of skipping the wake-up whenever *some* thread
//! is draining (the token is non-zero) rather than only when it is this one: the running pass
//! may already have looked at the ring and be leaving, and loom finds the value stuck there.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams --profile loom --test loom_flat_scalar`
#![cfg(rstreams_loom)]

use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use rstreams::hop::__loom::{Consumer, Producer, ring};
use rstreams::protocol::pull::{self, PullHandle, Source, Step};
use rstreams::protocol::{Error, Subscriber, Subscription};

/// What the lane's producer and the drain share besides the ring (`MergeCore`'s fields).
struct Shared {
    /// The token of the thread in the drain's `pull_many`, or 0 (`MergeCore::drainer`).
    drainer: AtomicUsize,
    /// Set by a push made on the drainer's own thread (`MergeCore::self_pushed`).
    self_pushed: AtomicBool,
}

/// The drain: as `MergeSource::pull_many`, every pass looks at the scalar ring first.
struct Drain {
    shared: Arc<Shared>,
    scalars: Consumer<u32, false>,
    token: usize,
}

impl Source for Drain {
    type Item = u32;

    fn pull(&mut self) -> Step<u32> {
        let mut got = None;
        let (_, stop) = self.pull_many(1, |v| {
            got = Some(v);
            true
        });
        got.map_or(stop.unwrap_or(Step::Pending), Step::Next)
    }

    fn pull_many<F: FnMut(u32) -> bool>(
        &mut self,
        limit: u64,
        mut emit: F,
    ) -> (u64, Option<Step<u32>>) {
        // Relaxed, as in the core: only this thread's own pushes read its token there.
        self.shared.drainer.store(self.token, Ordering::Relaxed);
        let mut n = 0;
        loop {
            while n < limit {
                let Some(v) = self.scalars.pop() else { break };
                n += 1;
                emit(v);
            }
            self.scalars.publish();
            if n == limit || !self.shared.self_pushed.swap(false, Ordering::Relaxed) {
                break;
            }
        }
        self.shared.drainer.store(0, Ordering::Relaxed);
        (
            n,
            if n == limit {
                None
            } else {
                Some(Step::Pending)
            },
        )
    }
}

/// The outer subscriber's side: `push_scalar` + `notify_scalar`.
struct Lane<const BROKEN: bool> {
    shared: Arc<Shared>,
    tx: Producer<u32, false>,
    handle: PullHandle,
    token: usize,
}

impl<const BROKEN: bool> Lane<BROKEN> {
    fn push_scalar(&mut self, v: u32) {
        self.tx.push(v).unwrap();
        let drainer = self.shared.drainer.load(Ordering::Relaxed);
        if BROKEN {
            // The short-cut: "a pass is running somewhere, it will see the value".
            if drainer != 0 {
                return;
            }
        } else if drainer == self.token {
            self.shared.self_pushed.store(true, Ordering::Relaxed);
            return;
        }
        self.handle.wake();
    }
}

/// The downstream: counts what it got; the model requests through the stored subscription.
struct Sink {
    got: Arc<AtomicU64>,
    sub: Arc<Mutex<Option<Box<dyn Subscription>>>>,
}

impl Subscriber<u32> for Sink {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, _: u32) {
        self.got.fetch_add(1, Ordering::SeqCst);
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {}
}

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let shared = Arc::new(Shared {
            drainer: AtomicUsize::new(0),
            self_pushed: AtomicBool::new(false),
        });
        let (tx, rx) = ring::<u32, false>(2);
        let got = Arc::new(AtomicU64::new(0));
        let sub = Arc::new(Mutex::new(None));
        let s = Arc::clone(&shared);
        let handle = pull::serve_with(
            move |_| Drain {
                shared: s,
                scalars: rx,
                token: 1, // the downstream's thread drains (its `request`)
            },
            Sink {
                got: Arc::clone(&got),
                sub: Arc::clone(&sub),
            },
        );
        let mut lane = Lane::<BROKEN> {
            shared: Arc::clone(&shared),
            tx,
            handle: handle.clone(),
            token: 2, // the outer's thread
        };
        // The outer, on its own thread, pushes a scalar while downstream asks for it.
        let outer = thread::spawn(move || lane.push_scalar(7));
        sub.lock().unwrap().as_ref().unwrap().request(1);
        outer.join().unwrap();
        assert_eq!(
            got.load(Ordering::SeqCst),
            1,
            "a scalar was left in the ring"
        );
        handle.cancel();
    });
}

#[test]
fn a_scalar_pushed_while_a_pass_runs_elsewhere_is_delivered() {
    model::<false>();
}

#[test]
#[should_panic(expected = "a scalar was left in the ring")]
fn broken_twin_skipping_the_wake_while_any_pass_runs_loses_a_scalar() {
    model::<true>();
}
