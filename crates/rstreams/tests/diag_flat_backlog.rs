//! Issue 12 leftovers in the concurrency operators: `merge_with` keeps the buffer bill of both
//! inputs (it no longer boxes them), and `flat_map`/`merge` and `blocking_iter` say what they
//! hold now (the merge through `Subscription::backlog`, read here by a metered edge below it;
//! the iterator through `BlockingIter::backlog`).

mod support;

use std::sync::Arc;

use rstreams::diag::Registry;
use rstreams::diag::bill::Bound;
use rstreams::executor::ManualExecutor;
use rstreams::prelude::*;
use support::recorder;

#[test]
fn merge_with_keeps_both_inputs_bills() {
    let exec = Arc::new(ManualExecutor::new());
    let merged = rstreams::range(0, 3)
        .publish_on_with(exec, 8)
        .merge_with(rstreams::just(9), 4);
    let bill = merged.buffer_bill();
    assert_eq!(bill.unknown().count(), 0, "{bill}");
    assert_eq!(bill.total(), Some(8 + 2 * 4), "{bill}");
    let names: Vec<&str> = bill.rows().iter().map(|r| r.name()).collect();
    assert!(names.contains(&"publish_on"), "{bill}");
    assert!(names.contains(&"just"), "{bill}");
    assert_eq!(
        bill.rows()
            .iter()
            .find(|r| r.name() == "merge")
            .unwrap()
            .bound(),
        Bound::Bounded(8)
    );
}

#[test]
fn flat_map_reports_the_items_queued_in_its_inners() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    // Two synchronous inners fill their rings (prefetch 4) at once: 8 queued, none delivered.
    rstreams::range(0, 10)
        .flat_map_with(|x| rstreams::range(x * 10, 5), 2, 4)
        .metered(&registry, "merged")
        .subscribe(rec);
    let buffered = || {
        registry
            .snapshot()
            .edge("merged")
            .unwrap()
            .buffered_upstream
    };
    assert_eq!(buffered(), Some(8));
    probe.request(3);
    assert_eq!(probe.count(), 3);
    // 3 taken from the first inner's ring, which is 75% of its prefetch: it was asked for 3
    // more and sent its last item at once (5 in all): 1 + 1 + the second inner's 4.
    assert_eq!(buffered(), Some(6));
    probe.request(u64::MAX);
    assert!(probe.completed());
}

#[test]
fn flat_map_reports_the_scalars_waiting_for_demand() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    rstreams::range(0, 10)
        .flat_map_with(rstreams::just, 4, 8)
        .metered(&registry, "scalars")
        .subscribe(rec);
    let buffered = || {
        registry
            .snapshot()
            .edge("scalars")
            .unwrap()
            .buffered_upstream
    };
    assert_eq!(buffered(), Some(4), "max_concurrency scalars wait");
    probe.request(1);
    assert_eq!(buffered(), Some(3));
    drop(probe);
}

#[test]
fn blocking_iter_reports_what_it_holds() {
    let exec = ManualExecutor::new();
    let mut it = rstreams::range(0, 100)
        .publish_on_with(Arc::new(exec.clone()), 16)
        .blocking_iter_with(8);
    assert_eq!(it.backlog().buffered, 0);
    exec.run_until_idle();
    assert_eq!(it.backlog().buffered, 8, "the hop delivered the prefetch");
    assert_eq!(it.next().unwrap().unwrap(), 0);
    assert_eq!(it.backlog().buffered, 7);
    assert_eq!(it.backlog().dropped, 0);
    // Pulling a fused chain itself: the rest of the batch it pulled.
    let mut fused = rstreams::range(0, 100).blocking_iter_with(10);
    assert_eq!(fused.next().unwrap().unwrap(), 0);
    assert_eq!(fused.backlog().buffered, 9);
}
