//! A subscriber may request everything in `on_subscribe` and drop its `Subscription` (it never
//! needs it again): the stream still runs to its terminal signal. Before the pull kit kept the
//! live subscription itself, stages served by the kit with items arriving later from other
//! threads (`flat_map` with hopped inners, `merge_with`) dropped such a subscriber after the
//! first pass, without a terminal signal.

mod support;
use rstreams::prelude::*;
use rstreams::{Error, Subscriber, Subscription};
use std::sync::mpsc;
use std::time::Duration;

/// Requests everything, keeps no handle, reports how many items it saw.
struct Forget {
    tx: mpsc::Sender<Option<u64>>,
    n: u64,
}
impl Subscriber<u64> for Forget {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        self.n += 1;
    }
    fn on_error(&mut self, _: Error) {
        let _ = self.tx.send(None);
    }
    fn on_complete(&mut self) {
        let _ = self.tx.send(Some(self.n));
    }
}

fn go<P: Publisher<Item = u64>>(p: P) -> Result<Option<u64>, mpsc::RecvTimeoutError> {
    let (tx, rx) = mpsc::channel();
    p.subscribe(Forget { tx, n: 0 });
    rx.recv_timeout(Duration::from_secs(5))
}

#[test]
fn publish_on() {
    assert_eq!(
        go(rstreams::range(0, 1000).publish_on(support::pool())),
        Ok(Some(1000))
    );
}

#[test]
fn flat_map_pool_inners() {
    assert_eq!(
        go(rstreams::range(0, 100)
            .flat_map(|_| rstreams::range(0, 10).subscribe_on(support::pool()))),
        Ok(Some(1000))
    );
}

#[test]
fn merge_with_hopped() {
    assert_eq!(
        go(rstreams::range(0, 500)
            .subscribe_on(support::pool())
            .merge_with(rstreams::range(0, 500).subscribe_on(support::pool()), 64)),
        Ok(Some(1000))
    );
}

// Timer stages: the armed timer may be all that holds the stage once a synchronous upstream
// has completed (delay) or failed (retry_backoff). Found by the TCK's
// `rust_spec105_must_signal_on_complete_after_the_subscriber_dropped_its_subscription`; both
// used to hold the stage weakly from the timer and lost the stream.

fn manual() -> (
    rstreams::executor::ManualExecutor,
    std::sync::Arc<dyn rstreams::executor::Scheduler>,
) {
    let exec = rstreams::executor::ManualExecutor::new();
    (exec.clone(), std::sync::Arc::new(exec))
}

/// Subscribes a [`Forget`] and returns where its result arrives.
fn start<P: Publisher<Item = u64>>(p: P) -> mpsc::Receiver<Option<u64>> {
    let (tx, rx) = mpsc::channel();
    p.subscribe(Forget { tx, n: 0 });
    rx
}

#[test]
fn delay_after_a_synchronous_upstream_completed() {
    let (exec, sched) = manual();
    let rx = start(rstreams::range(0, 10).delay(Duration::from_secs(1), sched));
    exec.advance(Duration::from_secs(1));
    assert_eq!(rx.try_recv(), Ok(Some(10)));
}

#[test]
fn retry_backoff_after_the_upstream_failed() {
    let (exec, sched) = manual();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let a = std::sync::Arc::clone(&attempts);
    let flaky = rstreams::defer(move || {
        if a.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            rstreams::error(Error::msg("first attempt fails")).boxed()
        } else {
            rstreams::range(0, 10).boxed()
        }
    });
    let rx = start(flaky.retry_backoff(3, Duration::from_secs(1), Duration::from_secs(1), sched));
    exec.advance(Duration::from_secs(1));
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(rx.try_recv(), Ok(Some(10)));
}

// `timeout` (like `buffer_timeout` and `rate`) holds its stage weakly from the timer and relies
// on the upstream holding it: here the pull kit serving `never`, which keeps its subscriber
// until a terminal signal. This pins that down for the silent-upstream case: a forgotten
// subscription still ends in the timer's `on_error`.

#[test]
fn timeout_over_a_silent_upstream() {
    let (exec, sched) = manual();
    let rx = start(rstreams::never::<u64>().timeout(Duration::from_secs(1), sched));
    exec.advance(Duration::from_secs(1));
    assert_eq!(rx.try_recv(), Ok(None), "the timeout's on_error");
}
