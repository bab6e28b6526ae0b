//! The `flat_map_just_1e6/rstreams_just_inners` workload (or, with `sync`, the
//! `flat_map_1000x1000_c16/rstreams_sync_inners` one) as a plain program, for counting
//! (`valgrind --tool=callgrind`, `perf stat -e task-clock,context-switches`) and profiling.
//!
//! `cargo run --release -p rstreams-benches --example flat_just -- [rounds] [sync]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::PublisherExt as _;
use rstreams::prelude::*;
use rstreams_benches::{Demand, SumSubscriber};

const ITEMS: u64 = 1_000_000;

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map_or(10, |s| s.parse().expect("rounds: a number"));
    let sync = std::env::args().nth(2).as_deref() == Some("sync");
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        let out = Arc::new(AtomicU64::new(0));
        let sink = SumSubscriber::new(
            Demand::Batched {
                batch: 256,
                low: 64,
            },
            Arc::clone(&out),
        );
        if sync {
            rstreams::range(0, 1000)
                .flat_map_with(|x| rstreams::range(x * 1000, 1000), 16, 256)
                .subscribe(sink);
        } else {
            rstreams::range(0, ITEMS)
                .flat_map(rstreams::just)
                .subscribe(sink);
        }
        assert_eq!(out.load(Ordering::Acquire), ITEMS * (ITEMS - 1) / 2);
        eprintln!(
            "{:.1} ns/item",
            start.elapsed().as_nanos() as f64 / ITEMS as f64
        );
    }
}
