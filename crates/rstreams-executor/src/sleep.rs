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
///
/// Built with [`searching`](Sleep::searching), it also counts the *searching* workers (awake,
/// idle, looking for work): a `publish` skips the wake while one searches, because that worker
/// finds the job or re-checks the queue before it parks; the last searcher to find work wakes a
/// sleeper itself if work remains ([`found_work`](Sleep::found_work)).
#[derive(Debug)]
pub struct Sleep {
    state: AtomicUsize,
    /// Searching workers (only with `track`): awake and looking for work.
    searching: AtomicUsize,
    track: bool,
    tokens: Mutex<usize>,
    cv: Condvar,
    counters: SleepCounters,
}

/// Event counts of one [`Sleep`] (parks, and who woke whom), kept only with the `pool-stats`
/// feature; zero-sized and free otherwise.
#[derive(Debug, Default)]
pub struct SleepCounters {
    /// `cv.wait` calls (a worker or blocked submitter actually parked).
    pub parks: Counter,
    /// Wakes issued by `publish` (the submitter paid the futex wake).
    pub publish_wakes: Counter,
    /// Wakes issued by `found_work` (a worker paid it).
    pub worker_wakes: Counter,
    /// `publish` calls that skipped the wake because a worker was searching.
    pub skipped_searching: Counter,
}

/// A statistics counter: an atomic with the `pool-stats` feature, nothing without it.
#[derive(Debug, Default)]
pub struct Counter(#[cfg(feature = "pool-stats")] std::sync::atomic::AtomicUsize);

impl Counter {
    /// Adds one (feature `pool-stats`; a no-op otherwise).
    #[inline]
    pub fn bump(&self) {
        // Relaxed: statistics only.
        #[cfg(feature = "pool-stats")]
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The count (always 0 without `pool-stats`).
    pub fn get(&self) -> usize {
        #[cfg(feature = "pool-stats")]
        return self.0.load(std::sync::atomic::Ordering::Relaxed); // Relaxed: statistics.
        #[cfg(not(feature = "pool-stats"))]
        0
    }
}

impl Default for Sleep {
    fn default() -> Self {
        Self::new()
    }
}

impl Sleep {
    /// No sleepers; no searching count (every `publish` with a sleeper registered wakes one).
    pub fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            track: false,
            tokens: Mutex::new(0),
            cv: Condvar::new(),
            counters: SleepCounters::default(),
        }
    }

    /// No sleepers, and searching workers are counted (see [`Sleep`]).
    pub fn searching() -> Self {
        Self {
            track: true,
            ..Self::new()
        }
    }

    /// The event counts (all 0 without the `pool-stats` feature).
    pub fn counters(&self) -> &SleepCounters {
        &self.counters
    }

    /// Tries to become a searching worker; `false` if `limit` workers search already (the
    /// caller then looks once and parks, without spinning). The pool passes its worker count (no
    /// cap): tokio's cap of half the workers made the 2-worker benchmark park and wake 6.5× more
    /// often (`docs/performance.md`, "Session 4: pool").
    pub fn try_search(&self, limit: usize) -> bool {
        debug_assert!(self.track);
        // SeqCst: part of the protocol's single order, see `found_work`. (An increment needs no
        // fence: a worker that searches looks at the queue again before it stops searching.)
        let prev = self.searching.fetch_add(1, Ordering::SeqCst);
        if prev >= limit {
            self.searching.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// A searching worker found a job and stops searching. If it was the last searcher, a
    /// submitter may have skipped its wake because of it: after a SeqCst fence (paired with the
    /// one in `publish`), if `more()` (work it will not run at once: the shared queue or its own
    /// deque is non-empty) and a worker sleeps, wake one. Returns `true` if it woke one.
    pub fn found_work(&self, more: impl Fn() -> bool) -> bool {
        debug_assert!(self.track);
        if self.searching.fetch_sub(1, Ordering::SeqCst) != 1 {
            return false; // another searcher remains; it covers later pushes
        }
        // Either a submitter's fence comes first (then `more` sees its push), or ours does (then
        // its read of `searching` sees our decrement and it wakes a sleeper itself).
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence.
        if more() && self.state.load(Ordering::Relaxed) & SLEEPER_MASK != 0 && self.wake_one() {
            self.counters.worker_wakes.bump();
            return true;
        }
        false
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
        // SeqCst fence, paired with the one in `publish`: either the submitter sees CLOSED, or
        // the closer's later reads of the queue (its final drain) see the submitter's push.
        fence(Ordering::SeqCst);
        self.notify_all();
        prev & CLOSED == 0
    }

    /// Call after pushing work (the push must come first): wakes one sleeper if any. Returns
    /// `true` if the queue was closed before this publish, in which case the workers may already
    /// have exited and the caller must make sure the queue is drained (it helps).
    pub fn publish(&self) -> bool {
        // SeqCst fence between the push and the read of `state`, paired with the fence in `sleep`
        // (after the sleeper registers, before it re-checks the queue) and the one in `close`.
        // Of two SeqCst fences one comes first in the single total order S: if ours does, the
        // other thread's later reads see our push; if theirs does, our read below sees their
        // registration (or CLOSED). A plain load without the fence would allow both to miss.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        let seen = self.state.load(Ordering::Relaxed);
        if seen & SLEEPER_MASK != 0 {
            // A searching worker (counted before its last look at the queue, or before the fence
            // of its `found_work` / `sleep`) will see our push: no wake needed. Relaxed: ordered
            // by the fence above.
            if self.track && self.searching.load(Ordering::Relaxed) != 0 {
                self.counters.skipped_searching.bump();
            } else if self.wake_one() {
                self.counters.publish_wakes.bump();
            }
        }
        seen & CLOSED != 0
    }

    /// Wakes one sleeper if one is registered and unclaimed; with `track`, the woken worker is
    /// counted as searching from now on (so later publishes skip their wake). Returns whether it
    /// woke one.
    fn wake_one(&self) -> bool {
        let mut tokens = self.tokens.lock();
        // The sleeper bits only change under the lock, so this re-read is exact. Relaxed: the
        // lock orders it.
        if self.state.load(Ordering::Relaxed) & SLEEPER_MASK != 0 {
            // Relaxed: under the lock, like every change of the sleeper bits.
            self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            if self.track {
                self.searching.fetch_add(1, Ordering::SeqCst);
            }
            *tokens += 1;
            self.cv.notify_one();
            return true;
        }
        false
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
        self.sleep_searching(false, must_wake);
    }

    /// [`sleep`](Sleep::sleep) for a worker of a [`searching`](Sleep::searching) `Sleep`:
    /// `searching` says whether the caller is counted as searching; it stops searching in the
    /// same step as it registers (before the fence). On return the caller is counted as searching
    /// again (with `track`): woken by a token (the waker counted it) or leaving on its own.
    pub fn sleep_searching(&self, searching: bool, must_wake: impl Fn() -> bool) {
        let mut tokens = self.tokens.lock();
        // Relaxed RMW under the lock; the SeqCst fence after it pairs with the fence in `publish`
        // (see there): either that submitter sees this registration (and, with `track`, our
        // searching decrement), or `must_wake` below sees its push.
        self.state.fetch_add(SLEEPER, Ordering::Relaxed);
        if searching {
            self.searching.fetch_sub(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        if must_wake() {
            // Relaxed: under the lock; our own registration is still unclaimed (notifiers need the
            // lock we hold to claim one).
            self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            self.resume_searching();
            return;
        }
        tracing::trace!("worker parks");
        loop {
            self.counters.parks.bump();
            tokens = self.cv.wait(tokens);
            if *tokens > 0 {
                *tokens -= 1;
                return;
            }
            if must_wake() {
                // No token, so (sleepers + tokens accounting) an unclaimed registration remains:
                // release it. Relaxed: under the lock.
                self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
                self.resume_searching();
                return;
            }
        }
    }

    /// Leaving `sleep` without a token: count ourselves as searching again (a token's waker did
    /// that for us otherwise).
    fn resume_searching(&self) {
        if self.track {
            self.searching.fetch_add(1, Ordering::SeqCst);
        }
    }
}
