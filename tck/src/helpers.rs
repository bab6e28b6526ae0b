//! Helper publishers and a reference processor, all built with the protocol crate's pull kit.
//!
//! * [`SyncHelperPublisher`] emits from inside `request`, on the requesting thread (the
//!   synchronous case rules 3.10 and 3.11 allow, which the JVM TCK has no helper for);
//! * [`AsyncHelperPublisher`] produces on a thread of its own per subscriber, through a bounded
//!   hand-off, so signals arrive from a thread the subscriber did not call from;
//! * [`IdentityProcessor`] passes items through a bounded buffer to one subscriber.
//!
//! Each passes the whole publisher suite (see `tests/gallery_publishers.rs`).

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError, bounded};
use parking_lot::Mutex;
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

/// Makes the `i`-th element of a helper stream (0-based). Shared between threads.
pub type ElementFn<T> = Arc<dyn Fn(u64) -> T + Send + Sync>;

/// Emits `count` elements `make(0)..make(count - 1)` synchronously, then completes; `u64::MAX`
/// elements means an endless stream.
///
/// ```
/// use rstreams_protocol::Rule;
/// use rstreams_tck::helpers::SyncHelperPublisher;
/// use rstreams_tck::outcome::Settings;
/// use rstreams_tck::probe::Probe;
///
/// let publisher = SyncHelperPublisher::new(2, |i| i * 10);
/// let probe = Probe::subscribe(&publisher, &Settings::default()).unwrap();
/// probe.request(5).unwrap();
/// assert_eq!(probe.expect_next(Rule::R1_1).unwrap(), 0);
/// assert_eq!(probe.expect_next(Rule::R1_1).unwrap(), 10);
/// probe.expect_complete(Rule::R1_5).unwrap();
/// ```
pub struct SyncHelperPublisher<T> {
    count: u64,
    make: ElementFn<T>,
    stage: &'static Location<'static>,
}

impl<T> Clone for SyncHelperPublisher<T> {
    fn clone(&self) -> Self {
        Self {
            count: self.count,
            make: Arc::clone(&self.make),
            stage: self.stage,
        }
    }
}

impl<T> SyncHelperPublisher<T> {
    /// `count` elements made by `make`.
    #[track_caller]
    pub fn new(count: u64, make: impl Fn(u64) -> T + Send + Sync + 'static) -> Self {
        Self {
            count,
            make: Arc::new(make),
            stage: Location::caller(),
        }
    }

    /// `count` elements made by a shared element function.
    #[track_caller]
    pub fn with_fn(count: u64, make: ElementFn<T>) -> Self {
        Self {
            count,
            make,
            stage: Location::caller(),
        }
    }
}

struct CountSource<T> {
    next: u64,
    count: u64,
    make: ElementFn<T>,
}

impl<T: Send + 'static> Source for CountSource<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        if self.next == self.count {
            return Step::Complete;
        }
        let i = self.next;
        self.next += 1;
        Step::Next((self.make)(i))
    }
    fn is_exhausted(&mut self) -> bool {
        self.next == self.count
    }
}

impl<T: Send + 'static> Publisher for SyncHelperPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let source = CountSource {
            next: 0,
            count: self.count,
            make: Arc::clone(&self.make),
        };
        pull::serve(source.at(self.stage), subscriber);
    }
}

/// Emits `count` elements produced on a dedicated thread per subscriber (through a bounded
/// hand-off of [`AsyncHelperPublisher::HANDOFF`] slots), then completes; `u64::MAX` elements
/// means an endless stream. The producer thread stops when the subscription ends.
pub struct AsyncHelperPublisher<T> {
    count: u64,
    make: ElementFn<T>,
    stage: &'static Location<'static>,
}

impl<T> Clone for AsyncHelperPublisher<T> {
    fn clone(&self) -> Self {
        Self {
            count: self.count,
            make: Arc::clone(&self.make),
            stage: self.stage,
        }
    }
}

impl<T> AsyncHelperPublisher<T> {
    /// Capacity of the hand-off between the producer thread and the subscription.
    pub const HANDOFF: usize = 16;

    /// `count` elements made by `make` on the producer thread.
    #[track_caller]
    pub fn new(count: u64, make: impl Fn(u64) -> T + Send + Sync + 'static) -> Self {
        Self {
            count,
            make: Arc::new(make),
            stage: Location::caller(),
        }
    }

    /// `count` elements made by a shared element function.
    #[track_caller]
    pub fn with_fn(count: u64, make: ElementFn<T>) -> Self {
        Self {
            count,
            make,
            stage: Location::caller(),
        }
    }
}

struct HandoffSource<T> {
    rx: Receiver<T>,
    peeked: Option<T>,
}

impl<T: Send + 'static> Source for HandoffSource<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        if let Some(item) = self.peeked.take() {
            return Step::Next(item);
        }
        match self.rx.try_recv() {
            Ok(item) => Step::Next(item),
            Err(TryRecvError::Empty) => Step::Pending,
            Err(TryRecvError::Disconnected) => Step::Complete,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        if self.peeked.is_some() {
            return false;
        }
        match self.rx.try_recv() {
            Ok(item) => {
                self.peeked = Some(item);
                false
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Disconnected) => true,
        }
    }
}

impl<T: Send + 'static> Publisher for AsyncHelperPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let (tx, rx) = bounded::<T>(Self::HANDOFF);
        let count = self.count;
        let make = Arc::clone(&self.make);
        let handle = pull::serve_with(
            move |_| HandoffSource { rx, peeked: None }.at(self.stage),
            subscriber,
        );
        let spawned = std::thread::Builder::new()
            .name("rstreams-tck-async-helper".to_owned())
            .spawn(move || produce(count, &*make, tx, handle));
        if let Err(e) = spawned {
            tracing::debug!(%e, "could not start the async helper's producer thread");
        }
    }
}

/// The producer loop: the subscription owns the receiving end, so once it ends (terminal signal
/// or cancel) every send fails and the thread stops.
fn produce<T>(
    count: u64,
    make: &(dyn Fn(u64) -> T + Send + Sync),
    tx: crossbeam_channel::Sender<T>,
    handle: PullHandle,
) {
    let mut i = 0;
    while i != count {
        if handle.is_cancelled() || tx.send(make(i)).is_err() {
            return;
        }
        i += 1;
        handle.wake();
    }
    drop(tx);
    handle.wake();
}

/// A pass-through processor with a bounded buffer, serving one downstream subscriber.
///
/// [`IdentityProcessor`] is the publisher side; [`input`](IdentityProcessor::input) gives the
/// subscriber side to subscribe upstream. It asks upstream for `buffer` items at a time, and only
/// once downstream has demand and the buffer is empty, so it never holds more than `buffer`
/// items. Buffered items go downstream while there is demand; an upstream error goes downstream
/// at once, without waiting for demand (dropping what is still buffered, rule 4.2). A second
/// downstream subscriber is rejected with `on_subscribe` then `on_error` (rule 1.9). Downstream
/// cancel cancels upstream; dropping the subscribed input before the stream ended cancels
/// upstream too (rule 2.6).
///
/// ```
/// use rstreams_protocol::{Publisher, Rule, reference::RangePublisher};
/// use rstreams_tck::helpers::IdentityProcessor;
/// use rstreams_tck::outcome::Settings;
/// use rstreams_tck::probe::Probe;
///
/// let processor = IdentityProcessor::new(4);
/// RangePublisher::new(0, 3).subscribe(processor.input());
/// let probe = Probe::subscribe(&processor, &Settings::default()).unwrap();
/// probe.request(3).unwrap();
/// assert_eq!(probe.expect_next(Rule::R1_1).unwrap(), 0);
/// # probe.expect_next(Rule::R1_1).unwrap();
/// # probe.expect_next(Rule::R1_1).unwrap();
/// # probe.expect_complete(Rule::R1_5).unwrap();
/// ```
pub struct IdentityProcessor<T> {
    shared: Arc<ProcShared<T>>,
}

impl<T> Clone for IdentityProcessor<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The subscriber side of an [`IdentityProcessor`].
pub struct ProcessorInput<T> {
    shared: Arc<ProcShared<T>>,
    /// Whether this input holds the processor's upstream subscription.
    subscribed: bool,
}

struct ProcShared<T> {
    buffer: usize,
    stage: &'static Location<'static>,
    state: Mutex<ProcState<T>>,
}

struct ProcState<T> {
    queue: VecDeque<T>,
    upstream: Option<Arc<dyn Subscription>>,
    /// Items asked from upstream and not yet received.
    outstanding: u64,
    /// Set once upstream ended: `Ok` completed, `Err` failed.
    end: Option<Result<(), Error>>,
    downstream: Option<PullHandle>,
    has_subscriber: bool,
    /// Downstream went away: an upstream arriving later is cancelled at once.
    cancelled: bool,
}

impl<T: Send + 'static> IdentityProcessor<T> {
    /// A processor buffering at most `buffer` items (at least 1).
    #[track_caller]
    pub fn new(buffer: usize) -> Self {
        Self {
            shared: Arc::new(ProcShared {
                buffer: buffer.max(1),
                stage: Location::caller(),
                state: Mutex::new(ProcState {
                    queue: VecDeque::with_capacity(buffer.max(1)),
                    upstream: None,
                    outstanding: 0,
                    end: None,
                    downstream: None,
                    has_subscriber: false,
                    cancelled: false,
                }),
            }),
        }
    }

    /// The subscriber side, to subscribe upstream. Only the first input to receive
    /// `on_subscribe` is used; later subscriptions are cancelled (rule 2.5).
    pub fn input(&self) -> ProcessorInput<T> {
        ProcessorInput {
            shared: Arc::clone(&self.shared),
            subscribed: false,
        }
    }
}

impl<T> ProcShared<T> {
    fn wake(&self) {
        let handle = self.state.lock().downstream.clone();
        if let Some(h) = handle {
            h.wake();
        }
    }
}

impl<T: Send + 'static> Subscriber<T> for ProcessorInput<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let mut st = self.shared.state.lock();
        if st.upstream.is_some() || st.end.is_some() || self.subscribed {
            drop(st);
            subscription.cancel(); // 2.5
            return;
        }
        let sub: Arc<dyn Subscription> = Arc::from(subscription);
        if st.cancelled {
            drop(st);
            sub.cancel();
            return;
        }
        st.upstream = Some(sub);
        self.subscribed = true;
        drop(st);
        // Downstream may be waiting for items already.
        self.shared.wake();
    }

    fn on_next(&mut self, item: T) {
        let mut st = self.shared.state.lock();
        if st.end.is_some() {
            return;
        }
        if st.outstanding == 0 || st.queue.len() >= self.shared.buffer {
            // Upstream sent more than was requested (1.1): fail rather than grow the buffer.
            let up = st.upstream.take();
            st.queue.clear();
            st.end = Some(Err(Error::violation(
                Rule::R1_1,
                "upstream sent more items than the processor requested",
            )
            .at_stage(self.shared.stage)));
            drop(st);
            if let Some(up) = up {
                up.cancel();
            }
        } else {
            st.outstanding -= 1;
            st.queue.push_back(item);
            drop(st);
        }
        self.shared.wake();
    }

    fn on_error(&mut self, error: Error) {
        {
            let mut st = self.shared.state.lock();
            if st.end.is_none() {
                st.end = Some(Err(error));
            }
            st.upstream = None;
        }
        self.shared.wake();
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.shared.state.lock();
            if st.end.is_none() {
                st.end = Some(Ok(()));
            }
            st.upstream = None;
        }
        self.shared.wake();
    }
}

impl<T> Drop for ProcessorInput<T> {
    fn drop(&mut self) {
        if !self.subscribed {
            return;
        }
        // Nobody can deliver to the processor any more (2.6): release upstream.
        let up = self.shared.state.lock().upstream.take();
        if let Some(up) = up {
            up.cancel();
        }
    }
}

/// The downstream side of the processor, driven by the pull kit.
struct ProcSource<T> {
    shared: Arc<ProcShared<T>>,
}

impl<T: Send + 'static> Source for ProcSource<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        let mut st = self.shared.state.lock();
        if let Some(item) = st.queue.pop_front() {
            return Step::Next(item);
        }
        match &st.end {
            Some(Err(e)) => return Step::Error(e.clone()),
            Some(Ok(())) => return Step::Complete,
            None => {}
        }
        if st.outstanding == 0
            && let Some(up) = st.upstream.clone()
        {
            st.outstanding = self.shared.buffer as u64;
            drop(st);
            // May deliver synchronously into on_next, which only queues and wakes (the drain
            // running this pull picks the wake-up up).
            up.request(self.shared.buffer as u64);
            st = self.shared.state.lock();
            if let Some(item) = st.queue.pop_front() {
                return Step::Next(item);
            }
            match &st.end {
                Some(Err(e)) => return Step::Error(e.clone()),
                Some(Ok(())) => return Step::Complete,
                None => {}
            }
        }
        Step::Pending
    }

    fn is_exhausted(&mut self) -> bool {
        let mut st = self.shared.state.lock();
        match &st.end {
            Some(Err(_)) => {
                // 4.2: the error does not wait for demand; what is still buffered is dropped.
                st.queue.clear();
                true
            }
            Some(Ok(())) => st.queue.is_empty(),
            None => false,
        }
    }
}

impl<T> Drop for ProcSource<T> {
    fn drop(&mut self) {
        // Downstream cancelled or the stream ended: upstream is no longer needed.
        let up = {
            let mut st = self.shared.state.lock();
            st.cancelled = true;
            st.downstream = None;
            st.queue.clear();
            st.upstream.take()
        };
        if let Some(up) = up {
            up.cancel();
        }
    }
}

/// Rejects a subscriber: `on_subscribe`, then `on_error` naming rule 1.9.
struct Rejected<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Send + 'static> Source for Rejected<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        Step::Error(Error::violation(
            Rule::R1_9,
            "this processor serves one subscriber and already has one",
        ))
    }
    fn is_exhausted(&mut self) -> bool {
        true
    }
}

impl<T: Send + 'static> Publisher for IdentityProcessor<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let first = {
            let mut st = self.shared.state.lock();
            !std::mem::replace(&mut st.has_subscriber, true)
        };
        if !first {
            pull::serve(
                Rejected::<T>(std::marker::PhantomData).at(self.shared.stage),
                subscriber,
            );
            return;
        }
        let shared = Arc::clone(&self.shared);
        pull::serve_with(
            move |handle| {
                shared.state.lock().downstream = Some(handle);
                ProcSource { shared }.at(self.shared.stage)
            },
            subscriber,
        );
    }
}

/// A publisher that fails every subscriber at once: `on_subscribe` (with a subscription that
/// ignores everything), then `on_error` with its message. For
/// [`create_failed_publisher`](crate::publisher::PublisherVerification::create_failed_publisher).
///
/// ```
/// use rstreams_protocol::Publisher;
/// let failed = rstreams_tck::helpers::FailedPublisher::<u64>::new("broken");
/// let probe = rstreams_tck::probe::Probe::subscribe(&failed, &Default::default()).unwrap();
/// assert!(probe.expect_error(rstreams_protocol::Rule::R1_4).is_ok());
/// ```
pub struct FailedPublisher<T> {
    message: &'static str,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> FailedPublisher<T> {
    /// A publisher failing with `message`.
    pub fn new(message: &'static str) -> Self {
        FailedPublisher {
            message,
            _item: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for FailedPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailedPublisher")
            .field("message", &self.message)
            .finish()
    }
}

struct NoopSubscription;

impl Subscription for NoopSubscription {
    fn request(&self, _: u64) {}
    fn cancel(&self) {}
}

impl<T> Publisher for FailedPublisher<T> {
    type Item = T;
    fn subscribe<S>(&self, mut subscriber: S)
    where
        S: Subscriber<T> + Send + 'static,
    {
        subscriber.on_subscribe(Box::new(NoopSubscription));
        subscriber.on_error(Error::msg(self.message));
    }
}

impl<T> std::fmt::Debug for AsyncHelperPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncHelperPublisher")
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for IdentityProcessor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProcessor").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for ProcessorInput<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorInput").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for SyncHelperPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHelperPublisher")
            .finish_non_exhaustive()
    }
}
