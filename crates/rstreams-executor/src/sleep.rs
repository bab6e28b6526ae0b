//! The worker sleep/wake protocol. The protocol and the lost-wakeup argument are documented on
//! [`ThreadPool`](crate::ThreadPool) (section "Sleep/wake protocol"), where rustdoc shows them;
//! this file implements exactly that.

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
#[derive(Debug)]
pub struct Sleep {
    state: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Default for Sleep {
    fn default() -> Self {
        Self::new()
    }
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
