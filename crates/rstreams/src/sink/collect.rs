//! One collecting subscriber for every terminal call that folds a stream into one result: the
//! blocking ones ([`for_each`](crate::PublisherExt::for_each),
//! [`blocking_first`](crate::PublisherExt::blocking_first), …) and the futures
//! ([`first_async`](crate::PublisherExt::first_async), …). They differ only in where the result
//! goes (a latch a thread waits on, a slot a future polls): that is an [`Outlet`].

use std::marker::PhantomData;
use std::sync::Arc;

use rstreams_protocol::{Error, Rule, Subscriber, Subscription};

use crate::stage::{Loc, guard};

/// What a terminal call does with items; `false` from `next` has seen enough (cancel).
pub(crate) trait Collector<T>: Send + 'static {
    type Out: Send + 'static;
    /// The one request made on subscribing.
    const REQUEST: u64 = u64::MAX;
    fn next(&mut self, item: T) -> bool;
    fn finish(self) -> Self::Out;
}

/// Calls a closure per item.
pub(crate) struct ForEach<F>(pub(crate) F);
impl<T, F: FnMut(T) + Send + 'static> Collector<T> for ForEach<F> {
    type Out = ();
    fn next(&mut self, item: T) -> bool {
        (self.0)(item);
        true
    }
    fn finish(self) {}
}

/// The first item, then cancel.
pub(crate) struct First<T>(pub(crate) Option<T>);
impl<T: Send + 'static> Collector<T> for First<T> {
    type Out = Option<T>;
    const REQUEST: u64 = 1;
    fn next(&mut self, item: T) -> bool {
        self.0 = Some(item);
        false
    }
    fn finish(self) -> Option<T> {
        self.0
    }
}

/// The last item.
pub(crate) struct Last<T>(pub(crate) Option<T>);
impl<T: Send + 'static> Collector<T> for Last<T> {
    type Out = Option<T>;
    fn next(&mut self, item: T) -> bool {
        self.0 = Some(item);
        true
    }
    fn finish(self) -> Option<T> {
        self.0
    }
}

/// Every item, in order (for `collect_async`).
#[cfg_attr(not(feature = "futures"), allow(dead_code))]
pub(crate) struct All<T>(pub(crate) Vec<T>);
impl<T: Send + 'static> Collector<T> for All<T> {
    type Out = Vec<T>;
    fn next(&mut self, item: T) -> bool {
        self.0.push(item);
        true
    }
    fn finish(self) -> Vec<T> {
        self.0
    }
}

/// Where a [`Collect`] subscriber's result goes, and who holds its subscription (so that the
/// waiting side, a dropped future for instance, can cancel it).
pub(crate) trait Outlet<R>: Send + 'static {
    /// Keeps the subscription; `false` means cancel it (a second one, rule 2.5, or nobody is
    /// waiting any more).
    fn attach(&self, subscription: &Arc<dyn Subscription>) -> bool;
    /// Gives the subscription back (to cancel it), forgetting it.
    fn detach(&self) -> Option<Arc<dyn Subscription>>;
    /// Delivers the result; called at most once per subscriber.
    fn settle(&self, result: Result<R, Error>);
}

/// The error a waiting caller gets when the publisher dropped the subscriber without a terminal
/// signal (rule 1.7): never a hang.
pub(crate) fn dropped_error(loc: Loc) -> Error {
    Error::violation(
        Rule::R1_7,
        "the publisher dropped the subscriber without a terminal signal",
    )
    .at_stage(loc)
}

/// The collecting subscriber: requests `C::REQUEST`, feeds the collector, settles the outlet
/// once (with the collector's result, the stream's error, a 2.13 error for a panicking
/// collector, or the 1.7 error if dropped without a terminal signal).
pub(crate) struct Collect<T, C: Collector<T>, O: Outlet<C::Out>> {
    collector: Option<C>,
    outlet: O,
    loc: Loc,
    _items: PhantomData<fn(T)>,
}

impl<T, C: Collector<T>, O: Outlet<C::Out>> Collect<T, C, O> {
    pub(crate) fn new(collector: C, outlet: O, loc: Loc) -> Self {
        Self {
            collector: Some(collector),
            outlet,
            loc,
            _items: PhantomData,
        }
    }

    fn cancel_upstream(&self) {
        if let Some(s) = self.outlet.detach() {
            s.cancel();
        }
    }

    fn end(&mut self, result: Result<(), Error>) {
        drop(self.outlet.detach());
        if let Some(c) = self.collector.take() {
            self.outlet.settle(result.map(|()| c.finish()));
        }
    }
}

impl<T, C: Collector<T>, O: Outlet<C::Out>> Subscriber<T> for Collect<T, C, O> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        // Stored before requesting: a synchronous publisher delivers inside `request`, and a
        // collector that has seen enough cancels through it.
        let s: Arc<dyn Subscription> = Arc::from(s);
        if self.collector.is_none() || !self.outlet.attach(&s) {
            s.cancel();
            return;
        }
        s.request(C::REQUEST);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let Some(c) = &mut self.collector else { return };
        match guard(|| c.next(item)) {
            Ok(true) => {}
            Ok(false) => {
                self.cancel_upstream();
                self.end(Ok(()));
            }
            Err(p) => {
                self.cancel_upstream();
                let error = Error::from_panic(Rule::R2_13, p).at_stage(self.loc);
                self.end(Err(error));
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}

impl<T, C: Collector<T>, O: Outlet<C::Out>> Drop for Collect<T, C, O> {
    fn drop(&mut self) {
        // Never leave the waiting side hanging, whatever the publisher did.
        if self.collector.take().is_some() {
            drop(self.outlet.detach());
            self.outlet.settle(Err(dropped_error(self.loc)));
        }
    }
}
