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

/// Demand bookkeeping and the handler, shared by both subscribers.
struct Core<T, F> {
    batch: u64,
    handler: F,
    subscription: Option<Box<dyn Subscription>>,
    /// Requested and not yet received.
    outstanding: u64,
    /// Stopped: terminal signal received, or cancelled.
    done: bool,
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

    fn on_terminal(&mut self) {
        // 2.3/2.4: the subscription counts as cancelled; drop it without calling it.
        self.done = true;
        self.subscription = None;
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
        self.core.on_terminal();
    }
    fn on_complete(&mut self) {
        self.core.on_terminal();
    }
}

enum Signal<T> {
    Subscribe(Box<dyn Subscription>),
    Next(T),
    Error(Error),
    Complete,
}

/// A subscriber that processes signals on its own thread (rule 2.2): its callbacks only put the
/// signal in a bounded queue. The queue holds one batch plus room for the non-item signals, so
/// a publisher that keeps to the demand never finds it full; a publisher that sends more than
/// was requested (1.1) has the surplus dropped and the subscription cancelled.
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
    overflow: Arc<AtomicBool>,
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
        let overflow = Arc::new(AtomicBool::new(false));
        let seen_overflow = Arc::clone(&overflow);
        let worker = std::thread::Builder::new()
            .name("rstreams-async-subscriber".into())
            .spawn(move || run_worker(rx, Core::new(batch, handler), seen_overflow));
        if let Err(e) = worker {
            tracing::debug!(%e, "AsyncSubscriber: could not start its thread");
        }
        AsyncSubscriber {
            tx: Some(tx),
            overflow,
        }
    }

    fn send(&self, signal: Signal<T>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(signal) {
            Ok(()) => {}
            Err(TrySendError::Full(Signal::Next(_))) => {
                // More items than requested: the publisher broke rule 1.1.
                self.overflow.store(true, Ordering::Release);
            }
            Err(TrySendError::Full(other)) => {
                // Not an item: worth waiting for (the worker is draining the queue).
                let _ = tx.send(other);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn run_worker<T, F: FnMut(T) -> bool>(
    rx: Receiver<Signal<T>>,
    mut core: Core<T, F>,
    overflow: Arc<AtomicBool>,
) {
    // Ends when the subscriber is dropped (the sender goes away): `core` is dropped then and
    // cancels a live subscription (2.6).
    for signal in rx.iter() {
        match signal {
            Signal::Subscribe(s) => core.on_subscribe(s),
            Signal::Next(item) => core.on_next(item),
            Signal::Error(error) => {
                tracing::debug!(%error, "AsyncSubscriber: stream failed");
                core.on_terminal();
            }
            Signal::Complete => core.on_terminal(),
        }
        if overflow.load(Ordering::Acquire) && !core.done {
            tracing::debug!("AsyncSubscriber: publisher sent more than requested; cancelling");
            core.stop();
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
        self.tx = None;
    }
}

/// The verifications of the reference subscribers that [`builtin_reports`](super::builtin_reports)
/// runs (items are `u64`, the item for index `i` is `i`).
pub mod builtin {
    use rstreams_protocol::Subscriber;

    use super::{AsyncSubscriber, SyncSubscriber};
    use crate::subscriber::{
        SubscriberBlackboxVerification, SubscriberWhiteboxVerification, WhiteboxProbe,
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

    /// [`AsyncSubscriber`] under the whitebox suite.
    #[derive(Debug, Default, Clone, Copy)]
    pub struct AsyncWhitebox;

    impl SubscriberWhiteboxVerification for AsyncWhitebox {
        type Item = u64;
        fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
            Box::new(probe.wrap(AsyncSubscriber::new(BATCH, |_: u64| true)))
        }
        fn create_element(&self, i: u64) -> u64 {
            i
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
    }
}
