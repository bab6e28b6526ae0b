//! The policy stage shared by every `on_backpressure_*` operator.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::{
    Demand, Error, Publisher, Rule, SerialDrain, Subscriber, Subscription, report_undeliverable,
};

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
            demand: Demand::new(),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                done: false,
                error: None,
            }),
            up: Mutex::new(None),
            mode: self.mode,
            on_drop: self.on_drop.clone(),
            dropped: self.dropped.clone(),
            loc: self.loc,
            drain: SerialDrain::new(Down {
                down: Some(subscriber),
                subscribed: false,
            }),
        });
        self.upstream.subscribe(PolicySubscriber { shared });
    }
}

struct Queue<T> {
    items: VecDeque<T>,
    /// The upstream terminated (or the policy failed); `error` says how.
    done: bool,
    error: Option<Error>,
}

struct Down<S> {
    down: Option<S>,
    subscribed: bool,
}

struct Shared<T, S> {
    demand: Demand,
    queue: Mutex<Queue<T>>,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    mode: Mode,
    on_drop: Option<DropFn<T>>,
    dropped: DropCounter,
    loc: Loc,
    drain: SerialDrain<Down<S>>,
}

struct PolicySubscriber<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscriber<T> for PolicySubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut slot = self.shared.up.lock();
            if slot.is_some() || self.shared.queue.lock().done {
                drop(slot);
                up.cancel();
                return;
            }
            *slot = Some(Arc::clone(&up));
        }
        self.shared.drive();
        up.request(u64::MAX);
    }

    fn on_next(&mut self, item: T) {
        let sh = &self.shared;
        let mut q = sh.queue.lock();
        if q.done || sh.demand.is_cancelled() {
            return;
        }
        // Buffered items not yet covered by demand must stay within capacity; items covered by
        // demand are about to be delivered by the drain.
        let room = match sh.mode.capacity {
            None => true,
            Some(cap) => (q.items.len() as u64) < sh.demand.get().saturating_add(cap as u64),
        };
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
                    sh.drive();
                    return;
                }
            }
        };
        drop(q);
        if let Some(item) = dropped {
            sh.report_drop(item);
        }
        sh.drive();
    }

    fn on_error(&mut self, error: Error) {
        self.shared.finish(Some(error));
    }

    fn on_complete(&mut self) {
        self.shared.finish(None);
    }
}

struct PolicySubscription<T, S>(Arc<Shared<T, S>>);

impl<T, S> Subscription for PolicySubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn request(&self, n: u64) {
        // 3.6 after cancel, 3.9 for zero, saturating add otherwise: all in `Demand::request`.
        if self.0.demand.request(n) {
            self.0.drive();
        }
    }

    fn cancel(&self) {
        if self.0.demand.cancel() {
            self.0.cancel_upstream();
            self.0.drive();
        }
    }
    /// Issue 12: the items queued for the downstream and the items the policy dropped (over
    /// every subscription of this stage, as [`DropCounter`] counts them).
    fn backlog(&self) -> Option<rstreams_protocol::Backlog> {
        Some(rstreams_protocol::Backlog {
            buffered: self.0.queue.lock().items.len() as u64,
            dropped: self.0.dropped.get(),
        })
    }
}

impl<T, S> Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
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

    fn finish(self: &Arc<Self>, error: Option<Error>) {
        {
            let mut q = self.queue.lock();
            if q.done {
                if let Some(e) = error {
                    report_undeliverable(e);
                }
                return;
            }
            q.done = true;
            q.error = error;
        }
        self.up.lock().take();
        self.drive();
    }

    fn drive(self: &Arc<Self>) {
        self.drain.drain(|st| self.pass(st));
    }

    fn pass(self: &Arc<Self>, st: &mut Down<S>) {
        let Some(down) = st.down.as_mut() else {
            return;
        };
        if !st.subscribed {
            st.subscribed = true;
            let sub = Box::new(PolicySubscription(Arc::clone(self)));
            if let Err(p) = guard(|| down.on_subscribe(sub)) {
                self.panicked(st, p);
                return;
            }
        }
        loop {
            if self.demand.is_cancelled() {
                st.down = None;
                self.queue.lock().items.clear();
                return;
            }
            // Acquire: pairs with the Release in `request(0)`.
            if self.demand.has_invalid_request() {
                self.demand.cancel();
                self.cancel_upstream();
                let e = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                    .at_stage(self.loc);
                self.terminate(st, Some(e));
                return;
            }
            let next = {
                let mut q = self.queue.lock();
                if q.items.is_empty() {
                    if q.done {
                        let e = q.error.take();
                        drop(q);
                        self.terminate(st, e);
                        return;
                    }
                    return;
                }
                if self.demand.get() == 0 {
                    return;
                }
                // Popping and charging demand under one lock keeps on_next's room check exact.
                let item = q.items.pop_front();
                self.demand.produced(1);
                item
            };
            let Some(item) = next else { return };
            let down = st.down.as_mut().expect("checked above");
            if let Err(p) = guard(|| down.on_next(item)) {
                self.panicked(st, p);
                return;
            }
        }
    }

    fn terminate(&self, st: &mut Down<S>, end: Option<Error>) {
        self.demand.cancel();
        let Some(mut down) = st.down.take() else {
            return;
        };
        let r = match end {
            Some(e) => guard(|| down.on_error(e)),
            None => guard(|| down.on_complete()),
        };
        if let Err(p) = r {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }

    fn panicked(&self, st: &mut Down<S>, p: crate::stage::Payload) {
        self.demand.cancel();
        self.cancel_upstream();
        st.down = None;
        self.queue.lock().items.clear();
        report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
    }
}
