//! NATS and JetStream for rstreams: backpressure across machines.
//!
//! `request(n)` keeps its meaning through the broker:
//!
//! - [`JetStreamSource`] is a [`Publisher`](rstreams_protocol::Publisher) over a JetStream pull
//!   consumer. Demand becomes fetches of at most the outstanding demand (plus a documented
//!   [`prefetch`](SourceConfig::prefetch), default 0), capped by
//!   [`max_batch`](SourceConfig::max_batch): nothing reaches this process that the subscriber
//!   did not ask for. Acks after `on_next`, by hand, or not at all ([`AckMode`]).
//! - [`JetStreamSink`] is a [`Subscriber`](rstreams_protocol::Subscriber) that publishes with
//!   PubAck; its demand upstream is the window of publishes awaiting their ack, so a slow
//!   broker slows the producer. Message ids de-duplicate retries; a [`SinkHandle`] resolves
//!   when every ack is in, and can cancel the sink from outside.
//! - [`CoreSubject`] is a plain NATS subject (no persistence, no flow control) behind an
//!   explicit overflow policy from [`rstreams::overflow`], with a drop counter.
//!
//! The connector owns its async client (async-nats) and runs it on one tokio runtime thread of
//! its own; nothing async leaks into the API, and subscriber callbacks never run on that thread.
//! Failures arrive as `on_error` (or from [`ConnectOptions::connect`]) carrying a
//! [`NatsError`] that names the URL, stream, consumer, subject or sequence concerned.
//!
//! The delivery guarantees, stated plainly, are in `docs/guide/nats.md`.
#![forbid(unsafe_code)]

mod connection;
mod core;
mod error;
mod sink;
mod source;

pub use connection::{ConnectOptions, Connection, ConsumerStats};
pub use core::{CoreMessage, CoreSubject};
pub use error::NatsError;
pub use rstreams_protocol::Error;
pub use sink::{JetStreamSink, Publish, RetryPolicy, SinkConfig, SinkHandle, SinkReport};
pub use source::{
    AckHandle, AckMode, DecodeFailure, Decoder, JetStreamSource, JsMessage, SourceConfig,
};

/// Re-exported so that users can build stream and consumer configs without naming the client
/// crate in their own manifest.
pub use async_nats;

/// The NATS guide (`docs/guide/nats.md`), compiled as doctests so its examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide/nats.md")]
pub struct NatsGuide;
