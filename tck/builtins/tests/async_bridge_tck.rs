//! The TCK over the async bridges (issue 11): PublisherVerification over `from_stream`,
//! `from_stream_fn` and `from_future`, and both subscriber suites over the subscriber half of
//! `into_stream` ([`StreamSubscriber`]), its stream consumed by a thread that polls it.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::Stream;
use parking_lot::{Condvar, Mutex};
use rstreams::bridge::{self, PublisherStream, StreamSubscriber};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;
use rstreams_protocol::{BoxPublisher, Subscription};
use rstreams_tck::publisher::PublisherVerification;
use rstreams_tck::subscriber::{
    SubscriberBlackboxVerification, SubscriberPuppet, SubscriberWhiteboxVerification, WhiteboxProbe,
};

fn pool() -> Arc<dyn Scheduler> {
    static POOL: OnceLock<Arc<dyn Scheduler>> = OnceLock::new();
    Arc::clone(POOL.get_or_init(|| {
        Arc::new(
            ThreadPool::builder()
                .workers(2)
                .thread_name_prefix("bridge-tck")
                .build()
                .expect("pool"),
        )
    }))
}

/// The bridges poll only with demand, so a stream's own error shows only once requested; a
/// failed publisher that fails without demand (rules 1.4, 1.9) is a factory that panics...
fn failed_factory() -> BoxPublisher<u64> {
    bridge::from_stream_fn(
        || -> futures_util::stream::Iter<std::ops::Range<u64>> { panic!("the factory fails") },
        pool(),
    )
    .boxed()
}

/// ...or a single-use stream that is already consumed (rule 1.11 rejection).
fn consumed_stream() -> BoxPublisher<u64> {
    let once = bridge::from_stream(futures_util::stream::iter(0..1u64), pool());
    once.subscribe_consumer(rstreams::Consumer::new(|_: u64| {}));
    once.boxed()
}

struct FromStreamFnRow;
impl PublisherVerification for FromStreamFnRow {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        bridge::from_stream_fn(move || futures_util::stream::iter(0..n), pool()).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed_factory())
    }
}

/// Single use: one subscriber per publisher (the multi-subscriber tests skip themselves).
struct FromStreamRow;
impl PublisherVerification for FromStreamRow {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        bridge::from_stream(futures_util::stream::iter(0..n), pool()).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(consumed_stream())
    }
    fn max_supported_subscribers(&self) -> u64 {
        1
    }
}

/// One item at most; 0 items is the same future behind `skip(1)`.
struct FromFutureRow;
impl PublisherVerification for FromFutureRow {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        bridge::from_future(async move { 7 + n }, pool())
            .skip(1 - n.min(1))
            .boxed()
    }
    fn max_elements_from_publisher(&self) -> u64 {
        1
    }
    fn max_supported_subscribers(&self) -> u64 {
        1
    }
}

/// Cold futures: every subscriber gets its own.
struct FromFutureFnRow;
impl PublisherVerification for FromFutureFnRow {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        bridge::from_future_fn(|| async { 7u64 }, pool())
            .skip(1 - n.min(1))
            .boxed()
    }
    fn max_elements_from_publisher(&self) -> u64 {
        1
    }
}

rstreams_tck::publisher_verification_tests!(from_stream_fn, super::FromStreamFnRow);
rstreams_tck::publisher_verification_tests!(from_stream, super::FromStreamRow);
rstreams_tck::publisher_verification_tests!(from_future, super::FromFutureRow);
rstreams_tck::publisher_verification_tests!(from_future_fn, super::FromFutureFnRow);

// ---- the stream's subscriber ----------------------------------------------------------------

/// How the consumer thread is steered: how many more items it may take, whether to cancel, and
/// whether the stream woke it.
#[derive(Default)]
struct Ctl {
    state: Mutex<CtlState>,
    changed: Condvar,
}

#[derive(Default)]
struct CtlState {
    budget: u64,
    cancel: bool,
    woken: bool,
}

impl Wake for Ctl {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.state.lock().woken = true;
        self.changed.notify_all();
    }
}

impl Ctl {
    fn trigger_request(&self, n: u64) {
        let mut st = self.state.lock();
        st.budget = st.budget.saturating_add(n);
        self.changed.notify_all();
    }
    fn signal_cancel(&self) {
        self.state.lock().cancel = true;
        self.changed.notify_all();
    }
}

/// The whitebox puppet: steers the consumer thread.
struct Puppet(Arc<Ctl>);
impl SubscriberPuppet for Puppet {
    fn trigger_request(&self, n: u64) {
        self.0.trigger_request(n);
    }
    fn signal_cancel(&self) {
        self.0.signal_cancel();
    }
}

/// Polls `stream` on a thread of its own, taking items only while `ctl` has budget: the async
/// task a real user would have, as a plain thread so the TCK needs no runtime.
fn consume(mut stream: PublisherStream<u64>, ctl: Arc<Ctl>) {
    std::thread::spawn(move || {
        let waker = Waker::from(Arc::clone(&ctl));
        let mut cx = Context::from_waker(&waker);
        loop {
            {
                let mut st = ctl.state.lock();
                while st.budget == 0 && !st.cancel {
                    ctl.changed.wait(&mut st);
                }
                if st.cancel {
                    drop(st);
                    stream.cancel();
                    return;
                }
                st.woken = false;
            }
            match Pin::new(&mut stream).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(_))) => {
                    let mut st = ctl.state.lock();
                    st.budget = st.budget.saturating_sub(1);
                }
                Poll::Ready(_) => return,
                Poll::Pending => {
                    let mut st = ctl.state.lock();
                    while !st.woken && !st.cancel {
                        ctl.changed.wait(&mut st);
                    }
                }
            }
        }
    });
}

/// The blackbox subscriber: the stream's subscriber, its stream drained as fast as items come.
struct Blackbox;
impl SubscriberBlackboxVerification for Blackbox {
    type Item = u64;
    type Subscriber = StreamSubscriber<u64>;
    fn create_subscriber(&self) -> StreamSubscriber<u64> {
        let (subscriber, stream) = bridge::subscriber_stream(4);
        let ctl = Arc::new(Ctl::default());
        ctl.trigger_request(u64::MAX);
        consume(stream, ctl);
        subscriber
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
}

/// The whitebox subscriber: prefetch 1, so each item the consumer takes requests one more;
/// the puppet's `trigger_request(n)` lets the consumer take `n` items.
struct Probed {
    inner: StreamSubscriber<u64>,
    probe: WhiteboxProbe<u64>,
    ctl: Arc<Ctl>,
}

impl Subscriber<u64> for Probed {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.inner.on_subscribe(s);
        self.probe
            .register_on_subscribe(Puppet(Arc::clone(&self.ctl)));
    }
    fn on_next(&mut self, item: u64) {
        self.probe.register_on_next(item);
        self.inner.on_next(item);
    }
    fn on_error(&mut self, error: rstreams::Error) {
        self.probe.register_on_error(error.clone());
        self.inner.on_error(error);
    }
    fn on_complete(&mut self) {
        self.probe.register_on_complete();
        self.inner.on_complete();
    }
}

struct Whitebox;
impl SubscriberWhiteboxVerification for Whitebox {
    type Item = u64;
    fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
        let (inner, stream) = bridge::subscriber_stream(1);
        let ctl = Arc::new(Ctl::default());
        consume(stream, Arc::clone(&ctl));
        Box::new(Probed { inner, probe, ctl })
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
}

rstreams_tck::subscriber_blackbox_tests!(stream_subscriber_blackbox, super::Blackbox);
rstreams_tck::subscriber_whitebox_tests!(stream_subscriber_whitebox, super::Whitebox);
