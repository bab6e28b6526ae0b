//! Shared pieces of the rstreams benches: sinks that every bench and its baseline feed alike.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

/// How a [`SumSubscriber`] asks for items.
#[derive(Clone, Copy, Debug)]
pub enum Demand {
    /// `request(u64::MAX)` once.
    Unbounded,
    /// `request(batch)` first, then `request(batch - low)` each time only `low` remain
    /// outstanding (256 and 64 make "request 256, replenish 192").
    Batched {
        /// The first request.
        batch: u64,
        /// Outstanding demand that triggers the replenish.
        low: u64,
    },
}

/// The two demand patterns the sink-fed groups run, each with its group-name suffix: one
/// `request(u64::MAX)`, and "request 256, replenish 192".
pub const DEMANDS: [(&str, Demand); 2] = [
    ("unbounded", Demand::Unbounded),
    (
        "batched_256_192",
        Demand::Batched {
            batch: 256,
            low: 64,
        },
    ),
];

/// Sums the items it receives (each through `black_box`), publishing the sum on completion.
pub struct SumSubscriber {
    demand: Demand,
    subscription: Option<Box<dyn Subscription>>,
    outstanding: u64,
    total: u64,
    out: Arc<AtomicU64>,
}

impl SumSubscriber {
    /// A subscriber that stores its final sum in `out`.
    pub fn new(demand: Demand, out: Arc<AtomicU64>) -> Self {
        Self {
            demand,
            subscription: None,
            outstanding: 0,
            total: 0,
            out,
        }
    }

    /// The per-item work, shared with the baselines so both sides do the same.
    #[inline(always)]
    pub fn accept(&mut self, item: u64) {
        self.total = self.total.wrapping_add(black_box(item));
    }

    /// The running sum.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl Subscriber<u64> for SumSubscriber {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        match self.demand {
            Demand::Unbounded => s.request(u64::MAX),
            Demand::Batched { batch, .. } => {
                self.outstanding = batch;
                s.request(batch);
            }
        }
        self.subscription = Some(s);
    }

    #[inline]
    fn on_next(&mut self, item: u64) {
        self.accept(item);
        if let Demand::Batched { batch, low } = self.demand {
            self.outstanding -= 1;
            if self.outstanding == low {
                self.outstanding = batch;
                if let Some(s) = &self.subscription {
                    s.request(batch - low);
                }
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        panic!("bench stream failed: {error}");
    }

    fn on_complete(&mut self) {
        self.out.store(self.total, Ordering::Release);
    }
}

impl std::fmt::Debug for SumSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SumSubscriber").finish_non_exhaustive()
    }
}

/// The map step of the `range -> map -> filter -> sum` chain the operator, diagnostics and
/// synchronous-path benchmarks share.
#[inline(always)]
pub fn f(x: u64) -> u64 {
    x.wrapping_mul(3)
}

/// The filter step of the same chain (keeps three items in four).
#[inline(always)]
pub fn keep(x: &u64) -> bool {
    x % 4 != 1
}

/// Subscribes through the `Publisher` trait: generic code sees only the trait, not the fused
/// inherent methods, so this measures the stage-by-stage path.
pub fn subscribe_generic<P: Publisher, S: Subscriber<P::Item> + Send + 'static>(p: &P, s: S) {
    p.subscribe(s);
}

/// `blocking_iter_with(prefetch)` called from generic code: as [`subscribe_generic`], it sees
/// only the `Publisher` trait, so the iterator subscribes (stage by stage) instead of pulling a
/// fused source itself.
pub fn iter_generic<P: Publisher>(p: &P, prefetch: usize) -> rstreams::BlockingIter<P::Item>
where
    P::Item: Send + 'static,
{
    rstreams::PublisherExt::blocking_iter_with(p, prefetch)
}

/// (voluntary, involuntary) context switches from one `/proc/.../status` file.
pub fn parse_switches(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches"),
        field("nonvoluntary_ctxt_switches"),
    )
}

/// Context switches so far (voluntary, involuntary), summed over the process's threads alive
/// now (Linux; `(0, 0)` elsewhere).
pub fn switches() -> (u64, u64) {
    let mut total = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return total;
    };
    for task in tasks.flatten() {
        if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
            let s = parse_switches(&status);
            total = (total.0 + s.0, total.1 + s.1);
        }
    }
    total
}

/// The calling thread's own switches (for threads that exit before [`switches`] can see them).
pub fn thread_switches() -> (u64, u64) {
    parse_switches(&std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default())
}
