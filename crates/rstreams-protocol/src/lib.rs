//! # rstreams-protocol
//!
//! The [Reactive Streams] protocol for Rust — [`Publisher`], [`Subscriber`], [`Subscription`],
//! [`Processor`] with `request(n)` demand — and the building blocks that make a custom publisher
//! correct without hand-written atomics:
//!
//! * [`Demand`]: the saturating demand counter with a cancelled flag (rules 3.8, 3.17);
//! * [`SerialDrain`]: the work-in-progress drain that serialises signals and trampolines
//!   re-entrant requests (rules 1.3, 3.3);
//! * [`pull`]: a whole subscription built from a "next item" function (every rule that a
//!   publisher owns);
//! * [`signal`]: the [`SignalSerializer`](signal::SignalSerializer) for stages whose signals come
//!   from several threads (a timer and the upstream) but whose demand passes through;
//! * [`reference`](mod@reference): two publishers made with it, a range and an iterator.
//!
//! Every lock-free part is model-checked with loom under `--cfg rstreams_loom`; see
//! `docs/rules.md` in the repository for where each of the 43 rules is enforced and tested.
//!
//! [Reactive Streams]: https://www.reactive-streams.org/
//!
//! ```
//! use rstreams_protocol::{Error, Publisher, Subscriber, Subscription, reference::RangePublisher};
//!
//! /// Sums what it receives, asking for 16 items at a time.
//! struct Sum { sub: Option<Box<dyn Subscription>>, left: u64, total: u64 }
//!
//! impl Subscriber<u64> for Sum {
//!     fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
//!         s.request(16);
//!         self.left = 16;
//!         self.sub = Some(s);
//!     }
//!     fn on_next(&mut self, x: u64) {
//!         self.total += x;
//!         self.left -= 1;
//!         if self.left == 0 {
//!             self.left = 16;
//!             self.sub.as_ref().unwrap().request(16); // re-entrant: trampolined, depth 1
//!         }
//!     }
//!     fn on_error(&mut self, e: Error) { panic!("{e}") }
//!     fn on_complete(&mut self) { assert_eq!(self.total, 4950); }
//! }
//!
//! RangePublisher::new(0, 100).subscribe(Sum { sub: None, left: 0, total: 0 });
//! ```

#![doc(test(attr(deny(warnings))))]

mod demand;
mod error;
mod hook;
pub mod pull;
pub mod reference;
mod rule;
mod serial;
pub mod signal;
mod sync;
mod traits;
pub mod type_rules;

pub use demand::Demand;
pub use error::{Error, ErrorKind};
pub use hook::{clear_undeliverable_hook, report_undeliverable, set_undeliverable_hook};
pub use rule::Rule;
pub use serial::SerialDrain;
pub use traits::{
    Backlog, BoxPublisher, DynPublisher, Processor, Publisher, Subscriber, Subscription,
};

/// The custom-publisher guide (`docs/guide/custom-publisher.md`), compiled as doctests so that
/// its code cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide/custom-publisher.md")]
pub struct CustomPublisherGuide;
