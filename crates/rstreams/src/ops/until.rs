//! `take_until(other)` and `skip_until(other)`: a second publisher's first signal ends or starts
//! the flow. Built on the pull kit with a [`MainLane`] (see [`relay`](super::relay)).

use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription, report_undeliverable};

use super::relay::{MainHost, MainIn, MainLane, Waker, pull_main, pull_one};
use crate::stage::Loc;

/// The publisher made by [`PublisherExt::take_until`](crate::PublisherExt::take_until): relays
/// the upstream's items until `other` signals its first item or completes, then completes and
/// cancels both.
///
/// * Demand: the upstream is asked for the downstream's outstanding demand (never more), in
///   requests of at most [`RELAY_BATCH`](crate::ops::RELAY_BATCH); `other` is asked for one
///   item.
/// * Buffer: at most `min(outstanding demand, RELAY_BATCH)` items (a synchronous upstream
///   delivers inside the request); items still queued when `other` fires are dropped with the
///   upstream.
/// * `other`'s error fails the stream; the upstream's completion or error cancels `other`.
///
/// Subscription order follows Reactor's `takeUntilOther`: `other` first, then the upstream.
/// Deviation: Reactor asks `other` for unbounded demand; one item is all that matters here.
#[derive(Clone, Debug)]
pub struct TakeUntil<P, Q> {
    pub(crate) upstream: P,
    pub(crate) other: Q,
    pub(crate) loc: Loc,
}

/// The publisher made by [`PublisherExt::skip_until`](crate::PublisherExt::skip_until): drops
/// the upstream's items until `other` signals its first item or completes, then relays the rest
/// and cancels `other`.
///
/// * Demand: the upstream is asked for the downstream's outstanding demand, in requests of at
///   most [`RELAY_BATCH`](crate::ops::RELAY_BATCH); what is dropped before the gate opens is
///   asked for again in batches (one request per drain pass, not per item). `other` is asked
///   for one item.
/// * Buffer: at most `min(outstanding demand, RELAY_BATCH)` items.
/// * `other`'s error before the gate opens fails the stream; after it, `other` is already
///   cancelled and a late error goes to the undeliverable hook.
///
/// Matches Reactor's `skipUntilOther` (opened by `other`'s `onNext` or `onComplete`).
#[derive(Clone, Debug)]
pub struct SkipUntil<P, Q> {
    pub(crate) upstream: P,
    pub(crate) other: Q,
    pub(crate) loc: Loc,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Take,
    Skip,
}

struct State<T> {
    main: MainLane<T>,
    other: Option<Arc<dyn Subscription>>,
    other_subscribed: bool,
    /// `other` signalled: taking has stopped / skipping has stopped.
    triggered: bool,
    error: Option<Error>,
    cancelled: bool,
}

struct Core<T> {
    state: Mutex<State<T>>,
    waker: Waker,
    mode: Mode,
    loc: Loc,
}

impl<T> Core<T> {
    fn trigger(&self) {
        let subs = {
            let mut st = self.state.lock();
            if st.triggered || st.cancelled || st.error.is_some() {
                return;
            }
            st.triggered = true;
            let main = match self.mode {
                Mode::Take => st.main.take_sub(),
                Mode::Skip => None,
            };
            [main, st.other.take()]
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
        self.waker.wake();
    }
}

fn subscribe_until<P, Q, S>(upstream: &P, other: &Q, subscriber: S, mode: Mode, loc: Loc)
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
    S: Subscriber<P::Item> + Send + 'static,
{
    let core = Arc::new(Core {
        state: Mutex::new(State {
            main: MainLane::new(),
            other: None,
            other_subscribed: false,
            triggered: false,
            error: None,
            cancelled: false,
        }),
        waker: Waker::default(),
        mode,
        loc,
    });
    let c = Arc::clone(&core);
    pull::serve_with(
        move |handle| {
            c.waker.set(handle);
            UntilSource { core: c }.at(loc)
        },
        subscriber,
    );
    if core.over(&core.state.lock()) {
        return;
    }
    other.subscribe(OtherIn {
        core: Arc::clone(&core),
    });
    if core.over(&core.state.lock()) {
        return;
    }
    upstream.subscribe(MainIn(core));
}

impl<P, Q> Publisher for TakeUntil<P, Q>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        subscribe_until(
            &self.upstream,
            &self.other,
            subscriber,
            Mode::Take,
            self.loc,
        );
    }
}

impl<P, Q> Publisher for SkipUntil<P, Q>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        subscribe_until(
            &self.upstream,
            &self.other,
            subscriber,
            Mode::Skip,
            self.loc,
        );
    }
}

impl<T> MainHost<T> for Core<T> {
    type State = State<T>;
    fn state(&self) -> &Mutex<State<T>> {
        &self.state
    }
    fn lane(st: &mut State<T>) -> &mut MainLane<T> {
        &mut st.main
    }
    fn other(st: &mut State<T>) -> &mut Option<Arc<dyn Subscription>> {
        &mut st.other
    }
    fn error(st: &mut State<T>) -> &mut Option<Error> {
        &mut st.error
    }
    fn over(&self, st: &State<T>) -> bool {
        st.cancelled || st.error.is_some() || (self.mode == Mode::Take && st.triggered)
    }
    fn drops(&self, st: &State<T>) -> bool {
        self.mode == Mode::Skip && !st.triggered
    }
    fn waker(&self) -> &Waker {
        &self.waker
    }
    fn loc(&self) -> Loc {
        self.loc
    }
}

struct OtherIn<T> {
    core: Arc<Core<T>>,
}

impl<T, U> Subscriber<U> for OtherIn<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            if self.core.over(&st) || st.triggered || st.other_subscribed || st.main.complete {
                false
            } else {
                st.other_subscribed = true;
                st.other = Some(Arc::clone(&s));
                true
            }
        };
        if accepted {
            s.request(1);
        } else {
            s.cancel();
        }
    }
    fn on_next(&mut self, _: U) {
        self.core.trigger();
    }
    fn on_error(&mut self, error: Error) {
        if self.core.state.lock().triggered {
            report_undeliverable(error);
        } else {
            self.core.fail(error);
        }
    }
    fn on_complete(&mut self) {
        self.core.trigger();
    }
}

struct UntilSource<T> {
    core: Arc<Core<T>>,
}

impl<T: Send + 'static> Source for UntilSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "until"
    }

    fn pull(&mut self) -> Step<T> {
        pull_one(|emit| self.pull_many(1, emit))
    }

    fn pull_many<F>(&mut self, limit: u64, emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        let mode = self.core.mode;
        pull_main(
            &self.core.state,
            limit,
            emit,
            |st| &mut st.main,
            |st| match &st.error {
                Some(e) => Some(Step::Error(e.clone())),
                None if mode == Mode::Take && st.triggered => Some(Step::Complete),
                None => None,
            },
            |_, item| Ok(item),
        )
    }

    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        st.error.is_some() || (self.core.mode == Mode::Take && st.triggered) || st.main.exhausted()
    }
}

impl<T> Drop for UntilSource<T> {
    fn drop(&mut self) {
        let subs = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            [st.main.take_sub(), st.other.take()]
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
    }
}
