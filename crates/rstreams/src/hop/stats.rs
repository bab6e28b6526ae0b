//! Event counters of the thread hops, for benchmarks (feature `hop-stats`): how often the drain
//! parks, how many items a pass and a look at the ring's tail deliver, how many requests cross a
//! `subscribe_on` lane and how many of those had to schedule the lane. Counts are process-wide
//! and load-independent enough to compare designs on a busy machine, where timings are not.
//! Without the feature every `count!` compiles to nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

/// The counted events; see [`HopStats`] for what each means.
#[derive(Clone, Copy, Debug)]
#[repr(usize)]
pub(crate) enum Event {
    DrainTask,
    Pass,
    Item,
    TailLook,
    TailLookEmpty,
    Spin,
    Park,
    Claim,
    ClaimByPush,
    Replenish,
    LaneRequest,
    LaneSchedule,
    OwedSignal,
    IterWait,
    IterYield,
    IterPark,
    IterWake,
}

const EVENTS: usize = 17;

static COUNTERS: [CachePadded<AtomicU64>; EVENTS] =
    [const { CachePadded::new(AtomicU64::new(0)) }; EVENTS];

#[inline]
pub(crate) fn count(event: Event, n: u64) {
    // Relaxed: statistics, read after the measured runs.
    COUNTERS[event as usize].fetch_add(n, Ordering::Relaxed);
}

/// A snapshot of the hop counters (feature `hop-stats`), summed over every hop of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HopStats {
    /// `publish_on` drain tasks that ran (each is one scheduling of the drain).
    pub drain_tasks: u64,
    /// Drain passes that delivered at least one item.
    pub passes: u64,
    /// Items `publish_on` delivered downstream.
    pub items: u64,
    /// Times the consumer re-read the producer's position (the ring's tail line).
    pub tail_looks: u64,
    /// ... of which found nothing new.
    pub tail_looks_empty: u64,
    /// Idle polls the drain entered (ring empty after a pass).
    pub spins: u64,
    /// Times the drain gave its token back (parked).
    pub parks: u64,
    /// Times a signaller claimed the token and scheduled a drain.
    pub claims: u64,
    /// ... of which by the producer after a push.
    pub claims_by_push: u64,
    /// Replenishing requests the drain sent upstream.
    pub replenishes: u64,
    /// Requests `subscribe_on` forwarded through its lane.
    pub lane_requests: u64,
    /// ... of which found the lane idle and scheduled it on the executor.
    pub lane_schedules: u64,
    /// Signals a producer deferred to the end of a burst and paid there (`batch_signals`).
    pub owed_signals: u64,
    /// `blocking_iter` across threads (`sink/local.rs`): times the iterator found nothing and
    /// began to wait (spin first).
    pub iter_waits: u64,
    /// ... of which outlasted the spin and began the bounded yield phase.
    pub iter_yields: u64,
    /// ... of which gave the token up and parked its thread (a futex wait, woken by a push).
    pub iter_parks: u64,
    /// Wake-ups (`unpark`) a producer sent a parked iterator.
    pub iter_wakes: u64,
}

/// Reads every counter.
pub fn stats() -> HopStats {
    let c = |e: Event| COUNTERS[e as usize].load(Ordering::Relaxed);
    HopStats {
        drain_tasks: c(Event::DrainTask),
        passes: c(Event::Pass),
        items: c(Event::Item),
        tail_looks: c(Event::TailLook),
        tail_looks_empty: c(Event::TailLookEmpty),
        spins: c(Event::Spin),
        parks: c(Event::Park),
        claims: c(Event::Claim),
        claims_by_push: c(Event::ClaimByPush),
        replenishes: c(Event::Replenish),
        lane_requests: c(Event::LaneRequest),
        lane_schedules: c(Event::LaneSchedule),
        owed_signals: c(Event::OwedSignal),
        iter_waits: c(Event::IterWait),
        iter_yields: c(Event::IterYield),
        iter_parks: c(Event::IterPark),
        iter_wakes: c(Event::IterWake),
    }
}
