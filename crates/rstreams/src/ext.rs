//! [`PublisherExt`]: every operator and sink as a method on any [`Publisher`].

use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::{Error, Publisher};

use crate::ops::*;
use crate::sink::{self, BlockingIter, Cancellable, Consumer};

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
pub trait PublisherExt: Publisher {
    /// Transforms each item. Demand passes through unchanged (the downstream's subscription is
    /// the upstream's own).
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v = rstreams::range(1, 3).map(|x| x * 10).to_vec().blocking_first().unwrap();
    /// assert_eq!(v, Some(vec![10, 20, 30]));
    /// ```
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
    /// ```
    /// use rstreams::prelude::*;
    /// let mut total = 0;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// rstreams::range(1, 3).for_each(move |x| tx.send(x).unwrap()).unwrap();
    /// for x in rx { total += x; }
    /// assert_eq!(total, 6);
    /// ```
    #[track_caller]
    fn for_each<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnMut(Self::Item) + Send + 'static,
        Self::Item: 'static,
    {
        sink::for_each(self, f, Location::caller())
    }

    /// A blocking iterator with at most `prefetch` items buffered, replenished at 75%. See
    /// [`BlockingIter`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let v: Result<Vec<u64>, _> = rstreams::range(0, 5).blocking_iter(2).collect();
    /// assert_eq!(v.unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    #[track_caller]
    fn blocking_iter(&self, prefetch: usize) -> BlockingIter<Self::Item>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_iter(self, prefetch, Location::caller())
    }

    /// The first item (`None` if the stream completes empty), blocking. Requests 1 and cancels
    /// after it.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// assert_eq!(rstreams::range(10, u64::MAX - 10).blocking_first().unwrap(), Some(10));
    /// assert_eq!(rstreams::empty::<u8>().blocking_first().unwrap(), None);
    /// ```
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
    #[track_caller]
    fn blocking_last(&self) -> Result<Option<Self::Item>, Error>
    where
        Self::Item: Send + 'static,
    {
        sink::blocking_last(self, Location::caller())
    }
}

impl<P: Publisher + ?Sized> PublisherExt for P {}
