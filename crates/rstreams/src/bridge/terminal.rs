//! Terminal futures: `first_async`, `last_async`, `collect_async`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::Loc;

struct Slot<R> {
    result: Option<Result<R, Error>>,
    waker: Option<Waker>,
    sub: Option<Arc<dyn Subscription>>,
    /// The future was dropped: a late `on_subscribe` cancels at once.
    gone: bool,
}

type Shared<R> = Arc<Mutex<Slot<R>>>;

fn settle<R>(shared: &Shared<R>, result: Result<R, Error>) {
    let waker = {
        let mut slot = shared.lock();
        slot.sub = None;
        if slot.result.is_some() || slot.gone {
            if let Err(e) = result {
                report_undeliverable(e);
            }
            return;
        }
        slot.result = Some(result);
        slot.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// What a terminal future does with items; `false` from `next` has seen enough (cancel).
trait Fold<T>: Send + 'static {
    type Out: Send + 'static;
    const REQUEST: u64;
    fn next(&mut self, item: T) -> bool;
    fn finish(self) -> Self::Out;
}

struct First<T>(Option<T>);
impl<T: Send + 'static> Fold<T> for First<T> {
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

struct Last<T>(Option<T>);
impl<T: Send + 'static> Fold<T> for Last<T> {
    type Out = Option<T>;
    const REQUEST: u64 = u64::MAX;
    fn next(&mut self, item: T) -> bool {
        self.0 = Some(item);
        true
    }
    fn finish(self) -> Option<T> {
        self.0
    }
}

struct All<T>(Vec<T>);
impl<T: Send + 'static> Fold<T> for All<T> {
    type Out = Vec<T>;
    const REQUEST: u64 = u64::MAX;
    fn next(&mut self, item: T) -> bool {
        self.0.push(item);
        true
    }
    fn finish(self) -> Vec<T> {
        self.0
    }
}

struct FoldSubscriber<C: Fold<T>, T> {
    fold: Option<C>,
    shared: Shared<C::Out>,
    loc: Loc,
}

impl<C: Fold<T>, T> Subscriber<T> for FoldSubscriber<C, T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut slot = self.shared.lock();
            if slot.sub.is_some() || slot.gone || self.fold.is_none() {
                drop(slot);
                s.cancel(); // rule 2.5, or the future is gone
                return;
            }
            slot.sub = Some(Arc::clone(&s));
        }
        s.request(C::REQUEST);
    }
    fn on_next(&mut self, item: T) {
        let Some(fold) = &mut self.fold else { return };
        match crate::stage::guard(|| fold.next(item)) {
            Ok(true) => {}
            Ok(false) => {
                let sub = self.shared.lock().sub.take();
                if let Some(s) = sub {
                    s.cancel();
                }
                self.on_complete();
            }
            Err(p) => {
                let sub = self.shared.lock().sub.take();
                if let Some(s) = sub {
                    s.cancel();
                }
                self.fold = None;
                settle(
                    &self.shared,
                    Err(Error::from_panic(Rule::R2_13, p).at_stage(self.loc)),
                );
            }
        }
    }
    fn on_error(&mut self, error: Error) {
        if self.fold.take().is_some() {
            settle(&self.shared, Err(error));
        }
    }
    fn on_complete(&mut self) {
        if let Some(fold) = self.fold.take() {
            settle(&self.shared, Ok(fold.finish()));
        }
    }
}

impl<C: Fold<T>, T> Drop for FoldSubscriber<C, T> {
    fn drop(&mut self) {
        if self.fold.is_some() {
            let error = Error::violation(
                Rule::R1_7,
                "the publisher dropped the subscriber without a terminal signal",
            )
            .at_stage(self.loc);
            settle(&self.shared, Err(error));
        }
    }
}

/// The result of a publisher, as a future: made by
/// [`first_async`](crate::PublisherExt::first_async),
/// [`last_async`](crate::PublisherExt::last_async) and
/// [`collect_async`](crate::PublisherExt::collect_async).
///
/// The publisher is subscribed when the method is called (like Reactor's `toFuture`), so the
/// future is `'static` and can be spawned; a synchronous publisher may have finished by the time
/// it is first polled. Dropping the future cancels the subscription. It resolves to the
/// publisher's error if it fails (or if the publisher dropped the subscriber without a terminal
/// signal, naming rule 1.7).
#[must_use = "dropping the future cancels the subscription"]
pub struct AsyncResult<R> {
    shared: Shared<R>,
}

impl<R> std::fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.shared.lock().result.is_some())
            .finish()
    }
}

impl<R> Future for AsyncResult<R> {
    type Output = Result<R, Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<R, Error>> {
        let mut slot = self.shared.lock();
        if let Some(r) = slot.result.take() {
            slot.gone = true;
            return Poll::Ready(r);
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<R> Drop for AsyncResult<R> {
    fn drop(&mut self) {
        let sub = {
            let mut slot = self.shared.lock();
            slot.gone = true;
            slot.waker = None;
            slot.sub.take()
        };
        if let Some(s) = sub {
            s.cancel();
        }
    }
}

fn run<P, C>(publisher: &P, fold: C, loc: Loc) -> AsyncResult<C::Out>
where
    P: Publisher + ?Sized,
    C: Fold<P::Item>,
    P::Item: 'static,
{
    let shared = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        sub: None,
        gone: false,
    }));
    publisher.subscribe(FoldSubscriber {
        fold: Some(fold),
        shared: Arc::clone(&shared),
        loc,
    });
    AsyncResult { shared }
}

pub(crate) fn first_async<P>(p: &P, loc: Loc) -> AsyncResult<Option<P::Item>>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    run(p, First(None), loc)
}

pub(crate) fn last_async<P>(p: &P, loc: Loc) -> AsyncResult<Option<P::Item>>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    run(p, Last(None), loc)
}

pub(crate) fn collect_async<P>(p: &P, loc: Loc) -> AsyncResult<Vec<P::Item>>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    run(p, All(Vec::new()), loc)
}
