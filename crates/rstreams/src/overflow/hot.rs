//! Hot sources: producers that do not wait for demand. They are wrapped in [`Hot`], which is
//! not a [`Publisher`]: the only way to subscribe is to pick an overflow policy first.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::{IntoScheduler, Scheduler, TimerHandle};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use super::stage::{Mode, OnBackpressure, OverflowPolicy};
use crate::stage::{Loc, guard, reject};

/// A source that produces regardless of demand (a sensor, a timer, a non-blocking emitter).
///
/// `Hot` is deliberately **not** a [`Publisher`]: a hot source cannot honour `request(n)`, so it
/// becomes one only through an overflow policy, chosen explicitly:
///
/// ```compile_fail
/// use rstreams::prelude::*;
/// let (_tx, hot) = rstreams::overflow::hot_emitter::<u32>();
/// hot.subscribe_with(|_| {}, |_| {}, || {}); // error: `Hot` is not a Publisher
/// ```
///
/// ```
/// use rstreams::prelude::*;
/// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
/// let p = hot.on_backpressure_latest(); // now a Publisher
/// let it = p.blocking_iter_with(1);
/// tx.emit(7).unwrap();
/// drop(tx);
/// assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), vec![7]);
/// ```
pub struct Hot<R> {
    pub(crate) raw: R,
}

impl<R> fmt::Debug for Hot<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hot(..)")
    }
}

impl<R: Publisher> Hot<R> {
    /// Buffers up to `capacity` items beyond demand; `policy` decides what overflows.
    #[track_caller]
    pub fn on_backpressure_buffer(
        self,
        capacity: usize,
        policy: OverflowPolicy,
    ) -> OnBackpressure<R> {
        OnBackpressure::new(
            self.raw,
            Mode {
                capacity: Some(capacity),
                policy,
            },
            Location::caller(),
        )
    }

    /// Drops what arrives while there is no demand.
    #[track_caller]
    pub fn on_backpressure_drop(self) -> OnBackpressure<R> {
        self.on_backpressure_buffer(0, OverflowPolicy::DropNewest)
    }

    /// Keeps only the newest undelivered item.
    #[track_caller]
    pub fn on_backpressure_latest(self) -> OnBackpressure<R> {
        self.on_backpressure_buffer(1, OverflowPolicy::DropOldest)
    }

    /// Fails with [`Overflow`](super::Overflow) as soon as an item arrives without demand.
    #[track_caller]
    pub fn on_backpressure_error(self) -> OnBackpressure<R> {
        self.on_backpressure_buffer(0, OverflowPolicy::Error)
    }

    /// Buffers everything: memory grows without limit while the subscriber lags. Named so on
    /// purpose; prefer a bounded policy.
    #[track_caller]
    pub fn on_backpressure_buffer_unbounded(self) -> OnBackpressure<R> {
        OnBackpressure::new(
            self.raw,
            Mode {
                capacity: None,
                policy: OverflowPolicy::Error,
            },
            Location::caller(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The non-blocking emitter.

/// A non-blocking, hot producer handle and its source; see [`HotEmitter`].
#[track_caller]
pub fn hot_emitter<T: Send + 'static>() -> (HotEmitter<T>, Hot<HotEmitterSource<T>>) {
    let shared = Arc::new(EmitShared {
        slot: Mutex::new(EmitSlot {
            down: None,
            subscribed: false,
            ended: false,
        }),
        senders: AtomicU64::new(1),
        cancelled: AtomicBool::new(false),
        loc: Location::caller(),
    });
    (
        HotEmitter {
            shared: Arc::clone(&shared),
        },
        Hot {
            raw: HotEmitterSource { shared },
        },
    )
}

type DynDown<T> = Box<dyn Subscriber<T> + Send>;

struct EmitShared<T> {
    slot: Mutex<EmitSlot<T>>,
    senders: AtomicU64,
    /// Set by `cancel`, which may run inside `emit` (from the subscriber's `on_next`) and so
    /// cannot always take the slot lock; `emit` drops the subscriber when it sees the flag.
    cancelled: AtomicBool,
    loc: Loc,
}

struct EmitSlot<T> {
    down: Option<DynDown<T>>,
    subscribed: bool,
    ended: bool,
}

/// The producer side of [`hot_emitter`]: [`emit`](Self::emit) never waits for demand; the
/// overflow policy chosen on the [`Hot`] side decides what happens to items nobody asked for.
/// `Clone` it for several threads (emits are serialised); the stream completes when the last
/// clone is dropped.
///
/// For a producer that should *block* instead, use [`emitter`](crate::emitter()).
pub struct HotEmitter<T> {
    shared: Arc<EmitShared<T>>,
}

impl<T> fmt::Debug for HotEmitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotEmitter").finish_non_exhaustive()
    }
}

impl<T> Clone for HotEmitter<T> {
    fn clone(&self) -> Self {
        // Relaxed: the count only needs to be exact, not ordered with other memory.
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        HotEmitter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send + 'static> HotEmitter<T> {
    /// Hands `item` to the subscriber's policy stage, on this thread. Gives it back if nobody
    /// is subscribed (yet, or any more).
    pub fn emit(&self, item: T) -> Result<(), T> {
        let mut slot = self.shared.slot.lock();
        // Acquire: pairs with the Release in `cancel`.
        if self.shared.cancelled.load(Ordering::Acquire) {
            slot.down = None;
        }
        match slot.down.as_mut() {
            Some(down) => {
                // The policy stage only queues or drops here, and delivers what is demanded.
                if let Err(p) = guard(|| down.on_next(item)) {
                    slot.down = None;
                    slot.ended = true;
                    report_undeliverable(
                        Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc),
                    );
                }
                if self.shared.cancelled.load(Ordering::Acquire) {
                    slot.down = None;
                }
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Whether a subscriber is attached and has not cancelled.
    pub fn is_live(&self) -> bool {
        self.shared.slot.lock().down.is_some()
    }

    /// Ends the stream with `error`.
    pub fn fail(self, error: Error) {
        let down = {
            let mut slot = self.shared.slot.lock();
            slot.ended = true;
            slot.down.take()
        };
        if let Some(mut down) = down
            && let Err(p) = guard(|| down.on_error(error.at_stage(self.shared.loc)))
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc));
        }
    }
}

impl<T> Drop for HotEmitter<T> {
    fn drop(&mut self) {
        // AcqRel: the last dropper sees every other clone's emits as done.
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let down = {
            let mut slot = self.shared.slot.lock();
            slot.ended = true;
            slot.down.take()
        };
        if let Some(mut down) = down
            && let Err(p) = guard(|| down.on_complete())
        {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc));
        }
    }
}

/// The raw source behind [`hot_emitter`]; usable only through a policy of [`Hot`]. Unicast: a
/// second subscriber fails with rule 1.11.
pub struct HotEmitterSource<T> {
    shared: Arc<EmitShared<T>>,
}

struct EmitSub<T> {
    shared: std::sync::Weak<EmitShared<T>>,
}

impl<T: Send + 'static> Subscription for EmitSub<T> {
    fn request(&self, _n: u64) {
        // A hot source ignores demand; its policy stage always asks for u64::MAX.
    }
    fn cancel(&self) {
        if let Some(sh) = self.shared.upgrade() {
            // Release: pairs with the Acquire loads in `emit`.
            sh.cancelled.store(true, Ordering::Release);
            // If `emit` holds the lock (possibly on this very thread), it drops the subscriber.
            let down = sh.slot.try_lock().and_then(|mut slot| slot.down.take());
            drop(down);
        }
    }
}

impl<T: Send + 'static> Publisher for HotEmitterSource<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let mut slot = self.shared.slot.lock();
        if slot.subscribed {
            drop(slot);
            reject(
                subscriber,
                Error::violation(Rule::R1_11, "a hot emitter is unicast").at_stage(self.shared.loc),
            );
            return;
        }
        slot.subscribed = true;
        let ended = slot.ended;
        drop(slot);
        let mut down: DynDown<T> = Box::new(subscriber);
        let sub = Box::new(EmitSub {
            shared: Arc::downgrade(&self.shared),
        });
        if guard(|| down.on_subscribe(sub)).is_err() {
            return;
        }
        if ended {
            let _ = guard(|| down.on_complete());
            return;
        }
        self.shared.slot.lock().down = Some(down);
    }
}

// ---------------------------------------------------------------------------------------------
// interval

/// A hot tick source: `0, 1, 2, …` every `period` on `scheduler` (fixed rate), starting one
/// period after subscription. Pick a policy to subscribe; cancelling stops the timer.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::executor::ManualExecutor;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let exec = ManualExecutor::new();
/// let ticks = rstreams::overflow::interval(Duration::from_secs(1), &exec)
///     .on_backpressure_drop();
/// let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
/// let s = Arc::clone(&seen);
/// let handle = ticks.subscribe_with(move |t| s.lock().unwrap().push(t), |_| {}, || {});
/// exec.advance(Duration::from_millis(3500));
/// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
/// handle.cancel();
/// ```
#[track_caller]
pub fn interval(period: Duration, scheduler: impl IntoScheduler) -> Hot<IntervalSource> {
    Hot {
        raw: IntervalSource {
            period,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        },
    }
}

/// The raw source behind [`interval`]; usable only through a policy of [`Hot`].
pub struct IntervalSource {
    period: Duration,
    scheduler: Arc<dyn Scheduler>,
    loc: Loc,
}

struct Ticker {
    down: Mutex<Option<DynDown<u64>>>,
    next: AtomicU64,
    stopped: AtomicBool,
    timer: Mutex<Option<TimerHandle>>,
}

impl Ticker {
    fn stop(&self) {
        // Release: pairs with the Acquire in `tick`.
        self.stopped.store(true, Ordering::Release);
        if let Some(t) = self.timer.lock().take() {
            t.cancel();
        }
        // A tick may hold the lock (cancel from inside on_next); it drops the subscriber then.
        let down = self.down.try_lock().and_then(|mut d| d.take());
        drop(down);
    }
}

struct TickSub(Arc<Ticker>);

impl Subscription for TickSub {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.stop();
    }
}

impl Publisher for IntervalSource {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let ticker = Arc::new(Ticker {
            down: Mutex::new(None),
            next: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            timer: Mutex::new(None),
        });
        let mut down: DynDown<u64> = Box::new(subscriber);
        if guard(|| down.on_subscribe(Box::new(TickSub(Arc::clone(&ticker))))).is_err() {
            return;
        }
        // Acquire: pairs with the Release in `stop`.
        if ticker.stopped.load(Ordering::Acquire) {
            return;
        }
        *ticker.down.lock() = Some(down);
        let weak = Arc::downgrade(&ticker);
        let loc = self.loc;
        let task: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let Some(t) = weak.upgrade() else { return };
            // Acquire: pairs with the Release in `stop`.
            if t.stopped.load(Ordering::Acquire) {
                return;
            }
            let mut slot = t.down.lock();
            if let Some(down) = slot.as_mut() {
                // Relaxed: ticks never overlap (fixed-rate runs are serial).
                let n = t.next.fetch_add(1, Ordering::Relaxed);
                if let Err(p) = guard(|| down.on_next(n)) {
                    *slot = None;
                    report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(loc));
                }
            }
            if t.stopped.load(Ordering::Acquire) {
                *slot = None;
            }
        });
        match self
            .scheduler
            .execute_at_fixed_rate(self.period, self.period, task)
        {
            Ok(handle) => {
                *ticker.timer.lock() = Some(handle);
                // A cancel that raced with arming has already run `stop`; stop the new timer.
                if ticker.stopped.load(Ordering::Acquire) {
                    ticker.stop();
                }
            }
            Err(rejected) => {
                let down = ticker.down.lock().take();
                if let Some(mut down) = down {
                    let e = Error::msg(format!(
                        "interval: the scheduler refused the timer ({})",
                        rejected.reason()
                    ))
                    .at_stage(self.loc);
                    let _ = guard(|| down.on_error(e));
                }
            }
        }
    }
}

// ---- buffer bill (issue 12) ----
impl<T> crate::diag::bill::BufferBill for HotEmitterSource<T> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        rows.push(
            crate::diag::bill::Row::new(
                "hot_emitter",
                Some(self.shared.loc),
                crate::diag::bill::Bound::Zero,
            )
            .note("emits straight through; add an on_backpressure_* policy"),
        );
    }
}

crate::diag::bill::leaf_bill!(IntervalSource => "interval");

impl<T> std::fmt::Debug for HotEmitterSource<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotEmitterSource").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for IntervalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntervalSource").finish_non_exhaustive()
    }
}
