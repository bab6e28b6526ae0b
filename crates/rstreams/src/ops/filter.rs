use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::ops::replenish::{Received, Replenish, ReplenishSubscription};
use crate::sink::BlockingIter;
use crate::source::SyncSource;
use crate::source::fuse::{self, FilterMapSource, FilterSource};
use crate::stage::{Link, Loc, guard};

/// The publisher made by [`PublisherExt::filter`](crate::PublisherExt::filter).
#[derive(Debug)]
pub struct Filter<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for Filter<P, F> {
    fn clone(&self) -> Self {
        Filter {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

/// The publisher made by [`PublisherExt::filter_map`](crate::PublisherExt::filter_map).
#[derive(Debug)]
pub struct FilterMap<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for FilterMap<P, F> {
    fn clone(&self) -> Self {
        FilterMap {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

/// What a dropping stage does with one item: keep it (maybe transformed) or drop it.
pub(crate) trait Decide<T>: Send + 'static {
    type Out;
    /// `Some` to pass on, `None` to drop. May panic (caught by the caller).
    fn decide(&mut self, item: T) -> Option<Self::Out>;
}

/// `filter`'s decision.
pub(crate) struct Keep<F>(pub(crate) Arc<F>);

impl<T, F> Decide<T> for Keep<F>
where
    F: Fn(&T) -> bool + Send + Sync + 'static,
{
    type Out = T;
    #[inline]
    fn decide(&mut self, item: T) -> Option<T> {
        (self.0)(&item).then_some(item)
    }
}

/// `filter_map`'s decision.
pub(crate) struct KeepMap<F>(pub(crate) Arc<F>);

impl<T, R, F> Decide<T> for KeepMap<F>
where
    F: Fn(T) -> Option<R> + Send + Sync + 'static,
{
    type Out = R;
    #[inline]
    fn decide(&mut self, item: T) -> Option<R> {
        (self.0)(item)
    }
}

/// A stage that drops some items and replenishes their demand in batches
/// (see [`replenish`](crate::ops::replenish)).
pub(crate) struct DropSubscriber<S, D> {
    pub(crate) link: Link<S>,
    pub(crate) decide: D,
    pub(crate) demand: Option<Arc<Replenish>>,
    pub(crate) received: Received,
}

impl<S, D> DropSubscriber<S, D> {
    pub(crate) fn new(down: S, decide: D, stage: &'static str, loc: Loc) -> Self {
        Self {
            link: Link::new(down, stage, loc),
            decide,
            demand: None,
            received: Received::default(),
        }
    }
}

impl<T, S, D> Subscriber<T> for DropSubscriber<S, D>
where
    D: Decide<T>,
    S: Subscriber<D::Out>,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            let demand = Replenish::new(up);
            self.demand = Some(Arc::clone(&demand));
            self.link
                .down
                .on_subscribe(Box::new(ReplenishSubscription(demand)));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        match guard(|| self.decide.decide(item)) {
            Ok(Some(out)) => {
                self.link.down.on_next(out);
                if !self.received.unbounded()
                    && let Some(d) = &self.demand
                {
                    self.received.record(d, false);
                }
            }
            Ok(None) => {
                if let Some(d) = &self.demand {
                    self.received.record(d, true);
                }
            }
            Err(p) => self.link.panicked(p),
        }
    }
    fn on_error(&mut self, error: Error) {
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        self.link.upstream_complete();
    }
}

impl<P, F> Publisher for Filter<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let decide = Keep(Arc::clone(&self.f));
        self.upstream
            .subscribe(DropSubscriber::new(subscriber, decide, "filter", self.loc));
    }
}

impl<P, F, R> Publisher for FilterMap<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(P::Item) -> Option<R> + Send + Sync + 'static,
{
    type Item = R;
    fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        let decide = KeepMap(Arc::clone(&self.f));
        self.upstream.subscribe(DropSubscriber::new(
            subscriber,
            decide,
            "filter_map",
            self.loc,
        ));
    }
}

impl<P, F> SyncSource for Filter<P, F>
where
    P: SyncSource,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Source = FilterSource<P::Source, F>;
    fn open(&self) -> Result<Self::Source, Error> {
        Ok(FilterSource {
            up: self.upstream.open()?,
            f: Arc::clone(&self.f),
            loc: self.loc,
        })
    }
    fn source_stage(&self) -> Loc {
        self.upstream.source_stage()
    }
}

impl<P, F, R> SyncSource for FilterMap<P, F>
where
    P: SyncSource,
    P::Item: 'static,
    F: Fn(P::Item) -> Option<R> + Send + Sync + 'static,
{
    type Source = FilterMapSource<P::Source, F>;
    fn open(&self) -> Result<Self::Source, Error> {
        Ok(FilterMapSource {
            up: self.upstream.open()?,
            f: Arc::clone(&self.f),
            loc: self.loc,
        })
    }
    fn source_stage(&self) -> Loc {
        self.upstream.source_stage()
    }
}

/// The fused path over a synchronous source (see [`SyncSource`]): chosen by method-call
/// syntax when the upstream's type is a `SyncSource`.
impl<P, F> Filter<P, F>
where
    P: SyncSource,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    /// [`Publisher::subscribe`], fused: the source and the stages run as one loop under one
    /// subscription; dropped items cost no demand, so nothing is replenished.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 6).filter(|x| x % 2 == 0).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 2, 4]));
    /// ```
    pub fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }

    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused: the
    /// iterator pulls the chain itself, `prefetch` items at a time, on the iterating thread.
    #[track_caller]
    pub fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<P::Item>
    where
        P::Item: Send,
    {
        fuse::blocking_iter_fused(self, prefetch, std::panic::Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) with
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items.
    #[track_caller]
    pub fn blocking_iter(&self) -> BlockingIter<P::Item>
    where
        P::Item: Send,
    {
        self.blocking_iter_with(crate::sink::DEFAULT_BLOCKING_PREFETCH)
    }
}

/// The fused path over a synchronous source (see [`SyncSource`]).
impl<P, F, R> FilterMap<P, F>
where
    P: SyncSource,
    P::Item: 'static,
    F: Fn(P::Item) -> Option<R> + Send + Sync + 'static,
{
    /// [`Publisher::subscribe`], fused (as [`Filter::subscribe`]).
    pub fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }

    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused.
    #[track_caller]
    pub fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<R>
    where
        R: Send + 'static,
    {
        fuse::blocking_iter_fused(self, prefetch, std::panic::Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) with
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items.
    #[track_caller]
    pub fn blocking_iter(&self) -> BlockingIter<R>
    where
        R: Send + 'static,
    {
        self.blocking_iter_with(crate::sink::DEFAULT_BLOCKING_PREFETCH)
    }
}
