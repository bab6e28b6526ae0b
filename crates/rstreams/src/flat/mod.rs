//! Concurrency operators: [`flat_map`](crate::PublisherExt::flat_map),
//! [`concat_map`](crate::PublisherExt::concat_map), [`merge`], [`zip`](crate::PublisherExt::zip).
//!
//! Their inputs may signal from different threads at once; each input gets its own bounded
//! queue (sized by its prefetch) and the downstream is driven by the protocol crate's pull kit,
//! so downstream signals are serial and demand-bounded whatever the inputs do.

mod core;
mod flat_map;
mod merge;
mod zip;

pub use flat_map::FlatMap;
pub use merge::{DEFAULT_MERGE_PREFETCH, Merge, merge};
pub use zip::{DEFAULT_ZIP_PREFETCH, Zip};

/// The default inner prefetch of `flat_map`/`concat_map` when you have no better number.
pub const DEFAULT_INNER_PREFETCH: usize = 256;
