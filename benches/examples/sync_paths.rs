//! The synchronous-path workloads of `benches/operators.rs` as one plain program, for counting
//! instructions per item with cachegrind, which a loaded machine does not disturb (see
//! `benches/peers/instructions.sh` and docs/performance.md, "Synchronous paths").
//!
//! `cargo run --release -p rstreams-benches --example sync_paths -- <workload> <items> [batched]`
//!
//! Workloads: `plain` (the map/filter loop into the sink), `range` (range into the sink),
//! `pipeline` (range.map.filter into the sink, through the concrete types: fused),
//! `pipeline_staged` (the same from generic code: stage by stage), `iter_plain` (summing a
//! `0..n` loop), `iter` (`range.blocking_iter_with(256)`, fused), `iter_subscribed` (the same from
//! generic code: the iterator subscribes). `batched` makes the sink request 256, then 192.
//!
//! `interleaved` times `plain` and `pipeline` (and `pipeline_staged`) in alternation, 31 rounds
//! of `<items>` each, and prints each one's median ns/item and the ratio of the medians
//! (`plain / pipeline`, the figure of issue 14.4). Alternating within one process cancels the
//! slow drifts of a shared VM that move criterion's groups by ±40% between runs.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::prelude::*;
use rstreams_benches::{Demand, SumSubscriber, f, iter_generic, keep, subscribe_generic};

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().expect("workload");
    let n: u64 = args.next().expect("items").parse().expect("a number");
    let demand = match args.next().as_deref() {
        Some("batched") => Demand::Batched {
            batch: 256,
            low: 64,
        },
        _ => Demand::Unbounded,
    };
    if workload == "interleaved" {
        interleaved(n, demand);
    } else {
        run(&workload, n, demand);
    }
}

/// Median ns/item of `plain`, `pipeline` and `pipeline_staged`, timed in alternation.
fn interleaved(n: u64, demand: Demand) {
    const ROUNDS: usize = 31;
    let names = ["plain", "pipeline", "pipeline_staged"];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); names.len()];
    for _ in 0..ROUNDS {
        for (name, t) in names.iter().zip(&mut times) {
            let start = std::time::Instant::now();
            run(name, n, demand);
            t.push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    for (name, m) in names.iter().zip(&medians) {
        println!("{name:16} {m:.3} ns/item");
    }
    println!("plain / pipeline {:.3}", medians[0] / medians[1]);
}

fn run(workload: &str, n: u64, demand: Demand) {
    let out = Arc::new(AtomicU64::new(0));
    let sink = || SumSubscriber::new(demand, Arc::clone(&out));
    match workload {
        "plain" => {
            let mut s = sink();
            for i in 0..black_box(n) {
                let y = f(i);
                if keep(&y) {
                    s.on_next(y);
                }
            }
            black_box(s.total());
        }
        "range" => rstreams::range(0, black_box(n)).subscribe(sink()),
        "pipeline" => rstreams::range(0, black_box(n))
            .map(f)
            .filter(keep)
            .subscribe(sink()),
        "pipeline_staged" => subscribe_generic(
            &rstreams::range(0, black_box(n)).map(f).filter(keep),
            sink(),
        ),
        "iter_plain" => {
            let mut total = 0u64;
            for i in 0..black_box(n) {
                total = total.wrapping_add(black_box(i));
            }
            black_box(total);
        }
        "iter" => {
            let mut total = 0u64;
            for i in rstreams::range(0, black_box(n)).blocking_iter_with(256) {
                total = total.wrapping_add(black_box(i.unwrap()));
            }
            black_box(total);
        }
        "iter_subscribed" => {
            let mut total = 0u64;
            for i in iter_generic(&rstreams::range(0, black_box(n)), 256) {
                total = total.wrapping_add(black_box(i.unwrap()));
            }
            black_box(total);
        }
        other => panic!("unknown workload {other}"),
    }
    black_box(out.load(Ordering::Acquire));
}
