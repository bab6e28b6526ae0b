//! `retry` and `retry_backoff`: resubscribe to the upstream after an error; see [`Retry`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_executor::Scheduler;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use super::{Armed, arm_timer};
use crate::stage::{Loc, guard};

/// When to try again.
#[derive(Clone)]
pub(crate) enum Backoff {
    /// At once, on the thread that saw the error (trampolined: no recursion).
    Immediate,
    /// After `min(base * 2^attempt, max)` on the scheduler.
    Exponential {
        base: Duration,
        max: Duration,
        scheduler: Arc<dyn Scheduler>,
    },
}

/// The publisher made by [`PublisherExt::retry`](crate::PublisherExt::retry) and
/// [`PublisherExt::retry_backoff`](crate::PublisherExt::retry_backoff): on an upstream error it subscribes
/// to the upstream again, at most `retries` times in total, and fails with the last error after
/// that. Items already delivered are not replayed by this stage (a cold upstream starts over).
///
/// Demand: the downstream's subscription stays the same across attempts; what it requested and
/// has not received is requested from each new upstream subscription. Cancel stops the current
/// attempt and any pending backoff timer.
///
/// With backoff, attempt `k` (from 0) waits `min(base * 2^k, max)` on the scheduler's timer.
pub struct Retry<P> {
    pub(crate) upstream: Arc<P>,
    pub(crate) retries: u64,
    pub(crate) backoff: Backoff,
    pub(crate) loc: Loc,
}

impl<P> Clone for Retry<P> {
    fn clone(&self) -> Self {
        Retry {
            upstream: Arc::clone(&self.upstream),
            retries: self.retries,
            backoff: self.backoff.clone(),
            loc: self.loc,
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("upstream", &self.upstream)
            .field("retries", &self.retries)
            .finish()
    }
}

impl<P> Publisher for Retry<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            upstream: Arc::clone(&self.upstream),
            arb: Mutex::new(Arbiter {
                current: None,
                owed: 0,
                bad_request: false,
                cancelled: false,
                timer: None,
            }),
            parked: Mutex::new(None),
            wip: AtomicUsize::new(0),
            retries: self.retries,
            backoff: self.backoff.clone(),
            loc: self.loc,
        });
        *shared.parked.lock() = Some(Parked {
            down: subscriber,
            attempt: 0,
            subscribed: false,
        });
        shared.resubscribe();
    }
}

/// The downstream, between attempts.
struct Parked<S> {
    down: S,
    attempt: u64,
    subscribed: bool,
}

struct Arbiter {
    current: Option<Arc<dyn Subscription>>,
    /// Requested by the downstream and not yet delivered.
    owed: u64,
    /// The downstream called `request(0)`: the rule-3.9 error it causes is not retried.
    bad_request: bool,
    cancelled: bool,
    timer: Option<Armed>,
}

struct Shared<P: Publisher, S> {
    upstream: Arc<P>,
    arb: Mutex<Arbiter>,
    parked: Mutex<Option<Parked<S>>>,
    /// Trampoline for immediate resubscription: an upstream that fails inside `subscribe`
    /// does not recurse.
    wip: AtomicUsize,
    retries: u64,
    backoff: Backoff,
    loc: Loc,
}

impl<P, S> Shared<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + Send + 'static,
{
    /// The backoff timer cannot run: the parked downstream (if still waiting) gets `error`.
    fn fail_parked(&self, error: Error) {
        let parked = self.parked.lock().take();
        if let Some(mut parked) = parked {
            let e = error.at_stage(self.loc);
            tracing::debug!(stage = %self.loc, error = %e, "retry_backoff cannot wait any more");
            if let Err(p) = guard(|| parked.down.on_error(e)) {
                report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
            }
        }
    }

    fn resubscribe(self: &Arc<Self>) {
        // AcqRel: the thread that moves wip from 0 loops; others leave a mark.
        if self.wip.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        let mut missed = 1;
        loop {
            let parked = self.parked.lock().take();
            if let Some(parked) = parked {
                self.upstream.subscribe(RetrySubscriber {
                    shared: Arc::clone(self),
                    parked: Some(parked),
                });
            }
            let now = self.wip.fetch_sub(missed, Ordering::AcqRel) - missed;
            if now == 0 {
                return;
            }
            missed = now;
        }
    }

    fn delay_for(&self, attempt: u64) -> Option<(Duration, Arc<dyn Scheduler>)> {
        match &self.backoff {
            Backoff::Immediate => None,
            Backoff::Exponential {
                base,
                max,
                scheduler,
            } => {
                let factor = 1u32.checked_shl(attempt.min(31) as u32).unwrap_or(u32::MAX);
                let d = base.checked_mul(factor).unwrap_or(*max).min(*max);
                Some((d, Arc::clone(scheduler)))
            }
        }
    }
}

struct RetrySubscriber<P: Publisher, S> {
    shared: Arc<Shared<P, S>>,
    parked: Option<Parked<S>>,
}

impl<P, S> Subscriber<P::Item> for RetrySubscriber<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + Send + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        let Some(parked) = self.parked.as_mut() else {
            up.cancel();
            return;
        };
        let owed = {
            let mut arb = self.shared.arb.lock();
            if arb.cancelled || arb.current.is_some() {
                drop(arb);
                up.cancel();
                if self.shared.arb.lock().cancelled {
                    self.parked = None;
                }
                return;
            }
            arb.current = Some(Arc::clone(&up));
            arb.owed
        };
        if !parked.subscribed {
            parked.subscribed = true;
            let sub = Box::new(RetrySubscription(
                Arc::clone(&self.shared) as Arc<dyn Cancel>
            ));
            if let Err(p) = guard(|| parked.down.on_subscribe(sub)) {
                self.downstream_panicked(p);
            }
            // Requests made inside on_subscribe went to `current` directly.
        } else if owed > 0 {
            up.request(owed);
        }
    }

    fn on_next(&mut self, item: P::Item) {
        let Some(parked) = self.parked.as_mut() else {
            return;
        };
        {
            let mut arb = self.shared.arb.lock();
            if arb.owed != u64::MAX {
                arb.owed = arb.owed.saturating_sub(1);
            }
        }
        if let Err(p) = guard(|| parked.down.on_next(item)) {
            self.downstream_panicked(p);
        }
    }

    fn on_error(&mut self, error: Error) {
        let Some(mut parked) = self.parked.take() else {
            report_undeliverable(error);
            return;
        };
        let bad_request = {
            let mut arb = self.shared.arb.lock();
            arb.current = None;
            if arb.cancelled {
                return;
            }
            arb.bad_request
        };
        if bad_request || parked.attempt >= self.shared.retries {
            tracing::debug!(stage = %self.shared.loc, attempts = parked.attempt, "retries exhausted");
            if let Err(p) = guard(|| parked.down.on_error(error)) {
                report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc));
            }
            return;
        }
        let attempt = parked.attempt;
        parked.attempt += 1;
        tracing::debug!(stage = %self.shared.loc, attempt, %error, "retrying after error");
        *self.shared.parked.lock() = Some(parked);
        match self.shared.delay_for(attempt) {
            None => self.shared.resubscribe(),
            Some((d, scheduler)) => {
                // Strong: during the backoff the timer may be all that holds the stage (the
                // failed upstream dropped its subscriber; the downstream may have dropped its
                // `Subscription` after requesting, which is not a cancel). It runs or is lost
                // exactly once; a cancel disarms it.
                let me = Arc::clone(&self.shared);
                let lost = Arc::clone(&self.shared);
                let run = move || me.resubscribe();
                // Dropped unrun (the scheduler shut down): no retry will come; fail now.
                let lost = move || {
                    lost.fail_parked(Error::msg(
                        "retry_backoff: the scheduler shut down before the backoff ended; \
                         no further attempt",
                    ));
                };
                match arm_timer(&*scheduler, d, run, lost) {
                    Ok(h) => self.shared.arb.lock().timer = Some(h),
                    Err(reason) => self.shared.fail_parked(Error::msg(format!(
                        "retry_backoff: the scheduler refused the timer ({reason})"
                    ))),
                }
            }
        }
    }

    fn on_complete(&mut self) {
        let Some(mut parked) = self.parked.take() else {
            return;
        };
        self.shared.arb.lock().current = None;
        if let Err(p) = guard(|| parked.down.on_complete()) {
            report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc));
        }
    }
}

impl<P, S> RetrySubscriber<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + Send + 'static,
{
    fn downstream_panicked(&mut self, p: crate::stage::Payload) {
        self.parked = None;
        self.shared.cancel_all();
        report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.shared.loc));
    }
}

/// What the downstream's subscription needs, without the stage's type parameters.
trait Cancel: Send + Sync {
    fn request_more(&self, n: u64);
    fn cancel_all(&self);
}

impl<P, S> Cancel for Shared<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + Send + 'static,
{
    fn request_more(&self, n: u64) {
        let current = {
            let mut arb = self.arb.lock();
            if arb.cancelled {
                return;
            }
            if n == 0 {
                arb.bad_request = true;
            } else {
                arb.owed = arb.owed.saturating_add(n);
            }
            arb.current.clone()
        };
        // request(0) goes to the upstream, which answers with the rule-3.9 error; `on_error`
        // sees `bad_request` and passes that error on instead of retrying.
        match current {
            Some(up) => up.request(n),
            None if n == 0 => {
                // Between attempts (waiting for a backoff): fail the parked downstream now.
                let parked = self.parked.lock().take();
                if let Some(mut parked) = parked {
                    let timer = self.arb.lock().timer.take();
                    if let Some(t) = timer {
                        t.cancel();
                    }
                    let e = Error::violation(Rule::R3_9, "request(0): demand must be positive")
                        .at_stage(self.loc);
                    if let Err(p) = guard(|| parked.down.on_error(e)) {
                        report_undeliverable(Error::from_panic(Rule::R2_13, p).at_stage(self.loc));
                    }
                }
            }
            None => {}
        }
    }

    fn cancel_all(&self) {
        let (current, timer) = {
            let mut arb = self.arb.lock();
            arb.cancelled = true;
            (arb.current.take(), arb.timer.take())
        };
        if let Some(t) = timer {
            t.cancel();
        }
        if let Some(up) = current {
            up.cancel();
        }
        // A parked downstream (waiting for a backoff) is dropped now (rule 3.13).
        let parked = self.parked.lock().take();
        drop(parked);
    }
}

struct RetrySubscription(Arc<dyn Cancel>);

impl Subscription for RetrySubscription {
    fn request(&self, n: u64) {
        self.0.request_more(n);
    }
    fn cancel(&self) {
        self.0.cancel_all();
    }
}
