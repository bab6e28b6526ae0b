//! The wake gate between the merge's inner publishers (producers) and its drain (consumer).
//!
//! Every inner pushes into its own SPSC ring, then asks the gate whether the drain must be woken.
//! Waking costs a few read-modify-writes on shared lines (the pull kit's handle and its
//! work-in-progress counter), so only the first push after the drain last looked pays it:
//!
//! * **consumer** ([`Gate::arm`]): when a round of the rings found nothing (the drain is about
//!   to go idle), swap the flag to `false` (AcqRel), then read every ring once more; only if
//!   that round finds nothing either does the drain stop. While it finds work it never arms,
//!   so busy producers never wake it.
//! * **producer** ([`Gate::notify`]): after pushing (the ring's Release store of its tail), swap
//!   the flag to `true` (AcqRel); wake the drain only if it was `false`.
//!
//! If a producer's swap reads `true`, either an earlier producer's wake-up is still to be
//! served (its pass arms after our swap), or the drain has not armed since: in both cases the
//! next `arm` reads our `true` (or a later RMW of the same release sequence) and so
//! synchronises with our push — its scan sees the item. If the swap reads `false`, we wake it.
//! No push is ever left unseen by a scan that the drain believes was its last.
//!
//! `tests/loom_flat_gate.rs` model-checks this against the hop's ring, with a broken twin
//! (`BROKEN = true`: a plain load short-cut and `Relaxed` orderings) that loom must catch losing
//! a wake-up.

#[cfg(not(rstreams_loom))]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(rstreams_loom)]
use loom::sync::atomic::{AtomicBool, Ordering};

/// See the module docs. `BROKEN` exists only for the loom twin.
#[derive(Debug)]
pub(crate) struct Gate<const BROKEN: bool = false> {
    /// `true`: a wake-up was sent since the drain last armed (no need for another).
    notified: AtomicBool,
}

impl<const BROKEN: bool> Gate<BROKEN> {
    pub(crate) fn new() -> Self {
        Self {
            notified: AtomicBool::new(false),
        }
    }

    /// The drain is about to scan every ring: later pushes must wake it again.
    #[inline]
    pub(crate) fn arm(&self) {
        if BROKEN {
            self.notified.store(false, Ordering::Relaxed);
        } else {
            // AcqRel: Acquire pairs with the producers' Release swaps, so the scan that follows
            // sees every push made before a swap this one reads from.
            self.notified.swap(false, Ordering::AcqRel);
        }
    }

    /// Called after a push; `true` means the caller must wake the drain.
    #[inline]
    pub(crate) fn notify(&self) -> bool {
        if BROKEN {
            // The tempting short-cut: a stale `true` skips the wake-up while the drain has
            // already armed and scanned past the push.
            if self.notified.load(Ordering::Relaxed) {
                return false;
            }
            return !self.notified.swap(true, Ordering::Relaxed);
        }
        // AcqRel: Release publishes the push (the ring's tail store, program-ordered before)
        // to the drain's next `arm`.
        !self.notified.swap(true, Ordering::AcqRel)
    }
}

/// The gate under `--cfg rstreams_loom`, for `tests/loom_flat_gate.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// A gate whose two sides the model drives; `BROKEN = true` is the twin loom must reject.
    #[derive(Debug)]
    pub struct Gate<const BROKEN: bool>(super::Gate<BROKEN>);

    impl<const B: bool> Gate<B> {
        /// A fresh gate (nobody notified yet).
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(super::Gate::new())
        }
        /// See the module docs.
        pub fn arm(&self) {
            self.0.arm()
        }
        /// See the module docs.
        pub fn notify(&self) -> bool {
            self.0.notify()
        }
    }
}
