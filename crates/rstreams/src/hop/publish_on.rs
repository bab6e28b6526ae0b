//! `publish_on`: items cross to a scheduler through a bounded SPSC ring; see [`PublishOn`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use rstreams_executor::{RejectReason, Scheduler, Task};
use rstreams_protocol::{
    Demand, Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable,
};

use super::park::Parking;
use super::ring::{self, Consumer, Producer};
use crate::stage::{Loc, guard, reject};

/// The prefetch of [`publish_on`](crate::PublisherExt::publish_on) when you have no better number:
/// 256 items in flight per hop, replenished 192 at a time.
pub const DEFAULT_PREFETCH: usize = 256;

/// The largest prefetch accepted (the ring is allocated up front).
pub const MAX_PREFETCH: usize = 1 << 24;

/// Items a drain delivers before it gives its worker back and re-schedules itself at the back
/// of the executor's queue (the cooperative budget, as tokio's): a subscriber that requests from
/// inside `on_next` keeps the drain busy for ever, and must not keep the worker for ever.
pub(crate) const DRAIN_BUDGET: u64 = 4096;

/// Checks an idle drain makes before it parks, `IDLE_GAP` pause instructions apart (128 pauses
/// in all, as before: ~5 µs on the 2-core VM): on a busy pipeline the next item is usually that
/// close, and parking and re-scheduling cost more. Measured on the loaded 2-core machine:
/// spinning longer (24 steps, or up to 20 µs, with or without yielding) made the two-thread hop
/// 2-4× slower, because the spinner takes the core its producer is waiting for
/// (`docs/performance.md`).
const IDLE_CHECKS: u32 = 8;

/// Pauses between two looks at the producer's position when the drain has caught up (~0.7 µs
/// at ~45 ns per pause on the VM). Looking at once, per item, makes the two cores pass the
/// ring's tail line (and the slot line being written) back and forth for every item, and the
/// producer's fence then waits for that transfer: the quiet-machine cost of issue 14.1. Waiting
/// lets the producer run ahead on lines it owns and the drain take a run of items per look.
const IDLE_GAP: u32 = 16;

/// A look at the ring that found fewer items than this ends the pass once they are delivered
/// (the drain then waits `IDLE_GAP` before looking again) instead of looking again at once.
const LAG_WINDOW: usize = 32;

thread_local! {
    /// The hop whose drain is, on this thread, inside its replenishing `request` (0: none).
    /// A synchronous upstream pushes items from inside that call; the drain pops them right
    /// after it returns, so those pushes need not signal (saves an atomic RMW per item).
    static REPLENISHING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The publisher made by [`PublisherExt::publish_on`](crate::PublisherExt::publish_on): the downstream
/// receives every signal on `scheduler`, from one drain at a time (so never two at once).
/// Every closure downstream of it (operators and the sink, e.g. `for_each`) runs on that
/// scheduler's workers, not on the caller's thread.
///
/// # Demand
///
/// ```text
///  upstream thread                         scheduler (one drain at a time)
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
///
/// # Scheduling
///
/// The drain runs as a task on `scheduler`; only one runs at a time (the drain token of a
/// store-and-fence parking protocol, so a push costs no read-modify-write and wakes nobody
/// while the drain is awake). An idle drain polls briefly before it parks; the producer wakes
/// it at most once per park. After 4096 items a drain yields its worker and
/// re-schedules itself at the back of the queue, so hot pipelines share a pool fairly.
///
/// # Shutdown
///
/// If the scheduler shuts down, the stream ends with exactly one `on_error` (saying so): when a
/// re-scheduled drain is refused (graceful `shutdown`), and when a queued drain is dropped
/// unrun (`shutdown_now`), on the thread that drops it. The upstream is cancelled and every
/// queued item dropped.
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
            parking: CachePadded::new(Parking::new()),
            defused: AtomicBool::new(false),
            done: AtomicBool::new(false),
            terminal: Mutex::new(None),
            up: Mutex::new(None),
            scheduler: Arc::clone(&self.scheduler),
            prefetch,
            limit: prefetch - prefetch / 4,
            loc: self.loc,
            consumer: CachePadded::new(Mutex::new(Drain {
                ring: consumer,
                down: Some(subscriber),
                subscribed: false,
                since_replenish: 0,
            })),
        });
        self.upstream.subscribe(PublishOnSubscriber {
            shared,
            ring: producer,
            done: false,
        });
    }
}

/// State only the drain touches (the mutex is never contended: the drain token admits one
/// drainer at a time; it exists so that the state can be reached from a shared `Arc` safely).
struct Drain<T, S> {
    ring: Consumer<T>,
    down: Option<S>,
    subscribed: bool,
    since_replenish: u64,
}

struct Shared<T, S> {
    /// Downstream demand.
    demand: Demand,
    /// The drain token (see `park.rs`). The producer reads it after every push: on its own
    /// cache line, so the consumer's writes to its own state (below) do not evict it.
    parking: CachePadded<Parking>,
    /// Set by the token holder just before it drops a drain task that the executor handed back
    /// (queue full): that drop must not end the stream. Only the token holder touches it.
    defused: AtomicBool,
    /// Upstream has terminated; `terminal` holds how. Set after the last push.
    done: AtomicBool,
    terminal: Mutex<Option<Error>>,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    /// Where the drain runs; also keeps the executor alive while the subscription is.
    scheduler: Arc<dyn Scheduler>,
    prefetch: u64,
    limit: u64,
    loc: Loc,
    /// The consumer's state, written per item (ring head, the downstream subscriber): on its
    /// own cache line, away from what the producer reads per push.
    consumer: CachePadded<Mutex<Drain<T, S>>>,
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
        // The downstream's on_subscribe happens in the first drain, before any item.
        self.shared.signal();
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
        if self.shared.parking.signal() {
            count!(ClaimByPush);
            self.shared.schedule();
        }
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
        self.shared.signal();
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
            self.0.signal();
        }
    }

    fn cancel(&self) {
        if self.0.demand.cancel() {
            self.0.cancel_upstream();
            // The drain drops the queued items and the subscriber.
            self.0.signal();
        }
    }
    /// Issue 12: the items waiting in the ring (unknown while a drain pass holds it).
    fn backlog(&self) -> Option<rstreams_protocol::Backlog> {
        let drain = self.0.consumer.try_lock()?;
        Some(rstreams_protocol::Backlog {
            buffered: drain.ring.len() as u64,
            dropped: 0,
        })
    }
}

/// A scheduled drain. Holds the drain token: if the executor drops it unrun (`shutdown_now`, or
/// a refused submission after `shutdown`), its `Drop` ends the stream, so no stream is stranded
/// with the token held by a task that will never run.
struct DrainTask<T: Send + 'static, S: Subscriber<T> + Send + 'static>(Option<Arc<Shared<T, S>>>);

impl<T: Send + 'static, S: Subscriber<T> + Send + 'static> DrainTask<T, S> {
    fn run(mut self) {
        if let Some(shared) = self.0.take() {
            count!(DrainTask);
            shared.run_drain();
        }
    }
}

impl<T: Send + 'static, S: Subscriber<T> + Send + 'static> Drop for DrainTask<T, S> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            // Relaxed: only the token holder writes or reads it, and holders are ordered by the
            // parking protocol and the executor's queue.
            if shared.defused.swap(false, Ordering::Relaxed) {
                return;
            }
            shared.abandon();
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

    /// Call after publishing work: makes sure a drain runs after this call.
    #[inline]
    fn signal(self: &Arc<Self>) {
        if self.parking.signal() {
            count!(Claim);
            self.schedule();
        }
    }

    /// The token holder hands the drain to the executor. If the queue is full (a pool under
    /// `FullPolicy::Reject`) the drain runs here instead, so an accepted item is never stranded.
    fn schedule(self: &Arc<Self>) {
        if let Err(task) = self.submit() {
            task();
        }
    }

    /// Queues a drain task. `Err` gives it back when the queue is full. A refusal for shutdown
    /// drops the task, which ends the stream (`DrainTask::drop`).
    fn submit(self: &Arc<Self>) -> Result<(), Task> {
        let task = DrainTask(Some(Arc::clone(self)));
        // Trace, not debug: a drain can be scheduled once per item (issue 12.4).
        tracing::trace!(stage = %self.loc, "publish_on: drain scheduled");
        match self.scheduler.execute(Box::new(move || task.run())) {
            Ok(()) => Ok(()),
            Err(rejected) if rejected.reason() == RejectReason::QueueFull => {
                Err(rejected.into_task())
            }
            Err(rejected) => {
                tracing::debug!(stage = %self.loc, reason = %rejected.reason(), "publish_on: scheduler refused the drain");
                drop(rejected);
                Ok(())
            }
        }
    }

    /// A drain task's body: drain until parked; after each budget, yield the worker by
    /// re-scheduling (or, if the queue is full, keep going here).
    fn run_drain(self: &Arc<Self>) {
        while self.drain() {
            match self.submit() {
                Ok(()) => return,
                Err(task) => {
                    tracing::trace!(stage = %self.loc, "queue full: the drain keeps its worker");
                    // Relaxed: see `DrainTask::drop`; we hold the token.
                    self.defused.store(true, Ordering::Relaxed);
                    drop(task);
                }
            }
        }
    }

    /// The stream cannot be drained any more (its drain task was dropped unrun): end it with an
    /// error, on this thread. The caller's task held the drain token, so no drain runs now and
    /// none will (the token is never given back).
    fn abandon(&self) {
        tracing::debug!(stage = %self.loc, "publish_on: drain dropped by the scheduler (shut down); ending the stream");
        self.demand.cancel();
        self.cancel_upstream();
        let mut st = self.consumer.lock();
        st.ring.clear();
        let Some(mut down) = st.down.take() else {
            return;
        };
        let subscribed = st.subscribed;
        drop(st);
        let error = Error::msg(
            "publish_on: the scheduler shut down before the stream ended; upstream cancelled",
        )
        .at_stage(self.loc);
        if !subscribed {
            reject(down, error);
        } else if let Err(p) = guard(|| down.on_error(error)) {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
        }
    }

    /// Whether a pass would do something now.
    fn has_work(&self, st: &mut Drain<T, S>) -> bool {
        if st.down.is_none() {
            return false;
        }
        if self.demand.is_cancelled() || self.demand.has_invalid_request() {
            return true;
        }
        if !st.ring.is_empty() {
            return self.demand.get() != 0;
        }
        // Acquire: pairs with the Release in `finish`.
        self.done.load(Ordering::Acquire)
    }

    /// Polls for work a little before parking: `IDLE_CHECKS` checks, each after `IDLE_GAP`
    /// pauses (never yielding the CPU). The first check also waits: see `IDLE_GAP`.
    fn spin_for_work(&self, st: &mut Drain<T, S>) -> bool {
        count!(Spin);
        for _ in 0..IDLE_CHECKS {
            for _ in 0..IDLE_GAP {
                std::hint::spin_loop();
            }
            if self.has_work(st) {
                return true;
            }
        }
        false
    }

    /// Drains with the token held. Returns `true` if the budget ran out with the token still
    /// held (the caller re-schedules), `false` once the token is given back or the stream ended.
    fn drain(self: &Arc<Self>) -> bool {
        let mut st = self.consumer.lock();
        let mut budget = DRAIN_BUDGET;
        loop {
            let emitted = self.pass(&mut st, budget);
            if st.down.is_none() {
                // Ended: keep the token for good, so no drain is ever scheduled again; items
                // an upstream still pushes are dropped with the ring.
                st.ring.clear();
                return false;
            }
            budget = budget.saturating_sub(emitted);
            if budget == 0 {
                return true;
            }
            if self.spin_for_work(&mut st) {
                continue;
            }
            if !self.parking.park(|| self.has_work(&mut st)) {
                count!(Park);
                return false;
            }
        }
    }

    /// One drain pass, delivering at most `budget` items. Returns how many it delivered.
    fn pass(self: &Arc<Self>, st: &mut Drain<T, S>, budget: u64) -> u64 {
        if st.down.is_none() {
            return 0;
        }
        if !st.subscribed {
            st.subscribed = true;
            let sub = Box::new(PublishOnSubscription(Arc::clone(self)));
            let down = st.down.as_mut().expect("checked above");
            if let Err(p) = guard(|| down.on_subscribe(sub)) {
                self.subscriber_panicked(st, p);
                return 0;
            }
        }
        if self.demand.is_cancelled() {
            self.discard(st);
            return 0;
        }
        if self.demand.has_invalid_request() {
            let error = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                .at_stage(self.loc);
            self.demand.cancel();
            self.cancel_upstream();
            self.terminate(st, Some(error));
            return 0;
        }
        let requested = self.demand.get().min(budget);
        let mut emitted = 0u64;
        let limit = self.limit;
        let Drain {
            ring,
            down,
            since_replenish,
            ..
        } = st;
        let down_ref = down.as_mut().expect("checked above");
        // The window `has_work` saw; looked at again (`refill`) only while the producer is well
        // ahead (see `LAG_WINDOW`).
        let mut window = usize::MAX;
        // One catch_unwind around the batch, as the pull kit does.
        let run = guard(|| {
            while emitted != requested {
                let item = match ring.pop_cached() {
                    Some(item) => item,
                    None => {
                        if window < LAG_WINDOW {
                            break;
                        }
                        window = ring.refill();
                        if window == 0 {
                            break;
                        }
                        continue;
                    }
                };
                down_ref.on_next(item);
                emitted += 1;
                *since_replenish += 1;
                if *since_replenish == limit {
                    *since_replenish = 0;
                    // Free the slots before asking for items to fill them.
                    ring.publish();
                    let up = self.up.lock().clone();
                    if let Some(up) = up {
                        count!(Replenish);
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
            count!(Pass);
            count!(Item, emitted);
            self.demand.produced(emitted);
        }
        if let Err(p) = run {
            self.subscriber_panicked(st, p);
            return emitted;
        }
        if self.demand.is_cancelled() {
            self.discard(st);
            return emitted;
        }
        // Acquire: pairs with the Release in `finish`: all items pushed before are visible.
        if self.done.load(Ordering::Acquire) && st.ring.is_empty() {
            let error = self.terminal.lock().take();
            self.terminate(st, error);
        }
        emitted
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
