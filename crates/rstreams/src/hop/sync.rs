//! The synchronisation facade of the hop: std atomics and a thin `UnsafeCell` in normal builds,
//! loom's checked versions under `--cfg rstreams_loom` (the tokio `loom/` pattern, reduced to what
//! the SPSC ring and the drain's parking protocol need). Only those two go through it; the rest of
//! the hop uses std directly.

#[cfg(not(rstreams_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

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
}

#[cfg(rstreams_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
}

pub(crate) use imp::*;
