//! Side-effect taps: they observe signals and change neither items nor demand.
//!
//! A panic in `do_on_next` or `do_on_complete` fails the stream like any operator closure
//! (upstream cancelled, `on_error` with rule 2.13 downstream). So does a panic in `do_on_error`:
//! the downstream receives the 2.13 error instead of the original, which is attached as its
//! [`cause`](Error::cause) (and `source`). `do_on_request`
//! and `do_on_cancel` run inside `request`/`cancel`, which must return normally (rules 3.15, 3.16):
//! a panic there is reported through [`report_undeliverable`] and the signal is still forwarded.

use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::{Link, Loc, closure_panic, guard};

/// What a tap observes. Every method defaults to nothing.
trait Hooks<T>: Send + Sync + 'static {
    const WRAPS_SUBSCRIPTION: bool = false;
    fn next(&self, _item: &T) {}
    fn complete(&self) {}
    fn error(&self, _error: &Error) {}
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}

macro_rules! tap {
    ($(#[$doc:meta])* $name:ident, $hook:ident, ($($arg:ident: $ty:ty),*), [$($pb:tt)*], $method:ident, $wraps:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<P, F> {
            pub(crate) upstream: P,
            pub(crate) f: Arc<F>,
            pub(crate) loc: Loc,
        }

        impl<P: Clone, F> Clone for $name<P, F> {
            fn clone(&self) -> Self {
                $name { upstream: self.upstream.clone(), f: Arc::clone(&self.f), loc: self.loc }
            }
        }

        struct $hook<F>(Arc<F>);

        impl<T, F> Hooks<T> for $hook<F>
        where
            F: Fn($($ty),*) + Send + Sync + 'static,
        {
            const WRAPS_SUBSCRIPTION: bool = $wraps;
            fn $method(&self, $($arg: $ty),*) {
                (self.0)($($arg),*)
            }
        }

        impl<P, F> Publisher for $name<P, F>
        where
            P: Publisher,
            P::Item: 'static,
            F: $($pb)* + Send + Sync + 'static,
        {
            type Item = P::Item;
            fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
                self.upstream.subscribe(TapSubscriber {
                    link: Link::new(subscriber, concat!("do_on_", stringify!($method)), self.loc),
                    hooks: Arc::new($hook(Arc::clone(&self.f))),
                });
            }
        }
    };
}

tap!(
    /// The publisher made by [`PublisherExt::do_on_next`](crate::PublisherExt::do_on_next).
    DoOnNext, NextHook, (item: &T), [Fn(&P::Item)], next, false
);
tap!(
    /// The publisher made by
    /// [`PublisherExt::do_on_complete`](crate::PublisherExt::do_on_complete).
    DoOnComplete, CompleteHook, (), [Fn()], complete, false
);
tap!(
    /// The publisher made by [`PublisherExt::do_on_error`](crate::PublisherExt::do_on_error).
    DoOnError, ErrorHook, (error: &Error), [Fn(&Error)], error, false
);
tap!(
    /// The publisher made by [`PublisherExt::do_on_request`](crate::PublisherExt::do_on_request).
    DoOnRequest, RequestHook, (n: u64), [Fn(u64)], request, true
);
tap!(
    /// The publisher made by [`PublisherExt::do_on_cancel`](crate::PublisherExt::do_on_cancel).
    DoOnCancel, CancelHook, (), [Fn()], cancel, true
);

struct TapSubscription<H> {
    hooks: Arc<H>,
    up: Arc<dyn Subscription>,
    loc: Loc,
}

impl<H: Send + Sync> TapSubscription<H> {
    fn run(&self, rule: Rule, f: impl FnOnce()) {
        if let Err(p) = guard(f) {
            report_undeliverable(Error::from_panic(rule, p).at_stage(self.loc));
        }
    }
}

/// Adapts `Hooks<T>` to a subscription without naming `T` there.
trait SubHooks: Send + Sync + 'static {
    fn request(&self, n: u64);
    fn cancel(&self);
}

struct ForItem<H, T>(H, std::marker::PhantomData<fn(T)>);

impl<H: Hooks<T>, T: 'static> SubHooks for ForItem<Arc<H>, T> {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl<H: SubHooks> Subscription for TapSubscription<H> {
    fn request(&self, n: u64) {
        self.run(Rule::R3_16, || self.hooks.request(n));
        self.up.request(n);
    }
    fn cancel(&self) {
        self.run(Rule::R3_15, || self.hooks.cancel());
        self.up.cancel();
    }
}

struct TapSubscriber<S, H> {
    link: Link<S>,
    hooks: Arc<H>,
}

impl<T, S, H> Subscriber<T> for TapSubscriber<S, H>
where
    T: 'static,
    S: Subscriber<T>,
    H: Hooks<T>,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let Some(up) = self.link.accept(s) else {
            return;
        };
        if H::WRAPS_SUBSCRIPTION {
            let hooks = Arc::new(ForItem::<_, T>(
                Arc::clone(&self.hooks),
                std::marker::PhantomData,
            ));
            self.link.down.on_subscribe(Box::new(TapSubscription {
                hooks,
                up,
                loc: self.link.loc,
            }));
        } else {
            self.link.down.on_subscribe(Box::new(up));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        match guard(|| self.hooks.next(&item)) {
            Ok(()) => self.link.down.on_next(item),
            Err(p) => self.link.panicked(p),
        }
    }
    fn on_error(&mut self, error: Error) {
        if !self.link.done
            && let Err(p) = guard(|| self.hooks.error(&error))
        {
            // Like every other closure: downstream gets the 2.13 error naming this stage; the
            // error the hook was handling travels with it as its cause.
            self.link
                .upstream_error::<T>(closure_panic(p, self.link.loc).with_cause(error));
            return;
        }
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        if self.link.done {
            return;
        }
        match guard(|| self.hooks.complete()) {
            Ok(()) => self.link.upstream_complete(),
            Err(p) => {
                self.link.done = true;
                self.link.up = None;
                let error = closure_panic(p, self.link.loc);
                self.link.down.on_error(error);
            }
        }
    }
}
