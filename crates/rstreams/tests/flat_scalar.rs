//! The scalar fast path of `flat_map`/`merge` (issue 14.2): `just`, `once` and `empty` inners
//! take no inner subscription; with demand and nothing queued their values go downstream before
//! the outer's `on_next` returns, otherwise they wait in the bounded scalar ring. Every rule
//! still holds: serial signals and demand (checked by the TCK's protocol checker under random
//! request schedules, scalars mixed with asynchronous inners), cancellation in the middle of
//! the fast path, panics (rule 2.13).

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use proptest::prelude::*;
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use rstreams::{BoxPublisher, Rule};
use support::{WAIT, counted, recorder};

#[test]
fn with_demand_scalars_go_downstream_before_the_outer_item_returns() {
    // Everything runs on this thread: the outer `range` emits into the merge, whose drain runs
    // right there, so once `subscribe` returns every item has arrived (nothing left queued).
    let (sub, probe) = recorder(u64::MAX);
    rstreams::range(0, 1000)
        .flat_map_with(rstreams::just, 4, 8)
        .subscribe(sub);
    assert_eq!(probe.items(), (0..1000).collect::<Vec<u64>>());
    assert!(probe.completed());
    probe.assert_clean();
}

#[test]
fn without_demand_scalars_wait_and_the_outer_is_held_to_max_concurrency() {
    let outer = counted(100, |i| i);
    let (sub, probe) = recorder(0);
    outer
        .clone()
        .flat_map_with(rstreams::just, 8, 2)
        .subscribe(sub);
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 8);
    assert_eq!(probe.len(), 0);
    probe.request(5);
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4]);
    // Replaced in a batch of 6 (75% of 8) once 6 went downstream: never more than 8 in flight.
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 8);
    probe.request(95);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), (0..100).collect::<Vec<u64>>());
    assert!(probe.completed());
    assert!(outer.counters.max_alive.load(Ordering::SeqCst) <= 1);
    probe.assert_clean();
}

#[test]
fn once_and_empty_inners_take_the_fast_path_too() {
    let (sub, probe) = recorder(u64::MAX);
    rstreams::range(0, 300)
        .flat_map_with(
            |x| -> BoxPublisher<u64> {
                match x % 3 {
                    0 => rstreams::once(x).boxed(),
                    1 => rstreams::empty().boxed(),
                    _ => rstreams::just(x).boxed(),
                }
            },
            4,
            8,
        )
        .subscribe(sub);
    // Boxed inners are not recognised (the box hides the type): the ordinary path, same result.
    let want: Vec<u64> = (0..300).filter(|x| x % 3 != 1).collect();
    assert_eq!(probe.items(), want);
    let (sub, probe) = recorder(u64::MAX);
    rstreams::range(0, 300)
        .flat_map_with(rstreams::once, 4, 8)
        .subscribe(sub);
    assert_eq!(probe.items(), (0..300).collect::<Vec<u64>>());
    let (sub, probe) = recorder(0);
    let outer = counted(300, |i| i);
    outer
        .clone()
        .flat_map_with(|_| rstreams::empty::<u64>(), 4, 8)
        .subscribe(sub);
    // Empty inners give their place back at once: the outer runs to its end without demand.
    assert!(probe.wait_terminal(WAIT));
    assert!(probe.completed());
    assert_eq!(outer.counters.produced.load(Ordering::SeqCst), 300);
    probe.assert_clean();
}

#[test]
fn merge_of_just_sources_is_served_from_the_scalar_ring() {
    let (sub, probe) = recorder(0);
    rstreams::merge((0..10).map(rstreams::just), 4).subscribe(sub);
    probe.request(3);
    assert_eq!(probe.items(), vec![0, 1, 2]);
    assert!(!probe.terminated());
    probe.request(7);
    assert_eq!(probe.items(), (0..10).collect::<Vec<u64>>());
    assert!(probe.completed());
    probe.assert_clean();
}

#[test]
fn above_the_scalar_ring_size_scalars_fall_back_to_ordinary_inners() {
    // max_concurrency 1000 > the scalar ring's 256: the outer may have 1000 scalars in flight,
    // the first 256 wait in the ring, the rest as ordinary inners; nothing is lost.
    let (sub, probe) = recorder(0);
    rstreams::range(0, 600)
        .flat_map_with(rstreams::just, 1000, 4)
        .subscribe(sub);
    assert_eq!(probe.len(), 0);
    probe.request(u64::MAX);
    assert!(probe.wait_terminal(WAIT));
    let mut v = probe.items();
    v.sort();
    assert_eq!(v, (0..600).collect::<Vec<u64>>());
    assert!(probe.completed());
    probe.assert_clean();
}

#[test]
fn a_cancel_inside_the_fast_path_stops_it_and_cancels_the_outer() {
    let outer = counted(1_000_000, |i| i);
    let (sub, probe) = recorder(u64::MAX);
    outer
        .clone()
        .flat_map_with(rstreams::just, 16, 8)
        .take(5) // cancels the merge from inside its on_next
        .subscribe(sub);
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4]);
    assert!(probe.completed());
    assert_eq!(outer.counters.alive(), 0, "the outer was released");
    assert!(outer.counters.produced.load(Ordering::SeqCst) <= 5 + 16);
    probe.assert_clean();
}

#[derive(Debug, PartialEq)]
struct PanicsOnClone(u64);

impl Clone for PanicsOnClone {
    fn clone(&self) -> Self {
        panic!("clone of {} refused", self.0)
    }
}

#[test]
fn a_panic_cloning_a_just_value_is_a_rule_2_13_error() {
    let outer = counted(10, |i| i);
    let (sub, probe) = recorder(u64::MAX);
    outer
        .clone()
        .flat_map_with(|x| rstreams::just(PanicsOnClone(x)), 4, 8)
        .subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    let e = probe.error().expect("an error");
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert_eq!(probe.len(), 0);
    assert_eq!(outer.counters.alive(), 0, "the outer was cancelled");
}

#[test]
fn a_panicking_downstream_in_the_fast_path_is_a_rule_2_13_error_and_releases_the_outer() {
    let outer = counted(1000, |i| i);
    let (sub, probe) = recorder(u64::MAX);
    outer
        .clone()
        .flat_map_with(rstreams::just, 4, 8)
        .map(|x| {
            assert!(x != 7, "seven");
            x
        })
        .subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), (0..7).collect::<Vec<u64>>());
    assert_eq!(probe.error().and_then(|e| e.rule()), Some(Rule::R2_13));
    assert_eq!(outer.counters.alive(), 0);
}

#[test]
fn scalars_mixed_with_pool_inners_all_arrive() {
    for _ in 0..20 {
        let pool = support::pool();
        let (sub, probe) = recorder(0);
        rstreams::range(0, 200)
            .flat_map_with(
                move |x| -> BoxPublisher<u64> {
                    if x % 2 == 0 {
                        rstreams::range(x * 1000, 20)
                            .publish_on_with(Arc::clone(&pool), 4)
                            .boxed()
                    } else {
                        rstreams::just(x * 1000).boxed()
                    }
                },
                6,
                4,
            )
            .subscribe(sub);
        let want: Vec<u64> = (0..200)
            .flat_map(|x| {
                let n = if x % 2 == 0 { 20 } else { 1 };
                x * 1000..x * 1000 + n
            })
            .collect();
        let mut asked = 0;
        while !probe.terminated() {
            probe.request(7);
            asked += 7;
            assert!(
                probe.wait(
                    |s| s.received >= asked.min(want.len()) || s.completes + s.errors.len() > 0
                )
            );
        }
        assert!(probe.completed());
        let mut v = probe.items();
        v.sort();
        assert_eq!(v, want);
        probe.assert_clean();
    }
}

#[test]
fn an_inner_completing_while_demand_is_zero_is_retired_at_the_next_request() {
    // Found by the proptest below (not a scalar issue): the inner's completion signal arrived
    // while demand was 0 and was consumed by the kit's `is_exhausted` probe, which then forgot
    // to mark the rings for the next pull: the finished inner was never retired and the stream
    // stalled with demand outstanding.
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    let (sub, probe) = recorder::<u64>(0);
    rstreams::range(0, 3)
        .flat_map_with(
            move |x| rstreams::range(x * 100, 3).publish_on_with(Arc::clone(&sched), 1),
            1,
            1,
        )
        .subscribe(sub);
    for _ in 0..3 {
        probe.request(3); // exactly one inner's worth
        exec.run_until_idle();
    }
    assert_eq!(probe.items(), vec![0, 1, 2, 100, 101, 102, 200, 201, 202]);
    assert!(probe.completed());
    probe.assert_clean();
}

/// One inner of the random mix: a scalar (`just`, `once`, `empty`) or an ordinary one (a
/// synchronous `range`, or a `range` hopping through the manual executor).
type Maker = Box<dyn Fn() -> Mixed + Send + Sync>;

fn inner(kind: u8, x: u64, sched: &Arc<dyn Scheduler>) -> (u64, Maker) {
    let sched = Arc::clone(sched);
    match kind % 5 {
        0 => (1, Box::new(move || Mixed::Just(rstreams::just(x * 10)))),
        1 => (1, Box::new(move || Mixed::Once(rstreams::once(x * 10)))),
        2 => (0, Box::new(|| Mixed::Empty(rstreams::empty()))),
        3 => (
            3,
            Box::new(move || Mixed::Range(rstreams::range(x * 10, 3))),
        ),
        _ => (
            3,
            Box::new(move || {
                Mixed::Boxed(
                    rstreams::range(x * 10, 3)
                        .publish_on_with(Arc::clone(&sched), 2)
                        .boxed(),
                )
            }),
        ),
    }
}

/// The inners of one case, chosen by the outer item; one type, so that the scalar ones are not
/// hidden behind a box: the merge sees `Mixed` and subscribes it, and `Mixed` subscribes the
/// publisher it wraps — so here the scalars are the ordinary path, and the direct `flat_map`
/// runs below (`pure`) are the fast path.
enum Mixed {
    Just(rstreams::source::Just<u64>),
    Once(rstreams::source::Once<u64>),
    Empty(rstreams::source::Empty<u64>),
    Range(rstreams::source::Range),
    Boxed(BoxPublisher<u64>),
}

impl Publisher for Mixed {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, s: S) {
        match self {
            Mixed::Just(p) => p.subscribe(s),
            Mixed::Once(p) => p.subscribe(s),
            Mixed::Empty(p) => p.subscribe(s),
            Mixed::Range(p) => p.subscribe(s),
            Mixed::Boxed(p) => p.subscribe(s),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(128), ..ProptestConfig::default() })]

    /// `just` inners (the fast path) whose outer hops through the manual executor, next to
    /// asynchronous inners in a `merge` of the two: random schedules break no rule.
    #[test]
    fn random_schedules_over_scalar_and_async_inners_break_no_rule(
        len in 0u64..60,
        max_concurrency in 1usize..6,
        prefetch in 1usize..6,
        kinds in proptest::collection::vec(any::<u8>(), 60),
        outer_hops in any::<bool>(),
        ops in proptest::collection::vec(support::op(20), 1..30),
    ) {
        let (run, checked) = support::schedule::<u64>();
        let sched = run.scheduler();
        // Half the items come from `just` inners straight from `flat_map` (the fast path), the
        // other half from the mixed inners; both flat_maps feed one merge.
        let scalars: BoxPublisher<u64> = if outer_hops {
            rstreams::range(0, len)
                .publish_on_with(Arc::clone(&sched), 3)
                .flat_map_with(|x| rstreams::just(1_000_000 + x), max_concurrency, prefetch)
                .boxed()
        } else {
            rstreams::range(0, len)
                .flat_map_with(|x| rstreams::just(1_000_000 + x), max_concurrency, prefetch)
                .boxed()
        };
        let mut want: Vec<u64> = (0..len).map(|x| 1_000_000 + x).collect();
        let makers: Vec<_> = (0..len).map(|x| inner(kinds[x as usize], x * 10, &sched)).collect();
        for (x, (n, _)) in makers.iter().enumerate() {
            want.extend((0..*n).map(|i| x as u64 * 100 + i));
        }
        let makers = Arc::new(makers);
        let mixed = {
            let makers = Arc::clone(&makers);
            rstreams::range(0, len)
                .flat_map_with(move |x| (makers[x as usize].1)(), max_concurrency, prefetch)
                .boxed()
        };
        rstreams::merge(vec![scalars, mixed], prefetch).subscribe(checked);
        let out = run.play(&ops)?;
        out.check_len(want.len())?;
        let mut got = out.items.clone();
        got.sort();
        got.dedup();
        prop_assert_eq!(got.len(), out.items.len(), "an item twice");
        if !out.cancelled && out.requested >= want.len() as u64 {
            want.sort();
            prop_assert_eq!(got, want);
        }
    }

    /// The fast path alone: a `flat_map` of `just`/`once`/`empty` (one type each, so recognised),
    /// under random schedules, with the outer on the manual executor or synchronous.
    #[test]
    fn random_schedules_over_pure_scalar_inners_break_no_rule(
        len in 0u64..80,
        max_concurrency in 1usize..6,
        kind in 0u8..3,
        outer_hops in any::<bool>(),
        ops in proptest::collection::vec(support::op(20), 1..30),
    ) {
        let (run, checked) = support::schedule::<u64>();
        let sched = run.scheduler();
        let outer: BoxPublisher<u64> = if outer_hops {
            rstreams::range(0, len).publish_on_with(sched, 3).boxed()
        } else {
            rstreams::range(0, len).boxed()
        };
        let want: Vec<u64> = match kind {
            2 => Vec::new(),
            _ => (0..len).collect(),
        };
        match kind {
            0 => outer.flat_map_with(rstreams::just, max_concurrency, 2).subscribe(checked),
            1 => outer.flat_map_with(rstreams::once, max_concurrency, 2).subscribe(checked),
            _ => outer
                .flat_map_with(|_| rstreams::empty::<u64>(), max_concurrency, 2)
                .subscribe(checked),
        }
        let out = run.play(&ops)?;
        out.check_len(want.len())?;
        // One outer, scalars only, one ring: the order is the outer's.
        prop_assert_eq!(&out.items, &want[..out.items.len()].to_vec());
    }
}
