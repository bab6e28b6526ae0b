//! Per-edge counters at run time (issue 12): metered edges, the [`Registry`] that holds them and
//! the [`Snapshot`] it takes.
//!
//! Following Reactor's `name(..).metrics()` idiom, the user places named checkpoints:
//! [`PublisherExt::metered`](crate::PublisherExt::metered) inserts a pass-through stage at an
//! **edge** between two stages and counts what crosses it — demand requested, items delivered,
//! cancel, error, completion — and whether the downstream's `on_next` is running right now (so
//! a user callback blocked below the edge shows).
//!
//! # Cost
//!
//! Per item, a stage-by-stage edge makes two plain stores to counters it alone writes (no
//! read-modify-write, no clock read, no lock); a fused edge (over a [`SyncSource`]) makes none:
//! it publishes its counters once per batch the kit pulls (so a snapshot taken while a
//! batch runs shows its `delivered` as of the batch's start: with unbounded demand, one batch is
//! the whole run). Time is derived by
//! **sampling**: each [`Registry::snapshot`] compares an edge's counters with the previous
//! sample and remembers when they last changed, so "idle for 30 s" costs nothing on the hot
//! path. A registry built with
//! [`Registry::disabled`] (or switched off with [`Registry::set_enabled`] before subscribing)
//! makes `metered` subscribe straight through: no wrapper, no counter, nothing per item (a
//! fused chain ending with the edge runs the upstream's own fused loop; an edge inside a fused
//! chain checks the switch once per batch).
//!
//! ```
//! use rstreams::prelude::*;
//! use rstreams::diag::Registry;
//!
//! let registry = Registry::new();
//! let v: Vec<u64> = rstreams::range(0, 10)
//!     .metered(&registry, "numbers")
//!     .map(|x| x * 2)
//!     .blocking_iter_with(4)
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! assert_eq!(v.len(), 10);
//! let snap = registry.snapshot();
//! let edge = snap.edge("numbers").unwrap();
//! assert_eq!(edge.delivered, 10);
//! assert!(edge.state.is_terminal());
//! println!("{snap}"); // a table, one row per edge
//! ```

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rstreams_executor::{Rejected, RepeatingTask, Scheduler, TimerHandle};
use rstreams_protocol::pull::{Source, Step};
use rstreams_protocol::{Backlog, Error, Publisher, Subscriber, Subscription};

use crate::sink::BlockingIter;
use crate::source::SyncSource;
use crate::source::fuse;
use crate::stage::Loc;

/// How many edges a registry keeps before it forgets finished ones (oldest first).
const KEEP_EDGES: usize = 1024;

// Terminal states of an edge, written only by its signal side.
const PENDING: u8 = 0;
const ACTIVE: u8 = 1;
const COMPLETED: u8 = 2;
const FAILED: u8 = 3;
/// The upstream dropped the edge's subscriber without a terminal signal (after a cancel, or a
/// panic in a downstream callback).
const DROPPED: u8 = 4;

thread_local! {
    /// The metered edge whose `subscribe` is running on this thread: an edge subscribed inside
    /// it lies upstream of it (how the registry learns pipeline order without a per-item cost).
    static SUBSCRIBING: Cell<Option<u64>> = const { Cell::new(None) };
}

/// One edge's counters, shared by the edge (the only writer of each field) and the registry.
///
/// Orderings: every counter is written by one side only — `requested`/`cancelled` by the
/// downstream's demand calls (serial by rule 2.7), `entered`/`returned`/`state`/`errors` by the
/// upstream's signals (serial by rule 1.3) — so writers use load + store, never a
/// read-modify-write. `entered` is stored with `Release` and loaded first with `Acquire` by the
/// sampler, so the `requested` it loads next is at least the demand that allowed those items
/// (the publisher's own synchronisation orders request before delivery): outstanding demand
/// is never shown negative. Everything else is `Relaxed`: a sample is a best-effort picture.
pub(crate) struct EdgeCell {
    id: u64,
    name: Arc<str>,
    site: Loc,
    /// The metered edge downstream of this one, when known.
    downstream: Option<u64>,
    requested: AtomicU64,
    /// `on_next` calls begun (= items delivered).
    entered: AtomicU64,
    /// `on_next` calls returned: `entered > returned` while the downstream callback runs.
    returned: AtomicU64,
    cancelled: AtomicBool,
    state: AtomicU8,
    errors: AtomicU64,
    /// The upstream subscription, weakly, to ask its [`Backlog`] when sampling.
    upstream: Mutex<Option<Weak<dyn Subscription>>>,
    /// Sampler-only memory: the last counters seen and when they last changed.
    memo: Mutex<Memo>,
}

#[derive(Default)]
struct Memo {
    seen: Option<(u64, u64, u64, bool, u8, Option<Backlog>)>,
    changed_at: Option<Instant>,
}

impl EdgeCell {
    fn finished(&self) -> bool {
        self.state.load(Ordering::Relaxed) > ACTIVE || self.cancelled.load(Ordering::Relaxed)
    }

    /// Adds `n` to the requested total, saturating (one writer: load + store).
    #[inline]
    fn add_requested(&self, n: u64) {
        let total = self.requested.load(Ordering::Relaxed).saturating_add(n);
        self.requested.store(total, Ordering::Relaxed);
    }

    fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
        if state > ACTIVE {
            *self.upstream.lock() = None;
        }
    }

    fn sample(&self, now: Instant) -> EdgeStats {
        // `entered` first (Acquire, pairs with the Release store in `on_next`), then the rest.
        let delivered = self.entered.load(Ordering::Acquire);
        let returned = self.returned.load(Ordering::Relaxed);
        let requested = self.requested.load(Ordering::Relaxed);
        let cancelled = self.cancelled.load(Ordering::Relaxed);
        let raw = self.state.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let upstream = self.upstream.lock().as_ref().and_then(Weak::upgrade);
        let backlog = upstream.and_then(|up| up.backlog());
        let seen = (delivered, returned, requested, cancelled, raw, backlog);
        let (changed, changed_at) = {
            let mut memo = self.memo.lock();
            let changed = memo.seen != Some(seen);
            if changed {
                memo.seen = Some(seen);
                memo.changed_at = Some(now);
            }
            (changed, memo.changed_at.unwrap_or(now))
        };
        let state = match raw {
            PENDING => EdgeState::Subscribing,
            COMPLETED => EdgeState::Completed,
            FAILED => EdgeState::Failed,
            _ if cancelled => EdgeState::Cancelled,
            DROPPED => EdgeState::Dropped,
            _ => EdgeState::Active,
        };
        EdgeStats {
            id: self.id,
            name: Arc::clone(&self.name),
            site: self.site,
            downstream: self.downstream,
            requested,
            delivered,
            outstanding: if requested == u64::MAX {
                u64::MAX
            } else {
                requested.saturating_sub(delivered)
            },
            in_callback: delivered > returned && state == EdgeState::Active,
            buffered_upstream: backlog.map(|b| b.buffered),
            dropped: backlog.map(|b| b.dropped),
            errors,
            state,
            idle_for: now.saturating_duration_since(changed_at),
            changed,
        }
    }
}

/// A handle on a set of metered edges: cheap to clone, shareable across threads.
///
/// Holds at most about 1024 edges: past that, finished edges are forgotten oldest first
/// (live ones are always kept).
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    enabled: AtomicBool,
    next_id: AtomicU64,
    edges: Mutex<Vec<Arc<EdgeCell>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("enabled", &self.is_enabled())
            .field("edges", &self.inner.edges.lock().len())
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An enabled registry: edges metered with it count.
    pub fn new() -> Self {
        Self::build(true)
    }

    /// A disabled registry: `metered` with it is a plain pass-through (nothing is counted or
    /// allocated, nothing runs per item). Switch it on later with [`set_enabled`](Self::set_enabled).
    pub fn disabled() -> Self {
        Self::build(false)
    }

    fn build(enabled: bool) -> Self {
        Registry {
            inner: Arc::new(RegistryInner {
                enabled: AtomicBool::new(enabled),
                next_id: AtomicU64::new(1),
                edges: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Switches metering on or off for subscriptions made from now on (running ones keep what
    /// they had: the switch is read once per subscription, never per item).
    pub fn set_enabled(&self, enabled: bool) {
        // Relaxed: a flag read at subscribe time; no data hangs on it.
        self.inner.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether new subscriptions are metered.
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Registers a new edge (one subscription through a metered stage).
    fn register(&self, name: &Arc<str>, site: Loc) -> Arc<EdgeCell> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let cell = Arc::new(EdgeCell {
            id,
            name: Arc::clone(name),
            site,
            downstream: SUBSCRIBING.with(Cell::get),
            requested: AtomicU64::new(0),
            entered: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            cancelled: AtomicBool::new(false),
            state: AtomicU8::new(PENDING),
            errors: AtomicU64::new(0),
            upstream: Mutex::new(None),
            memo: Mutex::new(Memo::default()),
        });
        let mut edges = self.inner.edges.lock();
        if edges.len() >= KEEP_EDGES {
            let mut excess = edges.len() + 1 - KEEP_EDGES;
            edges.retain(|e| {
                if excess > 0 && e.finished() {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
        edges.push(Arc::clone(&cell));
        cell
    }

    /// Forgets every finished edge (completed, failed, cancelled or dropped).
    pub fn forget_finished(&self) {
        self.inner.edges.lock().retain(|e| !e.finished());
    }

    /// Reads every edge now (wall clock). See [`snapshot_at`](Self::snapshot_at).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(Instant::now())
    }

    /// Reads every edge, taking `now` as the time (inject a scheduler's clock, e.g.
    /// [`ManualExecutor`](rstreams_executor::ManualExecutor)'s virtual one, for deterministic
    /// tests). Each edge's `idle_for` is the time since a sample first saw its counters as they
    /// are now. Rows come in pipeline order (upstream first) where the order is known.
    pub fn snapshot_at(&self, now: Instant) -> Snapshot {
        let cells: Vec<Arc<EdgeCell>> = self.inner.edges.lock().clone();
        let rows: Vec<EdgeStats> = cells.iter().map(|c| c.sample(now)).collect();
        Snapshot {
            taken_at: now,
            edges: pipeline_order(rows),
        }
    }

    /// Calls `report` with a snapshot every `period` on `scheduler`'s timers (the scheduler's
    /// clock dates the samples). Cancel the returned handle to stop.
    ///
    /// # Errors
    ///
    /// The scheduler's refusal (shut down, zero period).
    pub fn report_every<F>(
        &self,
        period: Duration,
        scheduler: impl rstreams_executor::IntoScheduler,
        report: F,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>>
    where
        F: Fn(&Snapshot) + Send + Sync + 'static,
    {
        let registry = self.clone();
        let scheduler = scheduler.into_scheduler();
        let clock = Arc::clone(&scheduler);
        let task: RepeatingTask = Arc::new(move || report(&registry.snapshot_at(clock.now())));
        scheduler.execute_at_fixed_rate(period, period, task)
    }
}

/// Upstream first: each edge after the edges known to lie upstream of it, otherwise in the
/// order they were subscribed.
fn pipeline_order(mut rows: Vec<EdgeStats>) -> Vec<EdgeStats> {
    rows.sort_by_key(|r| r.id);
    let ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
    let mut out = Vec::with_capacity(rows.len());
    let mut placed = vec![false; rows.len()];
    fn place(
        i: usize,
        rows: &[EdgeStats],
        ids: &[u64],
        placed: &mut [bool],
        order: &mut Vec<usize>,
    ) {
        if placed[i] {
            return;
        }
        placed[i] = true;
        for (j, r) in rows.iter().enumerate() {
            if r.downstream == Some(ids[i]) {
                place(j, rows, ids, placed, order);
            }
        }
        order.push(i);
    }
    let mut order = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        // Roots: edges with no known downstream edge in this registry.
        let root = rows[i].downstream.is_none_or(|d| !ids.contains(&d));
        if root {
            place(i, &rows, &ids, &mut placed, &mut order);
        }
    }
    for i in 0..rows.len() {
        place(i, &rows, &ids, &mut placed, &mut order);
    }
    let mut slots: Vec<Option<EdgeStats>> = rows.drain(..).map(Some).collect();
    for i in order {
        if let Some(r) = slots[i].take() {
            out.push(r);
        }
    }
    out
}

/// Where an edge is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeState {
    /// Subscribed upstream; `on_subscribe` not received yet.
    Subscribing,
    /// Running.
    Active,
    /// `on_complete` passed.
    Completed,
    /// `on_error` passed.
    Failed,
    /// The downstream cancelled.
    Cancelled,
    /// The upstream let go of the edge without a terminal signal (e.g. a downstream callback
    /// panicked).
    Dropped,
}

impl EdgeState {
    /// Whether the edge has finished (nothing more will cross it).
    pub fn is_terminal(self) -> bool {
        !matches!(self, EdgeState::Subscribing | EdgeState::Active)
    }

    fn label(self) -> &'static str {
        match self {
            EdgeState::Subscribing => "subscribing",
            EdgeState::Active => "active",
            EdgeState::Completed => "completed",
            EdgeState::Failed => "failed",
            EdgeState::Cancelled => "cancelled",
            EdgeState::Dropped => "dropped",
        }
    }
}

/// One edge in a [`Snapshot`].
#[derive(Clone, Debug)]
pub struct EdgeStats {
    /// The subscription's id in its registry (unique, increasing).
    pub id: u64,
    /// The name given to [`metered`](crate::PublisherExt::metered).
    pub name: Arc<str>,
    /// Where `metered` was called.
    pub site: Loc,
    /// The id of the metered edge downstream of this one, when known (same-thread subscribe).
    pub downstream: Option<u64>,
    /// Demand requested through the edge, summed (saturating: `u64::MAX` is unbounded).
    pub requested: u64,
    /// Items that crossed the edge.
    pub delivered: u64,
    /// `requested - delivered` (`u64::MAX`: unbounded).
    pub outstanding: u64,
    /// The downstream's `on_next` is running right now.
    pub in_callback: bool,
    /// Items the stage upstream holds for this edge, when it can say (`publish_on`,
    /// `multicast`, overflow policies, the merge of `flat_map`).
    pub buffered_upstream: Option<u64>,
    /// Items the stage upstream dropped by policy, when it can say.
    pub dropped: Option<u64>,
    /// Errors that crossed the edge (0 or 1).
    pub errors: u64,
    /// Where the edge is in its life.
    pub state: EdgeState,
    /// Time since a sample first saw the counters as they are now (0 on the first sample).
    pub idle_for: Duration,
    /// Whether this sample saw a change since the previous one.
    pub changed: bool,
}

impl EdgeStats {
    /// "name (file:line:col)".
    pub fn label(&self) -> String {
        format!("'{}' ({})", self.name, self.site)
    }
}

/// Every edge of a [`Registry`] at one time; `Display` prints a table.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// When it was taken (the clock given to [`Registry::snapshot_at`]).
    pub taken_at: Instant,
    /// One row per edge, upstream first where known.
    pub edges: Vec<EdgeStats>,
}

impl Snapshot {
    /// The most recent edge with this name.
    pub fn edge(&self, name: &str) -> Option<&EdgeStats> {
        self.edges
            .iter()
            .filter(|e| &*e.name == name)
            .max_by_key(|e| e.id)
    }

    /// Every edge with this name (one per subscription).
    pub fn edges_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a EdgeStats> + 'a {
        self.edges.iter().filter(move |e| &*e.name == name)
    }
}

/// A short human duration: "0s", "<1ms", "250ms", "12.5s".
pub(crate) fn human(d: Duration) -> String {
    if d.is_zero() {
        "0s".to_owned()
    } else if d < Duration::from_millis(1) {
        "<1ms".to_owned()
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn count(n: u64) -> String {
    if n == u64::MAX {
        "unbounded".to_owned()
    } else {
        n.to_string()
    }
}

fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "edge",
            "site",
            "state",
            "requested",
            "delivered",
            "outstanding",
            "buffered",
            "dropped",
            "errors",
            "idle",
        ];
        let rows: Vec<[String; 10]> = self
            .edges
            .iter()
            .map(|e| {
                let state = if e.in_callback {
                    format!("{} (in callback)", e.state.label())
                } else {
                    e.state.label().to_owned()
                };
                [
                    e.name.to_string(),
                    e.site.to_string(),
                    state,
                    count(e.requested),
                    e.delivered.to_string(),
                    count(e.outstanding),
                    opt(e.buffered_upstream),
                    opt(e.dropped),
                    e.errors.to_string(),
                    human(e.idle_for),
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for row in &rows {
            for (w, cell) in width.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
                let sep = if i == 0 { "" } else { "  " };
                // Text columns left-aligned, numbers right-aligned.
                if i < 3 {
                    write!(f, "{sep}{cell:<w$}")?;
                } else {
                    write!(f, "{sep}{cell:>w$}")?;
                }
            }
            writeln!(f)
        };
        line(f, &header)?;
        for row in &rows {
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The metered stage.

/// The publisher made by [`PublisherExt::metered`](crate::PublisherExt::metered).
#[derive(Clone, Debug)]
pub struct Metered<P> {
    pub(crate) upstream: P,
    pub(crate) registry: Registry,
    pub(crate) name: Arc<str>,
    pub(crate) loc: Loc,
}

/// Marks the thread as subscribing through `id` until dropped (for pipeline order).
struct Subscribing(Option<u64>);

impl Subscribing {
    fn enter(id: u64) -> Self {
        Subscribing(SUBSCRIBING.with(|c| c.replace(Some(id))))
    }
}

impl Drop for Subscribing {
    fn drop(&mut self) {
        SUBSCRIBING.with(|c| c.set(self.0));
    }
}

impl<P: Publisher> Publisher for Metered<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if !self.registry.is_enabled() {
            self.upstream.subscribe(subscriber);
            return;
        }
        let cell = self.registry.register(&self.name, self.loc);
        let span = edge_span(&cell);
        let _in = Subscribing::enter(cell.id);
        tracing::debug!(parent: &span, "subscribe");
        self.upstream.subscribe(MeteredSubscriber {
            down: subscriber,
            cell,
            entered: 0,
            span,
        });
    }
}

/// The span of one metered subscription: events about it are its children.
fn edge_span(cell: &EdgeCell) -> tracing::Span {
    tracing::debug_span!("rstreams.edge", edge = %cell.name, site = %cell.site, id = cell.id)
}

impl<P: SyncSource> SyncSource for Metered<P> {
    type Source = MeteredSource<P::Source>;
    fn open(&self) -> Result<Self::Source, Error> {
        let meter = self.registry.is_enabled().then(|| {
            let cell = self.registry.register(&self.name, self.loc);
            cell.set_state(ACTIVE);
            let span = edge_span(&cell);
            tracing::debug!(parent: &span, "subscribe (fused)");
            Box::new(Meter {
                cell,
                entered: 0,
                requested: 0,
                span,
            })
        });
        // Edges opened upstream lie upstream of this one.
        let _in = meter.as_ref().map(|m| Subscribing::enter(m.cell.id));
        let up = self.upstream.open()?;
        Ok(MeteredSource { up, meter })
    }
    fn source_stage(&self) -> Loc {
        self.upstream.source_stage()
    }
}

/// The fused path over a synchronous source (see [`SyncSource`]): `metered` keeps
/// `range(..).map(..).metered(..)` one fused loop.
impl<P: SyncSource> Metered<P> {
    /// [`Publisher::subscribe`], fused.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let registry = rstreams::diag::Registry::new();
    /// let v = rstreams::range(0, 3).map(|x| x * 2).metered(&registry, "doubled")
    ///     .to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 2, 4]));
    /// assert_eq!(registry.snapshot().edge("doubled").unwrap().delivered, 3);
    /// ```
    pub fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if self.registry.is_enabled() {
            fuse::subscribe_fused(self, subscriber);
        } else {
            // Switched off: the upstream's own fused loop (the very code the chain runs
            // without the edge), not a wrapper that checks per batch.
            fuse::subscribe_fused(&self.upstream, subscriber);
        }
    }

    /// [`PublisherExt::blocking_iter`](crate::PublisherExt::blocking_iter), fused.
    #[track_caller]
    pub fn blocking_iter(&self, prefetch: usize) -> BlockingIter<P::Item>
    where
        P::Item: Send + 'static,
    {
        let loc = std::panic::Location::caller();
        if self.registry.is_enabled() {
            fuse::blocking_iter_fused(self, prefetch, loc)
        } else {
            fuse::blocking_iter_fused(&self.upstream, prefetch, loc)
        }
    }
}

struct MeteredSubscriber<S> {
    down: S,
    cell: Arc<EdgeCell>,
    /// This side's copy of `cell.entered` (so counting is a store, not a read-modify-write).
    entered: u64,
    span: tracing::Span,
}

impl<T, S: Subscriber<T>> Subscriber<T> for MeteredSubscriber<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        *self.cell.upstream.lock() = Some(Arc::downgrade(&up));
        self.cell.set_state(ACTIVE);
        self.down.on_subscribe(Box::new(MeteredSubscription {
            up,
            cell: Arc::clone(&self.cell),
            span: self.span.clone(),
        }));
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.entered += 1;
        // Release: pairs with the sampler's Acquire load (see `EdgeCell`).
        self.cell.entered.store(self.entered, Ordering::Release);
        self.down.on_next(item);
        self.cell.returned.store(self.entered, Ordering::Relaxed);
    }

    fn on_error(&mut self, error: Error) {
        self.cell.errors.store(1, Ordering::Relaxed);
        self.cell.set_state(FAILED);
        tracing::debug!(parent: &self.span, %error, "on_error");
        self.down.on_error(error);
    }

    fn on_complete(&mut self) {
        self.cell.set_state(COMPLETED);
        tracing::debug!(parent: &self.span, "on_complete");
        self.down.on_complete();
    }
}

impl<S> Drop for MeteredSubscriber<S> {
    fn drop(&mut self) {
        // A downstream `on_next` that unwound never stored `returned`.
        self.cell.returned.store(self.entered, Ordering::Relaxed);
        if self.cell.state.load(Ordering::Relaxed) <= ACTIVE {
            self.cell.set_state(DROPPED);
        }
    }
}

/// The subscription the downstream of a metered edge receives: counts, then passes through.
struct MeteredSubscription {
    up: Arc<dyn Subscription>,
    cell: Arc<EdgeCell>,
    span: tracing::Span,
}

impl Subscription for MeteredSubscription {
    fn request(&self, n: u64) {
        // Counted before forwarding: a synchronous upstream delivers inside `request`.
        self.cell.add_requested(n);
        self.up.request(n);
    }

    fn cancel(&self) {
        if !self.cell.cancelled.swap(true, Ordering::Relaxed) {
            tracing::debug!(parent: &self.span, "cancel");
        }
        self.up.cancel();
    }

    fn backlog(&self) -> Option<Backlog> {
        self.up.backlog()
    }
}

/// A metered edge fused into its synchronous upstream. "Requested" here is what the fused loop
/// asked of the upstream source (the downstream's demand, batch by batch).
pub struct MeteredSource<G> {
    up: G,
    /// `None`: the registry was disabled when the run opened (pure pass-through). Boxed: the
    /// edge adds one word to the kit's state, so the subscriber's fields that the fused loop
    /// touches per item keep the short offsets they have without the edge (an 80-byte edge
    /// inline moved them past 127 bytes, lengthening every instruction that reaches them and
    /// with them the hot loop: 0.22 s against 0.17 s for the same instructions).
    meter: Option<Box<Meter>>,
}

/// What an enabled fused edge keeps: its counters' cell, its own copies of two of them (so
/// publishing is a store, never a read-modify-write) and its span.
struct Meter {
    cell: Arc<EdgeCell>,
    entered: u64,
    requested: u64,
    span: tracing::Span,
}

impl<G> fmt::Debug for MeteredSource<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredSource")
            .field("edge", &self.meter.as_ref().map(|m| &m.cell.name))
            .finish()
    }
}

impl Meter {
    /// The run's end, once: out of line and cold, so its tracing sits outside the kit's pass.
    #[cold]
    #[inline(never)]
    fn ended<T>(&self, stop: Option<&Step<T>>) {
        match stop {
            Some(Step::Complete) => {
                self.cell.set_state(COMPLETED);
                tracing::debug!(parent: &self.span, "on_complete");
            }
            Some(Step::Error(error)) => {
                self.cell.errors.store(1, Ordering::Relaxed);
                self.cell.set_state(FAILED);
                tracing::debug!(parent: &self.span, %error, "on_error");
            }
            _ => {}
        }
    }
}

impl<G: Source> Source for MeteredSource<G> {
    type Item = G::Item;

    fn stage_name(&self) -> &'static str {
        self.up.stage_name()
    }

    fn backlog_probe(&self) -> Option<rstreams_protocol::pull::BacklogProbe> {
        self.up.backlog_probe()
    }

    fn pull(&mut self) -> Step<G::Item> {
        let step = self.up.pull();
        let Some(m) = self.meter.as_deref_mut() else {
            return step;
        };
        match &step {
            Step::Next(_) => {
                // One item asked and handed over at once: no callback runs in between.
                m.entered += 1;
                m.requested = m.requested.max(m.entered);
                m.cell.requested.store(m.requested, Ordering::Relaxed);
                m.cell.entered.store(m.entered, Ordering::Release);
                m.cell.returned.store(m.entered, Ordering::Relaxed);
            }
            Step::Pending => {}
            stop => m.ended(Some(stop)),
        }
        step
    }

    fn is_exhausted(&mut self) -> bool {
        self.up.is_exhausted()
    }

    #[inline]
    fn pull_many<E>(&mut self, limit: u64, emit: E) -> (u64, Option<Step<G::Item>>)
    where
        E: FnMut(G::Item) -> bool,
    {
        let Some(m) = self.meter.as_deref_mut() else {
            return self.up.pull_many(limit, emit);
        };
        m.requested = m.requested.saturating_add(limit);
        m.cell.requested.store(m.requested, Ordering::Relaxed);
        // Nothing per item, nothing per chunk: `emit` goes to the upstream untouched, so the
        // loop the kit runs is the upstream's own (the same instructions per item as the chain
        // without the edge). The counters are published once per batch, derived from the
        // count the upstream hands back. While the batch runs, `entered` claims one item more
        // than `returned`: a sample taken then sees the edge "in callback" (if it stays so, the
        // fused loop is blocked in a callback below the edge or in a closure above it) and its
        // `delivered` lags by at most this batch (one kit pass; with unbounded demand, the
        // whole run). Session 4 published around chunks of 1024 items, which put a second loop
        // around the upstream's and moved the hot path's layout (docs/performance.md, "Session
        // 5: the edge outside the loop").
        //
        // Release: pairs with the sampler's Acquire load (see `EdgeCell`).
        m.cell.entered.store(m.entered + 1, Ordering::Release);
        let (handed, stop) = self.up.pull_many(limit, emit);
        let m = self.meter.as_deref_mut().expect("checked above");
        m.entered += handed;
        m.cell.entered.store(m.entered, Ordering::Release);
        m.cell.returned.store(m.entered, Ordering::Relaxed);
        if stop.is_some() {
            m.ended(stop.as_ref());
        }
        (handed, stop)
    }
}

impl<G> Drop for MeteredSource<G> {
    fn drop(&mut self) {
        if let Some(m) = &self.meter {
            m.cell.returned.store(m.entered, Ordering::Relaxed);
            if m.cell.state.load(Ordering::Relaxed) <= ACTIVE {
                // The fused run was cancelled (or its consumer went away).
                m.cell.cancelled.store(true, Ordering::Relaxed);
                m.cell.set_state(DROPPED);
                tracing::debug!(parent: &m.span, "cancel");
            }
        }
    }
}
