//! A bounded producer handle for plain threads: [`emitter`] returns an [`Emitter`] (cloneable,
//! blocking `send`) and the [`EmitterPublisher`] its items flow out of.
//!
//! The buffer holds at most `capacity` items; `send` blocks while it is full, which is whenever
//! the subscriber is slower than the producers or has not asked for more. Items leave the buffer
//! only on demand (built on the protocol crate's [`pull`] kit: the
//! producer's `send` wakes the kit with [`PullHandle::wake`], and the subscriber's `on_next` runs
//! on the thread that woke it or on the thread that requested).
//!
//! No item is lost silently: `send` either buffers the item (`Ok`) or gives it back (`Err`)
//! because the subscriber cancelled or the stream was ended with [`Emitter::fail`]; items that
//! were buffered when the subscriber cancelled can be taken back with
//! [`Emitter::undelivered`]. The stream completes once every `Emitter` clone is dropped and the
//! buffer has drained.

use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

use crate::stage::{Loc, reject};

/// Creates a bounded emitter of at most `capacity` buffered items (a `capacity` of 0 is treated
/// as 1) and the unicast publisher its items come out of.
///
/// ```
/// use rstreams::prelude::*;
/// let (tx, rx) = rstreams::emitter::<u32>(16);
/// let producer = std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.send(i).unwrap(); // blocks while 16 items wait for demand
///     }
///     // dropping `tx` completes the stream
/// });
/// let sum: u32 = rx.blocking_iter_with(8).map(Result::unwrap).sum();
/// producer.join().unwrap();
/// assert_eq!(sum, 4950);
/// ```
#[track_caller]
pub fn emitter<T: Send + 'static>(capacity: usize) -> (Emitter<T>, EmitterPublisher<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
            closed: None,
            cancelled: false,
            subscribed: false,
            handle: None,
        }),
        not_full: Condvar::new(),
        capacity: capacity.max(1),
        loc: Location::caller(),
    });
    (
        Emitter {
            shared: Arc::clone(&shared),
        },
        EmitterPublisher { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_full: Condvar,
    capacity: usize,
    loc: Loc,
}

struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    /// Set by [`Emitter::fail`]: the stream ends with this once the buffer drains.
    closed: Option<Error>,
    /// The subscriber cancelled or went away.
    cancelled: bool,
    subscribed: bool,
    handle: Option<PullHandle>,
}

/// The producer side of [`emitter`]. `Clone` it for several producer threads; the stream
/// completes when the last clone is dropped.
pub struct Emitter<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Emitter")
            .field("buffered", &st.queue.len())
            .field("capacity", &self.shared.capacity)
            .field("cancelled", &st.cancelled)
            .finish()
    }
}

impl<T> Clone for Emitter<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().senders += 1;
        Emitter {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Why [`Emitter::send`] gave the item back.
pub enum SendError<T> {
    /// The subscriber cancelled, or the stream was ended with [`Emitter::fail`].
    Closed(T),
    /// The buffer was full and `send` was called from inside this emitter's own delivery (the
    /// subscriber's `on_next`, or a stage it calls synchronously): waiting would wait for the
    /// very call that has to return before the buffer can drain, forever. Use
    /// [`try_send`](Emitter::try_send) or [`send_timeout`](Emitter::send_timeout) there.
    WouldDeadlock(T),
}

/// Why [`Emitter::try_send`] gave the item back.
pub enum TrySendError<T> {
    /// The buffer is full.
    Full(T),
    /// The subscriber cancelled or the stream was ended.
    Closed(T),
}

/// Why [`Emitter::send_timeout`] gave the item back.
pub enum SendTimeoutError<T> {
    /// The buffer stayed full until the deadline.
    Timeout(T),
    /// The subscriber cancelled or the stream was ended.
    Closed(T),
}

impl<T> SendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Closed(t) | SendError::WouldDeadlock(t) => t,
        }
    }
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(t) | TrySendError::Closed(t) => t,
        }
    }
}

impl<T> SendTimeoutError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(t) | SendTimeoutError::Closed(t) => t,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::WouldDeadlock(_) => f.write_str("WouldDeadlock(..)"),
        }
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str(
                "the subscriber cancelled or the stream was ended; the item is returned",
            ),
            SendError::WouldDeadlock(_) => f.write_str(
                "send on a full emitter from inside its own subscriber's on_next would wait for \
                 itself forever; the item is returned (use try_send or send_timeout there)",
            ),
        }
    }
}
impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}
impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the emitter's buffer is full"),
            TrySendError::Closed(_) => f.write_str("the subscriber cancelled or the stream ended"),
        }
    }
}
impl<T> std::error::Error for TrySendError<T> {}

impl<T> fmt::Debug for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            SendTimeoutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}
impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout(_) => f.write_str("the emitter's buffer stayed full"),
            SendTimeoutError::Closed(_) => {
                f.write_str("the subscriber cancelled or the stream ended")
            }
        }
    }
}
impl<T> std::error::Error for SendTimeoutError<T> {}

impl<T: Send + 'static> Emitter<T> {
    /// Buffers `item`, blocking while the buffer is full. Gives the item back
    /// ([`SendError::Closed`]) if the subscriber has cancelled or the stream was ended with
    /// [`fail`](Self::fail).
    ///
    /// Called from inside this emitter's own delivery path (the subscriber's `on_next`) while the
    /// buffer is full, it would wait for itself: it returns [`SendError::WouldDeadlock`] at once
    /// instead. (With room in the buffer it simply buffers the item.)
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.send_until(item, None).map_err(|e| match e {
            SendTimeoutError::Timeout(t) => SendError::WouldDeadlock(t),
            SendTimeoutError::Closed(t) => SendError::Closed(t),
        })
    }

    /// Buffers `item` if there is room now.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut st = self.shared.state.lock();
        if st.cancelled || st.closed.is_some() {
            return Err(TrySendError::Closed(item));
        }
        if st.queue.len() >= self.shared.capacity {
            return Err(TrySendError::Full(item));
        }
        st.queue.push_back(item);
        let handle = st.handle.clone();
        drop(st);
        if let Some(h) = handle {
            h.wake();
        }
        Ok(())
    }

    /// Like [`send`](Self::send), giving up after `timeout`.
    pub fn send_timeout(&self, item: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(item, Some(Instant::now() + timeout))
    }

    fn send_until(&self, item: T, deadline: Option<Instant>) -> Result<(), SendTimeoutError<T>> {
        let mut st = self.shared.state.lock();
        loop {
            if st.cancelled || st.closed.is_some() {
                return Err(SendTimeoutError::Closed(item));
            }
            if st.queue.len() < self.shared.capacity {
                st.queue.push_back(item);
                let handle = st.handle.clone();
                drop(st);
                // Outside the lock: waking may run the subscriber's on_next on this thread.
                if let Some(h) = handle {
                    h.wake();
                }
                return Ok(());
            }
            match deadline {
                // Waiting from inside our own delivery would never end: report it. (`send` turns
                // this `Timeout` into `WouldDeadlock`; nothing else calls with `None`.)
                None if delivering(&self.shared) => {
                    tracing::warn!(
                        stage = %self.shared.loc,
                        "Emitter::send on a full buffer from inside its own on_next; refused"
                    );
                    return Err(SendTimeoutError::Timeout(item));
                }
                None => self.shared.not_full.wait(&mut st),
                Some(d) => {
                    if self.shared.not_full.wait_until(&mut st, d).timed_out()
                        && st.queue.len() >= self.shared.capacity
                        && !st.cancelled
                    {
                        return Err(SendTimeoutError::Timeout(item));
                    }
                }
            }
        }
    }

    /// Ends the stream with `error` once the already-buffered items are delivered; later sends
    /// from any clone are refused.
    pub fn fail(self, error: Error) {
        let handle = {
            let mut st = self.shared.state.lock();
            if st.closed.is_none() {
                st.closed = Some(error.at_stage(self.shared.loc));
            }
            st.handle.clone()
        };
        self.shared.not_full.notify_all();
        if let Some(h) = handle {
            h.wake();
        }
    }

    /// Whether the subscriber has cancelled (sends will be refused).
    pub fn is_cancelled(&self) -> bool {
        self.shared.state.lock().cancelled
    }

    /// The subscriber's outstanding demand (0 before it subscribes and after it ends).
    pub fn requested(&self) -> u64 {
        let handle = self.shared.state.lock().handle.clone();
        handle.map_or(0, |h| h.requested())
    }

    /// Takes back the items that were buffered but not delivered because the subscriber
    /// cancelled. Empty while the stream is live.
    pub fn undelivered(&self) -> Vec<T> {
        let mut st = self.shared.state.lock();
        if st.cancelled {
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        }
    }
}

impl<T> Drop for Emitter<T> {
    fn drop(&mut self) {
        let handle = {
            let mut st = self.shared.state.lock();
            st.senders -= 1;
            if st.senders != 0 {
                return;
            }
            st.handle.clone()
        };
        // The last handle is gone: let the kit see the end (after the buffer drains).
        if let Some(h) = handle {
            h.wake();
        }
    }
}

/// The consumer side of [`emitter`]: a unicast publisher. A second subscriber receives
/// `on_subscribe` then `on_error` with an error whose [`rule`](Error::rule) is 1.11.
pub struct EmitterPublisher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> fmt::Debug for EmitterPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmitterPublisher")
            .field("loc", &self.shared.loc)
            .finish()
    }
}

struct EmitSource<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Source for EmitSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "emitter"
    }
    #[inline]
    fn pull(&mut self) -> Step<T> {
        let mut st = self.shared.state.lock();
        if let Some(item) = st.queue.pop_front() {
            drop(st);
            self.shared.not_full.notify_all();
            return Step::Next(item);
        }
        if let Some(e) = st.closed.clone() {
            return Step::Error(e);
        }
        if st.senders == 0 {
            return Step::Complete;
        }
        Step::Pending
    }
    fn is_exhausted(&mut self) -> bool {
        let st = self.shared.state.lock();
        st.queue.is_empty() && (st.senders == 0 || st.closed.is_some())
    }

    /// The default loop, with this thread marked as delivering for this emitter meanwhile: the
    /// kit calls the subscriber's `on_next` from inside `emit`, so a blocking `send` made there
    /// can tell that it would wait for itself.
    #[inline]
    fn pull_many<F>(&mut self, limit: u64, emit: F) -> (u64, Option<Step<T>>)
    where
        F: FnMut(T) -> bool,
    {
        let _marker = Delivering::enter(&self.shared);
        rstreams_protocol::pull::pull_one_by_one(self, limit, emit)
    }
}

thread_local! {
    /// The emitters (their shared state's address) whose items this thread is delivering now;
    /// nested when one emitter's subscriber feeds another.
    static DELIVERING: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn address<T>(shared: &Arc<Shared<T>>) -> usize {
    Arc::as_ptr(shared) as *const () as usize
}

/// Whether this thread is inside a delivery of `shared`'s items.
fn delivering<T>(shared: &Arc<Shared<T>>) -> bool {
    let me = address(shared);
    DELIVERING.with(|d| d.borrow().contains(&me))
}

/// Marks the thread as delivering for one emitter until dropped (also when unwinding).
struct Delivering;

impl Delivering {
    fn enter<T>(shared: &Arc<Shared<T>>) -> Self {
        DELIVERING.with(|d| d.borrow_mut().push(address(shared)));
        Delivering
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        DELIVERING.with(|d| {
            d.borrow_mut().pop();
        });
    }
}

impl<T> Drop for EmitSource<T> {
    fn drop(&mut self) {
        // Dropped by the kit after a terminal signal or cancel: refuse further sends and wake
        // every blocked producer so that it gets its item back.
        {
            let mut st = self.shared.state.lock();
            st.cancelled = true;
            st.handle = None;
            if !st.queue.is_empty() {
                tracing::debug!(
                    buffered = st.queue.len(),
                    "emitter subscriber cancelled with items buffered; see Emitter::undelivered"
                );
            }
        }
        self.shared.not_full.notify_all();
    }
}

impl<T: Send + 'static> Publisher for EmitterPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        {
            let mut st = self.shared.state.lock();
            if st.subscribed {
                drop(st);
                reject(
                    subscriber,
                    Error::violation(
                        Rule::R1_11,
                        "an emitter's publisher is unicast and already has its subscriber",
                    )
                    .at_stage(self.shared.loc),
                );
                return;
            }
            st.subscribed = true;
        }
        let shared = Arc::clone(&self.shared);
        pull::serve_with(
            move |handle| {
                shared.state.lock().handle = Some(handle);
                EmitSource { shared }.at(self.shared.loc)
            },
            subscriber,
        );
    }
}

// ---- buffer bill (issue 12) ----
impl<T> crate::diag::bill::BufferBill for EmitterPublisher<T> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        let bound = Bound::items(self.shared.capacity as u64);
        rows.push(Row::new("emitter", Some(self.shared.loc), bound).note("its buffer"));
    }
}
