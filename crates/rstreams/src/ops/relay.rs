//! The main input of a multi-input operator built on the pull kit, with pass-through demand:
//! the shared piece of `take_until`, `skip_until`, `with_latest_from` and the rate operators.
//!
//! Such an operator serves its downstream with [`pull::serve_with`]: the kit owns the
//! downstream, its demand, the serial drain and every publisher rule. Its inputs (the main
//! upstream, a trigger, a timer) only change a mutex-guarded state and
//! [`wake`](PullHandle::wake) the kit. The main upstream is asked for items from inside
//! `Source::pull_many`, where the kit passes the downstream's exact outstanding demand: a
//! [`MainLane`] tops the upstream's outstanding requests up to that demand and no further, so
//!
//! * the upstream is never asked for more than the downstream asked for, minus what is already
//!   on its way or queued (an item the stage drops is asked for again on the next pass);
//! * the queue holds at most the downstream's outstanding demand and never more than
//!   [`RELAY_BATCH`] items: a synchronous upstream delivers inside the `request`, so a larger
//!   request (or `u64::MAX`) would fill the queue without bound before anything went downstream;
//!   the upstream sees requests of at most `RELAY_BATCH`, one per drain pass;
//! * an item beyond what was requested is a rule-1.1 violation of the upstream, reported as such.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rstreams_protocol::pull::{PullHandle, Step};
use rstreams_protocol::{Error, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::Loc;

/// The largest request `take_until`, `skip_until` and `with_latest_from` send upstream at
/// once, and so the bound of their queue (items that arrive during one drain pass).
pub const RELAY_BATCH: u64 = 256;

/// The main upstream's queue and demand bookkeeping (kept inside the operator's mutex).
pub(crate) struct MainLane<T> {
    pub(crate) queue: VecDeque<T>,
    sub: Option<Arc<dyn Subscription>>,
    /// Requested from the upstream and not yet received.
    outstanding: u64,
    /// The upstream completed.
    pub(crate) complete: bool,
    /// `on_subscribe` was accepted once (rule 2.5 for a second one).
    subscribed: bool,
}

/// What [`MainLane::push`] found.
pub(crate) enum Pushed {
    Queued,
    /// More items than requested: the upstream broke rule 1.1.
    Overflow,
}

impl<T> MainLane<T> {
    pub(crate) fn new() -> Self {
        MainLane {
            queue: VecDeque::new(),
            sub: None,
            outstanding: 0,
            complete: false,
            subscribed: false,
        }
    }

    /// Accepts the upstream's subscription; `false` when one was already accepted (the caller
    /// cancels the new one, rule 2.5).
    pub(crate) fn accept(&mut self, s: &Arc<dyn Subscription>) -> bool {
        if self.subscribed {
            return false;
        }
        self.subscribed = true;
        self.sub = Some(Arc::clone(s));
        true
    }

    /// Records one arrived item without queueing it (the stage dropped it): its unit of demand
    /// will be asked for again by the next [`top_up`](Self::top_up).
    pub(crate) fn arrived(&mut self) -> Result<(), Pushed> {
        if self.outstanding == 0 {
            return Err(Pushed::Overflow);
        }
        self.outstanding -= 1;
        Ok(())
    }

    /// Records and queues one arrived item.
    pub(crate) fn push(&mut self, item: T) -> Pushed {
        match self.arrived() {
            Ok(()) => {
                self.queue.push_back(item);
                Pushed::Queued
            }
            Err(e) => e,
        }
    }

    /// The request that brings the upstream's outstanding demand (queued items included) up to
    /// `want` (the downstream's unmet demand) capped at [`RELAY_BATCH`]; `None` when nothing
    /// needs asking.
    pub(crate) fn top_up(&mut self, want: u64) -> Option<(Arc<dyn Subscription>, u64)> {
        let want = want.min(RELAY_BATCH);
        if self.complete || want == 0 {
            return None;
        }
        let sub = self.sub.clone()?;
        let have = self.outstanding.saturating_add(self.queue.len() as u64);
        if want <= have {
            return None;
        }
        let n = want - have;
        self.outstanding += n;
        Some((sub, n))
    }

    /// The upstream completed: nothing more will arrive.
    pub(crate) fn completed(&mut self) {
        self.complete = true;
        self.sub = None;
    }

    /// Takes the subscription to cancel it (and drops what was queued).
    pub(crate) fn take_sub(&mut self) -> Option<Arc<dyn Subscription>> {
        self.queue.clear();
        self.sub.take()
    }

    /// Completed with nothing queued.
    pub(crate) fn exhausted(&self) -> bool {
        self.complete && self.queue.is_empty()
    }
}

/// The kit's handle, set once the downstream is being served.
#[derive(Default)]
pub(crate) struct Waker(OnceLock<PullHandle>);

impl Waker {
    pub(crate) fn set(&self, handle: PullHandle) {
        let _ = self.0.set(handle);
    }
    pub(crate) fn wake(&self) {
        if let Some(h) = self.0.get() {
            h.wake();
        }
    }
}

/// The `Source::pull_many` of an operator whose output comes from a [`MainLane`]: first asks
/// `ended` whether the stream is over (an error, a trigger), then hands out queued items through
/// `map` (which sees the state, e.g. for a latest value; an `Err` ends the stream) until `limit`
/// or until `emit` says stop; with the queue empty, completes if the upstream has, or tops the
/// upstream's demand up to what is left of `limit` and reports `Pending` (whatever the request
/// delivers synchronously wakes the kit, which comes back here).
pub(crate) fn pull_main<St, T, R>(
    state: &Mutex<St>,
    limit: u64,
    mut emit: impl FnMut(R) -> bool,
    lane: impl Fn(&mut St) -> &mut MainLane<T>,
    ended: impl Fn(&St) -> Option<Step<R>>,
    mut map: impl FnMut(&mut St, T) -> Result<R, Error>,
) -> (u64, Option<Step<R>>) {
    let mut handed = 0;
    loop {
        let mut st = state.lock();
        if let Some(step) = ended(&st) {
            return (handed, Some(step));
        }
        let Some(item) = lane(&mut st).queue.pop_front() else {
            if lane(&mut st).complete {
                return (handed, Some(Step::Complete));
            }
            let request = lane(&mut st).top_up(limit - handed);
            drop(st);
            if let Some((sub, n)) = request {
                sub.request(n);
            }
            return (handed, Some(Step::Pending));
        };
        let out = map(&mut st, item);
        drop(st);
        match out {
            Ok(r) => {
                handed += 1;
                if !emit(r) || handed == limit {
                    return (handed, None);
                }
            }
            Err(e) => return (handed, Some(Step::Error(e))),
        }
    }
}

/// `Source::pull` for a source whose real work is in `pull_many`: one item.
pub(crate) fn pull_one<R>(
    pull_many: impl FnOnce(&mut dyn FnMut(R) -> bool) -> (u64, Option<Step<R>>),
) -> Step<R> {
    let mut slot = None;
    let (_, stop) = pull_many(&mut |item| {
        slot = Some(item);
        true
    });
    match (slot, stop) {
        (Some(item), _) => Step::Next(item),
        (None, Some(step)) => step,
        (None, None) => Step::Pending,
    }
}

/// What a [`MainIn`] needs from the operator whose main upstream it receives
/// (`take_until`/`skip_until`, `with_latest_from`): the state under its mutex, and what in it
/// ends the stream or drops an item.
pub(crate) trait MainHost<T> {
    /// The operator's mutex-guarded state.
    type State;
    fn state(&self) -> &Mutex<Self::State>;
    fn lane(st: &mut Self::State) -> &mut MainLane<T>;
    /// The other input's subscription, if any (taken when the stream ends).
    fn other(st: &mut Self::State) -> &mut Option<Arc<dyn Subscription>>;
    fn error(st: &mut Self::State) -> &mut Option<Error>;
    /// The stream has ended (cancelled, failed, or the operator is done).
    fn over(&self, st: &Self::State) -> bool;
    /// An arriving item is dropped (its demand asked for again) rather than queued.
    fn drops(&self, st: &Self::State) -> bool;
    fn waker(&self) -> &Waker;
    fn loc(&self) -> Loc;

    /// Ends the stream with `error` (once; a later one is undeliverable): both inputs are
    /// cancelled and the kit's next pass sends it.
    fn fail(&self, error: Error) {
        let subs = {
            let mut st = self.state().lock();
            if self.over(&st) {
                drop(st);
                report_undeliverable(error);
                return;
            }
            *Self::error(&mut st) = Some(error);
            [Self::lane(&mut st).take_sub(), Self::other(&mut st).take()]
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
        self.waker().wake();
    }
}

/// The subscriber to an operator's main upstream: queues what arrives in the host's
/// [`MainLane`] and wakes the kit.
pub(crate) struct MainIn<H>(pub(crate) Arc<H>);

impl<T: Send + 'static, H: MainHost<T>> Subscriber<T> for MainIn<H> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.0.state().lock();
            !self.0.over(&st) && H::lane(&mut st).accept(&s)
        };
        if accepted {
            // The kit's next pass asks for the downstream's demand.
            self.0.waker().wake();
        } else {
            s.cancel();
        }
    }

    fn on_next(&mut self, item: T) {
        let pushed = {
            let mut st = self.0.state().lock();
            if self.0.over(&st) {
                return; // in flight when the stream ended: dropped with the upstream
            }
            if self.0.drops(&st) {
                H::lane(&mut st).arrived().map(|()| Pushed::Queued)
            } else {
                Ok(H::lane(&mut st).push(item))
            }
        };
        match pushed {
            Ok(Pushed::Queued) => self.0.waker().wake(),
            Ok(Pushed::Overflow) | Err(_) => self.0.fail(
                Error::violation(Rule::R1_1, "the upstream sent more items than requested")
                    .at_stage(self.0.loc()),
            ),
        }
    }

    fn on_error(&mut self, error: Error) {
        self.0.fail(error);
    }

    fn on_complete(&mut self) {
        let other = {
            let mut st = self.0.state().lock();
            H::lane(&mut st).completed();
            H::other(&mut st).take()
        };
        // The upstream is done: `other` is no longer needed.
        if let Some(o) = other {
            o.cancel();
        }
        self.0.waker().wake();
    }
}
