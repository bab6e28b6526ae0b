//! Thread hops: [`PublishOn`] moves the downstream's signals onto a scheduler through a bounded
//! SPSC ring with prefetch; [`SubscribeOn`] moves subscribing and requesting onto a scheduler.
//! Both are built by [`PublisherExt`](crate::PublisherExt) methods. `docs/guide/backpressure.md` explains
//! how demand flows through a hop.

mod park;
mod publish_on;
mod ring;
mod subscribe_on;
mod sync;

pub use publish_on::{DEFAULT_PREFETCH, MAX_PREFETCH, PublishOn};
pub use subscribe_on::SubscribeOn;

// The merge core (`flat/`) gives each inner publisher one of these rings.
pub(crate) use ring::{Consumer as RingConsumer, Producer as RingProducer, ring};

/// The SPSC ring and the drain's parking protocol, exposed to `tests/loom_hop_queue.rs` and
/// `tests/loom_hop_park.rs` only (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use super::park::loom_api::Parking;
    pub use super::ring::loom_api::*;
}
