//! The blocking iterator's own buffer: a `VecDeque` that only the iterating thread touches,
//! without a lock, and the thread-local mark that lets a subscriber tell whether it runs on that
//! thread inside the iterator's own `subscribe`/`request` call (the synchronous fast path of
//! `blocking.rs`).
//!
//! The protocol, which is what makes the `unsafe` below sound:
//!
//! * the iterator [`enter`](LocalBuf::enter)s before each call that may deliver synchronously;
//!   for the scope's life the calling thread's `PULLING` mark names this buffer. Only the
//!   thread itself can set its own mark, so no other thread ever sees it;
//! * a subscriber [`try_push`](LocalBuf::try_push)es: into the buffer only if its own thread's
//!   mark names this buffer (so it runs on the iterating thread, inside that call, while the
//!   iterator holds no reference to the buffer); otherwise the item is handed back and goes
//!   through the ring (below);
//! * the iterator [`with`](LocalBuf::with)s the buffer only outside such calls, on its thread.
//!   Moving the iterator to another thread between calls needs a synchronising hand-over, which
//!   orders the accesses.
//!
//! # The cross-thread half
//!
//! Items delivered from any other thread (or on the iterating thread outside its calls) go
//! through the thread hop's SPSC ring (`hop/ring.rs`: [`Sender`] holds the producer half, the
//! iterator's [`Receiver`] the consumer half), and the iterator parks on the hop's drain token
//! (`hop/park.rs`, "signal only if parked"): after each push the sender pays a fence and a load
//! of the token, no read-modify-write, and wakes the iterator only if it parked (at most once
//! per park). The iterator spins a while before it parks, publishes the slots it read before
//! each `request` (so the ring, sized for the prefetch, never fills under rule 1.1), and parks
//! with `thread::park` (its handle recorded before each park). The ordering of the two halves:
//! once an item went to the ring, later items follow it there until the sender sees the ring
//! drained (the iterator's published head at the sender's tail) while it runs inside the
//! iterator's call; only then does the fast path resume, so no item overtakes another.
//! `tests/loom_blocking_cross.rs` model-checks ring + token + fast path, with a broken twin
//! (`BROKEN = true`: the token without its fences) in which loom finds the lost wake-up.
//!
//! `tests/loom_blocking_local.rs` model-checks it (loom's checked `UnsafeCell` reports any two
//! unordered accesses), with a broken twin (`BROKEN = true`: the mark is one shared atomic
//! instead of a thread-local, so another thread delivering while the iterator is inside its
//! call pushes concurrently) that loom must catch.

use std::collections::VecDeque;

#[cfg(not(rstreams_loom))]
mod imp {
    pub(crate) use std::cell::Cell;
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use std::thread;

    /// `std::cell::UnsafeCell` with loom's closure-based access shape.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    thread_local! {
        /// The address of the [`LocalBuf`](super::LocalBuf) whose iterator is, on this thread,
        /// inside a call that may deliver items synchronously; 0 when none.
        pub(crate) static PULLING: Cell<usize> = const { Cell::new(0) };
    }
}

#[cfg(rstreams_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Mutex;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::thread;
    pub(crate) use std::cell::Cell;

    loom::thread_local! {
        pub(crate) static PULLING: Cell<usize> = Cell::new(0);
    }
}

use imp::{AtomicBool, AtomicUsize, Mutex, Ordering, PULLING, UnsafeCell, thread};

#[cfg(not(rstreams_loom))]
use crate::hop::OwedSignal;
use crate::hop::{LazySignal, Parking, RingConsumer, RingProducer, ring};
#[cfg(rstreams_loom)]
use loom::sync::Arc;
#[cfg(not(rstreams_loom))]
use std::sync::Arc;

/// Counts an iterator event (feature `hop-stats`, with the hop's counters; nothing otherwise).
macro_rules! count {
    ($event:ident) => {
        #[cfg(feature = "hop-stats")]
        crate::hop::stats::count(crate::hop::stats::Event::$event, 1);
    };
}

/// See the module docs. `BROKEN` exists only for the loom twin.
#[derive(Debug)]
pub(crate) struct LocalBuf<T, const BROKEN: bool = false> {
    buf: UnsafeCell<VecDeque<T>>,
    /// The broken twin's mark: shared by every thread (never used when `BROKEN` is false).
    shared_mark: AtomicUsize,
}

// SAFETY: `buf` is accessed only under the protocol of the module docs: by the iterating thread
// outside its calls (`with`), or by a subscriber running on that same thread inside one of them
// (`try_push`, which checks the thread's own mark), never both at once and never from two
// threads without a synchronising hand-over in between. `T: Send` because items cross threads
// with the iterator. (The broken twin is unsound by design; it exists under loom only, where
// loom's cell catches it.)
unsafe impl<T: Send, const BROKEN: bool> Sync for LocalBuf<T, BROKEN> {}

/// While alive, the current thread is inside a call for one buffer (restores the previous mark
/// when dropped, so an iterator driven from inside another's pipeline nests, and a panic
/// unwinding out of `request` leaves no mark behind).
pub(crate) struct Scope<'a, T, const BROKEN: bool> {
    prev: usize,
    buf: &'a LocalBuf<T, BROKEN>,
}

impl<T, const BROKEN: bool> Drop for Scope<'_, T, BROKEN> {
    fn drop(&mut self) {
        if BROKEN {
            self.buf.shared_mark.store(self.prev, Ordering::SeqCst);
        } else {
            PULLING.with(|m| m.set(self.prev));
        }
    }
}

impl<T, const BROKEN: bool> LocalBuf<T, BROKEN> {
    pub(crate) fn new() -> Self {
        Self {
            buf: UnsafeCell::new(VecDeque::new()),
            shared_mark: AtomicUsize::new(0),
        }
    }

    #[inline(always)]
    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Marks the current thread as inside a call that may deliver into this buffer.
    pub(crate) fn enter(&self) -> Scope<'_, T, BROKEN> {
        let prev = if BROKEN {
            self.shared_mark.swap(self.id(), Ordering::SeqCst)
        } else {
            PULLING.with(|m| m.replace(self.id()))
        };
        Scope { prev, buf: self }
    }

    /// Whether the current thread is inside a call of this buffer's iterator.
    #[inline(always)]
    pub(crate) fn is_inside(&self) -> bool {
        if BROKEN {
            self.shared_mark.load(Ordering::SeqCst) == self.id()
        } else {
            PULLING.with(|m| m.get()) == self.id()
        }
    }

    /// Pushes `item` if the current thread is inside a call of this buffer's iterator;
    /// otherwise hands it back.
    #[inline(always)]
    pub(crate) fn try_push(&self, item: T) -> Result<(), T> {
        if !self.is_inside() {
            return Err(item);
        }
        self.buf.with_mut(|q| {
            // SAFETY: the mark names this buffer on this thread: we run on the iterating
            // thread inside its call, during which it holds no reference to the buffer (see
            // the module docs); the reference ends here.
            unsafe { (*q).push_back(item) }
        });
        Ok(())
    }

    /// Runs `f` on the buffer.
    ///
    /// # Safety
    ///
    /// Only the iterator may call this, on its own thread, outside any call it made under
    /// [`enter`](Self::enter) (no [`Scope`] alive), and `f` must not make such a call.
    #[inline(always)]
    pub(crate) unsafe fn with<R>(&self, f: impl FnOnce(&mut VecDeque<T>) -> R) -> R {
        self.buf.with_mut(|q| {
            // SAFETY: the caller upholds the contract above, so this is the only reference.
            f(unsafe { &mut *q })
        })
    }
}

/// What both halves of the cross-thread path share. `BROKEN` exists only for the loom twin.
struct Wake<const BROKEN: bool> {
    /// Held (`false`) while the iterator is awake; see `hop/park.rs`.
    parking: Parking<BROKEN>,
    /// The terminal signal was recorded (the iterator then reads it under its lock).
    ended: AtomicBool,
    /// The parked iterator's thread, recorded before each park.
    waiter: Mutex<Option<thread::Thread>>,
}

impl<const BROKEN: bool> Wake<BROKEN> {
    /// Call after publishing an item or the end: wakes the iterator if it parked.
    #[inline(always)]
    fn signal(&self) {
        if self.parking.signal() {
            self.wake();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake(&self) {
        // We hold the token: the iterator is parked (or about to), its handle recorded.
        let waiter = self
            .waiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(t) = waiter {
            count!(IterWake);
            t.unpark();
        }
    }
}

#[cfg(not(rstreams_loom))]
impl<const BROKEN: bool> OwedSignal for Wake<BROKEN> {
    fn pay(self: Arc<Self>) {
        self.signal();
    }
}

/// How long an iterator that found nothing keeps yielding (after its spin) before it parks.
#[cfg(not(rstreams_loom))]
const YIELD_BEFORE_PARK: std::time::Duration = std::time::Duration::from_micros(50);

/// A park this short would have been covered by the yield phase (it re-enables it).
#[cfg(not(rstreams_loom))]
const SHORT_PARK: std::time::Duration = std::time::Duration::from_micros(200);

/// The subscriber's half of the hand-off (see "The cross-thread half" in the module docs).
pub(crate) struct Sender<T, const BROKEN: bool = false> {
    ring: RingProducer<T>,
    wake: Arc<Wake<BROKEN>>,
    /// The last item went to the ring: later ones follow it there (see the module docs).
    in_ring: bool,
    /// Deferred signals inside synchronous bursts (`hop/park.rs`).
    lazy: LazySignal,
}

/// The iterator's half of the hand-off.
pub(crate) struct Receiver<T, const BROKEN: bool = false> {
    ring: RingConsumer<T>,
    wake: Arc<Wake<BROKEN>>,
    /// Whether to yield a while before parking: cleared when a park lasted long (a slow
    /// upstream, where yielding only burns CPU), set again when one was short.
    yield_first: bool,
}

/// A hand-off carrying up to `capacity` items (rounded up to a power of two) across threads.
pub(crate) fn channel<T, const BROKEN: bool>(
    capacity: usize,
) -> (Sender<T, BROKEN>, Receiver<T, BROKEN>) {
    let (tx, rx) = ring(capacity);
    let wake = Arc::new(Wake {
        // Awake: the iterator is running (it is subscribing).
        parking: Parking::awake(),
        ended: AtomicBool::new(false),
        waiter: Mutex::new(None),
    });
    (
        Sender {
            ring: tx,
            wake: Arc::clone(&wake),
            in_ring: false,
            lazy: LazySignal::default(),
        },
        Receiver {
            ring: rx,
            wake,
            yield_first: true,
        },
    )
}

impl<T, const BROKEN: bool> Sender<T, BROKEN> {
    /// Delivers `item`: into `local` if this thread is inside the iterator's call and nothing
    /// waits in the ring, otherwise through the ring (waking the iterator if it parked). Hands
    /// the item back if the ring is full, which only an upstream breaking rule 1.1 causes.
    #[inline(always)]
    pub(crate) fn send<const LB: bool>(
        &mut self,
        local: &LocalBuf<T, LB>,
        item: T,
    ) -> Result<(), T> {
        let item = if self.in_ring {
            item
        } else {
            match local.try_push(item) {
                Ok(()) => return Ok(()),
                Err(item) => item,
            }
        };
        self.send_slow(local, item)
    }

    #[inline(never)]
    fn send_slow<const LB: bool>(&mut self, local: &LocalBuf<T, LB>, item: T) -> Result<(), T> {
        // Inside the iterator's call it published its head before calling: drained means every
        // ring item was taken, so the fast path cannot overtake one.
        let item = if self.in_ring && self.ring.is_drained() {
            match local.try_push(item) {
                Ok(()) => {
                    self.in_ring = false;
                    return Ok(());
                }
                Err(item) => item,
            }
        } else {
            item
        };
        self.ring.push(item)?;
        self.in_ring = true;
        // Inside a synchronous burst (a `subscribe_on` request) the fence is paid once per
        // burst, as `publish_on`'s producer does (`hop/park.rs`, "Deferred signals"; that
        // protocol's loom model is `loom_hop_defer`, this hand-off's is `loom_blocking_cross`).
        #[cfg(not(rstreams_loom))]
        let claimed = self.lazy.after_push(&self.wake.parking, &self.wake);
        #[cfg(rstreams_loom)]
        let claimed = self.wake.parking.signal();
        if claimed {
            self.wake.wake();
        }
        Ok(())
    }

    /// Call after recording the terminal signal where the iterator reads it.
    pub(crate) fn close(&self) {
        // Release: pairs with the Acquire in `Receiver::is_ended`; the recorded end (and every
        // item pushed before) is visible to an iterator that sees the flag.
        self.wake.ended.store(true, Ordering::Release);
        self.wake.signal();
    }
}

impl<T, const BROKEN: bool> Receiver<T, BROKEN> {
    /// The oldest item through the ring, if any.
    #[inline(always)]
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        self.ring.pop()
    }

    /// The oldest item of the run the last look at the ring found, without looking again.
    #[inline(always)]
    pub(crate) fn try_recv_cached(&mut self) -> Option<T> {
        self.ring.pop_cached()
    }

    /// Hands the slots read so far back to the sender: before each `request`.
    #[inline]
    pub(crate) fn publish(&mut self) {
        self.ring.publish();
    }

    /// Items in the ring not yet taken.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the sender recorded the end.
    #[inline]
    pub(crate) fn is_ended(&self) -> bool {
        // Acquire: pairs with the Release in `Sender::close`.
        self.wake.ended.load(Ordering::Acquire)
    }

    /// Returns once an item or the end may be ready (spuriously too: the caller re-checks).
    /// Spins first, then parks on the token, so a busy sender never has to wake us.
    pub(crate) fn wait(&mut self) {
        count!(IterWait);
        #[cfg(not(rstreams_loom))]
        {
            // Paced looks for a run of items (`hop/ring.rs`): looking at once, per item, would
            // pass the ring's lines back and forth between the two cores for every item.
            let wake = &self.wake;
            // Acquire: as in `is_ended`.
            if self.ring.await_run(|| wake.ended.load(Ordering::Acquire)) {
                return;
            }
            // Then keep yielding for a bounded while: the usual gap is the upstream's worker
            // waking for the replenishing `request`, which on a quiet machine (halted vCPUs)
            // takes tens of microseconds; parking through it would cost a second wake-up.
            if self.yield_first {
                count!(IterYield);
                let start = std::time::Instant::now();
                while start.elapsed() < YIELD_BEFORE_PARK {
                    if !self.ring.is_empty() || self.is_ended() {
                        return;
                    }
                    std::thread::yield_now();
                }
            }
        }
        let me = thread::current();
        {
            let mut w = self
                .wake
                .waiter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if w.as_ref().map(|t| t.id()) != Some(me.id()) {
                *w = Some(me);
            }
        }
        let Receiver {
            ring,
            wake,
            yield_first,
        } = self;
        if wake
            .parking
            .park(|| !ring.is_empty() || wake.ended.load(Ordering::Acquire))
        {
            return; // work arrived while parking: we kept the token
        }
        // A sender claimed the token (or will, once it pushes): it unparks us.
        count!(IterPark);
        #[cfg(not(rstreams_loom))]
        let parked_at = std::time::Instant::now();
        while wake.parking.is_parked() {
            thread::park();
        }
        // A short park is what the yield phase would have saved; a long one means a slow
        // upstream, for which it would only burn CPU.
        #[cfg(not(rstreams_loom))]
        {
            *yield_first = parked_at.elapsed() < SHORT_PARK;
        }
        #[cfg(rstreams_loom)]
        let _ = yield_first;
    }
}

/// The buffer under `--cfg rstreams_loom`, for `tests/loom_blocking_local.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// A buffer whose two sides the model drives; `BROKEN = true` is the twin loom must reject.
    #[derive(Debug)]
    pub struct LocalBuf<const BROKEN: bool>(super::LocalBuf<u32, BROKEN>);

    impl<const B: bool> LocalBuf<B> {
        /// An empty buffer.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Self(super::LocalBuf::new())
        }
        /// Runs `f` as the iterator's call (a `request` that may deliver synchronously).
        pub fn call(&self, f: impl FnOnce()) {
            let _scope = self.0.enter();
            f();
        }
        /// The subscriber's delivery: `true` if it took the fast path.
        pub fn deliver(&self, item: u32) -> bool {
            self.0.try_push(item).is_ok()
        }
        /// The iterator takes an item, outside its calls, on its own thread (the model's
        /// contract, as in the crate).
        pub fn take(&self) -> Option<u32> {
            // SAFETY: the model calls this only on the iterating thread outside `call`.
            unsafe { self.0.with(|q| q.pop_front()) }
        }
    }

    /// The cross-thread hand-off (`tests/loom_blocking_cross.rs`); `BROKEN = true` is the
    /// twin whose token has no fences.
    pub fn channel<const BROKEN: bool>(capacity: usize) -> (Sender<BROKEN>, Receiver<BROKEN>) {
        let (tx, rx) = super::channel(capacity);
        (Sender(tx), Receiver(rx))
    }

    /// The subscriber's half.
    pub struct Sender<const BROKEN: bool>(super::Sender<u32, BROKEN>);
    /// The iterator's half.
    pub struct Receiver<const BROKEN: bool>(super::Receiver<u32, BROKEN>);

    impl<const B: bool> Sender<B> {
        /// Delivers `item` (the fast path into `local` when allowed): `true` if it took it.
        pub fn send(&mut self, local: &LocalBuf<false>, item: u32) -> bool {
            self.0.send(&local.0, item).is_ok()
        }
        /// The terminal signal.
        pub fn close(&self) {
            self.0.close()
        }
    }

    impl<const B: bool> Receiver<B> {
        /// The iterator's `next` over both halves: its own buffer, then the ring, waiting
        /// (parking) while both are empty; `None` once the sender closed and all is taken.
        pub fn next(&mut self, local: &LocalBuf<false>) -> Option<u32> {
            loop {
                if let Some(x) = local.take() {
                    return Some(x);
                }
                if let Some(x) = self.0.try_recv() {
                    return Some(x);
                }
                if self.0.is_ended() {
                    return self.0.try_recv();
                }
                self.0.wait();
            }
        }
        /// Publishes the slots read (before a `request`).
        pub fn publish(&mut self) {
            self.0.publish()
        }
    }
}
