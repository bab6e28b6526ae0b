//! Demand accounting for stages that drop items (`filter`, `filter_map`, `skip`, `skip_while`):
//! what they drop is asked for again in batches, never one `request(1)` per dropped item, and
//! never more than the downstream wants.
//!
//! Shared by the downstream's `request` (any thread) and the stage's `on_next`:
//!
//! * `owed`: demand not yet forwarded upstream (downstream requests + dropped items - forwarded);
//! * `requested`: the running total requested upstream (`u64::MAX`: unbounded).
//!
//! Only the `on_next` side counts what arrived (`received`) and what it dropped (`debt`), in plain
//! fields: a kept item costs one load of `requested` and no atomic read-modify-write. When
//! `received` catches up with `requested` (everything asked for has arrived) the debt is moved
//! into `owed` and `owed` is forwarded in one request, which is then the downstream's whole unmet
//! demand. A downstream `request` adds to `owed` and forwards it at once. Each unit of `owed` is
//! claimed by exactly one `swap`, so the total forwarded is `downstream demand + dropped`, and the
//! stage never receives an item it could not pass on (rule 1.1). Once the downstream asks for
//! `u64::MAX`, so does the stage and the accounting stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams_protocol::Subscription;

pub(crate) struct Replenish {
    owed: AtomicU64,
    requested: AtomicU64,
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
            requested: AtomicU64::new(0),
            up,
        })
    }

    /// Forwards everything owed.
    fn flush(&self) {
        let owed = self.owed.swap(0, Ordering::AcqRel);
        if owed == 0 {
            return;
        }
        // `requested` goes up before the request: a synchronous upstream delivers inside it.
        if saturating_add(&self.requested, owed) == u64::MAX {
            self.up.request(u64::MAX);
            return;
        }
        tracing::trace!(owed, "replenishing upstream demand");
        self.up.request(owed);
    }
}

/// The `on_next` side's plain counters.
#[derive(Default)]
pub(crate) struct Received {
    received: u64,
    debt: u64,
    /// Seen `requested == u64::MAX` once: no more loads at all.
    unbounded: bool,
}

impl Received {
    /// Whether accounting has stopped (unbounded demand).
    #[inline(always)]
    pub(crate) fn unbounded(&self) -> bool {
        self.unbounded
    }

    /// Records one received item; `dropped` if it was not passed downstream.
    #[inline]
    pub(crate) fn record(&mut self, r: &Replenish, dropped: bool) {
        if self.unbounded {
            return;
        }
        let requested = r.requested.load(Ordering::Acquire);
        if requested == u64::MAX {
            self.unbounded = true;
            return;
        }
        self.received += 1;
        self.debt += u64::from(dropped);
        if self.received >= requested {
            // Everything asked for has arrived: ask again for the downstream's unmet demand.
            if self.debt != 0 {
                saturating_add(&r.owed, std::mem::take(&mut self.debt));
            }
            r.flush();
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
        if r.requested.load(Ordering::Acquire) == u64::MAX {
            return;
        }
        saturating_add(&r.owed, n);
        r.flush();
    }
    fn cancel(&self) {
        self.0.up.cancel();
    }
}
