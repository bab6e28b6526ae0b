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
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::task::{RepeatingTask, Task, TimerHandle};

/// What an entry runs when due. Private to the heap: executors arm timers through the typed
/// `*_once` / `*_periodic` methods, and get back exactly the task type they gave.
enum Job {
    Once(Task),
    Periodic { f: RepeatingTask, period: Duration },
}

pub(crate) struct Entry {
    pub(crate) deadline: Instant,
    seq: u64,
    handle: TimerHandle,
    job: Job,
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

/// Below this many cancelled entries a heap is never compacted: not worth a pass.
const MIN_DEAD: usize = 16;

/// Whether `dead` cancelled entries among `len` call for a compaction: more dead than live.
fn should_compact(dead: usize, len: usize) -> bool {
    dead >= MIN_DEAD && dead.saturating_mul(2) > len
}

/// What a [`TimerHandle`] tells its heap when cancelled, so that cancelled entries do not wait
/// for their deadline to be freed (a `timeout` arms and cancels a timer per item).
///
/// The counts are a trigger, not a ledger: `dead` counts cancels since the last compaction and
/// may over-count (a cancel after the entry already fired), which only makes the next
/// compaction come a little early; the compaction itself checks every entry's flag.
pub(crate) struct HeapWatch {
    dead: AtomicUsize,
    len: AtomicUsize,
    /// Compacts the owning heap if its lock is free right now (never blocks: a cancel may run
    /// while that lock is held, e.g. from a task's destructor during `clear`).
    try_compact: Box<dyn Fn() + Send + Sync>,
}

impl HeapWatch {
    pub(crate) fn new(try_compact: impl Fn() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            dead: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            try_compact: Box::new(try_compact),
        })
    }

    /// Called once per handle, by the first `cancel`.
    pub(crate) fn cancelled(&self) {
        // Relaxed: a heuristic trigger; the compaction reads the handles' own flags (Acquire).
        let dead = self.dead.fetch_add(1, Ordering::Relaxed) + 1;
        if should_compact(dead, self.len.load(Ordering::Relaxed)) {
            (self.try_compact)();
        }
    }
}

impl fmt::Debug for HeapWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapWatch")
            .field("dead", &self.dead.load(Ordering::Relaxed))
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Pending timers in deadline order. Cancelled entries are removed when they reach the top, and
/// by a compaction whenever they outnumber the live ones (triggered by the cancel itself, or by
/// the next push if the heap's lock was busy then), so dead entries never exceed the live ones
/// by more than [`MIN_DEAD`] for long.
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Entry>,
    seq: u64,
    watch: Arc<HeapWatch>,
    /// Cancelled entries taken out under the owner's lock, to be dropped after it is released
    /// ([`bury`](Self::bury)): a task's destructor is user code and may arm a timer.
    graveyard: Vec<Entry>,
}

impl TimerHeap {
    pub(crate) fn new(watch: Arc<HeapWatch>) -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            watch,
            graveyard: Vec::new(),
        }
    }

    /// The cancelled entries removed since the last call: drop them once the lock is released.
    pub(crate) fn bury(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.graveyard)
    }

    /// Arms a one-shot timer.
    pub(crate) fn push_once(&mut self, deadline: Instant, task: Task) -> TimerHandle {
        let handle = TimerHandle::watched(Arc::clone(&self.watch));
        self.push(deadline, handle.clone(), Job::Once(task));
        handle
    }

    /// Arms a fixed-rate timer whose first run is at `deadline`.
    pub(crate) fn push_periodic(
        &mut self,
        deadline: Instant,
        f: RepeatingTask,
        period: Duration,
    ) -> TimerHandle {
        let handle = TimerHandle::watched(Arc::clone(&self.watch));
        self.rearm(deadline, handle.clone(), f, period);
        handle
    }

    /// Puts the next occurrence of a periodic timer back, under its existing handle.
    pub(crate) fn rearm(
        &mut self,
        deadline: Instant,
        handle: TimerHandle,
        f: RepeatingTask,
        period: Duration,
    ) {
        self.push(deadline, handle, Job::Periodic { f, period });
    }

    fn push(&mut self, deadline: Instant, handle: TimerHandle, job: Job) {
        self.seq += 1;
        self.heap.push(Entry {
            deadline,
            seq: self.seq,
            handle,
            job,
        });
        // A cancel that found the lock busy left its count: catch up here.
        if should_compact(self.watch.dead.load(Ordering::Relaxed), self.heap.len()) {
            self.compact();
        }
        self.note_len();
    }

    fn note_len(&self) {
        // Relaxed: read only by the compaction trigger.
        self.watch.len.store(self.heap.len(), Ordering::Relaxed);
    }

    /// Drops every cancelled entry, and gives memory back once the heap has shrunk well below
    /// what it once held.
    pub(crate) fn compact(&mut self) {
        self.watch.dead.store(0, Ordering::Relaxed);
        let (live, dead): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .partition(|e| !e.handle.is_cancelled());
        self.heap = BinaryHeap::from(live);
        self.graveyard.extend(dead);
        if self.heap.capacity() > 64 && self.heap.len() < self.heap.capacity() / 4 {
            self.heap.shrink_to(self.heap.len() * 2);
        }
        self.note_len();
    }

    /// The next deadline of a timer that is not cancelled (cancelled ones are dropped here).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if top.handle.is_cancelled() {
                self.graveyard.extend(self.heap.pop());
                self.note_len();
            } else {
                return Some(top.deadline);
            }
        }
        None
    }

    /// Removes the earliest live entry if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        match self.next_deadline() {
            Some(deadline) if deadline <= now => {
                let entry = self.heap.pop();
                self.note_len();
                entry
            }
            _ => None,
        }
    }

    /// Timers armed and not cancelled (what `pending_timers` reports).
    pub(crate) fn live(&self) -> usize {
        self.heap
            .iter()
            .filter(|e| !e.handle.is_cancelled())
            .count()
    }

    /// Entries held, cancelled ones included (for tests of the bound).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.heap.len()
    }

    /// Empties the heap and hands every entry back, to be dropped by the caller after it has
    /// released its lock: dropping a task runs user code (a time operator ends its stream when
    /// its timer is dropped unrun), which may arm another timer.
    pub(crate) fn take_all(&mut self) -> Vec<Entry> {
        let mut entries = std::mem::take(&mut self.heap).into_vec();
        entries.append(&mut self.graveyard);
        self.watch.dead.store(0, Ordering::Relaxed);
        self.note_len();
        entries
    }
}

/// Turns a due entry into a task for the executor. `rearm` puts the next occurrence of a periodic
/// entry back (it is called after the occurrence ran, from whatever thread ran it).
pub(crate) fn entry_task(
    entry: Entry,
    rearm: impl FnOnce(Instant, TimerHandle, RepeatingTask, Duration) + Send + 'static,
) -> Task {
    let Entry {
        deadline,
        handle,
        job,
        ..
    } = entry;
    match job {
        Job::Once(task) => Box::new(move || {
            // Checked again here: the timer may be cancelled while the task waits in the queue.
            if !handle.is_cancelled() {
                task();
            }
        }),
        Job::Periodic { f, period } => Box::new(move || {
            if handle.is_cancelled() {
                return;
            }
            // A panicking occurrence is still reported by the executor (resume_unwind below), but
            // the schedule survives it.
            let outcome = catch_unwind(AssertUnwindSafe(|| f()));
            if !handle.is_cancelled() {
                rearm(deadline + period, handle, f, period);
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
    /// Pushes `value` with `push` if the timers still run, else gives it back; wakes the timer
    /// thread afterwards if the new deadline is earlier than the one it waits for.
    fn arm<V, R>(
        &self,
        deadline: Instant,
        value: V,
        push: impl FnOnce(&mut TimerHeap, V) -> R,
    ) -> Result<R, V> {
        let mut state = self.state.lock();
        if state.stopped {
            return Err(value);
        }
        let earliest = state.heap.next_deadline().is_none_or(|d| deadline < d);
        let pushed = push(&mut state.heap, value);
        let dead = state.heap.bury();
        drop(state);
        drop(dead);
        if earliest {
            // The timer thread may be waiting for a later deadline.
            self.cv.notify_one();
        }
        Ok(pushed)
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
            shared: Arc::new_cyclic(|me: &std::sync::Weak<TimerShared>| {
                let me = me.clone();
                let watch = HeapWatch::new(move || {
                    if let Some(shared) = me.upgrade()
                        && let Some(mut state) = shared.state.try_lock()
                    {
                        state.heap.compact();
                        let dead = state.heap.bury();
                        drop(state);
                        drop(dead);
                    }
                });
                TimerShared {
                    state: Mutex::new(TimerState {
                        heap: TimerHeap::new(watch),
                        stopped: false,
                    }),
                    cv: Condvar::new(),
                }
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

    /// Whether timers may be armed: not stopped, and the thread is running.
    fn open(&self) -> bool {
        if self.shared.state.lock().stopped {
            return false;
        }
        if let Err(error) = self.ensure_started() {
            tracing::error!(%error, "could not start the timer thread");
            return false;
        }
        true
    }

    /// Arms a one-shot timer. `Err` gives the task back if the timers are stopped (or the thread
    /// could not be started).
    pub(crate) fn schedule_once(&self, deadline: Instant, task: Task) -> Result<TimerHandle, Task> {
        if !self.open() {
            return Err(task);
        }
        self.shared
            .arm(deadline, task, |heap, task| heap.push_once(deadline, task))
    }

    /// Arms a fixed-rate timer. `Err` gives the task back if the timers are stopped.
    pub(crate) fn schedule_periodic(
        &self,
        deadline: Instant,
        f: RepeatingTask,
        period: Duration,
    ) -> Result<TimerHandle, RepeatingTask> {
        if !self.open() {
            return Err(f);
        }
        self.shared.arm(deadline, f, |heap, f| {
            heap.push_periodic(deadline, f, period)
        })
    }

    /// Stops the thread and drops every pending timer; joins the thread if `join` (and the caller
    /// is not the timer thread itself). Returns how many timers were dropped.
    pub(crate) fn stop(&self, join: bool) -> usize {
        let entries = {
            let mut state = self.shared.state.lock();
            state.stopped = true;
            state.heap.take_all()
        };
        self.shared.cv.notify_all();
        let dropped = entries.iter().filter(|e| !e.handle.is_cancelled()).count();
        // Outside the lock (see `take_all`); a panicking destructor must not abort the stop.
        for entry in entries {
            if catch_unwind(AssertUnwindSafe(move || drop(entry))).is_err() {
                tracing::error!(name = %self.name, "a dropped timer task panicked in its destructor");
            }
        }
        let handle = self.thread.lock().take();
        if let Some(handle) = handle
            && join
            && handle.thread().id() != std::thread::current().id()
        {
            let _ = handle.join();
        }
        dropped
    }

    /// Live (armed, not cancelled) timers.
    pub(crate) fn pending(&self) -> usize {
        self.shared.state.lock().heap.live()
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
            let dead = state.heap.bury();
            drop(state);
            drop(dead);
            let rearm_to = Arc::downgrade(shared);
            let task = entry_task(entry, move |deadline, handle, f, period| {
                if let Some(shared) = rearm_to.upgrade() {
                    // Err: timers stopped meanwhile; the periodic task is simply dropped.
                    let _ = shared.arm(deadline, f, |heap, f| {
                        heap.rearm(deadline, handle, f, period)
                    });
                }
            });
            dispatch(task);
            state = shared.state.lock();
            continue;
        }
        let next = state.heap.next_deadline();
        let dead = state.heap.bury();
        if !dead.is_empty() {
            // Destructors run unlocked (see `TimerHeap::bury`); then look again.
            parking_lot::MutexGuard::unlocked(&mut state, move || drop(dead));
            continue;
        }
        match next {
            Some(deadline) => {
                let _ = shared.cv.wait_until(&mut state, deadline);
            }
            None => shared.cv.wait(&mut state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heap() -> TimerHeap {
        // No owner to compact through: the trigger falls back to the next push.
        TimerHeap::new(HeapWatch::new(|| {}))
    }

    #[test]
    fn cancelled_entries_never_outnumber_live_ones_by_much() {
        let mut heap = heap();
        let start = Instant::now();
        // One live entry with the earliest deadline: cancelled entries behind it never reach
        // the top, so only compaction can free them.
        let _idle = heap.push_once(start, Box::new(|| {}));
        for i in 0..10_000u64 {
            let h = heap.push_once(start + Duration::from_secs(60 + i), Box::new(|| {}));
            h.cancel();
            assert!(
                heap.held() <= 2 * heap.live() + MIN_DEAD + 1,
                "{} held for {} live",
                heap.held(),
                heap.live()
            );
        }
        assert_eq!(heap.live(), 1);
    }

    #[test]
    fn cancel_compacts_through_the_owner_when_its_lock_is_free() {
        let heap = Arc::new(Mutex::new(None::<TimerHeap>));
        let weak = Arc::downgrade(&heap);
        let watch = HeapWatch::new(move || {
            if let Some(h) = weak.upgrade()
                && let Some(mut guard) = h.try_lock()
                && let Some(heap) = guard.as_mut()
            {
                heap.compact();
            }
        });
        *heap.lock() = Some(TimerHeap::new(watch));
        let start = Instant::now();
        let handles: Vec<_> = (0..1_000u64)
            .map(|i| {
                heap.lock()
                    .as_mut()
                    .unwrap()
                    .push_once(start + Duration::from_secs(i), Box::new(|| {}))
            })
            .collect();
        // No push after the cancels: the cancels alone must free the entries.
        for h in &handles {
            h.cancel();
        }
        let guard = heap.lock();
        let heap = guard.as_ref().unwrap();
        assert_eq!(heap.live(), 0);
        assert!(heap.held() < MIN_DEAD * 2, "{} held", heap.held());
    }

    #[test]
    fn periodic_entries_rearm_under_the_same_handle() {
        let mut heap = heap();
        let start = Instant::now();
        let h = heap.push_periodic(start, Arc::new(|| {}), Duration::from_secs(1));
        let entry = heap.pop_due(start).expect("due");
        let rearmed = Arc::new(Mutex::new(None));
        let r = Arc::clone(&rearmed);
        entry_task(entry, move |deadline, handle, _f, period| {
            *r.lock() = Some((deadline, handle.is_cancelled(), period));
        })();
        assert_eq!(
            rearmed.lock().take(),
            Some((
                start + Duration::from_secs(1),
                false,
                Duration::from_secs(1)
            ))
        );
        h.cancel();
    }
}
