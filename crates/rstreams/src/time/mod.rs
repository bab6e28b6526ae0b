//! Time operators: [`Timeout`], [`Delay`], [`BufferTimeout`] and [`Retry`] (immediate or with
//! exponential backoff). Each takes its timer from an `Arc<dyn Scheduler>`, so tests run them
//! on a [`ManualExecutor`](rstreams_executor::ManualExecutor) with virtual time. The periodic
//! source, [`interval`](crate::overflow::interval), is hot and lives in
//! [`overflow`](crate::overflow).

mod buffer_timeout;
mod delay;
mod rate;
mod retry;
mod serial;
mod timeout;

pub use buffer_timeout::BufferTimeout;
pub use delay::Delay;
pub use rate::{Debounce, Sample, ThrottleFirst};
pub(crate) use retry::Backoff;
pub use retry::Retry;
pub use timeout::{TimedOut, Timeout};
