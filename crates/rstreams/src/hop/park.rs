//! The hop drain's parking protocol: who runs the drain, without a read-modify-write per item.
//!
//! One flag, `parked`: `true` while no drain runs and none is scheduled. Whoever moves it from
//! `true` to `false` holds the *drain token* and must make a drain run (schedule it); only the
//! token holder drains, so downstream signals are serial.
//!
//! * **Signaller** (the producer after a push, `request`, `cancel`, the upstream's terminal),
//!   *after* publishing its change: a `SeqCst` fence, then a plain load of `parked`. Only if it
//!   reads `true` does it try to claim (`swap`). While the drain is awake (the steady state of a
//!   busy hop) a push costs a store, a fence and a load of a line the consumer only reads: no
//!   read-modify-write, and no wake-up per item.
//! * **Drainer**, out of work (after spinning a while): store `parked = true`, a `SeqCst` fence,
//!   then re-check for work. If there is some, it tries to take the token back (`swap`); if a
//!   signaller claimed it first, that signaller schedules the next drain, and this one leaves.
//!
//! Why no signal is lost: the two fences are ordered in the single total order of `SeqCst`
//! fences. If the signaller's comes first, the drainer's re-check (after its fence) sees the
//! signaller's change; if the drainer's comes first, the signaller's load sees `parked = true`
//! (or a later claim, whose drain re-checks in turn). Without the fences both threads may read
//! stale values (the store-buffer pattern) and a pushed item sits in the ring with nobody to
//! deliver it. `tests/loom_hop_park.rs` model-checks this and a broken twin (`BROKEN = true`,
//! no fences) in which loom finds exactly that lost wake-up.
//!
//! **Deferred signals** (session 4, issue 14.1). The fence is most of a push's cost (~20 ns on
//! the 2-vCPU VM). Inside a synchronous burst (a `subscribe_on` lane request, the hop's first
//! request: a call that returns once it has emitted what it was asked for), the producer only
//! *loads* `parked` after a push ([`Parking::signal_lazily`]): if it reads `true` it signals in
//! full; otherwise it owes one signal, paid (fence and all) when the burst ends or after 64
//! unsignalled pushes, whichever comes first. A drain that parked in the window where the
//! unfenced load misses it is woken by that owed signal, whose fence orders every push before
//! it: an item may wait for the rest of its burst (at most 64 pushes), never for ever.
//! `tests/loom_hop_defer.rs` checks it, with a broken twin that drops the owed signal.

use super::sync::{AtomicBool, Ordering, fence};

/// The drain token; see the module docs. `BROKEN` exists only for the loom twin.
#[derive(Debug)]
pub(crate) struct Parking<const BROKEN: bool = false> {
    parked: AtomicBool,
}

impl<const BROKEN: bool> Parking<BROKEN> {
    /// Parked: the first signal claims the token (the loom model's starting state).
    #[cfg(rstreams_loom)]
    pub(crate) fn new() -> Self {
        Self {
            parked: AtomicBool::new(true),
        }
    }

    /// Awake: a drain is about to look (the hop's first lane task), so no signal need claim.
    pub(crate) fn awake() -> Self {
        Self {
            parked: AtomicBool::new(false),
        }
    }

    /// Call *after* publishing work. Returns `true` if the caller claimed the drain token and
    /// must make a drain run.
    #[inline]
    pub(crate) fn signal(&self) -> bool {
        if !BROKEN {
            // SeqCst fence between our change and the load below, paired with the fence in
            // `park`; see the module docs.
            fence(Ordering::SeqCst);
        }
        // Relaxed load: ordered by the fence above. Acquire swap: pairs with the Release store in
        // `park`, so the claimant (and the drain it schedules) starts after that drain's effects.
        self.parked.load(Ordering::Relaxed) && self.claim()
    }

    /// The lazy signal of a batch of pushes (`publish_on`'s producer inside a synchronous burst;
    /// see "Deferred signals" in the module docs). `Some(claimed)`: the drain was seen parked and
    /// this was a full [`signal`](Self::signal). `None`: no fence was paid, and the caller owes a
    /// `signal` before its batch ends.
    #[inline]
    pub(crate) fn signal_lazily(&self) -> Option<bool> {
        // Relaxed, no fence: a drain parked for a while is seen here; one that parks right now
        // may not be, and the owed `signal` (fenced) covers that case.
        if self.parked.load(Ordering::Relaxed) {
            Some(self.signal())
        } else {
            None
        }
    }

    /// Whether the token is free: the holder parked and nobody has claimed it since. A blocked
    /// `blocking_iter` waits on this turning `false` (the claimant wakes it).
    #[inline]
    pub(crate) fn is_parked(&self) -> bool {
        // Acquire: pairs with the Release half of a successful `claim`, so whoever sees the token
        // taken also sees the work the claimant published before signalling.
        self.parked.load(Ordering::Acquire)
    }

    /// Takes the token if it is free (`parked`): `true` if this call took it.
    ///
    /// A compare-exchange rather than `swap(false)`: the same instruction cost and meaning, but
    /// loom models a `swap` racing a plain store wrongly (tokio-rs/loom#254: the store may land
    /// between the swap's read and write), which makes `tests/loom_hop_defer.rs` report a
    /// stranded item that C11's RMW atomicity rules out; its compare-exchange is modelled right.
    #[inline]
    fn claim(&self) -> bool {
        // AcqRel on success: the Acquire pairs with the Release store in `park`, so the claimant
        // starts after that drain's effects; the Release pairs with `is_parked`, so a parked
        // `blocking_iter` that sees the claim sees the claimant's pushes. (Same instruction as
        // Acquire on x86.) Relaxed on failure: nothing is read then.
        self.parked
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The token holder, out of work, gives the token up unless `has_work()` shows work that
    /// arrived meanwhile. Returns `true` if the caller still holds the token and must drain.
    #[inline]
    pub(crate) fn park(&self, has_work: impl FnOnce() -> bool) -> bool {
        // Release: pairs with the claimant's Acquire swap.
        self.parked.store(true, Ordering::Release);
        if !BROKEN {
            // SeqCst fence paired with the one in `signal`.
            fence(Ordering::SeqCst);
        }
        // If the swap finds `false`, a signaller claimed the token and schedules the next drain.
        has_work() && self.claim()
    }
}

/// The protocol under `--cfg rstreams_loom`, for `tests/loom_hop_park.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// See the module docs; `BROKEN = true` omits both fences.
    #[derive(Debug)]
    pub struct Parking<const BROKEN: bool>(super::Parking<BROKEN>);

    impl<const BROKEN: bool> Parking<BROKEN> {
        /// Parked.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(super::Parking::new())
        }
        /// See the module docs.
        pub fn signal(&self) -> bool {
            self.0.signal()
        }
        /// See the module docs.
        pub fn park(&self, has_work: impl FnOnce() -> bool) -> bool {
            self.0.park(has_work)
        }
        /// See the module docs ("Deferred signals").
        pub fn signal_lazily(&self) -> Option<bool> {
            self.0.signal_lazily()
        }
        /// The drain's starting state in `publish_on`: awake.
        pub fn awake() -> Self {
            Self(super::Parking::awake())
        }
    }
}
