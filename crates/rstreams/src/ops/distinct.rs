//! `distinct_by(key, max_keys)` and `distinct_until_changed(_by)`: dropping stages built on
//! `filter`'s [`DropSubscriber`] (dropped items are asked for again in batches, see
//! [`replenish`](crate::ops::replenish)).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber};

use crate::ops::filter::{Decide, DropSubscriber};
use crate::stage::{Loc, reject};

/// The publisher made by [`PublisherExt::distinct_by`](crate::PublisherExt::distinct_by):
/// passes an item only if its key was not seen among the last `max_keys` distinct keys.
///
/// Memory: at most `max_keys` keys per subscription (a `HashSet` plus their arrival order).
/// **At the bound**, the oldest remembered key is forgotten to make room, so an item whose key
/// was seen long ago (more than `max_keys` distinct keys back) passes again. With `max_keys`
/// at least the number of distinct keys the stream can have, this is exactly Reactor's
/// `distinct(keySelector)`; Reactor's default remembers every key without bound, which is what
/// `usize::MAX` gives (then memory grows with the number of distinct keys, by the caller's
/// choice). `max_keys = 0` fails the subscriber with an error (nothing could be remembered).
///
/// Demand: an item dropped as a duplicate is asked for again, in batches. A panic in `key`
/// fails the stream with rule 2.13 and this stage's location.
#[derive(Debug)]
pub struct DistinctBy<P, F> {
    pub(crate) upstream: P,
    pub(crate) key: Arc<F>,
    pub(crate) max_keys: usize,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for DistinctBy<P, F> {
    fn clone(&self) -> Self {
        DistinctBy {
            upstream: self.upstream.clone(),
            key: Arc::clone(&self.key),
            max_keys: self.max_keys,
            loc: self.loc,
        }
    }
}

struct Seen<F, K> {
    key: Arc<F>,
    set: HashSet<K>,
    order: VecDeque<K>,
    max: usize,
}

impl<T, K, F> Decide<T> for Seen<F, K>
where
    F: Fn(&T) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + 'static,
{
    type Out = T;
    fn decide(&mut self, item: T) -> Option<T> {
        let k = (self.key)(&item);
        if self.set.contains(&k) {
            return None;
        }
        if self.set.len() >= self.max
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(k.clone());
        self.set.insert(k);
        Some(item)
    }
}

impl<P, F, K> Publisher for DistinctBy<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(&P::Item) -> K + Send + Sync + 'static,
    K: Hash + Eq + Clone + Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        if self.max_keys == 0 {
            let e =
                Error::msg("distinct_by: max_keys must be at least 1, got 0").at_stage(self.loc);
            reject(subscriber, e);
            return;
        }
        let decide = Seen {
            key: Arc::clone(&self.key),
            set: HashSet::new(),
            order: VecDeque::new(),
            max: self.max_keys,
        };
        self.upstream.subscribe(DropSubscriber::new(
            subscriber,
            decide,
            "distinct_by",
            self.loc,
        ));
    }
}

/// The publisher made by
/// [`PublisherExt::distinct_until_changed_by`](crate::PublisherExt::distinct_until_changed_by)
/// (and, with the item as its own key,
/// [`distinct_until_changed`](crate::PublisherExt::distinct_until_changed)): drops an item
/// whose key equals the previous item's key.
///
/// Memory: one key. Demand: dropped items are asked for again, in batches. A panic in `key`
/// fails the stream with rule 2.13 and this stage's location.
#[derive(Debug)]
pub struct DistinctUntilChanged<P, F> {
    pub(crate) upstream: P,
    pub(crate) key: Arc<F>,
    pub(crate) loc: Loc,
}

impl<P: Clone, F> Clone for DistinctUntilChanged<P, F> {
    fn clone(&self) -> Self {
        DistinctUntilChanged {
            upstream: self.upstream.clone(),
            key: Arc::clone(&self.key),
            loc: self.loc,
        }
    }
}

/// The key function of `distinct_until_changed`: the item's own clone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Itself;

/// How [`DistinctUntilChanged`] computes a key.
pub trait KeyOf<T>: Send + Sync + 'static {
    /// The key.
    type Key: PartialEq + Send + 'static;
    /// The key of `item`.
    fn key_of(&self, item: &T) -> Self::Key;
}

impl<T: Clone + PartialEq + Send + 'static> KeyOf<T> for Itself {
    type Key = T;
    fn key_of(&self, item: &T) -> T {
        item.clone()
    }
}

/// A closure as a [`KeyOf`].
#[derive(Debug)]
pub struct KeyFn<F>(pub(crate) F);

impl<T, K, F> KeyOf<T> for KeyFn<F>
where
    F: Fn(&T) -> K + Send + Sync + 'static,
    K: PartialEq + Send + 'static,
{
    type Key = K;
    fn key_of(&self, item: &T) -> K {
        (self.0)(item)
    }
}

struct Last<F, K> {
    key: Arc<F>,
    last: Option<K>,
}

impl<T, F> Decide<T> for Last<F, F::Key>
where
    F: KeyOf<T>,
{
    type Out = T;
    fn decide(&mut self, item: T) -> Option<T> {
        let k = self.key.key_of(&item);
        if self.last.as_ref() == Some(&k) {
            return None;
        }
        self.last = Some(k);
        Some(item)
    }
}

impl<P, F> Publisher for DistinctUntilChanged<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: KeyOf<P::Item>,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let decide = Last {
            key: Arc::clone(&self.key),
            last: None,
        };
        self.upstream.subscribe(DropSubscriber::new(
            subscriber,
            decide,
            "distinct_until_changed",
            self.loc,
        ));
    }
}
