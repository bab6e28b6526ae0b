//! Overflow policies for sources that cannot slow down, and the [`Hot`] wrapper that makes a
//! policy a type-level requirement.
//!
//! A policy stage requests `u64::MAX` upstream and keeps up to `capacity` items *beyond the
//! downstream's outstanding demand*; what does not fit is handled by the policy:
//!
//! | builder | keeps | on overflow |
//! | --- | --- | --- |
//! | [`on_backpressure_buffer`](crate::PublisherExt::on_backpressure_buffer)`(n, Error)` | `n` | fails with [`Overflow`] (after the buffered items) |
//! | `on_backpressure_buffer(n, DropOldest)` | the newest `n` | drops the oldest buffered item |
//! | `on_backpressure_buffer(n, DropNewest)` | the oldest `n` | drops the arriving item |
//! | [`on_backpressure_drop`](crate::PublisherExt::on_backpressure_drop) | nothing | drops the arriving item |
//! | [`on_backpressure_latest`](crate::PublisherExt::on_backpressure_latest) | the newest 1 | replaces it |
//! | [`on_backpressure_error`](crate::PublisherExt::on_backpressure_error) | nothing | fails with [`Overflow`] |
//! | [`on_backpressure_buffer_unbounded`](crate::PublisherExt::on_backpressure_buffer_unbounded) | everything | — (memory grows; by name only) |
//!
//! Every dropped item is passed to the callback set with
//! [`OnBackpressure::on_drop`] and counted in its [`DropCounter`]. Blocking the producer
//! instead is what [`emitter`](crate::emitter()) does: its `send` waits for demand.

mod hot;
mod stage;

pub use hot::{Hot, HotEmitter, HotEmitterSource, IntervalSource, hot_emitter, interval};
pub(crate) use stage::Mode;
pub use stage::{DropCounter, OnBackpressure, Overflow, OverflowPolicy};

/// The backpressure guide (`docs/guide/backpressure.md`), compiled as doctests so its examples
/// cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../../docs/guide/backpressure.md")]
pub struct BackpressureGuide;
