//! Time operators on the ManualExecutor's virtual clock: no sleeps, exact instants.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use rstreams::time::TimedOut;
use support::{Sig, recorder};

fn manual() -> (ManualExecutor, Arc<dyn Scheduler>) {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    (exec, sched)
}

const S: Duration = Duration::from_secs(1);

fn items<T>(sigs: Vec<Sig<T>>) -> Vec<T> {
    sigs.into_iter()
        .filter_map(|s| match s {
            Sig::Next(x) => Some(x),
            _ => None,
        })
        .collect()
}

#[test]
fn timeout_fires_only_after_a_silent_period_and_cancels_upstream() {
    let (exec, sched) = manual();
    let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    let (rec, probe) = recorder(u64::MAX);
    hot.on_backpressure_error()
        .timeout(5 * S, sched)
        .subscribe(rec);
    exec.advance(4 * S);
    tx.emit(1).unwrap();
    exec.advance(4 * S); // 8 s since start, 4 s since the item: no timeout
    tx.emit(2).unwrap();
    assert_eq!(items(probe.drain_ready()), vec![1, 2]);
    exec.advance(4 * S + Duration::from_millis(999));
    assert!(probe.drain_ready().is_empty());
    exec.advance(Duration::from_millis(1));
    let Sig::Error(e) = probe.next_signal() else {
        panic!("expected the timeout")
    };
    assert_eq!(
        e.downcast_ref::<TimedOut>(),
        Some(&TimedOut { after: 5 * S })
    );
    assert!(!tx.is_live(), "the source was cancelled");
    probe.assert_clean();
}

#[test]
fn timeout_does_not_fire_after_completion_or_cancel() {
    let (exec, sched) = manual();
    let (rec, probe) = recorder(u64::MAX);
    rstreams::range(0, 3)
        .timeout(S, Arc::clone(&sched))
        .subscribe(rec);
    let (got, end) = probe.until_end();
    assert_eq!(got, vec![0, 1, 2]);
    assert!(end.is_ok());
    exec.advance(10 * S);
    assert!(probe.drain_ready().is_empty());

    let (rec, probe) = recorder::<u32>(1);
    rstreams::never().timeout(S, sched).subscribe(rec);
    probe.cancel();
    exec.advance(10 * S);
    assert!(probe.drain_ready().is_empty());
    probe.assert_clean();
}

#[test]
fn delay_shifts_items_and_completion_in_order() {
    let (exec, sched) = manual();
    let (rec, probe) = recorder(u64::MAX);
    rstreams::range(0, 3).delay(2 * S, sched).subscribe(rec);
    exec.run_until_idle();
    assert!(probe.drain_ready().is_empty());
    exec.advance(S);
    assert!(probe.drain_ready().is_empty());
    exec.advance(S);
    let (got, end) = probe.until_end();
    assert_eq!(got, vec![0, 1, 2]);
    assert!(end.is_ok());
    probe.assert_clean();
}

#[test]
fn delay_cancel_drops_waiting_items() {
    let (exec, sched) = manual();
    let token = Arc::new(());
    let t = Arc::clone(&token);
    let (rec, probe) = recorder(u64::MAX);
    rstreams::from_iter(vec![Arc::clone(&t), Arc::clone(&t)])
        .delay(S, sched)
        .subscribe(rec);
    drop(t);
    assert_eq!(Arc::strong_count(&token), 3);
    probe.cancel();
    assert_eq!(Arc::strong_count(&token), 1);
    exec.advance(2 * S);
    assert!(probe.drain_ready().is_empty());
}

#[test]
fn buffer_timeout_emits_full_batches_and_flushes_partial_ones_on_time() {
    let (exec, sched) = manual();
    let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let a = Arc::clone(&asked);
    let (rec, probe) = recorder(10);
    hot.on_backpressure_buffer(100, rstreams::overflow::OverflowPolicy::Error)
        .do_on_request(move |n| a.lock().unwrap().push(n))
        .buffer_timeout(3, 2 * S, sched)
        .subscribe(rec);
    for i in 0..4 {
        tx.emit(i).unwrap();
    }
    assert_eq!(items(probe.drain_ready()), vec![vec![0, 1, 2]]);
    exec.advance(S);
    assert!(probe.drain_ready().is_empty());
    exec.advance(S); // 2 s after item 3
    assert_eq!(items(probe.drain_ready()), vec![vec![3]]);
    // One batch of demand at a time: never more than n outstanding + buffered.
    assert_eq!(*asked.lock().unwrap(), vec![3, 3, 1]);
    tx.emit(7).unwrap();
    drop(tx);
    let (rest, end) = probe.until_end();
    assert_eq!(rest, vec![vec![7]]);
    assert!(end.is_ok());
    probe.assert_clean();
}

#[test]
fn buffer_timeout_due_batch_waits_for_demand() {
    let (exec, sched) = manual();
    let (rec, probe) = recorder::<Vec<u64>>(1);
    rstreams::range(0, 10)
        .buffer_timeout(4, S, sched)
        .subscribe(rec);
    assert_eq!(items(probe.drain_ready()), vec![vec![0, 1, 2, 3]]);
    exec.advance(5 * S);
    assert!(probe.drain_ready().is_empty(), "no demand, nothing emitted");
    probe.request(5);
    let (rest, end) = probe.until_end();
    assert_eq!(rest, vec![vec![4, 5, 6, 7], vec![8, 9]]);
    assert!(end.is_ok());
}

#[test]
fn buffer_timeout_zero_is_rejected() {
    let (_exec, sched) = manual();
    let (rec, probe) = recorder::<Vec<u64>>(1);
    rstreams::range(0, 10)
        .buffer_timeout(0, S, sched)
        .subscribe(rec);
    let Sig::Error(e) = probe.next_signal() else {
        panic!()
    };
    assert!(e.to_string().contains("at least 1"));
}

fn flaky(
    failures: u32,
) -> (
    impl Publisher<Item = u32> + Send + Sync + 'static,
    Arc<AtomicU32>,
) {
    let attempts = Arc::new(AtomicU32::new(0));
    let a = Arc::clone(&attempts);
    let p = rstreams::defer(move || {
        let k = a.fetch_add(1, Ordering::SeqCst);
        if k < failures {
            rstreams::concat([
                rstreams::just(k * 10).boxed(),
                rstreams::error(rstreams::Error::msg(format!("fail {k}"))).boxed(),
            ])
            .boxed()
        } else {
            rstreams::just(99).boxed()
        }
    });
    (p, attempts)
}

#[test]
fn retry_resubscribes_and_carries_unmet_demand() {
    let (p, attempts) = flaky(2);
    let (rec, probe) = recorder(3);
    p.retry(5).subscribe(rec);
    // 0, 10 from the failing attempts (demand 3 carried over: 2 left, then 1), then 99.
    let (got, end) = probe.until_end();
    assert_eq!(got, vec![0, 10, 99]);
    assert!(end.is_ok());
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    probe.assert_clean();
}

#[test]
fn retry_gives_up_with_the_last_error() {
    let (p, attempts) = flaky(100);
    let (rec, probe) = recorder(u64::MAX);
    p.retry(2).subscribe(rec);
    let (got, end) = probe.until_end();
    assert_eq!(got, vec![0, 10, 20]);
    assert_eq!(end.unwrap_err().to_string(), "fail 2");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[test]
fn retry_of_an_always_failing_source_does_not_recurse() {
    // 100k immediate retries of a synchronous error: trampolined, so no stack overflow.
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let p = rstreams::defer(move || {
        c.fetch_add(1, Ordering::Relaxed);
        rstreams::error::<u32>(rstreams::Error::msg("always"))
    });
    let (rec, probe) = recorder(1);
    p.retry(100_000).subscribe(rec);
    assert!(matches!(probe.next_signal(), Sig::Error(_)));
    assert_eq!(calls.load(Ordering::Relaxed), 100_001);
}

#[test]
fn retry_backoff_waits_exponentially_on_virtual_time() {
    let (exec, sched) = manual();
    let (p, attempts) = flaky(3);
    let (rec, probe) = recorder(u64::MAX);
    p.retry_backoff(5, S, 3 * S, sched).subscribe(rec);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    exec.advance(S - Duration::from_millis(1));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    exec.advance(Duration::from_millis(1)); // t = 1 s: attempt 2 (waited 1 s)
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    exec.advance(2 * S); // waited 2 s: attempt 3
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    exec.advance(3 * S - Duration::from_millis(1)); // 4 s capped at 3 s
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    exec.advance(Duration::from_millis(1));
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    let (got, end) = probe.until_end();
    assert_eq!(got, vec![0, 10, 20, 99]);
    assert!(end.is_ok());
}

#[test]
fn retry_backoff_cancel_while_waiting_stops_everything() {
    let (exec, sched) = manual();
    let (p, attempts) = flaky(100);
    let (rec, probe) = recorder(u64::MAX);
    p.retry_backoff(5, S, S, sched).subscribe(rec);
    assert_eq!(items(probe.drain_ready()), vec![0]);
    probe.cancel();
    exec.advance(10 * S);
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert!(probe.drain_ready().is_empty());
}
