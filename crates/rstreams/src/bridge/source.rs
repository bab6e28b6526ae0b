//! Stream → Publisher: `from_stream`, `from_stream_fn`, `from_try_stream`, `from_future`.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use parking_lot::Mutex;
use rstreams_protocol::{
    Demand, Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable,
};

use super::Spawner;
use crate::stage::{Loc, guard, reject};

/// Items polled in one go before the driver yields to its executor (fairness).
const BUDGET: u64 = 256;

/// What the subscription and the polling task share.
struct Shared {
    demand: Demand,
    /// The polling task's waker, taken by whoever wakes it (`request`, `cancel`).
    waker: Mutex<Option<Waker>>,
}

impl Shared {
    fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The subscription handed to the subscriber: it only records, then wakes the polling task.
struct StreamSubscription(Arc<Shared>);

impl Subscription for StreamSubscription {
    fn request(&self, n: u64) {
        // 3.6 after cancel, 3.9 for zero, saturating add (3.17): all in `Demand::request`.
        if self.0.demand.request(n) {
            self.0.wake();
        }
    }
    fn cancel(&self) {
        // The winner wakes the task, which drops the stream and the subscriber (3.13) even if
        // the stream itself never wakes again.
        if self.0.demand.cancel() {
            self.0.wake();
        }
    }
}

/// A stream of `Result`s; `Err` ends the publisher with `on_error`.
struct Live<St, S, T> {
    stream: Pin<Box<St>>,
    subscriber: S,
    /// An item polled without demand from a stream whose `size_hint` said it was exhausted
    /// (it was not): held for the next request, never emitted early (rule 1.1).
    stash: Option<T>,
}

/// The future the spawner runs: polls the stream only while demand is outstanding.
struct Driver<St, S: Subscriber<T>, T> {
    shared: Arc<Shared>,
    live: Option<Live<St, S, T>>,
    loc: Loc,
    _item: PhantomData<fn() -> T>,
}

// No field is pinned structurally (the stream is boxed; the subscriber is only used by `&mut`).
impl<St, S: Subscriber<T>, T> Unpin for Driver<St, S, T> {}

enum Stop {
    Complete,
    Error(Error),
    /// The subscriber panicked (2.13) or cancelled: no signal.
    Silent,
}

impl<St, S, T> Driver<St, S, T>
where
    St: Stream<Item = Result<T, Error>>,
    S: Subscriber<T>,
{
    /// Polls up to `want` items; `None` if the stream is pending or the batch was used up.
    fn batch(&mut self, want: u64, cx: &mut Context<'_>) -> (u64, Option<Poll<Stop>>) {
        let Some(live) = &mut self.live else {
            return (0, Some(Poll::Ready(Stop::Silent)));
        };
        let mut sent = 0;
        while sent < want {
            let polled = match live.stash.take() {
                Some(item) => Ok(Poll::Ready(Some(Ok(item)))),
                None => guard(|| live.stream.as_mut().poll_next(cx)),
            };
            match polled {
                Ok(Poll::Ready(Some(Ok(item)))) => {
                    sent += 1;
                    if let Err(p) = guard(|| live.subscriber.on_next(item)) {
                        let error = Error::from_panic(Rule::R2_13, p).at_stage(self.loc);
                        tracing::debug!(%error, "from_stream: on_next panicked; cancelling");
                        self.shared.demand.cancel();
                        report_undeliverable(error);
                        return (sent, Some(Poll::Ready(Stop::Silent)));
                    }
                    if self.shared.demand.is_cancelled() {
                        return (sent, Some(Poll::Ready(Stop::Silent)));
                    }
                }
                Ok(Poll::Ready(Some(Err(e)))) => return (sent, Some(Poll::Ready(Stop::Error(e)))),
                Ok(Poll::Ready(None)) => return (sent, Some(Poll::Ready(Stop::Complete))),
                Ok(Poll::Pending) => return (sent, Some(Poll::Pending)),
                Err(p) => {
                    // A source failing is rule 1.4's business: it must end with on_error.
                    let error = Error::from_panic(Rule::R1_4, p).at_stage(self.loc);
                    tracing::debug!(%error, "from_stream: the stream panicked while polled");
                    return (sent, Some(Poll::Ready(Stop::Error(error))));
                }
            }
        }
        (sent, None)
    }

    fn probe_end(&mut self, cx: &mut Context<'_>) -> Option<Stop> {
        let live = self.live.as_mut()?;
        if live.stash.is_some() || live.stream.size_hint().1 != Some(0) {
            return None;
        }
        match guard(|| live.stream.as_mut().poll_next(cx)) {
            Ok(Poll::Ready(None)) => Some(Stop::Complete),
            Ok(Poll::Ready(Some(Ok(item)))) => {
                live.stash = Some(item);
                None
            }
            Ok(Poll::Ready(Some(Err(e)))) => Some(Stop::Error(e)),
            Ok(Poll::Pending) => None,
            Err(p) => Some(Stop::Error(
                Error::from_panic(Rule::R1_4, p).at_stage(self.loc),
            )),
        }
    }

    fn stop(&mut self, stop: Stop) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        self.shared.demand.cancel();
        // Drop the stream before the terminal signal: whatever it holds is released first.
        drop(live.stream);
        let result = match stop {
            Stop::Complete => guard(|| live.subscriber.on_complete()),
            Stop::Error(e) => guard(|| live.subscriber.on_error(e.at_stage(self.loc))),
            Stop::Silent => Ok(()),
        };
        if let Err(p) = result {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }
}

impl<St, S, T> Future for Driver<St, S, T>
where
    St: Stream<Item = Result<T, Error>>,
    S: Subscriber<T>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Driver` is `Unpin`: the stream is boxed.
        let this = self.get_mut();
        let mut budget = BUDGET;
        loop {
            if this.live.is_none() {
                return Poll::Ready(());
            }
            let shared = Arc::clone(&this.shared);
            let demand = &shared.demand;
            if demand.is_cancelled() {
                this.stop(Stop::Silent);
                return Poll::Ready(());
            }
            if demand.has_invalid_request() {
                let error =
                    Error::violation(Rule::R3_9, "request(0) on a from_stream subscription");
                this.stop(Stop::Error(error));
                return Poll::Ready(());
            }
            let outstanding = demand.get();
            if outstanding == 0 {
                // A stream that says it has ended (`size_hint` upper bound 0, as an exhausted
                // iterator stream or a resolved future does) is asked once more, so that
                // `on_complete` follows the last item without waiting for another request (what
                // `range` and `from_iter` do).
                if let Some(stop) = this.probe_end(cx) {
                    this.stop(stop);
                    return Poll::Ready(());
                }
                // Park until `request` or `cancel` wakes us; check again after registering so
                // that a request landing in between is not missed.
                *this.shared.waker.lock() = Some(cx.waker().clone());
                if demand.get() == 0 && !demand.is_cancelled() && !demand.has_invalid_request() {
                    return Poll::Pending;
                }
                continue;
            }
            if budget == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let (sent, stop) = this.batch(outstanding.min(budget), cx);
            demand.produced(sent);
            budget -= sent;
            match stop {
                None => {}
                Some(Poll::Ready(stop)) => {
                    this.stop(stop);
                    return Poll::Ready(());
                }
                Some(Poll::Pending) => {
                    // The stream will wake us; a cancel must too (it drops the stream).
                    *this.shared.waker.lock() = Some(cx.waker().clone());
                    if this.shared.demand.is_cancelled() {
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<St, S: Subscriber<T>, T> Drop for Driver<St, S, T> {
    fn drop(&mut self) {
        // The executor dropped the task before the stream ended (shut down, or a `from_fn`
        // spawner that gave up): the subscriber gets an error, never silence.
        if let Some(mut live) = self.live.take() {
            if self.shared.demand.is_cancelled() {
                return;
            }
            self.shared.demand.cancel();
            drop(live.stream);
            let error = Error::msg(
                "from_stream: the executor dropped the polling task before the stream ended \
                 (was it shut down?)",
            )
            .at_stage(self.loc);
            if let Err(p) = guard(|| live.subscriber.on_error(error)) {
                report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
            }
        }
    }
}

/// Subscribes `subscriber` to `stream`: `on_subscribe` on the calling thread, then every other
/// signal from the polling task on `spawner`.
fn serve<St, T, S>(stream: St, mut subscriber: S, spawner: &Spawner, loc: Loc)
where
    St: Stream<Item = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    let shared = Arc::new(Shared {
        demand: Demand::new(),
        waker: Mutex::new(None),
    });
    let subscription = StreamSubscription(Arc::clone(&shared));
    if let Err(p) = guard(|| subscriber.on_subscribe(Box::new(subscription))) {
        shared.demand.cancel();
        report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(loc));
        return;
    }
    if shared.demand.is_cancelled() {
        return; // cancelled from on_subscribe: nothing to poll, drop both now (3.13)
    }
    spawner.spawn(Box::pin(Driver {
        shared,
        live: Some(Live {
            stream: Box::pin(stream),
            subscriber,
            stash: None,
        }),
        loc,
        _item: PhantomData,
    }));
}

/// Turns a plain stream's items into `Ok`s.
#[doc(hidden)]
pub struct Oks<St>(Pin<Box<St>>);

impl<St: Stream> Stream for Oks<St> {
    type Item = Result<St::Item, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().0.as_mut().poll_next(cx).map(|o| o.map(Ok))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Turns a fallible stream's errors into [`Error`]s.
#[doc(hidden)]
pub struct TryItems<St>(Pin<Box<St>>);

impl<St, T, E> Stream for TryItems<St>
where
    St: Stream<Item = Result<T, E>>,
    E: Into<Error>,
{
    type Item = Result<T, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .0
            .as_mut()
            .poll_next(cx)
            .map(|o| o.map(|r| r.map_err(Into::into)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// A future as a stream of one item.
#[doc(hidden)]
pub struct Once<F>(Option<Pin<Box<F>>>);

impl<F: Future> Stream for Once<F> {
    type Item = Result<F::Output, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(future) = this.0.as_mut() else {
            return Poll::Ready(None);
        };
        match future.as_mut().poll(cx) {
            Poll::Ready(value) => {
                this.0 = None;
                Poll::Ready(Some(Ok(value)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.0.is_some());
        (n, Some(n))
    }
}

fn consumed_error(what: &str, loc: Loc) -> Error {
    Error::violation(
        Rule::R1_11,
        format!(
            "{what} serves one subscriber and it already has one (a stream can be consumed once); \
             use {what}_fn to make a fresh one for each subscriber"
        ),
    )
    .at_stage(loc)
}

/// The publisher made by [`from_stream`], [`from_try_stream`] and [`from_future`]: one
/// subscriber, one stream.
pub struct FromStream<St> {
    stream: Mutex<Option<St>>,
    spawner: Spawner,
    what: &'static str,
    loc: Loc,
}

impl<St> std::fmt::Debug for FromStream<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromStream")
            .field("consumed", &self.stream.lock().is_none())
            .field("stage", &self.loc)
            .finish()
    }
}

/// The publisher made by [`from_stream_fn`] and [`from_future_fn`]: a fresh stream per
/// subscriber (cold).
pub struct FromStreamFn<F> {
    factory: Arc<F>,
    spawner: Spawner,
    loc: Loc,
}

impl<F> std::fmt::Debug for FromStreamFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromStreamFn")
            .field("stage", &self.loc)
            .finish()
    }
}

impl<F> Clone for FromStreamFn<F> {
    fn clone(&self) -> Self {
        FromStreamFn {
            factory: Arc::clone(&self.factory),
            spawner: self.spawner.clone(),
            loc: self.loc,
        }
    }
}

/// Wraps each stream kind into the `Result` stream the driver polls.
pub trait IntoResultStream: Send + 'static {
    /// The item type of the publisher.
    type Item: Send + 'static;
    #[doc(hidden)]
    type Results: Stream<Item = Result<Self::Item, Error>> + Send + 'static;
    #[doc(hidden)]
    fn into_results(self) -> Self::Results;
}

/// A plain stream for [`from_stream`]: every item is `Ok`.
#[derive(Debug)]
pub struct Plain<St>(St);
/// A stream of `Result`s for [`from_try_stream`]: `Err` ends the publisher with `on_error`.
#[derive(Debug)]
pub struct Fallible<St>(St);
/// A future for [`from_future`]: one item, then complete.
#[derive(Debug)]
pub struct OneFuture<F>(F);

impl<St> IntoResultStream for Plain<St>
where
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    type Item = St::Item;
    type Results = Oks<St>;
    fn into_results(self) -> Oks<St> {
        Oks(Box::pin(self.0))
    }
}

impl<St, T, E> IntoResultStream for Fallible<St>
where
    St: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + 'static,
{
    type Item = T;
    type Results = TryItems<St>;
    fn into_results(self) -> TryItems<St> {
        TryItems(Box::pin(self.0))
    }
}

impl<F> IntoResultStream for OneFuture<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Item = F::Output;
    type Results = Once<F>;
    fn into_results(self) -> Once<F> {
        Once(Some(Box::pin(self.0)))
    }
}

impl<W: IntoResultStream> Publisher for FromStream<W> {
    type Item = W::Item;
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<W::Item> + Send + 'static,
    {
        let taken = self.stream.lock().take();
        match taken {
            Some(w) => serve(w.into_results(), subscriber, &self.spawner, self.loc),
            None => reject(subscriber, consumed_error(self.what, self.loc)),
        }
    }
}

impl<F, W> Publisher for FromStreamFn<F>
where
    F: Fn() -> W + Send + Sync + 'static,
    W: IntoResultStream,
{
    type Item = W::Item;
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<W::Item> + Send + 'static,
    {
        match guard(|| (self.factory)()) {
            Ok(w) => serve(w.into_results(), subscriber, &self.spawner, self.loc),
            Err(p) => reject(
                subscriber,
                Error::from_panic(Rule::R1_4, p).at_stage(self.loc),
            ),
        }
    }
}

/// A publisher of a [`Stream`]'s items, polled on `spawner` only while the subscriber has
/// outstanding demand (one `poll_next` per requested item; nothing is read ahead).
///
/// **Single use**: the stream can be consumed once, so the first subscriber gets it and every
/// later one receives `on_subscribe` then `on_error` naming rule 1.11 (a publisher decides how
/// many subscribers it serves). For a cold publisher that makes a fresh stream per subscriber,
/// use [`from_stream_fn`].
///
/// `on_subscribe` is called on the subscribing thread; every other signal comes from the
/// polling task, one at a time. Cancelling wakes the task, which drops the stream at once even
/// if the stream itself never wakes again. A panic while polling becomes `on_error` naming rule
/// 1.4 and this call site; a panic in the subscriber's `on_next` cancels and is reported through
/// [`report_undeliverable`] (rule 2.13). If the executor drops the task before the end (it was
/// shut down), the subscriber receives `on_error`.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::bridge::from_stream;
/// use rstreams::executor::ThreadPool;
/// use std::sync::Arc;
///
/// let pool = Arc::new(ThreadPool::builder().workers(1).build()?);
/// let numbers = futures_util::stream::iter(1..=4);
/// let sum = from_stream(numbers, pool).reduce(|a, b| a + b).blocking_first()?;
/// assert_eq!(sum, Some(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn from_stream<St>(stream: St, spawner: impl Into<Spawner>) -> FromStream<Plain<St>>
where
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    FromStream {
        stream: Mutex::new(Some(Plain(stream))),
        spawner: spawner.into(),
        what: "from_stream",
        loc: Location::caller(),
    }
}

/// [`from_stream`] for a stream of `Result`s: `Ok` items are emitted, the first `Err` ends the
/// publisher with `on_error` (and drops the stream). Single use, like [`from_stream`].
#[track_caller]
pub fn from_try_stream<St, T, E>(
    stream: St,
    spawner: impl Into<Spawner>,
) -> FromStream<Fallible<St>>
where
    St: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + 'static,
{
    FromStream {
        stream: Mutex::new(Some(Fallible(stream))),
        spawner: spawner.into(),
        what: "from_try_stream",
        loc: Location::caller(),
    }
}

/// A cold publisher: each subscriber gets its own stream from `factory`, polled as in
/// [`from_stream`]. A panic in `factory` fails that subscriber with an error naming rule 1.4.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::bridge::from_stream_fn;
/// use rstreams::executor::ThreadPool;
/// use std::sync::Arc;
///
/// let pool = Arc::new(ThreadPool::builder().workers(1).build()?);
/// let p = from_stream_fn(|| futures_util::stream::iter(0..3), pool);
/// assert_eq!(p.clone().to_vec().blocking_first()?, Some(vec![0, 1, 2]));
/// assert_eq!(p.to_vec().blocking_first()?, Some(vec![0, 1, 2])); // a fresh stream
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn from_stream_fn<F, St>(
    factory: F,
    spawner: impl Into<Spawner>,
) -> FromStreamFn<impl Fn() -> Plain<St> + Send + Sync + 'static>
where
    F: Fn() -> St + Send + Sync + 'static,
    St: Stream + Send + 'static,
    St::Item: Send + 'static,
{
    FromStreamFn {
        factory: Arc::new(move || Plain(factory())),
        spawner: spawner.into(),
        loc: Location::caller(),
    }
}

/// A publisher of one item, the future's output, then `on_complete`. The future is polled on
/// `spawner` once the subscriber has requested (so an unrequested future never runs). Single
/// use, like [`from_stream`]; see [`from_future_fn`] for a fresh future per subscriber.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::bridge::from_future;
/// use rstreams::executor::ThreadPool;
/// use std::sync::Arc;
///
/// let pool = Arc::new(ThreadPool::builder().workers(1).build()?);
/// let answer = from_future(async { 6 * 7 }, pool).blocking_first()?;
/// assert_eq!(answer, Some(42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[track_caller]
pub fn from_future<F>(future: F, spawner: impl Into<Spawner>) -> FromStream<OneFuture<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    FromStream {
        stream: Mutex::new(Some(OneFuture(future))),
        spawner: spawner.into(),
        what: "from_future",
        loc: Location::caller(),
    }
}

/// A cold [`from_future`]: each subscriber gets its own future from `factory`.
#[track_caller]
pub fn from_future_fn<F, Fut>(
    factory: F,
    spawner: impl Into<Spawner>,
) -> FromStreamFn<impl Fn() -> OneFuture<Fut> + Send + Sync + 'static>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    FromStreamFn {
        factory: Arc::new(move || OneFuture(factory())),
        spawner: spawner.into(),
        loc: Location::caller(),
    }
}

// ---- buffer bill (issue 12) ----
/// Polled only while demand is outstanding; one item may be stashed (`Live::stash`).
fn stream_row(name: &'static str, loc: Loc) -> crate::diag::bill::Row {
    use crate::diag::bill::{Bound, Row};
    Row::new(name, Some(loc), Bound::Bounded(1))
        .note("polled only on demand; one item stashed if size_hint was wrong")
}

impl<W> crate::diag::bill::BufferBill for FromStream<W> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        rows.push(stream_row(self.what, self.loc));
    }
}

impl<F> crate::diag::bill::BufferBill for FromStreamFn<F> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        rows.push(stream_row("from_stream_fn", self.loc));
    }
}

impl<St> std::fmt::Debug for Oks<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oks").finish_non_exhaustive()
    }
}

impl<St> std::fmt::Debug for TryItems<St> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryItems").finish_non_exhaustive()
    }
}

impl<F> std::fmt::Debug for Once<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}
