//! `reduce` and `collect`: fold the whole stream, emit one value when it completes.
//!
//! Demand: nothing is requested upstream until the downstream requests (any `n > 0`); then the
//! upstream is asked for `u64::MAX`. The result is emitted once the upstream completed *and* the
//! downstream has requested, whichever happens last, on that signal's thread.

use std::marker::PhantomData;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Loc, closure_panic, guard};

/// How to fold a stream (shared with `fold.rs`).
pub(crate) trait Fold<T>: Send + Sync + 'static {
    type Acc: Send + 'static;
    type Out;
    fn init(&self) -> Self::Acc;
    fn step(&self, acc: &mut Self::Acc, item: T);
    fn finish(&self, acc: Self::Acc) -> Option<Self::Out>;
}

struct ReduceFold<F>(F);

impl<T, F> Fold<T> for ReduceFold<F>
where
    T: Send + 'static,
    F: Fn(T, T) -> T + Send + Sync + 'static,
{
    type Acc = Option<T>;
    type Out = T;
    fn init(&self) -> Option<T> {
        None
    }
    #[inline]
    fn step(&self, acc: &mut Option<T>, item: T) {
        *acc = Some(match acc.take() {
            None => item,
            Some(a) => (self.0)(a, item),
        });
    }
    fn finish(&self, acc: Option<T>) -> Option<T> {
        acc
    }
}

struct CollectFold<C>(PhantomData<fn() -> C>);

impl<T, C> Fold<T> for CollectFold<C>
where
    C: Default + Extend<T> + Send + 'static,
{
    type Acc = C;
    type Out = C;
    fn init(&self) -> C {
        C::default()
    }
    #[inline]
    fn step(&self, acc: &mut C, item: T) {
        acc.extend(std::iter::once(item));
    }
    fn finish(&self, acc: C) -> Option<C> {
        Some(acc)
    }
}

/// The publisher made by [`PublisherExt::reduce`](crate::PublisherExt::reduce).
#[derive(Debug)]
pub struct Reduce<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for Reduce<P, F> {
    fn clone(&self) -> Self {
        Reduce {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

/// The publisher made by [`PublisherExt::collect`](crate::PublisherExt::collect) and
/// [`to_vec`](crate::PublisherExt::to_vec).
#[derive(Debug)]
pub struct Collect<P, C> {
    pub(crate) upstream: P,
    pub(crate) loc: Loc,
    pub(crate) _c: PhantomData<fn() -> C>,
}

impl<P: Clone, C> Clone for Collect<P, C> {
    fn clone(&self) -> Self {
        Collect {
            upstream: self.upstream.clone(),
            loc: self.loc,
            _c: PhantomData,
        }
    }
}

/// `Arc<F>` as a reducing function (the closure is shared by every subscription).
struct SharedFn<F>(Arc<F>);

impl<P, F> Publisher for Reduce<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item, P::Item) -> P::Item + Send + Sync + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let f = SharedFn(Arc::clone(&self.f));
        let fold = ReduceFold(move |a, b| (f.0)(a, b));
        self.upstream
            .subscribe(AggSubscriber::new(subscriber, fold, self.loc));
    }
}

impl<P, C> Publisher for Collect<P, C>
where
    P: Publisher,
    P::Item: 'static,
    C: Default + Extend<P::Item> + Send + 'static,
{
    type Item = C;
    fn subscribe<S: Subscriber<C> + Send + 'static>(&self, subscriber: S) {
        let fold = CollectFold::<C>(PhantomData);
        self.upstream
            .subscribe(AggSubscriber::new(subscriber, fold, self.loc));
    }
}

/// Where the result waits for the downstream's first request.
struct Slot<S, O> {
    requested: bool,
    cancelled: bool,
    ready: Option<(S, O)>,
}

struct AggShared<S, O> {
    slot: Mutex<Slot<S, O>>,
    up: Arc<dyn Subscription>,
}

struct AggSubscription<S, O>(Arc<AggShared<S, O>>);

impl<S, O> Subscription for AggSubscription<S, O>
where
    S: Subscriber<O> + Send,
    O: Send,
{
    fn request(&self, n: u64) {
        let (first, ready) = {
            let mut slot = self.0.slot.lock();
            if slot.cancelled {
                return;
            }
            let first = !slot.requested;
            if n > 0 {
                slot.requested = true;
            }
            (first, slot.ready.take())
        };
        match ready {
            Some((mut down, value)) if n > 0 => {
                down.on_next(value);
                down.on_complete();
            }
            Some((mut down, _)) => down.on_error(rstreams_protocol::Error::violation(
                rstreams_protocol::Rule::R3_9,
                "request(0): demand must be positive",
            )),
            None if n == 0 => self.0.up.request(0),
            None if first => self.0.up.request(u64::MAX),
            None => {}
        }
    }
    fn cancel(&self) {
        {
            let mut slot = self.0.slot.lock();
            slot.cancelled = true;
            slot.ready = None;
        }
        self.0.up.cancel();
    }
}

pub(crate) struct AggSubscriber<S, G: Fold<T>, T> {
    down: Option<S>,
    fold: G,
    acc: Option<G::Acc>,
    shared: Option<Arc<AggShared<S, G::Out>>>,
    loc: Loc,
}

impl<S, G: Fold<T>, T> AggSubscriber<S, G, T> {
    pub(crate) fn new(down: S, fold: G, loc: Loc) -> Self {
        Self {
            down: Some(down),
            fold,
            acc: None,
            shared: None,
            loc,
        }
    }
}

impl<T, S, G> Subscriber<T> for AggSubscriber<S, G, T>
where
    G: Fold<T>,
    G::Out: Send + 'static,
    S: Subscriber<G::Out> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.shared.is_some() || self.down.is_none() {
            s.cancel();
            return;
        }
        let up: Arc<dyn Subscription> = Arc::from(s);
        let shared = Arc::new(AggShared {
            slot: Mutex::new(Slot {
                requested: false,
                cancelled: false,
                ready: None,
            }),
            up,
        });
        self.shared = Some(Arc::clone(&shared));
        match guard(|| self.fold.init()) {
            Ok(acc) => self.acc = Some(acc),
            Err(p) => {
                self.acc = None;
                if let Some(down) = &mut self.down {
                    down.on_subscribe(Box::new(AggSubscription(shared)));
                }
                self.panicked(p);
                return;
            }
        }
        if let Some(down) = &mut self.down {
            down.on_subscribe(Box::new(AggSubscription(shared)));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let Some(acc) = &mut self.acc else { return };
        if let Err(p) = guard(|| self.fold.step(acc, item)) {
            self.panicked(p);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.acc = None;
        match self.down.take() {
            Some(mut down) => down.on_error(error),
            None => rstreams_protocol::report_undeliverable(error),
        }
    }

    fn on_complete(&mut self) {
        let (Some(acc), Some(mut down), Some(shared)) =
            (self.acc.take(), self.down.take(), self.shared.take())
        else {
            return;
        };
        let Some(value) = self.fold.finish(acc) else {
            down.on_complete(); // reduce of nothing: no item, so no demand needed
            return;
        };
        let emit_now = {
            let mut slot = shared.slot.lock();
            if slot.cancelled {
                return;
            }
            if slot.requested {
                true
            } else {
                slot.ready = Some((down, value));
                return;
            }
        };
        if emit_now {
            down.on_next(value);
            down.on_complete();
        }
    }
}

impl<S, G: Fold<T>, T> AggSubscriber<S, G, T>
where
    S: Subscriber<G::Out>,
{
    fn panicked(&mut self, payload: crate::stage::Payload) {
        self.acc = None;
        if let Some(shared) = self.shared.take() {
            shared.up.cancel();
        }
        let error = closure_panic(payload, self.loc);
        if let Some(mut down) = self.down.take() {
            down.on_error(error);
        }
    }
}
