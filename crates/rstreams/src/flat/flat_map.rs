use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use super::core::{MergeCore, Mode, ScalarLane};
use crate::stage::{Loc, guard, reject};

/// The publisher made by [`PublisherExt::flat_map`](crate::PublisherExt::flat_map),
/// [`concat_map`](crate::PublisherExt::concat_map) (which is `flat_map` with
/// `max_concurrency = 1`, so inners run one after another, in order),
/// [`flat_map_sequential`](crate::PublisherExt::flat_map_sequential) and
/// [`switch_map`](crate::PublisherExt::switch_map): one merging core, four ways of taking items.
///
/// Demand (`flat_map`, `concat_map`, `flat_map_sequential`): the upstream is asked for
/// `max_concurrency` items (each becomes an inner publisher), then for one more each time an
/// inner completes and its items have gone downstream.
///
/// Scalar inners (`flat_map` only): a [`just`](crate::just), [`once`](crate::once) or
/// [`empty`](crate::empty) inner (by its concrete type; a boxed one is not recognised) is not
/// subscribed. Its value goes downstream at once when there is demand (on the calling thread,
/// unless another thread is delivering for the merge just then), or waits in one shared queue
/// of at most
/// `min(max_concurrency, 256)` values (beyond that, as an ordinary inner); emitted values are
/// replaced from the upstream in batches of 75% of `max_concurrency`, and an `empty` inner's
/// place at once. Each inner is asked for `prefetch` items,
/// then for 75% of `prefetch` each time that many of its items went downstream, so at most
/// `max_concurrency × prefetch` items are buffered. `flat_map` takes runs of items from the
/// inners in turn (fair); `flat_map_sequential` only from the oldest inner, so the output keeps
/// the upstream's order.
///
/// `switch_map`: the upstream is asked for everything (its items are never buffered: each one
/// replaces the current inner at once); the current inner is asked for exactly the downstream's
/// outstanding demand, at most `prefetch` (256) in flight, so a switch never over-delivers and
/// at most 256 items are buffered.
///
/// The first error (upstream, inner, or a panic in `f`) cancels everything and is delivered at
/// once; a downstream cancel cancels the upstream and every live inner and drops their buffers.
pub struct FlatMap<P, F> {
    pub(crate) upstream: P,
    pub(crate) f: Arc<F>,
    pub(crate) max_concurrency: usize,
    pub(crate) prefetch: usize,
    pub(crate) name: &'static str,
    pub(crate) mode: Mode,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for FlatMap<P, F> {
    fn clone(&self) -> Self {
        FlatMap {
            upstream: self.upstream.clone(),
            f: Arc::clone(&self.f),
            max_concurrency: self.max_concurrency,
            prefetch: self.prefetch,
            name: self.name,
            mode: self.mode,
            loc: self.loc,
        }
    }
}

impl<P: std::fmt::Debug, F> std::fmt::Debug for FlatMap<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.name)
            .field("upstream", &self.upstream)
            .field("max_concurrency", &self.max_concurrency)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for FlatMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher + 'static,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item> + Send + 'static>(&self, subscriber: S) {
        if let Err(e) =
            MergeCore::<Q::Item>::validate(self.name, self.max_concurrency, self.prefetch)
        {
            reject(subscriber, e.at_stage(self.loc));
            return;
        }
        let core = MergeCore::new(self.mode, self.max_concurrency, self.prefetch, self.loc);
        core.serve(subscriber);
        if core.is_finished() {
            return; // cancelled from on_subscribe: never subscribe upstream
        }
        let lane = core.scalar_lane();
        self.upstream.subscribe(Outer {
            core,
            lane,
            f: Arc::clone(&self.f),
            loc: self.loc,
            done: false,
        });
    }
}

/// Subscribed to the upstream of publishers.
struct Outer<T: Send + 'static, F> {
    core: Arc<MergeCore<T>>,
    /// Where scalar inners (`just`, `once`, `empty`) go, with no inner subscription.
    lane: ScalarLane<T>,
    f: Arc<F>,
    loc: Loc,
    done: bool,
}

impl<X, T, F, Q> Subscriber<X> for Outer<T, F>
where
    T: Send + 'static,
    F: Fn(X) -> Q,
    Q: Publisher<Item = T> + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(s) = self.core.set_outer(s) {
            self.lane.set_outer(s);
        }
    }
    fn on_next(&mut self, item: X) {
        if self.done {
            return;
        }
        match guard(|| (self.f)(item)) {
            Ok(inner) => self.core.add_inner(&inner, &mut self.lane),
            Err(p) => {
                self.done = true;
                self.core
                    .fail(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
            }
        }
    }
    fn on_error(&mut self, error: Error) {
        if std::mem::replace(&mut self.done, true) {
            rstreams_protocol::report_undeliverable(error);
            return;
        }
        self.core.fail(error);
    }
    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.core.outer_complete();
        }
    }
}
