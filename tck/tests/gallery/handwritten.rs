//! Hand-written publishers (straight against the protocol traits, no kit) in the shapes real
//! libraries take, with the demand, cancel or lifetime bugs such libraries have shipped, and one
//! legal design the TCK must never fail.
//!
//! All four emit `0, 1, 2, …` up to `n` items then `on_complete` (`u64::MAX`: endless).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

type BoxSub = Box<dyn Subscriber<u64> + Send>;

// ---------------------------------------------------------------------------------------------
// A mailbox worker: signals go into a queue that one thread per subscription takes from, one
// signal per run. Both mailbox publishers below run on it.

/// What a subscription's worker is asked to do.
#[derive(Clone, Copy, Debug)]
enum Sig {
    Request(u64),
    Send,
    Cancel,
}

/// The inbound queue and the worker's wake-up.
struct Mailbox {
    queue: Mutex<VecDeque<Sig>>,
    ready: Condvar,
}

impl Mailbox {
    fn new() -> Arc<Self> {
        Arc::new(Mailbox {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        })
    }

    fn post(&self, sig: Sig) {
        self.queue.lock().unwrap().push_back(sig);
        self.ready.notify_one();
    }

    fn take(&self) -> Sig {
        let mut q = self.queue.lock().unwrap();
        loop {
            if let Some(sig) = q.pop_front() {
                return sig;
            }
            q = self.ready.wait(q).unwrap();
        }
    }
}

/// `request` and `cancel` only post to the mailbox, so both return at once (3.2–3.5).
struct MailboxSubscription(Arc<Mailbox>);

impl Subscription for MailboxSubscription {
    fn request(&self, n: u64) {
        self.0.post(Sig::Request(n));
    }
    fn cancel(&self) {
        self.0.post(Sig::Cancel);
    }
}

/// Calls the subscriber, turning a panic into `false` (rule 2.13: the subscription then counts
/// as cancelled).
fn call(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// The JVM reference `AsyncIterablePublisher`'s shape, bugs included (see the TCK inventory,
// §4.1): signed demand; emission in batches, a Send signal rescheduling the rest; a do-while
// send loop that emits before it looks at the demand, so a queued Send running with zero demand
// still emits one item; the last item of each batch not counted (the loop's short-circuit skips
// the decrement); and overflow detected as "sum < 1", so demand driven negative becomes
// "unbounded" on the next request(1).

/// Items per run of the reference publisher's send loop.
pub(crate) const JVM_BATCH: i64 = 1024;

/// The JVM reference publisher's shape, with its demand bugs.
pub(crate) struct JvmAsyncIterableShape {
    n: u64,
}

impl JvmAsyncIterableShape {
    /// A stream of `n` items.
    pub(crate) fn new(n: u64) -> Self {
        JvmAsyncIterableShape { n }
    }
}

impl Publisher for JvmAsyncIterableShape {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let mailbox = Mailbox::new();
        let n = self.n;
        let worker = Arc::clone(&mailbox);
        let mut subscriber: BoxSub = Box::new(subscriber);
        std::thread::spawn(move || {
            let sub = MailboxSubscription(Arc::clone(&worker));
            if !call(|| subscriber.on_subscribe(Box::new(sub))) {
                return;
            }
            let mut demand: i64 = 0;
            let mut next: u64 = 0;
            // The reference's doSend: returns false when the subscription ended.
            let mut send = |demand: &mut i64, subscriber: &mut BoxSub| -> bool {
                let mut left = JVM_BATCH;
                loop {
                    if next == n {
                        subscriber.on_complete();
                        return false;
                    }
                    if !call(|| subscriber.on_next(next)) {
                        return false;
                    }
                    next += 1;
                    // `--left > 0 && --demand > 0`: the demand is not decremented for the
                    // last item of a batch.
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                    *demand -= 1;
                    if *demand <= 0 {
                        break;
                    }
                }
                if *demand > 0 {
                    worker.post(Sig::Send);
                }
                true
            };
            loop {
                let more = match worker.take() {
                    Sig::Cancel => false,
                    Sig::Request(0) => {
                        subscriber.on_error(Error::violation(Rule::R3_9, "request(0)"));
                        false
                    }
                    Sig::Request(k) => {
                        let k = i64::try_from(k).unwrap_or(i64::MAX);
                        demand = demand.wrapping_add(k);
                        if demand < 1 {
                            // The reference's overflow check: a sum below 1 "must" have wrapped.
                            demand = i64::MAX;
                        }
                        send(&mut demand, &mut subscriber)
                    }
                    Sig::Send => send(&mut demand, &mut subscriber),
                };
                if !more {
                    return;
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The same design with its bugs fixed: unsigned, saturating demand; the demand checked before
// each emission and decremented once per item. Cancel is still queued behind in-flight work: a
// batch that has started runs to its end before the worker takes the Cancel, so up to
// `MAILBOX_BATCH` items (and even on_complete) may follow a cancel. Rules 1.8 and 2.8 allow
// that ("eventually"); the TCK must pass it.

/// Items per run of the legal mailbox publisher.
pub(crate) const MAILBOX_BATCH: u64 = 1024;

/// A legal mailbox publisher whose cancel waits behind the batch in flight.
pub(crate) struct MailboxPublisher {
    n: u64,
    weak: bool,
}

impl MailboxPublisher {
    /// A stream of `n` items.
    pub(crate) fn new(n: u64) -> Self {
        MailboxPublisher { n, weak: false }
    }

    /// The same design with a bug Rust libraries ship: the worker holds its mailbox only
    /// weakly ("so a forgotten subscription does not leak"), i.e. it takes a dropped
    /// `Subscription` for a cancel. A subscriber that requests everything in `on_subscribe`
    /// and drops the handle then gets neither its items nor `on_complete` (rule 1.5).
    pub(crate) fn holding_the_mailbox_weakly(n: u64) -> Self {
        MailboxPublisher { n, weak: true }
    }
}

impl Publisher for MailboxPublisher {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let mailbox = Mailbox::new();
        let n = self.n;
        let weak = self.weak;
        let subscriber: BoxSub = Box::new(subscriber);
        std::thread::spawn(move || {
            // Dropped (3.13, 1.6) when the loop ends: on cancel, terminal signal or panic.
            let mut subscriber = subscriber;
            let sub = MailboxSubscription(Arc::clone(&mailbox));
            let handle_alive = Arc::downgrade(&mailbox);
            // The weak variant keeps no strong reference of its own: the handle holds the last.
            let _kept = if weak {
                drop(mailbox);
                None
            } else {
                Some(mailbox)
            };
            if !call(|| subscriber.on_subscribe(Box::new(sub))) {
                return;
            }
            if n == 0 {
                let _ = call(|| subscriber.on_complete());
                return;
            }
            let mut demand: u64 = 0;
            let mut next: u64 = 0;
            let mut sending = false;
            loop {
                // The weak variant's bug: a dropped handle is taken for a cancel.
                let Some(worker) = handle_alive.upgrade() else {
                    return;
                };
                match worker.take() {
                    Sig::Cancel => return,
                    Sig::Request(0) => {
                        let _ = call(|| {
                            subscriber.on_error(Error::violation(Rule::R3_9, "request(0)"))
                        });
                        return;
                    }
                    Sig::Request(k) => {
                        demand = demand.saturating_add(k);
                        if !sending {
                            sending = true;
                            worker.post(Sig::Send);
                        }
                    }
                    Sig::Send => {
                        let mut left = MAILBOX_BATCH;
                        while demand > 0 && left > 0 {
                            if !call(|| subscriber.on_next(next)) {
                                return;
                            }
                            next += 1;
                            if demand != u64::MAX {
                                demand -= 1;
                            }
                            left -= 1;
                            if next == n {
                                let _ = call(|| subscriber.on_complete());
                                return;
                            }
                        }
                        sending = demand > 0;
                        if sending {
                            worker.post(Sig::Send);
                        }
                    }
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Synchronous publishers with a drain loop run by whoever calls request (re-entrant calls only
// add demand; the running loop picks it up). Two faults switch on one bug each.

/// A synchronous publisher's bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncBug {
    /// The drain loop counts the demand per batch of `BIG_BATCH` items and forgets the last
    /// item of each batch: it over-delivers by one per full batch, which only requests larger
    /// than the batch reveal.
    MiscountLastOfBatch,
    /// The drain loop looks at the cancelled flag only once every 10 000 items.
    StaleCancelCheck,
}

/// Batch size of [`SyncBug::MiscountLastOfBatch`]: larger than any request the TCK made
/// before it swept request sizes.
pub(crate) const BIG_BATCH: u64 = 100_000;

/// How often [`SyncBug::StaleCancelCheck`] looks at its cancelled flag.
pub(crate) const CANCEL_CHECK_EVERY: u64 = 10_000;

/// A synchronous drain-loop publisher with one bug.
pub(crate) struct SyncPublisher {
    n: u64,
    bug: SyncBug,
}

impl SyncPublisher {
    /// A stream of `n` items with `bug`.
    pub(crate) fn new(n: u64, bug: SyncBug) -> Self {
        SyncPublisher { n, bug }
    }
}

struct SyncState {
    subscriber: Option<BoxSub>,
    demand: u64,
    next: u64,
    draining: bool,
}

struct SyncSubscription {
    state: Mutex<SyncState>,
    cancelled: AtomicBool,
    n: u64,
    bug: SyncBug,
}

impl SyncSubscription {
    fn drain(&self) {
        let mut st = self.state.lock().unwrap();
        if st.draining {
            return; // the running loop will see the added demand
        }
        st.draining = true;
        let mut emitted_in_batch = 0u64;
        let mut since_check = 0u64;
        loop {
            let check_now = match self.bug {
                SyncBug::StaleCancelCheck => since_check.is_multiple_of(CANCEL_CHECK_EVERY),
                SyncBug::MiscountLastOfBatch => true,
            };
            if check_now && self.cancelled.load(Ordering::SeqCst) {
                st.subscriber = None;
                st.draining = false;
                return;
            }
            since_check += 1;
            if st.demand == 0 || st.subscriber.is_none() {
                st.draining = false;
                return;
            }
            if st.next == self.n {
                let mut s = st.subscriber.take();
                st.draining = false;
                drop(st);
                if let Some(s) = s.as_mut() {
                    let _ = call(|| s.on_complete());
                }
                return;
            }
            let item = st.next;
            st.next += 1;
            emitted_in_batch += 1;
            let last_of_batch = self.bug == SyncBug::MiscountLastOfBatch
                && emitted_in_batch.is_multiple_of(BIG_BATCH);
            if st.demand != u64::MAX && !last_of_batch {
                st.demand -= 1;
            }
            let mut s = st.subscriber.take();
            drop(st);
            let ok = match s.as_mut() {
                Some(s) => call(|| s.on_next(item)),
                None => true,
            };
            st = self.state.lock().unwrap();
            if !ok {
                self.cancelled.store(true, Ordering::SeqCst);
                st.draining = false;
                return; // the panicking subscriber is dropped here (2.13)
            }
            if !self.cancelled.load(Ordering::SeqCst) || self.bug == SyncBug::StaleCancelCheck {
                st.subscriber = s;
            }
        }
    }
}

/// The subscription handed to the subscriber.
struct SyncHandle(Arc<SyncSubscription>);

impl Subscription for SyncHandle {
    fn request(&self, n: u64) {
        let this = &self.0;
        if this.cancelled.load(Ordering::SeqCst) {
            return;
        }
        if n == 0 {
            this.cancelled.store(true, Ordering::SeqCst);
            let s = this.state.lock().unwrap().subscriber.take();
            if let Some(mut s) = s {
                let _ = call(|| s.on_error(Error::violation(Rule::R3_9, "request(0)")));
            }
            return;
        }
        {
            let mut st = this.state.lock().unwrap();
            st.demand = st.demand.saturating_add(n);
        }
        this.drain();
    }
    fn cancel(&self) {
        let this = &self.0;
        this.cancelled.store(true, Ordering::SeqCst);
        // Drop the subscriber now unless a drain loop holds it (it drops it when it next
        // looks). The lock is never held while the subscriber runs, so this wait is short.
        let s = {
            let mut st = this.state.lock().unwrap();
            if st.draining {
                None
            } else {
                st.subscriber.take()
            }
        };
        drop(s);
    }
}

impl Publisher for SyncPublisher {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let sub = Arc::new(SyncSubscription {
            state: Mutex::new(SyncState {
                subscriber: None,
                demand: 0,
                next: 0,
                draining: true, // nothing drains before on_subscribe has returned
            }),
            cancelled: AtomicBool::new(false),
            n: self.n,
            bug: self.bug,
        });
        let mut subscriber: BoxSub = Box::new(subscriber);
        if !call(|| subscriber.on_subscribe(Box::new(SyncHandle(Arc::clone(&sub))))) {
            return;
        }
        {
            let mut st = sub.state.lock().unwrap();
            if !sub.cancelled.load(Ordering::SeqCst) {
                st.subscriber = Some(subscriber);
            }
            st.draining = false;
        }
        if sub.n == 0 {
            let s = sub.state.lock().unwrap().subscriber.take();
            if let Some(mut s) = s {
                let _ = call(|| s.on_complete());
            }
            return;
        }
        sub.drain();
    }
}
