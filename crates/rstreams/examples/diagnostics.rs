//! Seeing inside a running pipeline (issue 12): a snapshot of metered edges, a stall found by
//! the stall doctor, and the `tracing` output, printed with `tracing-subscriber`.
//!
//! Run with `cargo run -p rstreams --example diagnostics`. The stall is made on purpose: a
//! multicast whose slow subscriber stops requesting holds the fast one back. The doctor runs on
//! a `ManualExecutor`, whose virtual clock makes the output the same on every run.

use std::sync::Arc;
use std::time::Duration;

use rstreams::diag::{Registry, StallDoctor};
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::multicast::Multicast;
use rstreams::prelude::*;
use rstreams::{Consumer, Subscription};

fn main() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_target(true)
        .without_time()
        .init();

    let registry = Registry::new();

    // 1. A healthy pipeline, metered at two edges.
    println!("== 1. a snapshot of a finished pipeline ==");
    let total: u64 = rstreams::range(0, 1000)
        .metered(&registry, "readings")
        .filter(|x| x % 3 == 0)
        .map(|x| x * 10)
        .metered(&registry, "scaled")
        .blocking_iter_with(64)
        .map(Result::unwrap)
        .sum();
    println!("total = {total}");
    println!("{}", registry.snapshot());
    registry.forget_finished();

    // 2. A stall: a multicast with a buffer of 4 per subscriber; "slow" takes one item and
    //    never asks again, so "fast" cannot get more than 4.
    println!("== 2. a stalled pipeline ==");
    let hub = Multicast::<u64>::new(4);
    let _fast = hub
        .clone()
        .metered(&registry, "fast")
        .subscribe_consumer(Consumer::new(|_| {}).request(100));
    hub.clone()
        .metered(&registry, "slow")
        .subscribe(SlowSubscriber(None));
    rstreams::range(0, 100)
        .metered(&registry, "source")
        .subscribe(hub.clone());

    let exec = ManualExecutor::new();
    let doctor = StallDoctor::new(&registry, Duration::from_secs(5))
        .on_stall(|diagnosis| println!("on_stall callback:\n{diagnosis}"))
        .start(Arc::new(exec.clone()), Duration::from_secs(1))
        .expect("the executor is running");
    // Ten virtual seconds: the doctor checks every second and reports the episode once.
    exec.advance(Duration::from_secs(10));
    println!("{}", registry.snapshot_at(exec.now()));
    doctor.cancel();
}

/// Takes one item, then never requests again.
struct SlowSubscriber(Option<Box<dyn Subscription>>);

impl Subscriber<u64> for SlowSubscriber {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(1);
        self.0 = Some(s);
    }
    fn on_next(&mut self, _: u64) {}
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}
