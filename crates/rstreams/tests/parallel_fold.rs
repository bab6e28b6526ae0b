//! Per-rail folds (issue 16.1): one accumulator per rail, joined back; the rails' reduce.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rstreams::executor::ThreadPool;
use rstreams::prelude::*;

fn pool() -> Arc<ThreadPool> {
    Arc::new(ThreadPool::builder().workers(2).build().unwrap())
}

#[test]
fn one_accumulator_per_rail_and_nothing_lost() {
    for (rails, prefetch, n) in [(1, 1, 0u64), (2, 3, 1), (3, 2, 100), (4, 16, 10_000)] {
        let per_rail = rstreams::range(0, n)
            .parallel_with(rails, prefetch)
            .run_on(pool())
            .map(|x| x * 2)
            .fold(Vec::new(), |mut v, x| {
                v.push(x);
                v
            })
            .sequential()
            .to_vec()
            .blocking_first()
            .unwrap()
            .unwrap();
        assert_eq!(per_rail.len(), rails, "one result per rail");
        let mut all: Vec<u64> = per_rail.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).map(|x| x * 2).collect::<Vec<_>>());
        // Each rail folds its items in source order (a rail's lane runs them in order).
        for v in &per_rail {
            assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        }
    }
}

#[test]
fn rails_reduce_combines_into_one_value() {
    let total = rstreams::range(1, 10_000)
        .parallel_with(3, 8)
        .run_on(pool())
        .fold(0u64, |a, x| a + x)
        .reduce(|a, b| a + b)
        .blocking_first()
        .unwrap();
    assert_eq!(total, Some((1..=10_000).sum()));
    let max = rstreams::range(0, 500).parallel().reduce(|a, b| a.max(b));
    assert_eq!(max.blocking_first().unwrap(), Some(499));
    let none = rstreams::empty::<u64>().parallel().reduce(|a, b| a + b);
    assert_eq!(none.blocking_first().unwrap(), None);
}

#[test]
fn a_panic_in_the_fold_names_rule_2_13_and_the_site_and_cancels_upstream() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    let e = rstreams::range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .parallel_with(2, 4)
        .run_on(pool())
        .fold(0u64, |a, x| {
            assert!(x < 50, "fold blew up");
            a + x
        })
        .sequential()
        .to_vec()
        .blocking_first()
        .unwrap_err();
    let text = format!("{e:?} {e}");
    assert!(text.contains("2.13"), "{text}");
    assert!(text.contains("parallel_fold.rs"), "{text}");
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn an_upstream_error_fails_the_fold_and_a_cancel_releases_the_rails() {
    let failing = rstreams::concat(vec![
        rstreams::range(0, 10).boxed(),
        rstreams::error(rstreams::Error::msg("upstream broke")).boxed(),
    ]);
    let e = failing
        .parallel_with(2, 2)
        .fold(0u64, |a, x| a + x)
        .sequential()
        .blocking_last()
        .unwrap_err();
    assert_eq!(e.to_string(), "upstream broke");

    // A cancel while the rails still fold (an endless upstream) cancels the upstream.
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    let folded = Arc::new(AtomicU64::new(0));
    let f = Arc::clone(&folded);
    let results = rstreams::range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .parallel_with(2, 4)
        .run_on(pool())
        .fold(0u64, move |a, _| {
            f.fetch_add(1, Ordering::SeqCst);
            a + 1
        })
        .sequential();
    let handle = results.subscribe_consumer(rstreams::Consumer::new(|_| {}).request(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while folded.load(Ordering::SeqCst) < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "the rails never folded"
        );
        std::thread::yield_now();
    }
    handle.cancel();
    while !cancelled.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream never cancelled"
        );
        std::thread::yield_now();
    }
}

#[test]
fn zero_rails_is_an_error_not_a_hang() {
    let e = rstreams::range(0, 3)
        .parallel_with(0, 4)
        .fold(0u64, |a, x| a + x)
        .sequential()
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
}
