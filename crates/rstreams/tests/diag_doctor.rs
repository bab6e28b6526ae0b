//! The stall doctor (issue 12.3) on deliberately stalled pipelines: each diagnosis names the
//! right edge and site. Time is injected (`diagnose_at` with chosen instants, or the
//! `ManualExecutor`'s virtual clock): no sleeps, no timed assertions.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rstreams::diag::{Diagnosis, Registry, StallDoctor, StallKind};
use rstreams::executor::ManualExecutor;
use rstreams::multicast::Multicast;
use rstreams::prelude::*;
use support::recorder;

const STALL: Duration = Duration::from_secs(5);

/// Two samples `STALL` apart: what the doctor would see after a quiet period.
fn diagnose_after_quiet(registry: &Registry) -> Diagnosis {
    let t0 = Instant::now();
    let first = registry.diagnose_at(t0, STALL);
    assert!(
        !first.is_stalled(),
        "the first sample judges nothing:\n{first}"
    );
    registry.diagnose_at(t0 + STALL, STALL)
}

fn subscribe_generic<P: Publisher, S: Subscriber<P::Item> + Send + 'static>(p: &P, s: S) {
    p.subscribe(s);
}

#[test]
fn a_subscriber_that_never_requests() {
    let registry = Registry::new();
    let (rec, _probe) = recorder::<u64>(0);
    subscribe_generic(
        &rstreams::range(0, 100)
            .metered(&registry, "numbers")
            .map(|x| x * 3)
            .metered(&registry, "to-consumer"),
        rec,
    );
    let d = diagnose_after_quiet(&registry);
    let cause = d.cause().expect("stalled");
    assert_eq!(&*cause.edge.name, "to-consumer", "{d}");
    assert!(matches!(cause.kind, StallKind::NotRequesting { .. }), "{d}");
    assert!(cause.edge.site.file().ends_with("diag_doctor.rs"));
    let text = d.to_string();
    assert!(
        text.contains("downstream of 'to-consumer' (")
            && text.contains("is not requesting")
            && text.contains("probable cause"),
        "{text}"
    );
    // Nothing moved twice: an idle edge with demand satisfied is still reported.
    assert_eq!(d.findings.len(), 2, "{d}");
}

#[test]
fn a_user_callback_that_blocks() {
    let registry = Registry::new();
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let chain = rstreams::range(0, 10).metered(&registry, "into-callback");
    let worker = std::thread::spawn(move || {
        chain.for_each(move |x| {
            if x == 3 {
                entered_tx.send(()).unwrap();
                // The latch: released by the test once it has diagnosed (bounded wait).
                release_rx.recv_timeout(Duration::from_secs(30)).unwrap();
            }
        })
    });
    entered_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the callback was entered");
    let d = diagnose_after_quiet(&registry);
    let cause = d.cause().expect("stalled").clone();
    release_tx.send(()).unwrap();
    assert!(worker.join().unwrap().is_ok());

    assert_eq!(&*cause.edge.name, "into-callback", "{d}");
    assert_eq!(
        cause.kind,
        StallKind::BlockedInCallback { blocked_for: STALL },
        "{d}"
    );
    assert_eq!(cause.edge.delivered, 4);
    assert!(
        d.to_string()
            .contains("blocked in a user callback below 'into-callback' ("),
        "{d}"
    );
    // Released: the edge completes and the doctor sees no stall.
    let after = registry.diagnose(STALL);
    assert!(!after.is_stalled(), "{after}");
}

#[test]
fn an_upstream_that_never_emits() {
    let registry = Registry::new();
    let (rec, _probe) = recorder::<u64>(5);
    subscribe_generic(
        &rstreams::never::<u64>()
            .metered(&registry, "from-source")
            .map(|x| x + 1)
            .metered(&registry, "to-consumer"),
        rec,
    );
    let d = diagnose_after_quiet(&registry);
    // Both edges starve; the chain lists the upstream one first and names it the cause.
    let names: Vec<&str> = d.findings.iter().map(|f| &*f.edge.name).collect();
    assert_eq!(names, ["from-source", "to-consumer"], "{d}");
    let cause = d.cause().unwrap();
    assert_eq!(&*cause.edge.name, "from-source");
    assert_eq!(cause.kind, StallKind::Starved { outstanding: 5 });
    assert!(
        d.to_string().contains("upstream of 'from-source' (")
            && d.to_string()
                .contains("is not emitting (starving 'from-source'"),
        "{d}"
    );
}

#[test]
fn a_flat_map_inner_that_stalls_the_merge() {
    let registry = Registry::new();
    let inner_registry = registry.clone();
    let (rec, probe) = recorder::<u64>(10);
    subscribe_generic(
        &rstreams::range(0, 4)
            .flat_map_with(
                move |i| {
                    if i == 2 {
                        rstreams::never::<u64>()
                            .metered(&inner_registry, "inner-stuck")
                            .boxed()
                    } else {
                        rstreams::just(i).metered(&inner_registry, "inner").boxed()
                    }
                },
                4,
                8,
            )
            .metered(&registry, "merged"),
        rec,
    );
    assert_eq!(probe.count(), 3, "the other inners completed");
    let d = diagnose_after_quiet(&registry);
    let cause = d.cause().unwrap();
    assert_eq!(&*cause.edge.name, "inner-stuck", "{d}");
    assert_eq!(cause.kind, StallKind::Starved { outstanding: 8 }, "{d}");
    let merged = d.finding("merged").expect("the merged edge starves too");
    assert_eq!(merged.kind, StallKind::Starved { outstanding: 7 });
    // Completed inners are not stalled.
    assert!(d.findings.iter().all(|f| &*f.edge.name != "inner"), "{d}");
    // The stuck inner is listed upstream of the merge.
    let pos = |n: &str| d.findings.iter().position(|f| &*f.edge.name == n).unwrap();
    assert!(pos("inner-stuck") < pos("merged"), "{d}");
}

#[test]
fn a_multicast_held_back_by_its_slowest_subscriber() {
    let registry = Registry::new();
    let hub = Multicast::<u64>::new(4);
    let (fast, fast_probe) = recorder::<u64>(1000);
    let (slow, _slow_probe) = recorder::<u64>(1);
    hub.clone().metered(&registry, "fast").subscribe(fast);
    hub.clone().metered(&registry, "slow").subscribe(slow);
    rstreams::range(0, 1000)
        .metered(&registry, "source")
        .subscribe(hub.clone());
    assert!(fast_probe.count() < 1000, "held back");
    let d = diagnose_after_quiet(&registry);
    let cause = d.cause().unwrap();
    assert_eq!(&*cause.edge.name, "slow", "{d}");
    // The hub's buffer of 4 let the fast subscriber get 4 items; the slow one took 1 and
    // holds the other 3 in its buffer.
    assert_eq!(fast_probe.count(), 4);
    assert_eq!(
        cause.kind,
        StallKind::NotRequesting { buffered: Some(3) },
        "{d}"
    );
    assert!(
        matches!(d.finding("fast").unwrap().kind, StallKind::Starved { .. }),
        "{d}"
    );
    assert!(
        d.to_string().contains("downstream of 'slow' (")
            && d.to_string().contains("3 items buffered upstream"),
        "{d}"
    );
}

#[test]
fn zero_threshold_means_nothing_moved_between_two_samples() {
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(&rstreams::range(0, 10).metered(&registry, "e"), rec);
    let t = Instant::now();
    assert!(!registry.diagnose_at(t, Duration::ZERO).is_stalled());
    assert!(registry.diagnose_at(t, Duration::ZERO).is_stalled());
    probe.request(1);
    assert!(!registry.diagnose_at(t, Duration::ZERO).is_stalled());
    probe.request(100);
    // Completed: never stalled again.
    assert!(!registry.diagnose_at(t, Duration::ZERO).is_stalled());
    assert!(!registry.diagnose_at(t, Duration::ZERO).is_stalled());
}

#[test]
fn the_doctor_reports_each_episode_once_on_a_scheduler() {
    let exec = ManualExecutor::new();
    let registry = Registry::new();
    let (rec, probe) = recorder::<u64>(0);
    subscribe_generic(&rstreams::range(0, 100).metered(&registry, "e"), rec);
    let reports = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reports);
    let handle = StallDoctor::new(&registry, Duration::from_secs(3))
        .on_stall(move |d| {
            assert_eq!(&*d.cause().unwrap().edge.name, "e");
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .start(Arc::new(exec.clone()), Duration::from_secs(1))
        .unwrap();
    exec.advance(Duration::from_secs(2));
    assert_eq!(
        reports.load(Ordering::SeqCst),
        0,
        "not idle long enough yet"
    );
    exec.advance(Duration::from_secs(20));
    assert_eq!(reports.load(Ordering::SeqCst), 1, "one report per episode");
    // It moves: the episode ends; idle again: a second episode.
    probe.request(1);
    exec.advance(Duration::from_secs(1));
    exec.advance(Duration::from_secs(20));
    assert_eq!(reports.load(Ordering::SeqCst), 2);
    handle.cancel();
}

#[test]
fn check_at_returns_the_diagnosis_at_the_start_of_an_episode_only() {
    let registry = Registry::new();
    let (rec, _probe) = recorder::<u64>(3);
    subscribe_generic(&rstreams::never::<u64>().metered(&registry, "e"), rec);
    let doctor = StallDoctor::new(&registry, STALL);
    let t0 = Instant::now();
    assert!(doctor.check_at(t0).is_none());
    let d = doctor.check_at(t0 + STALL).expect("a new episode");
    assert_eq!(
        d.cause().unwrap().kind,
        StallKind::Starved { outstanding: 3 }
    );
    assert!(doctor.check_at(t0 + STALL * 2).is_none(), "same episode");
}

/// Blocks in `on_next` at item 3 until released; requests without bound.
struct BlockAt3 {
    entered: crossbeam_channel::Sender<()>,
    release: crossbeam_channel::Receiver<()>,
}

impl Subscriber<u64> for BlockAt3 {
    fn on_subscribe(&mut self, s: Box<dyn rstreams::Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        if x == 3 {
            self.entered.send(()).unwrap();
            self.release.recv_timeout(Duration::from_secs(30)).unwrap();
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_user_callback_that_blocks_below_a_fused_edge() {
    let registry = Registry::new();
    let (entered_tx, entered_rx) = crossbeam_channel::bounded::<()>(1);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let chain = rstreams::range(0, 10)
        .map(|x| x)
        .metered(&registry, "fused-edge");
    let worker = std::thread::spawn(move || {
        // Concrete type: the inherent, fused `subscribe`.
        chain.subscribe(BlockAt3 {
            entered: entered_tx,
            release: release_rx,
        });
    });
    entered_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the callback was entered");
    let d = diagnose_after_quiet(&registry);
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    let cause = d.cause().expect("stalled");
    assert_eq!(&*cause.edge.name, "fused-edge", "{d}");
    assert!(
        matches!(cause.kind, StallKind::BlockedInCallback { .. }),
        "{d}"
    );
    let snap = registry.snapshot();
    assert_eq!(snap.edge("fused-edge").unwrap().delivered, 10);
}
