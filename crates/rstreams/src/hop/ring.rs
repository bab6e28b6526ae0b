//! The bounded single-producer single-consumer ring that carries items across a thread hop.
//!
//! # Protocol
//!
//! Two monotonically increasing positions: `tail` (next slot the producer writes, published by
//! the producer) and `head` (next slot the consumer reads, published by the consumer). Slot `i`
//! lives at `i & mask`.
//!
//! * **push** (producer only): if `tail - head == capacity` the ring is full. Otherwise write the
//!   slot, then store `tail + 1` with `Release`. The consumer's `Acquire` load of `tail` therefore
//!   sees the slot's contents.
//! * **pop** (consumer only): if `head == tail` the ring is empty. Otherwise read the slot and
//!   advance a *local* head. The consumer publishes its head with a `Release` store only in
//!   [`Consumer::publish`], once per batch (the hop does it before asking upstream for more). The
//!   producer's `Acquire` load of `head` therefore sees every read of a slot before it writes that
//!   slot again.
//!
//! Each side caches the other side's position and reloads it only when its cached view says
//! full (producer) or empty (consumer), so in steady state a side touches the other's cache line
//! once per batch, not once per item.
//!
//! Exclusive roles are enforced by ownership: [`ring`] returns one [`Producer`] and one
//! [`Consumer`], neither `Clone`, and both methods take `&mut self`.
//!
//! `tests/loom_hop_queue.rs` model-checks push/pop/publish and a broken twin (`BROKEN = true`,
//! which publishes `tail` with `Relaxed`); loom reports the twin's unsynchronised slot read.

use std::mem::MaybeUninit;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::sync::{AtomicUsize, Ordering, UnsafeCell};

/// The shared part of the ring. `BROKEN` exists only for the loom twin.
struct Ring<T, const BROKEN: bool> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Published by the consumer.
    head: CachePadded<AtomicUsize>,
    /// Published by the producer.
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: a slot is written only by the single producer while it is outside [head, tail) as the
// producer sees it, and read only by the single consumer while it is inside [head, tail) as the
// consumer sees it; the Release/Acquire pairs on `tail` and `head` order every write before the
// read of the same slot and every read before the next write. Items move between threads, hence
// `T: Send`.
unsafe impl<T: Send, const B: bool> Sync for Ring<T, B> {}
// SAFETY: owning the ring owns the items in it; `T: Send` lets them move with it.
unsafe impl<T: Send, const B: bool> Send for Ring<T, B> {}

impl<T, const B: bool> Drop for Ring<T, B> {
    fn drop(&mut self) {
        // Both halves are gone (they hold the Arc), so no one else touches the slots; the
        // consumer published its final head when it was dropped.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        for i in head..tail {
            self.slots[i & self.mask].with_mut(|p| {
                // SAFETY: positions in [head, tail) hold initialised items that were never read
                // (the consumer published every read), and this is the only access.
                unsafe { (*p).assume_init_drop() }
            });
        }
    }
}

/// Looks a caught-up consumer makes ([`Consumer::await_run`]) before it parks, `IDLE_GAP` pause
/// instructions apart (128 pauses in all: ~5 µs on the 2-core VM): on a busy pipeline the next
/// item is usually that close, and parking and re-scheduling cost more. Measured on the loaded 2-core machine: spinning longer
/// (24 steps, or up to 20 µs, with or without yielding) made the two-thread hop 2-4× slower,
/// because the spinner takes the core its producer is waiting for (`docs/performance.md`).
pub(crate) const IDLE_CHECKS: u32 = 8;

/// Pauses between two looks at the producer's position when the consumer has caught up (~0.7 µs
/// at ~45 ns per pause on the VM). Looking at once, per item, makes the two cores pass the
/// ring's tail line (and the slot line being written) back and forth for every item, and the
/// producer's fence then waits for that transfer: the quiet-machine cost of issue 14.1. Waiting
/// lets the producer run ahead on lines it owns and the consumer take a run of items per look.
pub(crate) const IDLE_GAP: u32 = 16;

/// A run this long is taken at once; a look that finds fewer while the producer is still
/// adding waits another `IDLE_GAP` (so the consumer trails the producer by whole cache lines of
/// slots instead of reading the line being written).
pub(crate) const LAG_WINDOW: usize = 32;

/// The writing half. Not `Clone`: there is exactly one producer.
pub(crate) struct Producer<T, const BROKEN: bool = false> {
    ring: Arc<Ring<T, BROKEN>>,
    tail: usize,
    head_cache: usize,
}

/// The reading half. Not `Clone`: there is exactly one consumer.
pub(crate) struct Consumer<T, const BROKEN: bool = false> {
    ring: Arc<Ring<T, BROKEN>>,
    head: usize,
    tail_cache: usize,
}

impl<T: Send + 'static, const BROKEN: bool> Consumer<T, BROKEN> {
    /// Counts the items waiting, from any thread (issue 12's backlog): the producer's position
    /// minus the consumer's last published one, so items read in a batch not yet published
    /// still count.
    pub(crate) fn len_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let ring = Arc::clone(&self.ring);
        move || {
            // Acquire on both: only the count is used, never a slot; they pair with the Release
            // stores of the two positions.
            let head = ring.head.load(Ordering::Acquire);
            ring.tail.load(Ordering::Acquire).wrapping_sub(head)
        }
    }
}

/// A ring with room for at least `capacity` items (rounded up to a power of two).
pub(crate) fn ring<T, const BROKEN: bool>(
    capacity: usize,
) -> (Producer<T, BROKEN>, Consumer<T, BROKEN>) {
    let size = capacity.max(1).next_power_of_two();
    let slots = (0..size)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        slots,
        mask: size - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    (
        Producer {
            ring: Arc::clone(&ring),
            tail: 0,
            head_cache: 0,
        },
        Consumer {
            ring,
            head: 0,
            tail_cache: 0,
        },
    )
}

impl<T, const BROKEN: bool> Producer<T, BROKEN> {
    /// Appends `item`, or gives it back if the ring is full.
    #[inline]
    pub(crate) fn push(&mut self, item: T) -> Result<(), T> {
        let size = self.ring.mask + 1;
        if self.tail.wrapping_sub(self.head_cache) == size {
            // Acquire: pairs with the consumer's Release in `publish`; its reads of the slots it
            // freed happen before our writes to them.
            self.head_cache = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_cache) == size {
                return Err(item);
            }
        }
        self.ring.slots[self.tail & self.ring.mask].with_mut(|p| {
            // SAFETY: the slot is outside [head, tail): free (never written, or read and
            // released by the consumer as established above), and only the producer writes.
            unsafe { (*p).write(item) };
        });
        self.tail = self.tail.wrapping_add(1);
        // Release: the slot write above happens before the consumer's Acquire load sees the
        // new tail. (The loom twin uses Relaxed here, which loom must flag.)
        let order = if BROKEN {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        self.ring.tail.store(self.tail, order);
        Ok(())
    }

    /// Whether the consumer has published a head at our tail: every item pushed so far was
    /// taken. (A stale head only makes this `false`, never wrongly `true`.) `blocking_iter`
    /// asks it before an item may go around the ring into the iterator's own buffer.
    #[inline]
    pub(crate) fn is_drained(&self) -> bool {
        // Acquire: pairs with the consumer's Release in `publish`, like the full check in `push`.
        self.ring.head.load(Ordering::Acquire) == self.tail
    }
}

impl<T, const BROKEN: bool> Consumer<T, BROKEN> {
    /// Takes the oldest item, if any. The slot is handed back to the producer only by
    /// [`publish`](Self::publish).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            // Acquire: pairs with the producer's Release in `push`; the slot writes are visible.
            self.tail_cache = self.ring.tail.load(Ordering::Acquire);
            count!(TailLook);
            if self.head == self.tail_cache {
                count!(TailLookEmpty);
                return None;
            }
        }
        let item = self.ring.slots[self.head & self.ring.mask].with_mut(|p| {
            // SAFETY: the slot is inside [head, tail): written by the producer, visible through
            // the Acquire above, not yet read (head is ours alone) and not reusable by the
            // producer until we publish a head past it.
            unsafe { (*p).assume_init_read() }
        });
        self.head = self.head.wrapping_add(1);
        Some(item)
    }

    /// Takes the oldest item of the window seen at the last look at the producer's position,
    /// without looking again (see [`refill`](Self::refill)).
    #[inline]
    pub(crate) fn pop_cached(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            return None;
        }
        let item = self.ring.slots[self.head & self.ring.mask].with_mut(|p| {
            // SAFETY: as in `pop`: the slot is inside [head, tail_cache), written by the
            // producer and made visible by the Acquire load that set `tail_cache`.
            unsafe { (*p).assume_init_read() }
        });
        self.head = self.head.wrapping_add(1);
        Some(item)
    }

    /// Looks at the producer's position again; returns how many items are ready.
    #[inline]
    pub(crate) fn refill(&mut self) -> usize {
        // Acquire: as in `pop`.
        self.tail_cache = self.ring.tail.load(Ordering::Acquire);
        count!(TailLook);
        let window = self.tail_cache.wrapping_sub(self.head);
        if window == 0 {
            count!(TailLookEmpty);
        }
        window
    }

    /// The consumer found the ring empty: looks again every [`IDLE_GAP`] pauses, up to
    /// [`IDLE_CHECKS`] times, for a run of items. `true` once a look finds at least
    /// [`LAG_WINDOW`] items, or some that the producer stopped adding to, or `stop()` holds;
    /// `false` if nothing arrived (the caller parks). The items found are then in the cached
    /// window ([`pop_cached`](Self::pop_cached)).
    pub(crate) fn await_run(&mut self, stop: impl Fn() -> bool) -> bool {
        let mut seen = 0;
        for _ in 0..IDLE_CHECKS {
            for _ in 0..IDLE_GAP {
                std::hint::spin_loop();
            }
            if stop() {
                return true;
            }
            let ready = self.refill();
            if ready >= LAG_WINDOW || (ready != 0 && ready == seen) {
                return true;
            }
            seen = ready;
        }
        seen != 0
    }

    /// Whether an item is ready (reloads the producer's position).
    #[inline]
    pub(crate) fn is_empty(&mut self) -> bool {
        if self.head != self.tail_cache {
            return false;
        }
        // Acquire: as in `pop`.
        self.tail_cache = self.ring.tail.load(Ordering::Acquire);
        count!(TailLook);
        if self.head == self.tail_cache {
            count!(TailLookEmpty);
            return true;
        }
        false
    }

    /// The items pushed and not yet taken, as this consumer sees them now.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Acquire: pairs with the producer's Release in `push` (only the count is used).
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Hands the slots read so far back to the producer.
    #[inline]
    pub(crate) fn publish(&mut self) {
        // Release: our slot reads happen before the producer's Acquire load sees this head.
        self.ring.head.store(self.head, Ordering::Release);
    }

    /// Pops and drops every item that is ready; returns how many.
    pub(crate) fn clear(&mut self) -> usize {
        let mut n = 0;
        while let Some(item) = self.pop() {
            drop(item);
            n += 1;
        }
        self.publish();
        n
    }
}

impl<T, const BROKEN: bool> Drop for Consumer<T, BROKEN> {
    fn drop(&mut self) {
        // Items read but not published would otherwise be dropped twice by the ring.
        self.publish();
    }
}

/// The ring halves under `--cfg rstreams_loom`, for `tests/loom_hop_queue.rs`.
#[cfg(rstreams_loom)]
pub mod loom_api {
    /// A ring whose halves the model drives; `BROKEN = true` is the twin loom must reject.
    pub fn ring<T: Send, const BROKEN: bool>(
        capacity: usize,
    ) -> (Producer<T, BROKEN>, Consumer<T, BROKEN>) {
        let (p, c) = super::ring(capacity);
        (Producer(p), Consumer(c))
    }

    /// The writing half.
    pub struct Producer<T, const B: bool>(super::Producer<T, B>);
    /// The reading half.
    pub struct Consumer<T, const B: bool>(super::Consumer<T, B>);

    impl<T, const B: bool> Producer<T, B> {
        /// See the module docs.
        pub fn push(&mut self, item: T) -> Result<(), T> {
            self.0.push(item)
        }
    }

    impl<T, const B: bool> Consumer<T, B> {
        /// See the module docs.
        pub fn pop(&mut self) -> Option<T> {
            self.0.pop()
        }
        /// See the module docs.
        pub fn publish(&mut self) {
            self.0.publish()
        }
        /// See the module docs (the drain's windowed path).
        pub fn pop_cached(&mut self) -> Option<T> {
            self.0.pop_cached()
        }
        /// See the module docs (the drain's windowed path).
        pub fn refill(&mut self) -> usize {
            self.0.refill()
        }
    }
}

#[cfg(all(test, not(rstreams_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_full_and_reuse() {
        let (mut p, mut c) = ring::<u32, false>(3); // rounds up to 4
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        assert_eq!(c.pop(), Some(0));
        // Not published yet: the producer still sees the ring full.
        assert_eq!(p.push(9), Err(9));
        c.publish();
        p.push(4).unwrap();
        let got: Vec<u32> = std::iter::from_fn(|| c.pop()).collect();
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(c.is_empty());
    }

    #[test]
    fn leftover_items_are_dropped_once() {
        let item = Arc::new(());
        let (mut p, mut c) = ring::<Arc<()>, false>(8);
        for _ in 0..5 {
            p.push(Arc::clone(&item)).unwrap();
        }
        drop(c.pop()); // read (and dropped) but not published
        drop(p);
        drop(c);
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn two_threads_move_items_in_order() {
        let (mut p, mut c) = ring::<u64, false>(64);
        let n = 200_000u64;
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            while i < n {
                match p.push(i) {
                    Ok(()) => i += 1,
                    Err(_) => std::hint::spin_loop(),
                }
            }
        });
        let mut expect = 0;
        while expect < n {
            match c.pop() {
                Some(x) => {
                    assert_eq!(x, expect);
                    expect += 1;
                    if expect % 16 == 0 {
                        c.publish();
                    }
                }
                None => {
                    c.publish();
                    std::hint::spin_loop();
                }
            }
        }
        producer.join().unwrap();
    }
}
