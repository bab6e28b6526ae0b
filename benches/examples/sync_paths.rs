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
    let out = Arc::new(AtomicU64::new(0));
    let sink = || SumSubscriber::new(demand, Arc::clone(&out));
    match workload.as_str() {
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
