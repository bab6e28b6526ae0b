//! Peak resident memory of a fast producer -> `publish_on_with(pool, 256)` -> slow consumer pipeline,
//! after 10^6 and after 10^8 items: bounded buffers mean the peak must not grow with the stream's
//! length. Not a criterion bench: it prints `VmHWM` (Linux) at each checkpoint.
//!
//! `cargo bench -p rstreams-benches --bench memory` (set `RSTREAMS_MEMORY_ITEMS` to change the
//! long run's length; default 10^8).

use std::hint::black_box;
use std::sync::{Arc, mpsc};
use std::time::Instant;

use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

/// Peak resident set size in KiB, from /proc/self/status (0 where unavailable).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// A consumer that does a little work per item, so the producer is always ahead.
struct Slow {
    total: u64,
    done: mpsc::Sender<u64>,
}

impl Subscriber<[u64; 4]> for Slow {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: [u64; 4]) {
        let mut acc = self.total;
        for _ in 0..8 {
            acc = black_box(acc.wrapping_mul(31).wrapping_add(x[0]));
        }
        self.total = acc;
    }
    fn on_error(&mut self, e: rstreams::Error) {
        panic!("{e}");
    }
    fn on_complete(&mut self) {
        let _ = self.done.send(self.total);
    }
}

fn run(pool: &Arc<dyn Scheduler>, n: u64) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    rstreams::range(0, n)
        .map(|i| [i, i + 1, i + 2, i + 3]) // 32-byte items, so a leak would show quickly
        .subscribe_on(Arc::clone(pool))
        .publish_on_with(Arc::clone(pool), 256)
        .subscribe(Slow { total: 0, done: tx });
    black_box(rx.recv().expect("completes"));
    println!(
        "items {n:>11}: peak RSS {:>7} KiB after {:.1} s",
        peak_rss_kib(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a short check.
    let long: u64 = std::env::var("RSTREAMS_MEMORY_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000);
    let benching = std::env::args().any(|a| a == "--bench");
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    println!(
        "baseline: peak RSS {} KiB before any stream",
        peak_rss_kib()
    );
    run(&pool, 1_000_000);
    if benching {
        run(&pool, long);
    }
}
