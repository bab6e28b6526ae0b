//! `fold(seed, f)`: Rust's `Iterator::fold` over a stream (Reactor's `reduce(seed, f)`), on the
//! aggregate core of `aggregate.rs` (same demand and emission rules as `reduce`).

use std::sync::Arc;

use parking_lot::Mutex;

use rstreams_protocol::{Publisher, Subscriber};

use super::aggregate::{AggSubscriber, Fold as Folding};
use crate::stage::Loc;

/// The publisher made by [`PublisherExt::fold`](crate::PublisherExt::fold).
#[derive(Debug)]
pub struct Fold<P, A, F> {
    pub(crate) upstream: P,
    pub(crate) seed: A,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, A: Clone, F> Clone for Fold<P, A, F> {
    fn clone(&self) -> Self {
        Fold {
            upstream: self.upstream.clone(),
            seed: self.seed.clone(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        }
    }
}

/// One subscription's fold: its own clone of the seed (moved out once, at `init`; the mutex only
/// spares `A` a `Sync` bound), the shared closure.
struct SeedFold<A, F> {
    seed: Mutex<Option<A>>,
    f: Arc<F>,
}

impl<T, A, F> Folding<T> for SeedFold<A, F>
where
    A: Send + 'static,
    F: Fn(A, T) -> A + Send + Sync + 'static,
{
    type Acc = Option<A>;
    type Out = A;
    fn init(&self) -> Option<A> {
        self.seed.lock().take()
    }
    #[inline]
    fn step(&self, acc: &mut Option<A>, item: T) {
        // `take` first: if `f` panics the accumulator is gone, and the stage fails anyway.
        if let Some(a) = acc.take() {
            *acc = Some((self.f)(a, item));
        }
    }
    fn finish(&self, acc: Option<A>) -> Option<A> {
        acc
    }
}

impl<P, A, F> Publisher for Fold<P, A, F>
where
    P: Publisher,
    P::Item: 'static,
    A: Clone + Send + 'static,
    F: Fn(A, P::Item) -> A + Send + Sync + 'static,
{
    type Item = A;
    fn subscribe<S: Subscriber<A> + Send + 'static>(&self, subscriber: S) {
        let fold = SeedFold {
            seed: Mutex::new(Some(self.seed.clone())),
            f: Arc::clone(&self.f),
        };
        self.upstream
            .subscribe(AggSubscriber::new(subscriber, fold, self.loc));
    }
}
