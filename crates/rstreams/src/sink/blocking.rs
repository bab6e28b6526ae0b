//! Blocking bridges for plain threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use super::collect::{Collect, Collector, First, ForEach, Last, Outlet, dropped_error};
use super::local::{LocalBuf, Receiver, Sender, channel};
use crate::source::fuse::PullBatch;
use crate::stage::Loc;

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

/// The blocking calls' [`Outlet`]: a latch the calling thread waits on.
struct Blocking<R> {
    latch: Arc<Latch<Result<R, Error>>>,
    sub: Mutex<Option<Arc<dyn Subscription>>>,
}

impl<R: Send + 'static> Outlet<R> for Blocking<R> {
    fn attach(&self, subscription: &Arc<dyn Subscription>) -> bool {
        let mut sub = self.sub.lock();
        if sub.is_some() {
            return false; // 2.5: a second subscription is cancelled
        }
        *sub = Some(Arc::clone(subscription));
        true
    }
    fn detach(&self) -> Option<Arc<dyn Subscription>> {
        self.sub.lock().take()
    }
    fn settle(&self, result: Result<R, Error>) {
        self.latch.set(result);
    }
}

/// Subscribes a [`Collect`] and blocks until it has a result.
fn run<P, C>(publisher: &P, collector: C, loc: Loc) -> Result<C::Out, Error>
where
    P: Publisher + ?Sized,
    P::Item: 'static,
    C: Collector<P::Item>,
{
    let latch = Latch::new();
    let outlet = Blocking {
        latch: Arc::clone(&latch),
        sub: Mutex::new(None),
    };
    publisher.subscribe(Collect::new(collector, outlet, loc));
    latch.wait()
}

pub(crate) fn for_each<P, F>(publisher: &P, f: F, loc: Loc) -> Result<(), Error>
where
    P: Publisher + ?Sized,
    P::Item: 'static,
    F: FnMut(P::Item) + Send + 'static,
{
    run(publisher, ForEach(f), loc)
}

/// `for_each` with the closure on the calling thread: the items cross over through the bounded
/// blocking iterator (so `f` need not be `Send` or `'static`: it never leaves this frame).
pub(crate) fn for_each_local<P, F>(publisher: &P, mut f: F, loc: Loc) -> Result<(), Error>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
    F: FnMut(P::Item),
{
    let mut items = blocking_iter(publisher, super::DEFAULT_BLOCKING_PREFETCH, loc);
    for item in &mut items {
        let item = item?;
        if let Err(payload) = crate::stage::guard(|| f(item)) {
            // Dropping the iterator cancels the upstream.
            drop(items);
            return Err(crate::stage::closure_panic(payload, loc));
        }
    }
    Ok(())
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

/// A blocking iterator over any publisher, made by
/// [`blocking_iter`](crate::PublisherExt::blocking_iter).
///
/// Items are `Result<T, Error>`: `Ok` for each item, then at most one `Err` if the stream fails,
/// after which the iterator is finished (it is fused). Completion ends the iteration.
///
/// Demand: it requests `prefetch` items when subscribing and `limit = prefetch - prefetch / 4`
/// more each time `limit` items have been taken by `next` (replenish at 75%), so at most
/// `prefetch` items are ever buffered. Dropping the iterator cancels the upstream, also when the
/// subscription has not arrived yet (it is cancelled, with nothing requested, when it does).
/// `prefetch == 0` yields one `Err` without subscribing.
///
/// With a synchronous publisher the items are produced inside `next` (on the iterating thread);
/// with a publisher that emits on other threads `next` blocks until an item arrives. Made by the
/// inherent `blocking_iter` of a fused chain ([`SyncSource`](crate::source::SyncSource): a
/// `range` or `from_iter`, possibly behind `map`/`filter`/`filter_map`/`take`), the iterator
/// does not subscribe at all: `next` pulls `prefetch` items at a time (at most 4096) from the
/// chain itself into one buffer it reuses, and hands them out from there.
///
/// Either way the loop body runs on the iterating thread: the way to keep a slow sink off the
/// pool's workers.
///
/// The hand-off has two paths. Items delivered on the iterating thread while it is inside its
/// own `request` (a synchronous publisher: the consumer pulls a batch) go straight into the
/// iterator's own buffer, which only that thread touches: no lock and no atomic
/// read-modify-write per item. Items delivered from other threads go through the thread hop's
/// lock-free single-producer ring (sized for the prefetch); `next` spins briefly when it finds
/// nothing, then parks, and the delivering thread wakes it at most once per park (no lock and
/// no read-modify-write per item on either side). A `prefetch` above 4096 is treated as 4096
/// when subscribing (the ring's bound; buffering less than asked is within the promise).
pub struct BlockingIter<T> {
    /// Pulling mode: the rest of the last batch pulled, in reverse order, so taking an item is
    /// a `pop` (always empty when subscribed). Its allocation is reused by every batch.
    ///
    /// Only this field and the `Box` pointer live in the iterator itself, and no out-of-line
    /// call of ours receives their address (those paths get `&mut Inner`, a heap address, and
    /// the buffer moved out and back by value). So the optimiser may keep the buffer's length
    /// in a register across the caller's loop body even when that body runs opaque code; it
    /// does in `benches/operators.rs` (`blocking_iter_256`: six instructions per item in the
    /// loop, against a store and a reload of the cursor per item when `next_slow` took
    /// `&mut self`).
    pulled: Vec<T>,
    inner: Box<Inner<T>>,
}

/// Everything but the pulled batch; touched per item only when subscribed.
struct Inner<T> {
    shared: Arc<IterShared<T>>,
    /// A fused synchronous chain this iterator pulls itself (see
    /// [`SyncSource`](crate::source::SyncSource)); `None` when it subscribed, and once the
    /// chain ended. The mutex is never locked (`next` has `&mut self`); it only keeps the
    /// iterator `Sync`.
    pull: Option<Mutex<Box<dyn PullBatch<T>>>>,
    /// The cross-thread half (subscribed mode only): the ring's consumer and the parking token.
    rx: Option<Receiver<T>>,
    /// Items per pull in pulling mode.
    batch: u64,
    limit: u64,
    taken: u64,
    finished: bool,
    pending_error: Option<Error>,
}

impl<T> std::fmt::Debug for BlockingIter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingIter")
            .field("limit", &self.inner.limit)
            .field(
                "buffered",
                &(self.inner.shared.local_len() + self.pulled.len()),
            )
            .field("finished", &self.inner.finished)
            .finish()
    }
}

/// What the iterator and its subscriber share.
struct IterShared<T> {
    state: Mutex<IterState>,
    /// The running total requested (written by the iterator, read by the subscriber to catch an
    /// upstream that sends more than it was asked for).
    requested: AtomicU64,
    /// The iterator's own buffer, which `next` pops from. Items delivered on the iterating
    /// thread from inside its own `subscribe`/`request` call (the synchronous fast path) are
    /// pushed here directly, without a lock (the protocol and its loom model: `local.rs`).
    local: LocalBuf<T>,
}

struct IterState {
    /// The terminal signal, once it arrived (or a fault standing in for it).
    end: Option<Result<(), Error>>,
    /// The iterator was dropped: a subscription arriving later is cancelled at once.
    dropped: bool,
    sub: Option<Arc<dyn Subscription>>,
}

impl<T> IterShared<T> {
    fn finish(&self, end: Result<(), Error>) {
        let mut st = self.state.lock();
        if st.end.is_none() {
            st.end = Some(end);
        }
        st.sub = None;
    }

    fn local_len(&self) -> usize {
        // SAFETY: called from `Debug` and `size_hint`, which hold `&` to the iterator, so none
        // of its calls (they hold `&mut`) is under way: no subscriber is pushing (it pushes only
        // inside those calls), and any earlier push happened before the `&` was handed out.
        unsafe { self.local.with(|q| q.len()) }
    }
}

struct QueueSubscriber<T> {
    shared: Arc<IterShared<T>>,
    /// The cross-thread half (and the fast path's ordering with it): `sink/local.rs`.
    tx: Sender<T>,
    received: u64,
    prefetch: u64,
    done: bool,
    loc: Loc,
}

impl<T> Subscriber<T> for QueueSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut st = self.shared.state.lock();
            if st.sub.is_some() || st.end.is_some() || st.dropped || self.done {
                drop(st);
                // Rule 2.5, or the iterator is already gone (dropped before the subscription
                // arrived, e.g. through a hop): cancel, request nothing.
                self.done = true;
                s.cancel();
                return;
            }
            st.sub = Some(Arc::clone(&s));
        }
        self.shared
            .requested
            .store(self.prefetch, Ordering::Release);
        s.request(self.prefetch);
    }
    // Always inlined into the publisher's emit loop: the fast path is a few instructions, the
    // rest is out of line.
    #[inline(always)]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        self.received += 1;
        if self.received > self.shared.requested.load(Ordering::Acquire) {
            self.too_many();
            return;
        }
        // The synchronous fast path on the iterating thread inside its own call (`LocalBuf`
        // checks the thread's mark), else the ring.
        if self.tx.send(&self.shared.local, item).is_err() {
            // Cannot happen while the upstream keeps rule 1.1 (checked above) and the
            // iterator publishes before it requests; kept bounded all the same.
            self.too_many();
        }
    }
    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.finish(Err(error));
        }
    }
    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.finish(Ok(()));
        }
    }
}

impl<T> QueueSubscriber<T> {
    /// Records the end and wakes the iterator if it parked.
    fn finish(&mut self, end: Result<(), Error>) {
        self.shared.finish(end);
        self.tx.close();
    }

    /// Only an upstream that broke rule 1.1 gets here; the buffers must stay bounded.
    #[cold]
    fn too_many(&mut self) {
        self.done = true;
        let error = Error::violation(
            Rule::R1_1,
            "blocking_iter received more items than it requested",
        )
        .at_stage(self.loc);
        tracing::debug!(%error, "cancelling upstream");
        let sub = self.shared.state.lock().sub.take();
        if let Some(s) = sub {
            s.cancel();
        }
        self.finish(Err(error));
    }
}

impl<T> Drop for QueueSubscriber<T> {
    fn drop(&mut self) {
        // Never leave the iterating thread waiting, whatever the publisher did.
        if !self.done {
            self.finish(Err(dropped_error(self.loc)));
        }
    }
}

impl<T> IterShared<T> {
    fn new() -> Arc<Self> {
        Arc::new(IterShared {
            state: Mutex::new(IterState {
                end: None,
                dropped: false,
                sub: None,
            }),
            requested: AtomicU64::new(0),
            local: LocalBuf::new(),
        })
    }
}

pub(crate) fn blocking_iter<P>(publisher: &P, prefetch: usize, loc: Loc) -> BlockingIter<P::Item>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    let shared = IterShared::new();
    // The ring holds what is outstanding, so it bounds the prefetch (see the type's docs).
    let prefetch = (prefetch as u64).min(MAX_PULL_BATCH);
    let (tx, rx) = channel(prefetch as usize);
    let mut iter = BlockingIter::new(Inner {
        shared: Arc::clone(&shared),
        pull: None,
        rx: Some(rx),
        batch: prefetch,
        limit: (prefetch - prefetch / 4).max(1),
        taken: 0,
        finished: false,
        pending_error: None,
    });
    if prefetch == 0 {
        iter.inner.pending_error =
            Some(Error::msg("blocking_iter_with(0): prefetch must be at least 1").at_stage(loc));
        return iter;
    }
    {
        // A synchronous publisher delivers the first `prefetch` items right here.
        let _scope = shared.local.enter();
        publisher.subscribe(QueueSubscriber {
            shared: Arc::clone(&shared),
            tx,
            received: 0,
            prefetch,
            done: false,
            loc,
        });
    }
    iter
}

/// The most items one pull asks a fused chain for (and so the most the batch buffer holds):
/// a larger `prefetch` still means "buffer at most that many", and pulling less at a time is
/// within it, so an enormous `prefetch` does not allocate an enormous buffer.
const MAX_PULL_BATCH: u64 = 4096;

impl<T> BlockingIter<T> {
    fn new(inner: Inner<T>) -> Self {
        BlockingIter {
            pulled: Vec::new(),
            inner: Box::new(inner),
        }
    }

    /// An iterator that pulls `source` itself, `batch` items at a time, on the iterating thread.
    pub(crate) fn pulling(source: Box<dyn PullBatch<T>>, batch: u64) -> Self {
        BlockingIter::new(Inner {
            shared: IterShared::new(),
            pull: Some(Mutex::new(source)),
            rx: None,
            batch: batch.clamp(1, MAX_PULL_BATCH),
            // Nothing to replenish: the pull asks for a batch when the buffer is empty.
            limit: u64::MAX,
            taken: 0,
            finished: false,
            pending_error: None,
        })
    }

    /// What the iterator holds right now, for diagnostics (issue 12; the same answer a stage
    /// gives through [`Subscription::backlog`]): the items received (or pulled) and not yet
    /// taken by `next`. Never more than the prefetch. Nothing is ever dropped.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut it = rstreams::range(0, 100).boxed().blocking_iter_with(8);
    /// assert_eq!(it.backlog().buffered, 8); // a synchronous source filled the prefetch
    /// it.next();
    /// assert_eq!(it.backlog().buffered, 7);
    /// ```
    pub fn backlog(&self) -> rstreams_protocol::Backlog {
        let inner = &*self.inner;
        let local = self.pulled.len() + inner.shared.local_len();
        let queued = match &inner.rx {
            Some(rx) if !inner.finished => rx.len(),
            _ => 0, // pulling itself, or done: nothing arrives from other threads
        };
        rstreams_protocol::Backlog {
            buffered: (local + queued) as u64,
            dropped: 0,
        }
    }

    /// An iterator that yields `error` and ends.
    pub(crate) fn failed(error: Error) -> Self {
        BlockingIter::new(Inner {
            shared: IterShared::new(),
            pull: None,
            rx: None,
            batch: 0,
            limit: u64::MAX,
            taken: 0,
            finished: false,
            pending_error: Some(error),
        })
    }
}

impl<T> Inner<T> {
    fn cancel(&mut self) {
        let sub = {
            let mut st = self.shared.state.lock();
            // A subscription still on its way is cancelled by `on_subscribe` (issue 17).
            st.dropped = true;
            st.sub.take()
        };
        if let Some(s) = sub {
            s.cancel();
        }
        // A fused chain's source is freed with the iterator (as the kit drops it on cancel).
        self.pull = None;
    }

    #[inline(always)]
    fn replenish(&mut self) {
        self.replenish_by(1);
    }

    /// Counts `n` items taken (a run at once, or one); asks for more each `limit`.
    #[inline(always)]
    fn replenish_by(&mut self, n: u64) {
        self.taken += n;
        while self.taken >= self.limit {
            self.taken -= self.limit;
            self.request_more();
        }
    }

    #[inline(never)]
    fn request_more(&mut self) {
        let sub = self.shared.state.lock().sub.clone();
        if let Some(s) = sub {
            // Hand the ring's read slots back first: the upstream may fill them at once.
            if let Some(rx) = self.rx.as_mut() {
                rx.publish();
            }
            self.shared
                .requested
                .fetch_add(self.limit, Ordering::AcqRel);
            {
                // A synchronous publisher delivers the batch inside this call, on this thread.
                let _scope = self.shared.local.enter();
                s.request(self.limit);
            }
        }
    }
}

impl<T> Iterator for BlockingIter<T> {
    type Item = Result<T, Error>;

    // Always inlined into the caller's loop: taking a buffered item is a few instructions.
    #[inline(always)]
    fn next(&mut self) -> Option<Result<T, Error>> {
        if let Some(item) = self.pulled.pop() {
            return Some(Ok(item));
        }
        let inner = &mut *self.inner;
        // SAFETY: on the iterating thread, outside any call of ours; the reference ends here.
        if let Some(item) = unsafe { inner.shared.local.with(|q| q.pop_front()) } {
            inner.replenish();
            return Some(Ok(item));
        }
        // The buffer goes out and back by value, so its address never leaves this function.
        let mut pulled = std::mem::take(&mut self.pulled);
        let next = inner.next_slow(&mut pulled);
        self.pulled = pulled;
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let inner = &*self.inner;
        let buffered = self.pulled.len() + inner.shared.local_len();
        if inner.finished {
            return (0, Some(0));
        }
        if inner.pending_error.is_some() {
            // Set only where nothing else is buffered or to come: the error alone.
            return (buffered + 1, Some(buffered + 1));
        }
        let queued = inner.rx.as_ref().map_or(0, Receiver::len);
        let st = inner.shared.state.lock();
        let buffered = buffered + queued;
        match &st.end {
            // Ended: what is buffered, then the error if it failed.
            Some(end) => {
                let all = buffered + usize::from(end.is_err());
                (all, Some(all))
            }
            None => (buffered, None),
        }
    }
}

impl<T> Inner<T> {
    /// `next` when the local buffers are empty: the error, the next pulled batch (into
    /// `pulled`, which is empty), the ring, or a wait.
    #[inline(never)]
    fn next_slow(&mut self, pulled: &mut Vec<T>) -> Option<Result<T, Error>> {
        if let Some(e) = self.pending_error.take() {
            self.finished = true;
            self.cancel();
            return Some(Err(e));
        }
        if self.finished {
            return None;
        }
        if let Some(pull) = self.pull.as_mut() {
            if let Some(end) = pull.get_mut().fill(self.batch, pulled) {
                // Behind the items of this last batch, like a terminal signal. The chain is
                // done: free it now (its source already went when it ended).
                self.shared.finish(end);
                self.pull = None;
            }
            // Handed out from the end: one pass here instead of a cursor kept per item.
            pulled.reverse();
            if let Some(item) = pulled.pop() {
                return Some(Ok(item));
            }
        }
        loop {
            if let Some(rx) = self.rx.as_mut() {
                if let Some(item) = rx.try_recv() {
                    // The rest of what that look at the ring found goes to `pulled` too: the
                    // next items are then served inline, one look per run instead of a call
                    // per item. They precede anything the sender puts in `local` later (it
                    // does so only once the ring is drained, see `local.rs`).
                    let mut taken = 1;
                    while let Some(more) = rx.try_recv_cached() {
                        pulled.push(more);
                        taken += 1;
                    }
                    pulled.reverse();
                    self.replenish_by(taken);
                    return Some(Ok(item));
                }
                if !rx.is_ended() {
                    // Spins, then parks until the subscriber pushes or ends.
                    rx.wait();
                    continue;
                }
                // Ended: the items pushed before the end are visible now; they come first.
                if let Some(item) = rx.try_recv() {
                    self.replenish();
                    return Some(Ok(item));
                }
            }
            let end = self.shared.state.lock().end.take();
            self.finished = true;
            return end.and_then(Result::err).map(Err);
        }
    }
}

impl<T> std::iter::FusedIterator for BlockingIter<T> {}

// On the heap part, so dropping the iterator passes no stack address out of line (see
// `BlockingIter::pulled`).
impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}
