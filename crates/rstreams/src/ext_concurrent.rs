//! [`ConcurrentExt`]: concurrency operators and multicast on any [`Publisher`].

use std::panic::Location;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::{BoxPublisher, Publisher};

use crate::flat::{FlatMap, Merge, Zip};
use crate::multicast::{Multicast, Share, SlowConsumer};

/// Concurrency operators (`flat_map`, `concat_map`, `merge_with`, `zip`) and multicast
/// (`multicast`, `share`) for every [`Publisher`] (blanket-implemented).
///
/// Their inputs may signal from different threads at once: each input has its own bounded queue
/// (sized by its prefetch) and downstream signals are serialised by the protocol crate's
/// `SerialDrain`, so the downstream sees one signal at a time and never more than it asked for.
/// A downstream cancel cancels every live input and drops what was buffered.
pub trait ConcurrentExt: Publisher {
    /// Maps each item to a publisher and merges their items, with at most `max_concurrency`
    /// inner publishers subscribed at once, each asked for at most `prefetch` items ahead
    /// ([`DEFAULT_INNER_PREFETCH`](crate::flat::DEFAULT_INNER_PREFETCH) is 256). Items are taken
    /// from the inners round-robin (fair). `max_concurrency = 0` or `prefetch = 0` fails the
    /// subscriber with a clear error. See [`FlatMap`].
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut v = rstreams::range(1, 3)
    ///     .flat_map(|x| rstreams::range(x * 10, 2), 2, 16)
    ///     .to_vec()
    ///     .blocking_first()?
    ///     .unwrap();
    /// v.sort();
    /// assert_eq!(v, vec![10, 11, 20, 21, 30, 31]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[track_caller]
    fn flat_map<Q, F>(self, f: F, max_concurrency: usize, prefetch: usize) -> FlatMap<Self, F>
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
            loc: Location::caller(),
        }
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
            loc: Location::caller(),
        }
    }

    /// Merges this publisher with `other`, fairly; see [`merge`](crate::merge()) for `n`
    /// publishers of one type. Both are boxed.
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// let mut v = rstreams::range(0, 2).merge_with(rstreams::just(7), 8).to_vec().blocking_first()?.unwrap();
    /// v.sort();
    /// assert_eq!(v, vec![0, 1, 7]);
    /// # Ok::<(), rstreams::Error>(())
    /// ```
    #[track_caller]
    fn merge_with<Q>(self, other: Q, prefetch: usize) -> Merge<BoxPublisher<Self::Item>>
    where
        Self: Sized + Send + Sync + 'static,
        Self::Item: Send + 'static,
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        Merge {
            sources: vec![self.boxed(), other.boxed()],
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
    /// let first = hub.blocking_iter(2);
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
}

impl<P: Publisher> ConcurrentExt for P {}
