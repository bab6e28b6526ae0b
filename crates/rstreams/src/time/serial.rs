//! The serialiser the time operators share: signals from the upstream thread and from timer
//! threads go through one queue and one [`SerialDrain`], so the downstream sees them one at a
//! time, in the order they were enqueued, and a re-entrant `request` from inside `on_next` never
//! deadlocks (the queue lock is never held while calling the downstream).
//!
//! The queue holds signals, not a buffer of its own: each operator enqueues items only as the
//! downstream's demand allows, so it is bounded by that demand (plus one terminal signal).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Rule, SerialDrain, Subscriber, Subscription, report_undeliverable};

use crate::stage::{Loc, guard};

pub(crate) enum Signal<T> {
    Subscribe(Box<dyn Subscription>),
    Next(T),
    Error(Error),
    Complete,
}

struct Queue<T> {
    signals: VecDeque<Signal<T>>,
    /// A terminal signal has been enqueued: later ones are ignored.
    terminated: bool,
}

pub(crate) struct Serializer<T, S> {
    queue: Mutex<Queue<T>>,
    cancelled: AtomicBool,
    /// The upstream subscription, cancelled when the downstream cancels or panics.
    pub(crate) up: Mutex<Option<Arc<dyn Subscription>>>,
    drain: SerialDrain<Option<S>>,
    loc: Loc,
}

impl<T: Send, S: Subscriber<T> + Send> Serializer<T, S> {
    pub(crate) fn new(down: S, loc: Loc) -> Self {
        Self {
            queue: Mutex::new(Queue {
                signals: VecDeque::new(),
                terminated: false,
            }),
            cancelled: AtomicBool::new(false),
            up: Mutex::new(None),
            drain: SerialDrain::new(Some(down)),
            loc,
        }
    }

    /// Enqueues without delivering (call [`drive`](Self::drive) after releasing your locks).
    /// Returns `false` if the stream is already terminated or cancelled.
    pub(crate) fn enqueue(&self, signal: Signal<T>) -> bool {
        if self.is_cancelled() {
            return false;
        }
        let mut q = self.queue.lock();
        if q.terminated {
            return false;
        }
        if matches!(signal, Signal::Error(_) | Signal::Complete) {
            q.terminated = true;
        }
        q.signals.push_back(signal);
        true
    }

    /// Enqueues and delivers.
    pub(crate) fn push(&self, signal: Signal<T>) -> bool {
        let ok = self.enqueue(signal);
        self.drive();
        ok
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        // Acquire: pairs with the Release in `cancel`.
        self.cancelled.load(Ordering::Acquire)
    }

    /// Whether a terminal signal was enqueued or the downstream cancelled.
    pub(crate) fn is_finished(&self) -> bool {
        self.is_cancelled() || self.queue.lock().terminated
    }

    /// The downstream cancelled (or failed): stop, drop queued signals and the subscriber.
    pub(crate) fn cancel(&self) {
        // Release: pairs with the Acquire in `is_cancelled`.
        if !self.cancelled.swap(true, Ordering::AcqRel) {
            self.cancel_upstream();
            self.drive();
        }
    }

    pub(crate) fn cancel_upstream(&self) {
        let up = self.up.lock().take();
        if let Some(up) = up {
            up.cancel();
        }
    }

    pub(crate) fn drive(&self) {
        self.drain.drain(|down| self.pass(down));
    }

    fn pass(&self, slot: &mut Option<S>) {
        loop {
            if slot.is_none() {
                self.queue.lock().signals.clear();
                return;
            }
            if self.is_cancelled() {
                *slot = None;
                continue;
            }
            let Some(signal) = self.queue.lock().signals.pop_front() else {
                return;
            };
            let down = slot.as_mut().expect("checked above");
            let (result, terminal) = match signal {
                Signal::Subscribe(s) => (guard(|| down.on_subscribe(s)), false),
                Signal::Next(item) => (guard(|| down.on_next(item)), false),
                Signal::Error(e) => (guard(|| down.on_error(e)), true),
                Signal::Complete => (guard(|| down.on_complete()), true),
            };
            if let Err(p) = result {
                // Rule 2.13: the subscription counts as cancelled; report what cannot be told.
                // Release: pairs with the Acquire in `is_cancelled`.
                self.cancelled.store(true, Ordering::Release);
                self.cancel_upstream();
                *slot = None;
                report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
            } else if terminal {
                *slot = None;
                self.up.lock().take();
            }
        }
    }
}
