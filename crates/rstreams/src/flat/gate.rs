//! The wake gate between the merge's inner publishers (producers) and its drain (consumer),
//! which doubles as the drain's ready set: which inners pushed since the drain last looked.
//!
//! Every inner pushes into its own SPSC ring, then reports to the gate. The gate is one word:
//! bits 0..63 say which inners (by id modulo 63, a hint: two inners may share a bit) pushed
//! since the drain last took the bits, and the top bit, `AWAKE`, says a wake-up was sent since
//! the drain last armed. Waking costs a few read-modify-writes on shared lines (the pull kit's
//! handle and its work-in-progress counter), so only the first push after the drain armed pays
//! it, and the drain visits only the rings whose bits it took, never all of them:
//!
//! * **producer** ([`Gate::notify`]): after pushing (the ring's Release store of its tail),
//!   `fetch_or` its bit and `AWAKE` (AcqRel); wake the drain only if `AWAKE` was clear.
//! * **consumer, busy** ([`Gate::take`]): `fetch_and(AWAKE)` (AcqRel) takes the bits and leaves
//!   `AWAKE` set, so busy producers keep not waking a drain that is running anyway.
//! * **consumer, about to go idle** ([`Gate::arm`]): `swap(0)` (AcqRel) takes the bits and
//!   clears `AWAKE`; the drain visits those rings and stops only if there were none.
//!
//! Every producer's RMW is ordered against the drain's takes (one word, one modification
//! order). If it comes before a take, that take reads its bit and synchronises with its push
//! (Acquire on the take, Release on the `fetch_or`; later RMWs continue the release sequence),
//! and the drain visits that ring afterwards. If it comes after the drain's last `arm`, it
//! reads `AWAKE` clear and wakes the drain, whose next pass takes the bit. If it comes after a
//! busy take but before the `arm`, its bit waits in the word for the `arm`. No push is ever
//! left unseen by a drain that believes it is done.
//!
//! `tests/loom_flat_gate.rs` model-checks this against the hop's ring, with a broken twin
//! (`BROKEN = true`: a plain load short-cut and `Relaxed` orderings) that loom must catch losing
//! a wake-up.

#[cfg(not(rstreams_loom))]
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(rstreams_loom)]
use loom::sync::atomic::{AtomicU64, Ordering};

/// The top bit of the gate word: a wake-up was sent since the drain last armed.
const AWAKE: u64 = 1 << 63;

/// The ready bit of the inner numbered `id` (ids modulo 63: bit 63 is `AWAKE`).
#[inline]
pub(crate) fn bit_of(id: u64) -> u64 {
    1 << (id % 63)
}

/// See the module docs. `BROKEN` exists only for the loom twin.
#[derive(Debug)]
pub(crate) struct Gate<const BROKEN: bool = false> {
    word: AtomicU64,
}

impl<const BROKEN: bool> Gate<BROKEN> {
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
        }
    }

    /// Takes the ready bits while busy (producers still need not wake the drain).
    #[inline]
    pub(crate) fn take(&self) -> u64 {
        // Relaxed pre-check: a bit missed here stays in the word for a later take or `arm`,
        // which is what correctness rests on; this only saves the RMW when nothing is new.
        if self.word.load(Ordering::Relaxed) & !AWAKE == 0 {
            return 0;
        }
        let order = if BROKEN {
            Ordering::Relaxed
        } else {
            // AcqRel: Acquire pairs with the producers' Release `fetch_or`s, so the visits that
            // follow see every push made before a bit this take reads.
            Ordering::AcqRel
        };
        self.word.fetch_and(AWAKE, order) & !AWAKE
    }

    /// The drain is about to stop: takes the ready bits and makes later pushes wake it again.
    /// The drain must visit the returned bits' rings, and may stop only if there were none.
    #[inline]
    pub(crate) fn arm(&self) -> u64 {
        let order = if BROKEN {
            Ordering::Relaxed
        } else {
            // AcqRel: as in `take`.
            Ordering::AcqRel
        };
        self.word.swap(0, order) & !AWAKE
    }

    /// Called after a push by the inner whose bit is `bit`; `true` means the caller must wake
    /// the drain.
    #[inline]
    pub(crate) fn notify(&self, bit: u64) -> bool {
        if BROKEN {
            // The tempting short-cut: a stale word that already holds our bit and `AWAKE`
            // skips the RMW while the drain has already taken the bits and armed.
            let w = self.word.load(Ordering::Relaxed);
            if w & (bit | AWAKE) == bit | AWAKE {
                return false;
            }
            return self.word.fetch_or(bit | AWAKE, Ordering::Relaxed) & AWAKE == 0;
        }
        // AcqRel: Release publishes the push (the ring's tail store, program-ordered before)
        // to the drain's next take or `arm`.
        self.word.fetch_or(bit | AWAKE, Ordering::AcqRel) & AWAKE == 0
    }
}

/// The gate under `--cfg rstreams_loom`, for `tests/loom_flat_gate.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// A gate whose two sides the model drives; `BROKEN = true` is the twin loom must reject.
    #[derive(Debug)]
    pub struct Gate<const BROKEN: bool>(super::Gate<BROKEN>);

    /// See the module docs.
    pub fn bit_of(id: u64) -> u64 {
        super::bit_of(id)
    }

    impl<const B: bool> Gate<B> {
        /// A fresh gate (nobody notified yet).
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(super::Gate::new())
        }
        /// See the module docs.
        pub fn take(&self) -> u64 {
            self.0.take()
        }
        /// See the module docs.
        pub fn arm(&self) -> u64 {
            self.0.arm()
        }
        /// See the module docs.
        pub fn notify(&self, bit: u64) -> bool {
            self.0.notify(bit)
        }
    }
}
