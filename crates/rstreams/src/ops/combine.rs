//! Combining operators: [`combine_latest()`], [`with_latest_from`](crate::PublisherExt::with_latest_from)
//! and [`zip3()`]. The first two serve their downstream with the pull kit (inputs only update a
//! mutex-guarded state and wake it); `zip3` is two [`Zip`] stages, no new machinery.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use super::relay::{MainHost, MainIn, MainLane, Waker, pull_main, pull_one};
use crate::flat::Zip;
use crate::stage::{Loc, closure_panic, guard, reject};

/// The per-source prefetch of [`combine_latest()`] (Reactor's `Queues.XS_BUFFER_SIZE`).
pub const DEFAULT_COMBINE_PREFETCH: usize = 32;

// ---------------------------------------------------------------- combine_latest

/// The publisher made by [`combine_latest()`].
#[derive(Debug)]
pub struct CombineLatest<A, B, F> {
    a: A,
    b: B,
    f: Arc<F>,
    prefetch: usize,
    loc: Loc,
}

impl<A: Clone, B: Clone, F> Clone for CombineLatest<A, B, F> {
    fn clone(&self) -> Self {
        CombineLatest {
            a: self.a.clone(),
            b: self.b.clone(),
            f: Arc::clone(&self.f),
            prefetch: self.prefetch,
            loc: self.loc,
        }
    }
}

/// Each time either source emits, once both have emitted at least once, emits
/// `f(&latest_a, &latest_b)`.
///
/// * Demand: each source is asked for [`DEFAULT_COMBINE_PREFETCH`] items, then for 75% of that
///   each time as many of its items have been consumed; `f` runs only for downstream demand.
/// * Buffer: at most `2 × prefetch` arrivals waiting, plus the latest item of each source.
/// * Ends: completes when both sources have completed and every arrival was combined, or at
///   once when a source completes without ever emitting (no combination is possible); the
///   first error cancels both. A panic in `f` fails the stream with rule 2.13 and this call's
///   location.
///
/// Matches Reactor's `Flux.combineLatest(a, b, combinator)`; the combinator borrows the latest
/// values instead of receiving copies.
///
/// ```
/// use rstreams::prelude::*;
/// let v = rstreams::combine_latest(rstreams::just(10), rstreams::range(0, 3), |a, b| a + b)
///     .to_vec()
///     .blocking_first()?;
/// assert_eq!(v, Some(vec![10, 11, 12]));
/// # Ok::<(), rstreams::Error>(())
/// ```
#[doc(alias = "combineLatest")]
#[track_caller]
pub fn combine_latest<A, B, F, R>(a: A, b: B, f: F) -> CombineLatest<A, B, F>
where
    A: Publisher,
    B: Publisher,
    F: Fn(&A::Item, &B::Item) -> R + Send + Sync + 'static,
{
    CombineLatest {
        a,
        b,
        f: Arc::new(f),
        prefetch: DEFAULT_COMBINE_PREFETCH,
        loc: Location::caller(),
    }
}

struct Side<X> {
    latest: Option<X>,
    sub: Option<Arc<dyn Subscription>>,
    outstanding: u64,
    consumed: u64,
    complete: bool,
    subscribed: bool,
}

impl<X> Side<X> {
    fn new() -> Self {
        Side {
            latest: None,
            sub: None,
            outstanding: 0,
            consumed: 0,
            complete: false,
            subscribed: false,
        }
    }
    /// Completed without a single item: nothing can ever be combined.
    fn dead(&self) -> bool {
        self.complete && self.latest.is_none()
    }
    fn consume(&mut self, limit: u64) -> Option<(Arc<dyn Subscription>, u64)> {
        self.consumed += 1;
        if self.consumed < limit || self.complete {
            return None;
        }
        let sub = self.sub.clone()?;
        let n = std::mem::take(&mut self.consumed);
        self.outstanding += n;
        Some((sub, n))
    }
}

enum Arrival<A, B> {
    A(A),
    B(B),
}

struct CState<A, B> {
    arrivals: VecDeque<Arrival<A, B>>,
    a: Side<A>,
    b: Side<B>,
    error: Option<Error>,
    cancelled: bool,
}

impl<A, B> CState<A, B> {
    fn ended(&self) -> bool {
        self.arrivals.is_empty()
            && ((self.a.complete && self.b.complete) || self.a.dead() || self.b.dead())
    }
    fn take_subs(&mut self) -> [Option<Arc<dyn Subscription>>; 2] {
        self.arrivals.clear();
        [self.a.sub.take(), self.b.sub.take()]
    }
}

struct CCore<A, B, F> {
    state: Mutex<CState<A, B>>,
    waker: Waker,
    f: Arc<F>,
    prefetch: u64,
    limit: u64,
    loc: Loc,
}

impl<A, B, F> CCore<A, B, F> {
    fn fail(&self, error: Error) {
        let subs = {
            let mut st = self.state.lock();
            if st.error.is_some() || st.cancelled {
                drop(st);
                report_undeliverable(error);
                return;
            }
            st.error = Some(error);
            st.take_subs()
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
        self.waker.wake();
    }
}

impl<A, B, F, R> Publisher for CombineLatest<A, B, F>
where
    A: Publisher,
    B: Publisher,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    F: Fn(&A::Item, &B::Item) -> R + Send + Sync + 'static,
    R: 'static,
{
    type Item = R;
    fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        let prefetch = self.prefetch as u64;
        let core = Arc::new(CCore {
            state: Mutex::new(CState {
                arrivals: VecDeque::new(),
                a: Side::new(),
                b: Side::new(),
                error: None,
                cancelled: false,
            }),
            waker: Waker::default(),
            f: Arc::clone(&self.f),
            prefetch,
            limit: (prefetch - prefetch / 4).max(1),
            loc: self.loc,
        });
        let c = Arc::clone(&core);
        pull::serve_with(
            move |handle| {
                c.waker.set(handle);
                CombineSource { core: c }.at(self.loc)
            },
            subscriber,
        );
        if core.state.lock().cancelled {
            return;
        }
        self.a.subscribe(CombineInput {
            core: Arc::clone(&core),
            side: |st| &mut st.a,
            wrap: Arrival::A,
        });
        if core.state.lock().cancelled {
            return;
        }
        self.b.subscribe(CombineInput {
            core,
            side: |st| &mut st.b,
            wrap: Arrival::B,
        });
    }
}

type SideOf<A, B, X> = fn(&mut CState<A, B>) -> &mut Side<X>;

struct CombineInput<A, B, F, X> {
    core: Arc<CCore<A, B, F>>,
    side: SideOf<A, B, X>,
    wrap: fn(X) -> Arrival<A, B>,
}

impl<A, B, F, X> Subscriber<X> for CombineInput<A, B, F, X> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            let over = st.cancelled || st.error.is_some();
            let side = (self.side)(&mut st);
            if over || side.subscribed {
                false
            } else {
                side.subscribed = true;
                side.sub = Some(Arc::clone(&s));
                side.outstanding = self.core.prefetch;
                true
            }
        };
        if accepted {
            s.request(self.core.prefetch);
        } else {
            s.cancel();
        }
    }

    fn on_next(&mut self, item: X) {
        let overflow = {
            let mut st = self.core.state.lock();
            if st.cancelled || st.error.is_some() {
                return;
            }
            let side = (self.side)(&mut st);
            if side.outstanding == 0 {
                true
            } else {
                side.outstanding -= 1;
                st.arrivals.push_back((self.wrap)(item));
                false
            }
        };
        if overflow {
            self.core.fail(
                Error::violation(
                    Rule::R1_1,
                    "a combined source sent more items than asked for",
                )
                .at_stage(self.core.loc),
            );
        } else {
            self.core.waker.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        self.core.fail(error);
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.core.state.lock();
            let side = (self.side)(&mut st);
            side.complete = true;
            side.sub = None;
        }
        self.core.waker.wake();
    }
}

struct CombineSource<A, B, F> {
    core: Arc<CCore<A, B, F>>,
}

impl<A, B, F, R> Source for CombineSource<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    F: Fn(&A, &B) -> R + Send + Sync + 'static,
{
    type Item = R;

    fn stage_name(&self) -> &'static str {
        "combine_latest"
    }

    fn pull(&mut self) -> Step<R> {
        loop {
            let mut st = self.core.state.lock();
            if let Some(e) = &st.error {
                return Step::Error(e.clone());
            }
            let Some(arrival) = st.arrivals.pop_front() else {
                return if st.ended() {
                    Step::Complete
                } else {
                    Step::Pending
                };
            };
            let more = match arrival {
                Arrival::A(x) => {
                    st.a.latest = Some(x);
                    st.a.consume(self.core.limit)
                }
                Arrival::B(x) => {
                    st.b.latest = Some(x);
                    st.b.consume(self.core.limit)
                }
            };
            // `f` runs under the state lock: it borrows both latest values; the inputs only
            // wait for it to return.
            let out = match (&st.a.latest, &st.b.latest) {
                (Some(a), Some(b)) => Some(guard(|| (self.core.f)(a, b))),
                _ => None,
            };
            drop(st);
            if let Some((sub, n)) = more {
                sub.request(n);
            }
            match out {
                Some(Ok(r)) => return Step::Next(r),
                Some(Err(p)) => return Step::Error(closure_panic(p, self.core.loc)),
                None => continue, // one side has no value yet: nothing to emit
            }
        }
    }

    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        st.error.is_some() || st.ended()
    }
}

impl<A, B, F> Drop for CombineSource<A, B, F> {
    fn drop(&mut self) {
        let subs = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            st.take_subs()
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
    }
}

// ---------------------------------------------------------------- with_latest_from

/// The publisher made by
/// [`PublisherExt::with_latest_from`](crate::PublisherExt::with_latest_from): for each upstream
/// item, emits `f(item, &latest_other)`; upstream items that arrive before `other` has emitted
/// anything are dropped.
///
/// * Demand: the upstream gets the downstream's outstanding demand (requests of at most
///   [`RELAY_BATCH`](crate::ops::RELAY_BATCH)), and dropped items are asked for again; `other`
///   is asked for unbounded demand, as in Reactor, since only its latest value is kept.
/// * Buffer: at most `min(outstanding demand, RELAY_BATCH)` upstream items, and one value of
///   `other`.
/// * Ends: with the upstream; also completes (cancelling the upstream) if `other` completes
///   without ever emitting, as Reactor does. An error of either fails the stream and cancels
///   the other. A panic in `f` fails with rule 2.13 and the assembly location.
#[derive(Clone, Debug)]
pub struct WithLatestFrom<P, Q, F> {
    pub(crate) upstream: P,
    pub(crate) other: Q,
    pub(crate) f: Arc<F>,
    pub(crate) loc: Loc,
}

struct WState<T, U> {
    main: MainLane<T>,
    latest: Option<U>,
    other: Option<Arc<dyn Subscription>>,
    other_subscribed: bool,
    /// `other` completed without a value.
    other_empty: bool,
    error: Option<Error>,
    cancelled: bool,
}

struct WCore<T, U, F> {
    state: Mutex<WState<T, U>>,
    waker: Waker,
    f: Arc<F>,
    loc: Loc,
}

impl<T, U, F> WCore<T, U, F> {
    fn ended(st: &WState<T, U>) -> bool {
        st.cancelled || st.error.is_some() || st.other_empty
    }
}

impl<P, Q, F, R> Publisher for WithLatestFrom<P, Q, F>
where
    P: Publisher,
    Q: Publisher,
    P::Item: Send + 'static,
    Q::Item: Send + 'static,
    F: Fn(P::Item, &Q::Item) -> R + Send + Sync + 'static,
    R: 'static,
{
    type Item = R;
    fn subscribe<S: Subscriber<R> + Send + 'static>(&self, subscriber: S) {
        let core = Arc::new(WCore {
            state: Mutex::new(WState {
                main: MainLane::new(),
                latest: None,
                other: None,
                other_subscribed: false,
                other_empty: false,
                error: None,
                cancelled: false,
            }),
            waker: Waker::default(),
            f: Arc::clone(&self.f),
            loc: self.loc,
        });
        let c = Arc::clone(&core);
        pull::serve_with(
            move |handle| {
                c.waker.set(handle);
                WithLatestSource { core: c }.at(self.loc)
            },
            subscriber,
        );
        // Reactor's order: `other` first, so a synchronous `other` has a value before the
        // upstream's first item.
        if WCore::<_, _, F>::ended(&core.state.lock()) {
            return;
        }
        self.other.subscribe(LatestIn {
            core: Arc::clone(&core),
        });
        if WCore::<_, _, F>::ended(&core.state.lock()) {
            return;
        }
        self.upstream.subscribe(MainIn(core));
    }
}

impl<T, U, F> MainHost<T> for WCore<T, U, F> {
    type State = WState<T, U>;
    fn state(&self) -> &Mutex<WState<T, U>> {
        &self.state
    }
    fn lane(st: &mut WState<T, U>) -> &mut MainLane<T> {
        &mut st.main
    }
    fn other(st: &mut WState<T, U>) -> &mut Option<Arc<dyn Subscription>> {
        &mut st.other
    }
    fn error(st: &mut WState<T, U>) -> &mut Option<Error> {
        &mut st.error
    }
    fn over(&self, st: &WState<T, U>) -> bool {
        Self::ended(st)
    }
    /// Nothing to combine with yet: dropped, its demand asked for again.
    fn drops(&self, st: &WState<T, U>) -> bool {
        st.latest.is_none()
    }
    fn waker(&self) -> &Waker {
        &self.waker
    }
    fn loc(&self) -> Loc {
        self.loc
    }
}

struct LatestIn<T, U, F> {
    core: Arc<WCore<T, U, F>>,
}

impl<T, U, F> Subscriber<U> for LatestIn<T, U, F> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            if WCore::<T, U, F>::ended(&st) || st.other_subscribed || st.main.complete {
                false
            } else {
                st.other_subscribed = true;
                st.other = Some(Arc::clone(&s));
                true
            }
        };
        if accepted {
            s.request(u64::MAX);
        } else {
            s.cancel();
        }
    }
    fn on_next(&mut self, item: U) {
        let mut st = self.core.state.lock();
        if !WCore::<T, U, F>::ended(&st) {
            st.latest = Some(item);
        }
    }
    fn on_error(&mut self, error: Error) {
        self.core.fail(error);
    }
    fn on_complete(&mut self) {
        let main = {
            let mut st = self.core.state.lock();
            st.other = None;
            if st.latest.is_some() || WCore::<T, U, F>::ended(&st) {
                return;
            }
            st.other_empty = true;
            st.main.take_sub()
        };
        if let Some(m) = main {
            m.cancel();
        }
        self.core.waker.wake();
    }
}

struct WithLatestSource<T, U, F> {
    core: Arc<WCore<T, U, F>>,
}

impl<T, U, F, R> Source for WithLatestSource<T, U, F>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T, &U) -> R + Send + Sync + 'static,
{
    type Item = R;

    fn stage_name(&self) -> &'static str {
        "with_latest_from"
    }

    fn pull(&mut self) -> Step<R> {
        pull_one(|emit| self.pull_many(1, emit))
    }

    fn pull_many<G>(&mut self, limit: u64, emit: G) -> (u64, Option<Step<R>>)
    where
        G: FnMut(R) -> bool,
    {
        let (f, loc) = (&self.core.f, self.core.loc);
        pull_main(
            &self.core.state,
            limit,
            emit,
            |st| &mut st.main,
            |st| match &st.error {
                Some(e) => Some(Step::Error(e.clone())),
                None if st.other_empty => Some(Step::Complete),
                None => None,
            },
            // Queued only once `latest` was set, and it is never unset. `f` runs under the
            // lock: it borrows the latest value.
            |st, item| match &st.latest {
                Some(u) => guard(|| f(item, u)).map_err(|p| closure_panic(p, loc)),
                None => Err(Error::msg(
                    "with_latest_from: an item was queued before any value of other",
                )
                .at_stage(loc)),
            },
        )
    }

    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        st.error.is_some() || st.other_empty || st.main.exhausted()
    }
}

impl<T, U, F> Drop for WithLatestSource<T, U, F> {
    fn drop(&mut self) {
        let subs = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            [st.main.take_sub(), st.other.take()]
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
    }
}

// ---------------------------------------------------------------- zip3

/// The publisher made by [`zip3()`]: triples of the `i`-th items of three sources.
#[derive(Clone, Debug)]
pub struct Zip3<A, B, C> {
    inner: Zip<Zip<A, B>, C>,
}

/// Zips three publishers into `(a, b, c)` triples, without boxing: two [`Zip`] stages (the
/// first pairs `a` with `b`, the second pairs those with `c`) and a flattening of the tuple.
///
/// * Demand and buffers: `a`, `b` and `c` are each asked for at most `prefetch` items ahead; the
///   inner pairs are also prefetched, so up to `2 × prefetch` items of `a` and of `b`, and
///   `prefetch` of `c`, may wait: `5 × prefetch` in all, the one `zip3` row of its
///   [buffer bill](crate::diag::bill).
/// * Ends: as soon as one source has completed with nothing left to pair (the others are
///   cancelled); the first error cancels all. `prefetch = 0` fails the subscriber with an error.
///
/// Reactor's `Flux.zip(a, b, c)` / RxJava's `Flowable.zip(a, b, c, zipper)`.
///
/// ```
/// use rstreams::prelude::*;
/// let v = rstreams::zip3(rstreams::range(0, 3), rstreams::just('x'), rstreams::from_iter(vec!["p", "q"]), 8)
///     .to_vec()
///     .blocking_first()?;
/// assert_eq!(v, Some(vec![(0, 'x', "p")]));
/// # Ok::<(), rstreams::Error>(())
/// ```
#[doc(alias = "zip")]
#[doc(alias = "zipWith")]
#[track_caller]
pub fn zip3<A, B, C>(a: A, b: B, c: C, prefetch: usize) -> Zip3<A, B, C>
where
    A: Publisher,
    B: Publisher,
    C: Publisher,
{
    let loc = Location::caller();
    Zip3 {
        inner: Zip {
            a: Zip {
                a,
                b,
                prefetch,
                loc,
            },
            b: c,
            prefetch,
            loc,
        },
    }
}

impl<A, B, C> Publisher for Zip3<A, B, C>
where
    A: Publisher,
    B: Publisher,
    C: Publisher,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
    C::Item: Send + 'static,
{
    type Item = (A::Item, B::Item, C::Item);
    fn subscribe<S: Subscriber<Self::Item> + Send + 'static>(&self, subscriber: S) {
        if self.inner.prefetch == 0 {
            // Said here so the error names zip3, not the inner zip.
            let e = Error::msg("zip3: prefetch must be at least 1, got 0 (the stream would hang)");
            return reject(subscriber, e.at_stage(self.inner.loc));
        }
        self.inner.subscribe(Flatten3(subscriber));
    }
}

struct Flatten3<S>(S);

impl<X, Y, Z, S: Subscriber<(X, Y, Z)>> Subscriber<((X, Y), Z)> for Flatten3<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.0.on_subscribe(s);
    }
    #[inline]
    fn on_next(&mut self, ((x, y), z): ((X, Y), Z)) {
        self.0.on_next((x, y, z));
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error);
    }
    fn on_complete(&mut self) {
        self.0.on_complete();
    }
}

// ---- buffer bill (issue 12) ----
impl<A, B, F> crate::diag::bill::BufferBill for CombineLatest<A, B, F>
where
    A: crate::diag::bill::BufferBill,
    B: crate::diag::bill::BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        let prefetch = self.prefetch as u64;
        let bound = Bound::items(prefetch.saturating_mul(2).saturating_add(2));
        let note = format!("2 inputs x prefetch {prefetch} + the latest of each");
        rows.push(Row::new("combine_latest", Some(self.loc), bound).note(note));
        self.b.bill_rows(rows);
        self.a.bill_rows(rows);
    }
}

impl<A, B, C> crate::diag::bill::BufferBill for Zip3<A, B, C>
where
    A: crate::diag::bill::BufferBill,
    B: crate::diag::bill::BufferBill,
    C: crate::diag::bill::BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        // One row for what the two inner zips hold together, in source items: the first zip
        // queues up to `prefetch` of `a` and of `b`; the second queues up to `prefetch` pairs
        // (one `a` and one `b` each) and `prefetch` of `c`.
        let prefetch = self.inner.prefetch as u64;
        let bound = Bound::items(prefetch.saturating_mul(5));
        let note = format!(
            "a, b: 2 x prefetch {prefetch} each (queued, and queued in pairs); c: prefetch"
        );
        rows.push(Row::new("zip3", Some(self.inner.loc), bound).note(note));
        // Pushed in reverse (the table is reversed at the end): `a` comes first.
        self.inner.b.bill_rows(rows);
        self.inner.a.b.bill_rows(rows);
        self.inner.a.a.bill_rows(rows);
    }
}
