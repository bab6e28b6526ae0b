//! A multi-producer signal serialiser: signals from any number of threads, delivered to one
//! subscriber one at a time, in order.
//!
//! The [`pull`](crate::pull) kit is for stages that *own* the demand (a source asked for the next
//! item). Stages that pass demand through and only *add* signals from elsewhere — a timer that
//! fails a stream, a delay releasing items on a timer thread — need the other half: several
//! producers, one downstream, rule 1.3 (signals serial) and 3.3 (no unbounded recursion). That is
//! [`SignalSerializer`]: a queue of [`Signal`]s plus the same [`SerialDrain`] the kit runs on.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::{Arc, PoisonError};

use crate::sync::{AtomicBool, Mutex, MutexGuard, Ordering};
use crate::{Error, Rule, SerialDrain, Subscriber, Subscription, report_undeliverable};

/// One signal for the downstream, as queued in a [`SignalSerializer`].
pub enum Signal<T> {
    /// `on_subscribe` with this subscription.
    Subscribe(Box<dyn Subscription>),
    /// `on_next` with this item.
    Next(T),
    /// `on_error`: terminal.
    Error(Error),
    /// `on_complete`: terminal.
    Complete,
}

impl<T> Signal<T> {
    fn is_terminal(&self) -> bool {
        matches!(self, Signal::Error(_) | Signal::Complete)
    }
}

impl<T> fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::Subscribe(_) => f.write_str("Subscribe(..)"),
            Signal::Next(_) => f.write_str("Next(..)"),
            Signal::Error(e) => f.debug_tuple("Error").field(e).finish(),
            Signal::Complete => f.write_str("Complete"),
        }
    }
}

struct Queue<T> {
    signals: VecDeque<Signal<T>>,
    /// A terminal signal has been enqueued: later signals are refused.
    terminated: bool,
}

/// Delivers signals enqueued from any thread to one subscriber, serially and in order.
///
/// * **Serial (1.3)**: every signal is delivered from inside one [`SerialDrain`]; a thread that
///   finds a delivery under way leaves its signal queued and returns at once.
/// * **Re-entrant safe (3.3)**: a `request` or `cancel` from inside `on_next` never waits for a
///   lock held while calling the subscriber (the queue's lock never is).
/// * **One terminal (1.7)**: after the first `Error`/`Complete` is enqueued, later signals are
///   refused ([`enqueue`](Self::enqueue) returns `false`).
/// * **Cancel (3.13)**: [`cancel`](Self::cancel) drops queued signals and the subscriber, and
///   cancels the upstream recorded with [`set_upstream`](Self::set_upstream).
/// * **Panics (2.13)**: a panic in the subscriber cancels the upstream, drops the subscriber and
///   goes to [`report_undeliverable`] naming rule 2.13 and the stage; it never reaches the
///   producer that happened to drive the delivery.
///
/// The queue is bounded by its producers: a stage that enqueues items only within the
/// downstream's demand (and at most one terminal signal) can never grow it beyond that.
///
/// ```
/// use std::sync::Arc;
/// use rstreams_protocol::signal::{Signal, SignalSerializer};
/// use rstreams_protocol::{Error, Subscriber, Subscription};
///
/// struct Collect(Arc<std::sync::Mutex<Vec<u32>>>);
/// impl Subscriber<u32> for Collect {
///     fn on_subscribe(&mut self, _: Box<dyn Subscription>) {}
///     fn on_next(&mut self, x: u32) { self.0.lock().unwrap().push(x) }
///     fn on_error(&mut self, _: Error) {}
///     fn on_complete(&mut self) { self.0.lock().unwrap().push(0) }
/// }
///
/// let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
/// let ser = Arc::new(SignalSerializer::new(Collect(Arc::clone(&seen)), std::panic::Location::caller()));
/// let producers: Vec<_> = (1..=4)
///     .map(|i| {
///         let ser = Arc::clone(&ser);
///         std::thread::spawn(move || { ser.push(Signal::Next(i)); })
///     })
///     .collect();
/// for p in producers { p.join().unwrap(); }
/// ser.push(Signal::Complete);
/// assert!(!ser.push(Signal::Next(5)), "nothing after the terminal signal");
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen.len(), 5);
/// assert_eq!(seen.last(), Some(&0));
/// ```
pub struct SignalSerializer<T, S> {
    queue: Mutex<Queue<T>>,
    cancelled: AtomicBool,
    /// The upstream subscription, cancelled when the downstream cancels or panics.
    up: Mutex<Option<Arc<dyn Subscription>>>,
    drain: SerialDrain<Option<S>>,
    stage: &'static Location<'static>,
}

/// Locks, shrugging off poison: no user code runs under these locks, so a poisoned one can only
/// come from an allocation failure, after which the state is still consistent.
fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T, S> SignalSerializer<T, S>
where
    T: Send,
    S: Subscriber<T> + Send,
{
    /// A serialiser delivering to `down`; `stage` (where the stage was built) is named in errors.
    pub fn new(down: S, stage: &'static Location<'static>) -> Self {
        Self {
            queue: Mutex::new(Queue {
                signals: VecDeque::new(),
                terminated: false,
            }),
            cancelled: AtomicBool::new(false),
            up: Mutex::new(None),
            drain: SerialDrain::new(Some(down)),
            stage,
        }
    }

    /// Queues `signal` without delivering it: call [`drive`](Self::drive) once your own locks
    /// are released. Returns `false` (and drops the signal) if a terminal signal was queued
    /// already or the downstream cancelled.
    pub fn enqueue(&self, signal: Signal<T>) -> bool {
        if self.is_cancelled() {
            return false;
        }
        let mut q = lock(&self.queue);
        if q.terminated {
            return false;
        }
        q.terminated = signal.is_terminal();
        q.signals.push_back(signal);
        true
    }

    /// [`enqueue`](Self::enqueue), then [`drive`](Self::drive).
    pub fn push(&self, signal: Signal<T>) -> bool {
        let queued = self.enqueue(signal);
        self.drive();
        queued
    }

    /// Delivers what is queued, unless another thread is doing so (its drain then delivers it).
    pub fn drive(&self) {
        self.drain.drain(|down| self.pass(down));
    }

    /// Whether the downstream cancelled (or panicked).
    pub fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the Release stores in `cancel` and `pass`.
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether a terminal signal was queued or the downstream cancelled.
    pub fn is_finished(&self) -> bool {
        self.is_cancelled() || lock(&self.queue).terminated
    }

    /// Records the upstream subscription, to be cancelled when the downstream cancels or
    /// panics. A second one, or one arriving after the stream finished, is cancelled at once and
    /// `false` returned (rule 2.5).
    pub fn set_upstream(&self, up: Arc<dyn Subscription>) -> bool {
        let mut slot = lock(&self.up);
        if slot.is_some() || self.is_finished() {
            drop(slot);
            up.cancel();
            return false;
        }
        *slot = Some(up);
        true
    }

    /// The upstream subscription, while the stream runs.
    pub fn upstream(&self) -> Option<Arc<dyn Subscription>> {
        lock(&self.up).clone()
    }

    /// Cancels the upstream (once; later calls do nothing). The downstream is not told: queue
    /// the terminal signal it should get first.
    pub fn cancel_upstream(&self) {
        let up = lock(&self.up).take();
        if let Some(up) = up {
            up.cancel();
        }
    }

    /// The downstream cancelled: stop, cancel upstream, drop queued signals and the subscriber.
    pub fn cancel(&self) {
        // AcqRel: Release pairs with the Acquire in `is_cancelled`; only the first call acts.
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.cancel_upstream();
            self.drive();
        }
    }

    fn pass(&self, slot: &mut Option<S>) {
        loop {
            if slot.is_none() {
                lock(&self.queue).signals.clear();
                return;
            }
            if self.is_cancelled() {
                *slot = None;
                continue;
            }
            let Some(signal) = lock(&self.queue).signals.pop_front() else {
                return;
            };
            let down = slot.as_mut().expect("checked above");
            let terminal = signal.is_terminal();
            let result = catch_unwind(AssertUnwindSafe(|| match signal {
                Signal::Subscribe(s) => down.on_subscribe(s),
                Signal::Next(item) => down.on_next(item),
                Signal::Error(e) => down.on_error(e),
                Signal::Complete => down.on_complete(),
            }));
            if let Err(payload) = result {
                // 2.13: the subscription counts as cancelled; nobody downstream can be told.
                // Release: pairs with the Acquire in `is_cancelled`.
                self.cancelled.store(true, Ordering::Release);
                self.cancel_upstream();
                *slot = None;
                report_undeliverable(Error::from_panic(Rule::R2_13, payload).at_stage(self.stage));
            } else if terminal {
                *slot = None;
                lock(&self.up).take();
            }
        }
    }
}

impl<T, S> fmt::Debug for SignalSerializer<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalSerializer")
            .field("stage", &format_args!("{}", self.stage))
            .field("cancelled", &self.cancelled.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(rstreams_loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    #[derive(Default)]
    struct Log {
        items: Vec<(u32, u32)>,
        terminals: u32,
        depth: u32,
    }

    struct Rec(Arc<StdMutex<Log>>);

    impl Subscriber<(u32, u32)> for Rec {
        fn on_subscribe(&mut self, _: Box<dyn Subscription>) {}
        fn on_next(&mut self, x: (u32, u32)) {
            let mut log = self.0.lock().unwrap();
            log.depth += 1;
            assert_eq!(log.depth, 1, "two deliveries at once");
            log.items.push(x);
            log.depth -= 1;
        }
        fn on_error(&mut self, _: Error) {
            self.0.lock().unwrap().terminals += 1;
        }
        fn on_complete(&mut self) {
            self.0.lock().unwrap().terminals += 1;
        }
    }

    #[test]
    fn producers_are_serialised_in_order_with_one_terminal() {
        let log = Arc::new(StdMutex::new(Log::default()));
        let ser = Arc::new(SignalSerializer::new(
            Rec(Arc::clone(&log)),
            Location::caller(),
        ));
        std::thread::scope(|s| {
            for p in 0..4 {
                let ser = &ser;
                s.spawn(move || {
                    for i in 0..1_000 {
                        ser.push(Signal::Next((p, i)));
                    }
                });
            }
        });
        assert!(ser.push(Signal::Complete));
        assert!(!ser.push(Signal::Error(Error::msg("late"))));
        let log = log.lock().unwrap();
        assert_eq!(log.items.len(), 4_000);
        assert_eq!(log.terminals, 1);
        for p in 0..4 {
            let mine: Vec<u32> = log.items.iter().filter(|x| x.0 == p).map(|x| x.1).collect();
            assert_eq!(
                mine,
                (0..1_000).collect::<Vec<_>>(),
                "producer {p} out of order"
            );
        }
    }

    struct Panics;
    impl Subscriber<u32> for Panics {
        fn on_subscribe(&mut self, _: Box<dyn Subscription>) {}
        fn on_next(&mut self, _: u32) {
            panic!("subscriber exploded")
        }
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {}
    }

    struct Up(Arc<AtomicBool>);
    impl Subscription for Up {
        fn request(&self, _: u64) {}
        fn cancel(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_panicking_subscriber_cancels_upstream_and_stops_delivery() {
        let cancelled = Arc::new(AtomicBool::new(false));
        let ser = SignalSerializer::new(Panics, Location::caller());
        assert!(ser.set_upstream(Arc::new(Up(Arc::clone(&cancelled)))));
        // A second upstream is refused and cancelled (2.5).
        let second = Arc::new(AtomicBool::new(false));
        assert!(!ser.set_upstream(Arc::new(Up(Arc::clone(&second)))));
        assert!(second.load(Ordering::SeqCst));
        ser.push(Signal::Next(1)); // panics inside; must not escape
        assert!(cancelled.load(Ordering::SeqCst));
        assert!(ser.is_cancelled());
        assert!(!ser.push(Signal::Next(2)));
    }
}
