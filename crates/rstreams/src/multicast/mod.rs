//! Multicast: one upstream fanned out to many subscribers, each with its own bounded buffer and
//! a [`SlowConsumer`] policy.
//!
//! ```text
//!                      ┌─► [buffer ≤ capacity] ─► subscriber A (Hold)
//!  upstream ─on_next─► ├─► [buffer ≤ capacity] ─► subscriber B (Drop: lag counted)
//!    ▲                 └─► [buffer ≤ capacity] ─► subscriber C (Fail: cut off with an error)
//!    └── request(k): k = (smallest free space among Hold subscribers) − (already requested),
//!        asked for in batches of ≥ 75% of capacity, only when a subscriber has demand
//! ```
//!
//! Each subscriber is served by the protocol crate's pull kit (serial signals, its own demand),
//! so a slow subscriber never blocks the thread of a fast one; it only holds the upstream back
//! (policy [`SlowConsumer::Hold`]), loses items (`Drop`), or is failed (`Fail`).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::pull::{PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use crate::stage::{Loc, reject};

/// The default per-subscriber buffer of [`Multicast`] and
/// [`PublisherExt::share`](crate::PublisherExt::share).
pub const DEFAULT_MULTICAST_CAPACITY: usize = 256;

/// What a [`Multicast`] does when one subscriber's buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Hold everyone back to the slowest subscriber: upstream is never asked for more than the
    /// fullest buffer can take. Nothing is lost. The default.
    #[default]
    Hold,
    /// Drop items for that subscriber only and count them ([`SubscriberStats::lagged`]); the
    /// others are not held back by it.
    Drop,
    /// Cut that subscriber off: it receives `on_error` naming its full buffer; the others go on.
    Fail,
}

/// Per-subscriber counters, returned by [`Multicast::subscribe_with_policy`].
#[derive(Debug, Default)]
pub struct SubscriberStats {
    lagged: AtomicU64,
    delivered: AtomicU64,
}

impl SubscriberStats {
    /// Items this subscriber missed because its buffer was full ([`SlowConsumer::Drop`]).
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }
    /// Items handed to this subscriber's `on_next` so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
}

struct Slot<T> {
    id: u64,
    queue: VecDeque<T>,
    policy: SlowConsumer,
    stats: Arc<SubscriberStats>,
    handle: Option<PullHandle>,
    /// Cut off by [`SlowConsumer::Fail`].
    failed: Option<Error>,
    /// Filled while a subscriber's request was under way: woken when it returns.
    wake_pending: bool,
}

struct State<T> {
    slots: Vec<Slot<T>>,
    next_id: u64,
    upstream: Option<Arc<dyn Subscription>>,
    /// Requested from upstream and not yet received.
    outstanding: u64,
    /// Upstream ended (`Ok`: completed). Set also when a `share` lost its last subscriber.
    end: Option<Result<(), Error>>,
    /// An upstream subscription was accepted once (a second one is cancelled, rule 2.5).
    had_upstream: bool,
    /// Upstream `request` calls under way. A synchronous upstream delivers inside them; waking
    /// subscribers then would drain them one item at a time, so their wake-ups are deferred to
    /// the end of the request and each drains the whole run at once.
    requesting: u32,
}

struct Shared<T> {
    capacity: usize,
    /// Upstream requests are made in batches of at least this many.
    batch: u64,
    policy: SlowConsumer,
    /// Cancel upstream (and end) when the last subscriber leaves.
    refcount: bool,
    loc: Loc,
    state: Mutex<State<T>>,
}

/// A processor that fans one upstream out to any number of subscribers.
///
/// * Subscribe it to an upstream (it is a [`Subscriber`]); subscribe any number of subscribers
///   to it (it is a [`Publisher`]), before or after the upstream, with the default policy
///   ([`subscribe`](Publisher::subscribe)) or a chosen one ([`subscribe_with_policy`](Self::subscribe_with_policy)).
/// * Each subscriber has a buffer of `capacity` items and its own demand; upstream is asked for
///   items only when some subscriber has demand, in batches, and (with [`SlowConsumer::Hold`]
///   subscribers) never beyond what the fullest Hold buffer can take.
/// * A subscriber sees the items that arrive after it subscribed. After the upstream ended, a new
///   subscriber receives the same terminal signal at once. Upstream errors reach every
///   subscriber at once (buffered items are dropped); completion waits for each buffer to drain.
/// * Cloning an item is user code: if `T::clone` panics, the hub ends. The upstream is cancelled,
///   buffered items are dropped and every subscriber, present or later, receives one `on_error`
///   naming rule 2.13 and where the hub was built. The panic never reaches the upstream.
/// * When the last subscriber leaves (cancels, or is cut off), the upstream is cancelled and the
///   multicast ends: later subscribers complete at once (what the TCK expects of a processor;
///   [`with_options`](Self::with_options) can keep the upstream instead, and
///   [`share`](crate::PublisherExt::share) reconnects). Dropping the handle that was subscribed
///   upstream also cancels it (rule 2.6).
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::multicast::Multicast;
///
/// let hub = Multicast::<u64>::new(16);
/// let a = hub.blocking_iter_with(4);
/// let b = hub.clone().map(|x| x * 10).blocking_iter_with(4);
/// rstreams::range(0, 3).subscribe(hub.clone());
/// assert_eq!(a.collect::<Result<Vec<_>, _>>()?, vec![0, 1, 2]);
/// assert_eq!(b.collect::<Result<Vec<_>, _>>()?, vec![0, 10, 20]);
/// # Ok::<(), rstreams::Error>(())
/// ```
pub struct Multicast<T> {
    shared: Arc<Shared<T>>,
    /// Whether this handle holds the upstream subscription (it cancels it when dropped).
    subscribed: bool,
    /// Reused between `on_next` calls: the handles to wake once the lock is released.
    wake: Vec<PullHandle>,
}

impl<T> Clone for Multicast<T> {
    fn clone(&self) -> Self {
        Multicast {
            shared: Arc::clone(&self.shared),
            subscribed: false,
            wake: Vec::new(),
        }
    }
}

impl<T> fmt::Debug for Multicast<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Multicast")
            .field("capacity", &self.shared.capacity)
            .field("policy", &self.shared.policy)
            .field("subscribers", &st.slots.len())
            .field("outstanding", &st.outstanding)
            .field("ended", &st.end.is_some())
            .finish()
    }
}

impl<T: Clone + Send + 'static> Multicast<T> {
    /// A multicast processor giving each subscriber a buffer of `capacity` items (at least 1) and
    /// the [`SlowConsumer::Hold`] policy by default.
    #[track_caller]
    pub fn new(capacity: usize) -> Self {
        Self::build(capacity, SlowConsumer::Hold, true, Location::caller())
    }

    /// As [`new`](Self::new), with `policy` as the default for [`subscribe`](Publisher::subscribe).
    #[track_caller]
    pub fn with_policy(capacity: usize, policy: SlowConsumer) -> Self {
        Self::build(capacity, policy, true, Location::caller())
    }

    /// As [`with_policy`](Self::with_policy); with `cancel_when_unsubscribed = false` the
    /// upstream is kept when the last subscriber leaves, for subscribers to come.
    #[track_caller]
    pub fn with_options(
        capacity: usize,
        policy: SlowConsumer,
        cancel_when_unsubscribed: bool,
    ) -> Self {
        Self::build(
            capacity,
            policy,
            cancel_when_unsubscribed,
            Location::caller(),
        )
    }

    pub(crate) fn build(capacity: usize, policy: SlowConsumer, refcount: bool, loc: Loc) -> Self {
        let capacity = capacity.max(1);
        let cap = capacity as u64;
        Multicast {
            shared: Arc::new(Shared {
                capacity,
                batch: (cap - cap / 4).max(1),
                policy,
                refcount,
                loc,
                state: Mutex::new(State {
                    slots: Vec::new(),
                    next_id: 0,
                    upstream: None,
                    outstanding: 0,
                    end: None,
                    had_upstream: false,
                    requesting: 0,
                }),
            }),
            subscribed: false,
            wake: Vec::new(),
        }
    }

    /// Subscribes `subscriber` with its own slow-consumer `policy`; the returned counters show
    /// how many items it lagged behind ([`SlowConsumer::Drop`]) and received.
    pub fn subscribe_with_policy<S>(
        &self,
        subscriber: S,
        policy: SlowConsumer,
    ) -> Arc<SubscriberStats>
    where
        S: Subscriber<T> + Send + 'static,
    {
        let stats = Arc::new(SubscriberStats::default());
        let shared = Arc::clone(&self.shared);
        let st2 = Arc::clone(&stats);
        rstreams_protocol::pull::serve_with(
            move |handle| {
                let id = {
                    let mut st = shared.state.lock();
                    let id = st.next_id;
                    st.next_id += 1;
                    st.slots.push(Slot {
                        id,
                        queue: VecDeque::new(),
                        policy,
                        stats: st2,
                        handle: Some(handle),
                        failed: None,
                        wake_pending: false,
                    });
                    id
                };
                tracing::trace!(stage = %shared.loc, id, ?policy, "multicast subscriber added");
                McSource {
                    shared,
                    id,
                    batch: VecDeque::new(),
                }
                .at(self.shared.loc)
            },
            subscriber,
        );
        stats
    }

    /// How many subscribers are attached now.
    pub fn subscriber_count(&self) -> usize {
        self.shared.state.lock().slots.len()
    }

    /// Whether the upstream has ended (or, for `share`, was cancelled after its last subscriber).
    pub fn is_terminated(&self) -> bool {
        self.shared.state.lock().end.is_some()
    }
}

impl<T> Shared<T> {
    /// How many more items upstream may be asked for now, if that is worth a request.
    fn due(&self, st: &mut State<T>) -> Option<(Arc<dyn Subscription>, u64)> {
        if st.end.is_some() {
            return None;
        }
        let up = st.upstream.as_ref()?;
        let live = st.slots.iter().filter(|s| s.failed.is_none());
        let mut any = false;
        let mut free = self.capacity;
        for s in live {
            any = true;
            if s.policy == SlowConsumer::Hold {
                free = free.min(self.capacity - s.queue.len());
            }
        }
        if !any {
            return None;
        }
        let n = (free as u64).saturating_sub(st.outstanding);
        if n < self.batch {
            return None;
        }
        st.outstanding += n;
        st.requesting += 1;
        Some((Arc::clone(up), n))
    }

    /// Makes a request returned by [`due`](Self::due), then wakes the subscribers whose buffers
    /// filled meanwhile.
    fn request(&self, up: &Arc<dyn Subscription>, n: u64) {
        up.request(n);
        let handles: Vec<PullHandle> = {
            let mut st = self.state.lock();
            st.requesting -= 1;
            if st.requesting > 0 {
                return; // the last request under way wakes them
            }
            st.slots
                .iter_mut()
                .filter_map(|s| {
                    if std::mem::take(&mut s.wake_pending) {
                        s.handle.clone()
                    } else {
                        None
                    }
                })
                .collect()
        };
        for h in handles {
            h.wake();
        }
    }

    /// Queues a clone of `item` for every live subscriber (the original for the last one would
    /// save a clone, but every slot takes one so a panicking `clone` is met at one place), and
    /// collects the handles to wake in `wake`. Runs under the lock; may panic in `T::clone`.
    fn fan_out(&self, st: &mut State<T>, item: T, wake: &mut Vec<PullHandle>)
    where
        T: Clone,
    {
        st.outstanding -= 1;
        let cap = self.capacity;
        let deferred = st.requesting > 0;
        for slot in st.slots.iter_mut().filter(|s| s.failed.is_none()) {
            if slot.queue.len() < cap {
                let was_empty = slot.queue.is_empty();
                slot.queue.push_back(item.clone());
                if !was_empty {
                    // Its drain was woken when the buffer filled and only stops short
                    // (Pending) on an empty buffer: no wake-up needed.
                    continue;
                }
                if deferred {
                    slot.wake_pending = true;
                    continue;
                }
            } else if slot.policy == SlowConsumer::Fail {
                tracing::debug!(stage = %self.loc, id = slot.id, "slow subscriber cut off");
                slot.queue.clear();
                slot.failed = Some(
                    Error::msg(format!(
                        "multicast: this subscriber's buffer of {cap} items was full \
                         (slow-consumer policy Fail)"
                    ))
                    .at_stage(self.loc),
                );
            } else {
                // Drop policy (Hold buffers never fill: upstream is never asked beyond
                // their room; counted the same way should a bug make one fill).
                slot.stats.lagged.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(h) = &slot.handle {
                wake.push(h.clone());
            }
        }
    }

    /// A panic in the hub's own use of user code (`T::clone`): the hub ends with a 2.13 error for
    /// every subscriber, once. The state is made consistent here, under the lock: the end is
    /// recorded (so `share` starts a fresh hub for later subscribers), the buffers are emptied
    /// (their items are dropped after the lock is released) and nothing is outstanding.
    fn die(&self, st: &mut State<T>, payload: Box<dyn std::any::Any + Send>) -> Dead<T> {
        let error = Error::from_panic(Rule::R2_13, payload).at_stage(self.loc);
        tracing::debug!(stage = %self.loc, %error, "multicast hub panicked; ending every subscriber");
        st.end = Some(Err(error));
        st.outstanding = 0;
        let buffered = st
            .slots
            .iter_mut()
            .map(|s| std::mem::take(&mut s.queue))
            .collect();
        Dead {
            upstream: st.upstream.take(),
            buffered,
        }
    }

    /// Second half of [`die`](Self::die), outside the lock: cancel upstream, drop the buffered
    /// items (their `Drop` is user code too), and wake every subscriber to see the error.
    fn finish_dying(&self, dead: Dead<T>) {
        if let Some(up) = dead.upstream {
            up.cancel();
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(dead.buffered))) {
            rstreams_protocol::report_undeliverable(
                Error::from_panic(Rule::R2_13, payload).at_stage(self.loc),
            );
        }
        self.wake_all();
    }

    fn wake_all(&self) {
        let handles: Vec<PullHandle> = {
            let st = self.state.lock();
            st.slots.iter().filter_map(|s| s.handle.clone()).collect()
        };
        for h in handles {
            h.wake();
        }
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for Multicast<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        {
            let mut st = self.shared.state.lock();
            if self.subscribed || st.had_upstream || st.end.is_some() {
                drop(st);
                tracing::debug!(stage = %self.shared.loc, "second upstream cancelled (2.5)");
                s.cancel();
                return;
            }
            st.had_upstream = true;
            st.upstream = Some(Arc::from(s));
            self.subscribed = true;
        }
        // Subscribers may be waiting with demand already: let them pull (and request).
        self.shared.wake_all();
    }

    fn on_next(&mut self, item: T) {
        let outcome = {
            let mut st = self.shared.state.lock();
            if st.end.is_some() {
                return;
            }
            if st.outstanding == 0 {
                Fanned::Violation
            } else {
                // `T::clone` is user code and runs under the lock: a panic there must not unwind
                // into the upstream (2.13) nor leave the hub half-updated with its subscribers
                // waiting forever. Caught, it ends the hub for everyone (below).
                let wake = &mut self.wake;
                match catch_unwind(AssertUnwindSafe(|| {
                    self.shared.fan_out(&mut st, item, wake)
                })) {
                    Ok(()) => Fanned::Done,
                    Err(payload) => {
                        self.wake.clear();
                        Fanned::Panicked(self.shared.die(&mut st, payload))
                    }
                }
            }
        };
        match outcome {
            Fanned::Done => {
                for h in self.wake.drain(..) {
                    h.wake();
                }
            }
            Fanned::Violation => self.fail_upstream(
                Error::violation(
                    Rule::R1_1,
                    "upstream sent more items than the multicast requested",
                )
                .at_stage(self.shared.loc),
            ),
            Fanned::Panicked(dead) => self.shared.finish_dying(dead),
        }
    }

    fn on_error(&mut self, error: Error) {
        {
            let mut st = self.shared.state.lock();
            st.upstream = None;
            if st.end.is_some() {
                drop(st);
                rstreams_protocol::report_undeliverable(error);
                return;
            }
            tracing::debug!(stage = %self.shared.loc, %error, "multicast upstream failed");
            st.end = Some(Err(error));
        }
        self.shared.wake_all();
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.shared.state.lock();
            st.upstream = None;
            if st.end.is_none() {
                st.end = Some(Ok(()));
            }
        }
        self.shared.wake_all();
    }
}

/// What [`Multicast::on_next`] did with an item.
enum Fanned<T> {
    Done,
    /// More items than requested (1.1).
    Violation,
    /// `T::clone` panicked: the hub is dead.
    Panicked(Dead<T>),
}

/// What a dead hub still has to release outside its lock.
struct Dead<T> {
    upstream: Option<Arc<dyn Subscription>>,
    buffered: Vec<VecDeque<T>>,
}

impl<T> Multicast<T> {
    fn fail_upstream(&self, error: Error) {
        let up = {
            let mut st = self.shared.state.lock();
            st.end = Some(Err(error));
            st.upstream.take()
        };
        if let Some(up) = up {
            up.cancel();
        }
        self.shared.wake_all();
    }
}

impl<T> Drop for Multicast<T> {
    fn drop(&mut self) {
        if !self.subscribed {
            return;
        }
        // Nobody can signal this processor any more (rule 2.6): release the upstream.
        let up = self.shared.state.lock().upstream.take();
        if let Some(up) = up {
            up.cancel();
        }
    }
}

impl<T: Clone + Send + 'static> Publisher for Multicast<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        self.subscribe_with_policy(subscriber, self.shared.policy);
    }
}

/// One subscriber's side, served by the pull kit.
struct McSource<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    /// Reused between `pull_many` calls: the run of items taken under one lock.
    batch: VecDeque<T>,
}

impl<T: Send + 'static> Source for McSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "multicast"
    }

    /// Issue 12: this subscriber's buffer length and lag, for a metered edge below it.
    fn backlog_probe(&self) -> Option<rstreams_protocol::pull::BacklogProbe> {
        let shared = Arc::downgrade(&self.shared);
        let id = self.id;
        Some(Arc::new(move || {
            let Some(shared) = shared.upgrade() else {
                return rstreams_protocol::Backlog::default();
            };
            let st = shared.state.lock();
            st.slots
                .iter()
                .find(|s| s.id == id)
                .map_or_else(Default::default, |s| rstreams_protocol::Backlog {
                    buffered: s.queue.len() as u64,
                    dropped: s.stats.lagged(),
                })
        }))
    }

    fn pull(&mut self) -> Step<T> {
        let (step, due) = {
            let mut st = self.shared.state.lock();
            let Some(pos) = st.slots.iter().position(|s| s.id == self.id) else {
                return Step::Complete; // unreachable: the slot lives as long as this source
            };
            let slot = &mut st.slots[pos];
            if let Some(e) = &slot.failed {
                return Step::Error(e.clone());
            }
            let step = match slot.queue.pop_front() {
                Some(item) => {
                    slot.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    Step::Next(item)
                }
                None => match &st.end {
                    Some(Err(e)) => return Step::Error(e.clone()),
                    Some(Ok(())) => return Step::Complete,
                    None => Step::Pending,
                },
            };
            let due = self.shared.due(&mut st);
            (step, due)
        };
        if let Some((up, n)) = due {
            // May deliver synchronously into on_next, which queues and wakes (our own wake
            // leaves a mark on the drain running this pull).
            self.shared.request(&up, n);
            if matches!(step, Step::Pending) {
                return self.pull_again();
            }
        }
        step
    }

    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        if limit == 0 {
            // No demand: in particular, never ask upstream for items nobody wants yet.
            return (0, None);
        }
        // Take a run of items under one lock, then deliver it unlocked.
        let mut batch = std::mem::take(&mut self.batch);
        let (stop, due) = {
            let mut st = self.shared.state.lock();
            let Some(pos) = st.slots.iter().position(|s| s.id == self.id) else {
                return (0, Some(Step::Complete));
            };
            let slot = &mut st.slots[pos];
            if let Some(e) = &slot.failed {
                return (0, Some(Step::Error(e.clone())));
            }
            let n = (slot.queue.len() as u64).min(limit) as usize;
            batch.extend(slot.queue.drain(..n));
            slot.stats.delivered.fetch_add(n as u64, Ordering::Relaxed);
            let mut stop = None;
            if (n as u64) < limit {
                stop = Some(match &st.end {
                    // Items already taken are within demand: deliver them, then the error
                    // (without demand, `is_exhausted` lets the error overtake the buffer).
                    Some(Err(e)) => Step::Error(e.clone()),
                    Some(Ok(())) if n == 0 => Step::Complete,
                    // Completed with items in this run: deliver them; the kit asks again.
                    Some(Ok(())) => Step::Pending,
                    None => Step::Pending,
                });
            }
            (stop, self.shared.due(&mut st))
        };
        if let Some((up, n)) = due {
            // May deliver synchronously into on_next, which wakes this drain when the buffer
            // was empty: the kit then runs another pass.
            self.shared.request(&up, n);
        }
        let (emitted, stopped) = crate::stage::emit_batch(&mut batch, &mut emit);
        self.batch = batch;
        if stopped {
            return (emitted, None);
        }
        if matches!(stop, Some(Step::Pending)) && self.ended_with_empty_buffer() {
            return (emitted, Some(Step::Complete));
        }
        (emitted, stop)
    }

    fn is_exhausted(&mut self) -> bool {
        let mut st = self.shared.state.lock();
        let ended_ok = match &st.end {
            Some(Err(_)) => None,
            Some(Ok(())) => Some(()),
            None => {
                return st
                    .slots
                    .iter()
                    .any(|s| s.id == self.id && s.failed.is_some());
            }
        };
        let Some(slot) = st.slots.iter_mut().find(|s| s.id == self.id) else {
            return true;
        };
        if slot.failed.is_some() {
            return true;
        }
        match ended_ok {
            // An error overtakes what is buffered (4.2: it does not wait for demand).
            None => {
                slot.queue.clear();
                true
            }
            Some(()) => slot.queue.is_empty(),
        }
    }
}

impl<T: Send + 'static> McSource<T> {
    /// Upstream completed and this subscriber's buffer is empty.
    fn ended_with_empty_buffer(&self) -> bool {
        let st = self.shared.state.lock();
        matches!(st.end, Some(Ok(())))
            && st
                .slots
                .iter()
                .any(|s| s.id == self.id && s.queue.is_empty() && s.failed.is_none())
    }

    /// After a request from an empty buffer: take what arrived synchronously, if anything.
    fn pull_again(&mut self) -> Step<T> {
        let mut st = self.shared.state.lock();
        let Some(slot) = st.slots.iter_mut().find(|s| s.id == self.id) else {
            return Step::Complete;
        };
        if let Some(e) = &slot.failed {
            return Step::Error(e.clone());
        }
        if let Some(item) = slot.queue.pop_front() {
            slot.stats.delivered.fetch_add(1, Ordering::Relaxed);
            return Step::Next(item);
        }
        match &st.end {
            Some(Err(e)) => Step::Error(e.clone()),
            Some(Ok(())) => Step::Complete,
            None => Step::Pending,
        }
    }
}

impl<T> Drop for McSource<T> {
    fn drop(&mut self) {
        // The subscriber cancelled or terminated: its buffer goes, and the others may no longer
        // be held back by it.
        let (cancel, due) = {
            let mut st = self.shared.state.lock();
            st.slots.retain(|s| s.id != self.id);
            if self.shared.refcount && st.slots.is_empty() && st.end.is_none() {
                tracing::debug!(stage = %self.shared.loc, "last subscriber left; cancelling upstream");
                st.end = Some(Ok(()));
                (st.upstream.take(), None)
            } else {
                (None, self.shared.due(&mut st))
            }
        };
        if let Some(up) = cancel {
            up.cancel();
        }
        if let Some((up, n)) = due {
            self.shared.request(&up, n);
        }
    }
}

/// The publisher made by [`PublisherExt::share`](crate::PublisherExt::share): the first
/// subscriber connects a fresh [`Multicast`] to the upstream; later ones join it; when the last
/// one leaves, the upstream is cancelled, and the next subscriber starts over.
///
/// The same holds once the hub has ended for any reason: upstream completed, upstream failed,
/// or the hub itself failed (a panicking `Clone` of an item, reported to every subscriber as an
/// error naming rule 2.13 and the `share` call site). A subscriber arriving after that never
/// joins the dead hub; like Reactor's `share()` (`publish().refCount()`), it connects a fresh one
/// and subscribes to the upstream again — which, for a cold upstream, replays it from the start.
pub struct Share<P: Publisher> {
    pub(crate) upstream: P,
    pub(crate) capacity: usize,
    pub(crate) current: Arc<Mutex<Option<Multicast<P::Item>>>>,
    pub(crate) loc: Loc,
}

impl<P: Publisher + Clone> Clone for Share<P> {
    fn clone(&self) -> Self {
        Share {
            upstream: self.upstream.clone(),
            capacity: self.capacity,
            current: Arc::clone(&self.current),
            loc: self.loc,
        }
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Share<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("upstream", &self.upstream)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<P> Publisher for Share<P>
where
    P: Publisher,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if self.capacity == 0 {
            reject(
                subscriber,
                Error::msg("share: capacity must be at least 1, got 0").at_stage(self.loc),
            );
            return;
        }
        let (hub, fresh) = {
            let mut cur = self.current.lock();
            match cur.as_ref() {
                Some(m) if !m.is_terminated() => (m.clone(), false),
                _ => {
                    let m = Multicast::build(self.capacity, SlowConsumer::Hold, true, self.loc);
                    *cur = Some(m.clone());
                    (m, true)
                }
            }
        };
        hub.subscribe(subscriber);
        if fresh {
            self.upstream.subscribe(hub);
        }
    }
}

// ---- buffer bill (issue 12) ----
impl<T> crate::diag::bill::BufferBill for Multicast<T> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        let capacity = self.shared.capacity as u64;
        let subscribers = self.shared.state.lock().slots.len() as u64;
        let bound = Bound::items(capacity.saturating_mul(subscribers.max(1)));
        let note = format!(
            "{capacity} per subscriber x {subscribers} subscribed now; its upstream is not walked"
        );
        rows.push(Row::new("multicast", Some(self.shared.loc), bound).note(note));
    }
}
