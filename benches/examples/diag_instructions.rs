//! Load-independent cost of metered edges (issue 12.2): run one variant of the `diag/unbounded`
//! chain ten times and count instructions with valgrind, which a loaded machine does not skew:
//!
//! ```text
//! cargo build --release -p rstreams-benches --example diag_instructions
//! for v in plain metered disabled two_edges sbs sbs_metered sbs_disabled; do
//!   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/examples/diag_instructions $v 1000000 2>&1 | grep 'I *refs'
//! done
//! ```
//!
//! The ratio `metered / plain` of the instruction counts is the figure.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::diag::Registry;
use rstreams::prelude::*;
use rstreams_benches::{Demand, SumSubscriber, subscribe_generic};

fn f(x: u64) -> u64 {
    x.wrapping_mul(3)
}

fn keep(x: &u64) -> bool {
    x % 4 != 1
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "plain".to_owned());
    let n: u64 = args
        .next()
        .map_or(1_000_000, |s| s.parse().expect("a count"));
    let on = Registry::new();
    let off = Registry::disabled();
    let out = Arc::new(AtomicU64::new(0));
    for _ in 0..10 {
        let sink = SumSubscriber::new(Demand::Unbounded, out.clone());
        let chain = rstreams::range(0, black_box(n)).map(f).filter(keep);
        match variant.as_str() {
            "plain" => chain.subscribe(sink),
            "metered" => chain.metered(&on, "sink").subscribe(sink),
            "disabled" => chain.metered(&off, "sink").subscribe(sink),
            "two_edges" => rstreams::range(0, black_box(n))
                .metered(&on, "source")
                .map(f)
                .filter(keep)
                .metered(&on, "sink")
                .subscribe(sink),
            // The same chain subscribed from generic code: stage by stage (`Link` stages).
            "sbs" => subscribe_generic(&chain, sink),
            "sbs_metered" => subscribe_generic(&chain.metered(&on, "sink"), sink),
            "sbs_disabled" => subscribe_generic(&chain.metered(&off, "sink"), sink),
            other => panic!(
                "unknown variant {other}: plain, metered, disabled, two_edges, sbs, sbs_metered \
                 or sbs_disabled"
            ),
        }
        on.forget_finished();
    }
    println!("{}", out.load(Ordering::Acquire));
}
