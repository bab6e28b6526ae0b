//! `enumerate()`: pairs each item with its index in this subscription (Rust's
//! `Iterator::enumerate`, Reactor's `index()`).

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Link, Loc};

/// The publisher made by [`PublisherExt::enumerate`](crate::PublisherExt::enumerate).
#[derive(Clone, Debug)]
pub struct Enumerate<P> {
    pub(crate) upstream: P,
    pub(crate) loc: Loc,
}

impl<P> Publisher for Enumerate<P>
where
    P: Publisher,
{
    type Item = (u64, P::Item);
    fn subscribe<S: Subscriber<(u64, P::Item)> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(EnumerateSubscriber {
            link: Link::new(subscriber, "enumerate", self.loc),
            next: 0,
        });
    }
}

struct EnumerateSubscriber<S> {
    link: Link<S>,
    next: u64,
}

impl<T, S> Subscriber<T> for EnumerateSubscriber<S>
where
    S: Subscriber<(u64, T)>,
{
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            self.link.down.on_subscribe(Box::new(up));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        let i = self.next;
        // 2^64 items cannot arrive in practice; wrapping keeps this branch-free and panic-free.
        self.next = self.next.wrapping_add(1);
        self.link.down.on_next((i, item));
    }
    fn on_error(&mut self, error: Error) {
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        self.link.upstream_complete();
    }
}
