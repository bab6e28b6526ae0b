//! A fused metered edge publishes its counters once per batch of the kit (issue 12.2): a
//! snapshot taken while a batch runs shows `delivered` as of the batch's start and the edge in
//! a callback; at the batch's end, at quiescence and at the terminal signal it is exact.

use std::sync::Arc;

use parking_lot::Mutex;
use rstreams::diag::{EdgeState, Registry};
use rstreams::prelude::*;

/// Requests 4 at a time (one kit pass per request) and samples the edge inside every `on_next`.
struct Sampler {
    registry: Registry,
    seen: u64,
    /// (items seen before this one, delivered, in_callback) per `on_next`.
    samples: Arc<Mutex<Vec<(u64, u64, bool)>>>,
    sub: Option<Box<dyn Subscription>>,
}

impl Subscriber<u64> for Sampler {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(4);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        let e = self.registry.snapshot().edge("edge").unwrap().clone();
        self.samples
            .lock()
            .push((self.seen, e.delivered, e.in_callback));
        self.seen += 1;
        if self.seen.is_multiple_of(4) {
            // Re-entrant: the kit runs the next batch after this one returns.
            self.sub.as_ref().unwrap().request(4);
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}");
    }
    fn on_complete(&mut self) {}
}

#[test]
fn a_snapshot_inside_a_fused_batch_lags_by_at_most_that_batch() {
    let registry = Registry::new();
    let samples = Arc::new(Mutex::new(Vec::new()));
    rstreams::range(0, 10)
        .map(|x| x + 1)
        .metered(&registry, "edge")
        .subscribe(Sampler {
            registry: registry.clone(),
            seen: 0,
            samples: Arc::clone(&samples),
            sub: None,
        });
    let samples = samples.lock().clone();
    assert_eq!(samples.len(), 10);
    for (seen, delivered, in_callback) in samples {
        // The batch that delivers item `seen` started after the `seen / 4 * 4` items before it.
        let batch_start = seen / 4 * 4;
        assert_eq!(delivered, batch_start + 1, "item {seen}: the batch's claim");
        assert!(in_callback, "item {seen}");
    }
    let e = registry.snapshot().edge("edge").unwrap().clone();
    assert_eq!((e.delivered, e.state), (10, EdgeState::Completed));
    assert!(!e.in_callback);
}
