//! The cross-thread rows of `benches/operators.rs`'s `blocking_iter` group as a plain program,
//! for counting context switches and CPU time (`perf stat -e task-clock,context-switches`).
//!
//! `cargo run --release -p rstreams-benches --example cross_iter -- <rstreams|crossbeam> [rounds]`

use std::hint::black_box;
use std::sync::Arc;

use rstreams::PublisherExt as _;
use rstreams::executor::{Scheduler, ThreadPool};

const N: u64 = 1_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().expect("rstreams or crossbeam");
    let rounds: u32 = args.next().map_or(10, |s| s.parse().expect("rounds"));
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    for _ in 0..rounds {
        let start = std::time::Instant::now();
        let mut total = 0u64;
        match which.as_str() {
            "rstreams" => {
                for i in rstreams::range(0, N)
                    .subscribe_on(Arc::clone(&pool))
                    .blocking_iter_with(256)
                {
                    total = total.wrapping_add(black_box(i.unwrap()));
                }
            }
            "crossbeam" => {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(256);
                let producer = std::thread::spawn(move || {
                    for i in 0..N {
                        if tx.send(i).is_err() {
                            break;
                        }
                    }
                });
                for i in rx {
                    total = total.wrapping_add(black_box(i));
                }
                producer.join().unwrap();
            }
            other => panic!("unknown: {other}"),
        }
        assert_eq!(total, N * (N - 1) / 2);
        eprintln!(
            "{:.1} ns/item",
            start.elapsed().as_nanos() as f64 / N as f64
        );
    }
}
