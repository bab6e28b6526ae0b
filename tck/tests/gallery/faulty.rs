//! A hand-written synchronous publisher with switchable faults, for the TCK's self-tests.
//!
//! With no fault switched on it is correct (the gallery checks that it passes everything); each
//! fault breaks one rule the way real publishers get it wrong.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

/// One way to be wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Correct behaviour.
    None,
    /// The first request gets one item more than it asked for (1.1).
    OverDeliverByOne,
    /// One item is sent right after `on_subscribe`, before any request (1.1).
    DeliverBeforeRequest,
    /// `on_complete` is signalled twice (1.7).
    DoubleComplete,
    /// `cancel` does not stop emission (1.8, 3.12).
    EmitAfterCancel,
    /// The subscriber is kept after cancel (3.13).
    KeepSubscriberAfterCancel,
    /// The subscriber is kept after the terminal signal (1.6).
    KeepSubscriberAfterTerminal,
    /// `request(0)` is ignored (3.9).
    IgnoreRequestZero,
    /// `request(0)` fails the stream, but with an error that does not name rule 3.9.
    RequestZeroWithoutRule,
    /// Demand is added with `wrapping_add` instead of saturating (3.17).
    WrappingDemand,
    /// Demand is added with `+`, which panics on overflow in debug builds (3.17, 3.16).
    OverflowingDemand,
    /// `on_subscribe` is never called (1.9).
    NoOnSubscribe,
    /// The first item is sent before `on_subscribe` (1.9).
    OnSubscribeAfterNext,
    /// `request` after `cancel` panics (3.6).
    PanicOnRequestAfterCancel,
    /// A second `cancel` panics (3.7).
    PanicOnSecondCancel,
    /// A finite stream never signals `on_complete` (1.5).
    NoCompletion,
    /// The subscriber is called with the lock held, so a re-entrant `request` deadlocks (3.2),
    /// and a `request` or `cancel` from another thread waits for `on_next` to finish (3.4, 3.5).
    NonReentrant,
    /// The failed flavour signals `on_complete` after `on_error` (1.7).
    CompleteAfterError,
    /// The failed flavour signals `on_complete` instead of `on_error` (1.4).
    CompleteInsteadOfError,
    /// The failed flavour signals `on_error` without `on_subscribe` first (1.9).
    ErrorWithoutOnSubscribe,
    /// `request(n)` replaces the outstanding demand instead of adding to it (3.8).
    ReplaceDemand,
    /// A panic in `on_next` is caught and emission goes on (2.13).
    ContinueAfterSubscriberPanic,
    /// Each subscriber gets different items: a number taken from a counter shared by all
    /// subscribers (1.11, for a publisher that claims every subscriber sees the same items).
    DifferentItemsPerSubscriber,
}

/// A publisher of `count` numbers (`u64::MAX`: endless), or of one error when `failed`.
#[derive(Clone, Debug)]
pub(crate) struct FaultyPublisher {
    pub count: u64,
    pub fault: Fault,
    pub failed: bool,
    /// Shared by every subscription of this publisher (for `DifferentItemsPerSubscriber`).
    pub shared_counter: Arc<AtomicU64>,
}

impl FaultyPublisher {
    /// A publisher of `count` items (or of one error when `failed`) with `fault`.
    pub(crate) fn new(count: u64, fault: Fault, failed: bool) -> Self {
        Self {
            count,
            fault,
            failed,
            shared_counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

struct State<S> {
    /// `None` while a callback runs (taken out so re-entrant calls never alias it) and after the
    /// subscription ends.
    subscriber: Option<S>,
    /// A subscriber deliberately kept alive by a fault.
    kept: Option<S>,
    demand: u64,
    next: u64,
    cancelled: bool,
    done: bool,
    emitting: bool,
    zero_requested: bool,
    extra_given: bool,
    cancels: u32,
}

struct Core<S> {
    counter: Arc<AtomicU64>,
    count: u64,
    fault: Fault,
    failed: bool,
    state: Mutex<State<S>>,
    /// Held around the whole emission loop by the NonReentrant fault.
    big_lock: Mutex<()>,
}

struct Handle<S>(Arc<Core<S>>);

impl<S: Subscriber<u64> + Send + 'static> Subscription for Handle<S> {
    fn request(&self, n: u64) {
        let core = &self.0;
        {
            let mut st = core.state.lock().unwrap();
            if st.cancelled {
                if core.fault == Fault::PanicOnRequestAfterCancel {
                    drop(st);
                    panic!("request after cancel");
                }
                return;
            }
            if n == 0 {
                st.zero_requested = true;
            } else {
                st.demand = match core.fault {
                    Fault::WrappingDemand => st.demand.wrapping_add(n),
                    Fault::OverflowingDemand => match st.demand.checked_add(n) {
                        Some(sum) => sum,
                        None => {
                            drop(st); // keep the mutex unpoisoned: only the overflow is the bug
                            panic!("attempt to add with overflow");
                        }
                    },
                    Fault::ReplaceDemand => n,
                    _ => st.demand.saturating_add(n),
                };
                if core.fault == Fault::OverDeliverByOne && !st.extra_given {
                    st.extra_given = true;
                    st.demand = st.demand.saturating_add(1);
                }
            }
        }
        drive(core);
    }

    fn cancel(&self) {
        let core = &self.0;
        let dropped = {
            let mut st = core.state.lock().unwrap();
            st.cancels += 1;
            if st.cancels > 1 && core.fault == Fault::PanicOnSecondCancel {
                drop(st);
                panic!("cancelled twice");
            }
            st.cancelled = true;
            if core.fault == Fault::EmitAfterCancel {
                st.cancelled = false; // forgets it at once
                None
            } else if core.fault == Fault::KeepSubscriberAfterCancel {
                let s = st.subscriber.take();
                st.kept = s;
                None
            } else {
                st.subscriber.take()
            }
        };
        drop(dropped);
    }
}

/// The emission loop: one thread at a time (the `emitting` flag), re-entrant calls only add
/// demand. Unless the fault says otherwise.
fn drive<S: Subscriber<u64> + Send + 'static>(core: &Arc<Core<S>>) {
    let _big = if core.fault == Fault::NonReentrant {
        Some(core.big_lock.lock().unwrap_or_else(|p| p.into_inner()))
    } else {
        None
    };
    let mut st = core.state.lock().unwrap();
    if st.emitting || st.done {
        return;
    }
    st.emitting = true;
    loop {
        if st.cancelled || st.subscriber.is_none() {
            st.emitting = false;
            let s = st.subscriber.take();
            drop(st);
            drop(s);
            return;
        }
        if st.zero_requested && core.fault != Fault::IgnoreRequestZero {
            let e = if core.fault == Fault::RequestZeroWithoutRule {
                Error::msg("bad request")
            } else {
                Error::violation(Rule::R3_9, "request(0)")
            };
            return terminate(core, st, Err(e));
        }
        if core.failed {
            return terminate(core, st, Err(Error::msg("the failed publisher fails")));
        }
        if st.next == core.count && core.fault != Fault::NoCompletion {
            return terminate(core, st, Ok(()));
        }
        if st.demand == 0 || st.next == core.count {
            st.emitting = false;
            return;
        }
        if st.demand != u64::MAX || core.fault == Fault::WrappingDemand {
            st.demand -= 1;
        }
        let item = if core.fault == Fault::DifferentItemsPerSubscriber {
            core.counter.fetch_add(1, Ordering::Relaxed)
        } else {
            st.next
        };
        st.next += 1;
        let mut s = st.subscriber.take().expect("checked above");
        if core.fault == Fault::NonReentrant {
            // Calls out with the state lock held: a re-entrant request blocks for ever.
            s.on_next(item);
            st.subscriber = Some(s);
            continue;
        }
        drop(st);
        if core.fault == Fault::ContinueAfterSubscriberPanic {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.on_next(item)));
        } else {
            s.on_next(item);
        }
        st = core.state.lock().unwrap();
        if st.cancelled && core.fault != Fault::KeepSubscriberAfterCancel {
            st.emitting = false;
            drop(st);
            drop(s);
            return;
        }
        if st.cancelled {
            st.kept = Some(s);
            st.emitting = false;
            return;
        }
        st.subscriber = Some(s);
    }
}

fn terminate<S: Subscriber<u64> + Send + 'static>(
    core: &Arc<Core<S>>,
    mut st: std::sync::MutexGuard<'_, State<S>>,
    end: Result<(), Error>,
) {
    st.done = true;
    st.emitting = false;
    let Some(mut s) = st.subscriber.take() else {
        return;
    };
    drop(st);
    match end {
        Ok(()) => {
            s.on_complete();
            if core.fault == Fault::DoubleComplete {
                s.on_complete();
            }
        }
        Err(e) => {
            if core.fault == Fault::CompleteInsteadOfError {
                s.on_complete();
            } else {
                s.on_error(e);
            }
            if core.fault == Fault::CompleteAfterError {
                s.on_complete();
            }
        }
    }
    if core.fault == Fault::KeepSubscriberAfterTerminal {
        core.state.lock().unwrap().kept = Some(s);
    }
}

impl Publisher for FaultyPublisher {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, mut subscriber: S) {
        let core = Arc::new(Core {
            counter: Arc::clone(&self.shared_counter),
            count: self.count,
            fault: self.fault,
            failed: self.failed,
            state: Mutex::new(State {
                subscriber: None,
                kept: None,
                demand: 0,
                next: 0,
                cancelled: false,
                done: false,
                // Requests made inside on_subscribe only add demand; the loop starts after.
                emitting: true,
                zero_requested: false,
                extra_given: false,
                cancels: 0,
            }),
            big_lock: Mutex::new(()),
        });
        if self.fault == Fault::OnSubscribeAfterNext && !self.failed {
            core.state.lock().unwrap().next = 1;
            subscriber.on_next(0);
        }
        let skip_on_subscribe = self.fault == Fault::NoOnSubscribe
            || (self.failed && self.fault == Fault::ErrorWithoutOnSubscribe);
        if !skip_on_subscribe {
            subscriber.on_subscribe(Box::new(Handle(Arc::clone(&core))));
        }
        {
            let mut st = core.state.lock().unwrap();
            st.emitting = false;
            if st.cancelled {
                return; // cancelled inside on_subscribe: drop the subscriber here
            }
            if self.fault == Fault::DeliverBeforeRequest && !self.failed && st.next < self.count {
                st.next += 1;
                drop(st);
                subscriber.on_next(0);
                st = core.state.lock().unwrap();
            }
            st.subscriber = Some(subscriber);
        }
        drive(&core);
    }
}
