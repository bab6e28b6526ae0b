//! The `flat_map_1000x1000_c16/rstreams_pool_inners` workload as a plain program, for profiling
//! (`perf record`) and counting context switches (`perf stat -e context-switches`); with
//! `--features hop-stats` it prints the hops' counters at the end.
//!
//! `cargo run --release -p rstreams-benches --example flat_pool -- [rounds]`

use std::sync::Arc;

use rstreams::PublisherExt as _;
use rstreams::executor::{Scheduler, ThreadPool};

const INNERS: u64 = 1000;
const INNER_LEN: u64 = 1000;
const ITEMS: u64 = INNERS * INNER_LEN;

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map_or(10, |s| s.parse().expect("rounds: a number"));
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    for _ in 0..rounds {
        let p = Arc::clone(&pool);
        let start = std::time::Instant::now();
        let sum = rstreams::range(0, INNERS)
            .flat_map_with(
                move |x| {
                    rstreams::range(x * INNER_LEN, INNER_LEN).publish_on_with(Arc::clone(&p), 256)
                },
                16,
                256,
            )
            .reduce(|a, b| a.wrapping_add(b))
            .blocking_first()
            .unwrap();
        assert_eq!(sum, Some(ITEMS * (ITEMS - 1) / 2));
        eprintln!(
            "{:.1} ns/item",
            start.elapsed().as_nanos() as f64 / ITEMS as f64
        );
    }
    // `--features hop-stats`: lane tasks, hop passes and replenishes of the inners' hops.
    #[cfg(feature = "hop-stats")]
    eprintln!("{:?}", rstreams::hop::stats());
}
