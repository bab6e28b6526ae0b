//! The pool's submission gate: admission (the bound), the CLOSED bit and the worker sleep/wake
//! protocol in ONE atomic word, so a submission costs one read-modify-write on it. The protocol
//! and the argument that no wakeup is lost are documented on [`ThreadPool`](crate::ThreadPool)
//! (section "Submission gate"), where rustdoc shows them; this file implements exactly that.

use std::time::Duration;

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering};

/// Low bits of `state`: jobs admitted and not yet taken off the shared queue by a worker.
const JOB: u64 = 1;
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Next bits: registered sleepers no submitter has claimed yet.
const SLEEPER: u64 = 1 << COUNT_BITS;
const SLEEPER_BITS: u32 = 20;
const SLEEPER_MASK: u64 = ((1 << SLEEPER_BITS) - 1) << COUNT_BITS;
/// Next bit: closed (set once, never cleared).
const CLOSED: u64 = 1 << (COUNT_BITS + SLEEPER_BITS);

/// Largest queue capacity the gate can count (admissions past the capacity are undone at once,
/// so the count never gets near the field's limit).
pub const MAX_CAPACITY: usize = 1 << 32;

/// Why [`Gate::admit`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `capacity` jobs are already admitted and not yet taken.
    Full,
    /// [`Gate::close`] was called.
    Closed,
}

/// Admission counter + CLOSED bit + sleepers in one word, and the parking place of idle workers.
///
/// Every worker inside [`sleep`](Gate::sleep) accounts for exactly one unit of
/// `sleepers + tokens` (tokens: wakeups claimed but not yet consumed, under the mutex).
#[derive(Debug)]
pub struct Gate {
    state: AtomicU64,
    tokens: Mutex<usize>,
    cv: Condvar,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

fn count(state: u64) -> u64 {
    state & COUNT_MASK
}

impl Gate {
    /// Open, nothing admitted, no sleepers.
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            tokens: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Admits one job if fewer than `capacity + slack()` are admitted and the gate is open: ONE
    /// read-modify-write (`slack` is only asked when the count has reached `capacity`: the pool
    /// passes the starts its workers have not reported yet, which count but wait for nobody).
    /// On `Ok(sleeper)` the caller must push the job, then, if `sleeper`, call
    /// [`wake_one`](Gate::wake_one). The job counts as queued from this moment until a worker
    /// reports it [`taken`](Gate::taken), so a worker that registers as a sleeper after this
    /// admission sees the count and does not park, even if the push has not landed yet.
    pub fn admit(&self, capacity: usize, slack: impl FnOnce() -> usize) -> Result<bool, Refused> {
        // AcqRel: every change of the word is an RMW, so all of them are totally ordered (the
        // word's modification order) and each reads the latest value; that order alone carries
        // the protocol. Acquire/Release add nothing the protocol needs but keep the count's
        // readers ordered after the admissions they see.
        let prev = self.state.fetch_add(JOB, Ordering::AcqRel);
        let full = || count(prev) >= capacity.saturating_add(slack()) as u64;
        if prev & CLOSED != 0 || (count(prev) >= capacity as u64 && full()) {
            // Undo: a transient over-count (bounded by the racing submitters) only makes a
            // worker spin or a submitter see "full" a moment longer.
            self.state.fetch_sub(JOB, Ordering::AcqRel);
            return Err(if prev & CLOSED != 0 {
                Refused::Closed
            } else {
                Refused::Full
            });
        }
        Ok(prev & SLEEPER_MASK != 0)
    }

    /// A worker took `n` admitted jobs off the shared queue.
    pub fn taken(&self, n: usize) {
        // AcqRel: see `admit`.
        let prev = self.state.fetch_sub(n as u64 * JOB, Ordering::AcqRel);
        debug_assert!(count(prev) >= n as u64, "took more jobs than were admitted");
    }

    /// Jobs admitted and not yet taken (may include a push still in flight).
    pub fn queued(&self) -> usize {
        // Acquire: pairs with the AcqRel RMWs (a snapshot for bounds and statistics).
        count(self.state.load(Ordering::Acquire)) as usize
    }

    /// Whether [`close`](Gate::close) has been called.
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with the AcqRel `fetch_or` in `close`.
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closed, and every admitted job has been taken: a worker that sees this may exit, since no
    /// job can be admitted any more (admission reads CLOSED in the same word).
    pub fn is_drained(&self) -> bool {
        // Acquire: as in `is_closed`.
        let state = self.state.load(Ordering::Acquire);
        state & CLOSED != 0 && count(state) == 0
    }

    /// Closes and wakes every sleeper. Returns `true` for the call that closed.
    pub fn close(&self) -> bool {
        // AcqRel: see `admit`; every admission before this in the word's order is counted, every
        // one after it sees CLOSED.
        let prev = self.state.fetch_or(CLOSED, Ordering::AcqRel);
        let _tokens = self.tokens.lock();
        self.cv.notify_all();
        prev & CLOSED == 0
    }

    /// Wakes one sleeper if one is registered and unclaimed. Call after the push that
    /// [`admit`](Gate::admit) reported a sleeper for.
    pub fn wake_one(&self) {
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

    /// Parks the calling worker unless a job is admitted and not taken, the gate is closed, or
    /// `must_wake()` holds. Returns after a wakeup (a claimed token, or a broadcast) or at once;
    /// the caller looks for work again either way.
    ///
    /// A positive count with nothing to find means a push still in flight (admitted, not yet
    /// visible) or starts another worker has not reported yet (it reports before it runs the
    /// last job of its deque, but a thief may empty that deque meanwhile). Then this returns at
    /// once (`true`) so the caller spins; with `backlog_wait` set it instead parks for at most
    /// that long (any later admission still wakes it: it is registered), so a worker never
    /// spins for the length of another worker's long task.
    pub fn sleep(&self, must_wake: impl Fn() -> bool, backlog_wait: Option<Duration>) -> bool {
        let mut tokens = self.tokens.lock();
        // Registration and the re-check are one RMW: an admission before it in the word's order
        // shows in `prev`'s count; one after it sees this sleeper. AcqRel: see `admit`.
        let prev = self.state.fetch_add(SLEEPER, Ordering::AcqRel);
        let backlog = count(prev) != 0;
        if prev & CLOSED != 0 || must_wake() || (backlog && backlog_wait.is_none()) {
            // Our registration is still unclaimed (claiming needs the lock we hold). Relaxed:
            // under the lock.
            self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            return backlog;
        }
        tracing::trace!(backlog, "worker parks");
        loop {
            tokens = match backlog_wait {
                Some(timeout) if backlog => self.cv.wait_timeout(tokens, timeout),
                _ => self.cv.wait(tokens),
            };
            if *tokens > 0 {
                *tokens -= 1;
                return false;
            }
            if backlog || self.is_closed() || must_wake() {
                // No token, so an unclaimed registration remains: release it. Relaxed: under
                // the lock.
                self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
                return backlog;
            }
        }
    }
}
