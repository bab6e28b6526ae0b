//! Serial execution without a lock: the work-in-progress ("queue-drain") counter.

use std::fmt;

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// State that at most one thread works on at a time, with no lock and no lost wake-ups.
///
/// Every caller of [`drain`](SerialDrain::drain) increments a work-in-progress counter. The
/// caller that moves it from 0 becomes the drainer and runs the pass with `&mut S`; every other
/// caller only leaves a "missed" mark and returns at once. Before leaving, the drainer subtracts
/// the marks it has seen; if new marks arrived meanwhile it runs another pass. Hence:
///
/// * **serial**: never two passes at once, each pass happens-before the next (rule 1.3);
/// * **trampolined**: a `drain` call from inside a pass (a re-entrant `request` from `on_next`)
///   returns immediately and the outer loop does the work: recursion depth 1 (rule 3.3);
/// * **no lost wake-up**: a call that arrives while the drainer is leaving either sees the counter
///   at 0 and drains itself, or its mark makes the drainer run again.
///
/// If a pass panics the drain closes for good (no later pass runs, so the possibly half-updated
/// state is never seen again) and the panic continues to the caller. The higher-level
/// [`pull`](crate::pull) kit catches user panics so that this never happens under it.
///
/// ```
/// use rstreams_protocol::SerialDrain;
///
/// let drain = SerialDrain::new(Vec::new());
/// assert!(drain.drain(|v| v.push(1)));
/// // Re-entrant calls from inside a pass are folded into the outer loop:
/// let inner = SerialDrain::new(0u32);
/// inner.drain(|n| {
///     *n += 1;
///     // (a real publisher would call `drain` again through its subscription here)
/// });
/// assert_eq!(inner.into_inner(), 1);
/// ```
pub struct SerialDrain<S> {
    wip: AtomicUsize,
    state: UnsafeCell<S>,
}

// SAFETY: the state is only reached through `drain`, which hands `&mut S` to one thread at a time
// (the one that moved `wip` from 0), so sharing the drain shares no `&S`. Moving `S` between
// threads needs `S: Send`.
unsafe impl<S: Send> Sync for SerialDrain<S> {}
// SAFETY: as above; owning the drain owns the state.
unsafe impl<S: Send> Send for SerialDrain<S> {}

/// Once a pass panicked, `wip` is parked here so that no caller ever enters again.
const CLOSED: usize = usize::MAX / 2;

impl<S> SerialDrain<S> {
    /// Wraps `state`; no pass is running.
    pub fn new(state: S) -> Self {
        Self {
            wip: AtomicUsize::new(0),
            state: UnsafeCell::new(state),
        }
    }

    /// Runs `pass` on the state if no other thread is doing so, repeating it while other callers
    /// left missed marks; otherwise leaves a mark and returns at once.
    ///
    /// Returns `true` if this call ran the pass (it was the drainer).
    #[inline]
    pub fn drain(&self, mut pass: impl FnMut(&mut S)) -> bool {
        // Acquire: entering from 0 pairs with the previous drainer's Release when it left, so
        // this pass sees every write of the last one. A non-entering caller's increment is
        // ordered (Release) after whatever it published before calling, which the drainer's
        // AcqRel decrement then acquires.
        if self.wip.fetch_add(1, Ordering::AcqRel) != 0 {
            return false;
        }
        let closer = CloseOnUnwind(&self.wip);
        let mut missed = 1;
        loop {
            self.state.with_mut(|state| {
                // SAFETY: we moved `wip` from 0 and have not brought it back, so every other
                // caller returns without touching the state: this is the only live reference.
                pass(unsafe { &mut *state })
            });
            // AcqRel: Release publishes this pass's writes to the next drainer; Acquire picks up
            // what callers who left marks published before marking.
            let before = self.wip.fetch_sub(missed, Ordering::AcqRel);
            missed = before - missed;
            if missed == 0 {
                std::mem::forget(closer);
                return true;
            }
        }
    }

    /// Whether a pass panicked and the drain is closed.
    pub fn is_closed(&self) -> bool {
        self.wip.load(Ordering::Acquire) >= CLOSED
    }

    /// Direct access when the drain is owned exclusively.
    pub fn get_mut(&mut self) -> &mut S {
        self.state.get_mut()
    }

    /// Unwraps the state.
    pub fn into_inner(self) -> S {
        self.state.into_inner()
    }
}

/// Closes the drain if a pass unwinds: the state may be half-updated, so nobody may enter again.
struct CloseOnUnwind<'a>(&'a AtomicUsize);

impl Drop for CloseOnUnwind<'_> {
    fn drop(&mut self) {
        // Only reached while unwinding (the normal path forgets the guard). Storing a huge value
        // keeps every later `fetch_add` away from 0 for any realistic number of calls.
        self.0.store(CLOSED, Ordering::Release);
    }
}

impl<S> fmt::Debug for SerialDrain<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SerialDrain")
            .field("wip", &self.wip.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(rstreams_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reentrant_call_is_trampolined() {
        let drain = Arc::new(SerialDrain::new((0u32, 0u32))); // (passes, max depth)
        thread_local!(static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
        fn go(d: &Arc<SerialDrain<(u32, u32)>>) {
            let d2 = Arc::clone(d);
            d.drain(|s| {
                let depth = DEPTH.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                });
                s.1 = s.1.max(depth);
                s.0 += 1;
                if s.0 < 5 {
                    go(&d2); // re-enters: must only leave a mark
                }
                DEPTH.with(|c| c.set(c.get() - 1));
            });
        }
        go(&drain);
        let (passes, depth) = Arc::try_unwrap(drain).unwrap().into_inner();
        assert_eq!(passes, 5);
        assert_eq!(depth, 1);
    }

    #[test]
    fn panic_closes_the_drain() {
        let drain = SerialDrain::new(0u32);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drain.drain(|_| panic!("boom"));
        }));
        assert!(r.is_err());
        assert!(drain.is_closed());
        assert!(!drain.drain(|n| *n += 1));
        assert_eq!(drain.into_inner(), 0);
    }

    #[test]
    fn concurrent_callers_never_overlap_and_lose_nothing() {
        let drain = Arc::new(SerialDrain::new((false, 0u64)));
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let drain = &drain;
                let calls = &calls;
                s.spawn(move || {
                    for _ in 0..10_000 {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        drain.drain(|st| {
                            assert!(!st.0, "two passes at once");
                            st.0 = true;
                            st.1 = calls.load(std::sync::atomic::Ordering::SeqCst);
                            st.0 = false;
                        });
                    }
                });
            }
        });
        // The last pass ran after the last call was published: nothing lost.
        let (_, seen) = Arc::try_unwrap(drain).unwrap().into_inner();
        assert_eq!(seen, 40_000);
    }
}
