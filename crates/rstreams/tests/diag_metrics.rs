//! Metered edges and registry snapshots (issue 12.2): exact counters on known pipelines, both
//! stage by stage and fused, cancel/error/terminal states, the disabled switch, pipeline order,
//! the upstream backlog query and the snapshot table.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rstreams::diag::{EdgeState, Registry};
use rstreams::executor::ManualExecutor;
use rstreams::multicast::Multicast;
use rstreams::prelude::*;
use support::recorder;

/// Generic code: the stage-by-stage path (no fusion).
fn subscribe_generic<P: Publisher, S: Subscriber<P::Item> + Send + 'static>(p: &P, s: S) {
    p.subscribe(s);
}

#[test]
fn counters_are_exact_stage_by_stage() {
    let registry = Registry::new();
    let chain = rstreams::range(0, 10)
        .metered(&registry, "numbers")
        .map(|x| x * 2)
        .metered(&registry, "doubled");
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(&chain, rec);

    let snap = registry.snapshot();
    let doubled = snap.edge("doubled").unwrap();
    assert_eq!(doubled.state, EdgeState::Active);
    assert_eq!((doubled.requested, doubled.delivered), (0, 0));

    probe.request(3);
    let snap = registry.snapshot();
    for name in ["numbers", "doubled"] {
        let e = snap.edge(name).unwrap();
        assert_eq!(
            (e.requested, e.delivered, e.outstanding),
            (3, 3, 0),
            "{name}"
        );
        assert!(!e.in_callback);
    }
    probe.request(4);
    probe.request(20);
    let snap = registry.snapshot();
    for name in ["numbers", "doubled"] {
        let e = snap.edge(name).unwrap();
        assert_eq!(
            (e.requested, e.delivered, e.outstanding),
            (27, 10, 17),
            "{name}"
        );
        assert_eq!(e.state, EdgeState::Completed, "{name}");
        assert_eq!(e.errors, 0);
    }
    assert!(probe.completed());
    assert_eq!(probe.items(), (0..10).map(|x| x * 2).collect::<Vec<_>>());
    // Pipeline order: upstream first, and the upstream edge knows its downstream edge.
    let names: Vec<&str> = snap.edges.iter().map(|e| &*e.name).collect();
    assert_eq!(names, ["numbers", "doubled"]);
    assert_eq!(snap.edges[0].downstream, Some(snap.edges[1].id));
}

#[test]
fn counters_are_exact_when_fused() {
    let registry = Registry::new();
    // Concrete types: range -> map -> metered -> filter stays one fused loop.
    let chain = rstreams::range(0, 100)
        .map(|x| x + 1)
        .metered(&registry, "fused")
        .filter(|x| x % 2 == 0);
    let v: Vec<u64> = chain.blocking_iter_with(16).map(Result::unwrap).collect();
    assert_eq!(v.len(), 50);
    let snap = registry.snapshot();
    let e = snap.edge("fused").unwrap();
    assert_eq!(e.delivered, 100);
    assert_eq!(e.state, EdgeState::Completed);
    assert!(e.requested >= e.delivered);

    // Subscribed through the inherent (fused) `subscribe` with exact demand.
    let (rec, probe) = recorder::<u64>(0);
    rstreams::range(0, 10)
        .metered(&registry, "fused-sub")
        .subscribe(rec);
    probe.request(4);
    let e = registry.snapshot().edge("fused-sub").unwrap().clone();
    assert_eq!((e.requested, e.delivered), (4, 4));
    assert_eq!(e.state, EdgeState::Active);
    probe.request(u64::MAX);
    let e = registry.snapshot().edge("fused-sub").unwrap().clone();
    assert_eq!((e.requested, e.delivered), (u64::MAX, 10));
    assert_eq!(e.state, EdgeState::Completed);
}

#[test]
fn cancel_error_and_unbounded_demand_are_recorded() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(2);
    subscribe_generic(&rstreams::range(0, 10).metered(&registry, "cut"), rec);
    probe.cancel();
    let snap = registry.snapshot();
    let e = snap.edge("cut").unwrap();
    assert_eq!((e.requested, e.delivered), (2, 2));
    assert_eq!(e.state, EdgeState::Cancelled);

    let (rec, probe) = recorder::<u64>(u64::MAX);
    rstreams::error::<u64>(Error::msg("boom"))
        .metered(&registry, "failing")
        .subscribe(rec);
    assert!(probe.error().is_some());
    let snap = registry.snapshot();
    let e = snap.edge("failing").unwrap();
    assert_eq!((e.errors, e.state), (1, EdgeState::Failed));
    assert_eq!(e.requested, u64::MAX);
    assert_eq!(e.outstanding, u64::MAX);

    // Finished edges can be forgotten.
    registry.forget_finished();
    assert!(registry.snapshot().edges.is_empty());
}

#[test]
fn a_disabled_registry_is_a_pass_through() {
    let registry = Registry::disabled();
    let (rec, probe) = recorder::<u64>(u64::MAX);
    subscribe_generic(&rstreams::range(0, 5).metered(&registry, "off"), rec);
    assert!(probe.completed());
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4]);
    assert!(registry.snapshot().edges.is_empty());
    // Switched on, later subscriptions count.
    registry.set_enabled(true);
    let (rec, _probe) = recorder::<u64>(u64::MAX);
    subscribe_generic(&rstreams::range(0, 5).metered(&registry, "on"), rec);
    assert_eq!(registry.snapshot().edge("on").unwrap().delivered, 5);
}

#[test]
fn a_disabled_registry_is_a_pass_through_when_fused() {
    let registry = Registry::disabled();
    // At the end of a fused chain (the inherent `subscribe` and `blocking_iter`): the upstream's
    // own fused loop runs.
    let (rec, probe) = recorder::<u64>(3);
    rstreams::range(0, 5)
        .map(|x| x * 2)
        .metered(&registry, "end")
        .subscribe(rec);
    assert_eq!(probe.items(), vec![0, 2, 4]);
    probe.request(5);
    assert!(probe.completed());
    let v: Vec<u64> = rstreams::range(0, 4)
        .metered(&registry, "iter")
        .blocking_iter(2)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(v, [0, 1, 2, 3]);
    // Inside a fused chain: the edge's source passes every batch straight through.
    let (rec, probe) = recorder::<u64>(u64::MAX);
    rstreams::range(0, 5)
        .metered(&registry, "inside")
        .map(|x| x + 1)
        .subscribe(rec);
    assert_eq!(probe.items(), vec![1, 2, 3, 4, 5]);
    assert!(probe.completed());
    assert!(registry.snapshot().edges.is_empty());
    // Switched on, the same shapes count.
    registry.set_enabled(true);
    let (rec, probe) = recorder::<u64>(u64::MAX);
    rstreams::range(0, 5)
        .map(|x| x * 2)
        .metered(&registry, "end")
        .subscribe(rec);
    assert!(probe.completed());
    assert_eq!(registry.snapshot().edge("end").unwrap().delivered, 5);
}

#[test]
fn the_upstream_backlog_is_read_through_the_subscription() {
    // A multicast holds a buffer per subscriber: a metered edge below it reads its length.
    let registry = Registry::new();
    let hub = Multicast::<u64>::new(4);
    let (rec, probe) = recorder::<u64>(1);
    hub.clone().metered(&registry, "below-hub").subscribe(rec);
    rstreams::range(0, 100).subscribe(hub.clone());
    assert_eq!(probe.count(), 1);
    let snap = registry.snapshot();
    let e = snap.edge("below-hub").unwrap();
    assert_eq!(e.delivered, 1);
    assert_eq!(e.buffered_upstream, Some(3), "{snap}");
    assert_eq!(e.dropped, Some(0));
    // A source that buffers nothing cannot say.
    let (rec, _p) = recorder::<u64>(1);
    subscribe_generic(&rstreams::range(0, 3).metered(&registry, "plain"), rec);
    assert_eq!(
        registry.snapshot().edge("plain").unwrap().buffered_upstream,
        None
    );
}

#[test]
fn idle_time_is_derived_by_sampling() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(&rstreams::range(0, 10).metered(&registry, "e"), rec);
    let t0 = Instant::now();
    let first = registry.snapshot_at(t0);
    assert_eq!(first.edges[0].idle_for, Duration::ZERO);
    assert!(first.edges[0].changed);
    let later = registry.snapshot_at(t0 + Duration::from_secs(7));
    assert_eq!(later.edges[0].idle_for, Duration::from_secs(7));
    assert!(!later.edges[0].changed);
    probe.request(1);
    let moved = registry.snapshot_at(t0 + Duration::from_secs(8));
    assert_eq!(moved.edges[0].idle_for, Duration::ZERO);
    assert!(moved.edges[0].changed);
}

#[test]
fn the_snapshot_prints_as_a_table() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(
        &rstreams::range(0, 10)
            .metered(&registry, "numbers")
            .map(|x| x + 1)
            .metered(&registry, "plus-one"),
        rec,
    );
    probe.request(4);
    let text = registry.snapshot().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for column in [
        "edge",
        "site",
        "state",
        "requested",
        "delivered",
        "outstanding",
        "buffered",
        "dropped",
        "errors",
        "idle",
    ] {
        assert!(lines[0].contains(column), "{text}");
    }
    assert!(lines[1].starts_with("numbers "), "{text}");
    assert!(lines[2].starts_with("plus-one "), "{text}");
    assert!(
        lines[1].contains("diag_metrics.rs:"),
        "the site is named: {text}"
    );
    assert!(lines[1].contains("active"), "{text}");
    // Columns line up: every row as wide as the header.
    assert!(lines.iter().all(|l| l.len() <= lines[0].len().max(l.len())));
}

#[test]
fn report_every_runs_on_the_scheduler_clock() {
    let exec = ManualExecutor::new();
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(&rstreams::range(0, 10).metered(&registry, "e"), rec);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let handle = registry
        .report_every(Duration::from_secs(1), Arc::new(exec.clone()), move |s| {
            log.lock().push(s.edge("e").unwrap().delivered);
        })
        .unwrap();
    exec.advance(Duration::from_secs(1));
    probe.request(3);
    exec.advance(Duration::from_secs(1));
    handle.cancel();
    exec.advance(Duration::from_secs(5));
    assert_eq!(*seen.lock(), vec![0, 3]);
}

#[test]
fn publish_on_and_overflow_policies_report_their_backlog() {
    use rstreams::overflow::OverflowPolicy;
    let registry = Registry::new();

    // publish_on: the ring fills to its prefetch; the drain has not run on the manual executor.
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(
        &rstreams::range(0, 100)
            .publish_on_with(Arc::new(exec.clone()), 8)
            .metered(&registry, "after-hop"),
        rec,
    );
    exec.run_until_idle();
    let e = registry.snapshot().edge("after-hop").unwrap().clone();
    assert_eq!((e.buffered_upstream, e.dropped), (Some(8), Some(0)));
    probe.request(3);
    exec.run_until_idle();
    assert_eq!(probe.count(), 3);
    assert_eq!(
        registry
            .snapshot()
            .edge("after-hop")
            .unwrap()
            .buffered_upstream,
        Some(5),
        "3 taken; the hop replenishes only after a larger batch"
    );

    // An overflow buffer of 4 with DropNewest over 10 items: 4 held, 6 dropped.
    let (rec, _probe) = recorder::<u64>(0);
    subscribe_generic(
        &rstreams::range(0, 10)
            .on_backpressure_buffer(4, OverflowPolicy::DropNewest)
            .metered(&registry, "after-buffer"),
        rec,
    );
    let e = registry.snapshot().edge("after-buffer").unwrap().clone();
    assert_eq!((e.buffered_upstream, e.dropped), (Some(4), Some(6)));
}

/// Takes `stop_at` items with unbounded demand, cancelling inside the last `on_next`; counts
/// every `on_next` it receives (also any after the cancel).
struct CancelAt {
    stop_at: u64,
    seen: Arc<Mutex<u64>>,
    sub: Option<Box<dyn Subscription>>,
}

impl Subscriber<u64> for CancelAt {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        let mut seen = self.seen.lock();
        *seen += 1;
        if *seen == self.stop_at {
            self.sub.as_ref().unwrap().cancel();
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_fused_edge_pulls_no_chunk_after_a_cancel_on_a_chunk_boundary() {
    // A cancel inside a long fused batch stops the run on that item (rule 1.8), and the edge's
    // count, published once per batch, is exact when the batch ends (session 4 ran the batch in
    // chunks of 1024 items, hence these boundaries).
    for stop_at in [1023, 1024, 1025, 2048] {
        let registry = Registry::new();
        let seen = Arc::new(Mutex::new(0));
        rstreams::range(0, 5000)
            .map(|x| x + 1)
            .metered(&registry, "edge")
            .subscribe(CancelAt {
                stop_at,
                seen: Arc::clone(&seen),
                sub: None,
            });
        assert_eq!(*seen.lock(), stop_at);
        let edge = registry.snapshot().edge("edge").unwrap().clone();
        assert_eq!(edge.delivered, stop_at);
        assert_eq!(edge.state, EdgeState::Cancelled);
    }
}
