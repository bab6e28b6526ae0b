//! ManualExecutor: deterministic stepping and the virtual clock.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::DropCounter;
use rstreams_executor::{ManualExecutor, RejectReason, Scheduler, SchedulerExt};

fn log() -> Arc<Mutex<Vec<String>>> {
    Arc::default()
}

fn push(log: &Arc<Mutex<Vec<String>>>, s: impl Into<String>) {
    log.lock().unwrap().push(s.into());
}

#[test]
fn nothing_runs_until_stepped() {
    let exec = ManualExecutor::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let ran = Arc::clone(&ran);
        exec.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(exec.queued(), 3);
    assert!(exec.step());
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(exec.run_until_idle(), 2);
    assert!(!exec.step());
    assert_eq!(exec.stats().completed, 3);
}

#[test]
fn tasks_can_submit_more_tasks_through_a_clone() {
    let exec = ManualExecutor::new();
    let log = log();
    let (e, l) = (exec.clone(), Arc::clone(&log));
    exec.spawn(move || {
        push(&l, "a");
        let l2 = Arc::clone(&l);
        e.spawn(move || push(&l2, "c")).unwrap();
        push(&l, "b");
    })
    .unwrap();
    assert_eq!(exec.run_until_idle(), 2);
    assert_eq!(*log.lock().unwrap(), ["a", "b", "c"]);
}

#[test]
fn timers_fire_in_deadline_order_under_the_virtual_clock() {
    let exec = ManualExecutor::new();
    let start = exec.now();
    let log = log();
    for (name, ms) in [("t30", 30), ("t10", 10), ("t20", 20), ("t10b", 10)] {
        let (l, e) = (Arc::clone(&log), exec.clone());
        exec.spawn_after(Duration::from_millis(ms), move || {
            let at = e.now().duration_since(start).as_millis();
            push(&l, format!("{name}@{at}"));
        })
        .unwrap();
    }
    assert_eq!(exec.advance(Duration::from_millis(9)), 0);
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(exec.advance(Duration::from_millis(11)), 3); // now = 20
    assert_eq!(*log.lock().unwrap(), ["t10@10", "t10b@10", "t20@20"]);
    assert_eq!(exec.now().duration_since(start), Duration::from_millis(20));
    assert_eq!(exec.advance(Duration::from_secs(1)), 1);
    assert_eq!(log.lock().unwrap().last().unwrap(), "t30@30");
    assert_eq!(
        exec.now().duration_since(start),
        Duration::from_millis(1020)
    );
}

#[test]
fn a_timer_armed_by_a_timer_fires_in_the_same_advance_when_due() {
    let exec = ManualExecutor::new();
    let log = log();
    let (e, l) = (exec.clone(), Arc::clone(&log));
    exec.spawn_after(Duration::from_secs(1), move || {
        push(&l, "first");
        let l2 = Arc::clone(&l);
        e.spawn_after(Duration::from_secs(1), move || push(&l2, "second"))
            .unwrap();
    })
    .unwrap();
    let l = Arc::clone(&log);
    exec.spawn_after(Duration::from_millis(1500), move || push(&l, "middle"))
        .unwrap();
    assert_eq!(exec.advance(Duration::from_secs(5)), 3);
    assert_eq!(*log.lock().unwrap(), ["first", "middle", "second"]);
}

#[test]
fn fixed_rate_runs_every_period_until_cancelled() {
    let exec = ManualExecutor::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let handle = exec
        .execute_at_fixed_rate(
            Duration::from_millis(5),
            Duration::from_millis(10),
            Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    exec.advance(Duration::from_millis(4));
    assert_eq!(count.load(Ordering::SeqCst), 0);
    exec.advance(Duration::from_millis(1)); // t = 5
    assert_eq!(count.load(Ordering::SeqCst), 1);
    exec.advance(Duration::from_millis(30)); // 15, 25, 35
    assert_eq!(count.load(Ordering::SeqCst), 4);
    assert!(handle.cancel());
    exec.advance(Duration::from_secs(1));
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[test]
fn a_panicking_periodic_task_keeps_its_schedule() {
    let exec = ManualExecutor::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    exec.execute_at_fixed_rate(
        Duration::ZERO,
        Duration::from_secs(1),
        Arc::new(move || {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first run fails");
            }
        }),
    )
    .unwrap();
    exec.advance(Duration::from_secs(2)); // runs at 0, 1, 2
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(exec.stats().panicked, 1);
}

#[test]
fn cancelled_timer_never_runs() {
    let exec = ManualExecutor::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let handle = exec
        .spawn_after(Duration::from_secs(1), move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    drop(handle.clone()); // dropping a handle does not cancel
    handle.cancel();
    assert_eq!(exec.advance(Duration::from_secs(2)), 0);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn lanes_interleave_fairly_and_keep_order() {
    let exec = ManualExecutor::new();
    let log = log();
    let (a, b) = (exec.lane(), exec.lane());
    for i in 0..300 {
        let l = Arc::clone(&log);
        a.spawn(move || push(&l, format!("a{i}"))).unwrap();
        let l = Arc::clone(&log);
        b.spawn(move || push(&l, format!("b{i}"))).unwrap();
    }
    assert_eq!(exec.queued(), 2); // one drain job per lane
    assert!(exec.step()); // one batch of lane a only
    {
        let log = log.lock().unwrap();
        assert!(log.iter().all(|s| s.starts_with('a')));
        assert!(log.len() < 300, "a batch is bounded");
    }
    let after_first_batch = log.lock().unwrap().len();
    assert_eq!(exec.run_until_idle(), 600 - after_first_batch);
    let log = log.lock().unwrap();
    let a_order: Vec<_> = log.iter().filter(|s| s.starts_with('a')).cloned().collect();
    let b_order: Vec<_> = log.iter().filter(|s| s.starts_with('b')).cloned().collect();
    assert_eq!(
        a_order,
        (0..300).map(|i| format!("a{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        b_order,
        (0..300).map(|i| format!("b{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn shutdown_now_drops_queued_tasks_and_counts_them() {
    let exec = ManualExecutor::new();
    let drops = DropCounter::default();
    let lane = exec.lane();
    for i in 0..10 {
        let p = drops.payload();
        if i % 2 == 0 {
            exec.spawn(move || drop(p)).unwrap();
        } else {
            lane.spawn(move || drop(p)).unwrap();
        }
    }
    let p = drops.payload();
    exec.spawn_after(Duration::from_secs(1), move || drop(p))
        .unwrap();
    assert_eq!(exec.shutdown_now(), 10);
    assert_eq!(drops.get(), 11); // ten queued tasks plus the pending timer
    let err = exec.spawn(|| ()).unwrap_err();
    assert_eq!(err.reason(), RejectReason::Shutdown);
    assert_eq!(
        lane.spawn(|| ()).unwrap_err().reason(),
        RejectReason::Shutdown
    );
}

#[test]
fn graceful_shutdown_keeps_queued_work_runnable() {
    let exec = ManualExecutor::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    exec.spawn(move || {
        r.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    exec.shutdown();
    assert!(exec.spawn(|| ()).is_err());
    assert_eq!(exec.run_until_idle(), 1);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn a_dropped_executor_rejects_lane_submissions() {
    let exec = ManualExecutor::new();
    let lane = exec.lane();
    drop(exec);
    assert_eq!(
        lane.spawn(|| ()).unwrap_err().reason(),
        RejectReason::Shutdown
    );
}
