//! Subscribing to publishers one after another while carrying the downstream's demand over:
//! the machinery behind [`concat`](crate::concat) and
//! [`on_error_resume`](crate::PublisherExt::on_error_resume).
//!
//! The downstream receives one subscription for the whole sequence. Its requests are added to a
//! shared counter and forwarded to the current inner subscription; when an inner ends, what it
//! emitted is subtracted and the next inner is asked for exactly the remainder. Switching inners
//! is trampolined: an inner that completes synchronously inside `subscribe` hands over to the
//! loop already running on the stack instead of recursing, so a sequence of a million
//! synchronous publishers uses constant stack.

use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::guard;

/// How the previous inner ended (or that none has run yet).
pub(crate) enum Ended {
    Start,
    Complete,
    Error(Error),
}

/// What to do next.
pub(crate) enum Next<P> {
    Subscribe(P),
    Complete,
    Error(Error),
}

/// Decides the next publisher of a sequence.
pub(crate) trait Successor: Send + 'static {
    type Item;
    type Pub: Publisher<Item = Self::Item>;
    fn next(&mut self, ended: Ended) -> Next<Self::Pub>;
}

struct State<S, N> {
    /// Downstream demand not yet met, as of the last switch (items of the running inner are
    /// subtracted when it ends). `u64::MAX` is unbounded.
    requested: u64,
    current: Option<Arc<dyn Subscription>>,
    cancelled: bool,
    /// A `request(0)` arrived while no inner was running; the next inner gets it (rule 3.9).
    bad_request: bool,
    /// Whether a switching loop is on some stack right now.
    looping: bool,
    /// A hand-over left for the running loop.
    pending: Option<(S, N, Ended, u64)>,
}

struct Arb<S, N> {
    state: Mutex<State<S, N>>,
}

/// The downstream's subscription.
struct ArbSubscription<S, N>(Arc<Arb<S, N>>);

impl<S: Send, N: Send> Subscription for ArbSubscription<S, N> {
    fn request(&self, n: u64) {
        let current = {
            let mut st = self.0.state.lock();
            if st.cancelled {
                return;
            }
            if n == 0 {
                st.bad_request = st.current.is_none();
            } else {
                st.requested = st.requested.saturating_add(n);
            }
            st.current.clone()
        };
        if let Some(current) = current {
            current.request(n);
        }
    }

    fn cancel(&self) {
        let current = {
            let mut st = self.0.state.lock();
            st.cancelled = true;
            // Dropping a parked hand-over releases the downstream at once (rule 3.13).
            st.pending = None;
            st.current.take()
        };
        if let Some(current) = current {
            current.cancel();
        }
    }
}

/// Sends `on_subscribe` to `down` and runs the sequence.
pub(crate) fn start<T, S, N>(mut down: S, successor: N)
where
    T: 'static,
    S: Subscriber<T> + Send + 'static,
    N: Successor<Item = T>,
{
    let arb = Arc::new(Arb {
        state: Mutex::new(State {
            requested: 0,
            current: None,
            cancelled: false,
            bad_request: false,
            looping: true,
            pending: None,
        }),
    });
    let sub = Box::new(ArbSubscription(Arc::clone(&arb)));
    if let Err(p) = guard(|| down.on_subscribe(sub)) {
        report_undeliverable(Error::from_panic(Rule::R2_13, p));
        return;
    }
    run(&arb, (down, successor, Ended::Start, 0));
}

fn run<T, S, N>(arb: &Arc<Arb<S, N>>, mut turn: (S, N, Ended, u64))
where
    T: 'static,
    S: Subscriber<T> + Send + 'static,
    N: Successor<Item = T>,
{
    loop {
        let (mut down, mut successor, ended, produced) = turn;
        {
            let mut st = arb.state.lock();
            if st.cancelled {
                st.looping = false;
                return; // drops the downstream and the successor
            }
            if st.requested != u64::MAX {
                st.requested -= produced.min(st.requested);
            }
            st.current = None;
        }
        match successor.next(ended) {
            Next::Subscribe(publisher) => {
                publisher.subscribe(Inner {
                    down: Some(down),
                    successor: Some(successor),
                    arb: Arc::clone(arb),
                    produced: 0,
                });
            }
            Next::Complete => {
                arb.state.lock().looping = false;
                down.on_complete();
                return;
            }
            Next::Error(error) => {
                arb.state.lock().looping = false;
                down.on_error(error);
                return;
            }
        }
        let mut st = arb.state.lock();
        match st.pending.take() {
            Some(next) => turn = next,
            None => {
                st.looping = false;
                return;
            }
        }
    }
}

/// Subscribes to one publisher of the sequence and forwards its items.
struct Inner<S, N> {
    down: Option<S>,
    successor: Option<N>,
    arb: Arc<Arb<S, N>>,
    produced: u64,
}

impl<S, N> Inner<S, N> {
    fn hand_over<T>(&mut self, ended: Ended)
    where
        T: 'static,
        S: Subscriber<T> + Send + 'static,
        N: Successor<Item = T>,
    {
        let (Some(down), Some(successor)) = (self.down.take(), self.successor.take()) else {
            return;
        };
        let turn = (down, successor, ended, self.produced);
        {
            let mut st = self.arb.state.lock();
            if st.looping {
                // The loop that subscribed us is still on the stack (or another thread's):
                // leave the turn to it instead of recursing.
                st.pending = Some(turn);
                return;
            }
            st.looping = true;
        }
        run(&self.arb, turn);
    }
}

impl<T, S, N> Subscriber<T> for Inner<S, N>
where
    T: 'static,
    S: Subscriber<T> + Send + 'static,
    N: Successor<Item = T>,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let (requested, bad) = {
            let mut st = self.arb.state.lock();
            if st.cancelled || st.current.is_some() || self.down.is_none() {
                drop(st);
                s.cancel();
                return;
            }
            st.current = Some(Arc::clone(&s));
            (st.requested, std::mem::take(&mut st.bad_request))
        };
        if bad {
            s.request(0);
        } else if requested > 0 {
            s.request(requested);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(down) = &mut self.down {
            self.produced += 1;
            down.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.hand_over(Ended::Error(error));
    }

    fn on_complete(&mut self) {
        self.hand_over(Ended::Complete);
    }
}

/// Either of two publishers of the same item type.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

impl<T, A, B> Publisher for Either<A, B>
where
    A: Publisher<Item = T>,
    B: Publisher<Item = T>,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        match self {
            Either::Left(a) => a.subscribe(subscriber),
            Either::Right(b) => b.subscribe(subscriber),
        }
    }
}

// ---- buffer bill (issue 12) ----
impl<A, B> crate::diag::bill::BufferBill for Either<A, B>
where
    A: crate::diag::bill::BufferBill,
    B: crate::diag::bill::BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        match self {
            Either::Left(a) => a.bill_rows(rows),
            Either::Right(b) => b.bill_rows(rows),
        }
    }
}
