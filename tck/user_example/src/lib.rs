//! A user's crate in miniature: one publisher of its own (here the protocol crate's reference
//! range under the user's name). `examples/tck.rs` gets the TCK report over it in two lines;
//! `tests/report.rs` runs that example as a user would.
#![forbid(unsafe_code)]

use rstreams_protocol::reference::RangePublisher;
use rstreams_protocol::{Publisher, Subscriber};

/// Emits `0..n`, then `on_complete`.
#[derive(Debug)]
pub struct Counter(RangePublisher);

impl Counter {
    /// A counter of `n` items.
    pub fn new(n: u64) -> Self {
        Counter(RangePublisher::new(0, n))
    }
}

impl Publisher for Counter {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        self.0.subscribe(subscriber)
    }
}
