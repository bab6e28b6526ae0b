//! The worker sleep/wake protocol. The protocol and the lost-wakeup argument are documented on
//! [`ThreadPool`](crate::ThreadPool) (section "Sleep/wake protocol"), where rustdoc shows them;
//! this file implements exactly that.

// `pub` (not `pub(crate)`) so that `--cfg rstreams_loom` builds can re-export these types to the
// loom models (`crate::__loom`); outside that cfg nothing names them from outside the crate.
#![allow(unreachable_pub)]

use crate::sync::{AtomicUsize, Condvar, Mutex, Ordering, fence};

/// Low bits of `state`: registered sleepers.
const SLEEPER: usize = 1;
const SLEEPER_BITS: u32 = 20;
const SLEEPER_MASK: usize = (1 << SLEEPER_BITS) - 1;
/// Next bit: the queue is closed (set once, never cleared).
const CLOSED: usize = 1 << SLEEPER_BITS;

/// Upper bound on workers that may sleep on one [`Sleep`] at once.
pub const MAX_SLEEPERS: usize = SLEEPER_MASK;

/// Parking place for idle workers; see the protocol on [`ThreadPool`](crate::ThreadPool).
///
/// `state` (low bits) counts workers registered as sleeping that no notifier has claimed yet;
/// the mutex guards `tokens`, wakeups handed out but not yet consumed. Every worker inside
/// `sleep` accounts for exactly one unit of `sleepers + tokens`, so a notifier that claims a
/// sleeper (moving one unit from `state` to `tokens`) makes later submitters skip the lock
/// until that worker has gone back to sleep.
#[derive(Debug)]
pub struct Sleep {
    state: AtomicUsize,
    tokens: Mutex<usize>,
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
            tokens: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Whether [`close`](Sleep::close) has been called. A cheap pre-check for submitters and an
    /// exit condition for workers; not a synchronisation point (the closer drains the queue after
    /// joining, see `ThreadPool`'s shutdown notes).
    pub fn is_closed(&self) -> bool {
        // Acquire pairs with the AcqRel `fetch_or` in `close`.
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes: from now on `is_closed` is true and every sleeper is woken. Returns `true` for the
    /// call that closed.
    pub fn close(&self) -> bool {
        // AcqRel: pairs with the Acquire in `is_closed`.
        let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        // SeqCst fence, paired with the submitter's SeqCst push + SeqCst load in `publish`: either
        // the submitter sees CLOSED, or the closer's later reads of the queue (its final drain)
        // see the submitter's push.
        fence(Ordering::SeqCst);
        self.notify_all();
        prev & CLOSED == 0
    }

    /// Call right after pushing work with a SeqCst read-modify-write (the pool's queue claims its
    /// slot with a SeqCst compare-exchange; a pop does the same on the head when `space` is the
    /// sleep): wakes one sleeper if any. Returns `true` if the queue was closed before this
    /// publish, in which case the workers may already have exited and the caller must make sure
    /// the queue is drained (it helps).
    ///
    /// No fence: the push's SeqCst RMW and the SeqCst load below are both in the single total
    /// order S, which is what the store-buffer pattern needs. If the load misses a sleeper's
    /// registration (or CLOSED), it precedes in S the SeqCst fence the sleeper (closer) issues
    /// after registering, and so does our push before it; the sleeper's re-check of the queue
    /// (SeqCst loads after that fence) then sees the push. A Relaxed load here would allow both
    /// to miss (`tests/loom_pool_injector.rs`, broken twin).
    #[inline]
    pub fn publish(&self) -> bool {
        crate::sync::order_after_seqcst_rmw();
        let seen = self.state.load(Ordering::SeqCst);
        if seen & SLEEPER_MASK != 0 {
            self.wake_one();
        }
        seen & CLOSED != 0
    }

    /// Wakes one sleeper if one is registered and unclaimed.
    fn wake_one(&self) {
        let mut tokens = self.tokens.lock();
        // The sleeper bits only change under the lock, so this re-read is exact. Relaxed: the
        // lock orders it.
        if self.state.load(Ordering::Relaxed) & SLEEPER_MASK != 0 {
            // Relaxed: under the lock, like every change of the sleeper bits.
            self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            *tokens += 1;
            self.cv.notify_one();
        }
    }

    /// Wakes every sleeper, e.g. after setting a shutdown flag that `must_wake` checks.
    pub fn notify_all(&self) {
        let _tokens = self.tokens.lock();
        self.cv.notify_all();
    }

    /// Parks the calling worker unless `must_wake()` is already true. Returns after a wakeup
    /// (a claimed token, or `must_wake()` true after a broadcast) or at once; the caller re-checks
    /// its queue either way.
    pub fn sleep(&self, must_wake: impl Fn() -> bool) {
        let mut tokens = self.tokens.lock();
        // Relaxed RMW under the lock; the SeqCst fence after it pairs with the SeqCst push + load
        // in `publish` (see there): either that submitter sees this registration, or `must_wake`
        // below (SeqCst reads of the queue) sees its push.
        self.state.fetch_add(SLEEPER, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if must_wake() {
            // Relaxed: under the lock; our own registration is still unclaimed (notifiers need the
            // lock we hold to claim one).
            self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            return;
        }
        tracing::trace!("worker parks");
        loop {
            tokens = self.cv.wait(tokens);
            if *tokens > 0 {
                *tokens -= 1;
                return;
            }
            if must_wake() {
                // No token, so (sleepers + tokens accounting) an unclaimed registration remains:
                // release it. Relaxed: under the lock.
                self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
                return;
            }
        }
    }
}
