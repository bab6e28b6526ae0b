use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rstreams_protocol::pull::{PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription, report_undeliverable};

use crate::stage::{Loc, reject};

/// The default per-source prefetch of [`zip`](crate::PublisherExt::zip).
pub const DEFAULT_ZIP_PREFETCH: usize = 256;

/// The publisher made by [`PublisherExt::zip`](crate::PublisherExt::zip): pairs the `i`-th
/// item of each source.
///
/// Each source is asked for `prefetch` items, then for 75% of `prefetch` each time that many of
/// its items have gone downstream in pairs, so each per-source queue holds at most `prefetch`
/// items (a source that runs ahead waits for the other). Completes as soon as one source has
/// completed and its queue is empty (the other is cancelled); the first error cancels both.
#[derive(Clone, Debug)]
pub struct Zip<A, B> {
    pub(crate) a: A,
    pub(crate) b: B,
    pub(crate) prefetch: usize,
    pub(crate) loc: Loc,
}

struct Lane<X> {
    queue: VecDeque<X>,
    sub: Option<Arc<dyn Subscription>>,
    outstanding: u64,
    consumed: u64,
    complete: bool,
}

impl<X> Lane<X> {
    fn new() -> Self {
        Lane {
            queue: VecDeque::new(),
            sub: None,
            outstanding: 0,
            consumed: 0,
            complete: false,
        }
    }
    /// Ended: completed and nothing left to pair.
    fn exhausted(&self) -> bool {
        self.complete && self.queue.is_empty()
    }
    /// Counts one consumed item; returns a replenishing request when one is due.
    fn consume(&mut self, limit: u64) -> Option<(Arc<dyn Subscription>, u64)> {
        self.consumed += 1;
        if self.consumed < limit || self.complete {
            return None;
        }
        let sub = self.sub.clone()?;
        let n = std::mem::take(&mut self.consumed);
        self.outstanding += n;
        Some((sub, n))
    }
}

struct ZipState<A, B> {
    a: Lane<A>,
    b: Lane<B>,
    error: Option<Error>,
    cancelled: bool,
}

struct ZipCore<A, B> {
    state: Mutex<ZipState<A, B>>,
    handle: OnceLock<PullHandle>,
    prefetch: u64,
    limit: u64,
    loc: Loc,
}

impl<A, B> ZipCore<A, B> {
    fn wake(&self) {
        if let Some(h) = self.handle.get() {
            h.wake();
        }
    }
    fn fail(&self, error: Error) {
        let subs = {
            let mut st = self.state.lock();
            if st.error.is_some() || st.cancelled {
                drop(st);
                report_undeliverable(error);
                return;
            }
            st.error = Some(error);
            take_subs(&mut st)
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
        self.wake();
    }
}

fn take_subs<A, B>(st: &mut ZipState<A, B>) -> [Option<Arc<dyn Subscription>>; 2] {
    st.a.queue.clear();
    st.b.queue.clear();
    [st.a.sub.take(), st.b.sub.take()]
}

impl<A, B> Publisher for Zip<A, B>
where
    A: Publisher,
    B: Publisher,
    A::Item: Send + 'static,
    B::Item: Send + 'static,
{
    type Item = (A::Item, B::Item);

    fn subscribe<S: Subscriber<Self::Item> + Send + 'static>(&self, subscriber: S) {
        if self.prefetch == 0 {
            let e = Error::msg(
                "zip: prefetch must be at least 1, got 0 (no item could ever be requested and \
                 the stream would hang)",
            );
            reject(subscriber, e.at_stage(self.loc));
            return;
        }
        let prefetch = self.prefetch as u64;
        let core = Arc::new(ZipCore {
            state: Mutex::new(ZipState {
                a: Lane::new(),
                b: Lane::new(),
                error: None,
                cancelled: false,
            }),
            handle: OnceLock::new(),
            prefetch,
            limit: (prefetch - prefetch / 4).max(1),
            loc: self.loc,
        });
        let c = Arc::clone(&core);
        rstreams_protocol::pull::serve_with(
            move |handle| {
                let _ = c.handle.set(handle);
                ZipSource { core: c }.at(self.loc)
            },
            subscriber,
        );
        if core.state.lock().cancelled {
            return;
        }
        self.a.subscribe(ZipInput {
            core: Arc::clone(&core),
            lane: |st| &mut st.a,
            subscribed: false,
        });
        if core.state.lock().cancelled {
            return;
        }
        self.b.subscribe(ZipInput {
            core,
            lane: |st| &mut st.b,
            subscribed: false,
        });
    }
}

type LaneOf<A, B, X> = fn(&mut ZipState<A, B>) -> &mut Lane<X>;

struct ZipInput<A, B, X> {
    core: Arc<ZipCore<A, B>>,
    lane: LaneOf<A, B, X>,
    subscribed: bool,
}

impl<A: Send + 'static, B: Send + 'static, X> Subscriber<X> for ZipInput<A, B, X> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        let accepted = {
            let mut st = self.core.state.lock();
            let over = st.cancelled || st.error.is_some();
            let lane = (self.lane)(&mut st);
            if self.subscribed || over || lane.complete {
                false
            } else {
                lane.sub = Some(Arc::clone(&s));
                lane.outstanding = self.core.prefetch;
                true
            }
        };
        if accepted {
            self.subscribed = true;
            s.request(self.core.prefetch);
        } else {
            s.cancel();
        }
    }

    fn on_next(&mut self, item: X) {
        let overflow = {
            let mut st = self.core.state.lock();
            if st.cancelled || st.error.is_some() {
                return; // in flight when everything was cancelled: dropped
            }
            let lane = (self.lane)(&mut st);
            if lane.outstanding == 0 {
                true
            } else {
                lane.outstanding -= 1;
                lane.queue.push_back(item);
                false
            }
        };
        if overflow {
            self.core.fail(
                Error::violation(Rule::R1_1, "a zipped source sent more items than asked for")
                    .at_stage(self.core.loc),
            );
        } else {
            self.core.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        self.core.fail(error);
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.core.state.lock();
            let lane = (self.lane)(&mut st);
            lane.complete = true;
            lane.sub = None;
        }
        self.core.wake();
    }
}

struct ZipSource<A, B> {
    core: Arc<ZipCore<A, B>>,
}

impl<A: Send + 'static, B: Send + 'static> Source for ZipSource<A, B> {
    type Item = (A, B);

    fn stage_name(&self) -> &'static str {
        "zip"
    }

    fn pull(&mut self) -> Step<(A, B)> {
        let mut st = self.core.state.lock();
        if let Some(e) = &st.error {
            return Step::Error(e.clone());
        }
        if !st.a.queue.is_empty() && !st.b.queue.is_empty() {
            let pair = (
                st.a.queue.pop_front().expect("checked non-empty"),
                st.b.queue.pop_front().expect("checked non-empty"),
            );
            let ra = st.a.consume(self.core.limit);
            let rb = st.b.consume(self.core.limit);
            drop(st);
            for (sub, n) in ra.into_iter().chain(rb) {
                sub.request(n);
            }
            return Step::Next(pair);
        }
        if st.a.exhausted() || st.b.exhausted() {
            return Step::Complete;
        }
        Step::Pending
    }

    fn is_exhausted(&mut self) -> bool {
        let st = self.core.state.lock();
        if st.error.is_some() {
            return true;
        }
        // A side that ended with nothing queued can never complete another pair.
        st.a.exhausted() || st.b.exhausted()
    }
}

impl<A, B> Drop for ZipSource<A, B> {
    fn drop(&mut self) {
        let subs = {
            let mut st = self.core.state.lock();
            st.cancelled = true;
            take_subs(&mut st)
        };
        for s in subs.into_iter().flatten() {
            s.cancel();
        }
    }
}
