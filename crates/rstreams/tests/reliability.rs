//! Reliability regressions (issue 17, items 1, 5, 6 and 7): every stream ends exactly once and
//! frees what it held. Each test waits with a bound, so a hang shows as a failure.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstreams::executor::{ManualExecutor, Scheduler, ThreadPool};
use rstreams::multicast::Multicast;
use rstreams::prelude::*;
use rstreams::protocol::{ErrorKind, Rule};
use support::{WAIT, recorder};

// ---- 17.1: a panicking `Clone` in a multicast hub ----

/// Counts live values: +1 when made, -1 when dropped.
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

impl Live {
    fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// An item whose `clone` panics for one value, and which counts itself live.
struct Bomb {
    n: u64,
    live: Live,
}

impl Bomb {
    fn new(n: u64, live: &Live) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        Bomb {
            n,
            live: live.clone(),
        }
    }
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        assert_ne!(self.n, 3, "Bomb: clone of item 3");
        Bomb::new(self.n, &self.live)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn bombs(live: &Live) -> impl Publisher<Item = Bomb> + Clone + use<> {
    let live = live.clone();
    rstreams::range(0, 10).map(move |n| Bomb::new(n, &live))
}

fn assert_clone_panic(e: &rstreams::Error) {
    assert_eq!(e.kind(), ErrorKind::Panic, "{e}");
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert!(e.to_string().contains("clone of item 3"), "{e}");
    assert!(e.to_string().contains(file!()), "names the stage: {e}");
}

#[test]
fn multicast_clone_panic_ends_every_subscriber_once() {
    let drops = Live::default();
    let hub = Multicast::<Bomb>::new(4);
    let probes: Vec<_> = (0..3)
        .map(|_| {
            let (rec, probe) = recorder::<Bomb>(u64::MAX);
            hub.subscribe(rec);
            probe
        })
        .collect();
    bombs(&drops).subscribe(hub.clone());
    for p in &probes {
        assert!(
            p.wait_terminal(WAIT),
            "a subscriber never got a terminal signal"
        );
        assert_clone_panic(&p.error().expect("an error, not completion"));
        assert!(p.count() <= 3, "items after the failing one");
    }
    assert!(hub.is_terminated());
    assert_eq!(hub.subscriber_count(), 0, "every slot freed");
    drop(probes);
    drop(hub);
    // Every Bomb made (originals and clones) was dropped: nothing is held by a dead hub.
    assert_eq!(drops.get(), 0, "items leaked");
}

#[test]
fn multicast_clone_panic_with_late_subscriber_gets_the_error() {
    let drops = Live::default();
    let hub = Multicast::<Bomb>::new(4);
    let (rec, early) = recorder::<Bomb>(u64::MAX);
    hub.subscribe(rec);
    bombs(&drops).subscribe(hub.clone());
    assert!(early.wait_terminal(WAIT));
    // After the hub died, a new subscriber gets the same terminal signal at once.
    let (rec, late) = recorder::<Bomb>(1);
    hub.subscribe(rec);
    assert!(
        late.wait_terminal(WAIT),
        "late subscriber joined a dead hub"
    );
    assert_clone_panic(&late.error().expect("error"));
}

#[test]
fn share_after_clone_panic_starts_a_fresh_hub() {
    let drops = Live::default();
    let shared = bombs(&drops).share(4);
    let (a, pa) = recorder::<Bomb>(u64::MAX);
    let (b, pb) = recorder::<Bomb>(u64::MAX);
    // `a` connects (the range is synchronous: the hub runs and dies inside this call) ...
    shared.subscribe(a);
    assert!(pa.wait_terminal(WAIT));
    assert_clone_panic(&pa.error().unwrap());
    // ... so `b` must not join the dead hub: like Reactor's `share()`, it reconnects, and the
    // fresh upstream fails the same way.
    shared.subscribe(b);
    assert!(
        pb.wait_terminal(WAIT),
        "later share subscriber hung on the dead hub"
    );
    assert_clone_panic(&pb.error().unwrap());
}

#[test]
fn share_clone_panic_on_a_pool_ends_all_subscribers() {
    let pool = Arc::new(ThreadPool::new().unwrap());
    let drops = Live::default();
    let sched: Arc<dyn Scheduler> = pool.clone();
    let shared = bombs(&drops).publish_on_with(sched, 4).share(4);
    let probes: Vec<_> = (0..3)
        .map(|_| {
            let (rec, probe) = recorder::<Bomb>(u64::MAX);
            shared.subscribe(rec);
            probe
        })
        .collect();
    for p in &probes {
        assert!(p.wait_terminal(WAIT), "a share subscriber hung");
        assert_clone_panic(&p.error().unwrap());
    }
    pool.shutdown();
}

// ---- 17.5: cancelled timers leave the timer heap ----

#[test]
fn finished_timeout_pipelines_leave_no_live_timers() {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    // One idle stream whose live deadline is earlier than every other: under the old heap it
    // kept every cancelled entry behind it.
    let (rec, idle) = recorder::<u64>(1);
    rstreams::never::<u64>()
        .timeout(Duration::from_secs(1), Arc::clone(&sched))
        .subscribe(rec);
    for _ in 0..1_000 {
        let (rec, p) = recorder::<u64>(u64::MAX);
        rstreams::range(0, 10)
            .timeout(Duration::from_secs(60), Arc::clone(&sched))
            .subscribe(rec);
        assert!(p.completed());
    }
    assert_eq!(
        exec.pending_timers(),
        1,
        "only the idle stream's timer is live"
    );
    exec.advance(Duration::from_secs(2));
    assert!(idle.error().is_some(), "the idle stream timed out");
    assert_eq!(exec.pending_timers(), 0);
}

#[test]
fn cancelled_pool_timers_are_not_counted() {
    let pool = ThreadPool::new().unwrap();
    let handles: Vec<_> = (0..1_000)
        .map(|_| {
            pool.execute_after(Duration::from_secs(60), Box::new(|| {}))
                .unwrap()
        })
        .collect();
    assert_eq!(pool.pending_timers(), 1_000);
    for h in &handles {
        h.cancel();
    }
    assert_eq!(pool.pending_timers(), 0, "cancelled timers still counted");
    pool.shutdown_now();
}

/// A pool shut down with a time operator's timer pending: the timer is dropped unrun, and the
/// stream must end (with an error saying so) instead of waiting for it forever.
fn shutdown_with_pending_timer(
    build: impl FnOnce(Arc<dyn Scheduler>) -> rstreams::protocol::BoxPublisher<u64>,
    now: bool,
) -> rstreams::Error {
    let pool = Arc::new(ThreadPool::new().unwrap());
    let (rec, p) = recorder::<u64>(u64::MAX);
    build(pool.clone()).subscribe(rec);
    assert_eq!(pool.pending_timers(), 1);
    if now {
        pool.shutdown_now();
    } else {
        pool.shutdown();
    }
    assert!(
        p.wait_terminal(WAIT),
        "the stream waited for a dropped timer"
    );
    p.error().expect("an error")
}

#[test]
fn timeout_ends_when_its_pool_shuts_down() {
    for now in [false, true] {
        let e = shutdown_with_pending_timer(
            |s| {
                rstreams::never::<u64>()
                    .timeout(Duration::from_secs(60), s)
                    .boxed()
            },
            now,
        );
        assert!(e.to_string().contains("shut down"), "{e}");
    }
}

#[test]
fn delay_ends_when_its_pool_shuts_down() {
    let e = shutdown_with_pending_timer(
        |s| {
            rstreams::range(0, 3)
                .delay(Duration::from_secs(60), s)
                .boxed()
        },
        true,
    );
    assert!(e.to_string().contains("shut down"), "{e}");
}

#[test]
fn retry_backoff_ends_when_its_pool_shuts_down() {
    let e = shutdown_with_pending_timer(
        |s| {
            rstreams::error::<u64>(rstreams::Error::msg("down"))
                .retry_backoff(3, Duration::from_secs(60), Duration::from_secs(60), s)
                .boxed()
        },
        false,
    );
    assert!(e.to_string().contains("shut down"), "{e}");
}

#[test]
fn buffer_timeout_ends_when_its_pool_shuts_down() {
    for now in [false, true] {
        let e = shutdown_with_pending_timer(
            |s| {
                // One item buffered, the upstream silent: only the timer could cut the batch.
                rstreams::never::<u64>()
                    .start_with([7])
                    .buffer_timeout(10, Duration::from_secs(60), s)
                    .map(|batch| batch.len() as u64)
                    .boxed()
            },
            now,
        );
        assert!(e.to_string().contains("shut down"), "{e}");
    }
}

// ---- 17.6: `send` from inside the emitter's own delivery path ----

/// On item 0, fills the emitter's buffer and calls `send` (or `send_timeout`) from `on_next`.
struct SendsInside {
    tx: Option<rstreams::Emitter<u32>>,
    timeout: Option<Duration>,
    outcome: Arc<parking_lot::Mutex<Option<String>>>,
    /// Kept: the subscription lives as long as someone holds it.
    sub: Option<Box<dyn Subscription>>,
}

impl Subscriber<u32> for SendsInside {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
        self.sub = Some(s);
    }
    fn on_next(&mut self, x: u32) {
        if x != 0 {
            return;
        }
        let Some(tx) = self.tx.take() else { return };
        tx.try_send(1).unwrap();
        let what = match self.timeout {
            None => match tx.send(2) {
                Ok(()) => "sent".to_owned(),
                Err(e) => {
                    let why = e.to_string();
                    assert_eq!(e.into_inner(), 2, "the item is given back");
                    why
                }
            },
            Some(t) => match tx.send_timeout(2, t) {
                Err(rstreams::emitter::SendTimeoutError::Timeout(2)) => "timeout".to_owned(),
                other => format!("{other:?}"),
            },
        };
        *self.outcome.lock() = Some(what);
    }
    fn on_error(&mut self, _: rstreams::Error) {}
    fn on_complete(&mut self) {}
}

fn send_inside(timeout: Option<Duration>) -> String {
    let (tx, rx) = rstreams::emitter::<u32>(1);
    let outcome = Arc::new(parking_lot::Mutex::new(None));
    rx.subscribe(SendsInside {
        tx: Some(tx.clone()),
        timeout,
        outcome: Arc::clone(&outcome),
        sub: None,
    });
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let worker = std::thread::spawn(move || {
        tx.send(0).unwrap();
        drop(tx);
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(WAIT).is_ok(),
        "send from inside on_next deadlocked"
    );
    worker.join().unwrap();
    outcome.lock().take().expect("on_next ran")
}

#[test]
fn send_on_full_emitter_from_own_on_next_errors_instead_of_deadlocking() {
    let why = send_inside(None);
    assert!(why.contains("on_next"), "{why}");
}

#[test]
fn send_timeout_from_own_on_next_still_times_out() {
    assert_eq!(send_inside(Some(Duration::from_millis(10))), "timeout");
}

// ---- 17.7: a panicking `do_on_error` closure ----

#[test]
fn do_on_error_panic_is_a_2_13_error_with_the_original_as_cause() {
    let (rec, p) = recorder::<u64>(u64::MAX);
    rstreams::error::<u64>(rstreams::Error::msg("original failure"))
        .do_on_error(|_| panic!("hook exploded"))
        .subscribe(rec);
    assert!(p.wait_terminal(WAIT));
    let e = p.error().expect("an error");
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert!(e.to_string().contains("hook exploded"), "{e}");
    assert!(e.to_string().contains(file!()), "names the stage: {e}");
    let cause = std::error::Error::source(&e).expect("the original error is the cause");
    assert!(cause.to_string().contains("original failure"), "{cause}");
}
