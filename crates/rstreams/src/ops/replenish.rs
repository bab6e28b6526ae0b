//! Demand accounting for stages that drop items (`filter`, `filter_map`, `skip`, `skip_while`):
//! what they drop is asked for again in batches, never one `request(1)` per dropped item, and
//! never more than the downstream wants.
//!
//! Two counters, shared by the downstream's `request` (any thread) and the stage's `on_next`:
//!
//! * `owed`: demand not yet forwarded upstream = downstream requests + dropped items - forwarded;
//! * `in_flight`: requested upstream and not yet received.
//!
//! A kept item changes neither the downstream's unmet demand minus `in_flight`, so it does not
//! touch `owed`; a dropped item adds one to `owed`. A downstream `request` forwards all of `owed`
//! at once; a dropped item's debt is forwarded when `in_flight` reaches zero (everything asked for
//! has arrived) — one upstream request per batch. Each unit of `owed` is claimed by exactly one
//! `swap`, so the total forwarded is `downstream demand + dropped`, and the stage can never
//! receive an item it could not pass on (rule 1.1). Once the downstream asks for `u64::MAX` the
//! upstream is asked for `u64::MAX` too and the accounting stops (one relaxed load per item).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rstreams_protocol::Subscription;

pub(crate) struct Replenish {
    owed: AtomicU64,
    in_flight: AtomicU64,
    unbounded: AtomicBool,
    up: Arc<dyn Subscription>,
}

fn saturating_add(counter: &AtomicU64, n: u64) -> u64 {
    match counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
        Some(c.saturating_add(n))
    }) {
        Ok(prev) | Err(prev) => prev.saturating_add(n),
    }
}

impl Replenish {
    pub(crate) fn new(up: Arc<dyn Subscription>) -> Arc<Self> {
        Arc::new(Self {
            owed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            unbounded: AtomicBool::new(false),
            up,
        })
    }

    /// Forwards everything owed.
    fn flush(&self) {
        let owed = self.owed.swap(0, Ordering::AcqRel);
        if owed == 0 {
            return;
        }
        // `in_flight` goes up before the request: a synchronous upstream delivers inside it.
        if owed == u64::MAX || saturating_add(&self.in_flight, owed) == u64::MAX {
            self.unbounded.store(true, Ordering::Release);
            self.up.request(u64::MAX);
            return;
        }
        tracing::trace!(owed, "replenishing upstream demand");
        self.up.request(owed);
    }

    /// Records one received item; `dropped` if it was not passed downstream.
    #[inline]
    pub(crate) fn received(&self, dropped: bool) {
        if self.unbounded.load(Ordering::Relaxed) {
            return;
        }
        if dropped {
            saturating_add(&self.owed, 1);
        }
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.flush();
        }
    }
}

/// The downstream's subscription of a dropping stage.
pub(crate) struct ReplenishSubscription(pub(crate) Arc<Replenish>);

impl Subscription for ReplenishSubscription {
    fn request(&self, n: u64) {
        let r = &self.0;
        if n == 0 {
            r.up.request(0); // the upstream answers with the rule-3.9 error
            return;
        }
        if r.unbounded.load(Ordering::Acquire) {
            return;
        }
        saturating_add(&r.owed, n);
        r.flush();
    }
    fn cancel(&self) {
        self.0.up.cancel();
    }
}
