//! Thread hops: [`PublishOn`] moves the downstream's signals onto a scheduler through a bounded
//! SPSC ring with prefetch; [`SubscribeOn`] moves subscribing and requesting onto a scheduler.
//! Both are built by [`PublisherExt`](crate::PublisherExt) methods. `docs/guide/backpressure.md` explains
//! how demand flows through a hop.
//!
//! # Which thread runs your closure
//!
//! * After [`publish_on`](crate::PublisherExt::publish_on): every closure *downstream* of the
//!   hop (operators and the sink) runs on a worker of the hop's scheduler, one signal at a time
//!   (a serial lane). Closures upstream of it stay on the producing thread.
//! * After [`subscribe_on`](crate::PublisherExt::subscribe_on): the upstream's `subscribe` and
//!   every `request` run on the scheduler's lane, so a demand-driven source and the closures
//!   between it and the next `publish_on` run there too, *including the sink* if no other hop
//!   follows.
//! * Neither hop runs anything in parallel by itself: one lane is one thread at a time. For
//!   parallel work use rails ([`parallel`](crate::PublisherExt::parallel)`().run_on(..)`, see
//!   [`crate::parallel`]).

/// Counts a hop event (feature `hop-stats`; nothing otherwise).
macro_rules! count {
    ($event:ident) => {
        count!($event, 1)
    };
    ($event:ident, $n:expr) => {
        #[cfg(feature = "hop-stats")]
        $crate::hop::stats::count($crate::hop::stats::Event::$event, $n as u64);
    };
}

mod burst;
mod park;
mod publish_on;
mod ring;
#[cfg(feature = "hop-stats")]
pub(crate) mod stats;
mod subscribe_on;
mod sync;

#[cfg(feature = "hop-stats")]
pub use stats::{HopStats, stats};

pub use publish_on::{DEFAULT_PREFETCH, MAX_PREFETCH, PublishOn};
pub use subscribe_on::SubscribeOn;

// The merge core (`flat/`) gives each inner publisher one of these rings.
pub(crate) use ring::{Consumer as RingConsumer, Producer as RingProducer, ring};
// `blocking_iter`'s cross-thread half (`sink/local.rs`) parks its thread on this token.
pub(crate) use park::{LazySignal, OwedSignal, Parking};

/// The SPSC ring and the drain's parking protocol, exposed to `tests/loom_hop_queue.rs` and
/// `tests/loom_hop_park.rs` only (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use super::burst::loom_api::BurstGate;
    pub use super::park::loom_api::Parking;
    pub use super::ring::loom_api::*;
}
