use std::sync::Arc;

use rstreams_protocol::{Publisher, Subscriber};

use crate::ops::filter::{Decide, DropSubscriber};
use crate::stage::Loc;

/// The publisher made by [`PublisherExt::skip`](crate::PublisherExt::skip).
#[derive(Clone, Debug)]
pub struct Skip<P> {
    pub(crate) upstream: P,
    pub(crate) n: u64,
    pub(crate) loc: Loc,
}

/// The publisher made by [`PublisherExt::skip_while`](crate::PublisherExt::skip_while).
#[derive(Debug)]
pub struct SkipWhile<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for SkipWhile<P, F> {
    fn clone(&self) -> Self {
        SkipWhile {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

struct SkipN(u64);

impl<T> Decide<T> for SkipN {
    type Out = T;
    #[inline]
    fn decide(&mut self, item: T) -> Option<T> {
        if self.0 == 0 {
            Some(item)
        } else {
            self.0 -= 1;
            None
        }
    }
}

struct SkipPred<F> {
    f: Arc<F>,
    skipping: bool,
}

impl<T, F> Decide<T> for SkipPred<F>
where
    F: Fn(&T) -> bool + Send + Sync + 'static,
{
    type Out = T;
    #[inline]
    fn decide(&mut self, item: T) -> Option<T> {
        if self.skipping && (self.f)(&item) {
            return None;
        }
        self.skipping = false;
        Some(item)
    }
}

impl<P> Publisher for Skip<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(DropSubscriber::new(
            subscriber,
            SkipN(self.n),
            "skip",
            self.loc,
        ));
    }
}

impl<P, F> Publisher for SkipWhile<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let decide = SkipPred {
            f: Arc::clone(&self.f),
            skipping: true,
        };
        self.upstream.subscribe(DropSubscriber::new(
            subscriber,
            decide,
            "skip_while",
            self.loc,
        ));
    }
}
