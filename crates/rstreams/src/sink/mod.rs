//! Sinks: where a stream ends. Closures ([`Consumer`], [`subscribe_with`](crate::PublisherExt::subscribe_with)),
//! blocking calls for plain threads ([`for_each`](crate::PublisherExt::for_each),
//! [`blocking_first`](crate::PublisherExt::blocking_first),
//! [`blocking_last`](crate::PublisherExt::blocking_last)) and a bounded blocking iterator
//! ([`BlockingIter`]).

mod blocking;
mod consumer;

pub use blocking::BlockingIter;
pub(crate) use blocking::{blocking_first, blocking_iter, blocking_last, for_each};
pub use consumer::{Cancellable, Consumer};
