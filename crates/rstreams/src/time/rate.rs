//! Rate operators on a scheduler: [`Debounce`], [`ThrottleFirst`] and [`Sample`].
//!
//! All three drop items by design, so they ask the upstream for unbounded demand (as Reactor and
//! RxJava do) and keep at most two items: the candidate (`pending`) and one item due downstream
//! (`ready`). The downstream is served by the pull kit; timers (the scheduler's public API only)
//! and the upstream update the state and wake it, so on a
//! [`ManualExecutor`](rstreams_executor::ManualExecutor) every outcome is deterministic.
//!
//! **When the downstream has no demand** and a new item becomes due while `ready` is still
//! occupied, `debounce` and `sample` replace it (the newest value wins) and `throttle_first`
//! keeps it (the first value wins); each such loss is logged at `debug`. Reactor and RxJava
//! fail with an overflow error instead; a rate operator exists to drop, so dropping by a
//! stated rule is the Rust-side choice.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::{Scheduler, TimerHandle};
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription, report_undeliverable};

use crate::ops::relay::Waker;
use crate::stage::Loc;

macro_rules! rate_struct {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub struct $name<P> {
            pub(crate) upstream: P,
            pub(crate) d: Duration,
            pub(crate) scheduler: Arc<dyn Scheduler>,
            pub(crate) loc: Loc,
        }

        impl<P: Clone> Clone for $name<P> {
            fn clone(&self) -> Self {
                $name {
                    upstream: self.upstream.clone(),
                    d: self.d,
                    scheduler: Arc::clone(&self.scheduler),
                    loc: self.loc,
                }
            }
        }

        impl<P: fmt::Debug> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("upstream", &self.upstream)
                    .field("d", &self.d)
                    .finish()
            }
        }

        impl<P> Publisher for $name<P>
        where
            P: Publisher,
            P::Item: Send + 'static,
        {
            type Item = P::Item;
            fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
                subscribe_rate(&self.upstream, subscriber, $kind, self.d, &self.scheduler, self.loc);
            }
        }
    };
}

rate_struct!(
    /// The publisher made by [`PublisherExt::debounce`](crate::PublisherExt::debounce): emits an
    /// item only once `d` has passed without a newer one; the last item is emitted at once when
    /// the upstream completes. Upstream demand: unbounded (items are dropped by design).
    /// Buffer: two items, the candidate and one due downstream; if the downstream has no demand
    /// when a newer item is due, the newer replaces the older (logged at `debug`; Reactor fails
    /// with an overflow error instead). An upstream error drops what waits and is passed on.
    Debounce,
    Kind::Debounce
);

rate_struct!(
    /// The publisher made by [`PublisherExt::throttle_first`](crate::PublisherExt::throttle_first):
    /// emits an item, then drops every item for `d`, then emits the next one, and so on.
    /// Upstream demand: unbounded. Buffer: one item; if the downstream has not taken it when the
    /// next window opens, the newer item is dropped (the first wins, logged at `debug`; RxJava
    /// fails with `MissingBackpressureException` instead).
    ThrottleFirst,
    Kind::ThrottleFirst
);

rate_struct!(
    /// The publisher made by [`PublisherExt::sample`](crate::PublisherExt::sample): every `d`
    /// (from the subscription on), emits the latest item that arrived in that period, if any.
    /// The latest unemitted item is also emitted when the upstream completes (like Reactor's
    /// `sample(Duration)`; RxJava's `sample` drops it unless `emitLast` is set). Upstream
    /// demand: unbounded. Buffer: two items; without downstream demand a newer sample replaces
    /// the older (logged at `debug`). The period timer is cancelled with the subscription.
    Sample,
    Kind::Sample
);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Debounce,
    ThrottleFirst,
    Sample,
}

struct State<T> {
    up: Option<Arc<dyn Subscription>>,
    subscribed: bool,
    /// Debounce: the item waiting for quiet. Sample: the latest item of the period.
    pending: Option<T>,
    /// The item due downstream.
    ready: Option<T>,
    /// Debounce: which item the armed timer is for.
    generation: u64,
    /// Throttle: inside the silent window.
    window: bool,
    timer: Option<TimerHandle>,
    complete: bool,
    error: Option<Error>,
    cancelled: bool,
}

impl<T> State<T> {
    fn make_ready(&mut self, item: T, kind: Kind) {
        match (&self.ready, kind) {
            (Some(_), Kind::ThrottleFirst) => {
                tracing::debug!(?kind, "no demand: the newer item is dropped");
            }
            (Some(_), _) => {
                tracing::debug!(?kind, "no demand: the older ready item is replaced");
                self.ready = Some(item);
            }
            (None, _) => self.ready = Some(item),
        }
    }

    fn over(&self) -> bool {
        self.cancelled || self.error.is_some()
    }
}

struct Core<T> {
    state: Mutex<State<T>>,
    waker: Waker,
    kind: Kind,
    d: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
    me: Weak<Core<T>>,
}

impl<T: Send + 'static> Core<T> {
    fn fail(&self, error: Error) {
        let (up, timer) = {
            let mut st = self.state.lock();
            if st.over() {
                drop(st);
                report_undeliverable(error);
                return;
            }
            st.error = Some(error);
            st.pending = None;
            st.ready = None;
            (st.up.take(), st.timer.take())
        };
        if let Some(t) = timer {
            t.cancel();
        }
        if let Some(up) = up {
            up.cancel();
        }
        self.waker.wake();
    }

    fn refused(&self, what: &str) -> Error {
        Error::msg(format!(
            "{:?}: the scheduler refused the timer ({what})",
            self.kind
        ))
        .at_stage(self.loc)
    }

    /// Arms a one-shot timer that calls `fired(generation)`.
    fn arm_once(&self, generation: u64) -> Result<TimerHandle, Error> {
        let weak = self.me.clone();
        self.scheduler
            .execute_after(
                self.d,
                Box::new(move || {
                    if let Some(core) = weak.upgrade() {
                        core.fired(generation);
                    }
                }),
            )
            .map_err(|r| self.refused(&r.reason().to_string()))
    }

    /// A one-shot timer fired (debounce: quiet for `d`; throttle: window over).
    fn fired(&self, generation: u64) {
        {
            let mut st = self.state.lock();
            if st.over() {
                return;
            }
            match self.kind {
                Kind::Debounce if st.generation == generation => {
                    st.timer = None;
                    if let Some(item) = st.pending.take() {
                        st.make_ready(item, self.kind);
                    }
                }
                Kind::ThrottleFirst => {
                    st.timer = None;
                    st.window = false;
                    return;
                }
                _ => return,
            }
        }
        self.waker.wake();
    }

    /// The sampling period ended.
    fn tick(&self) {
        {
            let mut st = self.state.lock();
            if st.over() {
                return;
            }
            match st.pending.take() {
                Some(item) => st.make_ready(item, self.kind),
                None => return,
            }
        }
        self.waker.wake();
    }

    fn on_item(&self, item: T) {
        let mut st = self.state.lock();
        if st.over() || st.complete {
            return;
        }
        match self.kind {
            Kind::Sample => st.pending = Some(item),
            Kind::Debounce => {
                st.pending = Some(item);
                st.generation += 1;
                let old = st.timer.take();
                let generation = st.generation;
                drop(st);
                if let Some(t) = old {
                    t.cancel();
                }
                // Armed outside the lock: a scheduler may run the task inline.
                match self.arm_once(generation) {
                    Ok(t) => {
                        let mut st = self.state.lock();
                        if st.generation == generation && !st.over() {
                            st.timer = Some(t);
                        } else {
                            t.cancel();
                        }
                    }
                    Err(e) => self.fail(e),
                }
            }
            Kind::ThrottleFirst => {
                if st.window {
                    return; // inside the window: dropped
                }
                st.window = true;
                st.make_ready(item, self.kind);
                drop(st);
                match self.arm_once(0) {
                    Ok(t) => {
                        let mut st = self.state.lock();
                        if st.window && !st.over() {
                            st.timer = Some(t);
                        }
                    }
                    Err(e) => return self.fail(e),
                }
                self.waker.wake();
            }
        }
    }
}

fn subscribe_rate<P, S>(
    upstream: &P,
    subscriber: S,
    kind: Kind,
    d: Duration,
    scheduler: &Arc<dyn Scheduler>,
    loc: Loc,
) where
    P: Publisher,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + Send + 'static,
{
    let core = Arc::new_cyclic(|me| Core {
        state: Mutex::new(State {
            up: None,
            subscribed: false,
            pending: None,
            ready: None,
            generation: 0,
            window: false,
            timer: None,
            complete: false,
            error: None,
            cancelled: false,
        }),
        waker: Waker::default(),
        kind,
        d,
        scheduler: Arc::clone(scheduler),
        loc,
        me: me.clone(),
    });
    let c = Arc::clone(&core);
    pull::serve_with(
        move |handle| {
            c.waker.set(handle);
            RateSource { core: c }.at(loc)
        },
        subscriber,
    );
    if kind == Kind::Sample {
        let weak = Arc::downgrade(&core);
        let periodic = core.scheduler.execute_at_fixed_rate(
            d,
            d,
            Arc::new(move || {
                if let Some(core) = weak.upgrade() {
                    core.tick();
                }
            }),
        );
        match periodic {
            Ok(t) => {
                let mut st = core.state.lock();
                if st.over() {
                    t.cancel();
                } else {
                    st.timer = Some(t);
                }
            }
            Err(r) => {
                let e = core.refused(&r.reason().to_string());
                core.fail(e);
                return;
            }
        }
    }
    if core.state.lock().over() {
        return;
    }
    upstream.subscribe(RateInput { core });
}

struct RateInput<T> {
    core: Arc<Core<T>>,
}

impl<T: Send + 'static> Subscriber<T> for RateInput<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            if st.over() || st.subscribed {
                false
            } else {
                st.subscribed = true;
                st.up = Some(Arc::clone(&s));
                true
            }
        };
        if accepted {
            // Items are dropped by design: the upstream may send at its own pace.
            s.request(u64::MAX);
        } else {
            s.cancel();
        }
    }
    fn on_next(&mut self, item: T) {
        self.core.on_item(item);
    }
    fn on_error(&mut self, error: Error) {
        self.core.fail(error);
    }
    fn on_complete(&mut self) {
        let timer = {
            let mut st = self.core.state.lock();
            if st.over() {
                return;
            }
            st.complete = true;
            st.up = None;
            if let Some(item) = st.pending.take() {
                // Debounce and sample: the last item goes out now.
                st.make_ready(item, self.core.kind);
            }
            st.timer.take()
        };
        if let Some(t) = timer {
            t.cancel();
        }
        self.core.waker.wake();
    }
}

struct RateSource<T> {
    core: Arc<Core<T>>,
}

impl<T: Send + 'static> Source for RateSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "rate"
    }
    fn pull(&mut self) -> Step<T> {
        let mut st = self.core.state.lock();
        if let Some(e) = &st.error {
            return Step::Error(e.clone());
        }
        if let Some(item) = st.ready.take() {
            return Step::Next(item);
        }
        if st.complete && st.pending.is_none() {
            return Step::Complete;
        }
        Step::Pending
    }
    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        st.error.is_some() || (st.complete && st.ready.is_none() && st.pending.is_none())
    }
}

impl<T> Drop for RateSource<T> {
    fn drop(&mut self) {
        let (up, timer) = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            st.pending = None;
            st.ready = None;
            (st.up.take(), st.timer.take())
        };
        if let Some(t) = timer {
            t.cancel();
        }
        if let Some(up) = up {
            up.cancel();
        }
    }
}
