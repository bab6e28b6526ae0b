//! `publish_on`: items cross to a scheduler through a bounded SPSC ring; see [`PublishOn`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use rstreams_executor::{Scheduler, SerialLane};
use rstreams_protocol::{
    Demand, Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable,
};

use super::ring::{self, Consumer, Producer};
use crate::stage::{Loc, guard, reject};

/// The prefetch of [`publish_on`](crate::PublisherExt::publish_on) when you have no better number:
/// 256 items in flight per hop, replenished 192 at a time.
pub const DEFAULT_PREFETCH: usize = 256;

/// The largest prefetch accepted (the ring is allocated up front).
pub const MAX_PREFETCH: usize = 1 << 24;

/// How many times an idle drain re-checks for work before giving its lane back.
const SPIN_LIMIT: u32 = 64;

thread_local! {
    /// The hop whose drain is, on this thread, inside its replenishing `request` (0: none).
    /// A synchronous upstream pushes items from inside that call; the drain pops them right
    /// after it returns, so those pushes need not signal (saves an atomic RMW per item).
    static REPLENISHING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The publisher made by [`PublisherExt::publish_on`](crate::PublisherExt::publish_on): the downstream
/// receives every signal on `scheduler` (through a [`SerialLane`], so never two at once).
/// Every closure downstream of it (operators and the sink, e.g. `for_each`) runs on that
/// scheduler's workers, not on the caller's thread.
///
/// # Demand
///
/// ```text
///  upstream thread                         scheduler (serial lane)
///  ───────────────                         ───────────────────────
///  request(prefetch) at subscribe  ──┐
///  on_next ─► [ SPSC ring, ≤ prefetch ] ─► drain ─► downstream.on_next (≤ downstream demand)
///                                    └──── request(limit) after every `limit` items consumed,
///                                          limit = prefetch - prefetch/4 (75%)
/// ```
///
/// Upstream is asked for `prefetch` items at once, then for `limit` more each time `limit` items
/// have been handed downstream: never one request per item, and never more than `prefetch`
/// items waiting in the ring. The downstream's own demand only governs the drain, so a slow
/// downstream holds the upstream back once the ring is full.
///
/// Errors and completion are delivered after the items already in the ring (errors are not
/// allowed to overtake items). `cancel` stops the upstream and drops every queued item.
/// `prefetch = 0` (or above [`MAX_PREFETCH`]) fails the subscriber with a clear error naming
/// the stage.
pub struct PublishOn<P> {
    pub(crate) upstream: P,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) prefetch: usize,
    pub(crate) loc: Loc,
}

impl<P: std::fmt::Debug> std::fmt::Debug for PublishOn<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishOn")
            .field("upstream", &self.upstream)
            .field("prefetch", &self.prefetch)
            .field("stage", &self.loc)
            .finish()
    }
}

impl<P: Clone> Clone for PublishOn<P> {
    fn clone(&self) -> Self {
        PublishOn {
            upstream: self.upstream.clone(),
            scheduler: Arc::clone(&self.scheduler),
            prefetch: self.prefetch,
            loc: self.loc,
        }
    }
}

impl<P> Publisher for PublishOn<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if self.prefetch == 0 || self.prefetch > MAX_PREFETCH {
            let error = Error::msg(format!(
                "publish_on: prefetch must be between 1 and {MAX_PREFETCH}, got {} \
                 (prefetch 0 would never request anything and hang)",
                self.prefetch
            ))
            .at_stage(self.loc);
            reject(subscriber, error);
            return;
        }
        let (producer, consumer) = ring::ring(self.prefetch);
        let prefetch = self.prefetch as u64;
        let shared = Arc::new(Shared {
            demand: Demand::new(),
            wip: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            terminal: Mutex::new(None),
            up: Mutex::new(None),
            lane: self.scheduler.lane(),
            _scheduler: Arc::clone(&self.scheduler),
            prefetch,
            limit: prefetch - prefetch / 4,
            loc: self.loc,
            consumer: Mutex::new(Drain {
                ring: consumer,
                down: Some(subscriber),
                subscribed: false,
                since_replenish: 0,
            }),
        });
        self.upstream.subscribe(PublishOnSubscriber {
            shared,
            ring: producer,
            done: false,
        });
    }
}

/// State only the drain touches (the mutex is never contended: the `wip` counter admits one
/// drainer at a time; it exists so that the state can be reached from a `Fn` task safely).
struct Drain<T, S> {
    ring: Consumer<T>,
    down: Option<S>,
    subscribed: bool,
    since_replenish: u64,
}

struct Shared<T, S> {
    /// Downstream demand.
    demand: Demand,
    /// Work-in-progress: who moves it from 0 schedules the drain on the lane.
    wip: AtomicUsize,
    /// Upstream has terminated; `terminal` holds how. Set after the last push.
    done: AtomicBool,
    terminal: Mutex<Option<Error>>,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    lane: SerialLane,
    /// Keeps the executor alive while the subscription is (a lane only holds it weakly).
    _scheduler: Arc<dyn Scheduler>,
    prefetch: u64,
    limit: u64,
    loc: Loc,
    consumer: Mutex<Drain<T, S>>,
}

/// The subscriber placed upstream: the ring's producer side.
struct PublishOnSubscriber<T, S> {
    shared: Arc<Shared<T, S>>,
    ring: Producer<T>,
    done: bool,
}

impl<T, S> Subscriber<T> for PublishOnSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut slot = self.shared.up.lock();
            if slot.is_some() || self.done {
                drop(slot);
                tracing::debug!(stage = %self.shared.loc, "second on_subscribe: cancelled (rule 2.5)");
                up.cancel();
                return;
            }
            *slot = Some(Arc::clone(&up));
        }
        // The downstream's on_subscribe happens on the lane, before any item.
        self.shared.schedule();
        up.request(self.shared.prefetch);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        let pushed = self.ring.push(item);
        if pushed.is_ok()
            && REPLENISHING.with(|r| r.get()) == Arc::as_ptr(&self.shared) as *const () as usize
        {
            // Our own drain, on this thread, pops this item as soon as its request returns.
            return;
        }
        if let Err(item) = pushed {
            // More items than requested: the upstream broke rule 1.1.
            drop(item);
            self.done = true;
            let error = Error::violation(
                Rule::R1_1,
                "publish_on received more items than it requested (its prefetch)",
            )
            .at_stage(self.shared.loc);
            self.shared.cancel_upstream();
            self.finish(Some(error));
            return;
        }
        self.shared.schedule();
    }

    fn on_error(&mut self, error: Error) {
        if self.done {
            report_undeliverable(error);
            return;
        }
        self.done = true;
        self.finish(Some(error));
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.finish(None);
    }
}

impl<T, S> PublishOnSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn finish(&mut self, error: Option<Error>) {
        *self.shared.terminal.lock() = error;
        // Release: the terminal slot and every pushed item precede `done` for the drain.
        self.shared.done.store(true, Ordering::Release);
        self.shared.up.lock().take();
        self.shared.schedule();
    }
}

/// Marks this thread as inside a hop's replenishing request; restores the previous mark on
/// drop, also when unwinding.
struct Replenishing(usize);

impl Replenishing {
    fn enter(hop: usize) -> Self {
        Replenishing(REPLENISHING.with(|r| r.replace(hop)))
    }
}

impl Drop for Replenishing {
    fn drop(&mut self) {
        REPLENISHING.with(|r| r.set(self.0));
    }
}

/// The downstream's subscription.
struct PublishOnSubscription<T, S>(Arc<Shared<T, S>>);

impl<T, S> Subscription for PublishOnSubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + Send + 'static,
{
    fn request(&self, n: u64) {
        // 3.6 after cancel, 3.9 for zero, saturating add otherwise: all in `Demand::request`.
        if self.0.demand.request(n) {
            self.0.schedule();
        }
    }

    fn cancel(&self) {
        if self.0.demand.cancel() {
            self.0.cancel_upstream();
            // The drain drops the queued items and the subscriber.
            self.0.schedule();
        }
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

    /// Makes sure a drain runs after this call.
    #[inline]
    fn schedule(self: &Arc<Self>) {
        // AcqRel: Release publishes what the caller did (push, demand, flags) to the drainer,
        // which reads `wip` with AcqRel; Acquire on 0 orders us after the previous drain's exit.
        if self.wip.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        let me = Arc::clone(self);
        if let Err(rejected) = self.lane.execute(Box::new(move || me.drain())) {
            // The executor is shut down: fail the stream rather than hang, on this thread.
            tracing::debug!(stage = %self.loc, reason = %rejected.reason(), "publish_on: scheduler rejected the drain");
            drop(rejected);
            self.demand.cancel();
            self.cancel_upstream();
            let mut st = self.consumer.lock();
            st.ring.clear();
            if let Some(mut down) = st.down.take() {
                let error = Error::msg("publish_on: the scheduler refused work (shut down)")
                    .at_stage(self.loc);
                let subscribed = st.subscribed;
                drop(st);
                if !subscribed {
                    reject(down, error);
                } else if let Err(p) = guard(|| down.on_error(error)) {
                    report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
                }
            }
        }
    }

    /// The drain: runs on the lane, one at a time.
    fn drain(self: &Arc<Self>) {
        let mut st = self.consumer.lock();
        // Acquire: pairs with the AcqRel increments; everything counted is visible.
        let mut missed = self.wip.load(Ordering::Acquire);
        loop {
            self.pass(&mut st);
            // Spin briefly before giving up the lane: on a busy pipeline the next item is usually
            // nanoseconds away, and re-scheduling through the executor costs microseconds.
            let mut spins = 0;
            while spins < SPIN_LIMIT
                && st.down.is_some()
                && self.wip.load(Ordering::Relaxed) == missed
            {
                std::hint::spin_loop();
                spins += 1;
            }
            // AcqRel: Release hands this pass's effects to the next drainer; Acquire picks up
            // what callers who incremented meanwhile published.
            let now = self.wip.fetch_sub(missed, Ordering::AcqRel) - missed;
            if now == 0 {
                return;
            }
            missed = now;
        }
    }

    /// One drain pass.
    fn pass(self: &Arc<Self>, st: &mut Drain<T, S>) {
        if st.down.is_none() {
            st.ring.clear();
            return;
        }
        if !st.subscribed {
            st.subscribed = true;
            let sub = Box::new(PublishOnSubscription(Arc::clone(self)));
            let down = st.down.as_mut().expect("checked above");
            if let Err(p) = guard(|| down.on_subscribe(sub)) {
                self.subscriber_panicked(st, p);
                return;
            }
        }
        if self.demand.is_cancelled() {
            self.discard(st);
            return;
        }
        // Acquire: pairs with the Release in `request(0)`.
        if self.demand.has_invalid_request() {
            let error = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                .at_stage(self.loc);
            self.demand.cancel();
            self.cancel_upstream();
            self.terminate(st, Some(error));
            return;
        }
        let requested = self.demand.get();
        let mut emitted = 0u64;
        let limit = self.limit;
        let Drain {
            ring,
            down,
            since_replenish,
            ..
        } = st;
        let down_ref = down.as_mut().expect("checked above");
        // One catch_unwind around the batch, as the pull kit does.
        let run = guard(|| {
            while emitted != requested {
                let Some(item) = ring.pop() else { break };
                down_ref.on_next(item);
                emitted += 1;
                *since_replenish += 1;
                if *since_replenish == limit {
                    *since_replenish = 0;
                    // Free the slots before asking for items to fill them.
                    ring.publish();
                    let up = self.up.lock().clone();
                    if let Some(up) = up {
                        let _mark = Replenishing::enter(Arc::as_ptr(self) as *const () as usize);
                        up.request(limit);
                    }
                }
                if self.demand.is_cancelled() {
                    break;
                }
            }
        });
        ring.publish();
        if emitted != 0 {
            self.demand.produced(emitted);
        }
        if let Err(p) = run {
            self.subscriber_panicked(st, p);
            return;
        }
        if self.demand.is_cancelled() {
            self.discard(st);
            return;
        }
        // Acquire: pairs with the Release in `finish`: all items pushed before are visible.
        if self.done.load(Ordering::Acquire) && st.ring.is_empty() {
            let error = self.terminal.lock().take();
            self.terminate(st, error);
        }
    }

    fn discard(&self, st: &mut Drain<T, S>) {
        let dropped = st.ring.clear();
        if dropped != 0 {
            tracing::debug!(stage = %self.loc, dropped, "publish_on cancelled: queued items dropped");
        }
        st.down = None;
    }

    fn terminate(&self, st: &mut Drain<T, S>, error: Option<Error>) {
        self.demand.cancel();
        st.ring.clear();
        let Some(mut down) = st.down.take() else {
            return;
        };
        let result = match error {
            Some(e) => guard(|| down.on_error(e)),
            None => guard(|| down.on_complete()),
        };
        if let Err(p) = result {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }

    fn subscriber_panicked(&self, st: &mut Drain<T, S>, payload: crate::stage::Payload) {
        // Rule 2.13: the subscription is cancelled; nobody downstream can be told, so report.
        self.demand.cancel();
        self.cancel_upstream();
        let error = Error::from_panic(Rule::R2_13, payload).at_stage(self.loc);
        tracing::debug!(%error, "publish_on: downstream panicked; cancelled");
        st.ring.clear();
        if let Some(down) = st.down.take()
            && let Err(p) = guard(move || drop(down))
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
        report_undeliverable(error);
    }
}
