//! The synchronisation facade: std / parking_lot / crossbeam types in normal builds, loom types
//! under `--cfg rstreams_loom` (the tokio `loom/` pattern, reduced to what this crate needs).
//!
//! Only the hand-off protocols that loom models ([`crate::lane::LaneCore`] and
//! [`crate::sleep::Sleep`]) go through this module; the rest of the crate uses std and
//! parking_lot directly, because those parts are never executed inside a loom model.
//!
//! The API is the intersection of the two worlds: `Mutex::lock` never fails (loom's poisoning is
//! unwrapped) and `Condvar::wait` takes and returns the guard by value (loom's shape), which
//! parking_lot's by-reference `wait` is adapted to.

// `pub` (not `pub(crate)`) so that `--cfg rstreams_loom` builds can re-export these types to the
// loom models (`crate::__loom`); outside that cfg nothing names them from outside the crate.
#![allow(unreachable_pub)]

#[cfg(not(rstreams_loom))]
mod imp {
    pub use std::sync::atomic::{AtomicUsize, Ordering, fence};

    /// A mutex that cannot be poisoned (parking_lot).
    #[derive(Debug, Default)]
    pub struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// A new unlocked mutex.
        pub fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        /// Locks, blocking the thread until the lock is free.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// A condition variable (parking_lot) with loom's by-value `wait` shape.
    #[derive(Debug, Default)]
    pub struct Condvar(parking_lot::Condvar);

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        /// Atomically releases the guard's lock and waits; may wake spuriously.
        pub fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(&mut guard);
            guard
        }

        /// Wakes one waiter, if any.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes all waiters.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// An unbounded multi-producer FIFO queue (crossbeam-channel's list flavour).
    ///
    /// Unbounded by name: users of it must bound what they put in by other means.
    #[derive(Debug)]
    pub struct UnboundedQueue<T> {
        tx: crossbeam_channel::Sender<T>,
        rx: crossbeam_channel::Receiver<T>,
    }

    impl<T> Default for UnboundedQueue<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> UnboundedQueue<T> {
        /// An empty queue.
        pub fn new() -> Self {
            let (tx, rx) = crossbeam_channel::unbounded();
            Self { tx, rx }
        }

        /// Appends at the tail.
        pub fn push(&self, item: T) {
            // Both ends live in `self`, so the channel can never be disconnected here.
            if self.tx.send(item).is_err() {
                unreachable!("UnboundedQueue owns both channel ends");
            }
        }

        /// Removes the head, if any.
        pub fn pop(&self) -> Option<T> {
            self.rx.try_recv().ok()
        }

        /// Whether the queue is empty at this instant (used by the loom models' normal-build twin).
        #[allow(dead_code)]
        pub fn is_empty(&self) -> bool {
            self.rx.is_empty()
        }
    }

    /// The fence the loom models need after a SeqCst read-modify-write that must order a later
    /// SeqCst load on another location (the pool's push, then its read of the sleeper word). In
    /// normal builds it is nothing: the C++20/Rust memory model already puts both SeqCst accesses
    /// in the single total order S, so they behave like a fence for the store-buffer pattern. Loom
    /// does not model that order for accesses (it treats SeqCst loads and stores as
    /// Acquire/Release, its documented limitation) but does model SeqCst fences, so the loom
    /// build inserts one here to check the protocol the real build relies on.
    #[inline(always)]
    pub fn order_after_seqcst_rmw() {}

    /// A bounded multi-producer multi-consumer FIFO queue: crossbeam-channel's `bounded`
    /// flavour (Vyukov's array queue with per-slot stamps), used as a queue (both ends owned).
    ///
    /// Ordering it guarantees and the pool's sleep protocol relies on (crossbeam-channel 0.5,
    /// `flavors/array.rs`): a push claims its slot with one SeqCst compare-exchange on the tail
    /// and a pop with one on the head; `is_empty`/`is_full` read head and tail with SeqCst loads.
    #[derive(Debug)]
    pub struct BoundedQueue<T> {
        tx: crossbeam_channel::Sender<T>,
        rx: crossbeam_channel::Receiver<T>,
    }

    impl<T> BoundedQueue<T> {
        /// An empty queue holding at most `capacity` items (`capacity > 0`).
        pub fn new(capacity: usize) -> Self {
            let (tx, rx) = crossbeam_channel::bounded(capacity);
            Self { tx, rx }
        }

        /// Appends at the tail, or gives the item back if the queue is full.
        #[inline]
        pub fn try_push(&self, item: T) -> Result<(), T> {
            // Both ends live in `self`, so the channel is never disconnected.
            self.tx
                .try_send(item)
                .map_err(crossbeam_channel::TrySendError::into_inner)
        }

        /// Removes the head, if any.
        #[inline]
        pub fn pop(&self) -> Option<T> {
            self.rx.try_recv().ok()
        }

        /// Whether the queue is empty (SeqCst reads of head and tail).
        pub fn is_empty(&self) -> bool {
            self.rx.is_empty()
        }

        /// Whether the queue is full (SeqCst reads of head and tail).
        pub fn is_full(&self) -> bool {
            self.rx.is_full()
        }

        /// Items queued at this instant.
        pub fn len(&self) -> usize {
            self.rx.len()
        }
    }
}

#[cfg(rstreams_loom)]
mod imp {
    pub use loom::sync::atomic::{AtomicUsize, Ordering, fence};
    use std::collections::VecDeque;

    /// A mutex (loom), with poisoning unwrapped.
    #[derive(Debug)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// A new unlocked mutex.
        pub fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        /// Locks, blocking the thread until the lock is free.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
    }

    /// A condition variable (loom).
    #[derive(Debug)]
    pub struct Condvar(loom::sync::Condvar);

    impl Default for Condvar {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        /// Atomically releases the guard's lock and waits.
        pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).expect("loom mutex poisoned")
        }

        /// Wakes one waiter, if any.
        pub fn notify_one(&self) {
            self.0.notify_one();
        }

        /// Wakes all waiters.
        pub fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// An unbounded FIFO queue: a loom mutex around a `VecDeque`, plus an atomic length that
    /// `is_empty` reads *without* the lock. That keeps the model honest about the real,
    /// lock-free queue: an emptiness check may see a stale value unless something orders it
    /// after the push (a mutex-only model would hide store-buffer bugs behind the mutex's order).
    #[derive(Debug)]
    pub struct UnboundedQueue<T> {
        items: loom::sync::Mutex<VecDeque<T>>,
        len: AtomicUsize,
    }

    impl<T> Default for UnboundedQueue<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> UnboundedQueue<T> {
        /// An empty queue.
        pub fn new() -> Self {
            Self {
                items: loom::sync::Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            }
        }

        /// Appends at the tail.
        pub fn push(&self, item: T) {
            let mut items = self.items.lock().expect("poisoned");
            items.push_back(item);
            // Release, like the real queue's publication of a slot.
            self.len.store(items.len(), Ordering::Release);
        }

        /// Removes the head, if any.
        pub fn pop(&self) -> Option<T> {
            let mut items = self.items.lock().expect("poisoned");
            let item = items.pop_front();
            self.len.store(items.len(), Ordering::Release);
            item
        }

        /// Whether the queue is empty, read without the lock (may be stale).
        pub fn is_empty(&self) -> bool {
            // Acquire pairs with the Release stores in push/pop.
            self.len.load(Ordering::Acquire) == 0
        }
    }
    /// Loom build: a SeqCst fence, standing in for the total order of SeqCst accesses that
    /// loom does not model (see the normal build's twin).
    pub fn order_after_seqcst_rmw() {
        fence(Ordering::SeqCst);
    }

    /// A bounded FIFO queue for the loom models: a loom mutex around a `VecDeque`, plus an atomic
    /// length that `is_empty`/`is_full` read *without* the lock, written with SeqCst like the
    /// real queue's head/tail compare-exchanges (loom treats them as Release/Acquire; the
    /// protocol's order comes from `order_after_seqcst_rmw` and the sleeper's fence, so a missing
    /// one shows as a lost wakeup).
    #[derive(Debug)]
    pub struct BoundedQueue<T> {
        items: loom::sync::Mutex<VecDeque<T>>,
        len: AtomicUsize,
        capacity: usize,
    }

    impl<T> BoundedQueue<T> {
        /// An empty queue holding at most `capacity` items.
        pub fn new(capacity: usize) -> Self {
            Self {
                items: loom::sync::Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
                capacity,
            }
        }

        /// Appends at the tail, or gives the item back if the queue is full.
        pub fn try_push(&self, item: T) -> Result<(), T> {
            let mut items = self.items.lock().expect("poisoned");
            if items.len() == self.capacity {
                return Err(item);
            }
            items.push_back(item);
            self.len.store(items.len(), Ordering::SeqCst);
            Ok(())
        }

        /// Removes the head, if any.
        pub fn pop(&self) -> Option<T> {
            let mut items = self.items.lock().expect("poisoned");
            let item = items.pop_front();
            self.len.store(items.len(), Ordering::SeqCst);
            item
        }

        /// Whether the queue is empty, read without the lock (may be stale).
        pub fn is_empty(&self) -> bool {
            self.len.load(Ordering::SeqCst) == 0
        }

        /// Whether the queue is full, read without the lock (may be stale).
        pub fn is_full(&self) -> bool {
            self.len.load(Ordering::SeqCst) == self.capacity
        }

        /// Items queued at this instant.
        pub fn len(&self) -> usize {
            self.len.load(Ordering::SeqCst)
        }
    }
}

pub use imp::*;
