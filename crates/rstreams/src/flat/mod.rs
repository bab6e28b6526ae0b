//! Concurrency operators: [`flat_map`](crate::PublisherExt::flat_map),
//! [`concat_map`](crate::PublisherExt::concat_map),
//! [`flat_map_sequential`](crate::PublisherExt::flat_map_sequential),
//! [`switch_map`](crate::PublisherExt::switch_map), [`merge`], [`zip`](crate::PublisherExt::zip).
//!
//! Their inputs may signal from different threads at once; each input gets its own bounded
//! lock-free ring (sized by its prefetch) and the downstream is driven by the protocol crate's pull kit,
//! so downstream signals are serial and demand-bounded whatever the inputs do.

mod core;
mod flat_map;
mod gate;
mod merge;
mod zip;

pub use flat_map::FlatMap;
pub use merge::{DEFAULT_MERGE_PREFETCH, Merge, MergeInput, merge};
pub use zip::{DEFAULT_ZIP_PREFETCH, Zip};

/// The default inner prefetch of `flat_map`/`concat_map` when you have no better number.
pub const DEFAULT_INNER_PREFETCH: usize = 256;

/// How many inners [`flat_map(f)`](crate::PublisherExt::flat_map) runs at once: 256, Reactor's
/// `flatMap(f)` default (`Queues.SMALL_BUFFER_SIZE`).
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// How many items [`flat_map(f)`](crate::PublisherExt::flat_map) asks of each inner ahead: 32,
/// Reactor's `flatMap(f)` default (`Queues.XS_BUFFER_SIZE`) — small, because up to
/// [`DEFAULT_MAX_CONCURRENCY`] inners each hold this many (at most 8192 items in all).
pub const DEFAULT_FLAT_MAP_PREFETCH: usize = 32;

/// The most `switch_map` asks of its current inner ahead of the downstream (its buffer bound).
pub const SWITCH_MAP_MAX_IN_FLIGHT: usize = 256;

pub(crate) use core::Mode;

/// The wake gate, exposed to `tests/loom_flat_gate.rs` only (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use super::gate::loom_api::*;
}
