//! The example of `docs/guide/tck.md`, kept compiling and passing.

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{BoxPublisher, Publisher, Subscriber};
use rstreams_tck::publisher::PublisherVerification;

/// The publisher under test: n, n-1, ..., 1.
pub struct Countdown(u64);

struct CountdownSource(u64);
impl Source for CountdownSource {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        if self.0 == 0 {
            return Step::Complete;
        }
        self.0 -= 1;
        Step::Next(self.0 + 1)
    }
    fn is_exhausted(&mut self) -> bool {
        self.0 == 0
    }
}

impl Publisher for Countdown {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        pull::serve(CountdownSource(self.0), subscriber);
    }
}

/// Tells the TCK how to make one.
struct CountdownTck;

impl PublisherVerification for CountdownTck {
    type Item = u64;
    type Pub = Countdown;

    /// Exactly `elements` items, then on_complete (u64::MAX means "never ends").
    fn create_publisher(&self, elements: u64) -> Countdown {
        Countdown(elements)
    }

    /// Optional: a publisher that fails (on_subscribe, then on_error). Without it the
    /// failed-publisher tests are skipped, and the report says so.
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        None
    }
}

rstreams_tck::publisher_verification_tests!(countdown, CountdownTck);

impl std::fmt::Debug for Countdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Countdown").finish_non_exhaustive()
    }
}
