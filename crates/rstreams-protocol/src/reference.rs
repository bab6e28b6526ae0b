//! Two reference publishers built with the [`pull`] kit.
//!
//! Both are synchronous: items are emitted from inside `request`, on the requesting thread. They
//! are the TCK's helper publishers and the model for the custom-publisher guide.

use std::panic::Location;

use crate::pull::{self, Source, Step};
use crate::{Publisher, Subscriber};

/// Emits `count` consecutive numbers starting at `start`, then completes. This is the one range
/// implementation of the project: `rstreams::range` runs the same [`RangeSource`].
///
/// If `start + count` overflows `u64`, nothing panics: each subscriber receives `on_subscribe`
/// and then `on_error` carrying a [`RangeOverflow`] (downcast it with
/// [`Error::downcast_ref`](crate::Error::downcast_ref)) at the stage where the range was built.
///
/// ```
/// use rstreams_protocol::{Publisher, reference::RangePublisher};
/// # use rstreams_protocol::{Error, Subscriber, Subscription};
/// # use std::sync::{Arc, Mutex};
/// # struct Collect(Arc<Mutex<Vec<u64>>>);
/// # impl Subscriber<u64> for Collect {
/// #     fn on_subscribe(&mut self, s: Box<dyn Subscription>) { s.request(u64::MAX) }
/// #     fn on_next(&mut self, x: u64) { self.0.lock().unwrap().push(x) }
/// #     fn on_error(&mut self, _: Error) {}
/// #     fn on_complete(&mut self) {}
/// # }
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// RangePublisher::new(5, 3).subscribe(Collect(seen.clone()));
/// assert_eq!(*seen.lock().unwrap(), vec![5, 6, 7]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RangePublisher {
    start: u64,
    count: u64,
    stage: &'static Location<'static>,
}

impl RangePublisher {
    /// `count` numbers from `start`. Never panics: an overflowing range fails each subscriber
    /// with a [`RangeOverflow`] instead.
    #[track_caller]
    pub fn new(start: u64, count: u64) -> Self {
        Self {
            start,
            count,
            stage: Location::caller(),
        }
    }
}

/// The error of a range whose `start + count` does not fit in `u64`.
///
/// ```
/// use rstreams_protocol::reference::{RangeOverflow, RangeSource};
/// let e = RangeSource::new(u64::MAX, 2).unwrap_err();
/// assert_eq!(e, RangeOverflow { start: u64::MAX, count: 2 });
/// assert_eq!(e.to_string(), format!("range({}, 2): start + count overflows u64", u64::MAX));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeOverflow {
    /// The first number asked for.
    pub start: u64,
    /// How many numbers were asked for.
    pub count: u64,
}

impl std::fmt::Display for RangeOverflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "range({}, {}): start + count overflows u64",
            self.start, self.count
        )
    }
}

impl std::error::Error for RangeOverflow {}

/// The [`Source`] of a range: the numbers `start..start + count`, with a counted-loop
/// [`pull_many`](Source::pull_many) and eager completion.
#[derive(Debug)]
pub struct RangeSource {
    next: u64,
    end: u64,
}

impl RangeSource {
    /// The numbers `start..start + count`.
    ///
    /// # Errors
    ///
    /// [`RangeOverflow`] if `start + count` overflows `u64`.
    pub fn new(start: u64, count: u64) -> Result<Self, RangeOverflow> {
        match start.checked_add(count) {
            Some(end) => Ok(RangeSource { next: start, end }),
            None => Err(RangeOverflow { start, count }),
        }
    }
}

impl Source for RangeSource {
    type Item = u64;

    fn stage_name(&self) -> &'static str {
        "range"
    }

    #[inline]
    fn pull(&mut self) -> Step<u64> {
        if self.next == self.end {
            return Step::Complete;
        }
        let item = self.next;
        self.next += 1;
        Step::Next(item)
    }

    fn is_exhausted(&mut self) -> bool {
        self.next == self.end
    }

    // A counted loop with no per-item end check: the batch is clamped to what is left.
    #[inline]
    fn pull_many<F>(&mut self, limit: u64, mut emit: F) -> (u64, Option<Step<u64>>)
    where
        F: FnMut(u64) -> bool,
    {
        let start = self.next;
        let stop = start + limit.min(self.end - start);
        // A local cursor stays in a register; if `emit` unwinds, the subscription ends and the
        // stale `self.next` is never read again.
        let mut next = start;
        while next != stop {
            let item = next;
            next += 1;
            if !emit(item) {
                self.next = next;
                return (next - start, None);
            }
        }
        self.next = next;
        let end = (next == self.end).then_some(Step::Complete);
        (stop - start, end)
    }
}

/// A source that fails at once (eagerly, without waiting for demand).
struct Failed(Option<crate::Error>);

impl Source for Failed {
    type Item = u64;

    fn stage_name(&self) -> &'static str {
        "error"
    }

    fn pull(&mut self) -> Step<u64> {
        self.0.take().map_or(Step::Complete, Step::Error)
    }

    fn is_exhausted(&mut self) -> bool {
        true
    }
}

impl Publisher for RangePublisher {
    type Item = u64;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<u64> + Send + 'static,
    {
        match RangeSource::new(self.start, self.count) {
            Ok(source) => {
                pull::serve(source.at(self.stage), subscriber);
            }
            Err(overflow) => {
                let error = crate::Error::new(overflow).at_stage(self.stage);
                pull::serve(Failed(Some(error)).at(self.stage), subscriber);
            }
        }
    }
}

/// Emits the items of an iterable, re-iterating it for each subscriber, then completes.
///
/// Completion is eager: the next item is looked at once demand is used up, so a subscriber that
/// requested exactly the number of items receives `on_complete` without asking again.
#[derive(Clone, Debug)]
pub struct IterPublisher<I> {
    iterable: I,
    stage: &'static Location<'static>,
}

impl<I> IterPublisher<I>
where
    I: IntoIterator + Clone,
{
    /// A publisher over `iterable`; each subscriber gets its own `iterable.clone().into_iter()`.
    #[track_caller]
    pub fn new(iterable: I) -> Self {
        Self {
            iterable,
            stage: Location::caller(),
        }
    }
}

struct IterSource<It: Iterator> {
    iter: std::iter::Peekable<It>,
}

impl<It> Source for IterSource<It>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
{
    type Item = It::Item;

    fn stage_name(&self) -> &'static str {
        "from_iter"
    }

    #[inline]
    fn pull(&mut self) -> Step<It::Item> {
        match self.iter.next() {
            Some(item) => Step::Next(item),
            None => Step::Complete,
        }
    }

    fn is_exhausted(&mut self) -> bool {
        self.iter.peek().is_none()
    }
}

impl<I> Publisher for IterPublisher<I>
where
    I: IntoIterator + Clone,
    I::IntoIter: Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<I::Item> + Send + 'static,
    {
        let source = IterSource {
            iter: self.iterable.clone().into_iter().peekable(),
        };
        pull::serve(source.at(self.stage), subscriber);
    }
}
