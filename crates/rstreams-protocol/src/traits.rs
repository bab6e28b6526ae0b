//! The four protocol traits and their object-safe forms.

use std::sync::Arc;

use crate::Error;

/// What a stage holds for one subscriber: see [`Subscription::backlog`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Items buffered for the subscriber and not yet delivered.
    pub buffered: u64,
    /// Items an overflow policy dropped (never delivered) so far.
    pub dropped: u64,
}

/// The handle a subscriber uses to ask for items and to stop the stream.
///
/// Callable from any thread (`Send + Sync`), re-entrantly from inside
/// [`Subscriber::on_next`] (rule 3.2), and concurrently with emission.
///
/// * `request(n)` adds `n` to the outstanding demand, saturating; `u64::MAX` means unbounded and
///   stays unbounded (rules 3.8, 3.17). `request(0)` is illegal: the subscriber receives
///   `on_error` with an error whose [`rule`](Error::rule) is 3.9.
/// * `cancel()` asks the publisher to stop and to drop the subscriber (3.12, 3.13). After cancel,
///   `request` and `cancel` do nothing (3.6, 3.7).
/// * Neither may panic or block for long (3.4, 3.5, 3.15, 3.16).
/// * Dropping the handle is not a cancel: a subscriber that requested all it needs may drop it
///   and still receives its items and the terminal signal, so a publisher must not hold its
///   state only through the handle (the TCK's
///   `rust_spec105_must_signal_on_complete_after_the_subscriber_dropped_its_subscription`).
///
/// Rule 3.1 (only the owning subscriber calls these) is settled by ownership: the publisher
/// hands the subscriber a `Box<dyn Subscription>` that is not `Clone`.
pub trait Subscription: Send + Sync {
    /// Adds `n` to the demand. See the trait docs for `0` and `u64::MAX`.
    fn request(&self, n: u64);
    /// Asks the publisher to stop signalling and to drop the subscriber.
    fn cancel(&self);

    /// What the publisher behind this subscription holds for its subscriber right now, for
    /// diagnostics (issue 12): items buffered but not yet delivered, and items dropped by an
    /// overflow policy so far. `None` (the default) when the stage holds nothing or cannot say.
    ///
    /// Optional and not part of the Reactive Streams protocol: nothing may depend on it for
    /// correctness. It must be cheap and must not block for long (it is called from a monitoring
    /// thread, concurrently with signals).
    fn backlog(&self) -> Option<Backlog> {
        None
    }
}

/// The receiving end of a stream.
///
/// All four callbacks take `&mut self`: whoever calls them needs exclusive access, so the rule
/// that signals to one subscriber never overlap (1.3, 2.7 on the receiving side) is enforced by
/// the borrow checker rather than by convention.
///
/// The grammar is `on_subscribe (on_next)* (on_error | on_complete)?`. Callbacks must not panic
/// (2.13); a publisher built with this crate's kit catches a panic, cancels the subscription and
/// reports it through [`report_undeliverable`](crate::report_undeliverable).
pub trait Subscriber<T> {
    /// The first signal: the subscription to request items from. A subscriber that already has an
    /// active subscription must cancel the new one (2.5).
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>);
    /// One item, never more in total than requested (1.1).
    fn on_next(&mut self, item: T);
    /// The stream failed; no further signal follows (1.7). Must not call the subscription (2.3).
    fn on_error(&mut self, error: Error);
    /// The stream ended successfully; no further signal follows. Must not call the subscription.
    fn on_complete(&mut self);
}

impl<T, S: Subscriber<T> + ?Sized> Subscriber<T> for Box<S> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        (**self).on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        (**self).on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        (**self).on_error(error)
    }
    fn on_complete(&mut self) {
        (**self).on_complete()
    }
}

impl<S: Subscription + ?Sized> Subscription for Box<S> {
    fn request(&self, n: u64) {
        (**self).request(n)
    }
    fn cancel(&self) {
        (**self).cancel()
    }
    fn backlog(&self) -> Option<Backlog> {
        (**self).backlog()
    }
}

impl<S: Subscription + ?Sized> Subscription for Arc<S> {
    fn request(&self, n: u64) {
        (**self).request(n)
    }
    fn cancel(&self) {
        (**self).cancel()
    }
    fn backlog(&self) -> Option<Backlog> {
        (**self).backlog()
    }
}

/// A source of items that subscribers attach to.
///
/// `subscribe` takes the subscriber by value, so one subscriber cannot be subscribed twice
/// (rules 1.10 and 2.12 are settled by ownership), and returns nothing: every outcome, including
/// rejection, reaches the subscriber as `on_subscribe` followed by `on_error` (1.9).
///
/// Operator chains are generic and monomorphised like `Iterator` adaptors; use
/// [`boxed`](Publisher::boxed) for a type-erased [`BoxPublisher`].
pub trait Publisher {
    /// The type of item the publisher emits.
    type Item;

    /// Attaches `subscriber`. Calls `on_subscribe` before any other signal and returns normally.
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + Send + 'static;

    /// Erases the publisher's type.
    fn boxed(self) -> BoxPublisher<Self::Item>
    where
        Self: Sized + Send + Sync + 'static,
        Self::Item: 'static,
    {
        BoxPublisher(Arc::new(self))
    }
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    type Item = P::Item;
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + Send + 'static,
    {
        (**self).subscribe(subscriber)
    }
}

impl<P: Publisher + ?Sized> Publisher for &P {
    type Item = P::Item;
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<Self::Item> + Send + 'static,
    {
        (**self).subscribe(subscriber)
    }
}

/// The object-safe form of [`Publisher`]; every `Publisher` is one.
pub trait DynPublisher<T> {
    /// Attaches a boxed subscriber.
    fn subscribe_dyn(&self, subscriber: Box<dyn Subscriber<T> + Send>);
}

impl<P: Publisher + ?Sized> DynPublisher<P::Item> for P
where
    P::Item: 'static,
{
    fn subscribe_dyn(&self, subscriber: Box<dyn Subscriber<P::Item> + Send>) {
        self.subscribe(subscriber)
    }
}

/// A type-erased, cheaply cloneable publisher, for heterogeneous collections and for returning
/// publishers from functions without naming their type.
///
/// ```
/// use rstreams_protocol::{BoxPublisher, Publisher, reference::RangePublisher};
///
/// let publishers: Vec<BoxPublisher<u64>> = vec![
///     RangePublisher::new(0, 3).boxed(),
///     RangePublisher::new(10, 2).boxed(),
/// ];
/// assert_eq!(publishers.len(), 2);
/// ```
pub struct BoxPublisher<T>(Arc<dyn DynPublisher<T> + Send + Sync>);

impl<T> BoxPublisher<T> {
    /// Wraps any object-safe publisher.
    pub fn new(publisher: impl DynPublisher<T> + Send + Sync + 'static) -> Self {
        BoxPublisher(Arc::new(publisher))
    }
}

impl<T> Clone for BoxPublisher<T> {
    fn clone(&self) -> Self {
        BoxPublisher(Arc::clone(&self.0))
    }
}

impl<T> std::fmt::Debug for BoxPublisher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxPublisher")
    }
}

impl<T: 'static> Publisher for BoxPublisher<T> {
    type Item = T;
    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<T> + Send + 'static,
    {
        self.0.subscribe_dyn(Box::new(subscriber))
    }

    fn boxed(self) -> BoxPublisher<T> {
        self
    }
}

/// A stage that is both a subscriber of `T` and a publisher of `R` (rule 4.1).
pub trait Processor<T, R>: Subscriber<T> + Publisher<Item = R> {}

impl<T, R, P: Subscriber<T> + Publisher<Item = R>> Processor<T, R> for P {}
