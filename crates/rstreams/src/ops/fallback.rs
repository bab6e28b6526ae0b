//! The small fallbacks and prefixes: [`OnErrorReturn`], [`SwitchIfEmpty`] (and
//! `default_if_empty`, a `SwitchIfEmpty` over [`Just`]) and [`StartWith`].
//!
//! All three are sequences of two publishers, so they run on the same machinery as
//! [`concat`](crate::concat) and [`on_error_resume`](crate::PublisherExt::on_error_resume)
//! (`ops::sequence`): one subscription for the downstream, its unmet demand carried over to the
//! second publisher exactly, constant stack however the publishers complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::ops::sequence::{self, Either, Ended, Next, Successor};
use crate::source::Just;
use crate::stage::Loc;

/// The publisher made by
/// [`PublisherExt::on_error_return`](crate::PublisherExt::on_error_return): on the upstream's
/// error, emits a clone of `value` (once the downstream has demand for it) and completes.
///
/// Buffer: none beyond the one fallback value. A rule-3.9 error (the answer to the downstream's
/// own `request(0)`) is not recovered from, as in `on_error_resume`.
#[derive(Debug)]
pub struct OnErrorReturn<P, T> {
    pub(crate) upstream: Arc<P>,
    pub(crate) value: T,
    pub(crate) loc: Loc,
}

impl<P, T: Clone> Clone for OnErrorReturn<P, T> {
    fn clone(&self) -> Self {
        OnErrorReturn {
            upstream: Arc::clone(&self.upstream),
            value: self.value.clone(),
            loc: self.loc,
        }
    }
}

struct ReturnNext<P, T> {
    upstream: Option<Arc<P>>,
    value: Option<T>,
    loc: Loc,
}

impl<P, T> Successor for ReturnNext<P, T>
where
    P: Publisher<Item = T> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Item = T;
    type Pub = Either<Arc<P>, Just<T>>;
    fn next(&mut self, ended: Ended) -> Next<Self::Pub> {
        match ended {
            Ended::Start => match self.upstream.take() {
                Some(up) => Next::Subscribe(Either::Left(up)),
                None => Next::Complete,
            },
            Ended::Complete => Next::Complete,
            Ended::Error(error) if error.rule() == Some(Rule::R3_9) => Next::Error(error),
            Ended::Error(error) => match self.value.take() {
                Some(value) => {
                    tracing::debug!(%error, stage = %self.loc, "on_error_return: replacing the error");
                    Next::Subscribe(Either::Right(crate::source::just(value)))
                }
                None => Next::Error(error),
            },
        }
    }
}

impl<P, T> Publisher for OnErrorReturn<P, T>
where
    P: Publisher<Item = T> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        sequence::start(
            subscriber,
            ReturnNext {
                upstream: Some(Arc::clone(&self.upstream)),
                value: Some(self.value.clone()),
                loc: self.loc,
            },
        );
    }
}

/// The publisher made by
/// [`PublisherExt::switch_if_empty`](crate::PublisherExt::switch_if_empty) and
/// [`default_if_empty`](crate::PublisherExt::default_if_empty): when the upstream completes
/// without a single item, continues with `other`, asking it for exactly the demand the
/// downstream has left. An upstream error is passed on (`other` is not subscribed).
///
/// Buffer: none (`other` is subscribed only after the upstream completed empty).
#[derive(Debug)]
pub struct SwitchIfEmpty<P, Q> {
    pub(crate) upstream: Arc<P>,
    pub(crate) other: Arc<Q>,
    pub(crate) loc: Loc,
}

impl<P, Q> Clone for SwitchIfEmpty<P, Q> {
    fn clone(&self) -> Self {
        SwitchIfEmpty {
            upstream: Arc::clone(&self.upstream),
            other: Arc::clone(&self.other),
            loc: self.loc,
        }
    }
}

/// The upstream, subscribed through a subscriber that records whether any item went by.
struct Watched<P> {
    upstream: Arc<P>,
    seen: Arc<AtomicBool>,
}

impl<P: Publisher> Publisher for Watched<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(WatchSubscriber {
            down: subscriber,
            any: false,
            seen: Arc::clone(&self.seen),
        });
    }
}

struct WatchSubscriber<S> {
    down: S,
    /// A plain field on the hot path; published to `seen` once, at completion.
    any: bool,
    seen: Arc<AtomicBool>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for WatchSubscriber<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.down.on_subscribe(s);
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        self.any = true;
        self.down.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.down.on_error(error);
    }
    fn on_complete(&mut self) {
        // SeqCst store: read by the successor on the same hand-over path (same thread), the
        // ordering is belt and braces.
        self.seen.store(self.any, Ordering::SeqCst);
        self.down.on_complete();
    }
}

struct EmptyNext<P, Q> {
    upstream: Option<Arc<P>>,
    other: Option<Arc<Q>>,
    seen: Arc<AtomicBool>,
}

impl<P, Q> Successor for EmptyNext<P, Q>
where
    P: Publisher + Send + Sync + 'static,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
{
    type Item = P::Item;
    type Pub = Either<Watched<P>, Arc<Q>>;
    fn next(&mut self, ended: Ended) -> Next<Self::Pub> {
        match ended {
            Ended::Start => match self.upstream.take() {
                Some(upstream) => Next::Subscribe(Either::Left(Watched {
                    upstream,
                    seen: Arc::clone(&self.seen),
                })),
                None => Next::Complete,
            },
            Ended::Complete if !self.seen.load(Ordering::SeqCst) => match self.other.take() {
                Some(other) => Next::Subscribe(Either::Right(other)),
                None => Next::Complete,
            },
            Ended::Complete => Next::Complete,
            Ended::Error(error) => Next::Error(error),
        }
    }
}

impl<P, Q> Publisher for SwitchIfEmpty<P, Q>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let _ = self.loc;
        sequence::start(
            subscriber,
            EmptyNext {
                upstream: Some(Arc::clone(&self.upstream)),
                other: Some(Arc::clone(&self.other)),
                seen: Arc::new(AtomicBool::new(false)),
            },
        );
    }
}

/// The publisher made by [`PublisherExt::start_with`](crate::PublisherExt::start_with): emits
/// the given items (clones, for each subscriber), then every item of the upstream, which is
/// subscribed only once the prefix has been delivered.
///
/// Buffer: the prefix itself, shared by every subscriber (`Arc<[T]>`); nothing per item.
#[derive(Debug)]
pub struct StartWith<P, T> {
    pub(crate) upstream: Arc<P>,
    pub(crate) prefix: Arc<[T]>,
    pub(crate) loc: Loc,
}

impl<P, T> Clone for StartWith<P, T> {
    fn clone(&self) -> Self {
        StartWith {
            upstream: Arc::clone(&self.upstream),
            prefix: Arc::clone(&self.prefix),
            loc: self.loc,
        }
    }
}

/// The prefix as a publisher: one clone per unit of demand.
struct Prefix<T> {
    items: Arc<[T]>,
    loc: Loc,
}

struct PrefixSource<T> {
    items: Arc<[T]>,
    at: usize,
}

impl<T: Clone + Send + Sync + 'static> Source for PrefixSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "start_with"
    }
    fn pull(&mut self) -> Step<T> {
        match self.items.get(self.at) {
            Some(item) => {
                self.at += 1;
                Step::Next(item.clone())
            }
            None => Step::Complete,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        self.at >= self.items.len()
    }
}

impl<T: Clone + Send + Sync + 'static> Publisher for Prefix<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let source = PrefixSource {
            items: Arc::clone(&self.items),
            at: 0,
        };
        pull::serve(source.at(self.loc), subscriber);
    }
}

struct PrefixNext<P, T> {
    prefix: Option<Prefix<T>>,
    upstream: Option<Arc<P>>,
}

impl<P, T> Successor for PrefixNext<P, T>
where
    P: Publisher<Item = T> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Item = T;
    type Pub = Either<Prefix<T>, Arc<P>>;
    fn next(&mut self, ended: Ended) -> Next<Self::Pub> {
        match ended {
            Ended::Error(error) => Next::Error(error),
            Ended::Start | Ended::Complete => {
                if let Some(prefix) = self.prefix.take() {
                    Next::Subscribe(Either::Left(prefix))
                } else if let Some(up) = self.upstream.take() {
                    Next::Subscribe(Either::Right(up))
                } else {
                    Next::Complete
                }
            }
        }
    }
}

impl<P, T> Publisher for StartWith<P, T>
where
    P: Publisher<Item = T> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        sequence::start(
            subscriber,
            PrefixNext {
                prefix: Some(Prefix {
                    items: Arc::clone(&self.prefix),
                    loc: self.loc,
                }),
                upstream: Some(Arc::clone(&self.upstream)),
            },
        );
    }
}
