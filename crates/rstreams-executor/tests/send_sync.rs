//! The public types are `Send + Sync` where operators need them, and `Scheduler` is object-safe.

use std::sync::Arc;

use rstreams_executor::{
    DedicatedThread, ExecutorStats, ImmediateExecutor, ManualExecutor, Rejected, Scheduler,
    SerialLane, ThreadPool, TimerHandle,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<ThreadPool>();
    send_sync::<DedicatedThread>();
    send_sync::<ImmediateExecutor>();
    send_sync::<ManualExecutor>();
    send_sync::<SerialLane>();
    send_sync::<TimerHandle>();
    send_sync::<ExecutorStats>();
    send::<Rejected>();
    send_sync::<Arc<dyn Scheduler>>();
}

#[test]
fn every_executor_is_a_dyn_scheduler() {
    let all: Vec<Arc<dyn Scheduler>> = vec![
        Arc::new(ThreadPool::builder().workers(1).build().unwrap()),
        Arc::new(DedicatedThread::new("d").unwrap()),
        Arc::new(ImmediateExecutor::new()),
        Arc::new(ManualExecutor::new()),
    ];
    for s in all {
        let lane = s.lane();
        lane.spawn(|| ()).unwrap();
        let _ = s.now();
    }
}
