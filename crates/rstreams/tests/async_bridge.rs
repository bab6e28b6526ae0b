//! The async bridges (issue 11): into_stream, from_stream(_fn), from_future, the terminal
//! futures and the Sink driver — demand, wake-ups, cancel, drops, errors and panics.
#![cfg(feature = "futures")]

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use rstreams::Rule;
use rstreams::bridge::{self, Spawner};
use rstreams::executor::{ManualExecutor, Scheduler, ThreadPool};
use rstreams::prelude::*;
use support::{DropCounter, Requests, WAIT, recorder};

fn pool() -> Arc<dyn Scheduler> {
    Arc::new(ThreadPool::builder().workers(2).build().expect("pool"))
}

/// A minimal `block_on` (thread parking): the bridges must work without any runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "block_on: no progress within {WAIT:?}"
        );
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

fn noop_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A stream that is pending forever, counting polls and holding a drop token.
fn pending_forever(polls: Arc<AtomicU64>, token: support::Token) -> impl Stream<Item = u64> {
    stream::poll_fn(move |_| {
        let _keep = &token;
        polls.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    })
}

// ---- Publisher -> Stream ---------------------------------------------------------------------

#[test]
fn into_stream_runs_on_a_tokio_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let sum = rt.block_on(async {
        let mut s = rstreams::range(0, 10_000)
            .publish_on_with(pool(), 64)
            .into_stream(32);
        let mut sum = 0u64;
        while let Some(x) = s.next().await {
            sum += x.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..10_000u64).sum());
}

#[test]
fn into_stream_runs_without_a_runtime_and_on_a_current_thread_runtime() {
    let v: Vec<u64> = block_on(
        rstreams::range(0, 100)
            .publish_on_with(pool(), 8)
            .into_stream(4)
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(v, (0..100).collect::<Vec<_>>());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let v: Vec<u64> = rt.block_on(
        rstreams::range(0, 5)
            .into_stream(2)
            .map(Result::unwrap)
            .collect(),
    );
    assert_eq!(v, vec![0, 1, 2, 3, 4]);
}

#[test]
fn into_stream_requests_prefetch_then_replenishes_at_75_percent() {
    let requests = Requests::default();
    let mut s = rstreams::range(0, 40)
        .do_on_request(requests.hook())
        .into_stream(8);
    assert_eq!(requests.get(), vec![8], "prefetch is requested up front");
    let mut cx = noop_cx();
    for i in 0..6 {
        assert!(matches!(Pin::new(&mut s).poll_next(&mut cx), Poll::Ready(Some(Ok(x))) if x == i));
    }
    assert_eq!(requests.get(), vec![8, 6], "6 taken of 8 (75%): 6 more");
    assert!(s.buffered_len() <= 8);
}

#[test]
fn into_stream_ends_with_the_error_then_none() {
    let p = rstreams::concat([
        rstreams::range(0, 2).boxed(),
        rstreams::error(Error::msg("boom")).boxed(),
    ]);
    let got: Vec<Result<u64, Error>> = block_on(p.into_stream(4).collect());
    assert_eq!(got.len(), 3);
    assert!(got[0].is_ok() && got[1].is_ok());
    assert_eq!(got[2].as_ref().unwrap_err().to_string(), "boom");
}

#[test]
fn into_stream_with_zero_prefetch_yields_one_error() {
    let subscribed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&subscribed);
    let p = rstreams::defer(move || {
        flag.store(true, Ordering::SeqCst);
        rstreams::range(0, 3)
    });
    let got: Vec<Result<u64, Error>> = block_on(p.into_stream(0).collect());
    assert_eq!(got.len(), 1);
    assert!(got[0].is_err());
    assert!(!subscribed.load(Ordering::SeqCst), "nothing was subscribed");
}

#[test]
fn dropping_the_stream_cancels_and_drops_the_buffered_items() {
    let drops = DropCounter::default();
    let made = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    let (d, m, c) = (drops.clone(), Arc::clone(&made), Arc::clone(&cancelled));
    let mut s = rstreams::range(0, 1000)
        .map(move |_| {
            m.fetch_add(1, Ordering::SeqCst);
            d.token()
        })
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .into_stream(16);
    let first = Pin::new(&mut s).poll_next(&mut noop_cx());
    assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
    drop(first);
    assert_eq!(
        made.load(Ordering::SeqCst),
        16,
        "only the prefetch was produced"
    );
    drop(s);
    assert!(
        cancelled.load(Ordering::SeqCst),
        "dropping the stream cancels"
    );
    assert_eq!(
        drops.drops(),
        made.load(Ordering::SeqCst),
        "every item made was dropped"
    );
}

#[test]
fn a_cancelled_stream_never_polled_again_does_not_keep_the_publisher_alive() {
    // The publisher behind the stream is an async source pending forever: after `cancel`, the
    // consumer never polls again, yet the source (and what it holds) is released.
    let exec = ManualExecutor::new();
    let drops = DropCounter::default();
    let polls = Arc::new(AtomicU64::new(0));
    let resource = Arc::new(());
    let held = Arc::clone(&resource);
    let source = bridge::from_stream(
        pending_forever(Arc::clone(&polls), drops.token()).map(move |x| {
            let _ = &held;
            x
        }),
        Arc::new(exec.clone()),
    );
    let mut s = source.into_stream(4);
    assert!(Pin::new(&mut s).poll_next(&mut noop_cx()).is_pending());
    exec.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    s.cancel();
    exec.run_until_idle();
    assert_eq!(drops.drops(), 1, "the source stream was dropped");
    assert_eq!(
        Arc::strong_count(&resource),
        1,
        "nothing the publisher held is kept"
    );
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "and it was not polled again"
    );
    drop(s);
}

#[test]
fn a_slow_async_consumer_keeps_a_fast_producers_memory_flat() {
    const PUBLISH_ON: usize = 64;
    const PREFETCH: usize = 32;
    let produced = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(AtomicU64::new(0));
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (p, c, m) = (
        Arc::clone(&produced),
        Arc::clone(&consumed),
        Arc::clone(&max_in_flight),
    );
    let total = rt.block_on(async move {
        let p2 = Arc::clone(&p);
        let mut s = rstreams::range(0, 5_000)
            .do_on_next(move |_| {
                p2.fetch_add(1, Ordering::SeqCst);
            })
            .publish_on_with(pool(), PUBLISH_ON)
            .into_stream(PREFETCH);
        let mut n = 0u64;
        while let Some(x) = s.next().await {
            x.unwrap();
            n += 1;
            c.fetch_add(1, Ordering::SeqCst);
            let in_flight = p.load(Ordering::SeqCst) - c.load(Ordering::SeqCst);
            m.fetch_max(in_flight, Ordering::SeqCst);
            if n.is_multiple_of(250) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        n
    });
    assert_eq!(total, 5_000);
    let max = max_in_flight.load(Ordering::SeqCst);
    // Items made and not yet consumed live in publish_on's ring (<= 64) and the stream's buffer
    // (<= 32); the one being handed over may be counted in neither.
    assert!(
        max <= (PUBLISH_ON + PREFETCH + 1) as u64,
        "in flight reached {max}"
    );
}

// ---- Stream / Future -> Publisher --------------------------------------------------------------

#[test]
fn from_stream_polls_only_while_demand_is_outstanding() {
    let exec = ManualExecutor::new();
    let polls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&polls);
    let mut next = 0u64;
    let numbers = stream::poll_fn(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        next += 1;
        Poll::Ready(Some(next))
    });
    let p = bridge::from_stream(numbers, Arc::new(exec.clone()));
    let (rec, probe) = recorder::<u64>(0);
    p.subscribe(rec);
    exec.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 0, "no demand, no poll");
    probe.request(3);
    exec.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    assert_eq!(probe.items(), vec![1, 2, 3]);
    exec.run_until_idle();
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "demand used up: no read-ahead"
    );
    probe.request(2);
    exec.run_until_idle();
    assert_eq!(probe.items(), vec![1, 2, 3, 4, 5]);
    probe.cancel();
    exec.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 5);
}

#[test]
fn from_stream_completes_after_the_last_item_without_another_request() {
    let (rec, probe) = recorder::<u64>(3);
    bridge::from_stream(stream::iter(0..3u64), pool()).subscribe(rec);
    assert!(
        probe.wait_terminal(WAIT),
        "the exhausted stream completed on exact demand"
    );
    assert!(probe.completed());
    assert_eq!(probe.items(), vec![0, 1, 2]);
}

/// A stream whose `size_hint` wrongly says it has ended.
struct Liar(u64);
impl Stream for Liar {
    type Item = u64;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u64>> {
        self.0 += 1;
        Poll::Ready((self.0 <= 3).then_some(self.0))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(0))
    }
}

#[test]
fn an_item_from_a_stream_that_claimed_its_end_waits_for_demand() {
    let exec = ManualExecutor::new();
    let (rec, probe) = recorder::<u64>(1);
    bridge::from_stream(Liar(0), Arc::new(exec.clone())).subscribe(rec);
    exec.run_until_idle();
    assert_eq!(probe.items(), vec![1], "never beyond demand (rule 1.1)");
    assert!(!probe.terminated());
    probe.request(5);
    exec.run_until_idle();
    assert_eq!(probe.items(), vec![1, 2, 3]);
    assert!(probe.completed());
}

#[test]
fn cancel_drops_a_pending_stream_without_polling_it_again() {
    let exec = ManualExecutor::new();
    let drops = DropCounter::default();
    let polls = Arc::new(AtomicU64::new(0));
    let p = bridge::from_stream(
        pending_forever(Arc::clone(&polls), drops.token()),
        Arc::new(exec.clone()),
    );
    let (rec, probe) = recorder::<u64>(5);
    p.subscribe(rec);
    exec.run_until_idle();
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    assert_eq!(drops.drops(), 0);
    probe.cancel();
    exec.run_until_idle();
    assert_eq!(drops.drops(), 1, "cancel dropped the stream");
    assert_eq!(polls.load(Ordering::SeqCst), 1, "without polling it again");
    assert!(!probe.terminated(), "cancel sends no terminal signal");
}

#[test]
fn from_stream_is_single_use_and_names_rule_1_11() {
    let p = bridge::from_stream(stream::iter(0..3u64), pool());
    assert_eq!(p.collect_and_wait(), vec![0, 1, 2]);
    let (rec, probe) = recorder::<u64>(1);
    p.subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    let e = probe.error().expect("the second subscriber is rejected");
    assert_eq!(e.rule(), Some(Rule::R1_11));
    assert!(e.to_string().contains("from_stream_fn"), "{e}");
}

#[test]
fn from_stream_fn_is_cold() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&made);
    let p = bridge::from_stream_fn(
        move || {
            m.fetch_add(1, Ordering::SeqCst);
            stream::iter(0..3u64)
        },
        pool(),
    );
    assert_eq!(p.collect_and_wait(), vec![0, 1, 2]);
    assert_eq!(p.collect_and_wait(), vec![0, 1, 2]);
    assert_eq!(made.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panic_while_polling_becomes_on_error_naming_rule_1_4() {
    let mut n = 0;
    let s = stream::poll_fn(move |_| {
        n += 1;
        if n == 3 {
            panic!("poll exploded");
        }
        Poll::Ready(Some(n))
    });
    let (rec, probe) = recorder::<u64>(u64::MAX);
    bridge::from_stream(s, pool()).subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), vec![1, 2]);
    let e = probe.error().unwrap();
    assert_eq!(e.rule(), Some(Rule::R1_4));
    assert!(e.is_panic());
    assert!(
        e.to_string().contains("async_bridge.rs"),
        "names the call site: {e}"
    );
}

#[test]
fn from_try_stream_ends_with_the_streams_error() {
    let items = [Ok(1u64), Err(std::io::Error::other("disk")), Ok(3)];
    let p = bridge::from_try_stream(stream::iter(items).map(|r| r.map_err(Error::new)), pool());
    let (rec, probe) = recorder::<u64>(u64::MAX);
    p.subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), vec![1]);
    assert!(
        probe
            .error()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .is_some()
    );
}

#[test]
fn a_shut_down_executor_fails_the_subscriber_instead_of_hanging() {
    let exec = ManualExecutor::new();
    exec.shutdown();
    let (rec, probe) = recorder::<u64>(1);
    bridge::from_stream(stream::iter(0..3u64), Arc::new(exec.clone())).subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert!(probe.error().is_some());
}

#[test]
fn from_future_emits_one_item_then_completes() {
    let p = bridge::from_future(async { 42u64 }, pool());
    assert_eq!(p.collect_and_wait(), vec![42]);
    let cold = bridge::from_future_fn(|| async { 7u64 }, pool());
    assert_eq!(cold.collect_and_wait(), vec![7]);
    assert_eq!(cold.collect_and_wait(), vec![7]);
}

#[test]
fn from_future_is_not_polled_before_a_request() {
    let exec = ManualExecutor::new();
    let polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&polled);
    let p = bridge::from_future(
        async move {
            flag.store(true, Ordering::SeqCst);
            1u64
        },
        Arc::new(exec.clone()),
    );
    let (rec, probe) = recorder::<u64>(0);
    p.subscribe(rec);
    exec.run_until_idle();
    assert!(!polled.load(Ordering::SeqCst));
    probe.request(1);
    exec.run_until_idle();
    assert_eq!(probe.items(), vec![1]);
    assert!(probe.completed());
}

#[cfg(feature = "tokio")]
#[test]
fn from_stream_polls_on_a_tokio_handle() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bridge-tokio")
        .build()
        .unwrap();
    let names = bridge::from_stream(
        stream::iter(0..3u64).map(|_| std::thread::current().name().map(str::to_owned)),
        Spawner::tokio(rt.handle().clone()),
    )
    .collect_and_wait();
    assert_eq!(names.len(), 3);
    assert!(
        names.iter().all(|n| n.as_deref() == Some("bridge-tokio")),
        "{names:?}"
    );
}

#[test]
fn a_custom_spawner_is_used() {
    let spawned = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&spawned);
    let exec = ManualExecutor::new();
    let inner = Spawner::scheduler(Arc::new(exec.clone()));
    let spawner = Spawner::from_fn(move |task| {
        s.fetch_add(1, Ordering::SeqCst);
        let _ = &inner;
        drop(task); // gives up on it: the subscriber must hear about it
    });
    let (rec, probe) = recorder::<u64>(1);
    bridge::from_stream(stream::iter(0..3u64), spawner).subscribe(rec);
    assert_eq!(spawned.load(Ordering::SeqCst), 1);
    assert!(probe.wait_terminal(WAIT));
    assert!(
        probe
            .error()
            .unwrap()
            .to_string()
            .contains("dropped the polling task")
    );
}

// ---- terminal futures ------------------------------------------------------------------------

#[test]
fn first_last_and_collect_async() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let cancelled = Arc::new(AtomicBool::new(false));
        let c = Arc::clone(&cancelled);
        let p = rstreams::range(3, 100).do_on_cancel(move || c.store(true, Ordering::SeqCst));
        assert_eq!(p.first_async().await.unwrap(), Some(3));
        assert!(
            cancelled.load(Ordering::SeqCst),
            "first_async cancels after the first item"
        );
        assert_eq!(rstreams::empty::<u64>().first_async().await.unwrap(), None);
        assert_eq!(rstreams::range(0, 5).last_async().await.unwrap(), Some(4));
        let on_pool = rstreams::range(0, 1000).publish_on_with(pool(), 16);
        assert_eq!(on_pool.collect_async().await.unwrap().len(), 1000);
        let failed = rstreams::error::<u64>(Error::msg("nope"))
            .collect_async()
            .await;
        assert_eq!(failed.unwrap_err().to_string(), "nope");
        // 'static: spawnable
        let handle = tokio::spawn(rstreams::range(0, 3).collect_async());
        assert_eq!(handle.await.unwrap().unwrap(), vec![0, 1, 2]);
    });
}

#[test]
fn dropping_a_terminal_future_cancels() {
    let exec = ManualExecutor::new();
    let drops = DropCounter::default();
    let polls = Arc::new(AtomicU64::new(0));
    let p = bridge::from_stream(
        pending_forever(polls, drops.token()),
        Arc::new(exec.clone()),
    );
    let fut = p.collect_async();
    exec.run_until_idle();
    drop(fut);
    exec.run_until_idle();
    assert_eq!(drops.drops(), 1);
}

// ---- Sink --------------------------------------------------------------------------------------

/// A sink with room for one item every other `poll_ready` (it wakes itself), recording what it
/// was asked.
#[derive(Default)]
struct Picky {
    accepted: Vec<u64>,
    readies: u64,
    toggle: bool,
    flushes: u64,
    closed: bool,
    fail_after: Option<usize>,
}

impl futures_util::Sink<u64> for Picky {
    type Error = std::io::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.fail_after.is_some_and(|n| self.accepted.len() >= n) {
            return Poll::Ready(Err(std::io::Error::other("sink broke")));
        }
        self.toggle = !self.toggle;
        if self.toggle {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.readies += 1;
        Poll::Ready(Ok(()))
    }
    fn start_send(mut self: Pin<&mut Self>, item: u64) -> Result<(), Self::Error> {
        assert!(
            self.readies > self.accepted.len() as u64,
            "start_send without poll_ready"
        );
        self.accepted.push(item);
        Ok(())
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.closed = true;
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_sink_drives_demand_one_ready_at_a_time_and_is_closed() {
    let requests = Requests::default();
    let mut sink = Picky::default();
    let p = rstreams::range(0, 50)
        .publish_on_with(pool(), 8)
        .do_on_request(requests.hook());
    block_on(p.forward_to_sink(&mut sink)).unwrap();
    assert_eq!(sink.accepted, (0..50).collect::<Vec<_>>());
    assert!(sink.closed);
    // publish_on asks its own upstream in batches; downstream of it, count the sink's requests.
    let mut sink2 = Picky::default();
    let requests2 = Requests::default();
    let p2 = rstreams::range(0, 20).do_on_request(requests2.hook());
    block_on(p2.forward_to_sink(&mut sink2)).unwrap();
    assert!(
        requests2.get().iter().all(|&n| n == 1),
        "one item per ready: {:?}",
        requests2.get()
    );
    assert!(
        requests2.total() <= sink2.readies,
        "never requested beyond readiness"
    );
    assert_eq!(sink2.accepted.len(), 20);
    assert!(requests.total() >= 50);
}

#[test]
fn a_sink_error_cancels_upstream_and_is_reported() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    let mut sink = Picky {
        fail_after: Some(3),
        ..Picky::default()
    };
    let p = rstreams::range(0, 100).do_on_cancel(move || c.store(true, Ordering::SeqCst));
    let e = block_on(p.forward_to_sink(&mut sink)).unwrap_err();
    assert!(e.downcast_ref::<std::io::Error>().is_some(), "{e}");
    assert!(cancelled.load(Ordering::SeqCst));
    assert_eq!(sink.accepted, vec![0, 1, 2]);
    assert!(!sink.closed);
}

#[test]
fn an_upstream_error_is_reported_by_the_sink_future() {
    let mut out: Vec<u64> = Vec::new();
    let p = rstreams::concat([
        rstreams::just(1u64).boxed(),
        rstreams::error(Error::msg("up")).boxed(),
    ]);
    let e = block_on(p.forward_to_sink(&mut out)).unwrap_err();
    assert_eq!(e.to_string(), "up");
    assert_eq!(out, vec![1]);
}

// ---- helpers -----------------------------------------------------------------------------------

trait CollectAndWait<T> {
    fn collect_and_wait(&self) -> Vec<T>;
}

impl<P: Publisher<Item = T>, T: Send + 'static> CollectAndWait<T> for P {
    fn collect_and_wait(&self) -> Vec<T> {
        let (rec, probe) = recorder::<T>(u64::MAX);
        self.subscribe(rec);
        assert!(probe.wait_terminal(WAIT), "no terminal signal");
        assert!(probe.completed(), "failed: {:?}", probe.error());
        probe.take_items()
    }
}
