//! `publish_on`: items cross to a scheduler through a bounded SPSC ring that the pull kit drains
//! on a serial lane; see [`PublishOn`].

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use rstreams_executor::{RejectReason, Scheduler, SerialLane};
use rstreams_protocol::pull::{self, BacklogProbe, PullHandle, Source, Step};
use rstreams_protocol::{Backlog, Error, Publisher, Rule, Subscriber, Subscription};

use super::park::{LazySignal, OwedSignal, Parking, batch_signals};
use super::ring::{self, Consumer, LAG_WINDOW, Producer};
use crate::stage::{Loc, reject};

/// The prefetch of [`publish_on`](crate::PublisherExt::publish_on) when you have no better number:
/// 256 items in flight per hop, replenished 192 at a time.
pub const DEFAULT_PREFETCH: usize = 256;

/// The largest prefetch accepted (the ring is allocated up front).
pub const MAX_PREFETCH: usize = 1 << 24;

/// Items a drain delivers before it gives its worker back and continues in a task at the back
/// of the executor's queue (the cooperative budget, as tokio's): a subscriber that requests from
/// inside `on_next` keeps the drain busy for ever, and must not keep the worker for ever.
const DRAIN_BUDGET: u64 = 4096;

thread_local! {
    /// The hop whose drain is, on this thread, inside its replenishing `request` (0: none).
    /// A synchronous upstream pushes items from inside that call; the drain pops them right
    /// after it returns, so those pushes need not signal (saves a fence per item).
    static REPLENISHING: Cell<usize> = const { Cell::new(0) };
    /// The hop one of whose tasks runs on this thread (0: none): the downstream's `request`
    /// from inside it (from `on_next`) goes to the kit at once instead of through the lane.
    static IN_TASK: Cell<usize> = const { Cell::new(0) };
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
/// The drain is the pull kit ([`rstreams_protocol::pull`]): the ring is its source, and its
/// passes run as tasks of one [`SerialLane`] of `scheduler` (so never two at once, and the
/// downstream's `request`s from other threads are queued on that lane). A push costs no
/// read-modify-write and wakes nobody while the drain is awake (a store-and-fence parking
/// protocol, `hop/park.rs`); an idle drain polls briefly before it parks, and the producer wakes
/// it at most once per park. After 4096 items a drain yields its worker and continues in a task
/// at the back of the scheduler's queue, so hot pipelines share a pool fairly.
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
            parking: CachePadded::new(Parking::awake()),
            done: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            yielded: AtomicBool::new(false),
            terminal: Mutex::new(None),
            up: Mutex::new(None),
            lane: self.scheduler.lane(),
            scheduler: Arc::clone(&self.scheduler),
            handle: OnceLock::new(),
            prefetch,
            limit: prefetch - prefetch / 4,
            loc: self.loc,
        });
        // The kit starts in the lane's first task, so the downstream's `on_subscribe` runs on
        // the scheduler; the parking flag starts awake because that task looks at the ring.
        let mut start = Start {
            parts: Some((subscriber, consumer)),
            loc: self.loc,
        };
        shared.on_lane(move |s| {
            if let Some((down, ring)) = start.parts.take() {
                s.start(down, ring);
            }
        });
        self.upstream.subscribe(PublishOnSubscriber {
            shared,
            ring: producer,
            done: false,
            lazy: LazySignal::default(),
        });
    }
}

/// What the producer, the kit's source and the hop's tasks share.
struct Shared {
    /// Whether the drain may be parked (see `park.rs`). The producer reads it after every push:
    /// on its own cache line, so the drain's writes elsewhere do not evict it.
    parking: CachePadded<Parking>,
    /// Upstream has terminated; `terminal` holds how. Set after the last push.
    done: AtomicBool,
    /// A task of this hop was dropped unrun or refused (the scheduler shut down): the stream
    /// ends with an error at the next pass.
    abandoned: AtomicBool,
    /// The drain used its budget and waits for its continuation task.
    yielded: AtomicBool,
    terminal: Mutex<Option<Error>>,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    /// Where the kit's passes run.
    lane: SerialLane,
    /// The executor of `lane`; also keeps it alive while the subscription is (a lane only holds
    /// it weakly).
    scheduler: Arc<dyn Scheduler>,
    /// The kit's handle, set by the first lane task once the kit is running.
    handle: OnceLock<PullHandle>,
    prefetch: u64,
    limit: u64,
    loc: Loc,
}

impl OwedSignal for Shared {
    fn pay(self: Arc<Self>) {
        self.signal();
    }
}

impl Shared {
    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Queues `f` on the hop's lane. A refusal (shut down) drops the task, which ends the stream
    /// (`HopTask::drop`).
    fn on_lane<F: FnOnce(&Arc<Shared>) + Send + 'static>(self: &Arc<Self>, f: F) {
        let task = HopTask {
            shared: Some(Arc::clone(self)),
            f: Some(f),
        };
        if let Err(rejected) = self.lane.execute(Box::new(move || task.run())) {
            tracing::debug!(stage = %self.loc, reason = %rejected.reason(), "publish_on: scheduler refused a task");
            drop(rejected);
        }
    }

    /// Queues a kit pass on the lane (the drain was parked and work arrived).
    #[cold]
    #[inline(never)]
    fn wake_on_lane(self: &Arc<Self>) {
        // Trace, not debug: a drain can be woken once per item (issue 12.4).
        tracing::trace!(stage = %self.loc, "publish_on: drain scheduled");
        self.on_lane(|s| s.drive());
    }

    /// The drain used its budget: continue in a task at the back of the scheduler's queue (a
    /// lane task would run in the lane's current batch, keeping the worker). If the queue is
    /// full, through the lane after all.
    fn yield_worker(self: &Arc<Self>) {
        // Relaxed: read by the passes, which the kit's drain orders (its counter's AcqRel).
        self.yielded.store(true, Ordering::Relaxed);
        let task = HopTask {
            shared: Some(Arc::clone(self)),
            f: Some(|s: &Arc<Shared>| {
                s.yielded.store(false, Ordering::Relaxed);
                s.drive();
            }),
        };
        match self.scheduler.execute(Box::new(move || task.run())) {
            Ok(()) => {}
            Err(rejected) if rejected.reason() == RejectReason::QueueFull => {
                if let Err(rejected) = self.lane.execute(rejected.into_task()) {
                    drop(rejected);
                }
            }
            Err(rejected) => drop(rejected),
        }
    }

    /// Runs a kit pass here (if none is running; otherwise the running one goes round again).
    fn drive(&self) {
        if let Some(handle) = self.handle.get() {
            count!(DrainTask);
            handle.wake();
        }
    }

    /// Call after publishing work: wakes the drain if it parked.
    #[inline]
    fn signal(self: &Arc<Self>) {
        if self.parking.signal() {
            count!(Claim);
            self.wake_on_lane();
        }
    }

    fn cancel_upstream(&self) {
        let up = self.up.lock().take();
        if let Some(up) = up {
            up.cancel();
        }
    }

    /// The lane task that starts the kit.
    fn start<T: Send + 'static, S: Subscriber<T> + Send + 'static>(
        self: &Arc<Self>,
        down: S,
        ring: Consumer<T>,
    ) {
        let down = Downstream {
            down,
            shared: Arc::clone(self),
        };
        // The handle is stored before the kit's first pass (which runs inside this call): a
        // drain that yields in that pass hands its continuation to the scheduler, which may run
        // it at once on another worker, and it must find the handle to drive. (Stored after
        // `serve` returned, it was missing there now and then: the stream stopped for good,
        // `tests/hop_reliability.rs`.)
        let shared = Arc::clone(self);
        let loc = self.loc;
        pull::serve_with(
            move |handle| {
                let _ = shared.handle.set(handle);
                Drain {
                    shared,
                    ring,
                    since_replenish: 0,
                    since_yield: 0,
                }
                .at(loc)
            },
            down,
        );
        // SeqCst fence paired with the one in `abandon`: an abandon that found no handle yet is
        // seen here, one that comes later finds the handle.
        fence(Ordering::SeqCst);
        if self.abandoned.load(Ordering::Relaxed) {
            self.drive();
        }
    }

    /// A task of this hop can no longer run (the scheduler shut down): end the stream with an
    /// error, from this thread.
    fn abandon(&self) {
        if self.abandoned.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::debug!(stage = %self.loc, "publish_on: task dropped by the scheduler (shut down); ending the stream");
        // Under the `up` lock, so an `on_subscribe` still to come sees `abandoned` (it checks
        // under the same lock).
        self.cancel_upstream();
        // Paired with the fence in `start`.
        fence(Ordering::SeqCst);
        self.drive();
    }
}

/// A task of the hop (a kit pass, a queued `request`, the start). Dropped unrun (`shutdown_now`,
/// or refused after `shutdown`), it ends the stream, so no stream is stranded waiting for a
/// task that will never run.
struct HopTask<F: FnOnce(&Arc<Shared>) + Send + 'static> {
    shared: Option<Arc<Shared>>,
    f: Option<F>,
}

impl<F: FnOnce(&Arc<Shared>) + Send + 'static> HopTask<F> {
    fn run(mut self) {
        if let (Some(shared), Some(f)) = (self.shared.take(), self.f.take()) {
            let _mark = Mark::enter(&IN_TASK, shared.id());
            f(&shared);
        }
    }
}

impl<F: FnOnce(&Arc<Shared>) + Send + 'static> Drop for HopTask<F> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.abandon();
        }
    }
}

/// The subscriber and ring the start task hands to the kit; dropped unrun, it fails the
/// subscriber (the kit never started, so nothing else can).
struct Start<T, S: Subscriber<T>> {
    parts: Option<(S, Consumer<T>)>,
    loc: Loc,
}

impl<T, S: Subscriber<T>> Drop for Start<T, S> {
    fn drop(&mut self) {
        if let Some((down, _ring)) = self.parts.take() {
            let error = Error::msg(
                "publish_on: the scheduler shut down before the stream started; upstream cancelled",
            )
            .at_stage(self.loc);
            reject(down, error);
        }
    }
}

/// Sets a thread-local mark for its lifetime; restores the previous one on drop, also when
/// unwinding.
struct Mark(&'static std::thread::LocalKey<Cell<usize>>, usize);

impl Mark {
    fn enter(key: &'static std::thread::LocalKey<Cell<usize>>, hop: usize) -> Self {
        Mark(key, key.with(|c| c.replace(hop)))
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        let previous = self.1;
        self.0.with(|c| c.set(previous));
    }
}

/// The subscriber placed upstream: the ring's producer side.
struct PublishOnSubscriber<T> {
    shared: Arc<Shared>,
    ring: Producer<T>,
    done: bool,
    /// Deferred signals inside synchronous bursts (`park.rs`).
    lazy: LazySignal,
}

impl<T: Send + 'static> Subscriber<T> for PublishOnSubscriber<T> {
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
            // SeqCst: read under the lock `abandon` takes after setting it.
            if self.shared.abandoned.load(Ordering::SeqCst) {
                drop(slot);
                up.cancel();
                return;
            }
            *slot = Some(Arc::clone(&up));
        }
        // A synchronous upstream emits the first prefetch from inside this call: one signal.
        batch_signals(|| up.request(self.shared.prefetch));
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if let Err(item) = self.ring.push(item) {
            self.overflowed(item);
            return;
        }
        if REPLENISHING.with(|r| r.get()) == self.shared.id() {
            // Our own drain, on this thread, pops this item as soon as its request returns.
            return;
        }
        if self.lazy.after_push(&self.shared.parking, &self.shared) {
            count!(ClaimByPush);
            self.shared.wake_on_lane();
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.done {
            rstreams_protocol::report_undeliverable(error);
            return;
        }
        self.finish(Some(error));
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.finish(None);
        }
    }
}

impl<T: Send + 'static> PublishOnSubscriber<T> {
    /// More items than requested: the upstream broke rule 1.1. Out of line, so that `on_next`
    /// stays small enough to inline into the upstream's emission loop.
    #[cold]
    #[inline(never)]
    fn overflowed(&mut self, item: T) {
        drop(item);
        let error = Error::violation(
            Rule::R1_1,
            "publish_on received more items than it requested (its prefetch)",
        )
        .at_stage(self.shared.loc);
        self.shared.cancel_upstream();
        self.finish(Some(error));
    }

    fn finish(&mut self, error: Option<Error>) {
        self.done = true;
        *self.shared.terminal.lock() = error;
        // Release: the terminal slot and every pushed item precede `done` for the drain.
        self.shared.done.store(true, Ordering::Release);
        self.shared.up.lock().take();
        self.shared.signal();
    }
}

/// The ring's consumer side, as the pull kit's source.
struct Drain<T> {
    shared: Arc<Shared>,
    ring: Consumer<T>,
    since_replenish: u64,
    since_yield: u64,
}

impl<T> Drain<T> {
    /// How upstream ended (the ring is empty and `done` was seen).
    fn end(&self) -> Step<T> {
        match self.shared.terminal.lock().take() {
            Some(error) => Step::Error(error),
            None => Step::Complete,
        }
    }

    fn abandoned_end(&mut self) -> Step<T> {
        let dropped = self.ring.clear();
        tracing::debug!(stage = %self.shared.loc, dropped, "publish_on: scheduler shut down; queued items dropped");
        Step::Error(
            Error::msg(
                "publish_on: the scheduler shut down before the stream ended; upstream cancelled",
            )
            .at_stage(self.shared.loc),
        )
    }

    /// The drain has delivered everything it saw: the end if upstream ended, else a short idle
    /// poll (see `IDLE_GAP`), then park. `None`: items (or the end) arrived, go on.
    fn caught_up(&mut self) -> Option<Step<T>> {
        self.ring.publish();
        // Acquire: pairs with the Release in `finish`; the look at the ring after it sees every
        // item pushed before the end.
        if self.shared.done.load(Ordering::Acquire) {
            return if self.ring.is_empty() {
                Some(self.end())
            } else {
                None
            };
        }
        count!(Spin);
        let done = &self.shared.done;
        // Acquire: as above.
        if self.ring.await_run(|| done.load(Ordering::Acquire)) {
            return None;
        }
        let Drain { shared, ring, .. } = self;
        if shared
            .parking
            .park(|| !ring.is_empty() || shared.done.load(Ordering::Acquire))
        {
            return None;
        }
        count!(Park);
        Some(Step::Pending)
    }
}

impl<T: Send + 'static> Source for Drain<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "publish_on"
    }

    /// The drain never waits (its idle poll is bounded): a downstream merge is woken once per
    /// delivered run.
    fn coalesces_wakes(&self) -> bool {
        true
    }

    fn pull(&mut self) -> Step<T> {
        let mut got = None;
        let (_, stop) = self.pull_many(1, |item| {
            got = Some(item);
            true
        });
        match (got, stop) {
            (Some(item), _) => Step::Next(item),
            (None, Some(step)) => step,
            (None, None) => Step::Pending,
        }
    }

    /// Asked when the downstream's demand has run out: parks (so that the upstream's end wakes
    /// the drain, which then completes without demand) unless the end is already here.
    fn is_exhausted(&mut self) -> bool {
        // Acquire: pairs with the SeqCst swap in `abandon` (the error then ends the stream).
        if self.shared.abandoned.load(Ordering::Acquire) {
            return true;
        }
        let Drain { shared, ring, .. } = self;
        shared
            .parking
            .park(|| shared.done.load(Ordering::Acquire) && ring.is_empty())
    }

    fn backlog_probe(&self) -> Option<BacklogProbe> {
        let len = self.ring.len_probe();
        Some(Arc::new(move || Backlog {
            buffered: len() as u64,
            dropped: 0,
        }))
    }

    /// The hot loop: delivers the items the last look at the producer's position found, looks
    /// again at once while the producer is well ahead (`LAG_WINDOW`), and replenishes upstream
    /// every `limit` items.
    #[inline]
    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        if self.shared.abandoned.load(Ordering::Acquire) {
            return (0, Some(self.abandoned_end()));
        }
        // Relaxed: written by passes and by the continuation task before its pass; the kit's
        // drain counter orders them.
        if self.shared.yielded.load(Ordering::Relaxed) {
            return (0, Some(Step::Pending));
        }
        let mut handed = 0u64;
        let mut window = usize::MAX;
        let stop = loop {
            // Items until the next thing to do (the caller's limit, the next replenishing
            // request, the budget): the run below checks nothing else per item.
            let room = (limit - handed)
                .min(self.shared.limit - self.since_replenish)
                .min(DRAIN_BUDGET - self.since_yield);
            if room == 0 {
                break None;
            }
            let mut run = 0;
            let mut more = true;
            while run < room {
                let Some(item) = self.ring.pop_cached() else {
                    break;
                };
                run += 1;
                if !emit(item) {
                    more = false;
                    break;
                }
            }
            handed += run;
            self.since_replenish += run;
            self.since_yield += run;
            if self.since_replenish == self.shared.limit {
                self.since_replenish = 0;
                // Free the slots before asking for items to fill them.
                self.ring.publish();
                let up = self.shared.up.lock().clone();
                if let Some(up) = up {
                    count!(Replenish);
                    let _mark = Mark::enter(&REPLENISHING, self.shared.id());
                    up.request(self.shared.limit);
                }
            }
            if self.since_yield == DRAIN_BUDGET {
                // Reset even when the downstream refused the last item, so that no later call
                // starts with no room at all.
                self.since_yield = 0;
                if more {
                    self.shared.yield_worker();
                    break Some(Step::Pending);
                }
            }
            if !more {
                break None;
            }
            if run == room {
                continue;
            }
            // The window the last look found is used up.
            if window >= LAG_WINDOW {
                window = self.ring.refill();
                if window >= LAG_WINDOW {
                    continue;
                }
            }
            match self.caught_up() {
                Some(step) => break Some(step),
                None => window = usize::MAX,
            }
        };
        self.ring.publish();
        if handed != 0 {
            count!(Pass);
            count!(Item, handed);
        }
        (handed, stop)
    }
}

impl<T> Drop for Drain<T> {
    fn drop(&mut self) {
        // The kit drops its source when the stream ends for any reason (terminal, cancel, a
        // panicking subscriber): stop the upstream (a no-op once it terminated) and drop what
        // is queued now rather than when the upstream lets go of the ring.
        self.shared.cancel_upstream();
        let dropped = self.ring.clear();
        if dropped != 0 {
            tracing::debug!(stage = %self.shared.loc, dropped, "publish_on ended: queued items dropped");
        }
    }
}

/// The downstream as the kit sees it: hands it a subscription that keeps `request` on the lane.
struct Downstream<S> {
    down: S,
    shared: Arc<Shared>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for Downstream<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        // The kit keeps the live subscription itself, so a downstream that drops this handle
        // still gets every item (`tests/forgotten_subscription.rs`).
        let kit: Arc<dyn Subscription> = Arc::from(s);
        self.down.on_subscribe(Box::new(PublishOnSubscription {
            kit,
            shared: Arc::clone(&self.shared),
        }));
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.down.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        self.down.on_error(error);
    }

    fn on_complete(&mut self) {
        self.down.on_complete();
    }
}

/// The downstream's subscription: the kit's, with every `request` made on the hop's lane.
struct PublishOnSubscription {
    kit: Arc<dyn Subscription>,
    shared: Arc<Shared>,
}

impl Subscription for PublishOnSubscription {
    fn request(&self, n: u64) {
        if IN_TASK.with(|c| c.get()) == self.shared.id() {
            // From inside a pass (`on_next`): the kit adds the demand; its loop delivers.
            self.kit.request(n);
        } else {
            let kit = Arc::clone(&self.kit);
            self.shared.on_lane(move |_| kit.request(n));
        }
    }

    fn cancel(&self) {
        // At once, from any thread: the kit marks the demand cancelled; whichever pass runs next
        // (here, if none runs) drops the subscriber and the ring, which cancels the upstream.
        self.kit.cancel();
    }

    /// Issue 12: the items waiting in the ring.
    fn backlog(&self) -> Option<Backlog> {
        self.kit.backlog()
    }
}
