//! Publisher → Stream: [`PublisherStream`], made by `into_stream` or [`subscriber_stream`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};
use parking_lot::Mutex;
use rstreams_protocol::{Error, Rule, Subscriber, Subscription};

use crate::stage::Loc;

/// What the stream and its subscriber share.
struct Shared<T> {
    state: Mutex<State<T>>,
    /// The running total requested (written by the stream, read by the subscriber to catch an
    /// upstream that sends more than it was asked for, which would unbound the queue).
    requested: AtomicU64,
}

struct State<T> {
    queue: VecDeque<T>,
    /// The terminal signal, once it arrived (or a fault standing in for it).
    end: Option<Result<(), Error>>,
    /// The task to wake when an item or the end arrives; taken by the waking signal, so a burst
    /// of items costs one wake-up.
    waker: Option<Waker>,
    sub: Option<Arc<dyn Subscription>>,
    /// The stream was dropped or cancelled: a late `on_subscribe` must cancel at once.
    gone: bool,
}

impl<T> Shared<T> {
    fn finish(&self, end: Result<(), Error>) {
        let waker = {
            let mut st = self.state.lock();
            if st.end.is_none() {
                st.end = Some(end);
            }
            st.sub = None;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A `futures` [`Stream`] over a publisher's items, made by
/// [`into_stream`](crate::PublisherExt::into_stream) (or [`subscriber_stream`] for a subscriber
/// you subscribe yourself).
///
/// Items are `Result<T, Error>`: `Ok` for each item, then at most one `Err` if the publisher
/// fails, after which the stream ends (it is fused). Completion ends the stream.
///
/// **Demand**: `prefetch` items are requested when subscribing, then `prefetch - prefetch / 4`
/// more each time that many have been taken by `poll_next` (replenish at 75%). At most
/// `prefetch` items are ever buffered; an upstream that sends more is cancelled and the stream
/// ends with an error naming rule 1.1. `prefetch == 0` yields one `Err` without subscribing.
///
/// **Wake-ups**: the publisher's thread wakes the polling task through its [`Waker`] when an
/// item or the terminal signal arrives; nothing polls or spins in between, so it runs on any
/// executor (tokio, `futures`' `block_on`, a single-threaded runtime). A synchronous publisher
/// produces the items inside `poll_next`, on the polling task.
///
/// **Cancel**: dropping the stream, or calling [`cancel`](Self::cancel), cancels the
/// subscription and drops the buffered items.
pub struct PublisherStream<T> {
    shared: Arc<Shared<T>>,
    local: VecDeque<T>,
    limit: u64,
    taken: u64,
    finished: bool,
    pending_error: Option<Error>,
}

// Items are only ever moved in and out of the queues, never pinned.
impl<T> Unpin for PublisherStream<T> {}

impl<T> std::fmt::Debug for PublisherStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherStream")
            .field("limit", &self.limit)
            .field("buffered", &self.local.len())
            .field("finished", &self.finished)
            .finish()
    }
}

/// The subscriber half of a [`PublisherStream`]: subscribe it to any publisher. It requests
/// `prefetch` items in `on_subscribe` and then whatever the stream's consumer replenishes;
/// dropping it before a terminal signal cancels the subscription and ends the stream with an
/// error (rule 2.6).
pub struct StreamSubscriber<T> {
    shared: Arc<Shared<T>>,
    received: u64,
    prefetch: u64,
    done: bool,
    loc: Loc,
}

impl<T> std::fmt::Debug for StreamSubscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSubscriber")
            .field("received", &self.received)
            .field("done", &self.done)
            .finish()
    }
}

fn dropped_error(loc: Loc) -> Error {
    Error::violation(
        Rule::R1_7,
        "the publisher dropped the stream's subscriber without a terminal signal",
    )
    .at_stage(loc)
}

impl<T: Send> Subscriber<T> for StreamSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut st = self.shared.state.lock();
            if st.sub.is_some() || st.end.is_some() || st.gone || self.done {
                drop(st);
                s.cancel(); // rule 2.5, or the stream is already gone
                return;
            }
            st.sub = Some(Arc::clone(&s));
        }
        // Release: pairs with the Acquire load in `on_next`.
        self.shared
            .requested
            .store(self.prefetch, Ordering::Release);
        s.request(self.prefetch);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        self.received += 1;
        // Acquire: pairs with the Release in `on_subscribe` and the AcqRel in `replenish`.
        if self.received > self.shared.requested.load(Ordering::Acquire) {
            // Only an upstream that broke rule 1.1 gets here; the queue must stay bounded.
            self.done = true;
            let error = Error::violation(
                Rule::R1_1,
                "into_stream received more items than it requested",
            )
            .at_stage(self.loc);
            tracing::debug!(%error, "cancelling upstream");
            let sub = self.shared.state.lock().sub.take();
            if let Some(s) = sub {
                s.cancel();
            }
            self.shared.finish(Err(error));
            return;
        }
        let waker = {
            let mut st = self.shared.state.lock();
            if st.gone {
                return; // cancelled: the item is dropped here, not buffered
            }
            st.queue.push_back(item);
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.finish(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.finish(Ok(()));
        }
    }
}

impl<T> Drop for StreamSubscriber<T> {
    fn drop(&mut self) {
        if !self.done {
            // Rule 2.6: a subscriber that can no longer be used cancels; and the stream's task
            // must not wait forever, whatever the publisher did.
            let sub = self.shared.state.lock().sub.take();
            if let Some(s) = sub {
                s.cancel();
            }
            let end = Err(dropped_error(self.loc));
            let waker = {
                let mut st = self.shared.state.lock();
                if st.end.is_none() {
                    st.end = Some(end);
                }
                st.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// A [`StreamSubscriber`] and the [`PublisherStream`] it feeds, not yet subscribed to anything:
/// `publisher.subscribe(subscriber)` starts the flow. `into_stream` is this plus the subscribe.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::bridge::subscriber_stream;
/// use futures_util::StreamExt;
///
/// let (subscriber, stream) = subscriber_stream::<u64>(16);
/// rstreams::range(0, 3).subscribe(subscriber);
/// let items: Vec<_> = futures_util::FutureExt::now_or_never(stream.collect::<Vec<_>>()).unwrap();
/// assert_eq!(items.into_iter().collect::<Result<Vec<_>, _>>()?, vec![0, 1, 2]);
/// # Ok::<(), rstreams::Error>(())
/// ```
#[track_caller]
pub fn subscriber_stream<T>(prefetch: usize) -> (StreamSubscriber<T>, PublisherStream<T>) {
    pair(prefetch, std::panic::Location::caller())
}

pub(crate) fn pair<T>(prefetch: usize, loc: Loc) -> (StreamSubscriber<T>, PublisherStream<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            end: None,
            waker: None,
            sub: None,
            gone: false,
        }),
        requested: AtomicU64::new(0),
    });
    let prefetch = prefetch as u64;
    let mut stream = PublisherStream {
        shared: Arc::clone(&shared),
        local: VecDeque::new(),
        limit: (prefetch - prefetch / 4).max(1),
        taken: 0,
        finished: false,
        pending_error: None,
    };
    let mut subscriber = StreamSubscriber {
        shared,
        received: 0,
        prefetch,
        done: false,
        loc,
    };
    if prefetch == 0 {
        stream.pending_error =
            Some(Error::msg("into_stream(0): prefetch must be at least 1").at_stage(loc));
        // The subscriber will cancel whatever subscribes it.
        subscriber.done = true;
        stream.shared.state.lock().gone = true;
    }
    (subscriber, stream)
}

impl<T> PublisherStream<T> {
    /// Cancels the subscription and drops the buffered items; the stream then ends (`None`).
    /// Dropping the stream does the same.
    pub fn cancel(&mut self) {
        self.finished = true;
        self.local.clear();
        let (sub, queue) = {
            let mut st = self.shared.state.lock();
            st.gone = true;
            st.waker = None;
            (st.sub.take(), std::mem::take(&mut st.queue))
        };
        // Outside the lock: cancelling may run the publisher's cleanup synchronously.
        if let Some(s) = sub {
            s.cancel();
        }
        drop(queue);
    }

    /// How many items are buffered, waiting to be polled (at most the prefetch).
    pub fn buffered_len(&self) -> usize {
        self.local.len() + self.shared.state.lock().queue.len()
    }

    fn replenish(&mut self) {
        self.taken += 1;
        if self.taken == self.limit {
            self.taken = 0;
            let sub = self.shared.state.lock().sub.clone();
            if let Some(s) = sub {
                // AcqRel: pairs with the Acquire load in `on_next`.
                self.shared
                    .requested
                    .fetch_add(self.limit, Ordering::AcqRel);
                s.request(self.limit);
            }
        }
    }
}

impl<T> Stream for PublisherStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        // Every field is Unpin: nothing here is pinned structurally.
        let this = self.get_mut();
        if let Some(e) = this.pending_error.take() {
            this.cancel();
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(item) = this.local.pop_front() {
            this.replenish();
            return Poll::Ready(Some(Ok(item)));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        let mut st = this.shared.state.lock();
        if !st.queue.is_empty() {
            // Take the whole batch: one lock for many items.
            std::mem::swap(&mut st.queue, &mut this.local);
            drop(st);
            let Some(item) = this.local.pop_front() else {
                return Poll::Pending; // unreachable: the queue was not empty
            };
            this.replenish();
            return Poll::Ready(Some(Ok(item)));
        }
        if let Some(end) = st.end.take() {
            drop(st);
            this.finished = true;
            return Poll::Ready(end.err().map(Err));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.local.len(), None)
    }
}

impl<T> FusedStream for PublisherStream<T> {
    fn is_terminated(&self) -> bool {
        self.finished && self.local.is_empty() && self.pending_error.is_none()
    }
}

impl<T> Drop for PublisherStream<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}
