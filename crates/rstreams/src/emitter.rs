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
/// let sum: u32 = rx.blocking_iter(8).map(Result::unwrap).sum();
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

/// `send` failed: the subscriber cancelled (or the stream was ended with [`Emitter::fail`]).
/// The item is given back.
pub struct SendError<T>(pub T);

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
        self.0
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
        f.write_str("SendError(..)")
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the subscriber cancelled or the stream was ended; the item is returned")
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
    /// Buffers `item`, blocking while the buffer is full. Gives the item back if the subscriber
    /// has cancelled or the stream was ended with [`fail`](Self::fail).
    ///
    /// Do not call it from inside the subscriber's own `on_next` with a full buffer: the thread
    /// would wait for itself.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.send_until(item, None)
            .map_err(|e| SendError(e.into_inner()))
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
        pull::serve_with_at(
            subscriber,
            move |handle| {
                shared.state.lock().handle = Some(handle);
                EmitSource { shared }
            },
            self.shared.loc,
        );
    }
}
