//! The process-wide default pool: lazy, one per process, sized to the machine, and
//! `shutdown_default_pool` runs what is queued. One test: the pool is process state.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstreams_executor::{
    DEFAULT_POOL_THREAD_PREFIX, IntoScheduler, RejectReason, Scheduler, SchedulerExt, default_pool,
    shutdown_default_pool,
};

#[test]
fn default_pool_lifecycle() {
    // Lazy: nothing to shut down before first use.
    assert!(!shutdown_default_pool());

    let pool = default_pool();
    assert!(Arc::ptr_eq(&pool, &default_pool()));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    assert_eq!(pool.workers(), cores);

    let (tx, rx) = crossbeam_channel::bounded(1);
    pool.spawn(move || {
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap()
    })
    .unwrap();
    let name = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert!(name.starts_with(DEFAULT_POOL_THREAD_PREFIX), "{name}");

    // Occupy every worker, queue work behind them, then shut down: the queued work runs before
    // shutdown returns (nothing queued is lost).
    let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(cores);
    for _ in 0..cores {
        let g = gate_rx.clone();
        pool.spawn(move || {
            g.recv_timeout(Duration::from_secs(10)).unwrap();
        })
        .unwrap();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let via_trait = default_pool().into_scheduler();
    for _ in 0..100 {
        let r = Arc::clone(&ran);
        via_trait
            .spawn(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    for _ in 0..cores {
        gate_tx.send(()).unwrap();
    }
    assert!(shutdown_default_pool());
    assert_eq!(ran.load(Ordering::SeqCst), 100);

    // Shut for good: a new task comes back, naming why.
    let err = default_pool().execute(Box::new(|| ())).unwrap_err();
    assert_eq!(err.reason(), RejectReason::Shutdown);
    assert!(shutdown_default_pool()); // idempotent
}
