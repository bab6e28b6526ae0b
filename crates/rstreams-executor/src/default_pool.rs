//! The process-wide default pool.

use std::sync::{Arc, OnceLock};

use crate::ThreadPool;

static DEFAULT_POOL: OnceLock<Arc<ThreadPool>> = OnceLock::new();

/// Thread-name prefix of the default pool's workers (`rstreams-default-0`, …).
pub const DEFAULT_POOL_THREAD_PREFIX: &str = "rstreams-default";

/// The process-wide default [`ThreadPool`], created on first use (Reactor's
/// `Schedulers.parallel()`, RxJava's `Schedulers.computation()`).
///
/// Sized to the machine: one worker per
/// [`available_parallelism`](std::thread::available_parallelism) (1 if unknown), the default
/// bounded queue ([`DEFAULT_QUEUE_CAPACITY`](crate::DEFAULT_QUEUE_CAPACITY), blocking when full),
/// workers named `rstreams-default-N`. Every call returns the same pool; the default forms of
/// the operators (`par_map(f)`, `parallel().run_on_default()`, …) use it, and any operator
/// taking an [`IntoScheduler`](crate::IntoScheduler) accepts it.
///
/// # At process exit
///
/// Rust never runs destructors of statics, so nothing shuts this pool down by itself. Its
/// workers are like daemon threads: when `main` returns (or `std::process::exit` is called) the
/// process ends without waiting for them, and whatever they had not yet run or delivered —
/// including terminal signals (`on_complete`, `on_error`) still queued — is lost with the
/// process. If the end of your program must see everything through, either block on the
/// result (`blocking_last`, `for_each`, … return only after the terminal signal ran), or call
/// [`shutdown_default_pool`] last: it runs everything already queued and joins the workers.
///
/// # Panics
///
/// If the operating system refuses to spawn the first worker thread on first use (the same
/// condition under which `std::thread::spawn` panics).
///
/// ```
/// use rstreams_executor::{SchedulerExt, default_pool};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// default_pool().spawn(move || tx.send(7).unwrap()).unwrap();
/// assert_eq!(rx.recv().unwrap(), 7);
/// assert!(std::sync::Arc::ptr_eq(&default_pool(), &default_pool())); // one pool per process
/// ```
pub fn default_pool() -> Arc<ThreadPool> {
    Arc::clone(DEFAULT_POOL.get_or_init(|| {
        let pool = ThreadPool::builder()
            .thread_name_prefix(DEFAULT_POOL_THREAD_PREFIX)
            .build()
            .unwrap_or_else(|e| panic!("rstreams: cannot start the default pool: {e}"));
        Arc::new(pool)
    }))
}

/// Graceful shutdown of the [default pool](default_pool), for the end of `main`: stops it taking
/// new work, runs every task already queued (so signals already on their way are delivered),
/// and joins the workers. Returns `false` if the default pool was never created (nothing to
/// do). Idempotent. Afterwards the default pool stays shut: operators using it get their task
/// rejected, which they report as `on_error` — it is not restarted.
///
/// Must not be called from one of the default pool's own workers (a worker cannot join itself).
///
/// ```
/// use rstreams_executor::{SchedulerExt, default_pool, shutdown_default_pool};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// let done = Arc::new(AtomicBool::new(false));
/// let d = Arc::clone(&done);
/// default_pool().spawn(move || d.store(true, Ordering::SeqCst)).unwrap();
/// assert!(shutdown_default_pool()); // runs the queued task before returning
/// assert!(done.load(Ordering::SeqCst));
/// assert!(default_pool().spawn(|| ()).is_err()); // shut for good
/// ```
pub fn shutdown_default_pool() -> bool {
    match DEFAULT_POOL.get() {
        Some(pool) => {
            pool.shutdown();
            true
        }
        None => false,
    }
}
