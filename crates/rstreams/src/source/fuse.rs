//! Synchronous fusion: a chain of a pull source and `map`/`filter`/`filter_map`/`take` stages run as one
//! [`Source`], so the whole chain is one counted loop under one subscription (what Reactor calls
//! synchronous fusion), and a [`BlockingIter`] over it pulls on the consumer's own thread.
//!
//! Rust has no specialisation, so the fused path is chosen by type: [`Range`](super::Range),
//! [`FromIter`](super::FromIter) and every `map`/`filter`/`filter_map`/`take` directly over a
//! [`SyncSource`] implement [`SyncSource`] and have *inherent* `subscribe` and `blocking_iter`
//! methods, which method-call syntax prefers over the [`Publisher`]/[`PublisherExt`] ones when
//! the concrete type is known. Generic code (`P: Publisher`) and any other operator in the
//! chain take the ordinary, stage-by-stage path. Both paths deliver the same signals: the fused
//! one is the protocol crate's pull kit serving the fused source, so rules 1.1–1.9, 2.13, 3.x
//! hold as for any source, and a panicking closure still ends the stream with `on_error`
//! naming rule 2.13 and the stage where the closure was given.
//!
//! [`PublisherExt`]: crate::PublisherExt

use std::sync::Arc;

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

pub use super::iter::{IterSource, RangeSource};
use crate::sink::BlockingIter;
use crate::stage::{Loc, Payload, closure_panic, guard, reject};

/// A publisher whose items can be pulled synchronously on the caller's thread: a source with no
/// thread, timer or queue of its own, possibly behind `map`/`filter`/`filter_map` stages.
///
/// Its [`Source`] never returns [`Step::Pending`]. Implemented by [`Range`](super::Range),
/// [`FromIter`](super::FromIter) and by [`Map`](crate::ops::Map),
/// [`Filter`](crate::ops::Filter), [`FilterMap`](crate::ops::FilterMap) and
/// [`Take`](crate::ops::Take) over a `SyncSource`;
/// see the [module documentation](self) for how the fused path is chosen.
pub trait SyncSource: Publisher {
    /// The fused source of one run.
    type Source: Source<Item = Self::Item>;

    /// Starts a fresh run, as `subscribe` would (each run is independent: the publisher is
    /// cold). `Err` is what `subscribe` would have sent as `on_error` straight away.
    fn open(&self) -> Result<Self::Source, Error>;

    /// Where the chain's source was built (named in errors the pull kit raises).
    fn source_stage(&self) -> Loc;
}

/// Makes generic code (`P: Publisher`) take the fused path: a [`Publisher`] whose `subscribe`
/// runs the wrapped [`SyncSource`] as one fused source.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::source::fuse::Fused;
///
/// fn total<P: Publisher<Item = u64>>(p: &P) -> u64 {
///     p.blocking_iter_with(16).map(Result::unwrap).sum()
/// }
/// let chain = Fused(rstreams::range(0, 10).map(|x| x * 2).filter(|x| x % 3 != 0));
/// assert_eq!(total(&chain), 2 + 4 + 8 + 10 + 14 + 16);
/// ```
#[derive(Clone, Debug)]
pub struct Fused<P>(pub P);

impl<P: SyncSource> Publisher for Fused<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        subscribe_fused(&self.0, subscriber);
    }
}

/// Subscribes `subscriber` to the fused chain: one pull kit serving the whole chain.
pub(crate) fn subscribe_fused<P, S>(publisher: &P, subscriber: S)
where
    P: SyncSource,
    S: Subscriber<P::Item> + Send + 'static,
{
    match publisher.open() {
        Ok(source) => {
            pull::serve(source.at(publisher.source_stage()), subscriber);
        }
        Err(error) => reject(subscriber, error),
    }
}

/// A blocking iterator that pulls the fused chain itself, in batches of `prefetch`, on the
/// iterating thread.
pub(crate) fn blocking_iter_fused<P>(
    publisher: &P,
    prefetch: usize,
    loc: Loc,
) -> BlockingIter<P::Item>
where
    P: SyncSource,
    P::Item: Send + 'static,
{
    if prefetch == 0 {
        return crate::sink::blocking_iter(publisher, prefetch, loc);
    }
    match publisher.open() {
        Ok(source) => BlockingIter::pulling(
            Box::new(Puller {
                source: Some(source),
                stage: publisher.source_stage(),
            }),
            prefetch as u64,
        ),
        Err(error) => BlockingIter::failed(error),
    }
}

/// What a pulling [`BlockingIter`] holds: the fused source, type-erased (one virtual call per
/// batch, not per item).
pub(crate) trait PullBatch<T>: Send {
    /// Appends up to `limit` items to `into` (which the caller keeps and reuses); returns the
    /// end of the stream if it was reached.
    fn fill(&mut self, limit: u64, into: &mut Vec<T>) -> Option<Result<(), Error>>;
}

struct Puller<G> {
    /// `None` once the stream ended: the source is dropped then (as the kit does, 1.6/3.13).
    source: Option<G>,
    stage: Loc,
}

impl<G: Source> PullBatch<G::Item> for Puller<G> {
    fn fill(&mut self, limit: u64, into: &mut Vec<G::Item>) -> Option<Result<(), Error>> {
        let source = self.source.as_mut()?;
        into.reserve(usize::try_from(limit).unwrap_or(usize::MAX));
        // Filled as a local whose every push fits the capacity reserved above: with no call
        // left in the loop (no growth path) its length stays in a register, one store per
        // item instead of a store and reloads. A source handing over more than `limit` (a
        // broken one) has its extra item kept in `spill` and is stopped there, as a
        // cancelling `emit` stops it: nothing is lost, the next fill resumes it.
        let mut batch = std::mem::take(into);
        let mut spill = None;
        let stop = guard(|| {
            source
                .pull_many(limit, |item| {
                    if batch.len() < batch.capacity() {
                        batch.push(item);
                        true
                    } else {
                        spill = Some(item);
                        false
                    }
                })
                .1
        });
        batch.extend(spill);
        *into = batch;
        let end = match stop {
            Ok(None) => return None,
            Ok(Some(Step::Next(_))) => unreachable!("pull_many reports stops, not items"),
            Ok(Some(Step::Complete)) => Ok(()),
            Ok(Some(Step::Error(error))) => Err(error),
            Ok(Some(Step::Pending)) => Err(Error::violation(
                Rule::R1_1,
                "a SyncSource returned Step::Pending: it must be able to produce synchronously",
            )
            .at_stage(self.stage)),
            // The source itself panicked (closures are guarded by their stages): rule 1.4.
            Err(payload) => Err(Error::from_panic(Rule::R1_4, payload).at_stage(self.stage)),
        };
        self.source = None;
        Some(end)
    }
}

/// `map` fused into its upstream source.
pub struct MapSource<G, F> {
    pub(crate) up: G,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<G, F> std::fmt::Debug for MapSource<G, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapSource")
            .field("stage", &self.loc)
            .finish()
    }
}

impl<G, F, R> Source for MapSource<G, F>
where
    G: Source,
    F: Fn(G::Item) -> R + Send + Sync + 'static,
{
    type Item = R;

    fn stage_name(&self) -> &'static str {
        "map"
    }

    fn pull(&mut self) -> Step<R> {
        match self.up.pull() {
            Step::Next(item) => match guard(|| (self.f)(item)) {
                Ok(out) => Step::Next(out),
                Err(p) => Step::Error(closure_panic(p, self.loc)),
            },
            stop => cast_stop(stop),
        }
    }

    fn is_exhausted(&mut self) -> bool {
        self.up.is_exhausted()
    }

    #[inline]
    fn pull_many<E>(&mut self, limit: u64, mut emit: E) -> (u64, Option<Step<R>>)
    where
        E: FnMut(R) -> bool,
    {
        let f = &*self.f;
        let mut failed: Option<Payload> = None;
        let (handed, stop) = self.up.pull_many(limit, |item| match guard(|| f(item)) {
            Ok(out) => emit(out),
            Err(p) => {
                failed = Some(p);
                false
            }
        });
        match failed {
            // The item whose closure panicked was handed to us but never emitted.
            Some(p) => (handed - 1, Some(Step::Error(closure_panic(p, self.loc)))),
            None => (handed, stop.map(cast_stop)),
        }
    }
}

/// `filter` fused into its upstream source. Dropped items cost no downstream demand: the loop
/// pulls until `limit` items were kept (nothing to replenish).
pub struct FilterSource<G, F> {
    pub(crate) up: G,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

/// `filter_map` fused into its upstream source (as [`FilterSource`]).
pub struct FilterMapSource<G, F> {
    pub(crate) up: G,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<G, F> std::fmt::Debug for FilterSource<G, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterSource")
            .field("stage", &self.loc)
            .finish()
    }
}

impl<G, F> std::fmt::Debug for FilterMapSource<G, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterMapSource")
            .field("stage", &self.loc)
            .finish()
    }
}

impl<G, F> Source for FilterSource<G, F>
where
    G: Source,
    F: Fn(&G::Item) -> bool + Send + Sync + 'static,
{
    type Item = G::Item;

    fn stage_name(&self) -> &'static str {
        "filter"
    }

    fn pull(&mut self) -> Step<G::Item> {
        let f = &*self.f;
        decide_pull(&mut self.up, |x| f(&x).then_some(x), self.loc)
    }

    fn is_exhausted(&mut self) -> bool {
        self.up.is_exhausted()
    }

    #[inline]
    fn pull_many<E>(&mut self, limit: u64, emit: E) -> (u64, Option<Step<G::Item>>)
    where
        E: FnMut(G::Item) -> bool,
    {
        let f = &*self.f;
        decide_pull_many(&mut self.up, limit, emit, |x| f(&x).then_some(x), self.loc)
    }
}

impl<G, F, R> Source for FilterMapSource<G, F>
where
    G: Source,
    F: Fn(G::Item) -> Option<R> + Send + Sync + 'static,
{
    type Item = R;

    fn stage_name(&self) -> &'static str {
        "filter_map"
    }

    fn pull(&mut self) -> Step<R> {
        decide_pull(&mut self.up, &*self.f, self.loc)
    }

    fn is_exhausted(&mut self) -> bool {
        self.up.is_exhausted()
    }

    #[inline]
    fn pull_many<E>(&mut self, limit: u64, emit: E) -> (u64, Option<Step<R>>)
    where
        E: FnMut(R) -> bool,
    {
        decide_pull_many(&mut self.up, limit, emit, &*self.f, self.loc)
    }
}

/// One kept item (or the end) from `up`, dropping what `decide` rejects.
fn decide_pull<G: Source, U>(
    up: &mut G,
    decide: impl Fn(G::Item) -> Option<U>,
    loc: Loc,
) -> Step<U> {
    loop {
        match up.pull() {
            Step::Next(item) => match guard(|| decide(item)) {
                Ok(Some(out)) => return Step::Next(out),
                Ok(None) => {}
                Err(p) => return Step::Error(closure_panic(p, loc)),
            },
            stop => return cast_stop(stop),
        }
    }
}

/// Up to `limit` kept items from `up`, each to `emit`; dropped items do not count.
#[inline]
fn decide_pull_many<G: Source, U>(
    up: &mut G,
    limit: u64,
    mut emit: impl FnMut(U) -> bool,
    decide: impl Fn(G::Item) -> Option<U>,
    loc: Loc,
) -> (u64, Option<Step<U>>) {
    let mut kept = 0;
    let mut failed: Option<Payload> = None;
    let mut cancelled = false;
    while kept != limit {
        let (_, stop) = up.pull_many(limit - kept, |item| match guard(|| decide(item)) {
            Ok(Some(out)) => {
                kept += 1;
                cancelled = !emit(out);
                !cancelled
            }
            Ok(None) => true,
            Err(p) => {
                failed = Some(p);
                false
            }
        });
        if let Some(p) = failed {
            return (kept, Some(Step::Error(closure_panic(p, loc))));
        }
        if cancelled {
            return (kept, None);
        }
        if let Some(stop) = stop {
            return (kept, Some(cast_stop(stop)));
        }
    }
    (kept, None)
}

/// `take` fused into its upstream source: at most `remaining` more items, then `Complete`
/// (the upstream source is dropped with the run, as the stage-by-stage `take` cancels it).
#[derive(Debug)]
pub struct TakeSource<G> {
    pub(crate) up: G,
    pub(crate) remaining: u64,
}

impl<G: Source> Source for TakeSource<G> {
    type Item = G::Item;

    fn stage_name(&self) -> &'static str {
        "take"
    }

    fn pull(&mut self) -> Step<G::Item> {
        if self.remaining == 0 {
            return Step::Complete;
        }
        let step = self.up.pull();
        if matches!(step, Step::Next(_)) {
            self.remaining -= 1;
        }
        step
    }

    fn is_exhausted(&mut self) -> bool {
        self.remaining == 0 || self.up.is_exhausted()
    }

    #[inline]
    fn pull_many<E>(&mut self, limit: u64, emit: E) -> (u64, Option<Step<G::Item>>)
    where
        E: FnMut(G::Item) -> bool,
    {
        if self.remaining == 0 {
            return (0, Some(Step::Complete));
        }
        let (handed, stop) = self.up.pull_many(limit.min(self.remaining), emit);
        self.remaining -= handed;
        match stop {
            None if self.remaining == 0 => (handed, Some(Step::Complete)),
            stop => (handed, stop),
        }
    }
}

/// A stop step retyped for the downstream item (`pull_many` never reports `Next` as its stop;
/// `pull` callers pass only the non-`Next` arms).
#[inline]
fn cast_stop<T, U>(step: Step<T>) -> Step<U> {
    match step {
        Step::Complete | Step::Next(_) => Step::Complete,
        Step::Error(e) => Step::Error(e),
        Step::Pending => Step::Pending,
    }
}
