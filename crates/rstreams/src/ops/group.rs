//! `group_by`, `window` and `window_timeout`: one upstream split into sub-streams, each a
//! [`GroupedPublisher`]. One splitting core serves all three; a [`Router`] says which
//! sub-stream an item belongs to and when a sub-stream closes.
//!
//! # Demand, buffers and the hang policy
//!
//! Every sub-stream has its own queue, but the upstream is asked for items against **one budget
//! of `prefetch` items** (`group_prefetch` for `group_by`, `n` for the windows): items requested
//! and not yet arrived plus items waiting in any sub-stream's queue never exceed it. Items leave
//! the budget when a sub-stream's subscriber receives them (or when a sub-stream is cancelled
//! and its queue dropped), and the upstream is asked again in batches of 75% of the budget (or
//! for whatever room there is once nothing is in flight). This is Reactor's `groupBy(key,
//! prefetch)` accounting.
//!
//! The classic hang: a sub-stream that nobody subscribes to or drains keeps its items, so the
//! budget fills up and **the upstream waits** — every other sub-stream waits with it. That is
//! the policy (the alternative, buffering without bound, is worse); it is never silent:
//!
//! * each [`GroupedPublisher::buffered`] says how many items it holds, so the culprit can be
//!   found;
//! * when the budget is full with nothing in flight, a `tracing` warning names the stall and
//!   the largest undrained sub-stream;
//! * a `GroupedPublisher` dropped without being subscribed is treated as cancelled: its items
//!   are released and the flow goes on (Rust's ownership settles the most common form of the
//!   hang; Reactor would wait forever there);
//! * a cancelled group is forgotten: the next item with its key creates a new group, emitted on
//!   the outer stream.
//!
//! Cancelling the outer stream cancels groups not yet emitted; the upstream is cancelled once
//! the outer stream and every emitted group are cancelled or finished (as in Reactor), so the
//! groups already handed out keep working.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::{Scheduler, TimerHandle};
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use super::relay::Waker;
use crate::stage::{Loc, closure_panic, guard, reject};

/// Decides which sub-stream an item goes to, and when a sub-stream closes.
pub(crate) trait Router<T>: Send + 'static {
    type Key: Hash + Eq + Clone + Send + Sync + 'static;
    /// The key of `item`. May panic (caught: rule 2.13).
    fn route(&mut self, item: &T) -> Self::Key;
    /// Whether the sub-stream that has just received its `count`-th item is now full.
    fn full(&self, _count: u64) -> bool {
        false
    }
    /// The sub-stream of `key` was closed (full, timed out or cancelled).
    fn closed(&mut self, _key: &Self::Key) {}
}

/// One sub-stream's queue.
struct GroupState<T> {
    queue: VecDeque<T>,
    count: u64,
    closed: bool,
    error: Option<Error>,
    subscribed: bool,
    /// Cancelled by its subscriber, or dropped unsubscribed.
    gone: bool,
    timer: Option<TimerHandle>,
}

struct GroupCell<T> {
    state: Mutex<GroupState<T>>,
    waker: Waker,
}

impl<T> GroupCell<T> {
    fn new() -> Arc<Self> {
        Arc::new(GroupCell {
            state: Mutex::new(GroupState {
                queue: VecDeque::new(),
                count: 0,
                closed: false,
                error: None,
                subscribed: false,
                gone: false,
                timer: None,
            }),
            waker: Waker::default(),
        })
    }
}

/// What a sub-stream tells the core.
trait Parent: Send + Sync {
    /// `n` items left the budget.
    fn consumed(&self, n: u64);
    /// The sub-stream was cancelled or dropped unsubscribed: forget it.
    fn gone(&self, id: u64, dropped: u64);
}

/// A sub-stream of [`group_by`](crate::PublisherExt::group_by) or a window of
/// [`window`](crate::PublisherExt::window) / [`window_timeout`](crate::PublisherExt::window_timeout).
///
/// Accepts one subscriber (a second one receives an error); emits the items routed to it, then
/// completes when the upstream completes (or, for a window, when it is full or timed out), or
/// fails with the upstream's error. Its queue counts against the splitting stage's budget (see
/// [`GroupBy`]). Dropping it without subscribing cancels
/// it. Cancelling its subscription drops what it holds.
pub struct GroupedPublisher<K, T> {
    key: K,
    id: u64,
    cell: Arc<GroupCell<T>>,
    parent: Weak<dyn Parent>,
    loc: Loc,
}

/// A window of [`window`](crate::PublisherExt::window): a [`GroupedPublisher`] keyed by its
/// index (0, 1, 2, …).
pub type Window<T> = GroupedPublisher<u64, T>;

impl<K: fmt::Debug, T> fmt::Debug for GroupedPublisher<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupedPublisher")
            .field("key", &self.key)
            .field("buffered", &self.buffered())
            .finish()
    }
}

impl<K, T> GroupedPublisher<K, T> {
    /// The key shared by this sub-stream's items (a window's index).
    pub fn key(&self) -> &K {
        &self.key
    }

    /// How many items wait in this sub-stream's queue: the diagnosis for a stalled split (a
    /// sub-stream nobody drains holds the budget).
    pub fn buffered(&self) -> usize {
        self.cell.state.lock().queue.len()
    }
}

impl<K, T> Drop for GroupedPublisher<K, T> {
    fn drop(&mut self) {
        let dropped = {
            let mut st = self.cell.state.lock();
            if st.subscribed || st.gone {
                return;
            }
            st.gone = true;
            let n = st.queue.len() as u64;
            st.queue.clear();
            n
        };
        tracing::debug!(stage = %self.loc, dropped, "a group was dropped without a subscriber");
        if let Some(p) = self.parent.upgrade() {
            p.gone(self.id, dropped);
        }
    }
}

impl<K, T: Send + 'static> Publisher for GroupedPublisher<K, T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let first = {
            let mut st = self.cell.state.lock();
            !std::mem::replace(&mut st.subscribed, true) && !st.gone
        };
        if !first {
            let e = Error::msg("a group or window accepts one subscriber; it already had one")
                .at_stage(self.loc);
            return reject(subscriber, e);
        }
        let cell = Arc::clone(&self.cell);
        let parent = self.parent.clone();
        let id = self.id;
        pull::serve_with(
            move |handle| {
                cell.waker.set(handle);
                GroupSource { cell, parent, id }.at(self.loc)
            },
            subscriber,
        );
    }
}

struct GroupSource<T> {
    cell: Arc<GroupCell<T>>,
    parent: Weak<dyn Parent>,
    id: u64,
}

impl<T: Send + 'static> Source for GroupSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "group"
    }
    fn pull(&mut self) -> Step<T> {
        let step = {
            let mut st = self.cell.state.lock();
            match st.queue.pop_front() {
                Some(item) => Step::Next(item),
                None => match &st.error {
                    Some(e) => Step::Error(e.clone()),
                    None if st.closed => Step::Complete,
                    None => Step::Pending,
                },
            }
        };
        if matches!(step, Step::Next(_))
            && let Some(p) = self.parent.upgrade()
        {
            p.consumed(1);
        }
        step
    }
    fn is_exhausted(&mut self) -> bool {
        let st = self.cell.state.lock();
        st.queue.is_empty() && (st.closed || st.error.is_some())
    }
}

impl<T> Drop for GroupSource<T> {
    fn drop(&mut self) {
        // Cancelled, or finished: either way this group is over.
        let (dropped, timer) = {
            let mut st = self.cell.state.lock();
            st.gone = true;
            let n = st.queue.len() as u64;
            st.queue.clear();
            (n, st.timer.take())
        };
        if let Some(t) = timer {
            t.cancel();
        }
        if let Some(p) = self.parent.upgrade() {
            p.gone(self.id, dropped);
        }
    }
}

// ---------------------------------------------------------------- the splitting core

struct Live<K, T> {
    key: K,
    cell: Arc<GroupCell<T>>,
}

struct CoreState<T, R: Router<T>> {
    router: R,
    up: Option<Arc<dyn Subscription>>,
    subscribed: bool,
    /// Open groups by key, and every group not yet finished by id.
    open: HashMap<R::Key, u64>,
    live: HashMap<u64, Live<R::Key, T>>,
    next_id: u64,
    /// Groups created and not yet emitted on the outer stream.
    fresh: VecDeque<GroupedPublisher<R::Key, T>>,
    in_flight: u64,
    buffered: u64,
    complete: bool,
    error: Option<Error>,
    outer_cancelled: bool,
    stall_reported: bool,
}

pub(crate) struct Split<T, R: Router<T>> {
    state: Mutex<CoreState<T, R>>,
    outer: Waker,
    prefetch: u64,
    batch: u64,
    max_groups: usize,
    timeout: Option<(Duration, Arc<dyn Scheduler>)>,
    loc: Loc,
    me: Weak<Split<T, R>>,
}

/// Work to do once the core's lock is released.
#[derive(Default)]
struct After {
    request: Option<(Arc<dyn Subscription>, u64)>,
    cancel_up: Option<Arc<dyn Subscription>>,
    wake: Vec<Arc<dyn WakeGroup>>,
    wake_outer: bool,
    timers: Vec<TimerHandle>,
    /// Values whose drop calls back into the core: dropped after the lock is released.
    graveyard: Vec<Box<dyn std::any::Any + Send>>,
}

trait WakeGroup: Send + Sync {
    fn wake(&self);
}

impl<T: Send> WakeGroup for GroupCell<T> {
    fn wake(&self) {
        self.waker.wake();
    }
}

impl<T, R> Split<T, R>
where
    T: Send + 'static,
    R: Router<T>,
{
    fn run(&self, after: After) {
        drop(after.graveyard);
        for t in after.timers {
            t.cancel();
        }
        if let Some(up) = after.cancel_up {
            up.cancel();
        }
        for g in after.wake {
            g.wake();
        }
        if after.wake_outer {
            self.outer.wake();
        }
        if let Some((sub, n)) = after.request {
            sub.request(n);
        }
    }

    /// The request that refills the budget, if one is due; reports a stall once.
    fn refill(&self, st: &mut CoreState<T, R>) -> Option<(Arc<dyn Subscription>, u64)> {
        if st.complete || st.error.is_some() {
            return None;
        }
        let room = self
            .prefetch
            .saturating_sub(st.in_flight)
            .saturating_sub(st.buffered);
        if room >= self.batch || (st.in_flight == 0 && room > 0) {
            let sub = st.up.clone()?;
            st.in_flight += room;
            st.stall_reported = false;
            return Some((sub, room));
        }
        if room == 0 && st.in_flight == 0 && !st.stall_reported {
            st.stall_reported = true;
            let largest = st
                .live
                .values()
                .map(|g| g.cell.state.lock().queue.len())
                .max()
                .unwrap_or(0);
            tracing::warn!(
                stage = %self.loc,
                budget = self.prefetch,
                largest_undrained_group = largest,
                "split stalled: every buffered item is held by groups nobody drains; the \
                 upstream waits until one is drained or cancelled"
            );
        }
        None
    }

    /// Ends every group and the outer stream (completion when `error` is `None`).
    fn finish(&self, st: &mut CoreState<T, R>, error: Option<Error>, after: &mut After) {
        match error {
            Some(e) => {
                st.error = Some(e.clone());
                for (_, g) in st.live.drain() {
                    let mut gs = g.cell.state.lock();
                    gs.error = Some(e.clone());
                    gs.queue.clear();
                    after.timers.extend(gs.timer.take());
                    drop(gs);
                    after.wake.push(g.cell);
                }
                let fresh = std::mem::take(&mut st.fresh);
                after.graveyard.push(Box::new(fresh));
                st.buffered = 0;
            }
            None => {
                st.complete = true;
                for (_, g) in st.live.drain() {
                    let mut gs = g.cell.state.lock();
                    gs.closed = true;
                    after.timers.extend(gs.timer.take());
                    drop(gs);
                    after.wake.push(g.cell);
                }
            }
        }
        st.open.clear();
        after.cancel_up = st.up.take();
        after.wake_outer = true;
    }

    fn fail(&self, error: Error) {
        let mut after = After::default();
        {
            let mut st = self.state.lock();
            if st.error.is_some() || st.complete {
                drop(st);
                report_undeliverable(error);
                return;
            }
            self.finish(&mut st, Some(error), &mut after);
        }
        self.run(after);
    }

    /// Closes the open group `id` (full or timed out): it completes once drained.
    fn close(&self, st: &mut CoreState<T, R>, id: u64, after: &mut After) {
        let Some(g) = st.live.remove(&id) else { return };
        st.open.remove(&g.key);
        st.router.closed(&g.key);
        let mut gs = g.cell.state.lock();
        gs.closed = true;
        after.timers.extend(gs.timer.take());
        drop(gs);
        after.wake.push(g.cell);
        // Its buffered items still count until they are consumed.
        self.cancel_if_abandoned(st, after);
    }

    fn cancel_if_abandoned(&self, st: &mut CoreState<T, R>, after: &mut After) {
        if st.outer_cancelled && st.live.is_empty() {
            after.cancel_up = st.up.take();
        }
    }

    fn timed_out(&self, id: u64) {
        let mut after = After::default();
        {
            let mut st = self.state.lock();
            if st.complete || st.error.is_some() {
                return;
            }
            self.close(&mut st, id, &mut after);
        }
        self.run(after);
    }

    fn on_item(&self, item: T) {
        let mut after = After::default();
        {
            let mut st = self.state.lock();
            if st.complete || st.error.is_some() {
                return; // in flight when the split ended
            }
            if st.in_flight == 0 {
                drop(st);
                return self.fail(
                    Error::violation(Rule::R1_1, "the upstream sent more items than requested")
                        .at_stage(self.loc),
                );
            }
            st.in_flight -= 1;
            let key = match guard(|| st.router.route(&item)) {
                Ok(k) => k,
                Err(p) => {
                    self.finish(&mut st, Some(closure_panic(p, self.loc)), &mut after);
                    drop(st);
                    return self.run(after);
                }
            };
            let id = match st.open.get(&key) {
                Some(id) => *id,
                None if st.outer_cancelled => {
                    // Nobody can receive a new group: the item is dropped.
                    after.request = self.refill(&mut st);
                    drop(st);
                    return self.run(after);
                }
                None if st.live.len() >= self.max_groups => {
                    let e = Error::msg(format!(
                        "group_by: a new key arrived while max_groups ({}) groups were open",
                        self.max_groups
                    ))
                    .at_stage(self.loc);
                    self.finish(&mut st, Some(e), &mut after);
                    drop(st);
                    return self.run(after);
                }
                None => self.open_group(&mut st, key.clone(), &mut after),
            };
            let cell = Arc::clone(&st.live[&id].cell);
            let full = {
                let mut gs = cell.state.lock();
                if gs.gone {
                    false
                } else {
                    gs.queue.push_back(item);
                    gs.count += 1;
                    st.buffered += 1;
                    st.router.full(gs.count)
                }
            };
            after.wake.push(cell);
            if full {
                self.close(&mut st, id, &mut after);
            }
            if after.request.is_none() {
                after.request = self.refill(&mut st);
            }
        }
        self.run(after);
    }

    fn open_group(&self, st: &mut CoreState<T, R>, key: R::Key, after: &mut After) -> u64 {
        let id = st.next_id;
        st.next_id += 1;
        let cell = GroupCell::new();
        let parent: Weak<dyn Parent> = self.me.clone();
        st.open.insert(key.clone(), id);
        st.live.insert(
            id,
            Live {
                key: key.clone(),
                cell: Arc::clone(&cell),
            },
        );
        if let Some((d, scheduler)) = &self.timeout {
            let weak = self.me.clone();
            let fire = Box::new(move || {
                if let Some(core) = weak.upgrade() {
                    core.timed_out(id);
                }
            });
            match scheduler.execute_after(*d, fire) {
                Ok(t) => cell.state.lock().timer = Some(t),
                Err(r) => tracing::warn!(
                    stage = %self.loc, reason = %r.reason(),
                    "window_timeout: the scheduler refused the timer; the window closes when full"
                ),
            }
        }
        st.fresh.push_back(GroupedPublisher {
            key,
            id,
            cell,
            parent,
            loc: self.loc,
        });
        after.wake_outer = true;
        id
    }
}

impl<T, R> Parent for Split<T, R>
where
    T: Send + 'static,
    R: Router<T>,
{
    fn consumed(&self, n: u64) {
        let request = {
            let mut st = self.state.lock();
            st.buffered = st.buffered.saturating_sub(n);
            self.refill(&mut st)
        };
        if let Some((sub, n)) = request {
            sub.request(n);
        }
    }

    fn gone(&self, id: u64, dropped: u64) {
        let mut after = After::default();
        {
            let mut st = self.state.lock();
            st.buffered = st.buffered.saturating_sub(dropped);
            if let Some(g) = st.live.remove(&id) {
                st.open.remove(&g.key);
                st.router.closed(&g.key);
            }
            self.cancel_if_abandoned(&mut st, &mut after);
            after.request = self.refill(&mut st);
        }
        self.run(after);
    }
}

/// Subscribes `subscriber` (the outer stream) and the upstream to a new split.
pub(crate) fn split<P, R, S>(
    upstream: &P,
    subscriber: S,
    router: R,
    prefetch: u64,
    max_groups: usize,
    timeout: Option<(Duration, Arc<dyn Scheduler>)>,
    loc: Loc,
) where
    P: Publisher,
    P::Item: Send + 'static,
    R: Router<P::Item>,
    S: Subscriber<GroupedPublisher<R::Key, P::Item>> + Send + 'static,
{
    let core = Arc::new_cyclic(|me| Split {
        state: Mutex::new(CoreState {
            router,
            up: None,
            subscribed: false,
            open: HashMap::new(),
            live: HashMap::new(),
            next_id: 0,
            fresh: VecDeque::new(),
            in_flight: 0,
            buffered: 0,
            complete: false,
            error: None,
            outer_cancelled: false,
            stall_reported: false,
        }),
        outer: Waker::default(),
        prefetch,
        batch: (prefetch - prefetch / 4).max(1),
        max_groups,
        timeout,
        loc,
        me: me.clone(),
    });
    let c = Arc::clone(&core);
    pull::serve_with(
        move |handle| {
            c.outer.set(handle);
            OuterSource { core: c }.at(loc)
        },
        subscriber,
    );
    {
        let st = core.state.lock();
        if st.outer_cancelled || st.error.is_some() {
            return;
        }
    }
    upstream.subscribe(SplitInput { core });
}

struct SplitInput<T, R: Router<T>> {
    core: Arc<Split<T, R>>,
}

impl<T: Send + 'static, R: Router<T>> Subscriber<T> for SplitInput<T, R> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let request = {
            let mut st = self.core.state.lock();
            if st.subscribed || st.error.is_some() || st.outer_cancelled {
                None
            } else {
                st.subscribed = true;
                st.up = Some(Arc::clone(&s));
                Some(self.core.refill(&mut st))
            }
        };
        match request {
            None => s.cancel(),
            Some(Some((sub, n))) => sub.request(n),
            Some(None) => {}
        }
    }
    fn on_next(&mut self, item: T) {
        self.core.on_item(item);
    }
    fn on_error(&mut self, error: Error) {
        self.core.fail(error);
    }
    fn on_complete(&mut self) {
        let mut after = After::default();
        {
            let mut st = self.core.state.lock();
            if st.complete || st.error.is_some() {
                return;
            }
            self.core.finish(&mut st, None, &mut after);
            after.cancel_up = None; // completed: nothing to cancel
        }
        self.core.run(after);
    }
}

struct OuterSource<T, R: Router<T>> {
    core: Arc<Split<T, R>>,
}

impl<T: Send + 'static, R: Router<T>> Source for OuterSource<T, R> {
    type Item = GroupedPublisher<R::Key, T>;

    fn stage_name(&self) -> &'static str {
        "group_by"
    }
    fn pull(&mut self) -> Step<Self::Item> {
        let mut st = self.core.state.lock();
        if let Some(g) = st.fresh.pop_front() {
            return Step::Next(g);
        }
        if let Some(e) = &st.error {
            return Step::Error(e.clone());
        }
        if st.complete {
            Step::Complete
        } else {
            Step::Pending
        }
    }
    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        st.fresh.is_empty() && (st.complete || st.error.is_some())
    }
}

impl<T, R: Router<T>> Drop for OuterSource<T, R> {
    fn drop(&mut self) {
        // Groups never emitted are dropped here, outside the lock (their Drop calls `gone`).
        let fresh = {
            let mut st = self.core.state.lock();
            st.outer_cancelled = true;
            std::mem::take(&mut st.fresh)
        };
        drop(fresh);
        let up = {
            let mut st = self.core.state.lock();
            if st.live.is_empty() {
                st.up.take()
            } else {
                None
            }
        };
        if let Some(up) = up {
            up.cancel();
        }
    }
}

// ---------------------------------------------------------------- the three publishers

/// Routes by a key function (`group_by`).
pub(crate) struct ByKey<F>(pub(crate) Arc<F>);

impl<T, K, F> Router<T> for ByKey<F>
where
    F: Fn(&T) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Key = K;
    fn route(&mut self, item: &T) -> K {
        (self.0)(item)
    }
}

/// Routes consecutive runs of `n` items (`window`, `window_timeout`).
pub(crate) struct Windows {
    n: u64,
    index: u64,
}

impl<T> Router<T> for Windows {
    type Key = u64;
    fn route(&mut self, _: &T) -> u64 {
        self.index
    }
    fn full(&self, count: u64) -> bool {
        count >= self.n
    }
    fn closed(&mut self, key: &u64) {
        if *key == self.index {
            self.index += 1;
        }
    }
}

/// The publisher made by [`PublisherExt::group_by`](crate::PublisherExt::group_by): one
/// [`GroupedPublisher`] per key, emitted (on outer demand) when the key's first item arrives.
///
/// **Demand and buffers.** The upstream is asked for items against one budget of
/// `group_prefetch` items: requested-and-not-arrived plus queued in any group never exceeds it
/// (Reactor's `groupBy(key, prefetch)` accounting). Items leave the budget when a group's
/// subscriber receives them, or when a group is cancelled and its queue dropped; the upstream is
/// asked again in batches of 75% of the budget, or for whatever room there is once nothing is
/// in flight. At most `max_groups` groups are open at once; a new key beyond that fails the
/// stream (and every group) with an error naming the bound. `0` for either size fails the
/// subscriber at once.
///
/// **The hang policy.** A group that nobody drains keeps its items, the budget fills up, and
/// **the upstream waits** — every other group waits with it (the alternative, buffering without
/// bound, is worse). It is never silent: when the budget is full with nothing in flight a
/// `tracing` warning reports the stall and the size of the largest undrained group, and each
/// [`GroupedPublisher::buffered`] shows who holds the items. A `GroupedPublisher` dropped
/// without being subscribed is cancelled (its items released: Rust's ownership removes the most
/// common form of the hang, where Reactor would wait forever). A cancelled group is forgotten:
/// the next item with its key creates a new group, emitted on the outer stream.
///
/// **Cancel.** Cancelling the outer stream cancels the groups not yet emitted; the upstream is
/// cancelled once the outer stream and every emitted group are cancelled or finished (as in
/// Reactor), so groups already handed out keep working. A panic in `key` fails the outer stream
/// and every group with rule 2.13 and the assembly location, and cancels the upstream.
#[derive(Debug)]
pub struct GroupBy<P, F> {
    pub(crate) upstream: P,
    pub(crate) key: Arc<F>,
    pub(crate) max_groups: usize,
    pub(crate) group_prefetch: usize,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for GroupBy<P, F> {
    fn clone(&self) -> Self {
        GroupBy {
            upstream: self.upstream.clone(),
            key: Arc::clone(&self.key),
            max_groups: self.max_groups,
            group_prefetch: self.group_prefetch,
            loc: self.loc,
        }
    }
}

impl<P, F, K> Publisher for GroupBy<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    type Item = GroupedPublisher<K, P::Item>;
    fn subscribe<S: Subscriber<Self::Item> + Send + 'static>(&self, subscriber: S) {
        if self.max_groups == 0 || self.group_prefetch == 0 {
            let e = Error::msg(format!(
                "group_by: max_groups and group_prefetch must be at least 1, got {} and {}",
                self.max_groups, self.group_prefetch
            ));
            return reject(subscriber, e.at_stage(self.loc));
        }
        split(
            &self.upstream,
            subscriber,
            ByKey(Arc::clone(&self.key)),
            self.group_prefetch as u64,
            self.max_groups,
            None,
            self.loc,
        );
    }
}

/// The publisher made by [`PublisherExt::window`](crate::PublisherExt::window) and
/// [`window_timeout`](crate::PublisherExt::window_timeout): consecutive [`Window`]s of at most
/// `n` items, each opened by its first item (so never empty) and closed when full, after `d`
/// (`window_timeout`), or at the upstream's end.
///
/// Demand and buffers follow [`GroupBy`] with a budget of `n` items: a window that is held but
/// not drained stalls the upstream (reported the same way); one dropped unsubscribed is
/// cancelled and its items released; a cancelled window is closed, and the next item opens a
/// new one. `n = 0` fails the subscriber at once. Deviation: Reactor's `windowTimeout` also
/// emits empty windows on time; here a window only exists once it has an item.
pub struct WindowPub<P> {
    pub(crate) upstream: P,
    pub(crate) n: usize,
    pub(crate) timeout: Option<(Duration, Arc<dyn Scheduler>)>,
    pub(crate) loc: Loc,
}

impl<P: Clone> Clone for WindowPub<P> {
    fn clone(&self) -> Self {
        WindowPub {
            upstream: self.upstream.clone(),
            n: self.n,
            timeout: self.timeout.clone(),
            loc: self.loc,
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for WindowPub<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("upstream", &self.upstream)
            .field("n", &self.n)
            .field("timeout", &self.timeout.as_ref().map(|(d, _)| d))
            .finish()
    }
}

impl<P> Publisher for WindowPub<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Window<P::Item>;
    fn subscribe<S: Subscriber<Self::Item> + Send + 'static>(&self, subscriber: S) {
        if self.n == 0 {
            let e = Error::msg("window: n must be at least 1, got 0").at_stage(self.loc);
            return reject(subscriber, e);
        }
        let n = self.n as u64;
        split(
            &self.upstream,
            subscriber,
            Windows { n, index: 0 },
            n,
            usize::MAX,
            self.timeout.clone(),
            self.loc,
        );
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(GroupedPublisher<K, T> => "group", "its queue is counted at its group_by or window");
