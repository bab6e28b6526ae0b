//! The fused `blocking_iter`'s batch buffer (issue 14 item 3, session 3): the iterator pulls a
//! synchronous chain into one reused buffer. These check what that must not change or break:
//! order and completeness across batches, a source that hands over more than it was asked for
//! (nothing lost), an enormous `prefetch` (no enormous allocation), and an honest `size_hint`.

use std::panic::Location;

use rstreams::prelude::*;
use rstreams::protocol::pull::{self, Source, Step};
use rstreams::source::SyncSource;

#[test]
fn items_arrive_in_order_across_many_batches_and_partial_last_batches() {
    for (n, prefetch) in [
        (0u64, 4usize),
        (1, 4),
        (7, 4),
        (8, 4),
        (9, 4),
        (1000, 3),
        (257, 256),
    ] {
        let got: Vec<u64> = rstreams::range(10, n)
            .blocking_iter_with(prefetch)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            got,
            (10..10 + n).collect::<Vec<_>>(),
            "n={n} prefetch={prefetch}"
        );
        let filtered: Vec<u64> = rstreams::range(0, n)
            .filter(|x| x % 3 == 0)
            .blocking_iter_with(prefetch)
            .map(Result::unwrap)
            .collect();
        assert_eq!(filtered, (0..n).filter(|x| x % 3 == 0).collect::<Vec<_>>());
    }
}

/// A synchronous source that breaks the `pull_many` contract: it hands over twice the `limit`
/// it was asked for (stopping only when `emit` says so).
struct Greedy {
    n: u64,
}

struct GreedySource {
    next: u64,
    end: u64,
}

impl Source for GreedySource {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        if self.next == self.end {
            return Step::Complete;
        }
        self.next += 1;
        Step::Next(self.next - 1)
    }
    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<u64>>)
    where
        F: FnMut(u64) -> bool,
    {
        let mut handed = 0;
        while handed < limit.saturating_mul(2) {
            if self.next == self.end {
                return (handed, Some(Step::Complete));
            }
            self.next += 1;
            handed += 1;
            if !emit(self.next - 1) {
                return (handed, None);
            }
        }
        (handed, None)
    }
}

impl Publisher for Greedy {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        pull::serve(
            GreedySource {
                next: 0,
                end: self.n,
            },
            subscriber,
        );
    }
}

impl SyncSource for Greedy {
    type Source = GreedySource;
    fn open(&self) -> Result<GreedySource, rstreams::Error> {
        Ok(GreedySource {
            next: 0,
            end: self.n,
        })
    }
    fn source_stage(&self) -> &'static Location<'static> {
        Location::caller()
    }
}

#[test]
fn a_source_that_hands_over_more_than_asked_loses_nothing() {
    // `map` over a `SyncSource` takes the fused path: the iterator pulls `Greedy` itself.
    let got: Vec<u64> = Greedy { n: 100 }
        .map(|x| x)
        .blocking_iter_with(8)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn an_enormous_prefetch_does_not_allocate_an_enormous_buffer() {
    // A buffer of `usize::MAX` items cannot be allocated: this would abort or panic if the
    // batch were sized by `prefetch` alone.
    let got: Vec<u64> = rstreams::range(0, 5)
        .blocking_iter_with(usize::MAX)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
}

#[test]
fn size_hint_is_a_true_bound_at_every_step() {
    fn check<I: Iterator>(mut it: I, total: usize) {
        for taken in 0..=total + 1 {
            let left = total.saturating_sub(taken);
            let (lo, hi) = it.size_hint();
            assert!(lo <= left, "lower bound {lo} > {left} left after {taken}");
            if let Some(hi) = hi {
                assert!(hi >= left, "upper bound {hi} < {left} left after {taken}");
            }
            it.next();
        }
    }
    check(rstreams::range(0, 10).blocking_iter_with(4), 10);
    check(
        rstreams::range(0, 10).map(|x| x + 1).blocking_iter_with(16),
        10,
    );
    check(rstreams::range(0, 0).blocking_iter_with(4), 0);
    // Failing: the error counts as one more item.
    check(rstreams::range(u64::MAX, 2).blocking_iter_with(4), 1);
    check(rstreams::range(0, 10).blocking_iter_with(0), 1);
    // Subscribed (generic code): no fused path, same bounds.
    fn generic<P: Publisher>(p: &P) -> rstreams::BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        p.blocking_iter_with(4)
    }
    check(generic(&rstreams::range(0, 10)), 10);

    // Once the fused chain has ended, the hint is exact: 3 left of a 7-item batch.
    let mut it = rstreams::range(0, 7).blocking_iter_with(16);
    for _ in 0..4 {
        it.next();
    }
    assert_eq!(it.size_hint(), (3, Some(3)));
    // Before then, at least what is buffered: 4 - 1 of the first batch of 4.
    let mut it = rstreams::range(0, 100).blocking_iter_with(4);
    it.next();
    assert_eq!(it.size_hint(), (3, None));
}
