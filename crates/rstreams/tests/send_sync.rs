//! Static checks of the auto traits the `rstreams` crate promises (issue 13 item 3): handles
//! meant to be shared between threads (emitters, cancel handles, connectable publishers, the
//! drop counter, errors) are `Send + Sync`; every publisher an operator builds over a `Send +
//! Sync` upstream is `Send + Sync` too, so a pipeline can be assembled on one thread and
//! subscribed on another; the blocking iterator and the async stream may move to another thread.
//! A compile error here is the failure.

use std::sync::Arc;
use std::time::Duration;

use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::multicast::{SlowConsumer, SubscriberStats};
use rstreams::overflow::{DropCounter, Overflow, OverflowPolicy};
use rstreams::prelude::*;
use rstreams::source::Range;
use rstreams::time::TimedOut;
use rstreams::{BlockingIter, Cancellable, Emitter, EmitterPublisher};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn send_sync_val<T: Send + Sync>(_: &T) {}

#[test]
fn handles_and_values_are_send_and_sync() {
    send_sync::<Emitter<u64>>();
    send_sync::<EmitterPublisher<u64>>();
    send_sync::<Cancellable>();
    send_sync::<DropCounter>();
    send_sync::<OverflowPolicy>();
    send_sync::<Overflow>();
    send_sync::<SlowConsumer>();
    send_sync::<SubscriberStats>();
    send_sync::<TimedOut>();
    send_sync::<Range>();
    send_sync::<rstreams::emitter::SendError<u64>>();
    send_sync::<rstreams::emitter::TrySendError<u64>>();
    send_sync::<rstreams::emitter::SendTimeoutError<u64>>();
    send_sync::<rstreams::overflow::HotEmitter<u64>>();
}

#[test]
fn blocking_iterator_is_send_and_sync() {
    send_sync::<BlockingIter<u64>>();
    // Needs only `T: Send`: the buffer is never shared between threads at once.
    send::<BlockingIter<std::cell::Cell<u64>>>();
}

#[test]
fn operator_chains_over_send_sync_upstreams_are_send_and_sync() {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec);
    let chain = rstreams::range(0, 10)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .take(5)
        .on_backpressure_buffer(16, OverflowPolicy::Error)
        .publish_on_with(Arc::clone(&sched), 8)
        .subscribe_on(Arc::clone(&sched))
        .flat_map_with(rstreams::just, 4, 8)
        .timeout(Duration::from_secs(1), Arc::clone(&sched));
    send_sync_val(&chain);
    send_sync_val(&chain.share(16));
    send_sync_val(&rstreams::merge(
        vec![rstreams::range(0, 3), rstreams::range(3, 6)],
        8,
    ));
    send_sync_val(&rstreams::range(0, 3).zip(rstreams::range(0, 3), 8));
    send_sync_val(&rstreams::from_iter(vec![1u8, 2, 3]));
    send_sync_val(&rstreams::just(1u8));
    send_sync_val(&rstreams::empty::<u8>());
}

#[cfg(feature = "futures")]
#[test]
fn async_bridges_are_send() {
    send::<rstreams::bridge::PublisherStream<u64>>();
    send_sync::<rstreams::bridge::Spawner>();
}
