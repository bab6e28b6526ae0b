//! `buffer_timeout`: batches of at most `n` items, flushed early after a duration; see
//! [`BufferTimeout`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::Scheduler;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

use super::{Armed, arm_timer};
use crate::stage::{Loc, reject};
use rstreams_protocol::signal::{Signal, SignalSerializer as Serializer};

/// The publisher made by [`PublisherExt::buffer_timeout`](crate::PublisherExt::buffer_timeout): emits a
/// `Vec` when it holds `n` items, or when `d` has passed since its first item, whichever comes
/// first (never an empty batch).
///
/// Demand: one batch of upstream demand at a time. While the downstream wants batches, the
/// stage keeps exactly `n - buffered` items requested upstream, so it never holds more than `n`
/// items and a batch cut short by the timer never leaves surplus demand behind. A batch that is
/// due (full or timed out) while the downstream has no demand waits for its next `request`.
/// `n = 0` fails the subscriber with a clear error.
pub struct BufferTimeout<P> {
    pub(crate) upstream: P,
    pub(crate) n: usize,
    pub(crate) d: Duration,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    pub(crate) loc: Loc,
}

impl<P: fmt::Debug> fmt::Debug for BufferTimeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferTimeout")
            .field("upstream", &self.upstream)
            .field("n", &self.n)
            .field("d", &self.d)
            .finish()
    }
}

impl<P> Publisher for BufferTimeout<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;
    fn subscribe<S: Subscriber<Vec<P::Item>> + Send + 'static>(&self, subscriber: S) {
        if self.n == 0 {
            reject(
                subscriber,
                Error::msg("buffer_timeout: the batch size must be at least 1").at_stage(self.loc),
            );
            return;
        }
        let shared = Arc::new(Shared {
            ser: Serializer::new(subscriber, self.loc),
            state: Mutex::new(State {
                buf: Vec::new(),
                demand: 0,
                outstanding: 0,
                due: false,
                done: None,
                generation: 0,
                timer: None,
            }),
            n: self.n,
            d: self.d,
            scheduler: Arc::clone(&self.scheduler),
            loc: self.loc,
        });
        self.upstream.subscribe(BtSubscriber { shared });
    }
}

struct State<T> {
    buf: Vec<T>,
    /// Batches the downstream asked for and has not received.
    demand: u64,
    /// Items requested upstream and not yet received.
    outstanding: u64,
    /// The current batch is due (full or timed out) and waits for demand.
    due: bool,
    /// The upstream ended: `Some(None)` completed, `Some(Some(e))` failed.
    done: Option<Option<Error>>,
    generation: u64,
    timer: Option<Armed>,
}

struct Shared<T, S> {
    ser: Serializer<Vec<T>, S>,
    state: Mutex<State<T>>,
    n: usize,
    d: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
}

impl<T, S> Shared<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + Send + 'static,
{
    /// Emits what can be emitted and returns how much to request upstream. Enqueues under the
    /// state lock (so batches keep their order); the caller drives after unlocking.
    fn settle(&self, st: &mut State<T>) -> u64 {
        if (st.due || st.buf.len() == self.n) && !st.buf.is_empty() && st.demand > 0 {
            st.demand -= 1;
            st.due = false;
            st.generation += 1;
            if let Some(t) = st.timer.take() {
                t.cancel();
            }
            let batch = std::mem::take(&mut st.buf);
            self.ser.enqueue(Signal::Next(batch));
        }
        if let Some(end) = &st.done {
            if st.buf.is_empty() || st.demand > 0 {
                if !st.buf.is_empty() {
                    st.demand -= 1;
                    let batch = std::mem::take(&mut st.buf);
                    self.ser.enqueue(Signal::Next(batch));
                }
                let signal = match end.clone() {
                    Some(e) => Signal::Error(e),
                    None => Signal::Complete,
                };
                self.ser.enqueue(signal);
            }
            return 0;
        }
        if st.demand == 0 {
            return 0;
        }
        let have = st.buf.len() as u64 + st.outstanding;
        let ask = (self.n as u64).saturating_sub(have);
        st.outstanding += ask;
        ask
    }

    fn after(&self, ask: u64) {
        if ask > 0 {
            let up = self.ser.upstream();
            if let Some(up) = up {
                up.request(ask);
            }
        }
        self.ser.drive();
    }

    fn arm(self: &Arc<Self>, st: &mut State<T>) {
        let generation = st.generation;
        let weak = Arc::downgrade(self);
        let lost = weak.clone();
        let fired = move || {
            let Some(me) = weak.upgrade() else { return };
            let ask = {
                let mut st = me.state.lock();
                if st.generation != generation || st.buf.is_empty() {
                    return;
                }
                st.due = true;
                me.settle(&mut st)
            };
            me.after(ask);
        };
        // Dropped unrun (the scheduler shut down): the batch can no longer be cut by time, so
        // end the stream with an error rather than leave it waiting for a timer that never fires.
        let lost = move || {
            let Some(me) = lost.upgrade() else { return };
            let ask = {
                let mut st = me.state.lock();
                if st.generation != generation || st.done.is_some() {
                    return;
                }
                tracing::debug!(stage = %me.loc, "buffer_timeout timer dropped by its scheduler");
                st.done = Some(Some(
                    Error::msg(
                        "buffer_timeout: the scheduler shut down before the timer fired; \
                         the batch cannot be cut by time any more",
                    )
                    .at_stage(me.loc),
                ));
                me.ser.cancel_upstream();
                me.settle(&mut st)
            };
            me.after(ask);
        };
        match arm_timer(&*self.scheduler, self.d, fired, lost) {
            Ok(armed) => st.timer = Some(armed),
            Err(reason) => {
                let e = Error::msg(format!(
                    "buffer_timeout: the scheduler refused the timer ({reason})"
                ))
                .at_stage(self.loc);
                st.done = Some(Some(e));
                self.ser.cancel_upstream();
            }
        }
    }
}

struct BtSubscriber<T, S> {
    shared: Arc<Shared<T, S>>,
}

impl<T, S> Subscriber<T> for BtSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        if !self.shared.ser.set_upstream(up) {
            return; // a second upstream, or after the end: cancelled (2.5)
        }
        self.shared
            .ser
            .push(Signal::Subscribe(Box::new(BtSubscription(Arc::clone(
                &self.shared,
            )))));
    }

    fn on_next(&mut self, item: T) {
        let sh = &self.shared;
        let ask = {
            let mut st = sh.state.lock();
            if st.done.is_some() {
                return;
            }
            st.outstanding = st.outstanding.saturating_sub(1);
            st.buf.push(item);
            if st.buf.len() == 1 && sh.n > 1 {
                sh.arm(&mut st);
            }
            sh.settle(&mut st)
        };
        sh.after(ask);
    }

    fn on_error(&mut self, error: Error) {
        self.end(Some(error));
    }

    fn on_complete(&mut self) {
        self.end(None);
    }
}

impl<T, S> BtSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + Send + 'static,
{
    fn end(&mut self, error: Option<Error>) {
        let ask = {
            let mut st = self.shared.state.lock();
            if st.done.is_some() {
                return;
            }
            st.done = Some(error);
            if let Some(t) = st.timer.take() {
                t.cancel();
            }
            self.shared.settle(&mut st)
        };
        self.shared.after(ask);
    }
}

struct BtSubscription<T, S>(Arc<Shared<T, S>>);

impl<T, S> Subscription for BtSubscription<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + Send + 'static,
{
    fn request(&self, k: u64) {
        if k == 0 {
            let e = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                .at_stage(self.0.loc);
            if self.0.ser.enqueue(Signal::Error(e)) {
                self.0.ser.cancel_upstream();
            }
            self.0.ser.drive();
            return;
        }
        let ask = {
            let mut st = self.0.state.lock();
            st.demand = st.demand.saturating_add(k);
            self.0.settle(&mut st)
        };
        self.0.after(ask);
    }

    fn cancel(&self) {
        {
            let mut st = self.0.state.lock();
            if let Some(t) = st.timer.take() {
                t.cancel();
            }
            st.buf.clear();
            st.done.get_or_insert(None);
        }
        self.0.ser.cancel();
    }
}
