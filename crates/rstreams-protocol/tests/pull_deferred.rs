//! `PullHandle::wake_deferred`: inside the batch of a source that coalesces wake-ups the consumer
//! is woken once, when the batch ends; anywhere else at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Subscriber, Subscription};

type Queue = Arc<Mutex<VecDeque<u64>>>;

/// The consumer: pops what producers pushed, counting its passes that found something.
struct Inbox {
    queue: Queue,
    passes: Arc<AtomicU64>,
}

impl Source for Inbox {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        self.queue
            .lock()
            .unwrap()
            .pop_front()
            .map_or(Step::Pending, Step::Next)
    }
    fn pull_many<F: FnMut(u64) -> bool>(
        &mut self,
        limit: u64,
        emit: F,
    ) -> (u64, Option<Step<u64>>) {
        let r = pull::pull_one_by_one(self, limit, emit);
        if r.0 > 0 {
            self.passes.fetch_add(1, SeqCst);
        }
        r
    }
}

/// Records what reached the consumer's subscriber.
struct Sink(Arc<AtomicU64>);

impl Subscriber<u64> for Sink {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        self.0.fetch_add(1, SeqCst);
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {}
}

/// `n` items, in one batch; `coalesce` says whether it lets wake-ups wait for the batch's end.
struct Producer {
    left: u64,
    coalesce: bool,
}

impl Source for Producer {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        if self.left == 0 {
            return Step::Complete;
        }
        self.left -= 1;
        Step::Next(self.left)
    }
    fn is_exhausted(&mut self) -> bool {
        self.left == 0
    }
    fn coalesces_wakes(&self) -> bool {
        self.coalesce
    }
}

/// Pushes into the consumer's queue and defers its wake-up; records how many items the consumer
/// had delivered when each push was made.
struct Pusher {
    queue: Queue,
    consumer: PullHandle,
    delivered: Arc<AtomicU64>,
    seen_during: Arc<Mutex<Vec<u64>>>,
}

impl Subscriber<u64> for Pusher {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, item: u64) {
        self.seen_during
            .lock()
            .unwrap()
            .push(self.delivered.load(SeqCst));
        self.queue.lock().unwrap().push_back(item);
        self.consumer.wake_deferred();
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {}
}

fn scenario(coalesce: bool) -> (u64, u64, Vec<u64>) {
    let queue: Queue = Arc::default();
    let passes = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let consumer = pull::serve_with(
        |_| Inbox {
            queue: Arc::clone(&queue),
            passes: Arc::clone(&passes),
        },
        Sink(Arc::clone(&delivered)),
    );
    let seen_during = Arc::new(Mutex::new(Vec::new()));
    pull::serve(
        Producer { left: 5, coalesce },
        Pusher {
            queue: Arc::clone(&queue),
            consumer: consumer.clone(),
            delivered: Arc::clone(&delivered),
            seen_during: Arc::clone(&seen_during),
        },
    );
    consumer.cancel();
    let seen = seen_during.lock().unwrap().clone();
    (delivered.load(SeqCst), passes.load(SeqCst), seen)
}

#[test]
fn inside_a_coalescing_batch_the_consumer_is_woken_once_at_its_end() {
    let (delivered, passes, seen_during) = scenario(true);
    assert_eq!(
        delivered, 5,
        "every item reached the consumer when the batch ended"
    );
    assert_eq!(passes, 1, "one wake-up for the whole batch");
    assert_eq!(
        seen_during,
        vec![0; 5],
        "nothing was delivered during the batch"
    );
}

#[test]
fn outside_a_coalescing_batch_the_consumer_is_woken_at_once() {
    let (delivered, passes, seen_during) = scenario(false);
    assert_eq!(delivered, 5);
    assert_eq!(passes, 5, "one wake-up per push");
    assert_eq!(
        seen_during,
        vec![0, 1, 2, 3, 4],
        "each push was delivered before the next"
    );
}

#[test]
fn outside_any_batch_wake_deferred_is_wake() {
    let queue: Queue = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let consumer = pull::serve_with(
        |_| Inbox {
            queue: Arc::clone(&queue),
            passes: Arc::default(),
        },
        Sink(Arc::clone(&delivered)),
    );
    queue.lock().unwrap().push_back(7);
    consumer.wake_deferred();
    assert_eq!(delivered.load(SeqCst), 1);
    consumer.cancel();
}
