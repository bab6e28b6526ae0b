//! loom model: a wake-up deferred to the end of a producer's batch
//! (`PullHandle::wake_deferred` from inside the emission loop of a source that coalesces
//! wake-ups) is never lost, whichever way it races with another thread's wake-up of the same
//! consumer. Broken twin: the producer's batches forget their deferred wake-ups at the end
//! (`pull::__loom::break_deferred_wakes_on_this_thread`), and loom finds the consumer stuck with
//! items in its queue.
#![cfg(rstreams_loom)]

#[path = "support/loom_probe.rs"]
mod support;

use std::collections::VecDeque;
use std::sync::Arc;

use loom::sync::Mutex;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Subscriber, Subscription};
use support::{Counter, Probe, Seen, model};

type Queue = Arc<Mutex<VecDeque<u64>>>;

/// The consumer's source: what producers pushed, `Pending` when empty.
struct Inbox(Queue);

impl Source for Inbox {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .map_or(Step::Pending, Step::Next)
    }
}

/// A producer that emits in batches and lets wake-ups wait until each batch ends.
struct Batched(Counter);

impl Source for Batched {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        self.0.pull()
    }
    fn is_exhausted(&mut self) -> bool {
        self.0.is_exhausted()
    }
    fn coalesces_wakes(&self) -> bool {
        true
    }
}

/// Pushes every item into the consumer's queue and defers its wake-up (as the merge's inners do).
struct Pusher {
    queue: Queue,
    consumer: PullHandle,
}

impl Subscriber<u64> for Pusher {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, item: u64) {
        self.queue.lock().unwrap().push_back(item);
        self.consumer.wake_deferred();
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

fn run(broken: bool) {
    model(move || {
        let seen = Seen::new();
        let queue: Queue = Arc::new(Mutex::new(VecDeque::new()));
        let inbox = Arc::clone(&queue);
        let consumer = pull::serve_with(|_| Inbox(inbox), Probe::new(&seen, u64::MAX));
        let (q, h) = (Arc::clone(&queue), consumer.clone());
        let producer = thread::spawn(move || {
            if broken {
                pull::__loom::break_deferred_wakes_on_this_thread();
            }
            pull::serve(
                Batched(Counter { next: 0, limit: 2 }),
                Pusher {
                    queue: q,
                    consumer: h,
                },
            );
        });
        // Another producer's wake-up, racing with the batch and its deferred wake-up.
        consumer.wake();
        producer.join().unwrap();
        assert_eq!(seen.received.load(SeqCst), 2, "a deferred wake-up was lost");
        seen.assert_clean();
        seen.cancel();
    });
}

#[test]
fn deferred_wake_runs_when_the_batch_ends() {
    run(false);
}

#[test]
#[should_panic(expected = "a deferred wake-up was lost")]
fn broken_twin_batch_forgets_its_deferred_wakes() {
    run(true);
}
