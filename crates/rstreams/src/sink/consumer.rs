use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::guard;

/// A handle on a running [`Consumer`] subscription: cancel it, or ask whether it has ended.
#[derive(Clone, Debug)]
pub struct Cancellable {
    state: Arc<HandleState>,
}

#[derive(Debug, Default)]
struct HandleState {
    slot: Mutex<HandleSlot>,
    done: AtomicBool,
}

#[derive(Default)]
struct HandleSlot {
    sub: Option<Arc<dyn Subscription>>,
    cancelled: bool,
}

impl std::fmt::Debug for HandleSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleSlot")
            .field("subscribed", &self.sub.is_some())
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl Cancellable {
    /// Cancels the subscription (also if it has not started yet). Idempotent.
    pub fn cancel(&self) {
        let sub = {
            let mut slot = self.state.slot.lock();
            slot.cancelled = true;
            slot.sub.take()
        };
        if let Some(sub) = sub {
            sub.cancel();
        }
    }

    /// Whether the stream has ended (completed, failed) or was cancelled.
    pub fn is_done(&self) -> bool {
        self.state.done.load(Ordering::Acquire) || self.state.slot.lock().cancelled
    }
}

type ErrorFn = Box<dyn FnMut(Error) + Send>;
type CompleteFn = Box<dyn FnMut() + Send>;

/// A subscriber made of closures, with a demand policy: the builder form of
/// [`subscribe_with`](crate::PublisherExt::subscribe_with).
///
/// By default it requests `u64::MAX` (unbounded). With [`request`](Self::request) it asks for
/// that many first and, with [`replenish_every`](Self::replenish_every)`(k)`, asks for `k` more
/// after every `k` items (Reactor's 75% rule is `request(256).replenish_every(192)`).
///
/// The closures run on the thread that delivers each signal (see [the module](crate::sink)):
/// a pool worker if a thread hop or rail join is upstream.
///
/// A panic in `on_next` cancels the subscription and is passed to the `on_error` closure (rule
/// 2.13); without an `on_error` closure, errors go to
/// [`report_undeliverable`](rstreams_protocol::report_undeliverable).
///
/// ```
/// use rstreams::prelude::*;
/// use std::sync::{Arc, Mutex};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let handle = rstreams::range(0, 10)
///     .subscribe_consumer(Consumer::new(move |x| s.lock().unwrap().push(x)).request(4).replenish_every(3));
/// assert!(handle.is_done());
/// assert_eq!(seen.lock().unwrap().len(), 10);
/// ```
pub struct Consumer<N> {
    on_next: N,
    on_error: Option<ErrorFn>,
    on_complete: Option<CompleteFn>,
    initial: u64,
    every: u64,
}

impl<N> std::fmt::Debug for Consumer<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("initial", &self.initial)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

impl<N> Consumer<N> {
    /// A consumer calling `on_next` for each item, requesting without bound.
    pub fn new<T>(on_next: N) -> Self
    where
        N: FnMut(T) + Send + 'static,
    {
        Self {
            on_next,
            on_error: None,
            on_complete: None,
            initial: u64::MAX,
            every: 0,
        }
    }
    /// Called once if the stream fails (or `on_next` panics).
    pub fn on_error(mut self, f: impl FnMut(Error) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }
    /// Called once when the stream completes.
    pub fn on_complete(mut self, f: impl FnMut() + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }
    /// The first request (`u64::MAX`, the default, is unbounded). `0` is treated as `1`.
    pub fn request(mut self, n: u64) -> Self {
        self.initial = n.max(1);
        self
    }
    /// After every `k` items, request `k` more (`0`, the default, never replenishes).
    pub fn replenish_every(mut self, k: u64) -> Self {
        self.every = k;
        self
    }

    pub(crate) fn start(self) -> (ConsumerSubscriber<N>, Cancellable) {
        let state = Arc::new(HandleState::default());
        let handle = Cancellable {
            state: Arc::clone(&state),
        };
        let sub = ConsumerSubscriber {
            c: self,
            sub: None,
            count: 0,
            done: false,
            state,
        };
        (sub, handle)
    }
}

/// The subscriber behind a [`Consumer`].
pub(crate) struct ConsumerSubscriber<N> {
    c: Consumer<N>,
    sub: Option<Arc<dyn Subscription>>,
    count: u64,
    done: bool,
    state: Arc<HandleState>,
}

impl<N> ConsumerSubscriber<N> {
    fn finish(&mut self) {
        self.done = true;
        self.sub = None;
        self.state.slot.lock().sub = None;
        self.state.done.store(true, Ordering::Release);
    }
    fn error(&mut self, error: Error) {
        self.finish();
        match &mut self.c.on_error {
            Some(f) => {
                if let Err(p) = guard(|| f(error)) {
                    report_undeliverable(Error::from_panic(Rule::R2_13, p));
                }
            }
            None => report_undeliverable(error),
        }
    }
}

impl<T, N: FnMut(T)> Subscriber<T> for ConsumerSubscriber<N> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.sub.is_some() || self.done {
            s.cancel(); // rule 2.5
            return;
        }
        let s: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut slot = self.state.slot.lock();
            if slot.cancelled {
                drop(slot);
                self.done = true;
                s.cancel();
                return;
            }
            slot.sub = Some(Arc::clone(&s));
        }
        self.sub = Some(Arc::clone(&s));
        s.request(self.c.initial);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if let Err(p) = guard(|| (self.c.on_next)(item)) {
            if let Some(s) = self.sub.take() {
                s.cancel();
            }
            self.error(Error::from_panic(Rule::R2_13, p));
            return;
        }
        if self.c.every != 0 {
            self.count += 1;
            if self.count == self.c.every {
                self.count = 0;
                if let Some(s) = &self.sub {
                    s.request(self.c.every);
                }
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.done {
            report_undeliverable(error);
            return;
        }
        self.error(error);
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        self.finish();
        if let Some(f) = &mut self.c.on_complete
            && let Err(p) = guard(f)
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, p));
        }
    }
}
