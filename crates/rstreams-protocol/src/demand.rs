//! The demand counter: how many items a subscriber has asked for and not yet received.

use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// Outstanding demand of one subscription, plus its cancelled flag.
///
/// * [`add`](Demand::add) saturates: demand never wraps, and [`UNBOUNDED`](Demand::UNBOUNDED)
///   (`u64::MAX`) is sticky: once unbounded, always unbounded (rule 3.17).
/// * [`produced`](Demand::produced) subtracts what was emitted, except from unbounded demand.
/// * [`cancel`](Demand::cancel) is idempotent and reports which call won (3.5, 3.7).
///
/// This is the only place in the crate that does demand arithmetic.
///
/// ```
/// use rstreams_protocol::Demand;
///
/// let d = Demand::new();
/// d.add(5);
/// assert_eq!(d.produced(2), 3);
/// d.add(u64::MAX - 1);                 // 3 + (MAX - 1) saturates
/// assert!(d.is_unbounded());
/// assert_eq!(d.produced(1_000), Demand::UNBOUNDED); // unbounded sticks
/// ```
#[derive(Debug)]
pub struct Demand {
    requested: AtomicU64,
    cancelled: AtomicBool,
    /// A `request(0)` arrived (rule 3.9); the emitter turns it into `on_error`.
    invalid: AtomicBool,
}

impl Default for Demand {
    fn default() -> Self {
        Self::new()
    }
}

impl Demand {
    /// Demand that never runs out.
    pub const UNBOUNDED: u64 = u64::MAX;

    /// No demand, not cancelled.
    pub fn new() -> Self {
        Self {
            requested: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
        }
    }

    /// Adds `n`, saturating at [`UNBOUNDED`](Self::UNBOUNDED). Returns the demand before the
    /// addition. Adding `0` changes nothing (the caller decides what rule 3.9 means for it).
    pub fn add(&self, n: u64) -> u64 {
        // Release: the emitter's Acquire load in `get`/`produced` sees everything the requester
        // did before asking for more (2.11 for the requesting side).
        let prev = self
            .requested
            .fetch_update(Ordering::Release, Ordering::Relaxed, |cur| {
                if cur == Self::UNBOUNDED {
                    None
                } else {
                    Some(cur.saturating_add(n))
                }
            });
        match prev {
            Ok(prev) | Err(prev) => prev,
        }
    }

    /// Records a subscriber's `request(n)` as a `Subscription` should: nothing once cancelled
    /// (rule 3.6); `0` marks an invalid request for the emitter to turn into the rule-3.9
    /// `on_error` (see [`has_invalid_request`](Self::has_invalid_request)); otherwise
    /// [`add`](Self::add). Returns whether the caller should now drive emission.
    ///
    /// ```
    /// use rstreams_protocol::Demand;
    /// let d = Demand::new();
    /// assert!(d.request(3));
    /// assert!(d.request(0) && d.has_invalid_request());
    /// d.cancel();
    /// assert!(!d.request(5));
    /// assert_eq!(d.get(), 3);
    /// ```
    pub fn request(&self, n: u64) -> bool {
        if self.is_cancelled() {
            return false;
        }
        if n == 0 {
            // Release: pairs with the Acquire load in `has_invalid_request`.
            self.invalid.store(true, Ordering::Release);
        } else {
            self.add(n);
        }
        true
    }

    /// Whether a `request(0)` was recorded by [`request`](Self::request).
    #[inline]
    pub fn has_invalid_request(&self) -> bool {
        // Acquire: pairs with the Release store in `request`.
        self.invalid.load(Ordering::Acquire)
    }

    /// The current outstanding demand.
    #[inline]
    pub fn get(&self) -> u64 {
        // Acquire: pairs with the Release in `add`.
        self.requested.load(Ordering::Acquire)
    }

    /// Whether demand is unbounded.
    #[inline]
    pub fn is_unbounded(&self) -> bool {
        self.get() == Self::UNBOUNDED
    }

    /// Records that `k` items were emitted and returns the demand left. Unbounded demand is not
    /// reduced. `k` must not exceed the current demand: only the single emitter calls this, and
    /// demand only grows behind its back.
    pub fn produced(&self, k: u64) -> u64 {
        if k == 0 {
            return self.get();
        }
        // AcqRel: Acquire pairs with requesters' Release in `add`; Release orders the emission
        // bookkeeping before a later emitter pass on another thread reads the counter.
        let prev = self
            .requested
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                if cur == Self::UNBOUNDED {
                    None
                } else {
                    debug_assert!(k <= cur, "emitted {k} with only {cur} requested (rule 1.1)");
                    Some(cur.saturating_sub(k))
                }
            });
        match prev {
            Ok(prev) => prev.saturating_sub(k),
            Err(unbounded) => unbounded,
        }
    }

    /// Marks the subscription cancelled. Returns `true` for the one call that did it.
    pub fn cancel(&self) -> bool {
        // AcqRel: whoever observes `cancelled` also observes what the canceller did before.
        !self.cancelled.swap(true, Ordering::AcqRel)
    }

    /// Whether [`cancel`](Self::cancel) was called.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the AcqRel swap in `cancel`.
        self.cancelled.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(rstreams_loom)))]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_unbounded_sticks() {
        let d = Demand::new();
        assert_eq!(d.add(u64::MAX - 1), 0);
        assert_eq!(d.add(5), u64::MAX - 1);
        assert!(d.is_unbounded());
        assert_eq!(d.add(1), Demand::UNBOUNDED);
        assert_eq!(d.produced(10), Demand::UNBOUNDED);
        assert!(d.is_unbounded());
    }

    #[test]
    fn produced_counts_down_exactly() {
        let d = Demand::new();
        d.add(10);
        assert_eq!(d.produced(3), 7);
        assert_eq!(d.produced(0), 7);
        assert_eq!(d.produced(7), 0);
        d.add(0);
        assert_eq!(d.get(), 0);
    }

    #[test]
    fn cancel_is_idempotent() {
        let d = Demand::new();
        assert!(!d.is_cancelled());
        assert!(d.cancel());
        assert!(!d.cancel());
        assert!(d.is_cancelled());
    }
}
