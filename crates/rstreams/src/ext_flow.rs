//! [`FlowExt`]: thread hops, overflow policies and time operators on any [`Publisher`].

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use rstreams_executor::Scheduler;
use rstreams_protocol::Publisher;

use crate::hop::{PublishOn, SubscribeOn};
use crate::overflow::{Mode, OnBackpressure, OverflowPolicy};
use crate::time::{Backoff, BufferTimeout, Delay, Retry, Timeout};

/// Thread hops, overflow policies and time operators for every [`Publisher`]
/// (blanket-implemented). Like [`PublisherExt`](crate::PublisherExt), each method returns a named
/// generic struct and records where it was called.
///
/// Schedulers are passed as `Arc<dyn Scheduler>`; an `Arc<ThreadPool>` (or any
/// `Arc<impl Scheduler>`) coerces at the call site.
pub trait FlowExt: Publisher {
    /// Delivers every downstream signal on `scheduler`, with at most `prefetch` items queued
    /// between the threads ([`DEFAULT_PREFETCH`](crate::hop::DEFAULT_PREFETCH) is 256). Upstream
    /// is asked for `prefetch` items, then for 75% of it each time that many were consumed.
    /// `prefetch = 0` fails the subscriber with an error instead of hanging. See [`PublishOn`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::{Scheduler, ThreadPool};
    /// use std::sync::Arc;
    ///
    /// let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build()?);
    /// let on_pool = rstreams::range(0, 1000)
    ///     .publish_on(pool, 64)
    ///     .map(|_| std::thread::current().name().map(str::to_owned))
    ///     .blocking_first()?;
    /// assert!(on_pool.flatten().is_some_and(|name| name != "main"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    fn publish_on(self, scheduler: Arc<dyn Scheduler>, prefetch: usize) -> PublishOn<Self>
    where
        Self: Sized,
    {
        PublishOn {
            upstream: self,
            scheduler,
            prefetch,
            loc: Location::caller(),
        }
    }

    /// Subscribes to the upstream, and forwards every `request`, on `scheduler` (in order, on a
    /// serial lane). See [`SubscribeOn`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::{Scheduler, ThreadPool};
    /// use std::sync::Arc;
    ///
    /// let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build()?);
    /// let v = rstreams::range(0, 5).subscribe_on(pool).to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![0, 1, 2, 3, 4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    fn subscribe_on(self, scheduler: Arc<dyn Scheduler>) -> SubscribeOn<Self>
    where
        Self: Sized,
    {
        SubscribeOn {
            upstream: Arc::new(self),
            scheduler,
            loc: Location::caller(),
        }
    }

    /// Requests without bound upstream and buffers up to `capacity` items beyond the
    /// downstream's demand; `policy` decides what happens on overflow. Dropped items go to
    /// [`OnBackpressure::on_drop`] and are counted. See [`crate::overflow`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::overflow::OverflowPolicy;
    ///
    /// let p = rstreams::range(0, 10).on_backpressure_buffer(3, OverflowPolicy::DropOldest);
    /// let dropped = p.drop_counter();
    /// // One item requested: 0 is delivered, the buffer keeps the newest 3 of the rest.
    /// let h = p.subscribe_consumer(rstreams::Consumer::new(|_| {}).request(1));
    /// assert_eq!(dropped.get(), 6);
    /// h.cancel();
    /// ```
    #[track_caller]
    fn on_backpressure_buffer(self, capacity: usize, policy: OverflowPolicy) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        OnBackpressure::new(
            self,
            Mode {
                capacity: Some(capacity),
                policy,
            },
            Location::caller(),
        )
    }

    /// Drops items that arrive while the downstream has no outstanding demand.
    #[track_caller]
    fn on_backpressure_drop(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        self.on_backpressure_buffer(0, OverflowPolicy::DropNewest)
    }

    /// Keeps only the newest item that the downstream has not asked for yet.
    #[track_caller]
    fn on_backpressure_latest(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        self.on_backpressure_buffer(1, OverflowPolicy::DropOldest)
    }

    /// Fails with [`Overflow`](crate::overflow::Overflow) when an item arrives without demand.
    #[track_caller]
    fn on_backpressure_error(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        self.on_backpressure_buffer(0, OverflowPolicy::Error)
    }

    /// Buffers every item the downstream has not asked for yet, **without limit**. Memory grows
    /// as long as the subscriber lags; the name says so on purpose. Prefer a bounded policy.
    #[track_caller]
    fn on_backpressure_buffer_unbounded(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        OnBackpressure::new(
            self,
            Mode {
                capacity: None,
                policy: OverflowPolicy::Error,
            },
            Location::caller(),
        )
    }

    /// Fails with [`TimedOut`](crate::time::TimedOut) if no item arrives within `after` of the
    /// subscription or of the previous item (the upstream is cancelled). See [`Timeout`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let it = rstreams::never::<u32>()
    ///     .timeout(Duration::from_secs(5), Arc::new(exec.clone()))
    ///     .blocking_iter(1);
    /// exec.advance(Duration::from_secs(5));
    /// let e = it.map(|r| r.unwrap_err()).next().unwrap();
    /// assert!(e.downcast_ref::<rstreams::time::TimedOut>().is_some());
    /// ```
    #[track_caller]
    fn timeout(self, after: Duration, scheduler: Arc<dyn Scheduler>) -> Timeout<Self>
    where
        Self: Sized,
    {
        Timeout {
            upstream: self,
            after,
            scheduler,
            loc: Location::caller(),
        }
    }

    /// Delivers every item, and the completion or error, `by` later, in order. See [`Delay`].
    #[track_caller]
    fn delay(self, by: Duration, scheduler: Arc<dyn Scheduler>) -> Delay<Self>
    where
        Self: Sized,
    {
        Delay {
            upstream: self,
            by,
            scheduler,
            loc: Location::caller(),
        }
    }

    /// Batches of at most `n` items, emitted when full or `d` after their first item. See
    /// [`BufferTimeout`].
    #[track_caller]
    fn buffer_timeout(
        self,
        n: usize,
        d: Duration,
        scheduler: Arc<dyn Scheduler>,
    ) -> BufferTimeout<Self>
    where
        Self: Sized,
    {
        BufferTimeout {
            upstream: self,
            n,
            d,
            scheduler,
            loc: Location::caller(),
        }
    }

    /// On error, subscribes to the upstream again, at most `retries` times. See [`Retry`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let attempts = Arc::new(AtomicU32::new(0));
    /// let a = Arc::clone(&attempts);
    /// let flaky = rstreams::defer(move || {
    ///     if a.fetch_add(1, Ordering::SeqCst) < 2 {
    ///         rstreams::error(rstreams::Error::msg("flaky")).boxed()
    ///     } else {
    ///         rstreams::just(42u32).boxed()
    ///     }
    /// });
    /// assert_eq!(flaky.retry(3).blocking_first().unwrap(), Some(42));
    /// assert_eq!(attempts.load(Ordering::SeqCst), 3);
    /// ```
    #[track_caller]
    fn retry(self, retries: u64) -> Retry<Self>
    where
        Self: Sized,
    {
        Retry {
            upstream: Arc::new(self),
            retries,
            backoff: Backoff::Immediate,
            loc: Location::caller(),
        }
    }

    /// [`retry`](Self::retry), waiting `min(base * 2^k, max)` before attempt `k + 1`.
    #[track_caller]
    fn retry_backoff(
        self,
        retries: u64,
        base: Duration,
        max: Duration,
        scheduler: Arc<dyn Scheduler>,
    ) -> Retry<Self>
    where
        Self: Sized,
    {
        Retry {
            upstream: Arc::new(self),
            retries,
            backoff: Backoff::Exponential {
                base,
                max,
                scheduler,
            },
            loc: Location::caller(),
        }
    }
}

impl<P: Publisher + ?Sized> FlowExt for P {}
