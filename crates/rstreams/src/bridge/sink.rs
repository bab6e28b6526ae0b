//! Publisher → Sink: [`SinkForward`], made by `forward_to_sink`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_sink::Sink;
use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::stage::Loc;

struct Slot<T> {
    /// The one item requested (demand is one at a time: one per `poll_ready`).
    item: Option<T>,
    /// Items requested and not yet received (0 or 1).
    outstanding: u64,
    end: Option<Result<(), Error>>,
    waker: Option<Waker>,
    sub: Option<Arc<dyn Subscription>>,
    gone: bool,
}

type Shared<T> = Arc<Mutex<Slot<T>>>;

fn wake<T>(mut slot: parking_lot::MutexGuard<'_, Slot<T>>) {
    let waker = slot.waker.take();
    drop(slot);
    if let Some(w) = waker {
        w.wake();
    }
}

struct SinkSubscriber<T> {
    shared: Shared<T>,
    done: bool,
    loc: Loc,
}

impl<T: Send> Subscriber<T> for SinkSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let mut slot = self.shared.lock();
        if slot.sub.is_some() || slot.gone || self.done {
            drop(slot);
            s.cancel(); // rule 2.5, or the forwarding future is gone
            return;
        }
        // No request here: the first one waits for the sink's first `poll_ready`.
        slot.sub = Some(s);
        wake(slot);
    }
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        let mut slot = self.shared.lock();
        if slot.outstanding == 0 || slot.item.is_some() {
            // Only an upstream that broke rule 1.1 gets here; the slot holds one item.
            self.done = true;
            let sub = slot.sub.take();
            slot.end = Some(Err(Error::violation(
                Rule::R1_1,
                "forward_to_sink received an item it did not request",
            )
            .at_stage(self.loc)));
            wake(slot);
            if let Some(s) = sub {
                s.cancel();
            }
            return;
        }
        slot.outstanding -= 1;
        slot.item = Some(item);
        wake(slot);
    }
    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            let mut slot = self.shared.lock();
            slot.sub = None;
            slot.end.get_or_insert(Err(error));
            wake(slot);
        }
    }
    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            let mut slot = self.shared.lock();
            slot.sub = None;
            slot.end.get_or_insert(Ok(()));
            wake(slot);
        }
    }
}

impl<T> Drop for SinkSubscriber<T> {
    fn drop(&mut self) {
        if !self.done {
            let mut slot = self.shared.lock();
            let sub = slot.sub.take();
            slot.end.get_or_insert(Err(Error::violation(
                Rule::R1_7,
                "the publisher dropped the sink's subscriber without a terminal signal",
            )
            .at_stage(self.loc)));
            wake(slot);
            if let Some(s) = sub {
                s.cancel();
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Asking the sink for room, or waiting for the one requested item.
    Forwarding,
    /// Upstream completed: `poll_close` (which flushes) until done.
    Closing,
    Done,
}

/// Forwards a publisher's items into a `futures` [`Sink`]; made by
/// [`forward_to_sink`](crate::PublisherExt::forward_to_sink). Await it (or spawn it): it
/// resolves when the publisher completed and the sink was closed, or with the first error.
///
/// **Demand is the sink's readiness**: one item is requested each time `poll_ready` returns
/// `Ready(Ok)`, and nothing while the sink is not ready, so a slow writer holds the publisher
/// back item by item (at most one item waits here). While waiting for an item the sink is
/// flushed, so a buffering sink (a framed writer) does not sit on data when upstream is slow.
///
/// **Ends**: upstream completion → `poll_close` (flush and close) → `Ok(())`. Upstream error →
/// that error, without closing the sink (as `StreamExt::forward`). A sink error → the upstream
/// is cancelled and the sink's error is returned (`Error::new`, downcastable to the sink's
/// error type). Dropping the future cancels the subscription.
#[must_use = "futures do nothing unless polled; dropping it cancels the subscription"]
pub struct SinkForward<T, K> {
    shared: Shared<T>,
    sink: Pin<Box<K>>,
    phase: Phase,
    /// Whether a `start_send` happened since the last flush.
    unflushed: bool,
    loc: Loc,
}

impl<T, K> std::fmt::Debug for SinkForward<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkForward")
            .field("stage", &self.loc)
            .finish_non_exhaustive()
    }
}

impl<T, K> SinkForward<T, K> {
    fn cancel_upstream(&mut self) {
        let sub = {
            let mut slot = self.shared.lock();
            slot.gone = true;
            slot.item = None;
            slot.sub.take()
        };
        if let Some(s) = sub {
            s.cancel();
        }
    }

    fn sink_failed<E>(&mut self, error: E) -> Poll<Result<(), Error>>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.phase = Phase::Done;
        self.cancel_upstream();
        let error = Error::new(error).at_stage(self.loc);
        tracing::debug!(%error, "forward_to_sink: the sink failed; cancelled upstream");
        Poll::Ready(Err(error))
    }
}

impl<T, K> Future for SinkForward<T, K>
where
    K: Sink<T>,
    K::Error: std::error::Error + Send + Sync + 'static,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        // Every field is Unpin (the sink is boxed).
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Done => return Poll::Ready(Ok(())),
                Phase::Closing => {
                    return match this.sink.as_mut().poll_close(cx) {
                        Poll::Ready(Ok(())) => {
                            this.phase = Phase::Done;
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Err(e)) => this.sink_failed(e),
                        Poll::Pending => Poll::Pending,
                    };
                }
                Phase::Forwarding => {}
            }
            // 1. An item that arrived goes into the sink (it said it was ready before we asked).
            let (item, end, requested, subscribed) = {
                let mut slot = this.shared.lock();
                let item = slot.item.take();
                // An error or completion may overtake the item we asked for; an item that did
                // arrive goes first.
                let end = if item.is_none() {
                    slot.end.take()
                } else {
                    None
                };
                (item, end, slot.outstanding, slot.sub.is_some())
            };
            if let Some(item) = item {
                if let Err(e) = this.sink.as_mut().start_send(item) {
                    return this.sink_failed(e);
                }
                this.unflushed = true;
                continue;
            }
            match end {
                Some(Ok(())) => {
                    this.phase = Phase::Closing;
                    continue;
                }
                Some(Err(e)) => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Err(e));
                }
                None => {}
            }
            if requested == 0 && subscribed {
                // 2. Room in the sink? Only then ask upstream for one item.
                match this.sink.as_mut().poll_ready(cx) {
                    Poll::Ready(Ok(())) => {
                        let sub = {
                            let mut slot = this.shared.lock();
                            slot.outstanding += 1;
                            slot.sub.clone()
                        };
                        if let Some(s) = sub {
                            s.request(1); // may deliver synchronously: the loop looks again
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return this.sink_failed(e),
                    Poll::Pending => {
                        // The sink wakes us when it has room; an upstream end must too.
                        let mut slot = this.shared.lock();
                        if slot.end.is_some() {
                            continue;
                        }
                        slot.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            }
            // 3. Waiting for upstream: flush what the sink buffered meanwhile.
            if this.unflushed {
                match this.sink.as_mut().poll_flush(cx) {
                    Poll::Ready(Ok(())) => this.unflushed = false,
                    Poll::Ready(Err(e)) => return this.sink_failed(e),
                    Poll::Pending => {}
                }
            }
            let mut slot = this.shared.lock();
            if slot.item.is_some()
                || slot.end.is_some()
                || (slot.outstanding == 0 && slot.sub.is_some())
            {
                continue;
            }
            slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
    }
}

impl<T, K> Drop for SinkForward<T, K> {
    fn drop(&mut self) {
        if self.phase != Phase::Done {
            self.cancel_upstream();
        }
    }
}

pub(crate) fn forward_to_sink<P, K>(publisher: &P, sink: K, loc: Loc) -> SinkForward<P::Item, K>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
    K: Sink<P::Item>,
{
    let shared = Arc::new(Mutex::new(Slot {
        item: None,
        outstanding: 0,
        end: None,
        waker: None,
        sub: None,
        gone: false,
    }));
    publisher.subscribe(SinkSubscriber {
        shared: Arc::clone(&shared),
        done: false,
        loc,
    });
    SinkForward {
        shared,
        sink: Box::pin(sink),
        phase: Phase::Forwarding,
        unflushed: false,
        loc,
    }
}
