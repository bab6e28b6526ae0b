//! [`using()`]: a per-subscription resource, released exactly once however the subscription ends.

use std::panic::Location;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription, report_undeliverable};

use crate::stage::{Loc, Payload, closure_panic, guard, reject};

/// The publisher made by [`using()`].
#[derive(Debug)]
pub struct Using<FR, FP, FRel> {
    resource: Arc<FR>,
    make: Arc<FP>,
    release: Arc<FRel>,
    loc: Loc,
}

impl<FR, FP, FRel> Clone for Using<FR, FP, FRel> {
    fn clone(&self) -> Self {
        Using {
            resource: Arc::clone(&self.resource),
            make: Arc::clone(&self.make),
            release: Arc::clone(&self.release),
            loc: self.loc,
        }
    }
}

/// For each subscriber: acquires a resource with `resource()`, subscribes the subscriber to
/// `make(&resource)`, and calls `release(resource)` **exactly once** when the subscription ends,
/// whichever way:
///
/// * on completion or error, *before* the terminal signal is passed on (Reactor's eager mode),
///   so the subscriber observes the resource already released;
/// * on cancel, right after the upstream was cancelled;
/// * when the subscriber panics (rule 2.13: the upstream drops it), or the upstream drops the
///   subscription for any other reason: the release runs when the stage's subscriber is
///   dropped.
///
/// A panic in `resource` or `make` fails the subscriber with rule 2.13 and this call's location
/// (a resource already acquired is released first). A panic in `release` on completion turns
/// the completion into that error; on error, cancel or drop it is reported through
/// [`report_undeliverable`]. Demand passes through; no buffer.
///
/// ```
/// use rstreams::prelude::*;
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let closed = Arc::new(AtomicUsize::new(0));
/// let c = Arc::clone(&closed);
/// let lines = rstreams::using(
///     || vec!["a", "b"],                        // open
///     |file| rstreams::from_iter(file.clone()), // read
///     move |_file| { c.fetch_add(1, Ordering::SeqCst); }, // close
/// );
/// assert_eq!(lines.to_vec().blocking_first()?, Some(vec!["a", "b"]));
/// assert_eq!(closed.load(Ordering::SeqCst), 1);
/// # Ok::<(), rstreams::Error>(())
/// ```
#[doc(alias = "Flux.using")]
#[doc(alias = "Flowable.using")]
#[track_caller]
pub fn using<R, P, FR, FP, FRel>(resource: FR, make: FP, release: FRel) -> Using<FR, FP, FRel>
where
    FR: Fn() -> R + Send + Sync + 'static,
    FP: Fn(&R) -> P + Send + Sync + 'static,
    FRel: Fn(R) + Send + Sync + 'static,
    P: Publisher,
{
    Using {
        resource: Arc::new(resource),
        make: Arc::new(make),
        release: Arc::new(release),
        loc: Location::caller(),
    }
}

/// The resource of one subscription and how to release it.
struct Held<R, FRel> {
    slot: Mutex<Option<R>>,
    release: Arc<FRel>,
}

impl<R, FRel: Fn(R)> Held<R, FRel> {
    /// Releases the resource if this is the first call; `Err` if `release` panicked.
    fn release(&self) -> Result<(), Payload> {
        // Taken under the lock, released outside it: exactly once, and `release` may block.
        let taken = self.slot.lock().take();
        match taken {
            Some(r) => guard(|| (self.release)(r)),
            None => Ok(()),
        }
    }

    fn release_or_report(&self, loc: Loc) {
        if let Err(p) = self.release() {
            report_undeliverable(closure_panic(p, loc));
        }
    }
}

impl<R, P, FR, FP, FRel> Publisher for Using<FR, FP, FRel>
where
    FR: Fn() -> R + Send + Sync + 'static,
    FP: Fn(&R) -> P + Send + Sync + 'static,
    FRel: Fn(R) + Send + Sync + 'static,
    P: Publisher,
    R: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let r = match guard(|| (self.resource)()) {
            Ok(r) => r,
            Err(p) => return reject(subscriber, closure_panic(p, self.loc)),
        };
        let made = guard(|| (self.make)(&r));
        let held = Arc::new(Held {
            slot: Mutex::new(Some(r)),
            release: Arc::clone(&self.release),
        });
        match made {
            Ok(publisher) => publisher.subscribe(UsingSubscriber {
                down: subscriber,
                held,
                loc: self.loc,
            }),
            Err(p) => {
                held.release_or_report(self.loc);
                reject(subscriber, closure_panic(p, self.loc));
            }
        }
    }
}

struct UsingSubscriber<S, R, FRel: Fn(R)> {
    down: S,
    held: Arc<Held<R, FRel>>,
    loc: Loc,
}

impl<S, R, FRel: Fn(R)> Drop for UsingSubscriber<S, R, FRel> {
    fn drop(&mut self) {
        // Every path that ends the subscription drops this subscriber: the last resort, which
        // covers a panicking downstream (its publisher drops us) and a vanished upstream.
        self.held.release_or_report(self.loc);
    }
}

struct UsingSubscription<R, FRel> {
    up: Box<dyn Subscription>,
    held: Arc<Held<R, FRel>>,
    loc: Loc,
}

impl<R: Send, FRel: Fn(R) + Send + Sync> Subscription for UsingSubscription<R, FRel> {
    fn request(&self, n: u64) {
        self.up.request(n);
    }
    fn cancel(&self) {
        self.up.cancel();
        self.held.release_or_report(self.loc);
    }
}

impl<T, S, R, FRel> Subscriber<T> for UsingSubscriber<S, R, FRel>
where
    S: Subscriber<T>,
    R: Send + 'static,
    FRel: Fn(R) + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.down.on_subscribe(Box::new(UsingSubscription {
            up: s,
            held: Arc::clone(&self.held),
            loc: self.loc,
        }));
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        self.down.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.held.release_or_report(self.loc);
        self.down.on_error(error);
    }
    fn on_complete(&mut self) {
        match self.held.release() {
            Ok(()) => self.down.on_complete(),
            Err(p) => self.down.on_error(closure_panic(p, self.loc)),
        }
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Using<FR, FP, FRel> => "using", "the publisher is built per subscription: not included");
