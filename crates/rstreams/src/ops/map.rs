use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::sink::BlockingIter;
use crate::source::SyncSource;
use crate::source::fuse::{self, MapSource};
use crate::stage::{Link, Loc, guard};

/// The publisher made by [`PublisherExt::map`](crate::PublisherExt::map).
#[derive(Debug)]
pub struct Map<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for Map<P, F> {
    fn clone(&self) -> Self {
        Map {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

impl<P, F, R> Publisher for Map<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> R + Send + Sync + 'static,
{
    type Item = R;
    fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(MapSubscriber {
            link: Link::new(subscriber, "map", self.loc),
            f: Arc::clone(&self.f),
        });
    }
}

impl<P, F, R> SyncSource for Map<P, F>
where
    P: SyncSource,
    F: Fn(P::Item) -> R + Send + Sync + 'static,
{
    type Source = MapSource<P::Source, F>;
    fn open(&self) -> Result<Self::Source, rstreams_protocol::Error> {
        Ok(MapSource {
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
impl<P, F, R> Map<P, F>
where
    P: SyncSource,
    F: Fn(P::Item) -> R + Send + Sync + 'static,
{
    /// [`Publisher::subscribe`], fused: the source and this stage run as one loop under one
    /// subscription. Same signals as the stage-by-stage path.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 3).map(|x| x * 2).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 2, 4]));
    /// ```
    pub fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }

    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused: the
    /// iterator pulls the chain itself, `prefetch` items at a time, on the iterating thread.
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

struct MapSubscriber<S, F> {
    link: Link<S>,
    f: Arc<F>,
}

impl<T, R, S, F> Subscriber<T> for MapSubscriber<S, F>
where
    F: Fn(T) -> R,
    S: Subscriber<R>,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        // Pass-through: the downstream requests from the upstream directly.
        if let Some(up) = self.link.accept(s) {
            self.link.down.on_subscribe(Box::new(up));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        match guard(|| (self.f)(item)) {
            Ok(r) => self.link.down.on_next(r),
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
