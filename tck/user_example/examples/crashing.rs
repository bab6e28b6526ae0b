//! A registry with a publisher that aborts the process on `request(0)`: the report must name
//! the tests that died and still print the rest (see `tests/report.rs`).

use rstreams_protocol::{Publisher, Subscriber, Subscription};
use rstreams_tck::report::{self, publisher};
use rstreams_tck_user_example::Counter;

/// Forwards to a [`Counter`], but aborts the process when asked for zero items.
struct AbortOnZero(Counter);

struct Guard(Box<dyn Subscription>);

impl Subscription for Guard {
    fn request(&self, n: u64) {
        if n == 0 {
            std::process::abort();
        }
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

struct Wrap<S>(S);

impl<S: Subscriber<u64>> Subscriber<u64> for Wrap<S> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.0.on_subscribe(Box::new(Guard(s)))
    }
    fn on_next(&mut self, item: u64) {
        self.0.on_next(item)
    }
    fn on_error(&mut self, e: rstreams_protocol::Error) {
        self.0.on_error(e)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

impl Publisher for AbortOnZero {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        self.0.subscribe(Wrap(subscriber))
    }
}

fn main() -> std::process::ExitCode {
    report::main(vec![
        publisher("AbortOnZero", |n| AbortOnZero(Counter::new(n))),
        publisher("Counter", Counter::new),
    ])
}
