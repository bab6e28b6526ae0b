use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

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
            link: Link::new(subscriber, self.loc),
            f: Arc::clone(&self.f),
        });
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
