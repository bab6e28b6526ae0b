//! The policy stage shared by every `on_backpressure_*` operator.
//!
//! The upstream side ([`PolicySubscriber`]) applies the policy as items arrive and queues them;
//! the downstream side is the pull kit ([`rstreams_protocol::pull`]) serving a [`PolicySource`]
//! that takes runs of queued items, so demand, 3.9, cancellation, terminal signals and 2.13 are
//! the kit's, written once.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::{Loc, guard};

/// What a bounded buffer does when it is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Fail the stream with [`Overflow`], after the items already buffered.
    Error,
    /// Drop the oldest buffered item to make room (keep the freshest data).
    DropOldest,
    /// Drop the arriving item (keep what is buffered).
    DropNewest,
}

/// The error a stream fails with when a buffer with [`OverflowPolicy::Error`] overflows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// The buffer's capacity beyond the downstream's demand.
    pub capacity: usize,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "overflow: the source produced faster than the subscriber requested and the buffer \
             ({} items beyond demand) is full",
            self.capacity
        )
    }
}

impl std::error::Error for Overflow {}

/// How many items a policy stage has dropped, over all its subscriptions. Cheap to clone;
/// clones share the count.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(Arc<AtomicU64>);

impl DropCounter {
    /// Items dropped so far.
    pub fn get(&self) -> u64 {
        // Relaxed: a statistic.
        self.0.load(Ordering::Relaxed)
    }
}

/// `None` capacity: unbounded (only through the method named so).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mode {
    pub(crate) capacity: Option<usize>,
    pub(crate) policy: OverflowPolicy,
}

type DropFn<T> = Arc<dyn Fn(T) + Send + Sync>;

/// The publisher made by every `on_backpressure_*` method of [`PublisherExt`](crate::PublisherExt) and
/// [`Hot`](super::Hot). See the [module docs](super) for the policies.
pub struct OnBackpressure<P: Publisher> {
    pub(crate) upstream: P,
    pub(crate) mode: Mode,
    pub(crate) on_drop: Option<DropFn<P::Item>>,
    pub(crate) dropped: DropCounter,
    pub(crate) loc: Loc,
}

impl<P: Publisher + fmt::Debug> fmt::Debug for OnBackpressure<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressure")
            .field("upstream", &self.upstream)
            .field("capacity", &self.mode.capacity)
            .field("policy", &self.mode.policy)
            .field("dropped", &self.dropped.get())
            .finish()
    }
}

impl<P: Publisher> OnBackpressure<P> {
    pub(crate) fn new(upstream: P, mode: Mode, loc: Loc) -> Self {
        Self {
            upstream,
            mode,
            on_drop: None,
            dropped: DropCounter::default(),
            loc,
        }
    }

    /// Calls `f` with every item the policy drops (on the producer's thread; keep it short).
    /// A panic in `f` is reported to the undeliverable hook; the stream goes on.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    /// let lost = Arc::new(Mutex::new(Vec::new()));
    /// let l = Arc::clone(&lost);
    /// let p = hot.on_backpressure_drop().on_drop(move |x| l.lock().unwrap().push(x));
    /// let counter = p.drop_counter();
    /// let handle = p.subscribe_consumer(rstreams::Consumer::new(|_| {}).request(1));
    /// for i in 0..5 { tx.emit(i).unwrap(); }
    /// assert_eq!(*lost.lock().unwrap(), vec![1, 2, 3, 4]); // only 1 was requested
    /// assert_eq!(counter.get(), 4);
    /// handle.cancel();
    /// ```
    pub fn on_drop(mut self, f: impl Fn(P::Item) + Send + Sync + 'static) -> Self {
        self.on_drop = Some(Arc::new(f));
        self
    }

    /// The counter of dropped items (shared by every subscription of this publisher).
    pub fn drop_counter(&self) -> DropCounter {
        self.dropped.clone()
    }
}

impl<P> Publisher for OnBackpressure<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                done: false,
                closed: false,
                error: None,
            }),
            in_flight: AtomicU64::new(0),
            up: Mutex::new(None),
            mode: self.mode,
            on_drop: self.on_drop.clone(),
            dropped: self.dropped.clone(),
            loc: self.loc,
        });
        self.upstream.subscribe(PolicySubscriber {
            shared,
            down: Some(subscriber),
            handle: None,
        });
    }
}

struct Queue<T> {
    items: VecDeque<T>,
    /// The upstream terminated (or the policy failed); `error` says how.
    done: bool,
    /// The downstream side is gone (cancelled, terminated or panicked): nothing is queued.
    closed: bool,
    error: Option<Error>,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Items the running drain pass took from the queue and the kit has not yet charged to
    /// the demand: the room check subtracts them so that it stays exact during a pass.
    in_flight: AtomicU64,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    mode: Mode,
    on_drop: Option<DropFn<T>>,
    dropped: DropCounter,
    loc: Loc,
}

/// The upstream side: applies the policy to each arriving item.
struct PolicySubscriber<T, S> {
    shared: Arc<Shared<T>>,
    /// The downstream subscriber until the upstream's `on_subscribe` hands it to the kit.
    down: Option<S>,
    handle: Option<PullHandle>,
}

impl<T, S> Subscriber<T> for PolicySubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        // 2.5: a second subscription is cancelled.
        let Some(down) = self.down.take() else {
            up.cancel();
            return;
        };
        *self.shared.up.lock() = Some(Arc::clone(&up));
        let shared = Arc::clone(&self.shared);
        let site = self.shared.loc;
        // The kit sends `on_subscribe` downstream now; a cancel from inside it drops the
        // source, which cancels `up` (and a later `request` on it does nothing, 3.6).
        let source = PolicySource {
            shared,
            batch: VecDeque::new(),
        };
        let handle = pull::serve(source.at(site), down);
        self.handle = Some(handle);
        up.request(u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let Some(handle) = &self.handle else {
            return; // on_next before on_subscribe: nobody to deliver to
        };
        let sh = &self.shared;
        let mut q = sh.queue.lock();
        if q.done || q.closed {
            return;
        }
        // Buffered items not yet covered by demand must stay within capacity; items covered by
        // demand are about to be delivered by the drain.
        let room = match sh.mode.capacity {
            None => true,
            // Within capacity whatever the demand: no need to ask the kit for it.
            Some(cap) if q.items.len() < cap => true,
            Some(cap) => {
                let covered = handle
                    .requested()
                    .saturating_sub(sh.in_flight.load(Ordering::SeqCst));
                (q.items.len() as u64) < covered.saturating_add(cap as u64)
            }
        };
        // Only a queue going from empty to non-empty needs a wake: otherwise a pass is under
        // way and will see the item, or demand ran out and the next `request` drives.
        let was_empty = q.items.is_empty();
        let dropped = if room {
            q.items.push_back(item);
            None
        } else {
            match sh.mode.policy {
                OverflowPolicy::DropNewest => Some(item),
                OverflowPolicy::DropOldest => {
                    let old = q.items.pop_front();
                    q.items.push_back(item);
                    old
                }
                OverflowPolicy::Error => {
                    q.done = true;
                    q.error = Some(
                        Error::new(Overflow {
                            capacity: sh.mode.capacity.unwrap_or(usize::MAX),
                        })
                        .at_stage(sh.loc),
                    );
                    drop(q);
                    drop(item);
                    sh.cancel_upstream();
                    handle.wake();
                    return;
                }
            }
        };
        drop(q);
        if let Some(item) = dropped {
            sh.report_drop(item);
        } else if was_empty {
            handle.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        self.finish(Some(error));
    }

    fn on_complete(&mut self) {
        self.finish(None);
    }
}

impl<T, S> PolicySubscriber<T, S>
where
    T: Send + 'static,
{
    fn finish(&mut self, error: Option<Error>) {
        {
            let mut q = self.shared.queue.lock();
            if q.closed {
                return;
            }
            if q.done {
                // The policy already failed the stream: this terminal has no one to go to.
                if let Some(e) = error {
                    report_undeliverable(e);
                }
                return;
            }
            q.done = true;
            q.error = error;
        }
        self.shared.up.lock().take();
        if let Some(handle) = &self.handle {
            handle.wake();
        }
    }
}

impl<T> Shared<T> {
    fn cancel_upstream(&self) {
        let up = self.up.lock().take();
        if let Some(up) = up {
            up.cancel();
        }
    }

    fn report_drop(&self, item: T) {
        // Relaxed: a statistic.
        let total = self.dropped.0.fetch_add(1, Ordering::Relaxed) + 1;
        // One debug line per power-of-two total (1, 2, 4, …): visible, never per item.
        if total.is_power_of_two() {
            tracing::debug!(stage = %self.loc, total, "overflow policy dropped items");
        } else {
            tracing::trace!(stage = %self.loc, total, "overflow policy dropped an item");
        }
        if let Some(f) = &self.on_drop
            && let Err(p) = guard(|| f(item))
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }
}

/// The downstream side: what the pull kit serves.
struct PolicySource<T> {
    shared: Arc<Shared<T>>,
    /// Reused between passes: the run of items taken under one lock.
    batch: VecDeque<T>,
}

impl<T> PolicySource<T> {
    /// What an empty queue means: the end, if upstream ended (the error is sent once).
    fn end_of(q: &mut Queue<T>) -> Step<T> {
        match (q.done, q.error.take()) {
            (true, Some(e)) => Step::Error(e),
            (true, None) => Step::Complete,
            (false, _) => Step::Pending,
        }
    }
}

impl<T: Send + 'static> Source for PolicySource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "on_backpressure"
    }

    /// Issue 12: the items queued for the downstream and the items the policy dropped (over
    /// every subscription of this stage, as [`DropCounter`] counts them).
    fn backlog_probe(&self) -> Option<rstreams_protocol::pull::BacklogProbe> {
        let shared = Arc::downgrade(&self.shared);
        Some(Arc::new(move || {
            let Some(shared) = shared.upgrade() else {
                return rstreams_protocol::Backlog::default();
            };
            rstreams_protocol::Backlog {
                buffered: shared.queue.lock().items.len() as u64,
                dropped: shared.dropped.get(),
            }
        }))
    }

    fn pull(&mut self) -> Step<T> {
        let mut q = self.shared.queue.lock();
        match q.items.pop_front() {
            Some(item) => Step::Next(item),
            None => Self::end_of(&mut q),
        }
    }

    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        // Take a run within demand under one lock, then deliver it unlocked.
        let bounded = self.shared.mode.capacity.is_some();
        let mut batch = std::mem::take(&mut self.batch);
        let stop = {
            let mut q = self.shared.queue.lock();
            let n = (q.items.len() as u64).min(limit);
            batch.extend(q.items.drain(..n as usize));
            if bounded {
                self.shared.in_flight.store(n, Ordering::SeqCst);
            }
            // The error (or completion) follows the items already buffered.
            (n < limit).then(|| Self::end_of(&mut q))
        };
        let (emitted, _) = crate::stage::emit_batch(&mut batch, &mut emit);
        self.batch = batch;
        // The kit charges `emitted` to the demand right after this returns. SeqCst with the
        // kit's demand counter: a room check that sees the charge also sees this reset.
        if bounded {
            self.shared.in_flight.store(0, Ordering::SeqCst);
        }
        (emitted, stop)
    }

    fn is_exhausted(&mut self) -> bool {
        let q = self.shared.queue.lock();
        q.done && q.items.is_empty()
    }
}

impl<T> Drop for PolicySource<T> {
    fn drop(&mut self) {
        // Cancelled, terminated or the subscriber panicked (the kit has dealt with the
        // subscriber): release what is buffered and stop the upstream (3.13).
        let items = {
            let mut q = self.shared.queue.lock();
            q.closed = true;
            std::mem::take(&mut q.items)
        };
        drop(items);
        self.shared.cancel_upstream();
    }
}
