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
use std::sync::atomic::{AtomicBool, Ordering};

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

/// The state every intermediate subscriber shares: its downstream, its upstream subscription,
/// whether it has finished (after which upstream signals are ignored), and the subscription's
/// tracing span.
pub(crate) struct Link<S> {
    pub(crate) down: S,
    pub(crate) up: Option<Arc<dyn Subscription>>,
    pub(crate) done: bool,
    pub(crate) loc: Loc,
    /// `rstreams.stage`, one per subscription (issue 12.4): `debug` events about this
    /// subscription (subscribe, cancel, complete, error) are its children. `None` when no
    /// tracing subscriber wants it: then the stage holds one word for it and does nothing.
    span: Option<Box<tracing::Span>>,
}

impl<S> Link<S> {
    /// The link of a stage named `stage` (the operator's method name) built at `loc`, made when
    /// the stage is subscribed: opens the subscription's span.
    pub(crate) fn new(down: S, stage: &'static str, loc: Loc) -> Self {
        let span = stage_span(stage, loc);
        tracing::debug!(parent: &span, "subscribe");
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Self {
            down,
            up: None,
            done: false,
            loc,
            span,
        }
    }

    /// Accepts the upstream subscription. Returns it shared, or `None` (after cancelling it) when
    /// this stage already has one or has finished (rule 2.5).
    ///
    /// What is returned is what the stage passes (or wraps and passes) downstream: while the
    /// span is enabled, a wrapper that records the downstream's cancel under it; otherwise the
    /// upstream subscription itself (nothing added per request).
    pub(crate) fn accept(&mut self, s: Box<dyn Subscription>) -> Option<Arc<dyn Subscription>> {
        if self.up.is_some() || self.done {
            let none = tracing::Span::none();
            tracing::debug!(
                parent: self.span.as_deref().unwrap_or(&none),
                stage = %self.loc,
                "second on_subscribe: cancelling it (rule 2.5)"
            );
            s.cancel();
            return None;
        }
        let up: Arc<dyn Subscription> = Arc::from(s);
        self.up = Some(Arc::clone(&up));
        match &self.span {
            None => Some(up),
            Some(span) => Some(Arc::new(TracedSubscription {
                up,
                span: (**span).clone(),
                cancelled: AtomicBool::new(false),
            })),
        }
    }

    /// Cancels upstream and marks the stage finished; no terminal signal is sent.
    pub(crate) fn cancel_upstream(&mut self) {
        self.done = true;
        if let Some(up) = self.up.take() {
            if let Some(span) = &self.span {
                tracing::debug!(parent: &**span, "cancel (by the stage)");
            }
            up.cancel();
        }
    }
}

/// The span of one subscription to a stage: `rstreams.stage` with the stage's name and where
/// it was built (the pull kit's span has the same name and fields).
pub(crate) fn stage_span(stage: &'static str, loc: Loc) -> tracing::Span {
    tracing::debug_span!("rstreams.stage", stage, site = %loc)
}

/// The subscription a traced stage hands downstream: notes the first cancel under the stage's
/// span, then passes everything through.
struct TracedSubscription {
    up: Arc<dyn Subscription>,
    span: tracing::Span,
    cancelled: AtomicBool,
}

impl Subscription for TracedSubscription {
    #[inline]
    fn request(&self, n: u64) {
        self.up.request(n);
    }

    fn cancel(&self) {
        // Relaxed: only decides which call logs; the cancel itself is the upstream's business.
        if !self.cancelled.swap(true, Ordering::Relaxed) {
            tracing::debug!(parent: &self.span, "cancel");
        }
        self.up.cancel();
    }

    fn backlog(&self) -> Option<rstreams_protocol::Backlog> {
        self.up.backlog()
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
        if let Some(span) = &self.span {
            tracing::debug!(parent: &**span, %error, "on_error");
        }
        self.down.on_error(error);
    }

    /// Ends the stream early with success (cancels upstream).
    pub(crate) fn finish<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        self.cancel_upstream();
        if let Some(span) = &self.span {
            tracing::debug!(parent: &**span, "on_complete");
        }
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
        if let Some(span) = &self.span {
            tracing::debug!(parent: &**span, %error, "on_error");
        }
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
        if let Some(span) = &self.span {
            tracing::debug!(parent: &**span, "on_complete");
        }
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
