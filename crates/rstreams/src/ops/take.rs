use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::sink::BlockingIter;
use crate::source::SyncSource;
use crate::source::fuse::{self, TakeSource};
use crate::stage::{Link, Loc, guard};

/// The publisher made by [`PublisherExt::take`](crate::PublisherExt::take).
#[derive(Clone, Debug)]
pub struct Take<P> {
    pub(crate) upstream: P,
    pub(crate) n: u64,
    pub(crate) loc: Loc,
}

/// The publisher made by [`PublisherExt::take_while`](crate::PublisherExt::take_while).
#[derive(Debug)]
pub struct TakeWhile<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for TakeWhile<P, F> {
    fn clone(&self) -> Self {
        TakeWhile {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

impl<P> Publisher for Take<P>
where
    P: Publisher,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(TakeSubscriber {
            link: Link::new(subscriber, "take", self.loc),
            remaining: self.n,
            capped: None,
        });
    }
}

impl<P: SyncSource> SyncSource for Take<P> {
    type Source = TakeSource<P::Source>;
    fn open(&self) -> Result<Self::Source, Error> {
        Ok(TakeSource {
            up: self.upstream.open()?,
            remaining: self.n,
        })
    }
    fn source_stage(&self) -> Loc {
        self.upstream.source_stage()
    }
}

/// The fused path over a synchronous source (see [`SyncSource`]): chosen by method-call
/// syntax when the upstream's type is a `SyncSource`.
impl<P: SyncSource> Take<P> {
    /// [`Publisher::subscribe`], fused: the source and the stages run as one loop under one
    /// subscription, which completes after `n` items.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, u64::MAX).take(3).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 1, 2]));
    /// ```
    pub fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }

    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused: the
    /// iterator pulls the chain itself, `prefetch` items at a time, on the iterating thread.
    #[track_caller]
    pub fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        fuse::blocking_iter_fused(self, prefetch, std::panic::Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) with
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items.
    #[track_caller]
    pub fn blocking_iter(&self) -> BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        self.blocking_iter_with(crate::sink::DEFAULT_BLOCKING_PREFETCH)
    }
}

/// Forwards requests, capping their running total at `cap`.
struct Capped {
    cap: u64,
    asked: AtomicU64,
    /// The downstream cancelled: `take` must not complete on its own afterwards (rule 1.8).
    cancelled: AtomicBool,
    up: Arc<dyn Subscription>,
}

struct CappedSubscription(Arc<Capped>);

impl Subscription for CappedSubscription {
    fn request(&self, n: u64) {
        let c = &self.0;
        if n == 0 {
            c.up.request(0); // the upstream answers with the rule-3.9 error
            return;
        }
        let cap = c.cap;
        let prev = c
            .asked
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |asked| {
                (asked < cap).then(|| cap.min(asked.saturating_add(n)))
            });
        if let Ok(prev) = prev {
            c.up.request(cap.min(prev.saturating_add(n)) - prev);
        }
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.up.cancel();
    }
}

struct TakeSubscriber<S> {
    link: Link<S>,
    remaining: u64,
    capped: Option<Arc<Capped>>,
}

impl<S> TakeSubscriber<S> {
    fn downstream_cancelled(&self) -> bool {
        self.capped
            .as_ref()
            .is_some_and(|c| c.cancelled.load(Ordering::Acquire))
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let Some(up) = self.link.accept(s) else {
            return;
        };
        let capped = Arc::new(Capped {
            cap: self.remaining,
            asked: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            up,
        });
        self.capped = Some(Arc::clone(&capped));
        self.link
            .down
            .on_subscribe(Box::new(CappedSubscription(capped)));
        if self.remaining == 0 && !self.link.done && !self.downstream_cancelled() {
            self.link.finish();
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        self.remaining -= 1;
        self.link.down.on_next(item);
        if self.remaining == 0 && !self.link.done {
            if self.downstream_cancelled() {
                self.link.cancel_upstream();
            } else {
                self.link.finish();
            }
        }
    }
    fn on_error(&mut self, error: Error) {
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        self.link.upstream_complete();
    }
}

impl<P, F> Publisher for TakeWhile<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(TakeWhileSubscriber {
            link: Link::new(subscriber, "take_while", self.loc),
            f: Arc::clone(&self.f),
        });
    }
}

struct TakeWhileSubscriber<S, F> {
    link: Link<S>,
    f: Arc<F>,
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            self.link.down.on_subscribe(Box::new(up));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        match guard(|| (self.f)(&item)) {
            Ok(true) => self.link.down.on_next(item),
            Ok(false) => self.link.finish(),
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
