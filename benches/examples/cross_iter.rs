//! The cross-thread rows of `benches/operators.rs`'s `blocking_iter` group as a plain program,
//! for counting context switches and CPU time (`perf stat -e task-clock,context-switches`).
//!
//! `cargo run --release -p rstreams-benches --example cross_iter -- <rstreams|crossbeam> [rounds]`
//!
//! With `--features hop-stats` it also prints the iterator's waits, yield phases, parks and
//! wake-ups and the `subscribe_on` lane's requests per 10^6 items.

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
    #[cfg(feature = "hop-stats")]
    let before = rstreams::hop::stats();
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
    #[cfg(feature = "hop-stats")]
    {
        let (a, b) = (before, rstreams::hop::stats());
        let per = |x: u64, y: u64| (x - y) as f64 / (f64::from(rounds) * N as f64 / 1e6);
        println!(
            "per 10^6 items: iterator waits {:.1}, yield phases {:.1}, parks {:.1}, wakes {:.1}; \
             lane requests {:.1} ({:.1} scheduled the lane)",
            per(b.iter_waits, a.iter_waits),
            per(b.iter_yields, a.iter_yields),
            per(b.iter_parks, a.iter_parks),
            per(b.iter_wakes, a.iter_wakes),
            per(b.lane_requests, a.lane_requests),
            per(b.lane_schedules, a.lane_schedules),
        );
    }
}
