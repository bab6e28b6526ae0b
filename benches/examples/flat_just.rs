//! The `flat_map_just_1e6/rstreams_just_inners` workload as a plain program, for counting
//! (`perf stat -e instructions,task-clock,context-switches`) and profiling (`perf record`).
//!
//! `cargo run --release -p rstreams-benches --example flat_just -- [rounds]`

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
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        let out = Arc::new(AtomicU64::new(0));
        rstreams::range(0, ITEMS)
            .flat_map(rstreams::just)
            .subscribe(SumSubscriber::new(
                Demand::Batched {
                    batch: 256,
                    low: 64,
                },
                Arc::clone(&out),
            ));
        assert_eq!(out.load(Ordering::Acquire), ITEMS * (ITEMS - 1) / 2);
        eprintln!(
            "{:.1} ns/item",
            start.elapsed().as_nanos() as f64 / ITEMS as f64
        );
    }
}
