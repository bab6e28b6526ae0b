//! Issue 16 item 1: rails (`parallel`, `run_on`, rail `map`/`filter`/`filter_map`, `ordered`,
//! `sequential`, `par_map`): order, bounds, panics, cancellation, and random request/cancel
//! schedules under the TCK's protocol checker.
//!
//! Cases: `RSTREAMS_PROPTEST_CASES` (default 128; run 10^4 or more by hand).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use rstreams::executor::{ManualExecutor, Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::{DropCounter, Requests, recorder};

fn pool() -> Arc<dyn Scheduler> {
    Arc::new(
        ThreadPool::builder()
            .workers(2)
            .thread_name_prefix("par-test")
            .build()
            .unwrap(),
    )
}

#[test]
fn ordered_keeps_source_order_on_a_pool() {
    let pool = pool();
    for (rails, prefetch) in [(1, 1), (2, 1), (3, 4), (4, 64)] {
        let v = rstreams::range(0, 5_000)
            .parallel_with(rails, prefetch)
            .run_on(Arc::clone(&pool))
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .filter_map(|x| (x % 5 != 0).then_some(x + 1))
            .ordered()
            .to_vec()
            .blocking_first()
            .unwrap()
            .unwrap();
        let expect: Vec<u64> = (0..5_000u64)
            .map(|x| x * 3)
            .filter(|x| x % 2 == 0)
            .filter_map(|x| (x % 5 != 0).then_some(x + 1))
            .collect();
        assert_eq!(v, expect, "rails {rails}, prefetch {prefetch}");
    }
    let v = rstreams::range(0, 100)
        .par_map_with(3, pool, |x| x + 1)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some((1..=100).collect()));
}

#[test]
fn sequential_emits_every_item_once_and_without_run_on_runs_inline() {
    let mut v = rstreams::range(0, 2_000)
        .parallel_with(3, 8)
        .run_on(pool())
        .map(|x| x * 2)
        .sequential()
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    v.sort_unstable();
    assert_eq!(v, (0..2_000).map(|x| x * 2).collect::<Vec<_>>());

    // No scheduler: the rails run on the caller's thread, in order.
    let me = std::thread::current().id();
    let v = rstreams::range(0, 10)
        .parallel_with(2, 2)
        .map(move |x| {
            assert_eq!(std::thread::current().id(), me);
            x
        })
        .sequential()
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some((0..10).collect()));
}

#[test]
fn upstream_is_never_asked_for_more_than_rails_times_prefetch_in_flight() {
    let exec = ManualExecutor::new();
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 1_000)
        .do_on_request(reqs.hook())
        .parallel_with(3, 4)
        .run_on(Arc::new(exec.clone()))
        .map(|x| x)
        .ordered()
        .subscribe(r);
    exec.run_until_idle();
    assert_eq!(reqs.total(), 12, "rails × prefetch before any demand");
    probe.request(5);
    exec.run_until_idle();
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4]);
    // The rails ask for their own runs as the join frees room: never more in flight (asked
    // for and not yet taken downstream) than the window.
    assert_eq!(reqs.total(), 12 + 5, "refilled exactly what was taken");
    probe.request(4);
    exec.run_until_idle();
    assert_eq!(reqs.total(), 12 + 9, "refilled exactly what was taken");
    probe.request(u64::MAX);
    exec.run_until_idle();
    assert_eq!(probe.items(), (0..1_000).collect::<Vec<_>>());
    assert!(probe.completed());
}

#[test]
fn rail_panic_fails_with_2_13_at_the_site_and_stops_the_other_rails() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let after = Arc::new(AtomicU64::new(0));
    let a = after.clone();
    let line = line!() + 6;
    let err = rstreams::range(0, 100_000)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .parallel_with(2, 8)
        .run_on(pool())
        .map(|x| x)
        .map(|x| if x == 50 { panic!("bad line {x}") } else { x })
        .map(move |x| {
            a.fetch_add(1, Ordering::SeqCst);
            x
        })
        .ordered()
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R2_13), "{err}");
    assert_eq!(err.kind(), ErrorKind::Panic);
    assert_eq!(err.panic_message(), Some("bad line 50"));
    let stage = err.stage().expect("stage");
    assert!(stage.file().ends_with("tests/parallel.rs"), "{stage}");
    assert_eq!(stage.line(), line, "{err}");
    assert!(cancelled.load(Ordering::SeqCst), "upstream cancelled");
    // The other rails stop: at most the window (2 × 8) ran past the failing item.
    assert!(after.load(Ordering::SeqCst) < 50 + 16 + 1);
}

#[test]
fn cancel_releases_every_rail() {
    let exec = ManualExecutor::new();
    let drops = DropCounter::default();
    let d = drops.clone();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let created = Arc::new(AtomicU64::new(0));
    let made = created.clone();
    let (r, probe) = recorder::<support::Token>(0);
    rstreams::range(0, 1_000)
        .map(move |_| {
            made.fetch_add(1, Ordering::SeqCst);
            d.token()
        })
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .parallel_with(4, 3)
        .run_on(Arc::new(exec.clone()))
        .map(|t| t)
        .ordered()
        .subscribe(r);
    // Without demand every rail fills its prefetch: the tokens wait in the reorder buffer.
    exec.run_until_idle();
    assert_eq!(created.load(Ordering::SeqCst), 12, "4 rails × 3");
    assert_eq!(drops.drops(), 0);
    probe.cancel();
    exec.run_until_idle();
    assert!(cancelled.load(Ordering::SeqCst));
    assert_eq!(
        drops.drops(),
        12,
        "every token dispatched (4 × 3) was dropped"
    );
    assert_eq!(probe.count(), 0);
}

#[test]
fn zero_rails_or_prefetch_fail_with_a_clear_error() {
    let e = rstreams::range(0, 3)
        .parallel_with(0, 4)
        .sequential()
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("rails must be at least 1"), "{e}");
    let e = rstreams::range(0, 3)
        .parallel_with(2, 0)
        .ordered()
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("prefetch must be at least 1"), "{e}");
}

#[test]
fn upstream_error_reaches_downstream_once() {
    let e = rstreams::concat([
        rstreams::range(0, 10).boxed(),
        rstreams::error(rstreams::Error::msg("up")).boxed(),
    ])
    .parallel_with(2, 4)
    .run_on(pool())
    .ordered()
    .to_vec()
    .blocking_first()
    .unwrap_err();
    assert!(e.to_string().starts_with("up"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(128), ..ProptestConfig::default() })]

    /// `ordered()` gives exactly the sequential map's prefix, never beyond demand, nothing after
    /// cancel, and completes exactly when everything was requested.
    #[test]
    fn ordered_equals_the_sequential_map_under_random_schedules(
        input in proptest::collection::vec(0u64..1000, 0..150),
        rails in 1usize..5,
        prefetch in 1usize..9,
        drop_odd in any::<bool>(),
        ops in proptest::collection::vec(support::op(40), 1..40),
    ) {
        let (run, checked) = support::schedule::<u64>();
        rstreams::from_iter(input.clone())
            .parallel_with(rails, prefetch)
            .run_on(run.scheduler())
            .map(|x| x * 7 + 1)
            .filter(move |x| !drop_odd || x % 2 == 0)
            .ordered()
            .subscribe(checked);
        let expect: Vec<u64> = input
            .iter()
            .map(|x| x * 7 + 1)
            .filter(|x| !drop_odd || x % 2 == 0)
            .collect();
        let out = run.play(&ops)?;
        prop_assert_eq!(&out.items[..], &expect[..out.items.len().min(expect.len())]);
        out.check_len(expect.len())?;
    }
}

#[test]
fn blocking_wait_is_bounded() {
    // A smoke test on real threads with a slow stage: the join completes within the bound.
    let (r, probe) = recorder::<u64>(u64::MAX);
    rstreams::range(0, 64)
        .parallel_with(2, 2)
        .run_on(pool())
        .map(|x| {
            std::thread::yield_now();
            x
        })
        .ordered()
        .subscribe(r);
    assert!(probe.wait_terminal(Duration::from_secs(10)));
    assert_eq!(probe.items(), (0..64).collect::<Vec<_>>());
}
