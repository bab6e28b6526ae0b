//! A hand-rolled queue-drain publisher with one switchable bug, for the broken twins of the loom
//! models. With `Bug::None` it follows the same protocol as the crate's `pull` kit; each other
//! variant breaks exactly one step of it, and the model that guards that step must fail.
#![allow(dead_code)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use rstreams_protocol::{Subscriber, Subscription};

use crate::support::Probe;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bug {
    None,
    /// Enters the drain with a check-then-set instead of one atomic increment.
    CheckThenSetEntry,
    /// Leaves the drain by storing 0, forgetting the marks left meanwhile (lost wake-up).
    ResetOnExit,
    /// Adds demand with a load and a store: a concurrent add or subtract is lost.
    RacyAdd,
    /// Adds demand with wrapping arithmetic instead of saturating.
    WrappingAdd,
    /// `cancel` sets the flag but never drains, so nobody drops the subscriber.
    CancelWithoutDrain,
    /// Completion is signalled by whoever sees the end, outside the drain.
    CompleteOutsideDrain,
}

pub struct Hand {
    wip: AtomicUsize,
    requested: AtomicU64,
    cancelled: AtomicBool,
    completed: AtomicBool,
    next: UnsafeCell<u64>,
    limit: u64,
    subscriber: UnsafeCell<Option<Probe>>,
    bug: Bug,
}

// SAFETY (of the model): every cell access goes through `drive`, whose work-in-progress counter
// makes it exclusive unless the selected bug breaks that, in which case loom reports the race.
unsafe impl Sync for Hand {}
// SAFETY: as above; the contents are `Send`.
unsafe impl Send for Hand {}

struct HandSubscription(Arc<Hand>);

impl Subscription for HandSubscription {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl Hand {
    /// Subscribes `probe` to `limit` items (`u64::MAX`: endless).
    pub fn subscribe(mut probe: Probe, limit: u64, bug: Bug) -> Arc<Hand> {
        let hand = Arc::new(Hand {
            wip: AtomicUsize::new(0),
            requested: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            completed: AtomicBool::new(false),
            next: UnsafeCell::new(0),
            limit,
            subscriber: UnsafeCell::new(None),
            bug,
        });
        // on_subscribe before the subscriber is reachable by any drain.
        let initial = probe.initial;
        probe.initial = 0;
        probe.on_subscribe(Box::new(HandSubscription(Arc::clone(&hand))));
        hand.subscriber.with_mut(|s| unsafe { *s = Some(probe) });
        if initial > 0 {
            hand.request_recorded(initial);
        }
        hand
    }

    fn request_recorded(self: &Arc<Self>, n: u64) {
        let seen = self
            .subscriber
            .with(|s| unsafe { (*s).as_ref().map(|p| Arc::clone(&p.seen)) });
        if let Some(seen) = seen {
            seen.request(n);
        }
    }

    fn request(&self, n: u64) {
        if self.cancelled.load(SeqCst) {
            return;
        }
        match self.bug {
            Bug::RacyAdd => {
                let cur = self.requested.load(SeqCst);
                self.requested.store(cur.saturating_add(n), SeqCst);
            }
            Bug::WrappingAdd => {
                self.requested.fetch_add(n, SeqCst);
            }
            _ => {
                self.requested
                    .fetch_update(SeqCst, SeqCst, |r| {
                        (r != u64::MAX).then(|| r.saturating_add(n))
                    })
                    .ok();
            }
        }
        self.drive();
        if self.bug == Bug::CompleteOutsideDrain {
            self.complete_if_done();
        }
    }

    fn cancel(&self) {
        if !self.cancelled.swap(true, SeqCst) && self.bug != Bug::CancelWithoutDrain {
            self.drive();
        }
    }

    fn drive(&self) {
        match self.bug {
            Bug::CheckThenSetEntry => {
                if self.wip.load(SeqCst) != 0 {
                    self.wip.fetch_add(1, SeqCst);
                    return;
                }
                self.wip.store(1, SeqCst);
            }
            _ => {
                if self.wip.fetch_add(1, SeqCst) != 0 {
                    return;
                }
            }
        }
        let mut missed = 1;
        loop {
            self.pass();
            if self.bug == Bug::ResetOnExit {
                self.wip.store(0, SeqCst);
                return;
            }
            missed = self.wip.fetch_sub(missed, SeqCst) - missed;
            if missed == 0 {
                return;
            }
        }
    }

    fn pass(&self) {
        self.subscriber.with_mut(|slot| {
            // SAFETY (of the model): the drain makes this exclusive unless the bug breaks it, and
            // then loom reports the concurrent access.
            let slot = unsafe { &mut *slot };
            if slot.is_none() {
                return;
            }
            if self.cancelled.load(SeqCst) {
                *slot = None;
                return;
            }
            let requested = self.requested.load(SeqCst);
            let mut emitted = 0;
            self.next.with_mut(|next| {
                let next = unsafe { &mut *next };
                while emitted != requested && *next != self.limit {
                    slot.as_mut().unwrap().on_next(*next);
                    *next += 1;
                    emitted += 1;
                }
            });
            if requested != u64::MAX && emitted > 0 {
                match self.bug {
                    Bug::RacyAdd => {
                        let cur = self.requested.load(SeqCst);
                        self.requested.store(cur - emitted, SeqCst);
                    }
                    _ => {
                        self.requested.fetch_sub(emitted, SeqCst);
                    }
                }
            }
            if self.bug != Bug::CompleteOutsideDrain {
                let done = self.next.with(|n| unsafe { *n } == self.limit);
                if done {
                    slot.take().unwrap().on_complete();
                }
            }
        });
    }

    /// The `CompleteOutsideDrain` bug: a check-then-act on a flag instead of the drain.
    fn complete_if_done(&self) {
        let done = self.next.with(|n| unsafe { *n } == self.limit);
        if done && !self.completed.load(SeqCst) {
            self.completed.store(true, SeqCst);
            // Signal through the probe's shared record, as a second thread would.
            let seen = self
                .subscriber
                .with(|s| unsafe { (*s).as_ref().map(|p| Arc::clone(&p.seen)) });
            if let Some(seen) = seen {
                seen.completes.fetch_add(1, SeqCst);
            }
        }
    }
}
