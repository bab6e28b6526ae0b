//! Issue 13.1's A/B for the thread hop: `publish_on` rebuilt on the pull kit, with public APIs only.
//!
//! [`KitPublishOn`] moves items across threads exactly as `rstreams::hop::PublishOn` does (a
//! bounded SPSC ring of `prefetch` slots whose consumer publishes its position once per batch,
//! the same "signal only if the consumer may be parked" store-and-fence protocol, the same idle
//! poll and lag window, replenishing `limit = 75%` of the prefetch), but its drain is the pull
//! kit: [`pull::serve_with_at`] owns the subscriber and the demand and runs every pass under its
//! [`SerialDrain`](rstreams_protocol::SerialDrain); the ring is the kit's [`Source`], which
//! answers [`Step::Pending`] when it has caught up and is woken through [`PullHandle::wake`]. Every
//! pass runs as a task of one [`SerialLane`] of the scheduler, so the downstream's signals stay on
//! the scheduler as the real hop's do.
//!
//! It carries `u64` only: the slots are `AtomicU64` (a relaxed atomic store or load is a plain
//! `mov` on x86-64 and AArch64), so the bench crate needs no `unsafe` for the ring. It is a
//! benchmark subject, not a public stage: it has no shutdown handling (a lane refused after
//! `shutdown` strands the stream) and does not track where it was built beyond the kit's stage.

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_utils::CachePadded;
use rstreams_executor::{Scheduler, SerialLane};
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

/// Items a lane task delivers before it re-queues itself (the real hop's `DRAIN_BUDGET`).
const DRAIN_BUDGET: u64 = 4096;
/// Idle checks before parking, `IDLE_GAP` pauses apart (the real hop's values).
const IDLE_CHECKS: u32 = 8;
/// Pauses between two idle looks at the producer's position.
const IDLE_GAP: u32 = 16;
/// A look that found fewer items than this ends the run of immediate re-looks.
const LAG_WINDOW: usize = 32;

thread_local! {
    /// The hop whose lane task runs on this thread (0: none): requests from inside it go to the
    /// kit directly, requests from elsewhere are queued on the lane.
    static ON_LANE: Cell<usize> = const { Cell::new(0) };
}

/// `publish_on` on the pull kit (see the module docs): the downstream receives every signal
/// from a task of one serial lane of `scheduler`.
pub struct KitPublishOn<P> {
    upstream: P,
    scheduler: Arc<dyn Scheduler>,
    prefetch: usize,
    loc: &'static Location<'static>,
}

impl<P> KitPublishOn<P> {
    /// The hop after `upstream`, `prefetch` items in flight (`1..=2^24`).
    ///
    /// # Panics
    ///
    /// If `prefetch` is 0 or above 2^24 (a bench subject: the real hop fails the subscriber).
    #[track_caller]
    pub fn new(upstream: P, scheduler: Arc<dyn Scheduler>, prefetch: usize) -> Self {
        assert!((1..=1 << 24).contains(&prefetch), "prefetch out of range");
        Self {
            upstream,
            scheduler,
            prefetch,
            loc: Location::caller(),
        }
    }
}

impl<P> std::fmt::Debug for KitPublishOn<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KitPublishOn")
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

/// What the producer (upstream's thread), the kit's source and the lane tasks share.
struct Shared {
    slots: Box<[AtomicU64]>,
    mask: usize,
    /// Published by the consumer once per batch.
    head: CachePadded<AtomicUsize>,
    /// Published by the producer per push.
    tail: CachePadded<AtomicUsize>,
    /// The consumer answered `Pending` and may need a wake (the real hop's `Parking`).
    parked: CachePadded<AtomicBool>,
    /// Upstream ended (after its last push); `terminal` says how.
    done: AtomicBool,
    terminal: Mutex<Option<Error>>,
    up: Mutex<Option<Arc<dyn Subscription>>>,
    lane: SerialLane,
    handle: OnceLock<PullHandle>,
    prefetch: u64,
    limit: u64,
}

impl Shared {
    fn id(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Runs `f` as a task of the hop's lane, marked as such.
    fn on_lane(self: &Arc<Self>, f: impl FnOnce(&Arc<Shared>) + Send + 'static) {
        let me = Arc::clone(self);
        // A refused task (scheduler shut down) strands the stream: see the module docs.
        let _ = self.lane.spawn(move || {
            let outer = ON_LANE.with(|c| c.replace(me.id()));
            f(&me);
            ON_LANE.with(|c| c.set(outer));
        });
    }

    /// Queues a kit pass on the lane.
    fn wake_on_lane(self: &Arc<Self>) {
        self.on_lane(|s| {
            if let Some(h) = s.handle.get() {
                h.wake();
            }
        });
    }

    /// Call after publishing work (a push, the terminal): wakes the consumer if it parked.
    #[inline]
    fn signal(self: &Arc<Self>) {
        // SeqCst fence paired with the one the consumer makes after announcing it parks: one of
        // the two sees the other's write (the store-buffer pattern; `hop/park.rs`).
        fence(Ordering::SeqCst);
        // Relaxed load ordered by the fence; Acquire swap pairs with the consumer's Release store.
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::Acquire) {
            self.wake_on_lane();
        }
    }

    fn cancel_upstream(&self) {
        let up = self.up.lock().expect("not poisoned").take();
        if let Some(up) = up {
            up.cancel();
        }
    }
}

impl<P> Publisher for KitPublishOn<P>
where
    P: Publisher<Item = u64>,
{
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let size = self.prefetch.next_power_of_two();
        let prefetch = self.prefetch as u64;
        let shared = Arc::new(Shared {
            slots: (0..size).map(|_| AtomicU64::new(0)).collect(),
            mask: size - 1,
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            parked: CachePadded::new(AtomicBool::new(false)),
            done: AtomicBool::new(false),
            terminal: Mutex::new(None),
            up: Mutex::new(None),
            lane: self.scheduler.lane(),
            handle: OnceLock::new(),
            prefetch,
            limit: prefetch - prefetch / 4,
        });
        // The kit starts on the lane, so `on_subscribe` runs there; every later wake is queued
        // behind this task, so it finds the handle set.
        let loc = self.loc;
        shared.on_lane(move |s| {
            let source = RingSource {
                shared: Arc::clone(s),
                head: 0,
                tail_cache: 0,
                since_replenish: 0,
                since_task: 0,
            };
            let down = OnLane {
                down: subscriber,
                shared: Arc::clone(s),
                keep: None,
            };
            let handle = pull::serve_with_at(down, move |_| source, loc);
            let _ = s.handle.set(handle);
        });
        self.upstream.subscribe(Producer {
            shared,
            tail: 0,
            head_cache: 0,
            done: false,
        });
    }
}

/// The subscriber placed upstream: the ring's producer.
struct Producer {
    shared: Arc<Shared>,
    tail: usize,
    head_cache: usize,
    done: bool,
}

impl Producer {
    fn finish(&mut self, error: Option<Error>) {
        self.done = true;
        *self.shared.terminal.lock().expect("not poisoned") = error;
        // Release: the terminal slot and every push precede `done` for the consumer.
        self.shared.done.store(true, Ordering::Release);
        self.shared.up.lock().expect("not poisoned").take();
        self.shared.signal();
    }
}

impl Subscriber<u64> for Producer {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let up: Arc<dyn Subscription> = Arc::from(s);
        {
            let mut slot = self.shared.up.lock().expect("not poisoned");
            if slot.is_some() || self.done {
                drop(slot);
                up.cancel(); // rule 2.5
                return;
            }
            *slot = Some(Arc::clone(&up));
        }
        up.request(self.shared.prefetch);
    }

    #[inline]
    fn on_next(&mut self, item: u64) {
        if self.done {
            return;
        }
        let size = self.shared.mask + 1;
        if self.tail.wrapping_sub(self.head_cache) == size {
            // Acquire: pairs with the consumer's Release publish of `head`.
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_cache) == size {
                self.shared.cancel_upstream();
                self.finish(Some(Error::violation(
                    Rule::R1_1,
                    "kit publish_on received more items than it requested",
                )));
                return;
            }
        }
        // Relaxed: published by the Release store of `tail` below.
        self.shared.slots[self.tail & self.shared.mask].store(item, Ordering::Relaxed);
        self.tail = self.tail.wrapping_add(1);
        // Release: the slot write precedes the consumer's Acquire load of the new tail.
        self.shared.tail.store(self.tail, Ordering::Release);
        self.shared.signal();
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.finish(Some(error));
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.finish(None);
        }
    }
}

/// The ring's consumer, as the kit's source.
struct RingSource {
    shared: Arc<Shared>,
    head: usize,
    tail_cache: usize,
    since_replenish: u64,
    since_task: u64,
}

impl RingSource {
    /// Looks at the producer's position; returns how many items are ready.
    #[inline]
    fn refill(&mut self) -> usize {
        // Acquire: pairs with the producer's Release store of `tail`: the slots are visible.
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.tail_cache.wrapping_sub(self.head)
    }

    #[inline]
    fn publish(&self) {
        // Release: our slot reads precede the producer's Acquire load of this head.
        self.shared.head.store(self.head, Ordering::Release);
    }

    fn end(&self) -> Step<u64> {
        match self.shared.terminal.lock().expect("not poisoned").take() {
            Some(e) => Step::Error(e),
            None => Step::Complete,
        }
    }

    /// Caught up: the end, a short idle poll, then park. `None`: items arrived, go on.
    fn caught_up(&mut self) -> Option<Step<u64>> {
        self.publish();
        // Acquire: pairs with the Release in `Producer::finish`; a second look then sees every push.
        if self.shared.done.load(Ordering::Acquire) {
            return if self.refill() == 0 {
                Some(self.end())
            } else {
                None
            };
        }
        for _ in 0..IDLE_CHECKS {
            for _ in 0..IDLE_GAP {
                std::hint::spin_loop();
            }
            if self.refill() != 0 {
                return None;
            }
        }
        // Release: pairs with the producer's Acquire swap.
        self.shared.parked.store(true, Ordering::Release);
        // SeqCst fence paired with the producer's in `Shared::signal`.
        fence(Ordering::SeqCst);
        if self.refill() != 0 || self.shared.done.load(Ordering::Acquire) {
            // Work arrived meanwhile: take the flag back (if a producer took it first, its wake
            // runs one extra, empty pass).
            self.shared.parked.swap(false, Ordering::Acquire);
            return None;
        }
        Some(Step::Pending)
    }
}

impl Drop for RingSource {
    fn drop(&mut self) {
        // Cancelled or ended: stop the upstream (a no-op once it terminated).
        self.shared.cancel_upstream();
    }
}

impl Source for RingSource {
    type Item = u64;

    fn pull(&mut self) -> Step<u64> {
        let mut got = None;
        let (_, stop) = self.pull_many(1, |x| {
            got = Some(x);
            true
        });
        match (got, stop) {
            (Some(x), _) => Step::Next(x),
            (None, Some(step)) => step,
            (None, None) => Step::Pending,
        }
    }

    fn is_exhausted(&mut self) -> bool {
        self.head == self.tail_cache
            && self.shared.done.load(Ordering::Acquire)
            && self.refill() == 0
    }

    #[inline]
    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<u64>>)
    where
        F: FnMut(u64) -> bool,
    {
        let mut handed = 0;
        // The window of the last look; looked at again at once only while the producer is ahead.
        let mut window = usize::MAX;
        while handed != limit {
            if self.head == self.tail_cache {
                if window >= LAG_WINDOW {
                    window = self.refill();
                    if window != 0 {
                        continue;
                    }
                }
                match self.caught_up() {
                    Some(step) => return (handed, Some(step)),
                    None => {
                        window = usize::MAX;
                        continue;
                    }
                }
            }
            // Relaxed: made visible by the Acquire load that set `tail_cache`.
            let item = self.shared.slots[self.head & self.shared.mask].load(Ordering::Relaxed);
            self.head = self.head.wrapping_add(1);
            handed += 1;
            self.since_replenish += 1;
            if self.since_replenish == self.shared.limit {
                self.since_replenish = 0;
                // Free the slots before asking for items to fill them.
                self.publish();
                let up = self.shared.up.lock().expect("not poisoned").clone();
                if let Some(up) = up {
                    up.request(self.shared.limit);
                }
            }
            let more = emit(item);
            self.since_task += 1;
            if self.since_task == DRAIN_BUDGET {
                // Give the worker back: the rest runs in a fresh lane task.
                self.since_task = 0;
                self.publish();
                self.shared.wake_on_lane();
                return (handed, if more { Some(Step::Pending) } else { None });
            }
            if !more {
                break;
            }
        }
        self.publish();
        (handed, None)
    }
}

/// The downstream, wrapped so that its subscription routes calls made off the lane onto it.
struct OnLane<S> {
    down: S,
    shared: Arc<Shared>,
    /// The kit's subscription: the kit holds its core only weakly through a `PullHandle`, so a
    /// downstream that drops its subscription would end a parked stream. This strong cycle (core,
    /// subscriber, subscription, core) lasts until the kit drops the subscriber at the end.
    keep: Option<Arc<dyn Subscription>>,
}

impl<S: Subscriber<u64>> Subscriber<u64> for OnLane<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let kit: Arc<dyn Subscription> = Arc::from(s);
        self.keep = Some(Arc::clone(&kit));
        self.down.on_subscribe(Box::new(LaneSubscription {
            kit,
            shared: Arc::clone(&self.shared),
        }));
    }
    #[inline]
    fn on_next(&mut self, item: u64) {
        self.down.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.down.on_error(error);
    }
    fn on_complete(&mut self) {
        self.down.on_complete();
    }
}

/// The downstream's subscription: the kit's, called on the lane.
struct LaneSubscription {
    kit: Arc<dyn Subscription>,
    shared: Arc<Shared>,
}

impl Subscription for LaneSubscription {
    fn request(&self, n: u64) {
        if ON_LANE.with(|c| c.get()) == self.shared.id() {
            self.kit.request(n);
        } else {
            let kit = Arc::clone(&self.kit);
            self.shared.on_lane(move |_| kit.request(n));
        }
    }
    fn cancel(&self) {
        if ON_LANE.with(|c| c.get()) == self.shared.id() {
            self.kit.cancel();
        } else {
            let kit = Arc::clone(&self.kit);
            self.shared.on_lane(move |_| kit.cancel());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstreams_executor::ThreadPool;
    use std::sync::mpsc;

    struct Sum(u64, mpsc::Sender<Result<u64, String>>);
    impl Subscriber<u64> for Sum {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            s.request(u64::MAX);
        }
        fn on_next(&mut self, x: u64) {
            self.0 += x;
        }
        fn on_error(&mut self, e: Error) {
            let _ = self.1.send(Err(e.to_string()));
        }
        fn on_complete(&mut self) {
            let _ = self.1.send(Ok(self.0));
        }
    }

    #[test]
    fn delivers_everything_across_threads() {
        let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
        let n = 1_000_000u64;
        let hop = KitPublishOn::new(
            rstreams_protocol::reference::RangePublisher::new(0, n),
            Arc::clone(&pool),
            256,
        );
        let (tx, rx) = mpsc::channel();
        hop.subscribe(Sum(0, tx));
        let got = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        assert_eq!(got, Ok(n * (n - 1) / 2));
    }
}
