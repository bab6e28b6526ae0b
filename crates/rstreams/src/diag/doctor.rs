//! The stall doctor (issue 12): which metered edge is waiting for what.
//!
//! A pipeline is **stalled** when nothing crossed some of its metered edges for a while
//! although they are still running. From the counters of each idle edge the doctor tells
//! which way it waits:
//!
//! * the downstream's `on_next` has been running all that time → **blocked in a user
//!   callback** below the edge;
//! * demand is outstanding but no item came → the stage **upstream is not emitting**
//!   (it starves the edge);
//! * no demand is outstanding → the **downstream is not requesting** (with the number of items
//!   buffered upstream, when the stage there can say).
//!
//! The findings come in pipeline order (upstream first) with the edge names and the sites
//! where `metered` was called, plus the **probable cause**: the blocked callback, else the
//! edge holding buffered items back for want of demand, else the most upstream starving edge,
//! else the most downstream edge without demand.
//!
//! [`Registry::diagnose`] answers at once (for tests and for a human at a debugger);
//! [`StallDoctor`] checks periodically on any [`Scheduler`] and reports each stall episode once
//! (a `tracing` warning and an optional callback).
//!
//! ```
//! use rstreams::prelude::*;
//! use rstreams::Consumer;
//! use rstreams::diag::{Registry, StallKind};
//! use std::time::{Duration, Instant};
//!
//! let registry = Registry::new();
//! let _subscription = rstreams::never::<u64>()
//!     .metered(&registry, "input")
//!     .subscribe_consumer(Consumer::new(|_| {}).request(4)); // 4 items that never come
//!
//! let t0 = Instant::now();
//! registry.diagnose_at(t0, Duration::from_secs(5)); // first sample
//! let diagnosis = registry.diagnose_at(t0 + Duration::from_secs(6), Duration::from_secs(5));
//! let cause = diagnosis.cause().unwrap();
//! assert_eq!(&*cause.edge.name, "input");
//! assert!(matches!(cause.kind, StallKind::Starved { outstanding: 4 }));
//! println!("{diagnosis}");
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rstreams_executor::{Rejected, RepeatingTask, Scheduler, TimerHandle};

use super::metrics::{EdgeState, EdgeStats, Registry, Snapshot, human};

/// Which way an idle edge waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StallKind {
    /// The downstream's `on_next` has not returned for `blocked_for` (at least).
    BlockedInCallback {
        /// How long the callback has run, as sampled.
        blocked_for: Duration,
    },
    /// `outstanding` items were requested and none came: the stage upstream is not emitting.
    Starved {
        /// Demand outstanding at the edge (`u64::MAX`: unbounded).
        outstanding: u64,
    },
    /// No demand is outstanding: the downstream is not requesting.
    NotRequesting {
        /// Items the stage upstream holds for this edge, when it can say.
        buffered: Option<u64>,
    },
    /// The upstream has not called `on_subscribe` yet.
    NotSubscribed,
}

/// One idle edge and which way it waits.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The edge as sampled.
    pub edge: EdgeStats,
    /// Which way it waits.
    pub kind: StallKind,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.edge;
        let idle = e.idle_for;
        match self.kind {
            StallKind::BlockedInCallback { blocked_for } => write!(
                f,
                "blocked in a user callback below {} for {} \
                 ({} delivered; the downstream's on_next has not returned)",
                e.label(),
                human(blocked_for),
                e.delivered
            ),
            StallKind::Starved { outstanding } => {
                let outstanding = if outstanding == u64::MAX {
                    "unbounded demand".to_owned()
                } else {
                    format!("{outstanding} requested")
                };
                write!(
                    f,
                    "upstream of {} is not emitting (starving '{}': {outstanding}, \
                     nothing delivered for {})",
                    e.label(),
                    e.name,
                    human(idle)
                )
            }
            StallKind::NotRequesting { buffered } => {
                let held = match buffered {
                    Some(n) => format!("{n} items buffered upstream"),
                    None => "upstream backlog unknown".to_owned(),
                };
                write!(
                    f,
                    "downstream of {} is not requesting ({held}, no demand for {})",
                    e.label(),
                    human(idle)
                )
            }
            StallKind::NotSubscribed => write!(
                f,
                "upstream of {} never called on_subscribe (for {})",
                e.label(),
                human(idle)
            ),
        }
    }
}

/// What [`Registry::diagnose`] found; `Display` prints the wait-for chain.
#[derive(Clone, Debug)]
pub struct Diagnosis {
    /// The idle time that makes an edge count as stalled.
    pub stalled_after: Duration,
    /// The stalled edges, upstream first.
    pub findings: Vec<Finding>,
    /// The snapshot the diagnosis was made from.
    pub snapshot: Snapshot,
}

impl Diagnosis {
    /// Whether any edge is stalled.
    pub fn is_stalled(&self) -> bool {
        !self.findings.is_empty()
    }

    /// The most recent stalled edge with this name.
    pub fn finding(&self, name: &str) -> Option<&Finding> {
        self.findings
            .iter()
            .filter(|f| &*f.edge.name == name)
            .max_by_key(|f| f.edge.id)
    }

    /// The probable cause: the most downstream blocked callback, else the first edge with
    /// items buffered upstream and no demand, else the most upstream starving edge, else the
    /// most downstream edge without demand.
    pub fn cause(&self) -> Option<&Finding> {
        let f = &self.findings;
        f.iter()
            .rev()
            .find(|x| matches!(x.kind, StallKind::BlockedInCallback { .. }))
            .or_else(|| {
                f.iter().find(
                    |x| matches!(x.kind, StallKind::NotRequesting { buffered: Some(n) } if n > 0),
                )
            })
            .or_else(|| {
                f.iter()
                    .find(|x| matches!(x.kind, StallKind::NotSubscribed))
            })
            .or_else(|| {
                f.iter()
                    .find(|x| matches!(x.kind, StallKind::Starved { .. }))
            })
            .or_else(|| f.iter().next_back())
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.findings.is_empty() {
            return writeln!(
                f,
                "no stall: every running edge moved within {}",
                human(self.stalled_after)
            );
        }
        let running = self
            .snapshot
            .edges
            .iter()
            .filter(|e| !e.state.is_terminal())
            .count();
        writeln!(
            f,
            "stall: {} of {running} running edges idle for at least {} \
             (upstream first where known):",
            self.findings.len(),
            human(self.stalled_after)
        )?;
        for (i, finding) in self.findings.iter().enumerate() {
            writeln!(f, "  {}. {finding}", i + 1)?;
        }
        if let Some(cause) = self.cause() {
            writeln!(f, "probable cause: {cause}")?;
        }
        Ok(())
    }
}

impl Registry {
    /// Samples every edge now (wall clock) and names those idle for at least `stalled_after`.
    /// See [`diagnose_at`](Self::diagnose_at).
    pub fn diagnose(&self, stalled_after: Duration) -> Diagnosis {
        self.diagnose_at(Instant::now(), stalled_after)
    }

    /// Samples every edge taking `now` as the time and names the running edges whose counters
    /// did not change since the previous sample and for at least `stalled_after` (so with a
    /// threshold of zero, "nothing moved between two samples"). An edge is only judged idle
    /// from its second sample on.
    pub fn diagnose_at(&self, now: Instant, stalled_after: Duration) -> Diagnosis {
        let snapshot = self.snapshot_at(now);
        let findings = snapshot
            .edges
            .iter()
            .filter(|e| !e.state.is_terminal() && !e.changed && e.idle_for >= stalled_after)
            .map(|e| Finding {
                edge: e.clone(),
                kind: if e.state == EdgeState::Subscribing {
                    StallKind::NotSubscribed
                } else if e.in_callback {
                    StallKind::BlockedInCallback {
                        blocked_for: e.idle_for,
                    }
                } else if e.outstanding > 0 {
                    StallKind::Starved {
                        outstanding: e.outstanding,
                    }
                } else {
                    StallKind::NotRequesting {
                        buffered: e.buffered_upstream,
                    }
                },
            })
            .collect();
        Diagnosis {
            stalled_after,
            findings,
            snapshot,
        }
    }
}

type OnStall = Arc<dyn Fn(&Diagnosis) + Send + Sync>;

/// A watchdog over a [`Registry`]: checks it periodically and reports each stall **episode**
/// once — a `tracing` warning (target `rstreams::diag`) with the wait-for chain, and the
/// optional [`on_stall`](Self::on_stall) callback. An episode ends when a check finds no stall.
///
/// ```
/// use rstreams::prelude::*;
/// use rstreams::Consumer;
/// use rstreams::diag::{Registry, StallDoctor};
/// use rstreams::executor::ManualExecutor;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
///
/// let exec = ManualExecutor::new();
/// let registry = Registry::new();
/// let _s = rstreams::never::<u8>()
///     .metered(&registry, "input")
///     .subscribe_consumer(Consumer::new(|_| {}).request(1));
///
/// let stalls = Arc::new(AtomicUsize::new(0));
/// let seen = Arc::clone(&stalls);
/// let _doctor = StallDoctor::new(&registry, Duration::from_secs(5))
///     .on_stall(move |_| { seen.fetch_add(1, Ordering::SeqCst); })
///     .start(Arc::new(exec.clone()), Duration::from_secs(1))
///     .unwrap();
/// exec.advance(Duration::from_secs(30)); // 30 checks, one stall episode
/// assert_eq!(stalls.load(Ordering::SeqCst), 1);
/// ```
pub struct StallDoctor {
    registry: Registry,
    stalled_after: Duration,
    on_stall: Option<OnStall>,
    in_episode: Mutex<bool>,
}

impl fmt::Debug for StallDoctor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StallDoctor")
            .field("stalled_after", &self.stalled_after)
            .finish()
    }
}

impl StallDoctor {
    /// A doctor for `registry`'s edges, calling an edge stalled after `stalled_after` idle.
    pub fn new(registry: &Registry, stalled_after: Duration) -> Self {
        StallDoctor {
            registry: registry.clone(),
            stalled_after,
            on_stall: None,
            in_episode: Mutex::new(false),
        }
    }

    /// Also calls `f` with the diagnosis at the start of each stall episode.
    #[must_use]
    pub fn on_stall(mut self, f: impl Fn(&Diagnosis) + Send + Sync + 'static) -> Self {
        self.on_stall = Some(Arc::new(f));
        self
    }

    /// One check at time `now`: returns the diagnosis when a stall episode starts (and reports
    /// it), `None` otherwise (no stall, or the same episode goes on).
    pub fn check_at(&self, now: Instant) -> Option<Diagnosis> {
        let diagnosis = self.registry.diagnose_at(now, self.stalled_after);
        let mut in_episode = self.in_episode.lock();
        if !diagnosis.is_stalled() {
            *in_episode = false;
            return None;
        }
        if *in_episode {
            return None;
        }
        *in_episode = true;
        drop(in_episode);
        let cause = diagnosis
            .cause()
            .map(|c| c.edge.label())
            .unwrap_or_default();
        tracing::warn!(
            target: "rstreams::diag",
            stalled_edges = diagnosis.findings.len(),
            cause = %cause,
            "pipeline stalled\n{diagnosis}"
        );
        if let Some(f) = &self.on_stall {
            f(&diagnosis);
        }
        Some(diagnosis)
    }

    /// Checks every `period` on `scheduler`'s timers, dating samples by its clock. Cancel the
    /// returned handle to stop.
    ///
    /// # Errors
    ///
    /// The scheduler's refusal (shut down, zero period).
    pub fn start(
        self,
        scheduler: impl rstreams_executor::IntoScheduler,
        period: Duration,
    ) -> Result<TimerHandle, Rejected<RepeatingTask>> {
        let scheduler = scheduler.into_scheduler();
        let clock = Arc::clone(&scheduler);
        let task: RepeatingTask = Arc::new(move || {
            self.check_at(clock.now());
        });
        scheduler.execute_at_fixed_rate(period, period, task)
    }
}
