//! Writing a correct publisher without touching an atomic: the pull kit.
//!
//! Implement [`Source`] ("give me the next item, if you have one") and call [`serve`] from your
//! [`Publisher::subscribe`](crate::Publisher::subscribe). The kit owns the subscriber and the
//! source, keeps the demand in a [`Demand`], runs every signal under one [`SerialDrain`], and so
//! gets right, for every source:
//!
//! | rule | what the kit does |
//! | --- | --- |
//! | 1.1 | calls [`Source::pull`] only while demand is left; one unit of demand per item |
//! | 1.3 | every signal, `on_subscribe` included, is sent from inside the one serial drain |
//! | 1.6, 1.7, 3.13 | after a terminal signal or cancel, drops subscriber and source; nothing follows |
//! | 3.2, 3.3 | `request` from inside `on_next` only adds demand; the outer loop emits (depth 1) |
//! | 3.6, 3.7 | `request` and `cancel` after cancel do nothing |
//! | 3.9 | `request(0)` cancels and sends `on_error` whose rule is 3.9 |
//! | 3.17 | demand saturates at `u64::MAX`, which means unbounded |
//! | 2.13, 3.16 | a panic in `on_next`/`on_subscribe` cancels, drops the subscriber and goes to [`report_undeliverable`]; a panic in the source becomes `on_error`; neither escapes `request` |
//!
//! A source that sometimes has nothing to give (a queue fed by another thread) returns
//! [`Step::Pending`] and later calls [`PullHandle::wake`]; [`serve_with`] hands it the handle
//! before the first pull, so no wake-up can be missed.
//!
//! ```
//! use rstreams_protocol::pull::{self, Source, Step};
//! use rstreams_protocol::{Publisher, Subscriber};
//!
//! /// Counts down from `n` to 1.
//! struct Countdown(u32);
//!
//! struct CountdownSource(u32);
//! impl Source for CountdownSource {
//!     type Item = u32;
//!     fn pull(&mut self) -> Step<u32> {
//!         if self.0 == 0 { return Step::Complete; }
//!         self.0 -= 1;
//!         Step::Next(self.0 + 1)
//!     }
//!     // Complete right after the last item, without waiting for more demand.
//!     fn is_exhausted(&mut self) -> bool { self.0 == 0 }
//! }
//!
//! impl Publisher for Countdown {
//!     type Item = u32;
//!     fn subscribe<S: Subscriber<u32> + Send + 'static>(&self, subscriber: S) {
//!         pull::serve(CountdownSource(self.0), subscriber);
//!     }
//! }
//! # use rstreams_protocol::{Error, Subscription};
//! # struct Print;
//! # impl Subscriber<u32> for Print {
//! #     fn on_subscribe(&mut self, s: Box<dyn Subscription>) { s.request(u64::MAX) }
//! #     fn on_next(&mut self, _: u32) {}
//! #     fn on_error(&mut self, _: Error) {}
//! #     fn on_complete(&mut self) {}
//! # }
//! Countdown(3).subscribe(Print);
//! ```

use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::{Arc, Weak};

use crate::{
    Backlog, Demand, Error, Rule, SerialDrain, Subscriber, Subscription, report_undeliverable,
};

/// How a [`Source`] tells a monitor what it holds for its subscriber (see
/// [`Source::backlog_probe`] and [`Subscription::backlog`]).
pub type BacklogProbe = Arc<dyn Fn() -> Backlog + Send + Sync>;

/// What a [`Source`] answers when asked for an item.
#[derive(Debug)]
pub enum Step<T> {
    /// The next item.
    Next(T),
    /// The stream ended successfully.
    Complete,
    /// The stream failed.
    Error(Error),
    /// Nothing now; the source will call [`PullHandle::wake`] when it has something.
    Pending,
}

/// A stream of items produced on request, one [`pull`](Source::pull) per unit of demand.
pub trait Source: Send + 'static {
    /// The item type.
    type Item;

    /// Produces the next step. Called only while demand is outstanding, never concurrently.
    /// A panic here is caught and becomes `on_error` (rule 1.4).
    fn pull(&mut self) -> Step<Self::Item>;

    /// Whether the stream has certainly ended, asked when demand has run out. Returning `true`
    /// lets the kit send `on_complete` right after the last item instead of waiting for one more
    /// `request` (what Reactor and RxJava users expect from `range` or `from_iter`). After `true`,
    /// [`pull`](Source::pull) is called once more (without demand being charged) to learn
    /// whether the end is `Complete` or `Error`.
    fn is_exhausted(&mut self) -> bool {
        false
    }

    /// For diagnostics (issue 12): a function the kit's subscription calls to answer
    /// [`Subscription::backlog`] (items buffered for this subscriber, items dropped). Asked once,
    /// when the subscription starts; called from any thread, so it must not borrow the source.
    /// `None` (the default): the subscription answers `None`.
    fn backlog_probe(&self) -> Option<BacklogProbe> {
        None
    }

    /// Where the stage serving this source was built, named in protocol errors and in the
    /// kit's tracing span. `None` (the default): where [`serve`] or [`serve_with`] was called.
    /// Give one with [`at`](Source::at) rather than overriding this.
    fn site(&self) -> Option<&'static Location<'static>> {
        None
    }

    /// The stage's name in the kit's tracing span (`rstreams.stage{stage, site}`). The default
    /// is the source type's name without its path and generics.
    fn stage_name(&self) -> &'static str {
        short_type_name::<Self>()
    }

    /// This source, naming `site` as the assembly site of the stage that serves it (see
    /// [`serve`]). Forwards everything else, so it costs nothing on the hot path.
    fn at(self, site: &'static Location<'static>) -> At<Self>
    where
        Self: Sized,
    {
        At { source: self, site }
    }

    /// Whether wake-ups deferred with [`PullHandle::wake_deferred`] by the code this source's
    /// items reach may wait until the end of the current batch (the kit's call to
    /// [`pull_many`](Source::pull_many)) instead of running at once. Then a consumer that the
    /// items are pushed to (the merge behind `flat_map`) is woken once per batch rather than
    /// once per item.
    ///
    /// Return `true` only if nothing that runs inside `pull_many` waits for anything: neither
    /// the source (a queue drain, not an iterator over a channel) nor code it calls (an
    /// upstream it replenishes synchronously) nor the subscribers between it and the deferring
    /// consumer (a `map` closure). Code that blocks there until the consumer's output arrives
    /// (a feedback loop through a channel) would wait for an item held back behind a wake-up
    /// its own thread is deferring. Asked once per batch. The default is `false`.
    fn coalesces_wakes(&self) -> bool {
        false
    }

    /// Pulls up to `limit` items (`limit >= 1`; the kit never asks for zero) in one go, handing each to `emit`, and stops early when `emit`
    /// returns `false` (the subscription was cancelled meanwhile). Returns how many items were
    /// handed over and, when something other than `limit` or `emit` stopped it, the step that
    /// did (`Complete`, `Error` or `Pending`).
    ///
    /// The default calls [`pull`](Source::pull) in a loop, which is all most sources need.
    /// Override it only for speed, when the source can produce a run of items in a tighter loop
    /// (a range, a slice): the kit calls it for every batch of demand.
    #[inline]
    fn pull_many<F>(&mut self, limit: u64, emit: F) -> (u64, Option<Step<Self::Item>>)
    where
        Self: Sized,
        F: FnMut(Self::Item) -> bool,
    {
        pull_one_by_one(self, limit, emit)
    }
}

/// The default [`Source::pull_many`]: [`pull`](Source::pull) up to `limit` times, handing each
/// item to `emit` and stopping early when it returns `false`. For overrides that only wrap the
/// default loop (set something up around it) rather than replace it.
#[inline]
pub fn pull_one_by_one<G, F>(
    source: &mut G,
    limit: u64,
    mut emit: F,
) -> (u64, Option<Step<G::Item>>)
where
    G: Source + ?Sized,
    F: FnMut(G::Item) -> bool,
{
    let mut handed = 0;
    while handed != limit {
        match source.pull() {
            Step::Next(item) => {
                handed += 1;
                if !emit(item) {
                    return (handed, None);
                }
            }
            stop => return (handed, Some(stop)),
        }
    }
    (handed, None)
}

/// A handle to a running subscription, for sources that return [`Step::Pending`].
///
/// It holds the subscription weakly: once the subscription has ended and been dropped, every
/// method is a no-op, so a handle kept by a producer thread never keeps a subscriber alive.
#[derive(Clone)]
pub struct PullHandle {
    core: Weak<dyn Drive>,
}

impl std::fmt::Debug for PullHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl PullHandle {
    /// Asks the kit to pull again: call after a [`Step::Pending`] source got something.
    #[inline]
    pub fn wake(&self) {
        if let Some(core) = self.core.upgrade() {
            core.drive();
        }
    }

    /// [`wake`](PullHandle::wake) at the end of the current batch when called, on this thread,
    /// from inside the emission loop of a source that [coalesces
    /// wakes](Source::coalesces_wakes); at once otherwise.
    ///
    /// For a consumer that items are pushed to one at a time (a queue per producer) and whose
    /// pass costs far more than a push: a producer emitting a run of items then wakes it once,
    /// after the run, instead of once per item. The wake-up is never lost, only moved to the end
    /// of the batch (before the producing pass ends, panics included); a handle deferred twice
    /// in one batch wakes once.
    #[inline]
    pub fn wake_deferred(&self) {
        if !batch::defer(self) {
            self.wake();
        }
    }

    /// Whether the subscriber cancelled or the stream ended (always `true` once dropped).
    pub fn is_cancelled(&self) -> bool {
        self.core.upgrade().is_none_or(|c| c.cancelled())
    }

    /// The outstanding demand (0 once the subscription is gone).
    pub fn requested(&self) -> u64 {
        self.core.upgrade().map_or(0, |c| c.requested())
    }

    /// Cancels from the producer's side: the subscriber is dropped without a terminal signal.
    pub fn cancel(&self) {
        if let Some(core) = self.core.upgrade() {
            core.cancel_and_drive();
        }
    }
}

/// Sets its flag when dropped. Created around a call into the subscriber and forgotten after
/// it returns, so the flag is set only if that call unwinds: the emission loop learns whose
/// code panicked without a store per item (the landing pad does the work).
struct BlameOnUnwind<'a>(&'a mut bool);

impl Drop for BlameOnUnwind<'_> {
    fn drop(&mut self) {
        *self.0 = true;
    }
}

trait Drive: Send + Sync {
    fn drive(&self);
    fn cancelled(&self) -> bool;
    fn requested(&self) -> u64;
    fn cancel_and_drive(&self);
}

/// Subscribes `subscriber` to `source`: calls `on_subscribe`, then emits on demand.
///
/// Call it from [`Publisher::subscribe`](crate::Publisher::subscribe). Protocol errors and the
/// kit's tracing span name the stage's assembly site: the one the source gives with
/// [`Source::at`] (a publisher records `Location::caller()` when it is built), else the place
/// `serve` was called from (`#[track_caller]`).
///
/// The subscription lasts until its terminal signal or a cancel, whether or not the subscriber
/// keeps its `Subscription`: dropping the handle does not cancel (call `cancel`), so a
/// subscriber that requests `u64::MAX` in `on_subscribe` and forgets the handle gets every item.
///
/// ```
/// use std::panic::Location;
/// use rstreams_protocol::pull::{self, Source, Step};
/// use rstreams_protocol::{Publisher, Subscriber};
///
/// struct Once(u8);
/// impl Source for Once {
///     type Item = u8;
///     fn pull(&mut self) -> Step<u8> { Step::Next(self.0) }
/// }
///
/// /// Emits its byte forever; errors name where it was built.
/// struct Repeat { byte: u8, site: &'static Location<'static> }
/// impl Repeat {
///     #[track_caller]
///     fn new(byte: u8) -> Self { Repeat { byte, site: Location::caller() } }
/// }
/// impl Publisher for Repeat {
///     type Item = u8;
///     fn subscribe<S: Subscriber<u8> + Send + 'static>(&self, subscriber: S) {
///         pull::serve(Once(self.byte).at(self.site), subscriber);
///     }
/// }
/// # let _ = Repeat::new(7);
/// ```
#[track_caller]
pub fn serve<G, S>(source: G, subscriber: S) -> PullHandle
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    start(move |_| source, subscriber, Location::caller())
}

/// [`serve`] for sources that need the [`PullHandle`] (to wake the kit after [`Step::Pending`]):
/// `make` receives the handle before anything is pulled, so no wake-up can be missed.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use rstreams_protocol::pull::{self, PullHandle, Source, Step};
/// # use rstreams_protocol::{Error, Subscriber, Subscription};
/// # struct Take(Option<Box<dyn Subscription>>);
/// # impl Subscriber<u32> for Take {
/// #     fn on_subscribe(&mut self, s: Box<dyn Subscription>) { s.request(1); self.0 = Some(s); }
/// #     fn on_next(&mut self, n: u32) { assert_eq!(n, 5) }
/// #     fn on_error(&mut self, _: Error) {}
/// #     fn on_complete(&mut self) {}
/// # }
///
/// /// Items another thread drops into `slot`.
/// struct Mailbox(Arc<Mutex<Option<u32>>>);
/// impl Source for Mailbox {
///     type Item = u32;
///     fn pull(&mut self) -> Step<u32> {
///         self.0.lock().unwrap().take().map_or(Step::Pending, Step::Next)
///     }
/// }
///
/// let slot = Arc::new(Mutex::new(None));
/// let inbox = Arc::clone(&slot);
/// let mut kept: Option<PullHandle> = None;
/// let handle = pull::serve_with(
///     |handle| {
///         kept = Some(handle);
///         Mailbox(inbox)
///     },
///     Take(None),
/// );
/// *slot.lock().unwrap() = Some(5);
/// handle.wake(); // the subscriber now gets 5
/// # assert!(kept.is_some());
/// ```
#[track_caller]
pub fn serve_with<G, S>(make: impl FnOnce(PullHandle) -> G, subscriber: S) -> PullHandle
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    start(make, subscriber, Location::caller())
}

/// A [`Source`] that names the assembly site of the stage serving it (see [`Source::at`]).
#[derive(Debug)]
pub struct At<G> {
    source: G,
    site: &'static Location<'static>,
}

impl<G: Source> Source for At<G> {
    type Item = G::Item;

    #[inline]
    fn pull(&mut self) -> Step<G::Item> {
        self.source.pull()
    }

    #[inline]
    fn is_exhausted(&mut self) -> bool {
        self.source.is_exhausted()
    }

    fn backlog_probe(&self) -> Option<BacklogProbe> {
        self.source.backlog_probe()
    }

    fn site(&self) -> Option<&'static Location<'static>> {
        Some(self.site)
    }

    fn stage_name(&self) -> &'static str {
        self.source.stage_name()
    }

    #[inline]
    fn coalesces_wakes(&self) -> bool {
        self.source.coalesces_wakes()
    }

    #[inline]
    fn pull_many<F>(&mut self, limit: u64, emit: F) -> (u64, Option<Step<G::Item>>)
    where
        F: FnMut(G::Item) -> bool,
    {
        self.source.pull_many(limit, emit)
    }
}

/// The short name of a source type for the kit's span: the last path segment without its
/// generics, e.g. `JustSource` for `rstreams::source::simple::JustSource<u32>`.
fn short_type_name<G: ?Sized>() -> &'static str {
    let full = std::any::type_name::<G>();
    let plain = full.split('<').next().unwrap_or(full);
    plain.rsplit("::").next().unwrap_or(plain)
}

fn start<G, S>(
    make: impl FnOnce(PullHandle) -> G,
    subscriber: S,
    caller: &'static Location<'static>,
) -> PullHandle
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    let core: Arc<Core<G, S>> = Arc::new_cyclic(|weak: &Weak<Core<G, S>>| {
        let erased: Weak<dyn Drive> = weak.clone();
        let source = make(PullHandle { core: erased });
        let stage = source.site().unwrap_or(caller);
        Core {
            probe: source.backlog_probe(),
            demand: Demand::new(),
            #[cfg(feature = "tracing")]
            span: tracing::debug_span!(
                "rstreams.stage",
                stage = source.stage_name(),
                site = %stage,
            ),
            stage,
            me: weak.clone(),
            drain: SerialDrain::new(State {
                phase: Phase::Fresh,
                live: Some((source, subscriber)),
                keep: None,
            }),
        }
    });
    core.drive();
    PullHandle {
        core: Arc::downgrade(&core) as Weak<dyn Drive>,
    }
}

struct Core<G: Source, S> {
    /// The source's answer to [`Subscription::backlog`], if it gives one.
    probe: Option<BacklogProbe>,
    demand: Demand,
    /// One span per subscription (issue 12.4): the signal events below are its children.
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    stage: &'static Location<'static>,
    /// Ourselves, to hand `on_subscribe` a strong handle from inside the first pass.
    me: Weak<Core<G, S>>,
    drain: SerialDrain<State<G, S>>,
}

#[derive(PartialEq, Eq)]
enum Phase {
    /// `on_subscribe` not sent yet.
    Fresh,
    Running,
}

enum Outcome<T> {
    OutOfDemand,
    Pending,
    Cancelled,
    End(Step<T>),
    SubscriberPanicked(Box<dyn std::any::Any + Send>),
}

struct State<G, S> {
    phase: Phase,
    /// `None` once terminated or cancelled: both are dropped then (1.6, 3.13).
    live: Option<(G, S)>,
    /// The subscription itself, while it is live: it lasts until a terminal signal or a cancel
    /// whether or not the subscriber keeps its `Subscription` (one that calls
    /// `request(u64::MAX)` in `on_subscribe` and drops the handle still gets every item from a
    /// source that answers `Pending` and wakes the kit later). Released with `live`.
    keep: Option<Arc<dyn Drive>>,
}

/// The subscription the subscriber receives.
struct Handle<G: Source, S>(Arc<Core<G, S>>);

impl<G, S> Subscription for Handle<G, S>
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    fn request(&self, n: u64) {
        // 3.6 after cancel, 3.9 for zero, saturating add otherwise: all in `Demand::request`.
        if self.0.demand.request(n) {
            self.0.drive();
        }
    }

    fn cancel(&self) {
        // The winner drives once more so that the subscriber is dropped promptly (3.13) if no
        // pass is running; a running pass sees the flag instead. 3.7: later calls do nothing.
        if self.0.demand.cancel() {
            #[cfg(feature = "tracing")]
            self.0.lifecycle("cancel");
            self.0.drive();
        }
    }

    fn backlog(&self) -> Option<Backlog> {
        self.0.probe.as_ref().map(|probe| probe())
    }
}

impl<G, S> Drive for Core<G, S>
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    fn drive(&self) {
        self.drain.drain(|state| self.pass(state));
    }
    fn cancelled(&self) -> bool {
        self.demand.is_cancelled()
    }
    fn requested(&self) -> u64 {
        if self.demand.is_cancelled() {
            0
        } else {
            self.demand.get()
        }
    }
    fn cancel_and_drive(&self) {
        if self.demand.cancel() {
            self.drive();
        }
    }
}

impl<G, S> Core<G, S>
where
    G: Source,
    S: Subscriber<G::Item> + Send + 'static,
{
    /// One drain pass: on_subscribe first, then items while demand lasts, then a terminal
    /// signal if the source has ended.
    fn pass(&self, state: &mut State<G, S>) {
        if state.live.is_none() {
            return;
        }
        if state.phase == Phase::Fresh {
            state.phase = Phase::Running;
            // `me` upgrades: we are inside a method of the live `Arc`.
            let Some(me) = self.me.upgrade() else { return };
            state.keep = Some(Arc::clone(&me) as Arc<dyn Drive>);
            let handle: Box<dyn Subscription> = Box::new(Handle(me));
            #[cfg(feature = "tracing")]
            self.lifecycle("subscribe");
            let (_, subscriber) = state.live.as_mut().expect("live checked above");
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| subscriber.on_subscribe(handle)))
            {
                self.subscriber_panicked(state, payload, "on_subscribe");
                return;
            }
            // Requests made inside on_subscribe left a missed mark: the drain loop comes back.
        }
        // Emits while demand lasts. Demand added during the emission (typically a `request`
        // from inside `on_next`, whose re-entrant drive only left a mark) is served by the next
        // turn of this loop rather than by another pass of the drain: a batched subscriber
        // (request 256, replenish 192) costs one turn per request, not a pass with its checks
        // and the drain's exit. The marks left are consumed by one more, empty, pass.
        loop {
            if self.demand.is_cancelled() {
                self.drop_all(state);
                return;
            }
            if self.demand.has_invalid_request() {
                let error = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                    .at_stage(self.stage);
                self.terminate(state, Step::Error(error));
                return;
            }

            let requested = self.demand.get();
            // No demand, no pull: `Source::pull_many` is never asked for zero items.
            let (emitted, outcome) = if requested == 0 {
                (0, Outcome::OutOfDemand)
            } else {
                self.emit(state, requested)
            };
            let left = self.demand.produced(emitted);
            match outcome {
                // The whole batch went out and more demand arrived meanwhile: go on (the top of
                // the loop sees a cancel). A source that stopped short without saying why is
                // left to the drain, as before: a turn here could find it stopping again.
                Outcome::OutOfDemand if left != 0 && emitted == requested => continue,
                Outcome::OutOfDemand => {
                    if !self.demand.is_cancelled() {
                        self.complete_if_exhausted(state);
                    }
                }
                Outcome::Pending => {}
                Outcome::Cancelled => self.drop_all(state),
                Outcome::End(end) => self.terminate(state, end),
                Outcome::SubscriberPanicked(payload) => {
                    self.subscriber_panicked(state, payload, "on_next")
                }
            }
            return;
        }
    }

    /// The hot loop: pulls and delivers up to `requested` items.
    ///
    /// One `catch_unwind` guards the whole batch rather than each call; `in_subscriber` records
    /// whose code was running when a panic unwound. It is set by a guard's `drop`, which runs
    /// only while unwinding (the normal path forgets the guard): blame costs nothing per item.
    #[inline]
    fn emit(&self, state: &mut State<G, S>, requested: u64) -> (u64, Outcome<G::Item>) {
        let (source, subscriber) = state.live.as_mut().expect("live checked by the caller");
        let batch = source.coalesces_wakes().then(batch::open);
        let mut in_subscriber = false;
        let demand = &self.demand;
        let run = catch_unwind(AssertUnwindSafe(|| {
            if demand.is_cancelled() {
                return (0, Outcome::Cancelled);
            }
            let mut cancelled = false;
            // The cancelled flag is checked after each item, so the source is never pulled
            // once cancel has been seen (1.8); `Source::pull_many` lets a range or a slice run
            // this loop without a `Step` per item.
            let (emitted, stop) = source.pull_many(requested, |item| {
                let blame = BlameOnUnwind(&mut in_subscriber);
                subscriber.on_next(item);
                std::mem::forget(blame);
                cancelled = demand.is_cancelled();
                !cancelled
            });
            let outcome = match stop {
                _ if cancelled => Outcome::Cancelled,
                None => Outcome::OutOfDemand,
                Some(Step::Pending) => Outcome::Pending,
                Some(end) => Outcome::End(end),
            };
            (emitted, outcome)
        }));
        // Nothing unwinds past `catch_unwind`: the batch always closes, and its deferred
        // wake-ups run here, still inside this pass.
        if let Some(mark) = batch {
            batch::close(mark);
        }
        // After a panic the count no longer matters: the subscription ends either way.
        let (emitted, outcome) = match run {
            Ok(done) => done,
            Err(payload) if in_subscriber => (0, Outcome::SubscriberPanicked(payload)),
            Err(payload) => {
                let error = Error::from_panic(Rule::R1_4, payload).at_stage(self.stage);
                (0, Outcome::End(Step::Error(error)))
            }
        };
        (emitted, outcome)
    }

    /// A lifecycle event under the subscription's span. Out of line and cold: the event's
    /// callsite check would otherwise sit in `pass`, which runs once per `request`, and change
    /// how the emission loop is compiled into it.
    #[cfg(feature = "tracing")]
    #[cold]
    #[inline(never)]
    fn lifecycle(&self, what: &'static str) {
        tracing::debug!(parent: &self.span, "{what}");
    }

    /// Out of demand: an exhausted source completes now rather than on the next request.
    fn complete_if_exhausted(&self, state: &mut State<G, S>) {
        let (source, _) = state.live.as_mut().expect("live checked by the caller");
        let asked = catch_unwind(AssertUnwindSafe(|| {
            if source.is_exhausted() {
                Some(source.pull())
            } else {
                None
            }
        }));
        match asked {
            Ok(None) | Ok(Some(Step::Pending)) => {}
            Ok(Some(Step::Next(_))) => {
                // The source said it was exhausted, then produced an item: a bug in the source,
                // reported rather than delivered beyond demand (1.1).
                let error = Error::violation(
                    Rule::R1_1,
                    "Source::is_exhausted returned true but pull produced an item",
                )
                .at_stage(self.stage);
                self.terminate(state, Step::Error(error));
            }
            Ok(Some(end)) => self.terminate(state, end),
            Err(payload) => {
                let error = Error::from_panic(Rule::R1_4, payload).at_stage(self.stage);
                self.terminate(state, Step::Error(error));
            }
        }
    }

    /// Sends the terminal signal once and drops subscriber and source (1.6, 1.7, 3.13).
    fn terminate(&self, state: &mut State<G, S>, end: Step<G::Item>) {
        self.demand.cancel();
        let Some((source, mut subscriber)) = state.live.take() else {
            return;
        };
        // Whoever runs this pass holds the core too (a `Handle`, a woken `PullHandle` or
        // `start`), so releasing our own reference here never frees it under our feet.
        let keep = state.keep.take();
        drop(source);
        let result = catch_unwind(AssertUnwindSafe(|| match end {
            Step::Error(error) => {
                #[cfg(feature = "tracing")]
                tracing::debug!(parent: &self.span, %error, "error");
                subscriber.on_error(error)
            }
            _ => {
                #[cfg(feature = "tracing")]
                self.lifecycle("complete");
                subscriber.on_complete()
            }
        }));
        if let Err(payload) = result {
            report_undeliverable(Error::from_panic(Rule::R2_13, payload).at_stage(self.stage));
        }
        drop(subscriber);
        drop(keep);
    }

    fn subscriber_panicked(
        &self,
        state: &mut State<G, S>,
        payload: Box<dyn std::any::Any + Send>,
        callback: &str,
    ) {
        // 2.13: the subscription counts as cancelled; nobody downstream can be told, so report.
        self.demand.cancel();
        let error = Error::from_panic(Rule::R2_13, payload).at_stage(self.stage);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            parent: &self.span,
            %error,
            callback,
            "subscriber panicked; subscription cancelled"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = callback;
        self.drop_all(state);
        report_undeliverable(error);
    }

    fn drop_all(&self, state: &mut State<G, S>) {
        // Dropping user values may run user code that panics; keep that inside the kit.
        let keep = state.keep.take();
        if let Some(live) = state.live.take()
            && let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(live)))
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, payload).at_stage(self.stage));
        }
        drop(keep);
    }
}

/// Wake-ups deferred to the end of a batch ([`PullHandle::wake_deferred`]): per thread, a
/// depth (batches of coalescing sources nest when one's items reach another's subscription
/// inline) and the handles waiting, oldest first. Each batch wakes the handles deferred since
/// it opened, when it closes.
mod batch {
    use std::cell::{Cell, RefCell};

    use super::PullHandle;

    struct Batches {
        depth: Cell<u32>,
        waiting: RefCell<Vec<PullHandle>>,
        /// Loom twin only: closing forgets the deferred wake-ups.
        #[cfg(rstreams_loom)]
        broken: Cell<bool>,
    }

    #[cfg(not(rstreams_loom))]
    std::thread_local! {
        static BATCHES: Batches = const {
            Batches {
                depth: Cell::new(0),
                waiting: RefCell::new(Vec::new()),
            }
        };
    }

    #[cfg(rstreams_loom)]
    loom::thread_local! {
        static BATCHES: Batches = Batches {
            depth: Cell::new(0),
            waiting: RefCell::new(Vec::new()),
            broken: Cell::new(false),
        };
    }

    /// Opens a batch; returns the mark to close it with.
    pub(super) fn open() -> usize {
        BATCHES.with(|b| {
            b.depth.set(b.depth.get() + 1);
            b.waiting.borrow().len()
        })
    }

    /// Closes the batch opened at `mark`: wakes, newest first, every handle deferred since.
    /// A wake-up may run a pass that defers more (a nested batch closes its own); those above
    /// `mark` are woken here too.
    pub(super) fn close(mark: usize) {
        BATCHES.with(|b| b.depth.set(b.depth.get() - 1));
        loop {
            let next = BATCHES.with(|b| {
                #[cfg(rstreams_loom)]
                if b.broken.get() {
                    b.waiting.borrow_mut().truncate(mark);
                }
                let mut waiting = b.waiting.borrow_mut();
                if waiting.len() > mark {
                    waiting.pop()
                } else {
                    None
                }
            });
            // Outside the borrow: the wake-up runs a pass, which may defer again.
            match next {
                Some(handle) => handle.wake(),
                None => return,
            }
        }
    }

    /// Defers `handle`'s wake-up to the end of this thread's current batch; `false` if there is
    /// none (the caller wakes at once).
    #[inline]
    pub(super) fn defer(handle: &PullHandle) -> bool {
        BATCHES.with(|b| {
            if b.depth.get() == 0 {
                return false;
            }
            let mut waiting = b.waiting.borrow_mut();
            // The usual case: the same consumer again (its gate re-armed within the batch).
            if !waiting
                .last()
                .is_some_and(|last| std::ptr::addr_eq(last.core.as_ptr(), handle.core.as_ptr()))
            {
                waiting.push(handle.clone());
            }
            true
        })
    }

    /// Loom twin: this thread's batches forget their deferred wake-ups.
    #[cfg(rstreams_loom)]
    pub(super) fn break_flush() {
        BATCHES.with(|b| b.broken.set(true));
    }
}

/// Hooks for the loom models only (`--cfg rstreams_loom`).
#[cfg(rstreams_loom)]
#[doc(hidden)]
pub mod __loom {
    /// The broken twin of `tests/loom_pull_deferred.rs`: batches closed on this thread drop
    /// their deferred wake-ups instead of running them.
    pub fn break_deferred_wakes_on_this_thread() {
        super::batch::break_flush();
    }
}
