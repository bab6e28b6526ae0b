//! Per-rail folds (Reactor's `ParallelFlux.reduce(seed, f)` and `reduce(f)`): each rail folds
//! the items it received into its own accumulator, on its own lane; when the upstream completes
//! and every rail is idle, the accumulators are emitted, one per rail, in rail order.
//!
//! Built from the rails core itself: the fold is the rails' last stage (it knows its rail), it
//! emits nothing per item, and the join's completion — which waits for every rail to be idle —
//! releases the accumulators. No new drain, queue or demand logic.

use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_executor::Scheduler;
use rstreams_protocol::{Error, Publisher, Subscriber};

use super::core::RailsCore;
use super::stage::RailStage;
use crate::PublisherExt;
use crate::stage::{Loc, closure_panic, guard, reject};

/// One accumulator per rail, made fresh for each subscription.
type Accs<A> = Arc<Vec<Mutex<Option<A>>>>;

/// The fold as the rails' last stage: folds into its rail's accumulator, emits nothing.
struct FoldStage<G, A, F> {
    prev: Arc<G>,
    accs: Accs<A>,
    f: Arc<F>,
    loc: Loc,
}

impl<T, G, A, F> RailStage<T> for FoldStage<G, A, F>
where
    G: RailStage<T>,
    A: Send + 'static,
    F: Fn(A, G::Out) -> A + Send + Sync + 'static,
{
    type Out = ();

    /// Only reached if a caller does not say which rail runs: folds into rail 0's accumulator
    /// (still a correct fold). The rails core always calls `apply_on_rail`.
    fn apply(&self, item: T) -> Result<Option<()>, Error> {
        self.apply_on_rail(0, item)
    }

    fn apply_on_rail(&self, rail: usize, item: T) -> Result<Option<()>, Error> {
        let Some(x) = self.prev.apply(item)? else {
            return Ok(None);
        };
        // The rail's lane runs its items one at a time: this lock is never contended.
        let mut slot = self.accs[rail].lock();
        let Some(acc) = slot.take() else {
            return Ok(None); // a previous call panicked; the stream is already failing
        };
        match guard(|| (self.f)(acc, x)) {
            Ok(acc) => {
                *slot = Some(acc);
                Ok(None)
            }
            Err(p) => Err(closure_panic(p, self.loc)),
        }
    }
}

/// The rails core joined into a publisher of nothing: completes when every rail is idle after
/// the upstream completed (the per-rail accumulators are then final).
struct Drained<P, G, A, F> {
    upstream: Arc<P>,
    rails: usize,
    prefetch: usize,
    scheduler: Option<Arc<dyn Scheduler>>,
    stage: Arc<FoldStage<G, A, F>>,
    loc: Loc,
}

impl<P, G, A, F> Publisher for Drained<P, G, A, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    G: RailStage<P::Item>,
    A: Send + 'static,
    F: Fn(A, G::Out) -> A + Send + Sync + 'static,
{
    type Item = ();
    fn subscribe<S: Subscriber<()> + Send + 'static>(&self, subscriber: S) {
        let core = RailsCore::new(
            self.rails,
            self.prefetch,
            self.scheduler.clone(),
            Arc::clone(&self.stage),
            false,
            self.loc,
        );
        core.serve(subscriber);
        self.upstream.subscribe(core.splitter());
    }
}

/// Rails folded per rail, made by [`Parallel::fold`](super::Parallel::fold). Join with
/// [`sequential`](Self::sequential) (one accumulator per rail) or combine them into one value
/// with [`reduce`](Self::reduce).
pub struct RailFold<P, G, A, F> {
    upstream: Arc<P>,
    rails: usize,
    prefetch: usize,
    scheduler: Option<Arc<dyn Scheduler>>,
    prev: Arc<G>,
    seed: Arc<dyn Fn() -> A + Send + Sync>,
    f: Arc<F>,
    loc: Loc,
}

impl<P, G, A, F> std::fmt::Debug for RailFold<P, G, A, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RailFold")
            .field("rails", &self.rails)
            .field("prefetch", &self.prefetch)
            .field("loc", &self.loc)
            .finish_non_exhaustive()
    }
}

impl<P, G, A, F> RailFold<P, G, A, F>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
    G: RailStage<P::Item>,
    A: Send + 'static,
    F: Fn(A, G::Out) -> A + Send + Sync + 'static,
{
    pub(crate) fn new(
        par: super::Parallel<P, G>,
        seed: Arc<dyn Fn() -> A + Send + Sync>,
        f: F,
        loc: Loc,
    ) -> Self {
        RailFold {
            upstream: Arc::new(par.upstream),
            rails: par.rails,
            prefetch: par.prefetch,
            scheduler: par.scheduler,
            prev: Arc::new(par.stage),
            seed,
            f: Arc::new(f),
            loc,
        }
    }

    /// One accumulator per rail, in rail order (rail 0 first), after the upstream completes:
    /// exactly `rails` items, the seed for a rail that received nothing. Which items a rail
    /// received is not specified (an item goes to the next rail with room), so combine the
    /// results with an operation for which that does not matter.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let sums = rstreams::range(1, 100)
    ///     .parallel_with(4, 8)
    ///     .run_on_default()
    ///     .fold(0u64, |acc, x| acc + x)
    ///     .sequential()
    ///     .to_vec()
    ///     .blocking_first()
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(sums.len(), 4); // one per rail
    /// assert_eq!(sums.iter().sum::<u64>(), 5050);
    /// ```
    pub fn sequential(self) -> RailResults<A> {
        let RailFold {
            upstream,
            rails,
            prefetch,
            scheduler,
            prev,
            seed,
            f,
            loc,
        } = self;
        let valid = rails > 0 && prefetch > 0;
        let make = move || {
            let accs: Accs<A> = Arc::new((0..rails).map(|_| Mutex::new(Some(seed()))).collect());
            let drained = Drained {
                upstream: Arc::clone(&upstream),
                rails,
                prefetch,
                scheduler: scheduler.clone(),
                stage: Arc::new(FoldStage {
                    prev: Arc::clone(&prev),
                    accs: Arc::clone(&accs),
                    f: Arc::clone(&f),
                    loc,
                }),
                loc,
            };
            drained
                .fold((), |(), ()| ())
                .concat_map(
                    move |()| {
                        let done: Vec<A> = accs.iter().filter_map(|m| m.lock().take()).collect();
                        crate::from_iter_once(done)
                    },
                    1,
                )
                .boxed()
        };
        RailResults {
            make: Arc::new(make),
            valid,
            loc,
        }
    }

    /// The per-rail accumulators combined into one with `combine`, in rail order (Reactor's
    /// `ParallelFlux.reduce(seed, f)` followed by a reduce of the rails).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let total = rstreams::range(1, 1000)
    ///     .parallel()
    ///     .run_on_default()
    ///     .fold(0u64, |acc, x| acc + x)
    ///     .reduce(|a, b| a + b)
    ///     .blocking_first()
    ///     .unwrap();
    /// assert_eq!(total, Some(500_500));
    /// ```
    #[track_caller]
    pub fn reduce<C>(self, combine: C) -> crate::ops::Reduce<RailResults<A>, C>
    where
        C: Fn(A, A) -> A + Send + Sync + 'static,
    {
        self.sequential().reduce(combine)
    }
}

/// The per-rail results of a [`RailFold`], one item per rail; made by
/// [`RailFold::sequential`].
pub struct RailResults<A> {
    make: Arc<dyn Fn() -> rstreams_protocol::BoxPublisher<A> + Send + Sync>,
    valid: bool,
    loc: Loc,
}

impl<A> Clone for RailResults<A> {
    fn clone(&self) -> Self {
        RailResults {
            make: Arc::clone(&self.make),
            valid: self.valid,
            loc: self.loc,
        }
    }
}

impl<A> std::fmt::Debug for RailResults<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RailResults")
            .field("loc", &self.loc)
            .finish_non_exhaustive()
    }
}

impl<A: Send + 'static> Publisher for RailResults<A> {
    type Item = A;
    fn subscribe<S: Subscriber<A> + Send + 'static>(&self, subscriber: S) {
        if !self.valid {
            reject(
                subscriber,
                Error::msg(
                    "parallel: rails and prefetch must be at least 1, got 0 (no item could \
                     ever be requested and the stream would hang)",
                )
                .at_stage(self.loc),
            );
            return;
        }
        (self.make)().subscribe(subscriber);
    }
}
