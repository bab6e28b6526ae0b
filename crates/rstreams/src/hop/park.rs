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
//! Both producers on a [`Parking`] use it through [`LazySignal`]: `publish_on`'s and the
//! cross-thread `blocking_iter`'s (session 6: its per-item fence was half its cost), and the
//! owed signal is whatever [`OwedSignal`] the burst's producer names.

use std::cell::Cell;
use std::sync::Arc;

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

/// A consumer that a producer may owe one full signal at the end of its burst: `publish_on`'s
/// drain and a cross-thread `blocking_iter` (module docs, "Deferred signals").
pub(crate) trait OwedSignal: Send + Sync {
    /// The full signal: fence, claim the token if the consumer parked, and wake it.
    fn pay(self: Arc<Self>);
}

thread_local! {
    /// Depth of the synchronous bursts running on this thread ([`batch_signals`]).
    static BURST: Cell<usize> = const { Cell::new(0) };
    /// The consumer a producer owes a signal at the end of the burst (its address, and it).
    static OWED_ID: Cell<usize> = const { Cell::new(0) };
    static OWED: Cell<Option<Arc<dyn OwedSignal>>> = const { Cell::new(None) };
}

/// Pushes a producer makes inside a burst without a fenced signal before it signals anyway:
/// bounds how long an item can wait for a consumer that parked unseen when the burst's source
/// is slow or blocks.
const SIGNAL_EVERY: u32 = 64;

/// Runs `burst` (a call that emits items synchronously on this thread and then returns, e.g.
/// `subscribe_on`'s lane request) with deferred signals: a producer fed inside it pays the
/// parking protocol's fence once per burst (or per [`SIGNAL_EVERY`] pushes) instead of once per
/// item. The owed signal is paid when the outermost burst ends, also on unwind.
pub(crate) fn batch_signals<R>(burst: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            let depth = BURST.with(|b| {
                let d = b.get() - 1;
                b.set(d);
                d
            });
            if depth == 0 {
                pay_owed_signal();
            }
        }
    }
    BURST.with(|b| b.set(b.get() + 1));
    let _exit = Exit;
    burst()
}

/// Pays the signal a producer owes on this thread, if any.
fn pay_owed_signal() {
    OWED_ID.with(|id| id.set(0));
    if let Some(consumer) = OWED.with(Cell::take) {
        count!(OwedSignal);
        consumer.pay();
    }
}

/// A producer's side of the deferred signals: call [`after_push`](Self::after_push) after
/// every push instead of [`Parking::signal`].
#[derive(Debug, Default)]
pub(crate) struct LazySignal {
    /// Pushes since the last fenced signal inside bursts (see [`SIGNAL_EVERY`]).
    unsignalled: u32,
}

impl LazySignal {
    /// Signals `parking` after a push: in full outside a burst (and every [`SIGNAL_EVERY`]
    /// pushes inside one); inside a burst, only if the consumer is seen parked, else it owes
    /// `consumer` one signal at the burst's end. `true`: this call claimed the token, and the
    /// caller must wake the consumer.
    #[inline]
    pub(crate) fn after_push<C: OwedSignal + 'static, const B: bool>(
        &mut self,
        parking: &Parking<B>,
        consumer: &Arc<C>,
    ) -> bool {
        if BURST.with(Cell::get) != 0 {
            self.unsignalled += 1;
            if self.unsignalled < SIGNAL_EVERY {
                return match parking.signal_lazily() {
                    Some(claimed) => claimed,
                    None => {
                        owe(consumer);
                        false
                    }
                };
            }
            self.unsignalled = 0;
        }
        parking.signal()
    }
}

/// Records that this thread's burst owes `consumer` a signal.
#[inline]
fn owe<C: OwedSignal + 'static>(consumer: &Arc<C>) {
    if OWED_ID.with(Cell::get) != Arc::as_ptr(consumer) as *const () as usize {
        owe_first(consumer);
    }
}

/// The first push of a burst that owes `consumer` (out of line: once per burst).
#[cold]
#[inline(never)]
fn owe_first<C: OwedSignal + 'static>(consumer: &Arc<C>) {
    let id = Arc::as_ptr(consumer) as *const () as usize;
    // Another consumer was owed one on this thread (a nested burst): pay it now, then owe ours.
    pay_owed_signal();
    OWED_ID.with(|o| o.set(id));
    let owed: Arc<dyn OwedSignal> = Arc::clone(consumer) as Arc<dyn OwedSignal>;
    OWED.with(|o| o.set(Some(owed)));
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
