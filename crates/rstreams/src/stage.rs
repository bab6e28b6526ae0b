//! The one place where user closures are called under `catch_unwind`, and the upstream link every
//! intermediate stage keeps.
//!
//! Every operator routes a panicking closure through [`Link::panicked`]: the upstream is
//! cancelled, the downstream receives `on_error` with rule 2.13 and the stage's location, and
//! every later upstream signal is ignored.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::Arc;

use rstreams_protocol::{Error, Rule, Subscriber, Subscription, report_undeliverable};

/// Where a stage was built.
pub(crate) type Loc = &'static Location<'static>;

/// A caught panic payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Runs a user closure, catching a panic.
#[inline(always)]
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> Result<R, Payload> {
    catch_unwind(AssertUnwindSafe(f))
}

/// The error for a panic caught in a user closure at the stage built at `loc` (rule 2.13).
pub(crate) fn closure_panic(payload: Payload, loc: Loc) -> Error {
    let error = Error::from_panic(Rule::R2_13, payload).at_stage(loc);
    tracing::debug!(%error, "operator closure panicked");
    error
}

/// Hands the items of a drained batch to a pull kit's `emit` in order (the shape of
/// `Source::pull_many` for sources that take a run of queued items under one lock). Stops when
/// `emit` returns `false` (the subscription was cancelled) and drops the rest. Returns how many
/// items were handed over and whether `emit` stopped it.
#[inline]
pub(crate) fn emit_batch<T>(
    batch: &mut VecDeque<T>,
    emit: &mut impl FnMut(T) -> bool,
) -> (u64, bool) {
    let mut emitted = 0;
    while let Some(item) = batch.pop_front() {
        emitted += 1;
        if !emit(item) {
            batch.clear();
            return (emitted, true);
        }
    }
    (emitted, false)
}

/// The state every intermediate subscriber shares: its downstream, its upstream subscription and
/// whether it has finished (after which upstream signals are ignored).
pub(crate) struct Link<S> {
    pub(crate) down: S,
    pub(crate) up: Option<Arc<dyn Subscription>>,
    pub(crate) done: bool,
    pub(crate) loc: Loc,
}

impl<S> Link<S> {
    pub(crate) fn new(down: S, loc: Loc) -> Self {
        Self {
            down,
            up: None,
            done: false,
            loc,
        }
    }

    /// Accepts the upstream subscription. Returns it shared, or `None` (after cancelling it) when
    /// this stage already has one or has finished (rule 2.5).
    pub(crate) fn accept(&mut self, s: Box<dyn Subscription>) -> Option<Arc<dyn Subscription>> {
        if self.up.is_some() || self.done {
            tracing::debug!(stage = %self.loc, "second on_subscribe: cancelling it (rule 2.5)");
            s.cancel();
            return None;
        }
        let up: Arc<dyn Subscription> = Arc::from(s);
        self.up = Some(Arc::clone(&up));
        Some(up)
    }

    /// Cancels upstream and marks the stage finished; no terminal signal is sent.
    pub(crate) fn cancel_upstream(&mut self) {
        self.done = true;
        if let Some(up) = self.up.take() {
            up.cancel();
        }
    }
}

impl<S> Link<S> {
    /// A user closure panicked: cancel upstream, tell downstream (rule 2.13), ignore the rest.
    pub(crate) fn panicked<T>(&mut self, payload: Payload)
    where
        S: Subscriber<T>,
    {
        let error = closure_panic(payload, self.loc);
        self.cancel_upstream();
        self.down.on_error(error);
    }

    /// Ends the stream early with success (cancels upstream).
    pub(crate) fn finish<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        self.cancel_upstream();
        self.down.on_complete();
    }

    /// Forwards an upstream error unless finished (then it is reported as undeliverable).
    pub(crate) fn upstream_error<T>(&mut self, error: Error)
    where
        S: Subscriber<T>,
    {
        if self.done {
            report_undeliverable(error);
            return;
        }
        self.done = true;
        self.up = None;
        self.down.on_error(error);
    }

    /// Forwards upstream completion unless finished.
    pub(crate) fn upstream_complete<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        if self.done {
            return;
        }
        self.done = true;
        self.up = None;
        self.down.on_complete();
    }
}

/// Sends `on_subscribe` with a no-op subscription followed by `on_error`: how every publisher here
/// rejects a subscriber (rule 1.9: `on_subscribe` always comes first).
pub(crate) fn reject<T, S: Subscriber<T>>(mut subscriber: S, error: Error) {
    struct Noop;
    impl Subscription for Noop {
        fn request(&self, _: u64) {}
        fn cancel(&self) {}
    }
    tracing::debug!(%error, "rejecting subscriber");
    if guard(|| subscriber.on_subscribe(Box::new(Noop))).is_err() {
        report_undeliverable(Error::violation(Rule::R2_13, "on_subscribe panicked"));
        return;
    }
    if let Err(p) = guard(|| subscriber.on_error(error)) {
        report_undeliverable(Error::from_panic(Rule::R2_13, p));
    }
}
