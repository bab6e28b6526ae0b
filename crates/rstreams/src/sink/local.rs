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
//!   iterator holds no reference to the buffer); otherwise the item is handed back and goes to
//!   the locked queue;
//! * the iterator [`with`](LocalBuf::with)s the buffer only outside such calls, on its thread.
//!   Moving the iterator to another thread between calls needs a synchronising hand-over, which
//!   orders the accesses.
//!
//! `tests/loom_blocking_local.rs` model-checks it (loom's checked `UnsafeCell` reports any two
//! unordered accesses), with a broken twin (`BROKEN = true`: the mark is one shared atomic
//! instead of a thread-local, so another thread delivering while the iterator is inside its
//! call pushes concurrently) that loom must catch.

use std::collections::VecDeque;

#[cfg(not(rstreams_loom))]
mod imp {
    pub(crate) use std::cell::Cell;
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

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
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use std::cell::Cell;

    loom::thread_local! {
        pub(crate) static PULLING: Cell<usize> = Cell::new(0);
    }
}

use imp::{AtomicUsize, Ordering, PULLING, UnsafeCell};

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
}
