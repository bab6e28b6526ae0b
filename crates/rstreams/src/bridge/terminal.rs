//! Terminal futures: `first_async`, `last_async`, `collect_async`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Subscription, report_undeliverable};

use crate::sink::collect::{All, Collect, Collector, First, Last, Outlet};
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

/// The futures' [`Outlet`]: the slot [`AsyncResult`] polls. The subscription lives there so
/// that dropping the future cancels it.
struct FutureSlot<R>(Shared<R>);

impl<R: Send + 'static> Outlet<R> for FutureSlot<R> {
    fn attach(&self, subscription: &Arc<dyn Subscription>) -> bool {
        let mut slot = self.0.lock();
        if slot.sub.is_some() || slot.gone {
            return false; // rule 2.5, or the future is gone
        }
        slot.sub = Some(Arc::clone(subscription));
        true
    }
    fn detach(&self) -> Option<Arc<dyn Subscription>> {
        self.0.lock().sub.take()
    }
    fn settle(&self, result: Result<R, Error>) {
        settle(&self.0, result);
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

fn run<P, C>(publisher: &P, collector: C, loc: Loc) -> AsyncResult<C::Out>
where
    P: Publisher + ?Sized,
    C: Collector<P::Item>,
    P::Item: 'static,
{
    let shared = Arc::new(Mutex::new(Slot {
        result: None,
        waker: None,
        sub: None,
        gone: false,
    }));
    let outlet = FutureSlot(Arc::clone(&shared));
    publisher.subscribe(Collect::new(collector, outlet, loc));
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
