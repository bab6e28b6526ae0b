//! # rstreams
//!
//! [Reactive Streams] for threaded Rust applications: sources, operators with exact demand
//! accounting, sinks and blocking bridges, on top of the [`rstreams_protocol`] traits (re-exported
//! here) and the [`executor`] crate.
//!
//! * [`source`]: `from_iter`, `range`, `just`, `empty`, `error`, `never`, `defer`, `generate`,
//!   `concat` — all demand-driven;
//! * [`PublisherExt`]: the operators (`map`, `filter`, `take`, `buffer`, `limit_rate`, …) and the
//!   sinks (`for_each`, `blocking_iter`, `blocking_first`, `subscribe_with`, …);
//! * [`emitter()`]: a bounded, blocking producer handle for plain threads.
//!
//! Operator chains are static (generic structs, like `Iterator` adaptors); `.boxed()` erases the
//! type when needed. Every stage records where it was built, and a panic in any user closure
//! reaches the subscriber as an error naming rule 2.13 and that location.
//!
//! [Reactive Streams]: https://www.reactive-streams.org/
//!
//! ```
//! use rstreams::prelude::*;
//!
//! let evens_squared: Vec<u64> = rstreams::range(0, 10)
//!     .filter(|x| x % 2 == 0)
//!     .map(|x| x * x)
//!     .blocking_iter_with(4)
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(evens_squared, vec![0, 4, 16, 36, 64]);
//! ```

#![doc(test(attr(deny(warnings))))]

#[cfg(feature = "futures")]
pub mod bridge;
pub mod diag;
pub mod emitter;
mod ext;
pub mod flat;
pub mod hop;
pub mod multicast;
pub mod ops;
pub mod overflow;
pub mod parallel;
pub mod sink;
pub mod source;
mod stage;
pub mod time;

pub use emitter::{Emitter, EmitterPublisher, emitter};
pub use ext::PublisherExt;
pub use flat::merge;
pub use ops::{combine_latest, using, zip3};
pub use rstreams_executor as executor;
pub use rstreams_protocol as protocol;
pub use rstreams_protocol::{
    BoxPublisher, Demand, DynPublisher, Error, ErrorKind, Processor, Publisher, Rule, Subscriber,
    Subscription, pull, report_undeliverable, set_undeliverable_hook,
};
pub use sink::{BlockingIter, Cancellable, Consumer};
pub use source::timer;
pub use source::{
    concat, defer, empty, error, from_iter, from_iter_once, generate, just, never, once, range,
};

/// Everything a pipeline needs: the traits, the extension trait and the sources.
pub mod prelude {
    pub use crate::merge;
    pub use crate::sink::{Cancellable, Consumer};
    pub use crate::source::{
        concat, defer, empty, error, from_iter, from_iter_once, generate, just, never, once, range,
    };
    pub use crate::{Error, PublisherExt, emitter};
    pub use rstreams_protocol::{Publisher, Subscriber, Subscription};
}

/// The async guide (`docs/guide/async.md`), compiled as doctests so that its code cannot rot.
#[cfg(all(doctest, feature = "futures"))]
#[doc = include_str!("../../../docs/guide/async.md")]
pub struct AsyncGuide;

/// The README's examples, compiled and run as doctests so that they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
