//! The merging core shared by `flat_map`, `concat_map` and `merge`.
//!
//! Inner publishers may signal from different threads at once, so nothing is forwarded
//! downstream from their callbacks. Each inner pushes into its own queue (bounded by the inner's
//! prefetch: it is never asked for more) and wakes the downstream drain; the downstream side is a
//! [`pull::Source`] served by the protocol crate's pull kit, whose `SerialDrain` gives one thread
//! at a time the right to call the downstream subscriber (rules 1.3, 3.3). The source takes items
//! round-robin, one per inner per turn, so a fast inner cannot starve a slow one.
//!
//! ```text
//!  outer ──on_next──► f(x) ──subscribe──► inner 0 ─┐ queue ≤ prefetch ┐
//!        ◄─request(max_concurrency), then 1 per                        ├─► round-robin ─► downstream
//!          finished inner                 inner 1 ─┘ queue ≤ prefetch ┘     (SerialDrain)
//!                                         ◄─request(prefetch), then 75% batches as consumed
//! ```
//!
//! Locking: one mutex guards the slots. It is never held while calling anything outside this
//! file (an upstream `request`/`cancel`, a `subscribe`, the downstream): those can re-enter.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rstreams_protocol::pull::{PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::stage::Loc;

/// One inner publisher's state.
struct Slot<T> {
    /// Distinguishes reuses of the same index, so a late signal from a cancelled inner never
    /// lands in its successor's queue.
    generation: u64,
    queue: VecDeque<T>,
    sub: Option<Arc<dyn Subscription>>,
    /// Requested from this inner and not yet received: the queue can never outgrow it.
    outstanding: u64,
    /// Taken from the queue since the last replenishing request.
    consumed: u64,
    /// The inner completed (its queue may still hold items).
    complete: bool,
}

struct State<T> {
    slots: Vec<Option<Slot<T>>>,
    free: Vec<usize>,
    next_generation: u64,
    /// Round-robin position.
    cursor: usize,
    /// Inners subscribed and not yet completed and drained.
    live: usize,
    outer: Option<Arc<dyn Subscription>>,
    outer_complete: bool,
    /// The first error: ends the stream at once (buffered items are dropped).
    error: Option<Error>,
    /// Downstream went away: everything has been cancelled, late arrivals are dropped.
    cancelled: bool,
}

/// Shared by the downstream source, the outer subscriber and every inner subscriber.
pub(crate) struct MergeCore<T> {
    state: Mutex<State<T>>,
    handle: OnceLock<PullHandle>,
    prefetch: u64,
    /// Replenish when this many were consumed from one inner (75% of prefetch).
    limit: u64,
    pub(crate) max_concurrency: u64,
    loc: Loc,
}

impl<T: Send + 'static> MergeCore<T> {
    pub(crate) fn new(max_concurrency: usize, prefetch: usize, loc: Loc) -> Arc<Self> {
        let prefetch = prefetch as u64;
        Arc::new(Self {
            state: Mutex::new(State {
                slots: Vec::new(),
                free: Vec::new(),
                next_generation: 0,
                cursor: 0,
                live: 0,
                outer: None,
                outer_complete: false,
                error: None,
                cancelled: false,
            }),
            handle: OnceLock::new(),
            prefetch,
            limit: (prefetch - prefetch / 4).max(1),
            max_concurrency: max_concurrency as u64,
            loc,
        })
    }

    /// Checks the two sizes; the message names the operator and the bad value.
    pub(crate) fn validate(op: &str, max_concurrency: usize, prefetch: usize) -> Result<(), Error> {
        if max_concurrency == 0 {
            return Err(Error::msg(format!(
                "{op}: max_concurrency must be at least 1, got 0 (no inner could ever be \
                 subscribed and the stream would hang)"
            )));
        }
        if prefetch == 0 {
            return Err(Error::msg(format!(
                "{op}: inner prefetch must be at least 1, got 0 (no inner item could ever be \
                 requested and the stream would hang)"
            )));
        }
        Ok(())
    }

    /// Serves `subscriber` from this core; returns the core, ready for inners.
    pub(crate) fn serve<S: Subscriber<T> + Send + 'static>(self: &Arc<Self>, subscriber: S) {
        let core = Arc::clone(self);
        rstreams_protocol::pull::serve_with_at(
            subscriber,
            move |handle| {
                let _ = core.handle.set(handle);
                MergeSource {
                    core,
                    batch: VecDeque::new(),
                    replenish: Vec::new(),
                }
            },
            self.loc,
        );
    }

    fn wake(&self) {
        if let Some(h) = self.handle.get() {
            h.wake();
        }
    }

    /// Whether downstream has gone or the stream failed: nothing more is worth starting.
    pub(crate) fn is_finished(&self) -> bool {
        let st = self.state.lock();
        st.cancelled || st.error.is_some()
    }

    /// The outer subscription arrived. Returns false (and cancels it) if the stream is over.
    pub(crate) fn set_outer(&self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut st = self.state.lock();
            if st.outer.is_some() || st.outer_complete {
                drop(st);
                tracing::debug!(stage = %self.loc, "second outer on_subscribe cancelled (2.5)");
                s.cancel();
                return;
            }
            if !(st.cancelled || st.error.is_some()) {
                st.outer = Some(Arc::clone(&s));
                drop(st);
                s.request(self.max_concurrency);
                return;
            }
        }
        s.cancel();
    }

    /// The outer stream completed: the merge completes once every inner has.
    pub(crate) fn outer_complete(&self) {
        {
            let mut st = self.state.lock();
            st.outer_complete = true;
            st.outer = None;
        }
        self.wake();
    }

    /// Ends the stream with `error` (first one wins); cancels the outer and every inner.
    pub(crate) fn fail(&self, error: Error) {
        let subs = {
            let mut st = self.state.lock();
            if st.error.is_some() || st.cancelled {
                drop(st);
                rstreams_protocol::report_undeliverable(error);
                return;
            }
            tracing::debug!(stage = %self.loc, %error, "merge failing; cancelling all sources");
            st.error = Some(error);
            take_all(&mut st)
        };
        for s in subs {
            s.cancel();
        }
        self.wake();
    }

    /// Subscribes one more inner publisher.
    pub(crate) fn add_inner<Q>(self: &Arc<Self>, inner: &Q)
    where
        Q: Publisher<Item = T>,
    {
        let (index, generation) = {
            let mut st = self.state.lock();
            if st.cancelled || st.error.is_some() {
                return;
            }
            let generation = st.next_generation;
            st.next_generation += 1;
            let slot = Slot {
                generation,
                queue: VecDeque::new(),
                sub: None,
                outstanding: 0,
                consumed: 0,
                complete: false,
            };
            let index = match st.free.pop() {
                Some(i) => {
                    st.slots[i] = Some(slot);
                    i
                }
                None => {
                    st.slots.push(Some(slot));
                    st.slots.len() - 1
                }
            };
            st.live += 1;
            (index, generation)
        };
        inner.subscribe(InnerSubscriber {
            core: Arc::clone(self),
            index,
            generation,
            subscribed: false,
        });
    }
}

/// Every live subscription (outer and inners), queues cleared: the caller cancels them unlocked.
fn take_all<T>(st: &mut State<T>) -> Vec<Arc<dyn Subscription>> {
    let mut subs: Vec<Arc<dyn Subscription>> = st.outer.take().into_iter().collect();
    for slot in st.slots.iter_mut() {
        if let Some(mut s) = slot.take() {
            if let Some(sub) = s.sub.take() {
                subs.push(sub);
            }
            s.queue.clear();
        }
    }
    st.free.clear();
    st.live = 0;
    subs
}

impl<T> State<T> {
    fn slot_mut(&mut self, index: usize, generation: u64) -> Option<&mut Slot<T>> {
        self.slots
            .get_mut(index)
            .and_then(Option::as_mut)
            .filter(|s| s.generation == generation)
    }

    /// Removes a completed, drained inner; returns whether it was removed.
    fn retire_if_done(&mut self, index: usize) -> bool {
        let done = matches!(&self.slots[index], Some(s) if s.complete && s.queue.is_empty());
        if done {
            self.slots[index] = None;
            self.free.push(index);
            self.live -= 1;
        }
        done
    }
}

/// Subscribed to each inner publisher.
struct InnerSubscriber<T: Send + 'static> {
    core: Arc<MergeCore<T>>,
    index: usize,
    generation: u64,
    subscribed: bool,
}

impl<T: Send + 'static> Subscriber<T> for InnerSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            match st.slot_mut(self.index, self.generation) {
                Some(slot) if !self.subscribed && slot.sub.is_none() && !slot.complete => {
                    slot.sub = Some(Arc::clone(&s));
                    slot.outstanding = self.core.prefetch;
                    true
                }
                _ => false,
            }
        };
        if accepted {
            self.subscribed = true;
            s.request(self.core.prefetch);
        } else {
            // A second on_subscribe (2.5), or the merge already ended.
            s.cancel();
        }
    }

    fn on_next(&mut self, item: T) {
        let overflow = {
            let mut st = self.core.state.lock();
            match st.slot_mut(self.index, self.generation) {
                Some(slot) if slot.outstanding > 0 => {
                    slot.outstanding -= 1;
                    let was_empty = slot.queue.is_empty();
                    slot.queue.push_back(item);
                    if !was_empty {
                        // A non-empty queue already woke the drain when it filled; a pass only
                        // stops short (Pending) after seeing every queue empty, so this item
                        // will be seen without another wake-up.
                        return;
                    }
                    false
                }
                Some(_) => true,
                None => {
                    // Cancelled or ended meanwhile: in-flight items are simply dropped.
                    return;
                }
            }
        };
        if overflow {
            self.core.fail(
                Error::violation(
                    Rule::R1_1,
                    "an inner publisher sent more items than it was asked for",
                )
                .at_stage(self.core.loc),
            );
            return;
        }
        self.core.wake();
    }

    fn on_error(&mut self, error: Error) {
        let mine = {
            let mut st = self.core.state.lock();
            st.slot_mut(self.index, self.generation)
                .map(|slot| slot.sub = None)
                .is_some()
        };
        if mine {
            self.core.fail(error);
        } else {
            rstreams_protocol::report_undeliverable(error);
        }
    }

    fn on_complete(&mut self) {
        let outer = {
            let mut st = self.core.state.lock();
            let Some(slot) = st.slot_mut(self.index, self.generation) else {
                return;
            };
            slot.complete = true;
            slot.sub = None;
            // Its place is free only once its buffered items have gone downstream too (else
            // finished-but-undrained inners would pile up without bound); the source retires
            // it then.
            if !st.retire_if_done(self.index) {
                None
            } else {
                st.outer.clone()
            }
        };
        // One finished inner frees one place: ask the outer for one more publisher.
        if let Some(outer) = outer {
            outer.request(1);
        }
        self.core.wake();
    }
}

/// A request to make once the lock is released: `(inner or outer, n)`.
type Replenish = (Arc<dyn Subscription>, u64);

/// The downstream side, driven by the pull kit.
struct MergeSource<T: Send + 'static> {
    core: Arc<MergeCore<T>>,
    /// Reused between `pull_many` calls: the batch taken under the lock.
    batch: std::collections::VecDeque<T>,
    replenish: Vec<Replenish>,
}

impl<T: Send + 'static> MergeSource<T> {
    /// Takes the next item round-robin. Returns the item and, if that inner is due a
    /// replenishing request, the request to make once the lock is released.
    fn take(&self, st: &mut State<T>) -> Option<(T, Option<Replenish>)> {
        let n = st.slots.len();
        for step in 0..n {
            let i = (st.cursor + step) % n;
            let Some(slot) = st.slots[i].as_mut() else {
                continue;
            };
            let Some(item) = slot.queue.pop_front() else {
                continue;
            };
            st.cursor = (i + 1) % n;
            slot.consumed += 1;
            let mut replenish = None;
            if slot.complete {
                if st.retire_if_done(i)
                    && let Some(outer) = &st.outer
                {
                    // A place came free: one more inner publisher from the outer.
                    replenish = Some((Arc::clone(outer), 1));
                }
            } else if slot.consumed >= self.core.limit
                && let Some(sub) = &slot.sub
            {
                slot.outstanding += slot.consumed;
                replenish = Some((Arc::clone(sub), slot.consumed));
                slot.consumed = 0;
            }
            return Some((item, replenish));
        }
        None
    }

    fn end(&self, st: &mut State<T>) -> Option<Step<T>> {
        if let Some(e) = &st.error {
            return Some(Step::Error(e.clone()));
        }
        if st.outer_complete && st.live == 0 {
            return Some(Step::Complete);
        }
        None
    }
}

impl<T: Send + 'static> Source for MergeSource<T> {
    type Item = T;

    fn pull(&mut self) -> Step<T> {
        let mut st = self.core.state.lock();
        if let Some(end) = self.end(&mut st) {
            return end;
        }
        match self.take(&mut st) {
            Some((item, replenish)) => {
                drop(st);
                if let Some((sub, n)) = replenish {
                    // May deliver synchronously: on_next only queues and wakes our drain.
                    sub.request(n);
                }
                Step::Next(item)
            }
            None => Step::Pending,
        }
    }

    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        if limit == 0 {
            return (0, None); // the kit asks `is_exhausted` next
        }
        // Take everything available (bounded by the queues: concurrency x prefetch) under one
        // lock, then deliver it unlocked (downstream may re-enter).
        let mut batch = std::mem::take(&mut self.batch);
        let mut replenish = std::mem::take(&mut self.replenish);
        let mut stop = None;
        {
            let mut st = self.core.state.lock();
            if let Some(end) = self.end(&mut st) {
                return (0, Some(end));
            }
            while (batch.len() as u64) < limit {
                match self.take(&mut st) {
                    Some((item, r)) => {
                        batch.push_back(item);
                        replenish.extend(r);
                    }
                    None => break,
                }
            }
            if (batch.len() as u64) < limit {
                stop = Some(self.end(&mut st).unwrap_or(Step::Pending));
                if matches!(stop, Some(Step::Error(_))) {
                    // 4.2-style: an error overtakes what is buffered.
                    batch.clear();
                }
            }
        }
        for (sub, n) in replenish.drain(..) {
            sub.request(n);
        }
        self.replenish = replenish;
        let mut emitted = 0;
        while let Some(item) = batch.pop_front() {
            emitted += 1;
            if !emit(item) {
                batch.clear();
                self.batch = batch;
                return (emitted, None);
            }
        }
        self.batch = batch;
        // Pending after a replenishing request loses nothing: an item it delivered
        // synchronously woke the drain, which runs another pass.
        (emitted, stop)
    }

    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        if st.error.is_some() {
            return true;
        }
        st.outer_complete && st.live == 0
    }
}

impl<T: Send + 'static> Drop for MergeSource<T> {
    fn drop(&mut self) {
        // Downstream cancelled or the stream ended: release the outer and every inner, and drop
        // whatever is buffered.
        let subs = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            take_all(&mut st)
        };
        if !subs.is_empty() {
            tracing::debug!(stage = %self.core.loc, n = subs.len(), "merge cancelling its sources");
        }
        for s in subs {
            s.cancel();
        }
    }
}
