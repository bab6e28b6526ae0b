//! The rails core: one upstream subscriber queues items, each rail takes runs of them and runs
//! its stage on its own [`SerialLane`], and one pull-kit source joins the rails' outputs
//! downstream.
//!
//! ```text
//!  upstream ─on_next─► shared queue ─(a rail with room takes ≤ run items)─► rail k: lane k ─► stage ─► output k ─┐
//!           ◄─request(≤ run) by rail k itself, when nothing is queued and the window has room              │
//!  downstream ◄─ SerialDrain ◄─ join: ordered (head with the next index) or sequential (any) ◄────────────────┘
//! ```
//!
//! Pulling (with lanes): after the first window (asked for at subscription, on the subscribing
//! thread), a rail that finds the queue empty asks the upstream for its own next
//! run (`RailsCore::pull`; requests serialised by `pull_lock`, rule 2.7) and takes what the
//! request delivered before other rails are started. A synchronous upstream (the common case:
//! `range(..).map(make_line)`) thus produces each item on the worker that processes it: what
//! an item owns is allocated and freed on one thread (glibc's arena lock is not shared between
//! the workers; session 5 measured most of the quiet run's futex calls there), and neither
//! worker waits for the other to produce. The join never requests with lanes: taking items
//! frees room, and it starts idle rails to pull.
//!
//! Work sharing: items that arrive outside a rail's own request (an asynchronous upstream) are
//! queued once; whichever rail runs takes the next run (at most `prefetch / 8`, capped at 64).
//! A rail whose worker is busy elsewhere (running the join) then holds nothing up. Each rail's
//! outputs stay in source order (it takes runs from the front), which is all the ordered join
//! needs. Another rail is started when the queue holds more than the running rails take in one
//! run each, or when the window has room for one more run beyond one per running rail.
//!
//! Bounds: an item counts against the window from the request until the join takes it
//! (`outstanding`, shared queue, or a rail's `load`: running + output queue); a rail's load
//! never exceeds `prefetch`, and the upstream is never asked for more than `rails × prefetch -
//! outstanding - queued - Σ load`. So with items queued some rail has room. The ordered join's
//! reorder buffer is the rails' output queues, so it holds at most `rails × prefetch` items.
//! Without lanes (no `run_on`) the rail runs on the upstream's thread, items go round-robin to
//! the next rail with room, and the join replenishes in batches of 75% of the window.
//!
//! Locking: one mutex guards the state; it is never held while calling a stage, the upstream, a
//! lane or the downstream. A dispatch takes it once per item, a rail twice per run, the join
//! once per pass. `pull_lock` is held only around a rail's own `request`.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rstreams_executor::{Scheduler, SerialLane};
use rstreams_protocol::pull::{PullHandle, Source, Step};
use rstreams_protocol::{Error, Rule, Subscriber, Subscription, report_undeliverable};

use super::stage::RailStage;
use crate::stage::Loc;

struct Rail<U> {
    output: VecDeque<(u64, Option<U>)>,
    /// Taken by this rail from the shared queue (or, without lanes, handed to it) and not yet
    /// taken by the join.
    load: usize,
    /// A drain job is queued or running on this rail's lane.
    running: bool,
}

struct State<T, U> {
    rails: Vec<Rail<U>>,
    /// With lanes: items received from upstream that no rail has taken yet, in source order.
    /// Whichever rail has room and runs takes the next run of them (see `RailsCore::drain_rail`).
    queue: VecDeque<(u64, T)>,
    /// Without lanes: round-robin dispatch position.
    cursor: usize,
    /// Index of the next upstream item.
    next_index: u64,
    /// Ordered join: the index to emit next. Sequential join: round-robin take position.
    expect: u64,
    take_cursor: usize,
    up: Option<Arc<dyn Subscription>>,
    /// Requested upstream and not yet received.
    outstanding: u64,
    /// With lanes: a rail is inside its own `request` (see `RailsCore::pull`); the items it
    /// delivers meanwhile are left for that rail rather than starting others.
    pulling: bool,
    /// The thread inside that request (cancels from it are re-entrant, hence already serial).
    puller: Option<std::thread::ThreadId>,
    /// Taken by the join since the last replenishing request.
    consumed: u64,
    upstream_done: bool,
    error: Option<Error>,
    cancelled: bool,
}

impl<T, U> State<T, U> {
    /// Empties every queue; returns the upstream subscription to cancel unlocked.
    fn clear(&mut self) -> Option<Arc<dyn Subscription>> {
        self.queue.clear();
        for r in &mut self.rails {
            r.output.clear();
            r.load = 0;
        }
        self.up.take()
    }
}

pub(crate) struct RailsCore<T, G: RailStage<T>> {
    state: Mutex<State<T, G::Out>>,
    stage: Arc<G>,
    /// One lane per rail; empty without `run_on` (rails then run on the upstream's thread).
    lanes: Vec<SerialLane>,
    /// Keeps the executor alive while the subscription is (a lane only holds it weakly).
    _scheduler: Option<Arc<dyn Scheduler>>,
    handle: OnceLock<PullHandle>,
    /// Serialises the rails' own upstream requests (rule 2.7); held only around `request`.
    pull_lock: Mutex<()>,
    prefetch: usize,
    /// Most items a rail takes from the shared queue at once.
    run: usize,
    window: u64,
    limit: u64,
    ordered: bool,
    loc: Loc,
}

impl<T: Send + 'static, G: RailStage<T>> RailsCore<T, G> {
    pub(crate) fn new(
        rails: usize,
        prefetch: usize,
        scheduler: Option<Arc<dyn Scheduler>>,
        stage: Arc<G>,
        ordered: bool,
        loc: Loc,
    ) -> Arc<Self> {
        let window = (rails as u64).saturating_mul(prefetch as u64);
        let lanes = match &scheduler {
            Some(s) => (0..rails).map(|_| s.lane()).collect(),
            None => Vec::new(),
        };
        Arc::new(Self {
            state: Mutex::new(State {
                rails: (0..rails)
                    .map(|_| Rail {
                        output: VecDeque::new(),
                        load: 0,
                        running: false,
                    })
                    .collect(),
                queue: VecDeque::new(),
                cursor: 0,
                next_index: 0,
                expect: 0,
                take_cursor: 0,
                up: None,
                outstanding: 0,
                pulling: false,
                puller: None,
                consumed: 0,
                upstream_done: false,
                error: None,
                cancelled: false,
            }),
            stage,
            lanes,
            _scheduler: scheduler,
            handle: OnceLock::new(),
            pull_lock: Mutex::new(()),
            prefetch,
            run: (prefetch / 8).clamp(1, 64),
            window,
            limit: (window - window / 4).max(1),
            ordered,
            loc,
        })
    }

    pub(crate) fn serve<S: Subscriber<G::Out> + Send + 'static>(self: &Arc<Self>, subscriber: S) {
        let core = Arc::clone(self);
        rstreams_protocol::pull::serve_with(
            move |handle| {
                let _ = core.handle.set(handle);
                JoinSource {
                    core,
                    batch: VecDeque::new(),
                }
                .at(self.loc)
            },
            subscriber,
        );
    }

    pub(crate) fn splitter(self: &Arc<Self>) -> Splitter<T, G> {
        Splitter {
            core: Arc::clone(self),
        }
    }

    fn wake(&self) {
        if let Some(h) = self.handle.get() {
            h.wake();
        }
    }

    /// Ends the stream with `error` (first one wins): every rail stops, upstream is cancelled.
    fn fail(&self, error: Error) {
        let up = {
            let mut st = self.state.lock();
            if st.error.is_some() || st.cancelled {
                drop(st);
                report_undeliverable(error);
                return;
            }
            tracing::debug!(stage = %self.loc, %error, "rails failing; stopping every rail");
            st.error = Some(error);
            st.clear()
        };
        if let Some(up) = up {
            self.cancel_upstream(up);
        }
        self.wake();
    }

    /// Window room not yet asked of the upstream: `rails × prefetch` less what is requested,
    /// queued, or held by a rail.
    fn free(&self, st: &State<T, G::Out>) -> u64 {
        let held: usize = st.rails.iter().map(|r| r.load).sum();
        self.window
            .saturating_sub(st.outstanding)
            .saturating_sub((st.queue.len() + held) as u64)
    }

    /// With lanes, whether a rail may ask the upstream for its next run itself.
    fn can_pull(&self, st: &State<T, G::Out>) -> bool {
        !self.lanes.is_empty()
            && st.up.is_some()
            && !st.upstream_done
            && !st.cancelled
            && st.error.is_none()
            && self.free(st) > 0
    }

    /// Rails to start (marked running; the caller spawns their drains unlocked). Work is
    /// shared: with items queued, one rail runs; another starts when the queue holds more than
    /// the running rails take in one run each (a burst from an asynchronous upstream), or when
    /// the window has room for one more run per rail beyond the running ones (each rail then
    /// asks the upstream for its own runs). So a trickle keeps one worker busy instead of
    /// waking them all in turn.
    fn to_start(&self, st: &mut State<T, G::Out>) -> Vec<usize> {
        let mut start = Vec::new();
        if self.lanes.is_empty() || st.cancelled || st.error.is_some() {
            return start;
        }
        let mut running = st.rails.iter().filter(|r| r.running).count();
        let pullable = if self.can_pull(st) { self.free(st) } else { 0 };
        while running < st.rails.len() {
            let queued = st.queue.len();
            let wanted = (running == 0 && (queued > 0 || pullable > 0))
                || queued > running * self.run
                || pullable >= ((running + 1) * self.run) as u64;
            if !wanted {
                break;
            }
            let Some(k) = (0..st.rails.len())
                .find(|&k| !st.rails[k].running && st.rails[k].load < self.prefetch)
            else {
                break;
            };
            st.rails[k].running = true;
            running += 1;
            start.push(k);
        }
        start
    }

    /// Spawns the drains of the rails `to_start` chose (unlocked).
    fn start(self: &Arc<Self>, rails: Vec<usize>) {
        for k in rails {
            let me = Arc::clone(self);
            if let Err(rejected) = self.lanes[k].spawn(move || me.drain_rail(k)) {
                drop(rejected);
                self.fail(
                    Error::msg("rails: the scheduler refused work (shut down)").at_stage(self.loc),
                );
                return;
            }
        }
    }

    /// Rail `k`'s drain, on its lane: takes runs of queued items (at most `run` at a time, and
    /// never past the rail's `prefetch`), applies the stage unlocked, hands the results to the
    /// join, until nothing is queued and it may not pull, or the rail is full. With the queue
    /// empty, the rail asks the upstream for its next run itself ([`pull`](Self::pull)): a
    /// synchronous upstream then produces each item on the worker that processes it, so what
    /// the item owns is allocated and freed on one thread (no allocator lock shared with
    /// another worker) and no worker waits for the other to produce. The state lock is taken
    /// twice per run.
    fn drain_rail(self: &Arc<Self>, k: usize) {
        let mut batch = Vec::new();
        let mut done = Vec::new();
        loop {
            let mut pull = false;
            {
                let mut st = self.state.lock();
                if st.error.is_some() || st.cancelled {
                    st.rails[k].running = false;
                    return;
                }
                let room = self.prefetch - st.rails[k].load;
                // Items queued while another rail is inside its own request are that rail's
                // (made on its thread): wait for the request instead (`pull` re-checks).
                let n = if st.pulling {
                    0
                } else {
                    room.min(self.run).min(st.queue.len())
                };
                if n > 0 {
                    batch.extend(st.queue.drain(..n));
                    st.rails[k].load += n;
                } else if room > 0 && (st.pulling || self.can_pull(&st)) {
                    pull = true;
                } else {
                    st.rails[k].running = false;
                    // Full with items still queued: another rail with room takes them.
                    let start = self.to_start(&mut st);
                    drop(st);
                    self.start(start);
                    return;
                }
            }
            if pull {
                if !self.pull(k, &mut batch) {
                    // Another rail's request took too long to wait for: it starts this rail
                    // again when it is done, if there is room (see `pull`).
                    let start = {
                        let mut st = self.state.lock();
                        st.rails[k].running = false;
                        self.to_start(&mut st)
                    };
                    self.start(start);
                    return;
                }
                if batch.is_empty() {
                    continue;
                }
            }
            for (index, item) in batch.drain(..) {
                match self.stage.apply_on_rail(k, item) {
                    Ok(out) => done.push((index, out)),
                    Err(e) => {
                        self.fail(e);
                        return;
                    }
                }
            }
            {
                let mut st = self.state.lock();
                if st.error.is_some() || st.cancelled {
                    st.rails[k].running = false;
                    return;
                }
                st.rails[k].output.extend(done.drain(..));
            }
            self.wake();
        }
    }

    /// Rail `k` (running, queue empty) asks the upstream for its next run. Requests are made
    /// one at a time (rule 2.7): a rail whose neighbour is mid-request waits for it briefly
    /// (a synchronous upstream produces a run in microseconds), then re-checks. Returns `false`
    /// if it gave up waiting; the neighbour, done, starts idle rails that have room. What the
    /// request delivered synchronously, up to a run, goes straight into `batch` (this rail's),
    /// before other rails are started, so they do not take the items made on this thread.
    fn pull(self: &Arc<Self>, k: usize, batch: &mut Vec<(u64, T)>) -> bool {
        let Some(_serial) = self
            .pull_lock
            .try_lock_for(std::time::Duration::from_micros(200))
        else {
            return false;
        };
        let request = {
            let mut st = self.state.lock();
            let room = self.prefetch - st.rails[k].load;
            if !st.queue.is_empty() || room == 0 || !self.can_pull(&st) {
                // Someone else's items arrived meanwhile, or there is no room any more: the
                // drain loop decides again.
                None
            } else {
                let n = (room.min(self.run) as u64).min(self.free(&st));
                st.outstanding += n;
                st.pulling = true;
                st.puller = Some(std::thread::current().id());
                st.up.clone().map(|up| (up, n))
            }
        };
        if let Some((up, n)) = request {
            // A synchronous upstream delivers here; `on_next` leaves the items for this rail.
            up.request(n);
            let start = {
                let mut st = self.state.lock();
                st.pulling = false;
                st.puller = None;
                if st.error.is_none() && !st.cancelled {
                    let room = self.prefetch - st.rails[k].load;
                    let n = room.min(self.run).min(st.queue.len());
                    batch.extend(st.queue.drain(..n));
                    st.rails[k].load += n;
                }
                self.to_start(&mut st)
            };
            // Released before spawning: a refused spawn fails the stream, whose cancel takes
            // the lock.
            drop(_serial);
            self.start(start);
        }
        true
    }

    /// Cancels the upstream serially with the rails' own requests (rule 2.7): from the thread
    /// inside a rail's request (re-entrant) at once, from any other after that request.
    fn cancel_upstream(&self, up: Arc<dyn Subscription>) {
        let reentrant = self.state.lock().puller == Some(std::thread::current().id());
        if reentrant || self.lanes.is_empty() {
            up.cancel();
        } else {
            let _serial = self.pull_lock.lock();
            up.cancel();
        }
    }

    fn run_one(&self, k: usize, (index, item): (u64, T)) {
        match self.stage.apply_on_rail(k, item) {
            Ok(out) => {
                let wake = {
                    let mut st = self.state.lock();
                    if st.error.is_some() || st.cancelled {
                        return;
                    }
                    let rail = &mut st.rails[k];
                    rail.output.push_back((index, out));
                    // A join pass that saw this rail empty (or, ordered, waiting for this index)
                    // may have stopped: wake it. More items behind a non-empty queue are seen by
                    // the pass already due.
                    rail.output.len() == 1 || self.ordered
                };
                if wake {
                    self.wake();
                }
            }
            Err(e) => self.fail(e),
        }
    }
}

/// Subscribed to the upstream: hands each item to a rail.
pub(crate) struct Splitter<T, G: RailStage<T>> {
    core: Arc<RailsCore<T, G>>,
}

impl<T: Send + 'static, G: RailStage<T>> Subscriber<T> for Splitter<T, G> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut st = self.core.state.lock();
            let fresh = st.up.is_none() && !st.upstream_done;
            if fresh && !(st.cancelled || st.error.is_some()) {
                st.up = Some(Arc::clone(&s));
                // The first window at once (a short stream costs one request, and one lane
                // start per rail); with lanes the rails then ask for their own runs.
                st.outstanding = self.core.window;
                drop(st);
                s.request(self.core.window);
                return;
            }
        }
        tracing::debug!(stage = %self.core.loc, "rails: extra or late on_subscribe cancelled (2.5)");
        s.cancel();
    }

    fn on_next(&mut self, item: T) {
        let core = &self.core;
        let dispatch = {
            let mut st = core.state.lock();
            if st.cancelled || st.error.is_some() {
                return;
            }
            if st.outstanding == 0 {
                drop(st);
                core.fail(
                    Error::violation(Rule::R1_1, "the upstream sent more items than requested")
                        .at_stage(core.loc),
                );
                return;
            }
            st.outstanding -= 1;
            let index = st.next_index;
            st.next_index += 1;
            if core.lanes.is_empty() {
                // No scheduler: the rail runs here, on the upstream's thread; the next rail
                // (round-robin) with room takes it. Invariant Σ load + outstanding ≤ window:
                // some rail has room.
                let n = st.rails.len();
                let Some(k) = (0..n)
                    .map(|i| (st.cursor + i) % n)
                    .find(|&k| st.rails[k].load < core.prefetch)
                else {
                    drop(st);
                    core.fail(Error::msg("rails: no rail had room (bug)").at_stage(core.loc));
                    return;
                };
                st.cursor = (k + 1) % n;
                st.rails[k].load += 1;
                Err((k, (index, item)))
            } else {
                st.queue.push_back((index, item));
                if st.pulling {
                    // Delivered inside a rail's own request: that rail takes it next.
                    Ok(Vec::new())
                } else {
                    Ok(core.to_start(&mut st))
                }
            }
        };
        match dispatch {
            Ok(start) => core.start(start),
            Err((k, item)) => core.run_one(k, item),
        }
    }

    fn on_error(&mut self, error: Error) {
        let mine = {
            let mut st = self.core.state.lock();
            st.up.take().is_some() && !st.upstream_done
        };
        if mine {
            self.core.fail(error);
        } else {
            report_undeliverable(error);
        }
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.core.state.lock();
            st.upstream_done = true;
            st.up = None;
        }
        self.core.wake();
    }
}

/// What the join does after taking items (see `JoinSource::replenish`).
enum Replenish {
    /// Without lanes: ask the upstream for this many more.
    Request(Arc<dyn Subscription>, u64),
    /// With lanes: start these idle rails, which ask for their own runs.
    Start(Vec<usize>),
}

/// The downstream side, driven by the pull kit.
struct JoinSource<T: Send + 'static, G: RailStage<T>> {
    core: Arc<RailsCore<T, G>>,
    /// Reused between `pull_many` calls: the items taken under the lock.
    batch: VecDeque<G::Out>,
}

impl<T: Send + 'static, G: RailStage<T>> JoinSource<T, G> {
    /// Takes the next finished slot (`Some(None)` is a filtered-out item), if one is ready.
    fn take(&self, st: &mut State<T, G::Out>) -> Option<Option<G::Out>> {
        let n = st.rails.len();
        let k = if self.core.ordered {
            let expect = st.expect;
            (0..n).find(|&k| {
                st.rails[k]
                    .output
                    .front()
                    .is_some_and(|(i, _)| *i == expect)
            })?
        } else {
            let k = (0..n)
                .map(|i| (st.take_cursor + i) % n)
                .find(|&k| !st.rails[k].output.is_empty())?;
            st.take_cursor = (k + 1) % n;
            k
        };
        let rail = &mut st.rails[k];
        let (_, out) = rail.output.pop_front()?;
        rail.load -= 1;
        st.expect += 1;
        st.consumed += 1;
        Some(out)
    }

    /// After the join took items: without lanes, the replenishing request due, if any (made
    /// unlocked by the caller); with lanes, the rails asks for their own runs, and the join
    /// only starts idle rails now that there is room (`kick`, spawned unlocked).
    fn replenish(&self, st: &mut State<T, G::Out>) -> Option<Replenish> {
        if !self.core.lanes.is_empty() {
            let start = self.core.to_start(st);
            return (!start.is_empty()).then_some(Replenish::Start(start));
        }
        if st.consumed < self.core.limit {
            return None;
        }
        let up = st.up.clone()?;
        let n = std::mem::take(&mut st.consumed);
        st.outstanding += n;
        Some(Replenish::Request(up, n))
    }

    fn do_replenish(&self, r: Option<Replenish>) {
        match r {
            Some(Replenish::Request(up, n)) => up.request(n),
            Some(Replenish::Start(rails)) => self.core.start(rails),
            None => {}
        }
    }

    fn end(&self, st: &State<T, G::Out>) -> Option<Step<G::Out>> {
        if let Some(e) = &st.error {
            return Some(Step::Error(e.clone()));
        }
        let idle = st.queue.is_empty() && st.rails.iter().all(|r| r.load == 0);
        (st.upstream_done && idle).then_some(Step::Complete)
    }
}

impl<T: Send + 'static, G: RailStage<T>> Source for JoinSource<T, G> {
    type Item = G::Out;

    fn stage_name(&self) -> &'static str {
        "rails_join"
    }

    fn pull(&mut self) -> Step<G::Out> {
        loop {
            let (out, replenish) = {
                let mut st = self.core.state.lock();
                if let Some(e) = &st.error {
                    return Step::Error(e.clone());
                }
                match self.take(&mut st) {
                    Some(out) => (out, self.replenish(&mut st)),
                    None => return self.end(&st).unwrap_or(Step::Pending),
                }
            };
            self.do_replenish(replenish);
            if let Some(item) = out {
                return Step::Next(item);
            }
            // A filtered-out item: its place in the order is passed, look further.
        }
    }

    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<G::Out>>)
    where
        F: FnMut(G::Out) -> bool,
    {
        // Take what is ready (at most `limit` items, bounded by rails × prefetch) under one
        // lock, then deliver it unlocked (downstream may re-enter).
        let mut batch = std::mem::take(&mut self.batch);
        let (stop, replenish) = {
            let mut st = self.core.state.lock();
            if let Some(e) = &st.error {
                return (0, Some(Step::Error(e.clone())));
            }
            while (batch.len() as u64) < limit {
                match self.take(&mut st) {
                    Some(Some(item)) => batch.push_back(item),
                    Some(None) => {}
                    None => break,
                }
            }
            let stop = if (batch.len() as u64) < limit {
                Some(self.end(&st).unwrap_or(Step::Pending))
            } else {
                None
            };
            (stop, self.replenish(&mut st))
        };
        // May deliver synchronously: on_next only queues (or runs a rail) and wakes.
        self.do_replenish(replenish);
        let (emitted, stopped) = crate::stage::emit_batch(&mut batch, &mut emit);
        self.batch = batch;
        if stopped {
            return (emitted, None);
        }
        // Pending after a replenishing request loses nothing: an item it made ready woke the
        // drain, which runs another pass.
        (emitted, stop)
    }

    fn is_exhausted(&mut self) -> bool {
        let mut st = self.core.state.lock();
        if st.error.is_some() {
            return true;
        }
        // Filtered-out slots at the front are passed here too, so completion is not held back
        // by them when demand has run out.
        loop {
            let front_filtered = if self.core.ordered {
                let expect = st.expect;
                st.rails
                    .iter()
                    .any(|r| matches!(r.output.front(), Some((i, None)) if *i == expect))
            } else {
                st.rails
                    .iter()
                    .any(|r| matches!(r.output.front(), Some((_, None))))
            };
            if !front_filtered {
                break;
            }
            let n = st.rails.len();
            let expect = st.expect;
            let ordered = self.core.ordered;
            if let Some(k) = (0..n).find(|&k| {
                matches!(st.rails[k].output.front(), Some((i, None)) if !ordered || *i == expect)
            }) {
                st.rails[k].output.pop_front();
                st.rails[k].load -= 1;
                st.expect += 1;
                st.consumed += 1;
            }
        }
        let replenish = self.replenish(&mut st);
        let done = self.end(&st).is_some();
        drop(st);
        self.do_replenish(replenish);
        done
    }
}

impl<T: Send + 'static, G: RailStage<T>> Drop for JoinSource<T, G> {
    fn drop(&mut self) {
        // Downstream cancelled or the stream ended: release the upstream and every rail's items.
        let up = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            st.clear()
        };
        if let Some(up) = up {
            self.core.cancel_upstream(up);
        }
    }
}
