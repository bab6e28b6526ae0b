//! Two reference subscribers that pass both subscriber suites: [`SyncSubscriber`] processes
//! items in its callbacks; [`AsyncSubscriber`] hands every signal to its own thread through a
//! bounded queue (rule 2.2) and processes it there.
//!
//! Both request in batches (refilling when half the batch is used), store the subscription
//! before the first request (a synchronous publisher may deliver from inside it, 3.10), cancel a
//! second subscription (2.5), cancel when their handler says stop, panics, or when they are
//! dropped while subscribed (2.6), never touch the subscription in or after a terminal signal
//! (2.3, 2.4), ignore items after they stopped (2.8), and never panic out of a callback (2.13).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rstreams_protocol::{Error, Subscriber, Subscription};

use super::SubscriberPuppet;

type TerminalHook = Box<dyn FnOnce(Option<Error>) + Send>;

/// Demand bookkeeping and the handler, shared by both subscribers.
struct Core<T, F> {
    batch: u64,
    handler: F,
    subscription: Option<Box<dyn Subscription>>,
    /// Requested and not yet received.
    outstanding: u64,
    /// Stopped: terminal signal received, or cancelled.
    done: bool,
    /// Called once with the terminal signal (`None` for completion).
    on_terminal: Option<TerminalHook>,
    _item: std::marker::PhantomData<fn(T)>,
}

impl<T, F: FnMut(T) -> bool> Core<T, F> {
    fn new(batch: u64, handler: F) -> Self {
        Core {
            batch: batch.max(1),
            handler,
            subscription: None,
            outstanding: 0,
            done: false,
            on_terminal: None,
            _item: std::marker::PhantomData,
        }
    }

    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.subscription.is_some() || self.done {
            // 2.5: one subscription at a time (and none after we stopped).
            s.cancel();
            return;
        }
        // Stored before requesting: a synchronous publisher may call on_next from inside
        // `request`.
        let s = self.subscription.insert(s);
        self.outstanding = self.batch;
        s.request(self.batch);
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return; // 2.8: items in flight after cancel
        }
        self.outstanding = self.outstanding.saturating_sub(1);
        let handler = &mut self.handler;
        let keep_going = catch_unwind(AssertUnwindSafe(|| handler(item)));
        match keep_going {
            Ok(true) => {
                if self.outstanding <= self.batch / 2
                    && let Some(s) = &self.subscription
                {
                    let more = self.batch - self.outstanding;
                    self.outstanding = self.batch;
                    s.request(more);
                }
            }
            Ok(false) => self.stop(),
            Err(_) => {
                tracing::debug!("reference subscriber: handler panicked; cancelling");
                self.stop();
            }
        }
    }

    fn stop(&mut self) {
        self.done = true;
        if let Some(s) = self.subscription.take() {
            s.cancel();
        }
    }

    /// An outside request for more (the whitebox puppet): tops demand up to a full batch now;
    /// the usual refills keep it coming as items arrive, so the queue never overflows.
    fn request_more(&mut self) {
        if self.done || self.outstanding >= self.batch {
            return;
        }
        if let Some(s) = &self.subscription {
            let more = self.batch - self.outstanding;
            self.outstanding = self.batch;
            s.request(more);
        }
    }

    fn on_terminal(&mut self, error: Option<Error>) {
        // 2.3/2.4: the subscription counts as cancelled; drop it without calling it.
        self.done = true;
        self.subscription = None;
        if let Some(hook) = self.on_terminal.take()
            && catch_unwind(AssertUnwindSafe(|| hook(error))).is_err()
        {
            tracing::debug!("reference subscriber: terminal hook panicked");
        }
    }
}

impl<T, F> Drop for Core<T, F> {
    fn drop(&mut self) {
        // 2.6: nobody can use the subscription once we are gone.
        if let Some(s) = self.subscription.take() {
            s.cancel();
        }
    }
}

/// A subscriber that processes items in `on_next`, on the publisher's thread.
///
/// `handler` gets each item and returns whether it wants more; `false` (or a panic) cancels.
///
/// ```
/// use rstreams_protocol::{Publisher, reference::RangePublisher};
/// use rstreams_tck::subscriber::reference::SyncSubscriber;
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
///
/// let sum = Arc::new(AtomicU64::new(0));
/// let s = Arc::clone(&sum);
/// RangePublisher::new(1, 10).subscribe(SyncSubscriber::new(4, move |x: u64| {
///     s.fetch_add(x, Ordering::Relaxed);
///     true
/// }));
/// assert_eq!(sum.load(Ordering::Relaxed), 55);
/// ```
pub struct SyncSubscriber<T, F> {
    core: Core<T, F>,
}

impl<T, F: FnMut(T) -> bool> SyncSubscriber<T, F> {
    /// Requests `batch` items at a time (at least 1) and hands each to `handler`.
    pub fn new(batch: u64, handler: F) -> Self {
        SyncSubscriber {
            core: Core::new(batch, handler),
        }
    }

    /// Calls `hook` once when the stream ends: `None` on completion, `Some(error)` on failure.
    pub fn on_terminal(mut self, hook: impl FnOnce(Option<Error>) + Send + 'static) -> Self {
        self.core.on_terminal = Some(Box::new(hook));
        self
    }
}

impl<T, F> fmt::Debug for SyncSubscriber<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSubscriber")
            .field("batch", &self.core.batch)
            .field("done", &self.core.done)
            .finish_non_exhaustive()
    }
}

impl<T, F: FnMut(T) -> bool> Subscriber<T> for SyncSubscriber<T, F> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        self.core.on_subscribe(subscription);
    }
    fn on_next(&mut self, item: T) {
        self.core.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        tracing::debug!(%error, "SyncSubscriber: stream failed");
        self.core.on_terminal(Some(error));
    }
    fn on_complete(&mut self) {
        self.core.on_terminal(None);
    }
}

enum Signal<T> {
    Subscribe(Box<dyn Subscription>),
    Next(T),
    Error(Error),
    Complete,
    /// From an [`AsyncController`].
    RequestMore,
    /// From an [`AsyncController`].
    Cancel,
    /// Set by [`AsyncSubscriber::on_terminal`] before any signal.
    Hook(TerminalHook),
    /// The subscriber was dropped.
    Gone,
}

/// A subscriber that processes signals on its own thread (rule 2.2): its callbacks only put the
/// signal in a bounded queue. At most one batch of items is ever outstanding and the queue has
/// room for it plus the other signals, so a publisher that keeps to the demand never finds it
/// full (not even a synchronous one delivering from inside the subscriber's own `request`); a
/// publisher that sends more than was requested (1.1) has the surplus dropped and the
/// subscription cancelled.
///
/// Every call on the subscription is made from the worker thread, so calls are serial (2.7).
///
/// ```
/// use rstreams_protocol::{Publisher, reference::RangePublisher};
/// use rstreams_tck::subscriber::reference::AsyncSubscriber;
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// RangePublisher::new(0, 5).subscribe(AsyncSubscriber::new(2, move |x: u64| {
///     tx.send(x).is_ok()
/// }));
/// let got: Vec<u64> = rx.iter().take(5).collect();
/// assert_eq!(got, vec![0, 1, 2, 3, 4]);
/// ```
pub struct AsyncSubscriber<T> {
    tx: Option<Sender<Signal<T>>>,
    flags: Arc<Flags>,
}

/// What the subscriber's callbacks tell its thread outside the queue.
#[derive(Default)]
struct Flags {
    /// The publisher sent more than was requested (rule 1.1).
    overflow: AtomicBool,
    /// The subscriber was dropped: finish the queue, then stop.
    gone: AtomicBool,
}

impl<T> fmt::Debug for AsyncSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSubscriber").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> AsyncSubscriber<T> {
    /// Requests `batch` items at a time (at least 1) and hands each to `handler` on the
    /// subscriber's own thread.
    pub fn new<F>(batch: u64, handler: F) -> Self
    where
        F: FnMut(T) -> bool + Send + 'static,
    {
        let batch = batch.max(1);
        let capacity = usize::try_from(batch)
            .unwrap_or(usize::MAX / 2)
            .min(1 << 16)
            + 4;
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let flags = Arc::new(Flags::default());
        let worker_flags = Arc::clone(&flags);
        let worker = std::thread::Builder::new()
            .name("rstreams-async-subscriber".into())
            .spawn(move || run_worker(rx, Core::new(batch, handler), worker_flags));
        if let Err(e) = worker {
            tracing::debug!(%e, "AsyncSubscriber: could not start its thread");
        }
        AsyncSubscriber {
            tx: Some(tx),
            flags,
        }
    }

    /// Calls `hook` once, on the subscriber's thread, when it has processed the end of the
    /// stream: `None` on completion, `Some(error)` on failure.
    pub fn on_terminal(self, hook: impl FnOnce(Option<Error>) + Send + 'static) -> Self {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Signal::Hook(Box::new(hook)));
        }
        self
    }

    /// A handle that asks the subscriber, on its own thread, for more items or to cancel (what
    /// the whitebox TCK's puppet needs: the calls stay serial, rule 2.7, and inside the
    /// subscriber's demand accounting).
    pub fn controller(&self) -> AsyncController<T> {
        AsyncController {
            tx: self.tx.clone(),
        }
    }

    fn send(&self, signal: Signal<T>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(signal) {
            Ok(()) => {}
            Err(TrySendError::Full(Signal::Next(_))) => {
                // More items than requested: the publisher broke rule 1.1.
                self.flags.overflow.store(true, Ordering::Release);
            }
            Err(TrySendError::Full(other)) => {
                // Not an item: worth waiting for (the worker is draining the queue).
                let _ = tx.send(other);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Drives an [`AsyncSubscriber`] from outside; see [`AsyncSubscriber::controller`].
pub struct AsyncController<T> {
    tx: Option<Sender<Signal<T>>>,
}

impl<T> fmt::Debug for AsyncController<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncController").finish_non_exhaustive()
    }
}

impl<T> AsyncController<T> {
    /// Asks for more items (a batch at most is outstanding at any time).
    pub fn request_more(&self) {
        // Never fills the queue with these: the room is kept for the publisher's signals, and a
        // pending top-up already covers this one.
        if let Some(tx) = &self.tx
            && tx.len() < tx.capacity().unwrap_or(usize::MAX) / 2
        {
            let _ = tx.try_send(Signal::RequestMore);
        }
    }

    /// Asks the subscriber to cancel.
    pub fn cancel(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Signal::Cancel);
        }
    }
}

impl<T: Send> SubscriberPuppet for AsyncController<T> {
    fn trigger_request(&self, _n: u64) {
        // The subscriber keeps requesting as items arrive, so topping up now and letting the
        // refills follow satisfies "eventually at least n more".
        self.request_more();
    }
    fn signal_cancel(&self) {
        self.cancel();
    }
}

fn run_worker<T, F: FnMut(T) -> bool>(
    rx: Receiver<Signal<T>>,
    mut core: Core<T, F>,
    flags: Arc<Flags>,
) {
    // Ends when the subscriber is dropped (after the signals it had queued): `core` is dropped
    // then and cancels a live subscription (2.6). Controllers may still hold senders, so the
    // drop is announced rather than detected by disconnection.
    for signal in rx.iter() {
        match signal {
            Signal::Subscribe(s) => core.on_subscribe(s),
            Signal::Next(item) => core.on_next(item),
            Signal::Error(error) => {
                tracing::debug!(%error, "AsyncSubscriber: stream failed");
                core.on_terminal(Some(error));
            }
            Signal::Complete => core.on_terminal(None),
            Signal::RequestMore => core.request_more(),
            Signal::Cancel => core.stop(),
            Signal::Hook(hook) => core.on_terminal = Some(hook),
            Signal::Gone => break,
        }
        if flags.overflow.load(Ordering::Acquire) && !core.done {
            tracing::debug!("AsyncSubscriber: publisher sent more than requested; cancelling");
            core.stop();
        }
        if flags.gone.load(Ordering::Acquire) && rx.is_empty() {
            break;
        }
    }
}

impl<T: Send + 'static> Subscriber<T> for AsyncSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        self.send(Signal::Subscribe(subscription));
    }
    fn on_next(&mut self, item: T) {
        self.send(Signal::Next(item));
    }
    fn on_error(&mut self, error: Error) {
        self.send(Signal::Error(error));
    }
    fn on_complete(&mut self) {
        self.send(Signal::Complete);
    }
}

impl<T> Drop for AsyncSubscriber<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // Never blocks (the drop may run on the worker itself, inside a synchronous
            // publisher's request): a full queue means the worker is busy and sees the flag.
            self.flags.gone.store(true, Ordering::Release);
            let _ = tx.try_send(Signal::Gone);
        }
    }
}

/// The verifications of the reference subscribers that [`builtin_reports`](super::builtin_reports)
/// runs (items are `u64`, the item for index `i` is `i`).
pub mod builtin {
    use rstreams_protocol::{Error, Subscriber, Subscription};

    use super::{AsyncSubscriber, SyncSubscriber};
    use crate::subscriber::{
        SubscriberBlackboxVerification, SubscriberPuppet, SubscriberWhiteboxVerification,
        WhiteboxProbe,
    };

    /// Batch size of the reference subscribers under test.
    const BATCH: u64 = 4;
    /// The blackbox subscribers stop (and cancel) after this many items, so that the tests of
    /// what follows a cancel have a cancel to work with.
    const STOP_AFTER: u64 = 10;

    fn stop_after(n: u64) -> impl FnMut(u64) -> bool + Send + 'static {
        let mut seen = 0;
        move |_| {
            seen += 1;
            seen < n
        }
    }

    /// [`SyncSubscriber`] under the whitebox suite (instrumented with [`WhiteboxProbe::wrap`]).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct SyncWhitebox;

    impl SubscriberWhiteboxVerification for SyncWhitebox {
        type Item = u64;
        fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
            Box::new(probe.wrap(SyncSubscriber::new(BATCH, |_: u64| true)))
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
    }

    /// [`AsyncSubscriber`] under the whitebox suite: items and the terminal signal are
    /// registered on the subscriber's own thread, where it processes them, and the puppet is its
    /// [`AsyncController`](super::AsyncController).
    #[derive(Debug, Default, Clone, Copy)]
    pub struct AsyncWhitebox;

    impl SubscriberWhiteboxVerification for AsyncWhitebox {
        type Item = u64;
        fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
            let items = probe.clone();
            let end = probe.clone();
            let subscriber = AsyncSubscriber::new(BATCH, move |x: u64| {
                items.register_on_next(x);
                true
            })
            .on_terminal(move |error| match error {
                None => end.register_on_complete(),
                Some(e) => end.register_on_error(e),
            });
            let puppet = subscriber.controller();
            Box::new(RegistersPuppet {
                inner: subscriber,
                probe,
                puppet: Some(puppet),
            })
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
        fn processes_asynchronously(&self) -> bool {
            true
        }
    }

    /// Registers its puppet with the probe at the first `on_subscribe`; forwards everything.
    struct RegistersPuppet<S, P> {
        inner: S,
        probe: WhiteboxProbe<u64>,
        puppet: Option<P>,
    }

    impl<S: Subscriber<u64>, P: SubscriberPuppet + 'static> Subscriber<u64> for RegistersPuppet<S, P> {
        fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
            if let Some(p) = self.puppet.take() {
                self.probe.register_on_subscribe(p);
            }
            self.inner.on_subscribe(subscription);
        }
        fn on_next(&mut self, item: u64) {
            self.inner.on_next(item);
        }
        fn on_error(&mut self, error: Error) {
            self.inner.on_error(error);
        }
        fn on_complete(&mut self) {
            self.inner.on_complete();
        }
    }

    /// [`SyncSubscriber`] under the blackbox suite.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct SyncBlackbox;

    impl SubscriberBlackboxVerification for SyncBlackbox {
        type Item = u64;
        type Subscriber = Box<dyn Subscriber<u64> + Send>;
        fn create_subscriber(&self) -> Self::Subscriber {
            Box::new(SyncSubscriber::new(BATCH, stop_after(STOP_AFTER)))
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
    }

    /// [`AsyncSubscriber`] under the blackbox suite.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct AsyncBlackbox;

    impl SubscriberBlackboxVerification for AsyncBlackbox {
        type Item = u64;
        type Subscriber = AsyncSubscriber<u64>;
        fn create_subscriber(&self) -> Self::Subscriber {
            AsyncSubscriber::new(BATCH, stop_after(STOP_AFTER))
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
        fn processes_asynchronously(&self) -> bool {
            true
        }
    }
}
