use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

use crate::stage::{Link, Loc, reject};

/// The publisher made by [`PublisherExt::buffer`](crate::PublisherExt::buffer).
#[derive(Clone, Debug)]
pub struct Buffer<P> {
    pub(crate) upstream: P,
    pub(crate) size: usize,
    pub(crate) loc: Loc,
}

impl<P> Publisher for Buffer<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;
    fn subscribe<S: Subscriber<Vec<P::Item>> + Send + 'static>(&self, subscriber: S) {
        if self.size == 0 {
            reject(
                subscriber,
                Error::msg("buffer(0): a batch must hold at least one item").at_stage(self.loc),
            );
            return;
        }
        self.upstream.subscribe(BufferSubscriber {
            link: Link::new(subscriber, "buffer", self.loc),
            size: self.size,
            batch: Vec::new(),
        });
    }
}

/// Turns a request for `n` batches into a request for `n * size` items.
struct Scaled {
    size: u64,
    up: Arc<dyn Subscription>,
}

impl Subscription for Scaled {
    fn request(&self, n: u64) {
        // Saturating: u64::MAX batches (or an overflow) means unbounded items.
        self.up.request(n.saturating_mul(self.size));
    }
    fn cancel(&self) {
        self.up.cancel();
    }
}

struct BufferSubscriber<S, T> {
    link: Link<S>,
    size: usize,
    batch: Vec<T>,
}

impl<T, S: Subscriber<Vec<T>>> Subscriber<T> for BufferSubscriber<S, T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if let Some(up) = self.link.accept(s) {
            let scaled = Scaled {
                size: self.size as u64,
                up,
            };
            self.link.down.on_subscribe(Box::new(scaled));
        }
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.done {
            return;
        }
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(self.size);
        }
        self.batch.push(item);
        if self.batch.len() == self.size {
            let full = std::mem::take(&mut self.batch);
            self.link.down.on_next(full);
        }
    }
    fn on_error(&mut self, error: Error) {
        self.batch = Vec::new();
        self.link.upstream_error(error);
    }
    fn on_complete(&mut self) {
        // Fewer than n * size items arrived, so fewer than n batches went out: the downstream has
        // demand left for the partial one (rule 1.1 holds).
        if !self.link.done && !self.batch.is_empty() {
            let last = std::mem::take(&mut self.batch);
            self.link.down.on_next(last);
        }
        self.link.upstream_complete();
    }
}
