//! [`FlowExt`]: thread hops, overflow policies and time operators on any [`Publisher`].

use std::panic::Location;
use std::sync::Arc;

use rstreams_executor::Scheduler;
use rstreams_protocol::Publisher;

use crate::hop::{PublishOn, SubscribeOn};

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
}

impl<P: Publisher + ?Sized> FlowExt for P {}
