//! The merging core shared by `flat_map`, `concat_map`, `merge`, `flat_map_sequential` and
//! `switch_map`.
//!
//! Inner publishers may signal from different threads at once, so nothing is forwarded
//! downstream from their callbacks. Each inner pushes into its own lock-free SPSC ring (the
//! hop's ring, sized by the prefetch: the inner is never asked for more than fits) and wakes the
//! downstream drain through a [`Gate`] only when the drain may have stopped looking. The
//! downstream side is a [`pull::Source`] served by the protocol crate's pull kit, whose
//! `SerialDrain` gives one thread at a time the right to call the downstream subscriber (rules
//! 1.3, 3.3), and whose `Demand` bounds what goes downstream (rule 1.1).
//!
//! ```text
//!  outer ──on_next──► f(x) ──subscribe──► inner 0 ─┐ ring ≤ prefetch ┐
//!        ◄─request(max_concurrency), then 1 per                       ├─► drain ─► downstream
//!          finished inner                 inner 1 ─┘ ring ≤ prefetch ┘   (SerialDrain)
//!                                         ◄─request(prefetch), then 75% batches as consumed
//! ```
//!
//! How the drain takes items depends on the [`Mode`]: `Merge` takes a run of items from each
//! inner in turn (fair: a run is at most what the ring holds); `Sequential` takes only from the
//! oldest live inner, so the output keeps the outer order while later inners prefetch; `Switch`
//! keeps one inner, cancels it when the next outer item arrives, and asks each inner for exactly
//! the downstream's outstanding demand (capped at the prefetch) instead of prefetching.
//!
//! Per item, an inner touches only its own ring (a slot write and a Release store), its own
//! demand counter and, if the drain may be idle, the gate. The one mutex (`Control`) is taken
//! only when an inner is subscribed or finishes, on errors and cancellation, and by the drain
//! when told the structure changed. It is never held while calling anything outside this file
//! (an upstream `request`/`cancel`, a `subscribe`, the downstream): those can re-enter.
//!
//! Synchronous inners: when an inner delivers on the thread that is running the drain (a
//! `range` answering a replenishing `request` made by the drain itself, or subscribed from
//! inside it), it skips the gate altogether — the drain re-scans after every call it makes,
//! so it sees those items without any wake-up. Items then go ring → downstream in runs, with no
//! lock and no read-modify-write per item.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use rstreams_protocol::pull::{PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use super::gate::{Gate, bit_of};
use crate::hop::{RingConsumer, RingProducer, ring};
use crate::source::{Empty, Just, Once};
use crate::stage::{Loc, guard};

/// How the drain takes items from the inners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Runs from every inner in turn (flat_map, merge).
    Merge,
    /// Only from the oldest inner until it completes (flat_map_sequential, concat_map).
    Sequential,
    /// One inner at a time; a new one cancels the old (switch_map).
    Switch,
}

/// The scalar ring's largest capacity: `max_concurrency` up to this (see `MergeCore::new`).
const SCALAR_RING_MAX: usize = 256;

/// What the scalar fast path makes of an inner publisher.
enum Scalar<T> {
    /// A single value known at subscribe time (`just`, a fresh `once`).
    Value(T),
    /// No items at all (`empty`).
    Empty,
    /// Anything else: subscribed as an ordinary inner.
    No,
}

/// Recognises the crate's scalar sources by type (Rust has no specialisation; for a concrete
/// `Q` this folds to a constant): what Reactor's `flatMap` does with `Callable` sources and
/// RxJava's with `Supplier`s.
fn scalar_of<Q>(inner: &Q) -> Scalar<Q::Item>
where
    Q: Publisher + 'static,
    Q::Item: 'static,
{
    let any: &dyn Any = inner;
    if let Some(j) = any.downcast_ref::<Just<Q::Item>>() {
        return Scalar::Value(j.scalar());
    }
    if let Some(o) = any.downcast_ref::<Once<Q::Item>>() {
        // Already taken: the ordinary path sends the 1.11 error `once` documents.
        return o.take_scalar().map_or(Scalar::No, Scalar::Value);
    }
    if any.is::<Empty<Q::Item>>() {
        return Scalar::Empty;
    }
    Scalar::No
}

/// The producing end of the scalar ring, held by whoever adds the inners (the outer subscriber,
/// whose signals are serial (rule 1.3), or `merge`'s subscribe loop): one producer, as the ring
/// requires.
pub(crate) struct ScalarLane<T> {
    tx: Option<RingProducer<T>>,
    pushed: u64,
    /// The outer subscription, to replace an `empty` inner at once (`None` for `merge`).
    outer: Option<Arc<dyn Subscription>>,
}

impl<T> ScalarLane<T> {
    /// The outer subscription (accepted by `MergeCore::set_outer`).
    pub(crate) fn set_outer(&mut self, s: Arc<dyn Subscription>) {
        self.outer = Some(s);
    }
}

thread_local! {
    static TOKEN: u8 = const { 0 };
}

/// A number unique to the calling thread while it lives (the address of a thread-local).
#[inline]
fn thread_token() -> usize {
    TOKEN.with(|t| t as *const u8 as usize)
}

/// The subscription of one inner, and whether it was closed (cancelled) before it arrived.
#[derive(Default)]
struct SubSlot {
    sub: Option<Arc<dyn Subscription>>,
    closed: bool,
}

/// What an inner's subscriber and the drain share (besides the ring).
struct InnerCell {
    sub: Mutex<SubSlot>,
    /// Total asked of this inner so far (written by whoever requests; read by the inner's
    /// subscriber to detect an inner that sends more than it was asked for, rule 1.1).
    requested: AtomicU64,
    /// The inner completed; every item it sent is in the ring (Release after the last push).
    done: AtomicBool,
    /// Switch mode: a newer inner replaced this one (set under the control lock).
    superseded: AtomicBool,
    /// This inner's ready bit in the gate word (see `gate.rs`).
    bit: u64,
    /// Items pushed (a store per push by the producer, on its own line) and taken (a store per
    /// visit by the drain), for [`Subscription::backlog`]. Relaxed: counts for a monitor.
    pushed: CachePadded<AtomicU64>,
    taken: AtomicU64,
}

impl InnerCell {
    /// Cancels the inner now, or as soon as its subscription arrives.
    fn cancel(&self) {
        let sub = {
            let mut slot = self.sub.lock();
            slot.closed = true;
            slot.sub.take()
        };
        if let Some(s) = sub {
            s.cancel();
        }
    }

    fn subscription(&self) -> Option<Arc<dyn Subscription>> {
        self.sub.lock().sub.clone()
    }
}

/// What changes only when inners come and go, guarded by one mutex.
struct Control<T> {
    /// Subscribed inners the drain has not picked up yet, in subscription order.
    pending: Vec<(RingConsumer<T>, Arc<InnerCell>)>,
    /// Every live inner (subscribed, not retired by the drain), in subscription order.
    cells: Vec<Arc<InnerCell>>,
    outer: Option<Arc<dyn Subscription>>,
    outer_complete: bool,
    /// The first error: ends the stream at once (buffered items are dropped).
    error: Option<Error>,
    /// Downstream went away: everything has been cancelled, late arrivals are dropped.
    cancelled: bool,
}

/// Shared by the downstream source, the outer subscriber and every inner subscriber.
pub(crate) struct MergeCore<T> {
    control: Mutex<Control<T>>,
    /// Set (Release) after a change to `control` the drain must pick up, before waking it.
    changed: CachePadded<AtomicBool>,
    /// Written by every producer's push: on its own line, so that it does not evict the
    /// read-mostly fields below from the drain's cache (nor `drainer` from the producers').
    gate: CachePadded<Gate>,
    /// The token of the thread running the drain's `pull_many`, or 0.
    drainer: CachePadded<AtomicUsize>,
    /// Set by pushes that skipped the gate (made on the drainer's thread): the drain then
    /// visits every ring, as it does not know which ones they were.
    self_pushed: CachePadded<AtomicBool>,
    /// Numbers the inners: their ready bits are `bit_of(id)`.
    next_id: AtomicU64,
    /// The two ends of the scalar ring (Merge mode only), each taken once: the consumer by the
    /// drain, the producer by whoever adds the inners (the outer subscriber, or `merge`).
    scalar_rx: Mutex<Option<RingConsumer<T>>>,
    scalar_tx: Mutex<Option<RingProducer<T>>>,
    /// Scalars pushed (written by the single producer) and taken (by the drain, once per run),
    /// for [`Subscription::backlog`]; Relaxed: counts for a monitor, nothing else reads them.
    scalar_pushed: AtomicU64,
    scalar_taken: AtomicU64,
    /// Set (under the control lock) once downstream cancelled or the stream failed: the scalar
    /// path drops late values instead of queueing them (a hint; Relaxed).
    closed: AtomicBool,
    handle: OnceLock<PullHandle>,
    mode: Mode,
    prefetch: u64,
    /// Replenish an inner when this many of its items were consumed (75% of prefetch).
    limit: u64,
    max_concurrency: u64,
    loc: Loc,
}

impl<T: Send + 'static> MergeCore<T> {
    pub(crate) fn new(mode: Mode, max_concurrency: usize, prefetch: usize, loc: Loc) -> Arc<Self> {
        let prefetch = prefetch as u64;
        // Merge mode: scalar inners (`just`, `once`) wait here when they cannot go downstream at
        // once. The outer never has more than `max_concurrency` items in flight (inners or
        // scalars), so a ring that size never fills; above `SCALAR_RING_MAX` a full ring sends
        // the scalar down the ordinary inner path instead.
        let (scalar_tx, scalar_rx) = if mode == Mode::Merge {
            let (tx, rx) = ring::<T, false>(max_concurrency.min(SCALAR_RING_MAX));
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        Arc::new(Self {
            control: Mutex::new(Control {
                pending: Vec::new(),
                cells: Vec::new(),
                outer: None,
                outer_complete: false,
                error: None,
                cancelled: false,
            }),
            changed: CachePadded::new(AtomicBool::new(false)),
            gate: CachePadded::new(Gate::new()),
            drainer: CachePadded::new(AtomicUsize::new(0)),
            self_pushed: CachePadded::new(AtomicBool::new(false)),
            next_id: AtomicU64::new(0),
            scalar_rx: Mutex::new(scalar_rx),
            scalar_tx: Mutex::new(scalar_tx),
            scalar_pushed: AtomicU64::new(0),
            scalar_taken: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            handle: OnceLock::new(),
            mode,
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

    /// Serves `subscriber` from this core.
    pub(crate) fn serve<S: Subscriber<T> + Send + 'static>(self: &Arc<Self>, subscriber: S) {
        let core = Arc::clone(self);
        rstreams_protocol::pull::serve_with(
            move |handle| {
                let _ = core.handle.set(handle);
                let prefetch = core.prefetch;
                let scalars = core.scalar_rx.lock().take();
                let outer_limit = (core.max_concurrency - core.max_concurrency / 4).max(1);
                MergeSource {
                    scalars,
                    scalar_ready: false,
                    scalar_taken: 0,
                    scalar_unrequested: 0,
                    outer_limit,
                    outer: None,
                    core,
                    slots: Vec::new(),
                    cursor: 0,
                    run_left: prefetch,
                    ready: 0,
                    live: 0,
                    outer_complete: false,
                    error: None,
                }
                .at(self.loc)
            },
            subscriber,
        );
    }

    fn wake(&self) {
        if let Some(h) = self.handle.get() {
            h.wake();
        }
    }

    /// The structure changed: make the drain look at `control`.
    fn signal(&self) {
        // Release: pairs with the drain's Acquire swap; the wake-up's RMW on the kit's
        // work-in-progress counter orders it before the drain's next pass.
        self.changed.store(true, Ordering::Release);
        self.wake();
    }

    /// The inner whose ready bit is `bit` pushed an item: wake the drain unless it is sure to
    /// see it anyway.
    #[inline]
    fn notify(&self, bit: u64) {
        // Relaxed: a thread only ever finds its own token here if it stored it itself (the
        // drain running further up this very stack, or `add_inner` deferring); the drain
        // checks `self_pushed` after every call it makes and `add_inner` signals afterwards.
        if self.drainer.load(Ordering::Relaxed) == thread_token() {
            // Relaxed: read by this same thread's drain (or covered by `add_inner`'s signal).
            self.self_pushed.store(true, Ordering::Relaxed);
            return;
        }
        if self.gate.notify(bit) {
            self.wake_pushed();
        }
    }

    /// The wake-up of a push. Pushed from a producer's batch (a `publish_on` drain delivering
    /// a run, if it coalesces wake-ups): the drain is woken once, after the run, not once per
    /// item. Other pushes of the run see the gate already notified; if the drain re-arms
    /// meanwhile, the same deferred wake-up (deduplicated) covers them, so none is left unseen.
    /// Out of line: inlined, it made the synchronous inners' emit loop 13 instructions per item
    /// longer (callgrind, `examples/flat_just 1 sync`).
    #[inline(never)]
    fn wake_pushed(&self) {
        if let Some(h) = self.handle.get() {
            h.wake_deferred();
        }
    }

    /// A scalar was pushed: make the drain look at the scalar ring. No gate: every pass starts
    /// by looking at it, and the wake-up either runs a pass here or makes the running one (on
    /// another thread) pass again after synchronising with this call (the kit's serial drain
    /// counter is one read-modify-write word), so it sees the push.
    #[inline]
    fn notify_scalar(&self) {
        // Relaxed: as in `notify`.
        if self.drainer.load(Ordering::Relaxed) == thread_token() {
            self.self_pushed.store(true, Ordering::Relaxed);
            return;
        }
        self.wake();
    }

    /// Whether downstream has gone or the stream failed: nothing more is worth starting.
    pub(crate) fn is_finished(&self) -> bool {
        let c = self.control.lock();
        c.cancelled || c.error.is_some()
    }

    /// The outer subscription arrived: ask for the first inners (all of them in switch mode).
    /// Returns it when accepted (for the scalar lane, which replaces `empty` inners at once).
    pub(crate) fn set_outer(&self, s: Box<dyn Subscription>) -> Option<Arc<dyn Subscription>> {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut c = self.control.lock();
            if c.outer.is_some() || c.outer_complete {
                drop(c);
                tracing::debug!(stage = %self.loc, "second outer on_subscribe cancelled (2.5)");
                s.cancel();
                return None;
            }
            if !(c.cancelled || c.error.is_some()) {
                c.outer = Some(Arc::clone(&s));
                drop(c);
                // Switch mode never buffers outer items: each replaces the current inner at
                // once, so the outer may run unbounded (as Reactor's switchMap does).
                s.request(match self.mode {
                    Mode::Switch => u64::MAX,
                    _ => self.max_concurrency,
                });
                return Some(s);
            }
        }
        s.cancel();
        None
    }

    /// The producing end of the scalar ring (Merge mode; once: a second call gets a lane that
    /// sends every inner down the ordinary path).
    pub(crate) fn scalar_lane(&self) -> ScalarLane<T> {
        ScalarLane {
            tx: self.scalar_tx.lock().take(),
            pushed: 0,
            outer: None,
        }
    }

    /// The outer stream completed: the merge completes once every inner has.
    pub(crate) fn outer_complete(&self) {
        {
            let mut c = self.control.lock();
            c.outer_complete = true;
            c.outer = None;
        }
        self.signal();
    }

    /// Ends the stream with `error` (first one wins); cancels the outer and every inner.
    pub(crate) fn fail(&self, error: Error) {
        let (outer, cells, pending) = {
            let mut c = self.control.lock();
            if c.error.is_some() || c.cancelled {
                drop(c);
                rstreams_protocol::report_undeliverable(error);
                return;
            }
            tracing::debug!(stage = %self.loc, %error, "merge failing; cancelling all sources");
            c.error = Some(error);
            self.closed.store(true, Ordering::Relaxed); // a hint for the scalar path
            (
                c.outer.take(),
                std::mem::take(&mut c.cells),
                std::mem::take(&mut c.pending),
            )
        };
        if let Some(o) = outer {
            o.cancel();
        }
        for cell in cells {
            cell.cancel();
        }
        drop(pending); // buffered items, dropped outside the lock
        self.signal();
    }

    /// Adds one more inner publisher: a scalar one (`just`, `once`, `empty`) through the scalar
    /// lane when the lane has one, anything else subscribed (in switch mode, cancelling the
    /// current one).
    ///
    /// The scalar fast path (Reactor's `tryEmitScalar`): no inner subscription, ring, cell or
    /// lock. The value goes into the one scalar ring and the drain is woken (or, on the thread
    /// already draining, told to re-scan); when nothing else is queued and downstream has
    /// demand, the wake-up runs the drain right here, which emits the value before this returns.
    pub(crate) fn add_inner<Q>(self: &Arc<Self>, inner: &Q, lane: &mut ScalarLane<T>)
    where
        Q: Publisher<Item = T> + 'static,
    {
        if lane.tx.is_some() {
            match guard(|| scalar_of(inner)) {
                Ok(Scalar::Value(v)) => {
                    if let Err(v) = self.push_scalar(lane, v) {
                        // Full (only with max_concurrency above SCALAR_RING_MAX): queue it as
                        // an ordinary inner, as it would have been without the fast path.
                        self.subscribe_inner(&crate::source::once(v));
                    }
                    return;
                }
                Ok(Scalar::Empty) => {
                    // Done already: its place goes to the next outer item at once.
                    if let Some(o) = &lane.outer {
                        o.request(1);
                    }
                    return;
                }
                Ok(Scalar::No) => {}
                Err(p) => {
                    // `T::clone` of a `just` panicked.
                    self.fail(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
                    return;
                }
            }
        }
        self.subscribe_inner(inner);
    }

    /// Queues a scalar for the drain; gives it back if the ring is full.
    #[inline]
    fn push_scalar(&self, lane: &mut ScalarLane<T>, v: T) -> Result<(), T> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(()); // downstream gone or failed: dropped, as a late inner item would be
        }
        let Some(tx) = lane.tx.as_mut() else {
            return Err(v);
        };
        tx.push(v)?;
        lane.pushed += 1;
        // Relaxed: a count for `backlog`, see the field.
        self.scalar_pushed.store(lane.pushed, Ordering::Relaxed);
        self.notify_scalar();
        Ok(())
    }

    /// Subscribes one more inner publisher (in switch mode, cancelling the current one).
    fn subscribe_inner<Q>(self: &Arc<Self>, inner: &Q)
    where
        Q: Publisher<Item = T>,
    {
        let (tx, rx) = ring::<T, false>(self.prefetch as usize);
        // Relaxed: a plain counter; only the resulting bit matters (a hint, see `gate.rs`).
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cell = Arc::new(InnerCell {
            sub: Mutex::new(SubSlot::default()),
            // Merge/Sequential ask for the prefetch in on_subscribe; Switch asks from the drain.
            requested: AtomicU64::new(match self.mode {
                Mode::Switch => 0,
                _ => self.prefetch,
            }),
            done: AtomicBool::new(false),
            superseded: AtomicBool::new(false),
            bit: bit_of(id),
            pushed: CachePadded::new(AtomicU64::new(0)),
            taken: AtomicU64::new(0),
        });
        let superseded = {
            let mut c = self.control.lock();
            if c.cancelled || c.error.is_some() {
                return;
            }
            let old = if self.mode == Mode::Switch {
                let old = std::mem::take(&mut c.cells);
                for o in &old {
                    o.superseded.store(true, Ordering::Relaxed); // read under the lock
                }
                old
            } else {
                Vec::new()
            };
            c.cells.push(Arc::clone(&cell));
            c.pending.push((rx, Arc::clone(&cell)));
            old
        };
        for old in superseded {
            tracing::trace!(stage = %self.loc, "switch_map: cancelling the previous inner");
            old.cancel();
        }
        let subscriber = InnerSubscriber {
            core: Arc::clone(self),
            cell,
            tx,
            received: 0,
            asked: 0,
            subscribed: false,
        };
        // A synchronous inner delivers during `subscribe`. Unless the drain already runs on
        // this thread (and will re-scan), claim the drainer token meanwhile so that those
        // pushes skip the gate; one signal afterwards covers them all.
        let me = thread_token();
        if self.drainer.load(Ordering::Relaxed) == me {
            inner.subscribe(subscriber);
            self.signal();
        } else {
            self.drainer.store(me, Ordering::Relaxed);
            inner.subscribe(subscriber);
            let _ = self
                .drainer
                .compare_exchange(me, 0, Ordering::Relaxed, Ordering::Relaxed);
            self.signal();
        }
    }
}

/// Subscribed to each inner publisher: the producing half of its ring.
struct InnerSubscriber<T: Send + 'static> {
    core: Arc<MergeCore<T>>,
    cell: Arc<InnerCell>,
    tx: RingProducer<T>,
    /// Items received so far.
    received: u64,
    /// The last value of `cell.requested` seen (reloaded only when `received` reaches it).
    asked: u64,
    subscribed: bool,
}

impl<T: Send + 'static> Subscriber<T> for InnerSubscriber<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut slot = self.cell.sub.lock();
            if self.subscribed || slot.closed || slot.sub.is_some() {
                false
            } else {
                slot.sub = Some(Arc::clone(&s));
                true
            }
        };
        if !accepted {
            // A second on_subscribe (2.5), or the merge already ended / moved on.
            s.cancel();
            return;
        }
        self.subscribed = true;
        match self.core.mode {
            Mode::Switch => self.core.signal(), // the drain asks for exactly the demand
            _ => {
                self.asked = self.core.prefetch;
                s.request(self.core.prefetch);
            }
        }
    }

    // Always inlined into the inner's emit loop (a range delivering a run), as before the
    // backlog count made it a little larger: the out-of-line call cost ~11 instructions per item.
    #[inline(always)]
    fn on_next(&mut self, item: T) {
        if self.received == self.asked {
            // Acquire: pairs with the drain's Release when it asked for more.
            self.asked = self.cell.requested.load(Ordering::Acquire);
            if self.received == self.asked {
                self.overflow();
                return;
            }
        }
        self.received += 1;
        // Cannot be full: the drain frees room (publishes its head) before asking for more,
        // so items asked for always fit. A late item after cancellation is simply dropped.
        if self.tx.push(item).is_ok() {
            // Relaxed: a count for `backlog` (see the field).
            self.cell.pushed.store(self.received, Ordering::Relaxed);
            self.core.notify(self.cell.bit);
        }
    }

    fn on_error(&mut self, error: Error) {
        let live = !self.cell.sub.lock().closed && !self.cell.superseded.load(Ordering::Relaxed);
        if live {
            self.core.fail(error);
        } else {
            rstreams_protocol::report_undeliverable(error);
        }
    }

    fn on_complete(&mut self) {
        // Release: every push above happens before the drain's Acquire load of `done`.
        self.cell.done.store(true, Ordering::Release);
        self.core.signal();
    }
}

impl<T: Send + 'static> InnerSubscriber<T> {
    #[cold]
    fn overflow(&mut self) {
        if self.cell.sub.lock().closed || self.core.is_finished() {
            return; // cancelled meanwhile: in-flight items are dropped
        }
        self.core.fail(
            Error::violation(
                Rule::R1_1,
                "an inner publisher sent more items than it was asked for",
            )
            .at_stage(self.core.loc),
        );
    }
}

/// The drain's view of one inner: the consuming half of its ring.
struct DrainSlot<T> {
    rx: RingConsumer<T>,
    cell: Arc<InnerCell>,
    /// Cached once the inner has subscribed.
    sub: Option<Arc<dyn Subscription>>,
    /// Taken since the last replenishing request (Merge/Sequential).
    consumed: u64,
    /// Total asked of the inner (Switch).
    asked: u64,
    /// Total taken from the ring (Switch).
    taken: u64,
    /// Total taken from the ring (every mode; published to `cell.taken`).
    popped: u64,
    /// `cell.bit`, kept here so that taking gate bits walks this table only, not 16 cells
    /// on lines the inners' producers share.
    bit: u64,
    /// The ring may hold items (Merge): its bit was taken from the gate, or the drain made a
    /// call after which it cannot tell, since the ring was last seen empty.
    ready: bool,
}

impl<T> DrainSlot<T> {
    /// `n` more items were taken from the ring (for `backlog`).
    #[inline]
    fn note_taken(&mut self, n: u64) {
        if n > 0 {
            self.popped += n;
            // Relaxed: a count for `backlog`.
            self.cell.taken.store(self.popped, Ordering::Relaxed);
        }
    }

    fn subscription(&mut self) -> Option<&Arc<dyn Subscription>> {
        if self.sub.is_none() {
            self.sub = self.cell.subscription();
        }
        self.sub.as_ref()
    }
}

/// The downstream side, driven by the pull kit.
struct MergeSource<T: Send + 'static> {
    core: Arc<MergeCore<T>>,
    /// The consuming end of the scalar ring (Merge mode).
    scalars: Option<RingConsumer<T>>,
    /// The scalar ring may hold items (its gate bit was taken, or after a call or a change).
    scalar_ready: bool,
    /// Scalars taken so far (for `backlog`).
    scalar_taken: u64,
    /// Scalars emitted whose outer items were not asked to replace them yet.
    scalar_unrequested: u64,
    /// Replace emitted scalars in batches of this many (75% of max_concurrency).
    outer_limit: u64,
    /// The outer subscription, fetched when scalars first need replacing.
    outer: Option<Arc<dyn Subscription>>,
    slots: Vec<DrainSlot<T>>,
    /// The slot being visited (Merge).
    cursor: usize,
    /// What is left of the current slot's run (Merge): at most one prefetch per turn.
    run_left: u64,
    /// How many slots are `ready` (so that an idle pass does not walk them all).
    ready: usize,
    /// Copies of `control` taken when it changed.
    live: usize,
    outer_complete: bool,
    error: Option<Error>,
}

impl<T: Send + 'static> MergeSource<T> {
    /// Picks up what changed in `control`: new inners, the outer's end, an error, switches.
    /// Returns whether anything was signalled.
    #[inline]
    fn sync(&mut self) -> bool {
        // Relaxed pre-check: a change missed here is seen by the next pass, which its
        // signal's wake-up guarantees.
        if !self.core.changed.load(Ordering::Relaxed) {
            return false;
        }
        self.sync_changed()
    }

    #[inline(never)]
    fn sync_changed(&mut self) -> bool {
        // Acquire: pairs with `signal`'s Release.
        if !self.core.changed.swap(false, Ordering::Acquire) {
            return false;
        }
        let mut dropped = Vec::new();
        {
            let mut c = self.core.control.lock();
            if let Some(e) = &c.error {
                self.error = Some(e.clone());
            }
            for (rx, cell) in c.pending.drain(..) {
                self.slots.push(DrainSlot {
                    rx,
                    bit: cell.bit,
                    cell,
                    sub: None,
                    consumed: 0,
                    asked: 0,
                    taken: 0,
                    popped: 0,
                    ready: true,
                });
            }
            if self.core.mode == Mode::Switch {
                // Superseded inners were already removed from `cells` and cancelled; their
                // buffered items are dropped (outside the lock).
                let mut i = 0;
                while i < self.slots.len() {
                    if self.slots[i].cell.superseded.load(Ordering::Relaxed) {
                        dropped.push(self.slots.remove(i));
                    } else {
                        i += 1;
                    }
                }
            }
            self.live = c.cells.len();
            self.outer_complete = c.outer_complete;
        }
        self.ready = self.slots.iter().filter(|s| s.ready).count();
        for mut slot in dropped {
            slot.rx.clear();
        }
        true
    }

    /// Every ring may hold items: after a call that could push on this thread (skipping the
    /// gate), or a change signalled (an inner completed, new inners arrived).
    fn mark_all(&mut self) {
        for s in &mut self.slots {
            s.ready = true;
        }
        self.ready = self.slots.len();
        self.scalar_ready = true;
    }

    /// Marks the rings whose bits are in `bits` (taken from the gate).
    fn mark(&mut self, bits: u64) {
        if bits == 0 {
            return;
        }
        for s in &mut self.slots {
            if bits & s.bit != 0 && !s.ready {
                s.ready = true;
                self.ready += 1;
            }
        }
    }

    /// The first ready slot from the cursor on, moving the cursor there (a new run).
    fn next_ready(&mut self) -> Option<usize> {
        debug_assert_eq!(self.ready, self.slots.iter().filter(|s| s.ready).count());
        if self.ready == 0 {
            return None;
        }
        let n = self.slots.len();
        let start = if self.cursor < n { self.cursor } else { 0 };
        let mut i = start;
        loop {
            if self.slots[i].ready {
                if i != self.cursor {
                    self.cursor = i;
                    self.run_left = self.core.prefetch;
                }
                return Some(i);
            }
            i += 1;
            if i == n {
                i = 0;
            }
            if i == start {
                return None;
            }
        }
    }

    /// Removes slot `i` (completed and drained), freeing its place: asks the outer for one
    /// more inner, which may subscribe synchronously right here (the caller re-scans).
    fn retire(&mut self, i: usize) {
        let slot = self.slots.remove(i);
        if slot.ready {
            self.ready -= 1;
        }
        if i < self.cursor {
            self.cursor -= 1;
        }
        if i == self.cursor {
            self.run_left = self.core.prefetch;
        }
        let outer = {
            let mut c = self.core.control.lock();
            c.cells.retain(|c| !Arc::ptr_eq(c, &slot.cell));
            self.live = c.cells.len();
            self.outer_complete = c.outer_complete;
            match self.core.mode {
                Mode::Switch => None,
                _ => c.outer.clone(),
            }
        };
        drop(slot);
        if let Some(o) = outer {
            o.request(1);
        }
    }

    fn end(&mut self) -> Option<Step<T>> {
        if let Some(e) = &self.error {
            return Some(Step::Error(e.clone()));
        }
        // The scalar ring is looked at last: every scalar was pushed before the outer completed
        // (whose signal the drain synchronised with to learn `outer_complete`).
        if self.outer_complete
            && self.live == 0
            && self.scalars.as_mut().is_none_or(|rx| rx.is_empty())
        {
            return Some(Step::Complete);
        }
        None
    }

    /// Emits up to `room` scalars (`room >= 1`). Returns how many, whether `emit` refused, and
    /// whether it called out (replacing the emitted ones with outer items, in batches).
    #[inline]
    fn drain_scalars<F>(&mut self, room: u64, emit: &mut F) -> (u64, bool, bool)
    where
        F: FnMut(T) -> bool,
    {
        let Some(rx) = self.scalars.as_mut() else {
            self.scalar_ready = false;
            return (0, false, false);
        };
        let mut n = 0;
        let mut refused = false;
        while n < room {
            let Some(item) = rx.pop() else {
                self.scalar_ready = false;
                break;
            };
            n += 1;
            if !emit(item) {
                refused = true;
                break;
            }
        }
        if n == 0 {
            return (0, refused, false);
        }
        rx.publish(); // room for the outer's next scalars before asking for them
        self.scalar_taken += n;
        // Relaxed: a count for `backlog`.
        self.core
            .scalar_taken
            .store(self.scalar_taken, Ordering::Relaxed);
        if refused {
            return (n, true, false);
        }
        self.scalar_unrequested += n;
        if self.scalar_unrequested >= self.outer_limit {
            let k = std::mem::take(&mut self.scalar_unrequested);
            if self.outer.is_none() {
                self.outer = self.core.control.lock().outer.clone();
            }
            if let Some(o) = &self.outer {
                // A synchronous outer delivers right here: its scalars and inners are pushed on
                // this (the drainer's) thread, so the loop re-scans everything.
                o.request(k);
                self.mark_all();
                return (n, false, true);
            }
        }
        (n, false, false)
    }

    /// Drains slot `i` up to `room` items (`room >= 1`).
    fn drain_slot<F>(&mut self, i: usize, room: u64, emit: &mut F) -> Visit
    where
        F: FnMut(T) -> bool,
    {
        let core = &*self.core;
        let slot = &mut self.slots[i];
        let mut called_out = false;
        if core.mode == Mode::Switch {
            // Ask for exactly what downstream still wants, less what is in flight, capped at
            // the prefetch; top up only when a quarter or less is left in flight.
            let want = room.min(core.prefetch);
            let in_flight = slot.asked - slot.taken;
            if in_flight < want && in_flight <= want / 4 && !slot.cell.done.load(Ordering::Relaxed)
            {
                let n = want - in_flight;
                if let Some(sub) = slot.subscription().cloned() {
                    slot.rx.publish(); // room first: what we ask for must fit
                    slot.asked += n;
                    // Release: pairs with the inner subscriber's Acquire overflow check.
                    slot.cell.requested.store(slot.asked, Ordering::Release);
                    sub.request(n);
                    called_out = true;
                }
            }
        }
        let mut n = 0;
        while n < room {
            let Some(item) = slot.rx.pop() else { break };
            n += 1;
            if !emit(item) {
                slot.note_taken(n);
                return Visit {
                    emitted: n,
                    busy: true,
                    refused: true,
                    empty: false,
                    finished: false,
                };
            }
            if core.mode == Mode::Switch {
                slot.taken += 1;
            } else {
                slot.consumed += 1;
                if slot.consumed >= core.limit && !slot.cell.done.load(Ordering::Relaxed) {
                    let k = std::mem::take(&mut slot.consumed);
                    slot.rx.publish(); // room first: what we ask for must fit
                    // Release: pairs with the inner subscriber's Acquire overflow check.
                    slot.cell.requested.fetch_add(k, Ordering::Release);
                    if let Some(sub) = slot.subscription().cloned() {
                        // A synchronous inner delivers right here (into this ring).
                        sub.request(k);
                    }
                    called_out = true;
                }
            }
        }
        slot.note_taken(n);
        // A `pop` that came back empty has just reloaded the producer's position: no second
        // look (one load of the inner's line per idle slot per scan). The head is published
        // only before asking for more, which is all the producer ever needs room for.
        let empty = n < room || slot.rx.is_empty();
        // Acquire on `done`, then a fresh look at the ring: every push came before `done`.
        let finished = empty && slot.cell.done.load(Ordering::Acquire) && slot.rx.is_empty();
        Visit {
            emitted: n,
            busy: called_out || n > 0 || finished,
            refused: false,
            empty,
            finished,
        }
    }

    /// The drain loop: visits the slots until a whole round finds nothing and calls nothing.
    ///
    /// The order depends only on what the rings hold, not on how demand was split into
    /// requests: a visit stopped by the limit resumes at the same slot with the rest of its run.
    fn run<F>(&mut self, limit: u64, emit: &mut F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        if self.core.mode == Mode::Merge {
            return self.run_merge(limit, emit);
        }
        let mut emitted = 0;
        let mut idle = 0;
        // The gate is armed only when the drain is about to go idle, followed by one more full
        // round: while it finds work, producers see the gate still notified and never wake it.
        let mut armed = false;
        loop {
            self.sync();
            if let Some(e) = &self.error {
                return (emitted, Some(Step::Error(e.clone())));
            }
            let n = self.slots.len();
            if n == 0 {
                break; // new inners arrive through `changed`, which always wakes
            }
            let merge = self.core.mode == Mode::Merge;
            // Merge: a whole round idle; Sequential/Switch: the one slot that counts was idle.
            if (merge && idle >= n) || (!merge && idle > 0) {
                if armed {
                    break;
                }
                let _ = self.core.gate.arm(); // the one slot that counts is visited anyway
                armed = true;
                idle = 0;
                continue;
            }
            // Merge: the slot under the cursor, a run of at most one prefetch (a synchronous
            // inner refilled mid-run cannot starve the others). Sequential/Switch: the oldest
            // (or only current) inner, without a run limit.
            let i = if merge { self.cursor % n } else { 0 };
            let room = if merge {
                (limit - emitted).min(self.run_left)
            } else {
                limit - emitted
            };
            let v = self.drain_slot(i, room, emit);
            emitted += v.emitted;
            if v.refused {
                return (emitted, None);
            }
            if merge {
                self.run_left -= v.emitted;
            }
            if v.finished {
                self.retire(i);
            } else if merge && (v.empty || self.run_left == 0) {
                self.cursor = (i + 1) % n;
                self.run_left = self.core.prefetch;
            }
            if emitted == limit {
                return (emitted, None);
            }
            if v.busy {
                idle = 0;
                armed = false;
            } else {
                idle += 1;
            }
        }
        (emitted, Some(self.end().unwrap_or(Step::Pending)))
    }
}

impl<T: Send + 'static> MergeSource<T> {
    /// The Merge drain: visits only the rings known to hold items (bits taken from the gate,
    /// or all of them after a call or a change), a run of at most one prefetch from each in
    /// turn, and stops when the gate, armed, has no bits left.
    ///
    /// The order depends only on what the rings hold, not on how demand was split into
    /// requests: a visit stopped by the limit resumes at the same slot with the rest of its run.
    fn run_merge<F>(&mut self, limit: u64, emit: &mut F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        let mut emitted = 0;
        // Visits since the gate's bits were last taken: once per round of the slots, so that
        // a ring that never empties cannot keep the others' bits waiting.
        let mut since_take = 0;
        // The gate was armed in this pass: every later push wakes the drain again (another
        // pass), so once the bits the arm returned are visited, this pass may stop.
        let mut armed = false;
        loop {
            if self.sync() {
                self.mark_all();
            }
            // Relaxed: set by this thread's own pushes (see `notify`).
            if self.core.self_pushed.load(Ordering::Relaxed) {
                self.core.self_pushed.store(false, Ordering::Relaxed);
                self.mark_all();
            }
            if let Some(e) = &self.error {
                return (emitted, Some(Step::Error(e.clone())));
            }
            if self.scalar_ready {
                let (k, refused, called) = self.drain_scalars(limit - emitted, emit);
                emitted += k;
                if refused || emitted == limit {
                    return (emitted, None);
                }
                if called {
                    continue; // replacing them was a call: pick up what it changed
                }
            }
            let n = self.slots.len();
            if n == 0 {
                // New inners arrive through `changed`, which always wakes; scalars wake too.
                break;
            }
            if since_take >= n {
                let bits = self.core.gate.take();
                self.mark(bits);
                since_take = 0;
            }
            let Some(i) = self.next_ready() else {
                // Nothing known to hold items: take the last bits and let later pushes wake
                // us; stop once the rings of those bits were visited (or if there were none).
                if armed {
                    break;
                }
                armed = true;
                let bits = self.core.gate.arm();
                if bits == 0 {
                    break;
                }
                self.mark(bits);
                continue;
            };
            let room = (limit - emitted).min(self.run_left);
            let v = self.drain_slot(i, room, emit);
            since_take = since_take.saturating_add(1);
            emitted += v.emitted;
            if v.refused {
                return (emitted, None);
            }
            self.run_left -= v.emitted;
            if v.finished {
                self.retire(i); // asks the outer for more: a call
                self.mark_all();
            } else if v.empty || self.run_left == 0 {
                if v.empty && self.slots[i].ready {
                    self.slots[i].ready = false;
                    self.ready -= 1;
                }
                self.cursor = (i + 1) % n;
                self.run_left = self.core.prefetch;
            }
            if emitted == limit {
                return (emitted, None);
            }
        }
        (emitted, Some(self.end().unwrap_or(Step::Pending)))
    }
}

/// What one visit of a slot did.
struct Visit {
    emitted: u64,
    /// Emitted, called out or finished: another round is worth it.
    busy: bool,
    /// `emit` refused (cancelled): stop now.
    refused: bool,
    /// The ring was empty at the end.
    empty: bool,
    /// Completed and drained.
    finished: bool,
}

impl<T: Send + 'static> Source for MergeSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "merge"
    }

    /// Issue 12: the items queued now, in the inners' rings and the scalar ring (pushed and not
    /// yet taken by the drain, which publishes what it took once per visit).
    fn backlog_probe(&self) -> Option<rstreams_protocol::pull::BacklogProbe> {
        let core = Arc::downgrade(&self.core);
        Some(Arc::new(move || {
            let Some(core) = core.upgrade() else {
                return rstreams_protocol::Backlog::default();
            };
            // Relaxed loads of monotonic counts: a snapshot for a monitor, never negative.
            let held = |pushed: &AtomicU64, taken: &AtomicU64| {
                let t = taken.load(Ordering::Relaxed);
                pushed.load(Ordering::Relaxed).saturating_sub(t)
            };
            let mut buffered = held(&core.scalar_pushed, &core.scalar_taken);
            for cell in &core.control.lock().cells {
                buffered += held(&cell.pushed, &cell.taken);
            }
            rstreams_protocol::Backlog {
                buffered,
                dropped: 0,
            }
        }))
    }

    fn pull(&mut self) -> Step<T> {
        let mut got = None;
        let (_, stop) = self.pull_many(1, |item| {
            got = Some(item);
            true
        });
        match got {
            Some(item) => Step::Next(item),
            None => stop.unwrap_or(Step::Pending),
        }
    }

    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        if limit == 0 {
            return (0, None);
        }
        // `run` arms the gate before its last round; pushes made by this thread (the drainer
        // token) skip the gate, and the loop re-scans after every call that could make them.
        let me = thread_token();
        // Nested in this thread's own `add_inner` (a pass run by its signal), the token stays
        // ours afterwards; any other value is not restored (its owner re-checks by itself).
        let restore = if self.core.drainer.load(Ordering::Relaxed) == me {
            me
        } else {
            0
        };
        self.core.drainer.store(me, Ordering::Relaxed);
        // Every pass looks at the scalar ring (scalar pushes wake without the gate).
        self.scalar_ready = self.scalars.is_some();
        // The token is reset even if the downstream panics out of `emit` (caught and resumed:
        // free when nothing panics, unlike a guard, which would need an `Arc` clone per pass).
        let r =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(limit, &mut emit)));
        self.core.drainer.store(restore, Ordering::Relaxed);
        match r {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn is_exhausted(&mut self) -> bool {
        if self.sync() {
            // What the signal announced (an inner completed, new inners) must still be looked
            // at by the next pull: the signal it consumed will not come again.
            self.mark_all();
        }
        if self.error.is_some() {
            return true;
        }
        // Out of demand: once the outer has completed and every live inner has completed with
        // nothing left, retire them now so that the stream completes right after its last item.
        // (Nothing is retired otherwise, so the order never depends on how demand was split.)
        if !self.outer_complete || self.live != self.slots.len() {
            return false;
        }
        if self
            .slots
            .iter_mut()
            .all(|s| s.rx.is_empty() && s.cell.done.load(Ordering::Acquire) && s.rx.is_empty())
        {
            while !self.slots.is_empty() {
                self.retire(0);
            }
        }
        self.end().is_some()
    }
}

impl<T: Send + 'static> Drop for MergeSource<T> {
    fn drop(&mut self) {
        // Downstream cancelled or the stream ended: release the outer and every inner, and drop
        // whatever is buffered.
        let (outer, cells, pending) = {
            let mut c = self.core.control.lock();
            c.cancelled = true;
            self.core.closed.store(true, Ordering::Relaxed); // a hint for the scalar path
            (
                c.outer.take(),
                std::mem::take(&mut c.cells),
                std::mem::take(&mut c.pending),
            )
        };
        if outer.is_some() || !cells.is_empty() {
            tracing::debug!(stage = %self.core.loc, n = cells.len(), "merge cancelling its sources");
        }
        if let Some(o) = outer {
            o.cancel();
        }
        for cell in cells {
            cell.cancel();
        }
        drop(pending);
        for slot in &mut self.slots {
            slot.rx.clear();
        }
        if let Some(rx) = &mut self.scalars {
            rx.clear();
        }
    }
}
