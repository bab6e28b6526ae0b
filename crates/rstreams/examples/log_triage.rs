//! Log triage: 2·10^6 synthetic log lines, parsed on every core in source order, per-service
//! error counts and latency percentiles over windows of 10^4 lines, a slow sink on its own
//! thread, memory bounded throughout. The result is checked against a sequential computation.
//!
//! Run: `cargo run --release -p rstreams --example log_triage [lines]`

#[path = "log_triage/domain.rs"]
mod domain;

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{WINDOW, WindowStats, line, parse, window_stats};
use rstreams::executor::ThreadPool;
use rstreams::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lines: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(2_000_000), |a| a.parse())?;
    let pool = Arc::new(ThreadPool::builder().build()?); // one worker per core
    let start = Instant::now();

    // The pipeline: generate, parse on the rails (in order), window, summarise.
    let windows = rstreams::range(0, lines)
        .map(line)
        .par_map_on(pool, |l| parse(&l))
        .filter_map(|r| r)
        .buffer(WINDOW)
        .map(|w| window_stats(&w));

    // The slow sink runs on this thread, not on the pool: at most 4 windows wait for it.
    let mut got: Vec<WindowStats> = Vec::new();
    for stats in windows.blocking_iter_with(4) {
        std::thread::sleep(Duration::from_micros(200)); // a slow downstream (a database, a socket)
        got.push(stats?);
    }
    let took = start.elapsed();

    assert_eq!(got, domain::sequential(lines), "per-window results differ");
    let errors: u32 = got.iter().flat_map(|w| w.errors).sum();
    println!(
        "{lines} lines, {} windows, {errors} errors, in {took:.2?}: identical to the sequential run",
        got.len()
    );
    Ok(())
}
