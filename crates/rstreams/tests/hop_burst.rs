//! `subscribe_on` runs each lane request as a burst that holds the downstream's lock (issue
//! 14.1, `hop/burst.rs`). A clean-up that finds a burst in progress must leave the ending to it
//! rather than wait: here the burst never ends by itself (an endless source, unbounded demand),
//! a graceful shutdown is waiting for it, and a request refused after the shutdown must still
//! end the stream with one `on_error`, cancel the source, and so let the shutdown return.
//!
//! Every wait is bounded (`recv_timeout`): a hang shows as a failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

const WAIT: Duration = Duration::from_secs(10);

type Slot = Arc<Mutex<Option<Box<dyn Subscription>>>>;

/// Requests everything at once and keeps its subscription where the test can reach it.
struct Endless {
    sub: Slot,
    first: Sender<()>,
    terminal: Sender<String>,
    seen: u64,
}

impl Subscriber<u64> for Endless {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
        *self.sub.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        if self.seen == 0 {
            let _ = self.first.send(());
        }
        self.seen += 1;
    }
    fn on_error(&mut self, e: rstreams::Error) {
        let _ = self.terminal.send(e.to_string());
    }
    fn on_complete(&mut self) {
        let _ = self.terminal.send("complete".to_owned());
    }
}

#[test]
fn refused_request_during_an_endless_burst_ends_the_stream_and_lets_shutdown_return() {
    let pool = Arc::new(ThreadPool::builder().workers(1).build().unwrap());
    let scheduler: Arc<dyn Scheduler> = pool.clone();
    let sub: Slot = Arc::default();
    let (first_tx, first_rx) = unbounded();
    let (terminal_tx, terminal_rx) = unbounded();
    rstreams::range(0, u64::MAX)
        .subscribe_on(scheduler)
        .subscribe(Endless {
            sub: Arc::clone(&sub),
            first: first_tx,
            terminal: terminal_tx,
            seen: 0,
        });
    first_rx.recv_timeout(WAIT).expect("items flow");

    // A graceful shutdown waits for the running burst (the lane's request task).
    let (shut_tx, shut_rx) = unbounded();
    let closing = Arc::clone(&pool);
    std::thread::spawn(move || {
        closing.shutdown();
        let _ = shut_tx.send(());
    });
    let deadline = Instant::now() + WAIT;
    while !pool.is_shutdown() {
        assert!(Instant::now() < deadline, "the pool never closed");
        std::thread::yield_now();
    }

    // Refused (shut down): the clean-up runs on this thread while the burst holds the lock.
    let s = sub.lock().unwrap().take().expect("subscribed");
    s.request(1);

    let terminal = terminal_rx.recv_timeout(WAIT).expect("one terminal signal");
    assert!(
        terminal.contains("shut down"),
        "the error says why the stream ended: {terminal}"
    );
    shut_rx
        .recv_timeout(WAIT)
        .expect("the source was cancelled, the burst ended and the shutdown returned");
    assert!(
        terminal_rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "exactly one terminal signal"
    );
}
