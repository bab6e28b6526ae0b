//! Sinks: where a stream ends. Closures ([`Consumer`], [`subscribe_with`](crate::PublisherExt::subscribe_with)),
//! blocking calls for plain threads ([`for_each`](crate::PublisherExt::for_each),
//! [`blocking_first`](crate::PublisherExt::blocking_first),
//! [`blocking_last`](crate::PublisherExt::blocking_last)) and a bounded blocking iterator
//! ([`BlockingIter`]).
//!
//! # Which thread runs your closure
//!
//! A sink's closure runs on whichever thread delivers the item: the thread that last called
//! `request` for a synchronous source, or the worker of the last thread hop or rail join
//! upstream of it. It never gets a thread of its own.
//!
//! | Sink | Where the closure / the items end up |
//! |---|---|
//! | [`for_each`](crate::PublisherExt::for_each) | on the delivering thread (the caller's for a synchronous source; a pool worker after `publish_on`, `parallel().run_on` or `flat_map` of hopped inners), while the caller blocks |
//! | [`subscribe_with`](crate::PublisherExt::subscribe_with), [`Consumer`] | on the delivering thread (the caller's, inside `subscribe_*`, for a synchronous source) |
//! | [`blocking_iter`](crate::PublisherExt::blocking_iter) ([`BlockingIter`]) | no closure: items are handed to the iterating thread, which runs the loop body |
//! | [`blocking_first`](crate::PublisherExt::blocking_first), [`blocking_last`](crate::PublisherExt::blocking_last) | no closure: the value comes back to the calling thread |
//!
//! So a slow `for_each` after `publish_on_with(pool, ..)` or `parallel().run_on(pool)` occupies one
//! of the pool's workers for every item, and the workers that should be parsing wait on it
//! (the pool has as many workers as cores). To keep the slow work off the pool, consume with
//! [`blocking_iter`](crate::PublisherExt::blocking_iter) on a thread of your own (its prefetch
//! bounds what waits), or hop to a dedicated scheduler first with
//! [`publish_on`](crate::PublisherExt::publish_on). `docs/guide/parallel.md` shows both.

mod blocking;
pub(crate) mod collect;
mod consumer;
mod local;

pub use blocking::BlockingIter;
pub(crate) use blocking::{blocking_first, blocking_iter, blocking_last, for_each, for_each_local};
pub use consumer::{Cancellable, Consumer};

/// The blocking iterator's local buffer, exposed to `tests/loom_blocking_local.rs` only
/// (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use super::local::loom_api::*;
}
/// Items [`blocking_iter()`](crate::PublisherExt::blocking_iter) buffers ahead of the
/// iterating thread: 256, Reactor's `toIterable()` default (its small buffer size). Enough to
/// amortise the cross-thread hand-off; pass another number to
/// [`blocking_iter_with`](crate::PublisherExt::blocking_iter_with).
pub const DEFAULT_BLOCKING_PREFETCH: usize = 256;
