//! [`IntoScheduler`]: what an operator accepts where it needs a scheduler.

use std::sync::Arc;

use crate::{DedicatedThread, ImmediateExecutor, ManualExecutor, Scheduler, ThreadPool};

/// Anything an operator can turn into the `Arc<dyn Scheduler>` it stores: so user code passes
/// the executor it has (`pool`, `&pool`, `exec.clone()`) and never writes
/// `Arc::new(..) as Arc<dyn Scheduler>`.
///
/// Rust has no blanket `From<Arc<T>> for Arc<dyn Scheduler>` (the coercion is a language
/// feature, not a trait), hence this small trait. Implemented for:
///
/// | argument | becomes |
/// |---|---|
/// | `Arc<S>`, `&Arc<S>` for any executor `S` | the same allocation, shared |
/// | `Arc<dyn Scheduler>`, `&Arc<dyn Scheduler>` | itself (a reference count) |
/// | [`ThreadPool`], [`DedicatedThread`] by value | moved into a new `Arc`; the stream owns it and the pool shuts down when the last stage holding it is dropped (if that drop runs on one of the pool's own workers, the pool is closed and detached rather than joined: see `ThreadPool`'s `Drop`) |
/// | [`ManualExecutor`], [`ImmediateExecutor`], by value or `&` | a handle on the same executor (they are cheap `Clone` handles) |
///
/// The [process-wide default pool](crate::default_pool) is an `Arc<ThreadPool>`, so it fits too.
///
/// ```
/// use rstreams_executor::{IntoScheduler, ManualExecutor, Scheduler, ThreadPool};
/// use std::sync::Arc;
///
/// fn takes(s: impl IntoScheduler) -> Arc<dyn Scheduler> {
///     s.into_scheduler()
/// }
/// let pool = Arc::new(ThreadPool::builder().workers(1).build()?);
/// let a = takes(&pool); // borrowed: the caller keeps its Arc
/// let b = takes(pool); // moved
/// let manual = ManualExecutor::new();
/// let c = takes(&manual); // a handle on the same manual executor
/// let d = takes(Arc::clone(&c)); // an Arc<dyn Scheduler> passes through
/// # let _ = (a, b, d);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait IntoScheduler {
    /// The scheduler, shared.
    fn into_scheduler(self) -> Arc<dyn Scheduler>;
}

impl IntoScheduler for Arc<dyn Scheduler> {
    fn into_scheduler(self) -> Arc<dyn Scheduler> {
        self
    }
}

impl IntoScheduler for &Arc<dyn Scheduler> {
    fn into_scheduler(self) -> Arc<dyn Scheduler> {
        Arc::clone(self)
    }
}

impl<S: Scheduler> IntoScheduler for Arc<S> {
    fn into_scheduler(self) -> Arc<dyn Scheduler> {
        self
    }
}

impl<S: Scheduler> IntoScheduler for &Arc<S> {
    fn into_scheduler(self) -> Arc<dyn Scheduler> {
        Arc::clone(self) as Arc<dyn Scheduler>
    }
}

macro_rules! owned_into_scheduler {
    ($($t:ty),*) => {$(
        impl IntoScheduler for $t {
            fn into_scheduler(self) -> Arc<dyn Scheduler> {
                Arc::new(self)
            }
        }
    )*};
}

owned_into_scheduler!(
    ThreadPool,
    DedicatedThread,
    ManualExecutor,
    ImmediateExecutor
);

macro_rules! handle_into_scheduler {
    ($($t:ty),*) => {$(
        impl IntoScheduler for &$t {
            fn into_scheduler(self) -> Arc<dyn Scheduler> {
                Arc::new(self.clone())
            }
        }
    )*};
}

handle_into_scheduler!(ManualExecutor, ImmediateExecutor);
