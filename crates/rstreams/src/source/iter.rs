use std::iter::Peekable;
use std::panic::Location;

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, Source, Step};
pub use rstreams_protocol::reference::RangeSource;
use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

use crate::sink::BlockingIter;
use crate::source::fuse::{self, SyncSource};
use crate::stage::{Loc, reject};

/// A [`Source`] over any iterator, with eager completion (`on_complete` follows the last item
/// without waiting for more demand).
pub struct IterSource<I: Iterator>(pub(crate) Peekable<I>);

impl<I: Iterator> std::fmt::Debug for IterSource<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IterSource").finish_non_exhaustive()
    }
}

impl<I> Source for IterSource<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;

    fn stage_name(&self) -> &'static str {
        "from_iter"
    }
    #[inline]
    fn pull(&mut self) -> Step<I::Item> {
        match self.0.next() {
            Some(item) => Step::Next(item),
            None => Step::Complete,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        self.0.peek().is_none()
    }
}

/// The publisher made by [`from_iter`].
#[derive(Clone, Debug)]
pub struct FromIter<I> {
    iterable: I,
    loc: Loc,
}

/// Emits the items of `iterable`, then completes. Each subscriber iterates its own clone, so the
/// publisher can be subscribed any number of times. For an iterator that cannot be cloned, use
/// [`from_iter_once`].
///
/// Demand: one `next()` per unit of demand; the iterator is peeked once when demand runs out so
/// that `on_complete` follows the last item at once.
///
/// ```
/// use rstreams::prelude::*;
/// let v = rstreams::from_iter(vec![1, 2, 3]).to_vec().blocking_first();
/// assert_eq!(v.unwrap(), Some(vec![1, 2, 3]));
/// ```
#[track_caller]
pub fn from_iter<I>(iterable: I) -> FromIter<I>
where
    I: IntoIterator + Clone,
{
    FromIter {
        iterable,
        loc: Location::caller(),
    }
}

impl<I> Publisher for FromIter<I>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;
    fn subscribe<S: Subscriber<I::Item> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }
}

impl<I> SyncSource for FromIter<I>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send,
{
    type Source = IterSource<I::IntoIter>;
    fn open(&self) -> Result<Self::Source, Error> {
        Ok(IterSource(self.iterable.clone().into_iter().peekable()))
    }
    fn source_stage(&self) -> Loc {
        self.loc
    }
}

impl<I> FromIter<I>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send + 'static,
{
    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused: the
    /// iterator pulls the source itself on the iterating thread (see [`SyncSource`]).
    #[track_caller]
    pub fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<I::Item> {
        fuse::blocking_iter_fused(self, prefetch, Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) with
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items.
    #[track_caller]
    pub fn blocking_iter(&self) -> BlockingIter<I::Item> {
        self.blocking_iter_with(crate::sink::DEFAULT_BLOCKING_PREFETCH)
    }
}

/// The publisher made by [`from_iter_once`].
pub struct FromIterOnce<I> {
    iter: Mutex<Option<I>>,
    loc: Loc,
}

impl<I> std::fmt::Debug for FromIterOnce<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FromIterOnce")
            .field("used", &self.iter.lock().is_none())
            .finish()
    }
}

/// Emits the items of an iterator that cannot be cloned (a `Drain`, a file's lines, a channel's
/// receiver). Single-use, like Reactor's `fromStream`: the first subscriber gets the items; every
/// later subscriber gets `on_subscribe` then `on_error` with an error whose
/// [`rule`](Error::rule) is 1.11 (a publisher may refuse further subscribers) and whose message
/// says the iterator was already consumed.
///
/// ```
/// use rstreams::prelude::*;
/// let lines = "a\nb".lines().map(str::to_owned);
/// let p = rstreams::from_iter_once(lines);
/// assert_eq!(p.blocking_last().unwrap(), Some("b".to_owned()));
/// let again = p.blocking_last().unwrap_err();
/// assert_eq!(again.rule(), Some(rstreams::Rule::R1_11));
/// ```
#[track_caller]
pub fn from_iter_once<I>(iterable: I) -> FromIterOnce<I::IntoIter>
where
    I: IntoIterator,
{
    FromIterOnce {
        iter: Mutex::new(Some(iterable.into_iter())),
        loc: Location::caller(),
    }
}

impl<I> Publisher for FromIterOnce<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;
    fn subscribe<S: Subscriber<I::Item> + Send + 'static>(&self, subscriber: S) {
        let taken = self.iter.lock().take();
        match taken {
            Some(iter) => {
                pull::serve(IterSource(iter.peekable()).at(self.loc), subscriber);
            }
            None => reject(
                subscriber,
                Error::violation(
                    Rule::R1_11,
                    "from_iter_once is single-use: its iterator was already consumed by an \
                     earlier subscriber",
                )
                .at_stage(self.loc),
            ),
        }
    }
}

/// The publisher made by [`range`].
#[derive(Clone, Copy, Debug)]
pub struct Range {
    start: u64,
    count: u64,
    loc: Loc,
}

/// Emits `count` consecutive numbers from `start`. If `start + count` would overflow `u64`, the
/// stream fails (never panics) with an error carrying a
/// [`RangeOverflow`](rstreams_protocol::reference::RangeOverflow) and naming the stage. The same
/// implementation as the protocol crate's
/// [`RangePublisher`](rstreams_protocol::reference::RangePublisher), fused for synchronous
/// chains (see [`SyncSource`]).
///
/// ```
/// use rstreams::prelude::*;
/// assert_eq!(rstreams::range(5, 3).to_vec().blocking_first().unwrap(), Some(vec![5, 6, 7]));
/// ```
#[track_caller]
pub fn range(start: u64, count: u64) -> Range {
    Range {
        start,
        count,
        loc: Location::caller(),
    }
}

impl Publisher for Range {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        fuse::subscribe_fused(self, subscriber);
    }
}

impl SyncSource for Range {
    type Source = RangeSource;
    fn open(&self) -> Result<RangeSource, Error> {
        RangeSource::new(self.start, self.count).map_err(|e| Error::new(e).at_stage(self.loc))
    }
    fn source_stage(&self) -> Loc {
        self.loc
    }
}

impl Range {
    /// [`PublisherExt::blocking_iter_with`](crate::PublisherExt::blocking_iter_with), fused: the
    /// iterator pulls the range itself, `prefetch` items at a time, on the iterating thread
    /// (see [`SyncSource`]). Same items, errors and end as the subscribing version.
    ///
    /// ```
    /// let v: Result<Vec<u64>, _> = rstreams::range(0, 5).blocking_iter_with(2).collect();
    /// assert_eq!(v.unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    #[track_caller]
    pub fn blocking_iter_with(&self, prefetch: usize) -> BlockingIter<u64> {
        fuse::blocking_iter_fused(self, prefetch, Location::caller())
    }

    /// [`blocking_iter_with`](Self::blocking_iter_with) with
    /// [`DEFAULT_BLOCKING_PREFETCH`](crate::sink::DEFAULT_BLOCKING_PREFETCH) items.
    #[track_caller]
    pub fn blocking_iter(&self) -> BlockingIter<u64> {
        self.blocking_iter_with(crate::sink::DEFAULT_BLOCKING_PREFETCH)
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(FromIter<I> => "from_iter");

crate::diag::bill::leaf_bill!(FromIterOnce<I> => "from_iter_once");

crate::diag::bill::leaf_bill!(Range => "range");
