//! ImmediateExecutor and DedicatedThread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rstreams_executor::{
    DedicatedThread, ImmediateExecutor, RejectReason, Scheduler, SchedulerExt,
};

#[test]
fn immediate_runs_before_returning() {
    let exec = ImmediateExecutor::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    exec.spawn(move || {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// A chain of 200 000 tasks each submitting the next would overflow the stack if nested; the
/// trampoline runs them one after the other at constant depth.
#[test]
fn immediate_recursion_is_trampolined() {
    fn chain(exec: ImmediateExecutor, left: usize, count: Arc<AtomicUsize>) {
        count.fetch_add(1, Ordering::SeqCst);
        if left > 0 {
            let e = exec.clone();
            exec.spawn(move || chain(e, left - 1, count)).unwrap();
        }
    }
    let exec = ImmediateExecutor::new();
    let count = Arc::new(AtomicUsize::new(0));
    let (e, c) = (exec.clone(), Arc::clone(&count));
    exec.spawn(move || chain(e, 200_000, c)).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 200_001);
    assert_eq!(exec.stats().completed, 200_001);
}

#[test]
fn immediate_isolates_panics() {
    let exec = ImmediateExecutor::new();
    exec.spawn(|| panic!("contained")).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    exec.spawn(move || {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(exec.stats().panicked, 1);
}

#[test]
fn immediate_lane_keeps_order_with_reentrant_submissions() {
    let exec = ImmediateExecutor::new();
    let lane = exec.lane();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (l, ln) = (Arc::clone(&log), lane.clone());
    lane.spawn(move || {
        let l2 = Arc::clone(&l);
        ln.spawn(move || l2.lock().unwrap().push(2)).unwrap();
        l.lock().unwrap().push(1);
    })
    .unwrap();
    assert_eq!(*log.lock().unwrap(), [1, 2]);
}

#[test]
fn immediate_timer_fires_and_shutdown_rejects() {
    let exec = ImmediateExecutor::new();
    let (tx, rx) = mpsc::channel();
    exec.spawn_after(Duration::from_millis(1), move || tx.send(1).unwrap())
        .unwrap();
    assert_eq!(rx.recv().unwrap(), 1);
    exec.shutdown();
    assert_eq!(
        exec.spawn(|| ()).unwrap_err().reason(),
        RejectReason::Shutdown
    );
}

#[test]
fn dedicated_thread_is_fifo_on_one_thread() {
    let thread = DedicatedThread::new("solo").unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..1000 {
        let tx = tx.clone();
        thread
            .spawn(move || tx.send((i, std::thread::current().id())).unwrap())
            .unwrap();
    }
    drop(tx);
    let got: Vec<_> = rx.iter().collect();
    assert_eq!(
        got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..1000).collect::<Vec<_>>()
    );
    assert!(got.windows(2).all(|w| w[0].1 == w[1].1));
    thread.shutdown();
    assert!(thread.await_termination(Duration::ZERO));
    assert_eq!(thread.stats().completed, 1000);
}
