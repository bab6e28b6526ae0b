use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::ops::sequence::{self, Either, Ended, Next, Successor};
use crate::stage::{Link, Loc, closure_panic, guard};

/// The publisher made by [`PublisherExt::on_error_resume`](crate::PublisherExt::on_error_resume).
#[derive(Debug)]
pub struct OnErrorResume<P, F> {
    pub(crate) upstream: Arc<P>,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P, F> Clone for OnErrorResume<P, F> {
    fn clone(&self) -> Self {
        OnErrorResume {
            upstream: Arc::clone(&self.upstream),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

struct ResumeNext<P, F> {
    upstream: Option<Arc<P>>,
    f: Option<Arc<F>>,
    loc: Loc,
}

impl<P, F, Q> Successor for ResumeNext<P, F>
where
    P: Publisher + Send + Sync + 'static,
    F: Fn(Error) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = P::Item>,
{
    type Item = P::Item;
    type Pub = Either<Arc<P>, Q>;
    fn next(&mut self, ended: Ended) -> Next<Self::Pub> {
        match ended {
            Ended::Start => match self.upstream.take() {
                Some(up) => Next::Subscribe(Either::Left(up)),
                None => Next::Complete,
            },
            Ended::Complete => Next::Complete,
            // A rule-3.9 error answers the downstream's own `request(0)`: recovering from it
            // would hide the downstream's bug, so it goes through.
            Ended::Error(error) if error.rule() == Some(Rule::R3_9) => Next::Error(error),
            Ended::Error(error) => match self.f.take() {
                // Only the first error is recovered; the fallback's own error goes downstream.
                Some(f) => match guard(|| f(error)) {
                    Ok(fallback) => Next::Subscribe(Either::Right(fallback)),
                    Err(p) => Next::Error(closure_panic(p, self.loc)),
                },
                None => Next::Error(error),
            },
        }
    }
}

impl<P, F, Q> Publisher for OnErrorResume<P, F>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    F: Fn(Error) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = P::Item> + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        sequence::start(
            subscriber,
            ResumeNext {
                upstream: Some(Arc::clone(&self.upstream)),
                f: Some(Arc::clone(&self.f)),
                loc: self.loc,
            },
        );
    }
}

/// The publisher made by [`PublisherExt::on_error_map`](crate::PublisherExt::on_error_map).
#[derive(Debug)]
pub struct OnErrorMap<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for OnErrorMap<P, F> {
    fn clone(&self) -> Self {
        OnErrorMap {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

impl<P, F> Publisher for OnErrorMap<P, F>
where
    P: Publisher,
    F: Fn(Error) -> Error + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(ErrorMapSubscriber {
            link: Link::new(subscriber, "on_error_map", self.loc),
            f: Arc::clone(&self.f),
        });
    }
}

struct ErrorMapSubscriber<S, F> {
    link: Link<S>,
    f: Arc<F>,
}

impl<T, S, F> Subscriber<T> for ErrorMapSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(Error) -> Error,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            self.link.down.on_subscribe(Box::new(up));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.done {
            self.link.down.on_next(item);
        }
    }
    fn on_error(&mut self, error: Error) {
        if self.link.done {
            self.link.upstream_error(error);
            return;
        }
        let mapped = match guard(|| (self.f)(error)) {
            Ok(e) => e,
            Err(p) => closure_panic(p, self.link.loc),
        };
        self.link.upstream_error(mapped);
    }
    fn on_complete(&mut self) {
        self.link.upstream_complete();
    }
}
