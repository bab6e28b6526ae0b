//! Property tests: random request/cancel schedules against the reference publishers, counted
//! exactly (rules 1.1, 1.5, 3.6, 3.8, 3.17), including batch edges and re-entrant requests.

mod common;

use std::sync::Arc;

use common::{Log, Recorder};
use proptest::prelude::*;
use rstreams_protocol::Publisher;
use rstreams_protocol::reference::{IterPublisher, RangePublisher};

#[derive(Clone, Debug)]
enum Op {
    Request(u64),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..50).prop_map(Op::Request),
        // Batch edges around the sizes big requests are made in.
        2 => prop_oneof![Just(1023u64), Just(1024), Just(1025), Just(2048),
                         Just(4095), Just(4096), Just(4097), Just(8192)].prop_map(Op::Request),
        1 => Just(Op::Request(u64::MAX)),
        1 => Just(Op::Cancel),
    ]
}

/// The model: what a correct publisher of `len` items must have delivered after `ops`.
fn expected(len: u64, ops: &[Op]) -> (u64, bool) {
    if len == 0 {
        // An empty source completes eagerly, inside `subscribe`, before any op can run.
        return (0, true);
    }
    let mut demand: u64 = 0;
    let mut delivered = 0u64;
    for op in ops {
        match op {
            Op::Cancel => return (delivered, false),
            Op::Request(n) => {
                demand = demand.saturating_add(*n);
                let give = demand.min(len - delivered);
                delivered += give;
                if demand != u64::MAX {
                    demand -= give;
                }
                if delivered == len {
                    return (delivered, true);
                }
            }
        }
    }
    (delivered, delivered == len)
}

fn run(publisher: impl Publisher<Item = u64>, len: u64, ops: &[Op]) {
    let log = Log::new();
    publisher.subscribe(Recorder::new(&log, 0));
    let s = log.subscription();
    for op in ops {
        match op {
            Op::Request(n) => s.request(*n),
            Op::Cancel => s.cancel(),
        }
    }
    let (delivered, completed) = expected(len, ops);
    let items = log.items();
    assert_eq!(items.len() as u64, delivered, "exact count for {ops:?}");
    assert!(items.iter().copied().eq(0..delivered), "in order, no gaps");
    assert_eq!(log.completed(), usize::from(completed));
    assert!(log.errors().is_empty());
    assert_eq!(log.after_terminal(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn range_counts_exactly(len in 0u64..10_000, ops in prop::collection::vec(op(), 0..20)) {
        run(RangePublisher::new(0, len), len, &ops);
    }

    #[test]
    fn iter_counts_exactly(len in 0u64..3_000, ops in prop::collection::vec(op(), 0..20)) {
        let v: Arc<[u64]> = (0..len).collect();
        run(IterPublisher::new(v.to_vec()), len, &ops);
    }

    /// Re-entrant requests from inside `on_next`: every item asks for `k` more until `stop`.
    #[test]
    fn reentrant_requests_count_exactly(len in 1u64..5_000, k in 1u64..4, stop in 1u64..5_000, initial in 1u64..10) {
        let log = Log::new();
        let depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let max_depth = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (d, m) = (depth.clone(), max_depth.clone());
        let rec = Recorder::new(&log, initial).with_hook(move |item, s| {
            let now = d.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            m.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            if item < stop { s.request(k); }
            d.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        RangePublisher::new(0, len).subscribe(rec);
        // Requested: initial + k per item below `stop` among the delivered ones. Solve by
        // simulation, which is the specification.
        let mut demand = initial;
        let mut delivered = 0u64;
        while demand > 0 && delivered < len {
            demand -= 1;
            if delivered < stop { demand += k; }
            delivered += 1;
        }
        prop_assert_eq!(log.items().len() as u64, delivered);
        prop_assert_eq!(log.completed(), usize::from(delivered == len));
        prop_assert_eq!(max_depth.load(std::sync::atomic::Ordering::SeqCst), 1, "rule 3.3: depth 1");
    }
}

/// The publisher from the custom-publisher guide (docs/guide/custom-publisher.md), compiled
/// from the example the guide walks through, must pass the same property.
#[allow(dead_code)]
#[path = "../examples/custom_publisher.rs"]
mod guide;

mod guide_property {
    use std::sync::{Arc, Mutex};

    use proptest::prelude::*;
    use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

    use super::{Op, expected, op};

    #[derive(Default)]
    struct Seen {
        lines: Vec<String>,
        completed: usize,
        errors: usize,
        subscription: Option<Arc<dyn Subscription>>,
    }
    struct Collect(Arc<Mutex<Seen>>);
    impl Subscriber<String> for Collect {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            self.0.lock().unwrap().subscription = Some(Arc::from(s));
        }
        fn on_next(&mut self, line: String) {
            self.0.lock().unwrap().lines.push(line);
        }
        fn on_error(&mut self, _: Error) {
            self.0.lock().unwrap().errors += 1;
        }
        fn on_complete(&mut self) {
            self.0.lock().unwrap().completed += 1;
        }
    }
    impl Drop for Collect {
        fn drop(&mut self) {
            // Break the subscriber <-> subscription cycle the test slot would otherwise keep.
            if let Ok(mut seen) = self.0.lock() {
                seen.subscription.take();
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn guide_publisher_counts_exactly(len in 0u64..300, ops in prop::collection::vec(op(), 0..12)) {
            let text: String = (1..=len).map(|i| format!("event {i}\n")).collect();
            let seen = Arc::new(Mutex::new(Seen::default()));
            super::guide::Lines::new(&text).subscribe(Collect(seen.clone()));
            let s = seen.lock().unwrap().subscription.clone();
            if let Some(s) = s {
                for o in &ops {
                    match o {
                        Op::Request(n) => s.request(*n),
                        Op::Cancel => s.cancel(),
                    }
                }
            }
            let (delivered, completed) = expected(len, &ops);
            let seen = seen.lock().unwrap();
            prop_assert_eq!(seen.lines.len() as u64, delivered);
            for (i, line) in seen.lines.iter().enumerate() {
                prop_assert_eq!(line, &format!("{:>3}: event {}", i + 1, i + 1));
            }
            prop_assert_eq!(seen.completed, usize::from(completed));
            prop_assert_eq!(seen.errors, 0);
        }
    }
}
