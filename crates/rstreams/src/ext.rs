//! [`PublisherExt`]: every operator and sink as a method on any [`Publisher`]: synchronous
//! operators and sinks, thread hops, overflow policies, time operators, concurrency operators and
//! multicast.

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::{Error, Publisher};

use crate::flat::{FlatMap, Merge, Zip};
use crate::hop::{PublishOn, SubscribeOn};
use crate::multicast::{Multicast, Share, SlowConsumer};
use crate::ops::*;
use crate::overflow::{Mode, OnBackpressure, OverflowPolicy};
use crate::parallel::{Identity, Joined, Parallel, RailMap};
use crate::sink::{self, BlockingIter, Cancellable, Consumer};
use crate::time::{Backoff, BufferTimeout, Delay, Retry, Timeout};
use parking_lot::Mutex;
use rstreams_executor::IntoScheduler;
use std::time::Duration;

/// Operators and sinks for every [`Publisher`] (blanket-implemented).
///
/// Operators take the publisher by value and return a named generic struct, like `Iterator`
/// adaptors: a chain is one monomorphised type, with no box per stage. Each records where it was
/// called (`#[track_caller]`); errors it raises, and panics caught in its closures, carry that
/// `file:line:column` (see [`Error::stage`]).
///
/// Closures are shared (`Arc`) by every subscription, so a pipeline can be subscribed many
/// times; per-subscription state (counters, accumulators) is created at subscribe time.
///
/// A panic in any closure is caught at the stage: the upstream is cancelled and the downstream
/// receives `on_error` with an error whose [`rule`](Error::rule) is 2.13.
///
/// Sinks (`for_each`, `blocking_*`, `subscribe_*`) take `&self` and may be called repeatedly.
///
/// **Thread hops, overflow policies and time.** Schedulers are passed as any [`IntoScheduler`](rstreams_executor::IntoScheduler): `&pool`, an `Arc<ThreadPool>`, an `Arc<dyn Scheduler>`, or [`default_pool()`](rstreams_executor::default_pool).
///
/// **Concurrency operators and multicast.** Their inputs may signal from different threads at once: each input has its own bounded queue (sized by its prefetch) and downstream signals are serialised by the protocol crate's `SerialDrain`, so the downstream sees one signal at a time and never more than it asked for. A downstream cancel cancels every live input and drops what was buffered.
pub trait PublisherExt: Publisher {
    /// Transforms each item. Demand passes through unchanged (the downstream's subscription is
    /// the upstream's own).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(1, 3).map(|x| x * 10).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![10, 20, 30]));
    /// ```
    #[doc(alias = "Flux.map")]
    #[doc(alias = "Observable.map")]
    #[track_caller]
    fn map<R, F>(self, f: F) -> Map<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> R + Send + Sync + 'static,
    {
        Map {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Keeps the items for which `f` is true. Demand: downstream requests are forwarded at once;
    /// the demand of dropped items is asked for again in one request when everything in flight
    /// has arrived (never one `request(1)` per dropped item, never beyond the downstream's
    /// demand). Unbounded downstream demand is forwarded as unbounded.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 10).filter(|x| x % 3 == 0).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 3, 6, 9]));
    /// ```
    #[track_caller]
    fn filter<F>(self, f: F) -> Filter<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        Filter {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Maps and filters in one step (`None` drops). Demand as for [`filter`](Self::filter).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let p = rstreams::from_iter(vec!["1", "x", "3"]).filter_map(|s| s.parse::<u32>().ok());
    /// assert_eq!(p.to_vec().blocking_first().unwrap(), Some(vec![1, 3]));
    /// ```
    #[doc(alias = "mapNotNull")]
    #[doc(alias = "handle")]
    #[track_caller]
    fn filter_map<R, F>(self, f: F) -> FilterMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Option<R> + Send + Sync + 'static,
    {
        FilterMap {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// The first `n` items, then completes and cancels the upstream. Demand: the running total
    /// requested upstream is capped at `n` (a downstream `request(u64::MAX)` becomes
    /// `request(n)`; never unbounded). `take(0)` cancels and completes at once.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, u64::MAX).take(3).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 1, 2]));
    /// ```
    #[doc(alias = "limit")]
    #[track_caller]
    fn take(self, n: u64) -> Take<Self>
    where
        Self: Sized,
    {
        Take {
            upstream: self,
            n,
            loc: Location::caller(),
        }
    }

    /// Items while `f` is true; at the first false the item is dropped, the upstream cancelled
    /// and the stream completed. Demand passes through.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 10).take_while(|x| *x < 3).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![0, 1, 2]));
    /// ```
    #[doc(alias = "takeWhile")]
    #[track_caller]
    fn take_while<F>(self, f: F) -> TakeWhile<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        TakeWhile {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Drops the first `n` items. Demand as for [`filter`](Self::filter): the skipped items'
    /// demand is asked for again in one batch.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 5).skip(3).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![3, 4]));
    /// ```
    #[doc(alias = "Flux.skip")]
    #[track_caller]
    fn skip(self, n: u64) -> Skip<Self>
    where
        Self: Sized,
    {
        Skip {
            upstream: self,
            n,
            loc: Location::caller(),
        }
    }

    /// Drops items while `f` is true, then passes everything. Demand as for
    /// [`filter`](Self::filter).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::from_iter(vec![1, 2, 5, 1]).skip_while(|x| *x < 3).to_vec().blocking_first();
    /// assert_eq!(v.unwrap(), Some(vec![5, 1]));
    /// ```
    #[doc(alias = "skipWhile")]
    #[track_caller]
    fn skip_while<F>(self, f: F) -> SkipWhile<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        SkipWhile {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Emits the running accumulation `acc = f(&acc, item)` after each item, starting from a
    /// clone of `seed` per subscription. The seed itself is not emitted (unlike Reactor's
    /// `scan`; like Rust's `Iterator::scan` that always yields). Demand passes through.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(1, 4).scan(0, |acc, x| acc + x).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![1, 3, 6, 10]));
    /// ```
    #[doc(alias = "Flux.scan")]
    #[track_caller]
    fn scan<A, F>(self, seed: A, f: F) -> Scan<Self, A, F>
    where
        Self: Sized,
        A: Clone + Send + 'static,
        F: Fn(&A, Self::Item) -> A + Send + Sync + 'static,
    {
        Scan {
            upstream: self,
            seed,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Folds the items with `f`; emits the result when the upstream completes (nothing for an
    /// empty stream). Demand: requests `u64::MAX` upstream once the downstream requests anything.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::range(1, 4).reduce(|a, b| a * b).blocking_first().unwrap(), Some(24));
    /// ```
    #[doc(alias = "Flux.reduce")]
    #[track_caller]
    fn reduce<F>(self, f: F) -> Reduce<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item, Self::Item) -> Self::Item + Send + Sync + 'static,
    {
        Reduce {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Collects every item into a `C` (any `Default + Extend`) and emits it on completion.
    /// Demand as for [`reduce`](Self::reduce).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::collections::BTreeSet;
    /// let set = rstreams::from_iter(vec![3, 1, 3]).collect::<BTreeSet<_>>().blocking_first();
    /// assert_eq!(set.unwrap().unwrap().into_iter().collect::<Vec<_>>(), vec![1, 3]);
    /// ```
    #[track_caller]
    fn collect<C>(self) -> Collect<Self, C>
    where
        Self: Sized,
        C: Default + Extend<Self::Item> + Send + 'static,
    {
        Collect {
            upstream: self,
            loc: Location::caller(),
            _c: PhantomData,
        }
    }

    /// [`collect`](Self::collect) into a `Vec`.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::range(0, 3).to_vec().blocking_first().unwrap(), Some(vec![0, 1, 2]));
    /// ```
    #[doc(alias = "collectList")]
    #[doc(alias = "toList")]
    #[track_caller]
    fn to_vec(self) -> Collect<Self, Vec<Self::Item>>
    where
        Self: Sized,
        Self::Item: Send + 'static,
    {
        Collect {
            upstream: self,
            loc: Location::caller(),
            _c: PhantomData,
        }
    }

    /// Batches of `n` items (the last one may be shorter). Demand: a request for `k` batches
    /// becomes a request for `k * n` items (saturating, so `u64::MAX` stays unbounded).
    /// `buffer(0)` fails the subscriber with an error naming the stage.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 5).buffer(2).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![vec![0, 1], vec![2, 3], vec![4]]));
    /// ```
    #[doc(alias = "Flux.buffer")]
    #[track_caller]
    fn buffer(self, n: usize) -> Buffer<Self>
    where
        Self: Sized,
    {
        Buffer {
            upstream: self,
            size: n,
            loc: Location::caller(),
        }
    }

    /// On the upstream's first error, continues with the publisher `f` returns. Demand: what the
    /// downstream requested and did not receive is requested from the fallback. A rule-3.9 error
    /// (the answer to the downstream's own `request(0)`) is not recovered from.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let p = rstreams::concat([rstreams::range(0, 2).boxed(), rstreams::error(rstreams::Error::msg("x")).boxed()])
    ///     .on_error_resume(|_e| rstreams::just(99));
    /// assert_eq!(p.to_vec().blocking_first().unwrap(), Some(vec![0, 1, 99]));
    /// ```
    #[doc(alias = "onErrorResume")]
    #[doc(alias = "onErrorResumeNext")]
    #[track_caller]
    fn on_error_resume<Q, F>(self, f: F) -> OnErrorResume<Self, F>
    where
        Self: Sized,
        F: Fn(Error) -> Q + Send + Sync + 'static,
        Q: Publisher<Item = Self::Item>,
    {
        OnErrorResume {
            upstream: Arc::new(self),
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Replaces the error the stream fails with. Demand passes through.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let e = rstreams::error::<u8>(rstreams::Error::msg("low"))
    ///     .on_error_map(|e| rstreams::Error::msg(format!("high: {e}")))
    ///     .blocking_first()
    ///     .unwrap_err();
    /// assert!(e.to_string().starts_with("high: low"));
    /// ```
    #[doc(alias = "onErrorMap")]
    #[track_caller]
    fn on_error_map<F>(self, f: F) -> OnErrorMap<Self, F>
    where
        Self: Sized,
        F: Fn(Error) -> Error + Send + Sync + 'static,
    {
        OnErrorMap {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Calls `f` with each item before passing it on.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// static SEEN: AtomicU64 = AtomicU64::new(0);
    /// rstreams::range(0, 4).do_on_next(|_| { SEEN.fetch_add(1, Ordering::SeqCst); }).for_each(|_| {}).unwrap();
    /// assert_eq!(SEEN.load(Ordering::SeqCst), 4);
    /// ```
    #[doc(alias = "doOnNext")]
    #[doc(alias = "inspect")]
    #[track_caller]
    fn do_on_next<F>(self, f: F) -> DoOnNext<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) + Send + Sync + 'static,
    {
        DoOnNext {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Calls `f` with a reference to each item before passing it on: Rust's
    /// [`Iterator::inspect`] name for [`do_on_next`](Self::do_on_next) (the same operator).
    /// `f` runs on the thread delivering the item; a panic in it fails the stream (rule 2.13,
    /// this site).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// static SEEN: AtomicU64 = AtomicU64::new(0);
    /// let v = rstreams::range(0, 4).inspect(|_| { SEEN.fetch_add(1, Ordering::SeqCst); }).blocking_last();
    /// assert_eq!(v.unwrap(), Some(3));
    /// assert_eq!(SEEN.load(Ordering::SeqCst), 4);
    /// ```
    #[doc(alias = "doOnNext")]
    #[doc(alias = "do_on_next")]
    #[doc(alias = "peek")]
    #[track_caller]
    fn inspect<F>(self, f: F) -> DoOnNext<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) + Send + Sync + 'static,
    {
        self.do_on_next(f)
    }

    /// Calls `f` with each `n` the downstream requests, before forwarding it.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::{Arc, Mutex};
    /// let asked = Arc::new(Mutex::new(Vec::new()));
    /// let a = asked.clone();
    /// rstreams::range(0, 100).do_on_request(move |n| a.lock().unwrap().push(n)).take(5).for_each(|_| {}).unwrap();
    /// assert_eq!(*asked.lock().unwrap(), vec![5]);
    /// ```
    #[doc(alias = "doOnRequest")]
    #[track_caller]
    fn do_on_request<F>(self, f: F) -> DoOnRequest<Self, F>
    where
        Self: Sized,
        F: Fn(u64) + Send + Sync + 'static,
    {
        DoOnRequest {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Calls `f` when the downstream cancels, before forwarding the cancel.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static CANCELLED: AtomicBool = AtomicBool::new(false);
    /// let first = rstreams::range(0, 100)
    ///     .do_on_cancel(|| CANCELLED.store(true, Ordering::SeqCst))
    ///     .blocking_first()
    ///     .unwrap();
    /// assert_eq!(first, Some(0));
    /// assert!(CANCELLED.load(Ordering::SeqCst)); // blocking_first cancels after one item
    /// ```
    #[doc(alias = "doOnCancel")]
    #[track_caller]
    fn do_on_cancel<F>(self, f: F) -> DoOnCancel<Self, F>
    where
        Self: Sized,
        F: Fn() + Send + Sync + 'static,
    {
        DoOnCancel {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Calls `f` when the upstream completes, before passing the completion on.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static DONE: AtomicBool = AtomicBool::new(false);
    /// rstreams::range(0, 3).do_on_complete(|| DONE.store(true, Ordering::SeqCst)).for_each(|_| {}).unwrap();
    /// assert!(DONE.load(Ordering::SeqCst));
    /// ```
    #[doc(alias = "doOnComplete")]
    #[track_caller]
    fn do_on_complete<F>(self, f: F) -> DoOnComplete<Self, F>
    where
        Self: Sized,
        F: Fn() + Send + Sync + 'static,
    {
        DoOnComplete {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Calls `f` with the upstream's error, before passing it on.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// static SEEN: AtomicBool = AtomicBool::new(false);
    /// let r = rstreams::error::<u8>(rstreams::Error::msg("x"))
    ///     .do_on_error(|_| SEEN.store(true, Ordering::SeqCst))
    ///     .for_each(|_| {});
    /// assert!(r.is_err() && SEEN.load(Ordering::SeqCst));
    /// ```
    #[doc(alias = "doOnError")]
    #[track_caller]
    fn do_on_error<F>(self, f: F) -> DoOnError<Self, F>
    where
        Self: Sized,
        F: Fn(&Error) + Send + Sync + 'static,
    {
        DoOnError {
            upstream: self,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Splits the downstream's demand into upstream requests: at most `high` items in flight,
    /// replenished `low` at a time (`low == 0` means `high`; `low >= high` means 75% of `high`,
    /// as in Reactor). Unlike Reactor it never requests beyond the downstream's demand, so it
    /// holds no buffer. See the [module docs](crate::ops) and `docs/guide/operators.md`.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use std::sync::{Arc, Mutex};
    /// let asked = Arc::new(Mutex::new(Vec::new()));
    /// let a = asked.clone();
    /// rstreams::range(0, 10).do_on_request(move |n| a.lock().unwrap().push(n))
    ///     .limit_rate(4, 2).for_each(|_| {}).unwrap();
    /// // 4 first, then 2 after every 2 items (the last batch asks past the end of the range).
    /// assert_eq!(*asked.lock().unwrap(), vec![4, 2, 2, 2, 2, 2]);
    /// ```
    #[doc(alias = "limitRate")]
    #[track_caller]
    fn limit_rate(self, high: u64, low: u64) -> LimitRate<Self>
    where
        Self: Sized,
    {
        LimitRate {
            upstream: self,
            high,
            low,
            loc: Location::caller(),
        }
    }

    /// Subscribes with three closures, requesting without bound. Returns a handle that can
    /// cancel. See [`Consumer`] for a demand policy.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let handle = rstreams::range(0, 3).subscribe_with(|x| println!("{x}"), |e| eprintln!("{e}"), || {});
    /// assert!(handle.is_done());
    /// ```
    fn subscribe_with<N, E, C>(&self, on_next: N, on_error: E, on_complete: C) -> Cancellable
    where
        N: FnMut(Self::Item) + Send + 'static,
        E: FnMut(Error) + Send + 'static,
        C: FnMut() + Send + 'static,
        Self::Item: 'static,
    {
        self.subscribe_consumer(
            Consumer::new(on_next)
                .on_error(on_error)
                .on_complete(on_complete),
        )
    }

    /// Subscribes a [`Consumer`] (closures plus a demand policy).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let handle = rstreams::never::<u8>().subscribe_consumer(Consumer::new(|_| {}).request(1));
    /// assert!(!handle.is_done());
    /// handle.cancel();
    /// assert!(handle.is_done());
    /// ```
    fn subscribe_consumer<N>(&self, consumer: Consumer<N>) -> Cancellable
    where
        N: FnMut(Self::Item) + Send + 'static,
        Self::Item: 'static,
    {
        let (subscriber, handle) = consumer.start();
        self.subscribe(subscriber);
        handle
    }

    /// Calls `f` for each item, blocking the calling thread until the stream ends. Requests
    /// without bound. A panic in `f` cancels the upstream and is returned as an error (rule
    /// 2.13).
    ///
    /// `f` runs on the thread that delivers each item (the last hop's or rail join's worker, or
    /// the calling thread for a synchronous source), hence `Send + 'static`; a slow `f` there
    /// occupies that worker. To run `f` on the calling thread and borrow locals, use
    /// [`for_each_local`](Self::for_each_local).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut total = 0;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// rstreams::range(1, 3).for_each(move |x| tx.send(x).unwrap()).unwrap();
    /// for x in rx { total += x; }
    /// assert_eq!(total, 6);
    /// ```
    #[doc(alias = "doOnEach")]
    #[doc(alias = "blockingSubscribe")]
    #[track_caller]
    fn for_each<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnMut(Self::Item) + Send + 'static,
        Self::Item: 'static,
    {
        sink::for_each(self, f, Location::caller())
    }

    /// Calls `f` for each item **on the calling thread**, blocking until the stream ends: `f`
    /// need be neither `Send` nor `'static`, so it can borrow and mutate locals (summing into a
    /// local needs no channel). Returns the stream's error if it fails.
    ///
    /// Sound because `f` never leaves this call: the items cross from whichever thread produces
    /// them to the calling thread through the bounded blocking iterator
    /// ([`blocking_iter`](Self::blocking_iter): at most
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items buffered,
    /// replenished at 75%), and only the items (`Send`) cross threads. A slow `f` slows only
    /// the calling thread; upstream workers stay free up to the buffer bound. A panic in `f`
    /// cancels the upstream and is returned as an error naming rule 2.13 and this call site.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut total = 0;
    /// let mut seen = Vec::new(); // borrowed, neither moved nor shared
    /// rstreams::range(1, 3).publish_on(rstreams::executor::default_pool()).for_each_local(|x| {
    ///     total += x;
    ///     seen.push(x);
    /// })?;
    /// assert_eq!((total, seen), (6, vec![1, 2, 3]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "blockingForEach")]
    #[doc(alias = "for_each_blocking")]
    #[track_caller]
    fn for_each_local<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnMut(Self::Item),
        Self::Item: Send + 'static,
    {
        sink::for_each_local(self, f, Location::caller())
    }

    /// A blocking iterator with at most `prefetch` items buffered, replenished at 75%. See
    /// [`BlockingIter`]. (`range`, `from_iter` and `map`/`filter`/`filter_map` over them have
    /// a fused inherent `blocking_iter` that pulls on the iterating thread; see
    /// [`SyncSource`](crate::source::SyncSource).)
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v: Result<Vec<u64>, _> = rstreams::range(0, 5).take(5).blocking_iter_with(2).collect();
    /// assert_eq!(v.unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    #[doc(alias = "toIterable")]
    #[doc(alias = "blockingIterable")]
    #[track_caller]
    fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<Self::Item>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_iter(self, prefetch, Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) buffering
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) (256) items.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v: Result<Vec<u64>, _> = rstreams::range(0, 5).boxed().blocking_iter().collect();
    /// assert_eq!(v.unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    #[doc(alias = "toIterable")]
    #[doc(alias = "blockingIterable")]
    #[track_caller]
    fn blocking_iter(&self) -> BlockingIter<Self::Item>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_iter(
            self,
            crate::sink::DEFAULT_BLOCKING_PREFETCH,
            Location::caller(),
        )
    }

    /// The first item (`None` if the stream completes empty), blocking. Requests 1 and cancels
    /// after it.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::range(10, u64::MAX - 10).blocking_first().unwrap(), Some(10));
    /// assert_eq!(rstreams::empty::<u8>().blocking_first().unwrap(), None);
    /// ```
    #[doc(alias = "blockFirst")]
    #[doc(alias = "blockingFirst")]
    #[track_caller]
    fn blocking_first(&self) -> Result<Option<Self::Item>, Error>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_first(self, Location::caller())
    }

    /// The last item (`None` if the stream completes empty), blocking until the stream ends.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::range(0, 5).blocking_last().unwrap(), Some(4));
    /// ```
    #[doc(alias = "blockLast")]
    #[doc(alias = "blockingLast")]
    #[track_caller]
    fn blocking_last(&self) -> Result<Option<Self::Item>, Error>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_last(self, Location::caller())
    }

    // ---- more operators (issue 15) ----

    /// On the upstream's error, emits a clone of `value` and completes instead of failing.
    /// Demand: the downstream's unmet demand carries over; `value` is sent only when requested.
    /// A rule-3.9 error (the answer to the downstream's own `request(0)`) is not replaced.
    /// Buffer: none. See [`OnErrorReturn`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let p = rstreams::concat([rstreams::range(0, 2).boxed(), rstreams::error(rstreams::Error::msg("x")).boxed()])
    ///     .on_error_return(99);
    /// assert_eq!(p.to_vec().blocking_first()?, Some(vec![0, 1, 99]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "onErrorReturn")]
    #[doc(alias = "onErrorReturnItem")]
    #[track_caller]
    fn on_error_return(self, value: Self::Item) -> OnErrorReturn<Self, Self::Item>
    where
        Self: Sized,
        Self::Item: Clone + Send + Sync + 'static,
    {
        OnErrorReturn {
            upstream: Arc::new(self),
            value,
            loc: Location::caller(),
        }
    }

    /// When the upstream completes without any item, continues with `other` (asked for exactly
    /// the demand left). Errors pass through. Buffer: none. See [`SwitchIfEmpty`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let p = rstreams::empty::<u32>().switch_if_empty(rstreams::range(5, 2).map(|x| x as u32));
    /// assert_eq!(p.to_vec().blocking_first()?, Some(vec![5, 6]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "switchIfEmpty")]
    #[track_caller]
    fn switch_if_empty<Q>(self, other: Q) -> SwitchIfEmpty<Self, Q>
    where
        Self: Sized,
        Q: Publisher<Item = Self::Item>,
    {
        SwitchIfEmpty {
            upstream: Arc::new(self),
            other: Arc::new(other),
            loc: Location::caller(),
        }
    }

    /// When the upstream completes without any item, emits a clone of `value` (once requested)
    /// and completes. Buffer: the one value. See [`SwitchIfEmpty`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::empty::<u8>().default_if_empty(7).blocking_first()?, Some(7));
    /// assert_eq!(rstreams::just(1u8).default_if_empty(7).to_vec().blocking_first()?, Some(vec![1]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "defaultIfEmpty")]
    #[track_caller]
    fn default_if_empty(
        self,
        value: Self::Item,
    ) -> SwitchIfEmpty<Self, crate::source::Just<Self::Item>>
    where
        Self: Sized,
        Self::Item: Clone + Send + Sync + 'static,
    {
        let loc = Location::caller();
        SwitchIfEmpty {
            upstream: Arc::new(self),
            other: Arc::new(crate::source::just(value)),
            loc,
        }
    }

    /// Emits `items` first (a clone of each, for every subscriber), then the upstream's items;
    /// the upstream is subscribed once the prefix has been delivered. Demand carries over
    /// exactly. Buffer: the prefix, shared. See [`StartWith`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let p = rstreams::range(3, 2).start_with([0, 1]);
    /// assert_eq!(p.to_vec().blocking_first()?, Some(vec![0, 1, 3, 4]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "startWith")]
    #[doc(alias = "startWithItem")]
    #[doc(alias = "startWithIterable")]
    #[doc(alias = "startWithArray")]
    #[track_caller]
    fn start_with<I>(self, items: I) -> StartWith<Self, Self::Item>
    where
        Self: Sized,
        I: IntoIterator<Item = Self::Item>,
    {
        StartWith {
            upstream: Arc::new(self),
            prefix: items.into_iter().collect(),
            loc: Location::caller(),
        }
    }

    /// Relays items until `other` emits its first item or completes; then completes and
    /// cancels both. Demand: exactly the downstream's, passed to the upstream; `other` is asked
    /// for one item. Buffer: at most the outstanding demand. See [`TakeUntil`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// // `other` fires at once: nothing is relayed.
    /// assert_eq!(rstreams::range(0, 5).take_until(rstreams::just(())).to_vec().blocking_first()?, Some(vec![]));
    /// // `other` never fires: everything is relayed.
    /// let all = rstreams::range(0, 3).take_until(rstreams::never::<()>()).to_vec().blocking_first()?;
    /// assert_eq!(all, Some(vec![0, 1, 2]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "takeUntil")]
    #[doc(alias = "takeUntilOther")]
    #[track_caller]
    fn take_until<Q>(self, other: Q) -> TakeUntil<Self, Q>
    where
        Self: Sized,
        Q: Publisher,
    {
        TakeUntil {
            upstream: self,
            other,
            loc: Location::caller(),
        }
    }

    /// Drops items until `other` emits its first item or completes, then relays the rest and
    /// cancels `other`. Demand: the downstream's, plus what was dropped, asked again in batches.
    /// Buffer: at most the outstanding demand. See [`SkipUntil`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 3).skip_until(rstreams::empty::<()>()).to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![0, 1, 2]));
    /// let none = rstreams::range(0, 3).skip_until(rstreams::never::<()>()).to_vec().blocking_first()?;
    /// assert_eq!(none, Some(vec![]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "skipUntil")]
    #[doc(alias = "skipUntilOther")]
    #[track_caller]
    fn skip_until<Q>(self, other: Q) -> SkipUntil<Self, Q>
    where
        Self: Sized,
        Q: Publisher,
    {
        SkipUntil {
            upstream: self,
            other,
            loc: Location::caller(),
        }
    }

    /// Passes an item only if its key was not seen among the last `max_keys` distinct keys;
    /// at the bound the oldest key is forgotten (so it may pass again). Dropped items are asked
    /// for again in batches. Memory: `max_keys` keys. See [`DistinctBy`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::from_iter(vec!["a", "bb", "c", "dd", "eee"])
    ///     .distinct_by(|s| s.len(), 16)
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec!["a", "bb", "eee"]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "distinct")]
    #[track_caller]
    fn distinct_by<K, F>(self, key: F, max_keys: usize) -> DistinctBy<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> K + Send + Sync + 'static,
        K: std::hash::Hash + Eq + Clone + Send + 'static,
    {
        DistinctBy {
            upstream: self,
            key: Arc::new(key),
            max_keys,
            loc: Location::caller(),
        }
    }

    /// Drops an item equal to the previous one. Memory: one item (a clone). See
    /// [`DistinctUntilChanged`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::from_iter(vec![1, 1, 2, 2, 2, 1, 3, 3]).distinct_until_changed().to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![1, 2, 1, 3]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "distinctUntilChanged")]
    #[track_caller]
    fn distinct_until_changed(self) -> DistinctUntilChanged<Self, Itself>
    where
        Self: Sized,
        Self::Item: Clone + PartialEq + Send + 'static,
    {
        DistinctUntilChanged {
            upstream: self,
            key: Arc::new(Itself),
            loc: Location::caller(),
        }
    }

    /// Drops an item whose key equals the previous item's key. Memory: one key. See
    /// [`DistinctUntilChanged`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 7).distinct_until_changed_by(|x| x / 3).to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![0, 3, 6]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "distinctUntilChanged")]
    #[track_caller]
    fn distinct_until_changed_by<K, F>(self, key: F) -> DistinctUntilChanged<Self, KeyFn<F>>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> K + Send + Sync + 'static,
        K: PartialEq + Send + 'static,
    {
        DistinctUntilChanged {
            upstream: self,
            key: Arc::new(KeyFn(key)),
            loc: Location::caller(),
        }
    }

    /// For each item, emits `f(item, &latest)` with the latest item of `other`; items that
    /// arrive before `other` has emitted are dropped (and asked for again). Buffer: at most
    /// `min(outstanding demand, RELAY_BATCH)` items and one value of `other`. See
    /// [`WithLatestFrom`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 3)
    ///     .with_latest_from(rstreams::just(100), |x, base| x + base)
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec![100, 101, 102]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "withLatestFrom")]
    #[track_caller]
    fn with_latest_from<Q, R, F>(self, other: Q, f: F) -> WithLatestFrom<Self, Q, F>
    where
        Self: Sized,
        Q: Publisher,
        F: Fn(Self::Item, &Q::Item) -> R + Send + Sync + 'static,
    {
        WithLatestFrom {
            upstream: self,
            other,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Emits an item only once `d` has passed on `scheduler` without a newer one; the last item
    /// is emitted when the upstream completes. Upstream demand: unbounded. Buffer: two items.
    /// See [`Debounce`](crate::time::Debounce).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    /// let it = hot.on_backpressure_error()
    ///     .debounce(Duration::from_secs(1), &exec)
    ///     .blocking_iter_with(4);
    /// tx.emit(1).unwrap();
    /// tx.emit(2).unwrap();                    // 1 is superseded
    /// exec.advance(Duration::from_secs(1));   // quiet for 1 s: 2 goes out
    /// drop(tx);                               // completes
    /// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, vec![2]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "debounceTimeout")]
    #[doc(alias = "sampleTimeout")]
    #[track_caller]
    fn debounce(self, d: Duration, scheduler: impl IntoScheduler) -> crate::time::Debounce<Self>
    where
        Self: Sized,
    {
        crate::time::Debounce {
            upstream: self,
            d,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        }
    }

    /// Emits an item, then drops the upstream's items for `d` on `scheduler`, and repeats.
    /// Upstream demand: unbounded. Buffer: one item. See
    /// [`ThrottleFirst`](crate::time::ThrottleFirst).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    /// let it = hot.on_backpressure_error()
    ///     .throttle_first(Duration::from_secs(1), &exec)
    ///     .blocking_iter_with(4);
    /// tx.emit(1).unwrap();
    /// tx.emit(2).unwrap();                    // inside the window: dropped
    /// exec.advance(Duration::from_secs(1));
    /// tx.emit(3).unwrap();
    /// drop(tx);
    /// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, vec![1, 3]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "throttleFirst")]
    #[doc(alias = "sampleFirst")]
    #[track_caller]
    fn throttle_first(
        self,
        d: Duration,
        scheduler: impl IntoScheduler,
    ) -> crate::time::ThrottleFirst<Self>
    where
        Self: Sized,
    {
        crate::time::ThrottleFirst {
            upstream: self,
            d,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        }
    }

    /// Every `d` on `scheduler`, emits the latest item of the period, if any (and the last one
    /// at completion). Upstream demand: unbounded. Buffer: two items. See
    /// [`Sample`](crate::time::Sample).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    /// let it = hot.on_backpressure_error()
    ///     .sample(Duration::from_secs(1), &exec)
    ///     .blocking_iter_with(4);
    /// tx.emit(1).unwrap();
    /// tx.emit(2).unwrap();
    /// exec.advance(Duration::from_secs(1));   // period ends: 2
    /// exec.advance(Duration::from_secs(1));   // nothing new: nothing
    /// tx.emit(3).unwrap();
    /// drop(tx);                               // completion flushes 3
    /// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, vec![2, 3]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "throttleLast")]
    #[doc(alias = "sampleTime")]
    #[track_caller]
    fn sample(self, d: Duration, scheduler: impl IntoScheduler) -> crate::time::Sample<Self>
    where
        Self: Sized,
    {
        crate::time::Sample {
            upstream: self,
            d,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        }
    }

    /// Splits the stream into one [`GroupedPublisher`](crate::ops::GroupedPublisher) per key,
    /// emitted when its first item arrives; at most `max_groups` groups are open at once (one
    /// more fails the stream with an error saying so). The upstream is asked for items against
    /// one budget of `group_prefetch` items (in flight plus queued in any group): **a group
    /// nobody drains holds its items and, once the budget is full, the upstream waits** — a
    /// stall reported by a `tracing` warning and visible in each group's
    /// [`buffered`](crate::ops::GroupedPublisher::buffered). A group dropped unsubscribed is
    /// cancelled; a cancelled group is re-created by the next item with its key. See
    /// [`GroupBy`] for the whole policy.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let groups = rstreams::range(0, 6).group_by(|x| x % 2, 4, 16).blocking_iter_with(4);
    /// let mut out = Vec::new();
    /// for g in groups {
    ///     let g = g?;
    ///     // Each group must be drained for the others to progress: here, concurrently.
    ///     let key = *g.key();
    ///     let items = std::thread::spawn(move || g.to_vec().blocking_first());
    ///     out.push((key, items));
    /// }
    /// let got: Vec<_> = out.into_iter().map(|(k, h)| (k, h.join().unwrap().unwrap().unwrap())).collect();
    /// assert_eq!(got, vec![(0, vec![0, 2, 4]), (1, vec![1, 3, 5])]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "groupBy")]
    #[track_caller]
    fn group_by<K, F>(self, key: F, max_groups: usize, group_prefetch: usize) -> GroupBy<Self, F>
    where
        Self: Sized,
        F: Fn(&Self::Item) -> K + Send + Sync + 'static,
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    {
        GroupBy {
            upstream: self,
            key: Arc::new(key),
            max_groups,
            group_prefetch,
            loc: Location::caller(),
        }
    }

    /// Splits the stream into consecutive windows of `n` items, each a
    /// [`Window`](crate::ops::Window) publisher opened by its first item. The upstream budget is
    /// `n` items: an undrained window holds it and the upstream waits (see
    /// [`group_by`](PublisherExt::group_by) for the policy). See [`WindowPub`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let sums: Vec<u64> = rstreams::range(0, 7)
    ///     .window(3)
    ///     .concat_map(|w| w.reduce(|a, b| a + b), 1)
    ///     .to_vec()
    ///     .blocking_first()?
    ///     .unwrap();
    /// assert_eq!(sums, vec![0 + 1 + 2, 3 + 4 + 5, 6]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "windowCount")]
    #[track_caller]
    fn window(self, n: usize) -> WindowPub<Self>
    where
        Self: Sized,
    {
        WindowPub {
            upstream: self,
            n,
            timeout: None,
            loc: Location::caller(),
        }
    }

    /// Like [`window`](PublisherExt::window), but a window also closes `d` after it opened (at
    /// its first item: no empty windows, unlike Reactor's `windowTimeout`). See [`WindowPub`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let (tx, hot) = rstreams::overflow::hot_emitter::<u32>();
    /// let sizes = hot.on_backpressure_buffer(16, rstreams::overflow::OverflowPolicy::Error)
    ///     .window_timeout(10, Duration::from_secs(1), &exec)
    ///     .concat_map(|w| w.to_vec().map(|v| v.len()), 1)
    ///     .blocking_iter_with(4);
    /// tx.emit(1).unwrap();
    /// tx.emit(2).unwrap();
    /// exec.advance(Duration::from_secs(1));   // the first window times out with 2 items
    /// tx.emit(3).unwrap();
    /// drop(tx);
    /// assert_eq!(sizes.collect::<Result<Vec<_>, _>>()?, vec![2, 1]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "windowTimeout")]
    #[track_caller]
    fn window_timeout(self, n: usize, d: Duration, scheduler: impl IntoScheduler) -> WindowPub<Self>
    where
        Self: Sized,
    {
        WindowPub {
            upstream: self,
            n,
            timeout: Some((d, scheduler.into_scheduler())),
            loc: Location::caller(),
        }
    }

    // ---- Thread hops, overflow policies and time ----

    /// Delivers every downstream signal on `scheduler`, with at most `prefetch` items queued
    /// between the threads ([`DEFAULT_PREFETCH`](crate::hop::DEFAULT_PREFETCH) is 256). Upstream
    /// is asked for `prefetch` items, then for 75% of it each time that many were consumed.
    /// `prefetch = 0` fails the subscriber with an error instead of hanging. See [`PublishOn`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ThreadPool;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(ThreadPool::builder().workers(2).build()?);
    /// let on_pool = rstreams::range(0, 1000)
    ///     .publish_on_with(pool, 64)
    ///     .map(|_| std::thread::current().name().map(str::to_owned))
    ///     .blocking_first()?;
    /// assert!(on_pool.flatten().is_some_and(|name| name != "main"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    fn publish_on_with(self, scheduler: impl IntoScheduler, prefetch: usize) -> PublishOn<Self>
    where
        Self: Sized,
    {
        PublishOn {
            upstream: self,
            scheduler: scheduler.into_scheduler(),
            prefetch,
            loc: Location::caller(),
        }
    }

    /// [`publish_on_with`](Self::publish_on_with) with
    /// [`DEFAULT_PREFETCH`](crate::hop::DEFAULT_PREFETCH) (256, Reactor's `publishOn` default)
    /// items queued between the threads. The downstream's closures run on `scheduler`'s workers.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::default_pool;
    /// let v = rstreams::range(0, 3).publish_on(default_pool()).to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![0, 1, 2]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "publishOn")]
    #[doc(alias = "observeOn")]
    #[track_caller]
    fn publish_on(self, scheduler: impl IntoScheduler) -> PublishOn<Self>
    where
        Self: Sized,
    {
        self.publish_on_with(scheduler, crate::hop::DEFAULT_PREFETCH)
    }

    /// Subscribes to the upstream, and forwards every `request`, on `scheduler` (in order, on a
    /// serial lane). See [`SubscribeOn`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ThreadPool;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(ThreadPool::builder().workers(2).build()?);
    /// let v = rstreams::range(0, 5).subscribe_on(pool).to_vec().blocking_first()?;
    /// assert_eq!(v, Some(vec![0, 1, 2, 3, 4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "subscribeOn")]
    #[track_caller]
    fn subscribe_on(self, scheduler: impl IntoScheduler) -> SubscribeOn<Self>
    where
        Self: Sized,
    {
        SubscribeOn {
            upstream: Arc::new(self),
            scheduler: scheduler.into_scheduler(),
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
    #[doc(alias = "onBackpressureBuffer")]
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
    #[doc(alias = "onBackpressureDrop")]
    #[track_caller]
    fn on_backpressure_drop(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        self.on_backpressure_buffer(0, OverflowPolicy::DropNewest)
    }

    /// Keeps only the newest item that the downstream has not asked for yet.
    #[doc(alias = "onBackpressureLatest")]
    #[track_caller]
    fn on_backpressure_latest(self) -> OnBackpressure<Self>
    where
        Self: Sized,
    {
        self.on_backpressure_buffer(1, OverflowPolicy::DropOldest)
    }

    /// Fails with [`Overflow`](crate::overflow::Overflow) when an item arrives without demand.
    #[doc(alias = "onBackpressureError")]
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
    /// use std::time::Duration;
    ///
    /// let exec = ManualExecutor::new();
    /// let it = rstreams::never::<u32>()
    ///     .timeout(Duration::from_secs(5), &exec)
    ///     .blocking_iter_with(1);
    /// exec.advance(Duration::from_secs(5));
    /// let e = it.map(|r| r.unwrap_err()).next().unwrap();
    /// assert!(e.downcast_ref::<rstreams::time::TimedOut>().is_some());
    /// ```
    #[track_caller]
    fn timeout(self, after: Duration, scheduler: impl IntoScheduler) -> Timeout<Self>
    where
        Self: Sized,
    {
        Timeout {
            upstream: self,
            after,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        }
    }

    /// Delivers every item, and the completion or error, `by` later, in order. See [`Delay`].
    #[doc(alias = "delayElements")]
    #[track_caller]
    fn delay(self, by: Duration, scheduler: impl IntoScheduler) -> Delay<Self>
    where
        Self: Sized,
    {
        Delay {
            upstream: self,
            by,
            scheduler: scheduler.into_scheduler(),
            loc: Location::caller(),
        }
    }

    /// Batches of at most `n` items, emitted when full or `d` after their first item. See
    /// [`BufferTimeout`].
    #[doc(alias = "bufferTimeout")]
    #[track_caller]
    fn buffer_timeout(
        self,
        n: usize,
        d: Duration,
        scheduler: impl IntoScheduler,
    ) -> BufferTimeout<Self>
    where
        Self: Sized,
    {
        BufferTimeout {
            upstream: self,
            n,
            d,
            scheduler: scheduler.into_scheduler(),
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
    #[doc(alias = "retryWhen")]
    #[doc(alias = "retryBackoff")]
    #[track_caller]
    fn retry_backoff(
        self,
        retries: u64,
        base: Duration,
        max: Duration,
        scheduler: impl IntoScheduler,
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
                scheduler: scheduler.into_scheduler(),
            },
            loc: Location::caller(),
        }
    }

    // ---- parallel rails, folds and indices (issue 16) ----

    /// Folds the items into an accumulator starting from `seed` (Rust's `Iterator::fold`,
    /// Reactor's `reduce(seed, f)`), and emits it when the upstream completes: the seed itself
    /// for an empty stream. Unlike [`reduce`](Self::reduce), the accumulator may have another
    /// type than the items. Each subscription folds from its own clone of `seed`.
    ///
    /// Demand as for [`reduce`](Self::reduce): `u64::MAX` upstream once the downstream requests
    /// anything. A panic in `f` cancels the upstream and becomes `on_error` naming rule 2.13 and
    /// this call site.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let longest = rstreams::from_iter(["a", "abc", "ab"])
    ///     .fold(0usize, |m, s| m.max(s.len()))
    ///     .blocking_first()
    ///     .unwrap();
    /// assert_eq!(longest, Some(3));
    /// assert_eq!(rstreams::empty::<u8>().fold(7u32, |a, _| a).blocking_first().unwrap(), Some(7));
    /// ```
    #[doc(alias = "reduceWith")]
    #[track_caller]
    fn fold<A, F>(self, seed: A, f: F) -> Fold<Self, A, F>
    where
        Self: Sized,
        A: Clone + Send + 'static,
        F: Fn(A, Self::Item) -> A + Send + Sync + 'static,
    {
        Fold {
            upstream: self,
            seed,
            f: Arc::new(f),
            loc: Location::caller(),
        }
    }

    /// Pairs each item with its index, counted from 0 in each subscription (Rust's
    /// `Iterator::enumerate`, Reactor's `index()`). The index is a `u64`, not `usize`: a stream
    /// may outlive a 32-bit counter. Demand, errors and completion pass through.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::from_iter(["a", "b"]).enumerate().to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![(0, "a"), (1, "b")]));
    /// ```
    #[doc(alias = "index")]
    #[track_caller]
    fn enumerate(self) -> Enumerate<Self>
    where
        Self: Sized,
    {
        Enumerate {
            upstream: self,
            loc: Location::caller(),
        }
    }

    /// Splits the stream over one rail per available core
    /// ([`default_rails`](crate::parallel::default_rails)), each holding at most
    /// [`DEFAULT_RAIL_PREFETCH`](crate::parallel::DEFAULT_RAIL_PREFETCH) items: the default form
    /// of [`parallel_with`](Self::parallel_with). Add [`run_on`](Parallel::run_on) to run the
    /// rails on a scheduler, then join with [`ordered`](Parallel::ordered) or
    /// [`sequential`](Parallel::sequential). See [`crate::parallel`].
    #[doc(alias = "ParallelFlux")]
    #[doc(alias = "ParallelFlowable")]
    #[track_caller]
    fn parallel(self) -> Parallel<Self, Identity>
    where
        Self: Sized,
    {
        Parallel::new(
            self,
            crate::parallel::default_rails(),
            crate::parallel::DEFAULT_RAIL_PREFETCH,
            Location::caller(),
        )
    }

    /// Splits the stream over `rails` rails, each holding at most `prefetch` items (queued, in
    /// work, or done and waiting for the join); at most `rails × prefetch` items are in flight.
    /// `rails = 0` or `prefetch = 0` fails the subscriber with an error naming this site.
    /// See [`Parallel`] and [`crate::parallel`].
    #[track_caller]
    fn parallel_with(self, rails: usize, prefetch: usize) -> Parallel<Self, Identity>
    where
        Self: Sized,
    {
        Parallel::new(self, rails, prefetch, Location::caller())
    }

    /// Maps every item with `f` on `scheduler`, one rail per available core, keeping source order:
    /// `parallel().run_on(scheduler).map(f).ordered()`. A panic in `f` fails the stream (2.13,
    /// this site).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ThreadPool;
    /// use std::sync::Arc;
    /// let pool = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    /// let v = rstreams::range(0, 5).par_map_on(pool, |x| x * x).to_vec().blocking_first();
    /// assert_eq!(v.unwrap(), Some(vec![0, 1, 4, 9, 16]));
    /// ```
    #[track_caller]
    fn par_map_on<U, F>(
        self,
        scheduler: impl IntoScheduler,
        f: F,
    ) -> Joined<Self, RailMap<Identity, F>>
    where
        Self: Sized,
        Self::Item: Send + 'static,
        F: Fn(Self::Item) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        self.parallel().run_on(scheduler).map(f).ordered()
    }

    /// [`par_map_on`](Self::par_map_on) the process-wide
    /// [`default_pool`](rstreams_executor::default_pool): maps every item with `f` in parallel,
    /// one rail per available core, keeping source order. `f` runs on the default pool's workers.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 5).par_map(|x| x * x).to_vec().blocking_first();
    /// assert_eq!(v.unwrap(), Some(vec![0, 1, 4, 9, 16]));
    /// ```
    #[doc(alias = "parallelMap")]
    #[track_caller]
    fn par_map<U, F>(self, f: F) -> Joined<Self, RailMap<Identity, F>>
    where
        Self: Sized,
        Self::Item: Send + 'static,
        F: Fn(Self::Item) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        self.par_map_on(rstreams_executor::default_pool(), f)
    }

    /// [`par_map_on`](Self::par_map_on) on `rails` rails (prefetch
    /// [`DEFAULT_RAIL_PREFETCH`](crate::parallel::DEFAULT_RAIL_PREFETCH) each).
    #[track_caller]
    fn par_map_with<U, F>(
        self,
        rails: usize,
        scheduler: impl IntoScheduler,
        f: F,
    ) -> Joined<Self, RailMap<Identity, F>>
    where
        Self: Sized,
        Self::Item: Send + 'static,
        F: Fn(Self::Item) -> U + Send + Sync + 'static,
        U: Send + 'static,
    {
        self.parallel_with(rails, crate::parallel::DEFAULT_RAIL_PREFETCH)
            .run_on(scheduler)
            .map(f)
            .ordered()
    }

    // ---- Concurrency operators and multicast ----

    /// Maps each item to a publisher and merges their items, with at most `max_concurrency`
    /// inner publishers subscribed at once, each asked for at most `prefetch` items ahead
    /// ([`DEFAULT_INNER_PREFETCH`](crate::flat::DEFAULT_INNER_PREFETCH) is 256). Items are taken
    /// from the inners in turn, a run of at most `prefetch` from each (fair). `max_concurrency = 0`
    /// or `prefetch = 0` fails the subscriber with a clear error. See [`FlatMap`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut v = rstreams::range(1, 3)
    ///     .flat_map_with(|x| rstreams::range(x * 10, 2), 2, 16)
    ///     .to_vec()
    ///     .blocking_first()?
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, vec![10, 11, 20, 21, 30, 31]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[track_caller]
    fn flat_map_with<Q, F>(self, f: F, max_concurrency: usize, prefetch: usize) -> FlatMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        FlatMap {
            upstream: self,
            f: Arc::new(f),
            max_concurrency,
            prefetch,
            name: "flat_map",
            mode: crate::flat::Mode::Merge,
            loc: Location::caller(),
        }
    }

    /// [`flat_map_with`](Self::flat_map_with) with Reactor's `flatMap(f)` defaults: at most
    /// [`DEFAULT_MAX_CONCURRENCY`](crate::flat::DEFAULT_MAX_CONCURRENCY) (256) inners at once,
    /// each asked for [`DEFAULT_FLAT_MAP_PREFETCH`](crate::flat::DEFAULT_FLAT_MAP_PREFETCH) (32)
    /// items ahead.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut v = rstreams::range(1, 2)
    ///     .flat_map(|x| rstreams::range(x * 10, 2))
    ///     .to_vec()
    ///     .blocking_first()?
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, vec![10, 11, 20, 21]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "flatMap")]
    #[track_caller]
    fn flat_map<Q, F>(self, f: F) -> FlatMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        self.flat_map_with(
            f,
            crate::flat::DEFAULT_MAX_CONCURRENCY,
            crate::flat::DEFAULT_FLAT_MAP_PREFETCH,
        )
    }

    /// Maps each item to a publisher and emits their items one publisher after another, in
    /// order (`flat_map` with `max_concurrency = 1`).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(1, 3)
    ///     .concat_map(|x| rstreams::range(x * 10, 2), 16)
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec![10, 11, 20, 21, 30, 31]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "concatMap")]
    #[track_caller]
    fn concat_map<Q, F>(self, f: F, prefetch: usize) -> FlatMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        FlatMap {
            upstream: self,
            f: Arc::new(f),
            max_concurrency: 1,
            prefetch,
            name: "concat_map",
            mode: crate::flat::Mode::Sequential,
            loc: Location::caller(),
        }
    }

    // ---- ordered and switching flat maps (issue 15) ----

    /// Maps each item to a publisher and runs up to `max_concurrency` of them at once (each
    /// asked for `prefetch` items ahead), but emits their items in the order of the upstream
    /// items: all of the first inner's items, then all of the second's, and so on. Later inners
    /// buffer meanwhile.
    ///
    /// Bounds: at most `max_concurrency` inners live and at most `prefetch` items buffered per
    /// inner (`max_concurrency × prefetch` in all); the upstream is asked for one more item each
    /// time the oldest inner has completed and been drained. `max_concurrency = 0` or
    /// `prefetch = 0` fails the subscriber with a clear error. A panic in `f` cancels
    /// everything and becomes `on_error` (rule 2.13) naming this call site. See [`FlatMap`].
    ///
    /// Reactor's `flatMapSequential`, RxJava's `concatMapEager`.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(1, 3)
    ///     .flat_map_sequential(|x| rstreams::range(x * 10, 2), 3, 16)
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec![10, 11, 20, 21, 30, 31]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "flatMapSequential")]
    #[doc(alias = "concatMapEager")]
    #[doc(alias = "concat_map_eager")]
    #[track_caller]
    fn flat_map_sequential<Q, F>(
        self,
        f: F,
        max_concurrency: usize,
        prefetch: usize,
    ) -> FlatMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        FlatMap {
            upstream: self,
            f: Arc::new(f),
            max_concurrency,
            prefetch,
            name: "flat_map_sequential",
            mode: crate::flat::Mode::Sequential,
            loc: Location::caller(),
        }
    }

    /// Maps each item to a publisher and emits the items of the latest one only: a new upstream
    /// item cancels the current inner (its undelivered items are dropped) and subscribes the
    /// next. Completes when the upstream has completed and the last inner has.
    ///
    /// Demand carries over exactly: the current inner is asked for the downstream's outstanding
    /// demand and no more (at most [`SWITCH_MAP_MAX_IN_FLIGHT`](crate::flat::SWITCH_MAP_MAX_IN_FLIGHT)
    /// = 256 in flight, the buffer bound), so a switch never over-delivers. The upstream is asked
    /// for everything at once (its items are never buffered). A panic in `f` cancels everything
    /// and becomes `on_error` (rule 2.13) naming this call site. See [`FlatMap`].
    ///
    /// Reactor's and RxJava's `switchMap`.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// // Synchronous inners complete before the next upstream item arrives, so each is seen
    /// // whole; with asynchronous inners only the latest one's items get through.
    /// let v = rstreams::range(1, 3)
    ///     .switch_map(|x| rstreams::range(x * 10, 2))
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec![10, 11, 20, 21, 30, 31]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "switchMap")]
    #[track_caller]
    fn switch_map<Q, F>(self, f: F) -> FlatMap<Self, F>
    where
        Self: Sized,
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        FlatMap {
            upstream: self,
            f: Arc::new(f),
            max_concurrency: 1,
            prefetch: crate::flat::SWITCH_MAP_MAX_IN_FLIGHT,
            name: "switch_map",
            mode: crate::flat::Mode::Switch,
            loc: Location::caller(),
        }
    }

    /// Merges this publisher with `other`, fairly; see [`merge`](crate::merge()) for `n`
    /// publishers of one type. Neither is boxed (each is a [`MergeInput`](crate::flat::MergeInput)),
    /// so the buffer bill still walks both.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut v = rstreams::range(0, 2).merge_with(rstreams::just(7), 8).to_vec().blocking_first()?.unwrap();
    /// v.sort();
    /// assert_eq!(v, vec![0, 1, 7]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "mergeWith")]
    #[track_caller]
    fn merge_with<Q>(self, other: Q, prefetch: usize) -> Merge<crate::flat::MergeInput<Self, Q>>
    where
        Self: Sized + Send + Sync + 'static,
        Self::Item: Send + 'static,
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        use crate::flat::MergeInput;
        Merge {
            sources: vec![MergeInput::First(self), MergeInput::Second(other)],
            prefetch,
            loc: Location::caller(),
        }
    }

    /// Pairs the `i`-th item of this publisher with the `i`-th of `other`; each side is asked
    /// for at most `prefetch` items ahead ([`DEFAULT_ZIP_PREFETCH`](crate::flat::DEFAULT_ZIP_PREFETCH)
    /// is 256). Completes when either side has ended and nothing is left to pair. See [`Zip`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(0, 3)
    ///     .zip(rstreams::from_iter(vec!["a", "b"]), 16)
    ///     .to_vec()
    ///     .blocking_first()?;
    /// assert_eq!(v, Some(vec![(0, "a"), (1, "b")]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[doc(alias = "zipWith")]
    #[track_caller]
    fn zip<Q>(self, other: Q, prefetch: usize) -> Zip<Self, Q>
    where
        Self: Sized,
        Q: Publisher,
    {
        Zip {
            a: self,
            b: other,
            prefetch,
            loc: Location::caller(),
        }
    }

    /// Subscribes a new [`Multicast`] processor to this publisher now and returns it: every
    /// subscriber of the result gets the items that arrive after it subscribed, each with a
    /// buffer of `capacity` items and the slow-consumer `policy`. Upstream is asked for items
    /// only once some subscriber has demand; it is cancelled when the last subscriber leaves.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::multicast::SlowConsumer;
    /// let hub = rstreams::range(0, 4).multicast(8, SlowConsumer::Hold);
    /// // The first subscriber's demand starts the (here synchronous) upstream.
    /// let first = hub.blocking_iter_with(2);
    /// assert_eq!(first.collect::<Result<Vec<_>, _>>()?, vec![0, 1, 2, 3]);
    /// // The upstream has completed: a late subscriber completes at once.
    /// assert_eq!(hub.clone().to_vec().blocking_first()?, Some(vec![]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    ///
    /// To attach several subscribers before anything flows, build a
    /// [`Multicast::new`](crate::multicast::Multicast::new), subscribe them, then subscribe it
    /// to the upstream.
    #[track_caller]
    fn multicast(self, capacity: usize, policy: SlowConsumer) -> Multicast<Self::Item>
    where
        Self: Sized,
        Self::Item: Clone + Send + 'static,
    {
        let hub = Multicast::build(capacity, policy, true, Location::caller());
        self.subscribe(hub.clone());
        hub
    }

    /// A reference-counted multicast: the first subscriber connects the upstream, later ones
    /// join (seeing items from then on), and when the last one leaves the upstream is
    /// cancelled; the next subscriber connects afresh. Slow subscribers hold the others back
    /// ([`SlowConsumer::Hold`]) with a buffer of `capacity` items each.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let shared = rstreams::range(0, 3).share(16);
    /// assert_eq!(shared.clone().to_vec().blocking_first()?, Some(vec![0, 1, 2]));
    /// // The upstream completed; a new subscriber connects again.
    /// assert_eq!(shared.to_vec().blocking_first()?, Some(vec![0, 1, 2]));
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[track_caller]
    fn share(self, capacity: usize) -> Share<Self>
    where
        Self: Sized,
        Self::Item: Clone + Send + 'static,
    {
        Share {
            upstream: self,
            capacity,
            current: Arc::new(Mutex::new(None)),
            loc: Location::caller(),
        }
    }

    // ---- diagnostics (issue 12) ----

    /// The buffer bill: the most items each stage can hold in flight, read from the stages'
    /// parameters at assembly (nothing is subscribed), in pipeline order (sources first), with
    /// the total. Prints as an aligned table. See [`crate::diag::bill`] for what each operator
    /// counts.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::executor::ManualExecutor;
    /// use std::sync::Arc;
    ///
    /// let pool = Arc::new(ManualExecutor::new());
    /// let pipeline = rstreams::range(0, 1000)
    ///     .map(|x| x * 2)
    ///     .publish_on_with(pool, 256)
    ///     .flat_map_with(|x| rstreams::range(x, 3), 16, 32)
    ///     .buffer(10);
    /// let bill = pipeline.buffer_bill();
    /// assert_eq!(bill.total(), Some(256 + 16 * 32 + 10));
    /// println!("{bill}"); // prints, with your own file and lines:
    /// // stage       site            bound  note
    /// // range       src/main.rs:7       0
    /// // map         src/main.rs:8       0
    /// // publish_on  src/main.rs:9     256  ring of prefetch
    /// // flat_map    src/main.rs:10    512  16 inner(s) x prefetch 32; inner stages not included
    /// // buffer      src/main.rs:11     10  one batch
    /// // total: 778 items
    /// ```
    fn buffer_bill(&self) -> crate::diag::bill::Bill
    where
        Self: crate::diag::bill::BufferBill,
    {
        crate::diag::bill::Bill::of(self)
    }

    /// Checks the [buffer bill](Self::buffer_bill) against `budget` items, at assembly. Fails
    /// when the total exceeds it or some stage is unbounded or unknown, with an error (kind
    /// [`ErrorKind::User`](crate::ErrorKind::User): a configuration choice, not a protocol
    /// violation) wrapping [`BudgetExceeded`](crate::diag::bill::BudgetExceeded), which names
    /// the stages that break the budget (site and bound) and the total; the error's
    /// [`stage`](Error::stage) is this call's site.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::diag::bill::BudgetExceeded;
    ///
    /// let p = rstreams::range(0, 10).buffer(100);
    /// assert!(p.check_buffer_budget(100).is_ok());
    /// let e = p.check_buffer_budget(64).unwrap_err();
    /// assert_eq!(e.downcast_ref::<BudgetExceeded>().unwrap().budget(), 64);
    /// assert!(e.to_string().contains("buffer at "));
    /// ```
    #[track_caller]
    fn check_buffer_budget(&self, budget: u64) -> Result<(), Error>
    where
        Self: crate::diag::bill::BufferBill,
    {
        crate::diag::bill::check(self, budget, Location::caller())
    }

    /// This publisher, checked now against a budget of `budget` items (as
    /// [`check_buffer_budget`](Self::check_buffer_budget)). Over budget, every subscriber is
    /// rejected: `on_subscribe`, then `on_error` with the [`BudgetExceeded`](crate::diag::bill::BudgetExceeded)
    /// error; the upstream is never subscribed. Never panics.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let over = rstreams::range(0, 10).on_backpressure_buffer_unbounded().with_buffer_budget(1000);
    /// let e = over.blocking_first().unwrap_err();
    /// assert!(e.to_string().contains("on_backpressure_buffer_unbounded"));
    /// ```
    #[track_caller]
    fn with_buffer_budget(self, budget: u64) -> crate::diag::bill::Budgeted<Self>
    where
        Self: Sized + crate::diag::bill::BufferBill,
    {
        crate::diag::bill::Budgeted::new(self, budget, Location::caller())
    }

    /// Erases the publisher's type like [`boxed`](Publisher::boxed), keeping its
    /// [buffer bill](Self::buffer_bill) (a plain [`BoxPublisher`](rstreams_protocol::BoxPublisher) cannot be walked: its row is
    /// `unknown`).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let a = rstreams::range(0, 3).publish_on_with(std::sync::Arc::new(rstreams::executor::ManualExecutor::new()), 8);
    /// let merged = rstreams::merge(vec![a.boxed_billed(), rstreams::just(9).boxed_billed()], 4);
    /// assert_eq!(merged.buffer_bill().total(), Some(8 + 2 * 4));
    /// ```
    fn boxed_billed(self) -> crate::diag::bill::BilledBox<Self::Item>
    where
        Self: Sized + Send + Sync + 'static + crate::diag::bill::BufferBill,
        Self::Item: 'static,
    {
        crate::diag::bill::BilledBox::new(self)
    }

    /// States the buffer bill of this publisher (and everything upstream of it) as one row
    /// named `name` holding at most `bound` items: for a user publisher, or a [`BoxPublisher`](rstreams_protocol::BoxPublisher)
    /// received from elsewhere, that cannot be walked. Items pass through unchanged.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::diag::bill::Bound;
    /// let p = rstreams::range(0, 3).boxed().declare_buffer("vendor feed", Bound::Bounded(64));
    /// assert_eq!(p.buffer(8).buffer_bill().total(), Some(64 + 8));
    /// ```
    #[track_caller]
    fn declare_buffer(
        self,
        name: &'static str,
        bound: crate::diag::bill::Bound,
    ) -> crate::diag::bill::Declared<Self>
    where
        Self: Sized,
    {
        crate::diag::bill::Declared {
            upstream: self,
            name,
            bound,
            loc: Location::caller(),
        }
    }

    // ---- run-time diagnostics (issue 12) ----

    /// A metered edge: passes every signal through unchanged and counts, in `registry`, what
    /// crosses it under `name` — demand requested, items delivered, cancel, error, completion,
    /// and whether the downstream's `on_next` is running (see [`diag::metrics`](crate::diag::metrics)).
    /// Read it with [`Registry::snapshot`](crate::diag::Registry::snapshot); find stalls with
    /// [`Registry::diagnose`](crate::diag::Registry::diagnose) or a
    /// [`StallDoctor`](crate::diag::StallDoctor).
    ///
    /// Costs two plain stores per item (nothing per item when fused); nothing at all when the
    /// registry is disabled (then the subscriber is passed straight upstream). Over
    /// `range`/`from_iter` (and `map`/`filter` over them) the chain stays fused.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams::diag::Registry;
    ///
    /// let registry = Registry::new();
    /// let sum: u64 = rstreams::range(1, 3) // 1, 2, 3
    ///     .metered(&registry, "input")
    ///     .reduce(|a, b| a + b)
    ///     .blocking_first()
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(sum, 6);
    /// assert_eq!(registry.snapshot().edge("input").unwrap().delivered, 3);
    /// ```
    #[track_caller]
    fn metered(self, registry: &crate::diag::Registry, name: &str) -> crate::diag::Metered<Self>
    where
        Self: Sized,
    {
        crate::diag::Metered {
            upstream: self,
            registry: registry.clone(),
            name: Arc::from(name),
            loc: Location::caller(),
        }
    }

    // ---- async bridges (issue 11) ----

    /// A `futures` [`Stream`](futures_core::Stream) of this publisher's items (feature
    /// `futures`): requests `prefetch` up front and replenishes at 75% as items are polled;
    /// wakes the polling task when an item or the end arrives; dropping it cancels. See
    /// [`PublisherStream`](crate::bridge::PublisherStream).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use futures_util::StreamExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut items = rstreams::range(0, 3).map(|x| x * 10).into_stream(16);
    /// let mut got = Vec::new();
    /// while let Some(item) = items.next().await {
    ///     got.push(item?);
    /// }
    /// assert_eq!(got, vec![0, 10, 20]);
    /// # Ok::<(), rstreams::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "futures")]
    #[track_caller]
    fn into_stream(self, prefetch: usize) -> crate::bridge::PublisherStream<Self::Item>
    where
        Self: Sized,
        Self::Item: Send + 'static,
    {
        let (subscriber, stream) = crate::bridge::stream_pair(prefetch, Location::caller());
        if prefetch > 0 {
            self.subscribe(subscriber);
        }
        stream
    }

    /// The first item (or `None` if the publisher completes empty) as a future (feature
    /// `futures`); requests one item and cancels after it. Subscribes now; see
    /// [`AsyncResult`](crate::bridge::AsyncResult).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(rstreams::range(5, 100).first_async().await?, Some(5));
    /// # Ok::<(), rstreams::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "futures")]
    #[track_caller]
    fn first_async(&self) -> crate::bridge::AsyncResult<Option<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        crate::bridge::first_async(self, Location::caller())
    }

    /// The last item (or `None`) as a future (feature `futures`). Requests everything.
    #[cfg(feature = "futures")]
    #[track_caller]
    fn last_async(&self) -> crate::bridge::AsyncResult<Option<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        crate::bridge::last_async(self, Location::caller())
    }

    /// Every item, in a `Vec`, as a future (feature `futures`). Requests everything: use it on
    /// streams you know to be finite and small.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// assert_eq!(rstreams::range(0, 4).collect_async().await?, vec![0, 1, 2, 3]);
    /// # Ok::<(), rstreams::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "futures")]
    #[track_caller]
    fn collect_async(&self) -> crate::bridge::AsyncResult<Vec<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        crate::bridge::collect_async(self, Location::caller())
    }

    /// Drives a `futures` [`Sink`](futures_sink::Sink) (feature `futures`): requests one item
    /// each time the sink's `poll_ready` says it has room, closes the sink when the publisher
    /// completes, and resolves to the first error (the sink's, or the publisher's). Await or
    /// spawn the returned [`SinkForward`](crate::bridge::SinkForward); dropping it cancels.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut out: Vec<u64> = Vec::new();
    /// // `Vec<T>` is a `Sink<T>` in futures-util (it is always ready).
    /// rstreams::range(0, 3).forward_to_sink(&mut out).await?;
    /// assert_eq!(out, vec![0, 1, 2]);
    /// # Ok::<(), rstreams::Error>(())
    /// # }).unwrap();
    /// ```
    #[cfg(feature = "futures")]
    #[track_caller]
    fn forward_to_sink<K>(&self, sink: K) -> crate::bridge::SinkForward<Self::Item, K>
    where
        Self::Item: Send + 'static,
        K: futures_sink::Sink<Self::Item>,
    {
        crate::bridge::forward_to_sink(self, sink, Location::caller())
    }
}

impl<P: Publisher + ?Sized> PublisherExt for P {}
