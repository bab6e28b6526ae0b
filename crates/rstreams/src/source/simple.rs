use std::panic::Location;

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber};

use crate::stage::Loc;

/// A source that ends at once with the given step (completion or error), without demand.
struct EndSource<T>(Option<Step<T>>);

impl<T: Send + 'static> Source for EndSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "empty"
    }
    fn pull(&mut self) -> Step<T> {
        self.0.take().unwrap_or(Step::Complete)
    }
    fn is_exhausted(&mut self) -> bool {
        true
    }
}

/// The publisher made by [`just`].
#[derive(Clone, Debug)]
pub struct Just<T> {
    item: T,
    /// `T::clone`, recorded where `T: Clone` is known, so that `flat_map`/`merge` can take the
    /// value of a `Just` they only know as a generic publisher (their scalar fast path).
    clone: fn(&T) -> T,
    loc: Loc,
}

impl<T> Just<T> {
    /// A copy of the value, as each subscriber would receive it (for the scalar fast path of
    /// `flat_map`/`merge`, which recognise a `Just` by type).
    pub(crate) fn scalar(&self) -> T {
        (self.clone)(&self.item)
    }
}

/// Emits one item (a clone for each subscriber) once it is requested, then completes.
///
/// ```
/// use rstreams::prelude::*;
/// assert_eq!(rstreams::just("hi").blocking_first().unwrap(), Some("hi"));
/// ```
#[track_caller]
pub fn just<T: Clone + Send + Sync + 'static>(item: T) -> Just<T> {
    Just {
        item,
        clone: T::clone,
        loc: Location::caller(),
    }
}

pub(super) struct JustSource<T>(pub(super) Option<T>);

impl<T: Send + 'static> Source for JustSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "just"
    }
    fn pull(&mut self) -> Step<T> {
        match self.0.take() {
            Some(item) => Step::Next(item),
            None => Step::Complete,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        self.0.is_none()
    }
}

impl<T: Clone + Send + Sync + 'static> Publisher for Just<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        pull::serve(JustSource(Some(self.item.clone())).at(self.loc), subscriber);
    }
}

/// The publisher made by [`empty`].
#[derive(Debug)]
pub struct Empty<T> {
    loc: Loc,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Empty<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Empty<T> {}

/// Completes at once, without waiting for demand (rule 2.9).
///
/// ```
/// use rstreams::prelude::*;
/// assert_eq!(rstreams::empty::<u8>().blocking_first().unwrap(), None);
/// ```
#[track_caller]
pub fn empty<T>() -> Empty<T> {
    Empty {
        loc: Location::caller(),
        _item: std::marker::PhantomData,
    }
}

impl<T: Send + 'static> Publisher for Empty<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        pull::serve(
            EndSource::<T>(Some(Step::Complete)).at(self.loc),
            subscriber,
        );
    }
}

/// The publisher made by [`error`].
#[derive(Debug)]
pub struct Fail<T> {
    error: Error,
    loc: Loc,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Fail<T> {
    fn clone(&self) -> Self {
        Fail {
            error: self.error.clone(),
            loc: self.loc,
            _item: std::marker::PhantomData,
        }
    }
}

/// Fails at once with `error` (a clone for each subscriber), without waiting for demand (2.10).
///
/// ```
/// use rstreams::prelude::*;
/// let e = rstreams::error::<u8>(rstreams::Error::msg("no")).blocking_first().unwrap_err();
/// assert!(e.to_string().starts_with("no"));
/// ```
#[track_caller]
pub fn error<T>(error: Error) -> Fail<T> {
    Fail {
        error,
        loc: Location::caller(),
        _item: std::marker::PhantomData,
    }
}

impl<T: Send + 'static> Publisher for Fail<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let source = EndSource::<T>(Some(Step::Error(self.error.clone())));
        pull::serve(source.at(self.loc), subscriber);
    }
}

/// The publisher made by [`never()`].
#[derive(Debug)]
pub struct Never<T> {
    loc: Loc,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for Never<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Never<T> {}

/// Sends `on_subscribe` and nothing else until cancelled; cancel drops the subscriber.
///
/// ```
/// use rstreams::prelude::*;
/// // Useful as a placeholder or to test timeouts: nothing arrives, ever.
/// let first = rstreams::concat([rstreams::range(0, 1).boxed(), rstreams::never().boxed()])
///     .blocking_first();
/// assert_eq!(first.unwrap(), Some(0));
/// ```
#[track_caller]
pub fn never<T>() -> Never<T> {
    Never {
        loc: Location::caller(),
        _item: std::marker::PhantomData,
    }
}

struct NeverSource<T>(std::marker::PhantomData<fn() -> T>);

impl<T: 'static> Source for NeverSource<T> {
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "never"
    }
    fn pull(&mut self) -> Step<T> {
        Step::Pending
    }
}

impl<T: Send + 'static> Publisher for Never<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        pull::serve(
            NeverSource::<T>(std::marker::PhantomData).at(self.loc),
            subscriber,
        );
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Just<T> => "just");

crate::diag::bill::leaf_bill!(Empty<T> => "empty");

crate::diag::bill::leaf_bill!(Fail<T> => "error");

crate::diag::bill::leaf_bill!(Never<T> => "never");
