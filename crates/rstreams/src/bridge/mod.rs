//! Bridges to async Rust (feature `futures`): `futures` [`Stream`](futures_core::Stream)s,
//! [`Sink`](futures_sink::Sink)s and futures, both ways, with backpressure intact.
//!
//! | from | to | how |
//! | --- | --- | --- |
//! | publisher | `Stream<Item = Result<T, Error>>` | [`into_stream(prefetch)`](crate::PublisherExt::into_stream) → [`PublisherStream`] |
//! | publisher | one value | [`first_async`](crate::PublisherExt::first_async), [`last_async`](crate::PublisherExt::last_async), [`collect_async`](crate::PublisherExt::collect_async) → [`AsyncResult`] |
//! | publisher | `Sink<T>` | [`forward_to_sink(sink)`](crate::PublisherExt::forward_to_sink) → [`SinkForward`] |
//! | `Stream` | publisher | [`from_stream`] (single use), [`from_stream_fn`] (cold), [`from_try_stream`] |
//! | `Future` | publisher | [`from_future`] (single use), [`from_future_fn`] (cold) |
//!
//! The bridges need no runtime. Publisher → async: the publisher's thread wakes the async task
//! through its `Waker`. Async → publisher: the stream is polled by a task on the executor you
//! name with a [`Spawner`] (an `rstreams-executor` scheduler, or a tokio handle with the
//! `tokio` feature), and only while the subscriber has outstanding demand.
//!
//! `docs/guide/async.md` ("rstreams and async Rust") says when to use which, with a
//! side-by-side of one pipeline written both ways.

mod sink;
mod source;
mod spawn;
mod stream;
mod terminal;

pub use sink::SinkForward;
pub use source::{
    Fallible, FromStream, FromStreamFn, IntoResultStream, OneFuture, Plain, from_future,
    from_future_fn, from_stream, from_stream_fn, from_try_stream,
};
pub use spawn::{BoxTask, Spawner};
pub use stream::{PublisherStream, StreamSubscriber, subscriber_stream};
pub use terminal::AsyncResult;

pub(crate) use sink::forward_to_sink;
pub(crate) use stream::pair as stream_pair;
pub(crate) use terminal::{collect_async, first_async, last_async};
