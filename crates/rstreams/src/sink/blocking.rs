//! Blocking bridges for plain threads.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::stage::{Loc, guard};

/// A one-shot result slot a blocked thread waits on.
struct Latch<R> {
    value: Mutex<Option<R>>,
    ready: Condvar,
}

impl<R> Latch<R> {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            value: Mutex::new(None),
            ready: Condvar::new(),
        })
    }
    /// Sets the result unless already set.
    fn set(&self, r: R) {
        let mut v = self.value.lock();
        if v.is_none() {
            *v = Some(r);
            self.ready.notify_all();
        }
    }
    fn wait(&self) -> R {
        let mut v = self.value.lock();
        loop {
            if let Some(r) = v.take() {
                return r;
            }
            self.ready.wait(&mut v);
        }
    }
}

fn dropped_error(loc: Loc) -> Error {
    Error::violation(
        Rule::R1_7,
        "the publisher dropped the subscriber without a terminal signal",
    )
    .at_stage(loc)
}

/// What a blocking sink does with items; `false` from `next` stops the stream (cancel).
trait Collector<T>: Send + 'static {
    type Out: Send + 'static;
    /// The first request.
    const REQUEST: u64 = u64::MAX;
    fn next(&mut self, item: T) -> bool;
    fn finish(self) -> Self::Out;
}

struct BlockingSubscriber<C: Collector<T>, T> {
    collector: Option<C>,
    latch: Arc<Latch<Result<C::Out, Error>>>,
    sub: Option<Arc<dyn Subscription>>,
    loc: Loc,
}

impl<C: Collector<T>, T> BlockingSubscriber<C, T> {
    fn end(&mut self, r: Result<(), Error>) {
        self.sub = None;
        if let Some(c) = self.collector.take() {
            self.latch.set(r.map(|()| c.finish()));
        }
    }
}

impl<C: Collector<T>, T> Subscriber<T> for BlockingSubscriber<C, T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.sub.is_some() || self.collector.is_none() {
            s.cancel();
            return;
        }
        // Stored before requesting: a synchronous publisher delivers inside `request`, and a
        // collector that has seen enough cancels through it.
        let s: Arc<dyn Subscription> = Arc::from(s);
        self.sub = Some(Arc::clone(&s));
        s.request(C::REQUEST);
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        let Some(c) = &mut self.collector else { return };
        match guard(|| c.next(item)) {
            Ok(true) => {}
            Ok(false) => {
                if let Some(s) = self.sub.take() {
                    s.cancel();
                }
                self.end(Ok(()));
            }
            Err(p) => {
                if let Some(s) = self.sub.take() {
                    s.cancel();
                }
                self.end(Err(Error::from_panic(Rule::R2_13, p).at_stage(self.loc)));
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

impl<C: Collector<T>, T> Drop for BlockingSubscriber<C, T> {
    fn drop(&mut self) {
        // Never leave the waiting thread hanging, whatever the publisher did.
        if self.collector.is_some() {
            self.latch.set(Err(dropped_error(self.loc)));
        }
    }
}

fn run<P, C>(publisher: &P, collector: C, loc: Loc) -> Result<C::Out, Error>
where
    P: Publisher + ?Sized,
    P::Item: 'static,
    C: Collector<P::Item>,
{
    let latch = Latch::new();
    publisher.subscribe(BlockingSubscriber {
        collector: Some(collector),
        latch: Arc::clone(&latch),
        sub: None,
        loc,
    });
    latch.wait()
}

struct ForEach<F>(F);
impl<T, F: FnMut(T) + Send + 'static> Collector<T> for ForEach<F> {
    type Out = ();
    fn next(&mut self, item: T) -> bool {
        (self.0)(item);
        true
    }
    fn finish(self) {}
}

struct First<T>(Option<T>);
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

struct Last<T>(Option<T>);
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

pub(crate) fn for_each<P, F>(publisher: &P, f: F, loc: Loc) -> Result<(), Error>
where
    P: Publisher + ?Sized,
    P::Item: 'static,
    F: FnMut(P::Item) + Send + 'static,
{
    run(publisher, ForEach(f), loc)
}

pub(crate) fn blocking_first<P>(publisher: &P, loc: Loc) -> Result<Option<P::Item>, Error>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    run(publisher, First(None), loc)
}

pub(crate) fn blocking_last<P>(publisher: &P, loc: Loc) -> Result<Option<P::Item>, Error>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    run(publisher, Last(None), loc)
}

enum Msg<T> {
    Item(T),
    Error(Error),
    Complete,
}

/// A blocking iterator over any publisher, made by
/// [`blocking_iter`](crate::PublisherExt::blocking_iter).
///
/// Items are `Result<T, Error>`: `Ok` for each item, then at most one `Err` if the stream fails,
/// after which the iterator is finished (it is fused). Completion ends the iteration.
///
/// Demand: it requests `prefetch` items when subscribing and `limit = prefetch - prefetch / 4`
/// more each time `limit` items have been taken by `next` (replenish at 75%), so at most
/// `prefetch` items are ever buffered: the channel is bounded. Dropping the iterator cancels the
/// upstream. `prefetch == 0` yields one `Err` without subscribing.
///
/// With a synchronous publisher the items are produced inside `next` (on the iterating thread);
/// with a publisher that emits on other threads `next` blocks until an item arrives.
pub struct BlockingIter<T> {
    rx: Option<Receiver<Msg<T>>>,
    shared: Arc<Mutex<IterShared>>,
    limit: u64,
    taken: u64,
    pending_error: Option<Error>,
    loc: Loc,
}

impl<T> std::fmt::Debug for BlockingIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingIter")
            .field("limit", &self.limit)
            .field("finished", &self.rx.is_none())
            .finish()
    }
}

struct ChannelSubscriber<T> {
    tx: Option<Sender<Msg<T>>>,
    shared: Arc<Mutex<IterShared>>,
    prefetch: u64,
    loc: Loc,
}

impl<T> ChannelSubscriber<T> {
    fn send(&mut self, msg: Msg<T>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => {
                // The iterator is gone; it cancelled already.
                self.tx = None;
            }
            Err(TrySendError::Full(_)) => {
                // Only an upstream that broke rule 1.1 can fill a channel sized for the demand.
                let error = Error::violation(
                    Rule::R1_1,
                    "blocking_iter received more items than it requested",
                )
                .at_stage(self.loc);
                tracing::debug!(%error, "cancelling upstream");
                let sub = {
                    let mut shared = self.shared.lock();
                    shared.fault = Some(error);
                    shared.sub.take()
                };
                if let Some(s) = sub {
                    s.cancel();
                }
                // Dropping the sender wakes the iterator, which reports the fault.
                self.tx = None;
            }
        }
    }
}

/// What the iterator and its subscriber share.
#[derive(Default)]
struct IterShared {
    sub: Option<Arc<dyn Subscription>>,
    fault: Option<Error>,
}

impl<T> Subscriber<T> for ChannelSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut shared = self.shared.lock();
            if shared.sub.is_some() || self.tx.is_none() {
                drop(shared);
                s.cancel();
                return;
            }
            shared.sub = Some(Arc::clone(&s));
        }
        s.request(self.prefetch);
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        self.send(Msg::Item(item));
    }
    fn on_error(&mut self, error: Error) {
        self.send(Msg::Error(error));
        self.tx = None;
    }
    fn on_complete(&mut self) {
        self.send(Msg::Complete);
        self.tx = None;
    }
}

pub(crate) fn blocking_iter<P>(publisher: &P, prefetch: usize, loc: Loc) -> BlockingIter<P::Item>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    let shared = Arc::new(Mutex::new(IterShared::default()));
    if prefetch == 0 {
        return BlockingIter {
            rx: None,
            shared,
            limit: 0,
            taken: 0,
            pending_error: Some(
                Error::msg("blocking_iter(0): prefetch must be at least 1").at_stage(loc),
            ),
            loc,
        };
    }
    // One slot more than the demand, for the terminal signal.
    let (tx, rx) = crossbeam_channel::bounded(prefetch.saturating_add(1));
    let prefetch = prefetch as u64;
    publisher.subscribe(ChannelSubscriber {
        tx: Some(tx),
        shared: Arc::clone(&shared),
        prefetch,
        loc,
    });
    BlockingIter {
        rx: Some(rx),
        shared,
        limit: (prefetch - prefetch / 4).max(1),
        taken: 0,
        pending_error: None,
        loc,
    }
}

impl<T> BlockingIter<T> {
    fn close(&mut self) {
        self.rx = None;
        let sub = self.shared.lock().sub.take();
        if let Some(s) = sub {
            s.cancel();
        }
    }
}

impl<T> Iterator for BlockingIter<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Result<T, Error>> {
        if let Some(e) = self.pending_error.take() {
            self.close();
            return Some(Err(e));
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Msg::Item(item)) => {
                self.taken += 1;
                if self.taken == self.limit {
                    self.taken = 0;
                    let sub = self.shared.lock().sub.clone();
                    if let Some(s) = sub {
                        s.request(self.limit);
                    }
                }
                Some(Ok(item))
            }
            Ok(Msg::Error(e)) => {
                self.rx = None;
                self.shared.lock().sub = None;
                Some(Err(e))
            }
            Ok(Msg::Complete) => {
                self.rx = None;
                self.shared.lock().sub = None;
                None
            }
            Err(_) => {
                // Every sender is gone without a terminal message.
                let fault = self.shared.lock().fault.take();
                self.close();
                Some(Err(fault.unwrap_or_else(|| dropped_error(self.loc))))
            }
        }
    }
}

impl<T> std::iter::FusedIterator for BlockingIter<T> {}

impl<T> Drop for BlockingIter<T> {
    fn drop(&mut self) {
        let sub = self.shared.lock().sub.take();
        if let Some(s) = sub {
            s.cancel();
        }
    }
}
