//! Parallel rails (Reactor's `ParallelFlux`, RxJava's `ParallelFlowable`):
//! [`parallel`](crate::PublisherExt::parallel) splits a publisher over `n` rails,
//! [`run_on`](Parallel::run_on) gives each rail its own [`SerialLane`](rstreams_executor::SerialLane)
//! on a scheduler, rail operators ([`map`](Parallel::map), [`filter`](Parallel::filter),
//! [`filter_map`](Parallel::filter_map)) run on the rails, and [`ordered`](Parallel::ordered)
//! (source order) or [`sequential`](Parallel::sequential) (arrival order) joins them back into
//! one publisher.
//!
//! # Bounds and demand
//!
//! At most `rails × prefetch` items are in flight (queued for the rails, being processed, or
//! finished and waiting for the join), and each rail holds at most `prefetch` of them. The
//! upstream is asked for `rails × prefetch` items at subscription. Then, with
//! [`run_on`](Parallel::run_on), each rail asks the upstream for its own next run (at most
//! `prefetch / 8` items, capped at 64) when nothing is queued for it and the window has room,
//! one request at a time: a synchronous upstream then produces each item on the worker that
//! processes it. Items that arrive otherwise (an asynchronous upstream) wait in one queue and
//! whichever rail has room and a free worker takes the next run of them, so a rail whose
//! worker is busy elsewhere holds nothing up. Without `run_on`, the upstream is asked again in
//! batches of 75% as the join takes items downstream, and an item goes to the next rail
//! (round-robin) with room. The ordered
//! join's reorder buffer is the rails' finished items: at most `rails × prefetch` items
//! (`rails × DEFAULT_RAIL_PREFETCH` by default).
//!
//! # Where the closures run
//!
//! With [`run_on`](Parallel::run_on), each rail's closures run on a worker of the scheduler,
//! never two of one rail at a time, in the rail's order. Without it, they run on the thread that
//! delivers the upstream's `on_next`, one at a time (no parallelism). The downstream's signals
//! come from whichever thread drives the join (a rail's worker, or the thread calling
//! `request`).
//!
//! # Errors and cancellation
//!
//! A panic in a rail closure becomes `on_error` naming rule 2.13 and the closure's assembly
//! site; the other rails stop (their queued items are dropped, upstream is cancelled). An
//! upstream error does the same. A downstream cancel cancels the upstream and drops every
//! rail's items.
//!
//! # Deviations from Reactor
//!
//! The rails are not publishers of their own (no `subscribe(rails[])`): they are always joined
//! back by `ordered()` or `sequential()`. `ordered()` needs no `map` to carry indices: every
//! rail keeps them. The upstream is subscribed when the joined publisher is, and asked for its
//! first `rails × prefetch` items at once, before downstream demand (Reactor's prefetch too).

mod core;
mod fold;
mod stage;

use std::sync::Arc;

use rstreams_executor::{IntoScheduler, Scheduler};
use rstreams_protocol::{Error, Publisher, Subscriber};

pub use fold::{RailFold, RailResults};
pub use stage::{Identity, RailFilter, RailFilterMap, RailMap, RailStage};

use crate::stage::{Loc, reject};

/// Items each rail may hold when no prefetch is given (`parallel()`, `par_map`).
pub const DEFAULT_RAIL_PREFETCH: usize = 256;

/// The number of rails `parallel()` makes: the machine's available parallelism (1 if unknown).
pub fn default_rails() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A publisher split over rails, not yet joined; made by
/// [`PublisherExt::parallel`](crate::PublisherExt::parallel). Join it with
/// [`ordered`](Self::ordered) or [`sequential`](Self::sequential).
pub struct Parallel<P, G> {
    upstream: P,
    rails: usize,
    prefetch: usize,
    scheduler: Option<Arc<dyn Scheduler>>,
    stage: G,
    loc: Loc,
}

impl<P: Clone, G: Clone> Clone for Parallel<P, G> {
    fn clone(&self) -> Self {
        Parallel {
            upstream: self.upstream.clone(),
            rails: self.rails,
            prefetch: self.prefetch,
            scheduler: self.scheduler.clone(),
            stage: self.stage.clone(),
            loc: self.loc,
        }
    }
}

impl<P, G> std::fmt::Debug for Parallel<P, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parallel")
            .field("rails", &self.rails)
            .field("prefetch", &self.prefetch)
            .field("run_on", &self.scheduler.is_some())
            .field("loc", &self.loc)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Parallel<P, Identity> {
    pub(crate) fn new(upstream: P, rails: usize, prefetch: usize, loc: Loc) -> Self {
        Parallel {
            upstream,
            rails,
            prefetch,
            scheduler: None,
            stage: Identity,
            loc,
        }
    }
}

impl<P, G> Parallel<P, G>
where
    P: Publisher,
    P::Item: Send + 'static,
    G: RailStage<P::Item>,
{
    /// Runs each rail on its own [`SerialLane`](rstreams_executor::SerialLane) of `scheduler`:
    /// rails run in parallel (as far as the scheduler has workers), each rail's items one at a
    /// time and in order. Applies to the whole rail, including operators added before this call.
    pub fn run_on(self, scheduler: impl IntoScheduler) -> Self {
        Parallel {
            scheduler: Some(scheduler.into_scheduler()),
            ..self
        }
    }

    /// [`run_on`](Self::run_on) the process-wide
    /// [`default_pool`](rstreams_executor::default_pool) (one worker per core).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 4).parallel().run_on_default().map(|x| x + 1).ordered();
    /// assert_eq!(v.to_vec().blocking_first().unwrap(), Some(vec![1, 2, 3, 4]));
    /// ```
    pub fn run_on_default(self) -> Self {
        self.run_on(rstreams_executor::default_pool())
    }

    fn then<H>(self, stage: impl FnOnce(G) -> H) -> Parallel<P, H> {
        Parallel {
            upstream: self.upstream,
            rails: self.rails,
            prefetch: self.prefetch,
            scheduler: self.scheduler,
            stage: stage(self.stage),
            loc: self.loc,
        }
    }

    /// Maps each item on its rail. A panic in `f` fails the stream (rule 2.13, this site).
    #[track_caller]
    pub fn map<U, F>(self, f: F) -> Parallel<P, RailMap<G, F>>
    where
        F: Fn(G::Out) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        let loc = std::panic::Location::caller();
        self.then(|prev| RailMap { prev, f, loc })
    }

    /// Keeps the items for which `f` is true, on their rail. `ordered()` still keeps source
    /// order among the kept ones.
    #[track_caller]
    pub fn filter<F>(self, f: F) -> Parallel<P, RailFilter<G, F>>
    where
        F: Fn(&G::Out) -> bool + Send + Sync + 'static,
    {
        let loc = std::panic::Location::caller();
        self.then(|prev| RailFilter { prev, f, loc })
    }

    /// Maps and filters in one step on the rail: `None` drops the item.
    #[track_caller]
    pub fn filter_map<U, F>(self, f: F) -> Parallel<P, RailFilterMap<G, F>>
    where
        F: Fn(G::Out) -> Option<U> + Send + Sync + 'static,
        U: Send + 'static,
    {
        let loc = std::panic::Location::caller();
        self.then(|prev| RailFilterMap { prev, f, loc })
    }

    /// Folds each rail's items into its own accumulator, starting from a clone of `seed`, on the
    /// rail's lane (Reactor's `ParallelFlux.reduce(seed, f)`). Join with
    /// [`RailFold::sequential`] (one accumulator per rail, in rail order) or combine them with
    /// [`RailFold::reduce`]. A panic in `f` fails the stream (rule 2.13, this site) and stops
    /// the other rails.
    ///
    /// Demand: as for every rail operator, at most `rails × prefetch` items are asked for
    /// ahead, refilled as the rails finish them; since a fold emits nothing
    /// until the end, the rails consume the whole upstream without waiting for downstream
    /// demand (bounded in flight all the same). Over an endless synchronous upstream without
    /// [`run_on`](Self::run_on) that means `subscribe` never returns, as a plain fold's
    /// `blocking_first` would not.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let per_rail = rstreams::range(0, 10)
    ///     .parallel_with(2, 4)
    ///     .run_on_default()
    ///     .fold(0u32, |n, _| n + 1)
    ///     .sequential()
    ///     .to_vec()
    ///     .blocking_first()
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(per_rail.len(), 2);
    /// assert_eq!(per_rail.iter().sum::<u32>(), 10);
    /// ```
    #[doc(alias = "ParallelFlux.reduce")]
    #[track_caller]
    pub fn fold<A, F>(self, seed: A, f: F) -> RailFold<P, G, A, F>
    where
        P: Send + Sync + 'static,
        A: Clone + Send + Sync + 'static,
        F: Fn(A, G::Out) -> A + Send + Sync + 'static,
    {
        let loc = std::panic::Location::caller();
        fold::RailFold::new(self, Arc::new(move || seed.clone()), f, loc)
    }

    /// Reduces each rail with `f`, then the rails' results with `f`, into one value (Reactor's
    /// `ParallelFlux.reduce(f)` → `Mono`); an empty stream completes without a value. `f` must
    /// not care how the items were grouped (an item goes to whichever rail has room).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let max = rstreams::range(0, 1000).parallel().run_on_default().reduce(|a, b| a.max(b));
    /// assert_eq!(max.blocking_first().unwrap(), Some(999));
    /// let none = rstreams::empty::<u64>().parallel().reduce(|a, b| a + b);
    /// assert_eq!(none.blocking_first().unwrap(), None);
    /// ```
    #[track_caller]
    pub fn reduce<F>(self, f: F) -> rstreams_protocol::BoxPublisher<G::Out>
    where
        P: Send + Sync + 'static,
        F: Fn(G::Out, G::Out) -> G::Out + Send + Sync + 'static,
    {
        use crate::PublisherExt;
        let loc = std::panic::Location::caller();
        let f = Arc::new(f);
        let per_rail = Arc::clone(&f);
        let step = move |acc: Option<G::Out>, x: G::Out| {
            Some(match acc {
                None => x,
                Some(a) => per_rail(a, x),
            })
        };
        fold::RailFold::new(self, Arc::new(|| None), step, loc)
            .sequential()
            .filter_map(|r| r)
            .reduce(move |a, b| f(a, b))
            .boxed()
    }

    /// Joins the rails in source order: item `i` is emitted before item `i + 1`, whichever rail
    /// finished first. The reorder buffer holds at most `rails × prefetch` items.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ThreadPool;
    /// use std::sync::Arc;
    /// let pool = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    /// let v = rstreams::range(0, 1000)
    ///     .parallel_with(2, 16)
    ///     .run_on(pool)
    ///     .map(|x| x * 2)
    ///     .filter(|x| x % 3 == 0)
    ///     .ordered()
    ///     .to_vec()
    ///     .blocking_first()
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(v, (0..1000).map(|x| x * 2).filter(|x| x % 3 == 0).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn ordered(self) -> Joined<P, G> {
        self.join(true)
    }

    /// Joins the rails in the order their items finish (round-robin among the rails with
    /// finished items): cheaper than [`ordered`](Self::ordered), no order promised.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ThreadPool;
    /// use std::sync::Arc;
    /// let pool = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    /// let mut v = rstreams::range(0, 100)
    ///     .parallel()
    ///     .run_on(pool)
    ///     .map(|x| x + 1)
    ///     .sequential()
    ///     .to_vec()
    ///     .blocking_first()
    ///     .unwrap()
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, (1..=100).collect::<Vec<_>>());
    /// ```
    #[track_caller]
    pub fn sequential(self) -> Joined<P, G> {
        self.join(false)
    }

    #[track_caller]
    fn join(self, ordered: bool) -> Joined<P, G> {
        Joined {
            upstream: self.upstream,
            rails: self.rails,
            prefetch: self.prefetch,
            scheduler: self.scheduler,
            stage: Arc::new(self.stage),
            loc: self.loc,
            ordered,
            join_loc: std::panic::Location::caller(),
        }
    }
}

/// The rails joined back into one publisher, by [`Parallel::ordered`] or
/// [`Parallel::sequential`]. Each subscription subscribes the upstream once and gets its own
/// rails and lanes.
pub struct Joined<P, G> {
    upstream: P,
    rails: usize,
    prefetch: usize,
    scheduler: Option<Arc<dyn Scheduler>>,
    stage: Arc<G>,
    loc: Loc,
    ordered: bool,
    join_loc: Loc,
}

impl<P: Clone, G> Clone for Joined<P, G> {
    fn clone(&self) -> Self {
        Joined {
            upstream: self.upstream.clone(),
            rails: self.rails,
            prefetch: self.prefetch,
            scheduler: self.scheduler.clone(),
            stage: Arc::clone(&self.stage),
            loc: self.loc,
            ordered: self.ordered,
            join_loc: self.join_loc,
        }
    }
}

impl<P, G> std::fmt::Debug for Joined<P, G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("rails", &self.rails)
            .field("prefetch", &self.prefetch)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl<P, G> Publisher for Joined<P, G>
where
    P: Publisher,
    P::Item: Send + 'static,
    G: RailStage<P::Item>,
{
    type Item = G::Out;
    fn subscribe<S: Subscriber<G::Out> + Send + 'static>(&self, subscriber: S) {
        let r = self;
        if r.rails == 0 || r.prefetch == 0 {
            let what = if r.rails == 0 { "rails" } else { "prefetch" };
            reject(
                subscriber,
                Error::msg(format!(
                    "parallel: {what} must be at least 1, got 0 (no item could ever be \
                     requested and the stream would hang)"
                ))
                .at_stage(r.loc),
            );
            return;
        }
        let core = core::RailsCore::new(
            r.rails,
            r.prefetch,
            r.scheduler.clone(),
            Arc::clone(&r.stage),
            self.ordered,
            self.join_loc,
        );
        core.serve(subscriber);
        r.upstream.subscribe(core.splitter());
    }
}

// ---- buffer bill (issue 12) ----
impl<P: crate::diag::bill::BufferBill, G> crate::diag::bill::BufferBill for Joined<P, G> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        let join = if self.ordered {
            "ordered"
        } else {
            "sequential"
        };
        let join_row = Row::new(join, Some(self.join_loc), Bound::Zero);
        rows.push(if self.ordered {
            join_row.note("reorder buffer: the rails' finished items, counted at parallel")
        } else {
            join_row
        });
        let (rails, prefetch) = (self.rails as u64, self.prefetch as u64);
        let bound = Bound::items(rails.saturating_mul(prefetch));
        let note = format!("{rails} rails x prefetch {prefetch} (queued, in work or done)");
        rows.push(Row::new("parallel", Some(self.loc), bound).note(note));
        self.upstream.bill_rows(rows);
    }
}
