use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Link, Loc, guard};

/// The publisher made by [`PublisherExt::scan`](crate::PublisherExt::scan).
#[derive(Debug)]
pub struct Scan<P, A, F> {
    pub(crate) upstream: P,
    pub(crate) seed: A,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, A: Clone, F> Clone for Scan<P, A, F> {
    fn clone(&self) -> Self {
        Scan {
            upstream: self.upstream.clone(),
            seed: self.seed.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

impl<P, A, F> Publisher for Scan<P, A, F>
where
    P: Publisher,
    A: Clone + Send + 'static,
    F: Fn(&A, P::Item) -> A + Send + Sync + 'static,
{
    type Item = A;
    fn subscribe<S: Subscriber<A> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(ScanSubscriber {
            link: Link::new(subscriber, "scan", self.loc),
            acc: self.seed.clone(),
            f: Arc::clone(&self.f),
        });
    }
}

struct ScanSubscriber<S, A, F> {
    link: Link<S>,
    acc: A,
    f: Arc<F>,
}

impl<T, S, A, F> Subscriber<T> for ScanSubscriber<S, A, F>
where
    S: Subscriber<A>,
    A: Clone,
    F: Fn(&A, T) -> A,
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
        match guard(|| (self.f)(&self.acc, item)) {
            Ok(next) => {
                self.acc = next;
                self.link.down.on_next(self.acc.clone());
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
