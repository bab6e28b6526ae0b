//! The worker sleep/wake protocol: how an idle worker parks without missing work that is
//! published while it is going to sleep (the "lost wakeup").
//!
//! # Protocol
//!
//! One word, `state`, counts the workers that are registered as sleepers (low bits) and the
//! number of "work published" events (high bits, wrapping; only there so that the submitter's
//! access is a meaningful read-modify-write).
//!
//! * **Submitter** ([`Sleep::notify_one`]), *after* pushing its task onto the queue: one RMW on
//!   `state` (add one event). If the value it read shows a sleeper, it takes `lock` and calls
//!   `notify_one` on the condition variable.
//! * **Worker** ([`Sleep::sleep`]), after a failed pop and a short spin: take `lock`; one RMW on
//!   `state` (add one sleeper); re-check `must_wake()` (queue non-empty, or shutdown); if
//!   nothing, `wait` on the condition variable, which releases `lock` atomically. When it wakes
//!   it removes itself from `state` and goes back to popping.
//!
//! # Why no wakeup is lost
//!
//! The two RMWs act on the same atomic, so they are totally ordered (modification order), and an
//! RMW always reads the latest value.
//!
//! 1. Submitter's RMW first: it is a release, the worker's RMW is an acquire that reads from it
//!    (or from a later RMW in its release sequence), so the push happens-before the worker's
//!    re-check, which therefore sees a non-empty queue and does not wait.
//! 2. Worker's RMW first: the submitter's RMW reads a sleeper count of at least one and goes to
//!    take `lock`. The worker has held `lock` since before its RMW and only releases it inside
//!    `wait` (or after deciding not to wait), so the submitter's `notify_one` happens while the
//!    worker is already waiting (or after it left). Either way someone is awake to run the task.
//!
//! A plain load on the submitter side would not do: with the push and the load on different
//! locations, both threads could read stale values (the store-buffer pattern) and both proceed as
//! if the other were not there. `tests/loom_queue_handoff.rs` models the protocol, together with a
//! broken twin (notify without the lock) that loom shows deadlocking.
//!
//! A woken worker drains the queue until it is empty before it sleeps again, so one wakeup per
//! "at least one sleeper saw nothing" is enough; extra wakeups are only wasted work.

use crate::sync::{AtomicUsize, Condvar, Mutex, Ordering};

/// Low bits of `state`: registered sleepers.
const SLEEPER: usize = 1;
const SLEEPER_BITS: u32 = 20;
const SLEEPER_MASK: usize = (1 << SLEEPER_BITS) - 1;
/// High bits of `state`: published-work events (wrapping counter).
const EVENT: usize = 1 << SLEEPER_BITS;

/// Upper bound on workers that may sleep on one [`Sleep`] at once.
pub const MAX_SLEEPERS: usize = SLEEPER_MASK;

/// Parking place for idle workers; see the module docs for the protocol.
#[derive(Debug, Default)]
pub struct Sleep {
    state: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Sleep {
    /// No sleepers.
    pub fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// Call after publishing work (the push must come first): wakes one sleeper if any.
    pub fn notify_one(&self) {
        // AcqRel RMW: release pairs with the sleeper's acquire RMW in `sleep` (case 1 in the
        // module docs); being an RMW it reads the latest sleeper count (case 2).
        let seen = self.state.fetch_add(EVENT, Ordering::AcqRel);
        if seen & SLEEPER_MASK != 0 {
            let _guard = self.lock.lock();
            self.cv.notify_one();
        }
    }

    /// Wakes every sleeper, e.g. after setting a shutdown flag that `must_wake` checks.
    pub fn notify_all(&self) {
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }

    /// Parks the calling worker unless `must_wake()` is already true. Returns after a wakeup
    /// (possibly spurious) or at once; the caller re-checks its queue either way.
    pub fn sleep(&self, must_wake: impl Fn() -> bool) {
        let guard = self.lock.lock();
        // AcqRel RMW: acquire pairs with the submitter's release RMW in `notify_one`, so a push
        // ordered before it is visible to `must_wake` below.
        self.state.fetch_add(SLEEPER, Ordering::AcqRel);
        let guard = if must_wake() {
            guard
        } else {
            tracing::trace!("worker parks");
            self.cv.wait(guard)
        };
        // Release: nothing to publish, this only keeps the count exact; the lock orders the rest.
        self.state.fetch_sub(SLEEPER, Ordering::Release);
        drop(guard);
    }
}
