//! Timers: a min-heap of deadlines. The thread pool and the immediate executor run one lazily
//! started timer thread each ([`Timers`]); the manual executor keeps a [`TimerHeap`] and a virtual
//! clock instead.
//!
//! The timer thread only *dispatches*: when an entry is due it hands the task to its executor, so a
//! slow task never delays other timers. A periodic entry is re-armed by the dispatched task itself
//! after it ran, at `previous deadline + period` (fixed rate; late runs catch up), which guarantees
//! that occurrences of one periodic task never overlap.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::task::{RepeatingTask, Task, TimerHandle};

pub(crate) enum EntryKind {
    Once(Task),
    Periodic { f: RepeatingTask, period: Duration },
}

pub(crate) struct Entry {
    pub(crate) deadline: Instant,
    seq: u64,
    pub(crate) handle: TimerHandle,
    pub(crate) kind: EntryKind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so `BinaryHeap` (a max-heap) pops the earliest deadline, ties in insertion order.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .deadline
            .cmp(&self.deadline)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending timers in deadline order.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl TimerHeap {
    pub(crate) fn push(&mut self, deadline: Instant, handle: TimerHandle, kind: EntryKind) {
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            handle,
            kind,
        });
    }

    /// The next deadline of a timer that is not cancelled (cancelled ones are dropped here).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if top.handle.is_cancelled() {
                self.heap.pop();
            } else {
                return Some(top.deadline);
            }
        }
        None
    }

    /// Removes the earliest live entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        match self.next_deadline() {
            Some(deadline) if deadline <= now => self.heap.pop(),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn clear(&mut self) -> usize {
        let n = self.heap.len();
        self.heap.clear();
        n
    }
}

/// Turns a due entry into a task for the executor. `rearm` puts the next occurrence of a periodic
/// entry back (it is called after the occurrence ran, from whatever thread ran it).
pub(crate) fn entry_task(
    entry: Entry,
    rearm: impl FnOnce(Instant, TimerHandle, EntryKind) + Send + 'static,
) -> Task {
    let Entry {
        deadline,
        handle,
        kind,
        ..
    } = entry;
    match kind {
        EntryKind::Once(task) => Box::new(move || {
            // Checked again here: the timer may be cancelled while the task waits in the queue.
            if !handle.is_cancelled() {
                task();
            }
        }),
        EntryKind::Periodic { f, period } => Box::new(move || {
            if handle.is_cancelled() {
                return;
            }
            // A panicking occurrence is still reported by the executor (resume_unwind below), but
            // the schedule survives it.
            let outcome = catch_unwind(AssertUnwindSafe(|| f()));
            if !handle.is_cancelled() {
                rearm(deadline + period, handle, EntryKind::Periodic { f, period });
            }
            if let Err(payload) = outcome {
                resume_unwind(payload);
            }
        }),
    }
}

struct TimerState {
    heap: TimerHeap,
    stopped: bool,
}

struct TimerShared {
    state: Mutex<TimerState>,
    cv: Condvar,
}

impl TimerShared {
    fn insert(
        &self,
        deadline: Instant,
        handle: TimerHandle,
        kind: EntryKind,
    ) -> Result<(), EntryKind> {
        let mut state = self.state.lock();
        if state.stopped {
            return Err(kind);
        }
        let earliest = state.heap.next_deadline().is_none_or(|d| deadline < d);
        state.heap.push(deadline, handle, kind);
        drop(state);
        if earliest {
            // The timer thread may be waiting for a later deadline.
            self.cv.notify_one();
        }
        Ok(())
    }
}

/// Dispatch function: hands a due task to the owning executor.
pub(crate) type Dispatch = Arc<dyn Fn(Task) + Send + Sync + 'static>;

/// A lazily started timer thread.
pub(crate) struct Timers {
    shared: Arc<TimerShared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    name: String,
    dispatch: Dispatch,
}

impl Timers {
    pub(crate) fn new(name: String, dispatch: Dispatch) -> Self {
        Self {
            shared: Arc::new(TimerShared {
                state: Mutex::new(TimerState {
                    heap: TimerHeap::default(),
                    stopped: false,
                }),
                cv: Condvar::new(),
            }),
            thread: Mutex::new(None),
            name,
            dispatch,
        }
    }

    fn ensure_started(&self) -> std::io::Result<()> {
        let mut thread = self.thread.lock();
        if thread.is_none() {
            let shared = Arc::clone(&self.shared);
            let dispatch = Arc::clone(&self.dispatch);
            tracing::debug!(name = %self.name, "starting timer thread");
            *thread = Some(
                std::thread::Builder::new()
                    .name(self.name.clone())
                    .spawn(move || timer_main(&shared, &dispatch))?,
            );
        }
        Ok(())
    }

    /// Arms a timer. `Err` gives the kind back if the timers are stopped (or the thread could not
    /// be started).
    pub(crate) fn schedule(
        &self,
        deadline: Instant,
        kind: EntryKind,
    ) -> Result<TimerHandle, EntryKind> {
        if self.shared.state.lock().stopped {
            return Err(kind);
        }
        if let Err(error) = self.ensure_started() {
            tracing::error!(%error, "could not start the timer thread");
            return Err(kind);
        }
        let handle = TimerHandle::new();
        self.shared.insert(deadline, handle.clone(), kind)?;
        Ok(handle)
    }

    /// Stops the thread and drops every pending timer; joins the thread if `join` (and the caller
    /// is not the timer thread itself). Returns how many timers were dropped.
    pub(crate) fn stop(&self, join: bool) -> usize {
        let dropped = {
            let mut state = self.shared.state.lock();
            state.stopped = true;
            state.heap.clear()
        };
        self.shared.cv.notify_all();
        let handle = self.thread.lock().take();
        if let Some(handle) = handle
            && join
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
        dropped
    }

    pub(crate) fn pending(&self) -> usize {
        self.shared.state.lock().heap.len()
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.stop(true);
    }
}

fn timer_main(shared: &Arc<TimerShared>, dispatch: &Dispatch) {
    let mut state = shared.state.lock();
    loop {
        if state.stopped {
            return;
        }
        let now = Instant::now();
        if let Some(entry) = state.heap.pop_due(now) {
            drop(state);
            let rearm_to = Arc::downgrade(shared);
            let task = entry_task(entry, move |deadline, handle, kind| {
                if let Some(shared) = rearm_to.upgrade() {
                    // Err: timers stopped meanwhile; the periodic task is simply dropped.
                    let _ = shared.insert(deadline, handle, kind);
                }
            });
            dispatch(task);
            state = shared.state.lock();
            continue;
        }
        match state.heap.next_deadline() {
            Some(deadline) => {
                let _ = shared.cv.wait_until(&mut state, deadline);
            }
            None => shared.cv.wait(&mut state),
        }
    }
}
