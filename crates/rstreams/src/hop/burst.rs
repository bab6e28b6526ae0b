//! `subscribe_on`'s burst gate: who ends a stream whose queued work the scheduler dropped,
//! without a lock round trip per item.
//!
//! A `subscribe_on` request runs on the lane as one call, `up.request(n)`, inside which a
//! synchronous upstream emits up to `n` items on the same thread: a *burst*. The lane task holds
//! the downstream's lock for the whole burst (taken once, re-entered for free by each
//! `on_next`), so the per-item cost is a thread-local check instead of two locked instructions.
//!
//! The lock also serialises the *clean-up* (`abandon`: the scheduler dropped a queued task, or
//! refused a request after shutdown): it takes the downstream out under the lock and ends it.
//! Waiting for a whole burst could wait for ever (an endless source with unbounded demand), so
//! a clean-up that finds a burst running leaves the ending to the burst's holder instead. Two
//! flags and two `SeqCst` fences make sure one of them does it:
//!
//! * **Clean-up**: store `pending = true`, fence, then loop: try the lock (briefly waiting);
//!   got it → end the stream; else if `bursting` → leave (the holder ends it); else (a single
//!   signal from an asynchronous upstream holds the lock) → try again.
//! * **Burst holder**, at the end: `bursting = false`, unlock, fence, then read `pending`; if set,
//!   run the clean-up's loop itself.
//!
//! Why the ending is never lost: of the two fences one comes first. If the holder's, the
//! clean-up's reads after its fence see the holder's writes before it (`bursting = false`, the
//! lock free, or a newer burst, which checks in turn), so it does not leave; if the clean-up's,
//! the holder's read of `pending` sees it. Without the fences both sides may read stale values
//! (the store-buffer pattern) and the downstream never receives its `on_error`.
//! `tests/loom_hop_burst.rs` model-checks this and a broken twin (`BROKEN = true`, no fences).

use super::sync::{AtomicBool, Ordering, fence};

/// See the module docs. `BROKEN` exists only for the loom twin.
#[derive(Debug, Default)]
pub(crate) struct BurstGate<const BROKEN: bool = false> {
    /// A clean-up wants the stream ended.
    pending: AtomicBool,
    /// A lane task holds the lock for a whole burst. Written only with the lock held.
    bursting: AtomicBool,
}

impl<const BROKEN: bool> BurstGate<BROKEN> {
    pub(crate) fn new() -> Self {
        Self {
            pending: AtomicBool::new(false),
            bursting: AtomicBool::new(false),
        }
    }

    /// Whether a clean-up asked for the end (read by signals, under the lock).
    #[inline]
    pub(crate) fn is_pending(&self) -> bool {
        // Relaxed: read under the lock after the signal; the cross-thread case is covered by the
        // fences in `request_end` / `after_burst`.
        self.pending.load(Ordering::Relaxed)
    }

    /// Whether a burst holds the lock (call with the lock held: then it is this thread's).
    #[inline]
    pub(crate) fn is_bursting(&self) -> bool {
        // Relaxed: written only under the lock, which the caller holds.
        self.bursting.load(Ordering::Relaxed)
    }

    /// Marks the start (`true`) or end (`false`) of a burst. Call with the lock held.
    #[inline]
    pub(crate) fn set_bursting(&self, on: bool) {
        // Relaxed: ordered for the clean-up by the lock release and the fence in `after_burst`.
        self.bursting.store(on, Ordering::Relaxed);
    }

    /// Records that the stream must end, without trying the lock (a clean-up from inside one of
    /// the stream's own signals on this thread: the signal ends it when it returns).
    #[inline]
    pub(crate) fn mark_pending(&self) {
        // Relaxed: read on this same thread, under the lock, after the signal.
        self.pending.store(true, Ordering::Relaxed);
    }

    /// The clean-up: `try_end` tries the lock (waiting a little) and, if it got it, ends the
    /// stream and returns `true`. Returns once the stream is ended or the ending is left to a
    /// burst holder.
    pub(crate) fn request_end(&self, try_end: impl FnMut() -> bool) {
        self.mark_pending();
        if !BROKEN {
            // SeqCst fence paired with the one in `after_burst`; see the module docs.
            fence(Ordering::SeqCst);
        }
        self.end_loop(try_end);
    }

    /// The burst holder, after it released the lock: ends the stream if a clean-up asked.
    #[inline]
    pub(crate) fn after_burst(&self, try_end: impl FnMut() -> bool) {
        if !BROKEN {
            // SeqCst fence paired with the one in `request_end`.
            fence(Ordering::SeqCst);
        }
        if self.is_pending() {
            self.end_loop(try_end);
        }
    }

    fn end_loop(&self, mut try_end: impl FnMut() -> bool) {
        loop {
            if try_end() {
                return;
            }
            // Relaxed: ordered by the fences; see the module docs.
            if self.bursting.load(Ordering::Relaxed) {
                return;
            }
            #[cfg(rstreams_loom)]
            loom::thread::yield_now();
        }
    }
}

/// The gate under `--cfg rstreams_loom`, for `tests/loom_hop_burst.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// See the module docs; `BROKEN = true` omits both fences.
    #[derive(Debug, Default)]
    pub struct BurstGate<const BROKEN: bool>(super::BurstGate<BROKEN>);

    impl<const BROKEN: bool> BurstGate<BROKEN> {
        /// Nobody pending, no burst.
        pub fn new() -> Self {
            Self(super::BurstGate::new())
        }
        /// See the module docs.
        pub fn is_pending(&self) -> bool {
            self.0.is_pending()
        }
        /// See the module docs.
        pub fn set_bursting(&self, on: bool) {
            self.0.set_bursting(on)
        }
        /// See the module docs.
        pub fn request_end(&self, try_end: impl FnMut() -> bool) {
            self.0.request_end(try_end)
        }
        /// See the module docs.
        pub fn after_burst(&self, try_end: impl FnMut() -> bool) {
            self.0.after_burst(try_end)
        }
    }
}
