//! Sources: publishers that create items. All are demand-driven (nothing is produced before it is
//! requested) and cold (each subscriber gets its own run), except [`from_iter_once`] and [`once`],
//! which are single-use, and the [emitter](crate::emitter()), which is fed by producer threads.
//!
//! Each is built on the protocol crate's [`pull`](rstreams_protocol::pull) kit, so every
//! publisher rule (serial signals, trampolined re-entrant `request`, rule 3.9, dropping the
//! subscriber after a terminal signal or cancel) holds without a hand-written drain loop.

mod concat;
mod defer;
pub mod fuse;
mod generate;
mod iter;
mod once;
mod simple;
mod timer;

pub use concat::{Concat, concat};
pub use defer::{Defer, defer};
pub use fuse::SyncSource;
pub use generate::{Generate, GenerateSink, generate};
pub use iter::{FromIter, FromIterOnce, Range, from_iter, from_iter_once, range};
pub use once::{Once, once};
pub use simple::{Empty, Fail, Just, Never, empty, error, just, never};
pub use timer::{Timer, timer};
