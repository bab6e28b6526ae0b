//! The publisher suite over the protocol crate's reference publishers and the TCK's own
//! helpers: every test must pass (skips only where documented in the verification).

use rstreams_protocol::reference::{IterPublisher, RangePublisher};
use rstreams_protocol::{BoxPublisher, Error, Publisher};
use rstreams_tck::helpers::{AsyncHelperPublisher, SyncHelperPublisher};
use rstreams_tck::publisher::PublisherVerification;

/// A publisher of one `on_error`, for the failed-publisher tests.
fn failing() -> BoxPublisher<u64> {
    // An iterator source whose only element is a panic: the pull kit turns it into on_error.
    IterPublisher::new(Failing).boxed()
}

#[derive(Clone)]
struct Failing;
impl IntoIterator for Failing {
    type Item = u64;
    type IntoIter = FailingIter;
    fn into_iter(self) -> FailingIter {
        FailingIter
    }
}
struct FailingIter;
impl Iterator for FailingIter {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        std::panic::panic_any(Error::msg("the failed publisher fails"))
    }
}

struct Range;
impl PublisherVerification for Range {
    type Item = u64;
    type Pub = RangePublisher;
    fn create_publisher(&self, elements: u64) -> RangePublisher {
        RangePublisher::new(0, elements.min(u64::MAX - 1))
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failing())
    }
}

struct Iter;
impl PublisherVerification for Iter {
    type Item = u64;
    type Pub = IterPublisher<std::ops::Range<u64>>;
    fn create_publisher(&self, elements: u64) -> Self::Pub {
        IterPublisher::new(0..elements)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failing())
    }
}

struct SyncHelper;
impl PublisherVerification for SyncHelper {
    type Item = String;
    type Pub = SyncHelperPublisher<String>;
    fn create_publisher(&self, elements: u64) -> Self::Pub {
        SyncHelperPublisher::new(elements, |i| format!("item {i}"))
    }
}

struct AsyncHelper;
impl PublisherVerification for AsyncHelper {
    type Item = u64;
    type Pub = AsyncHelperPublisher<u64>;
    fn create_publisher(&self, elements: u64) -> Self::Pub {
        AsyncHelperPublisher::new(elements, |i| i)
    }
}

rstreams_tck::publisher_verification_tests!(range_publisher, super::Range);
rstreams_tck::publisher_verification_tests!(iter_publisher, super::Iter);
rstreams_tck::publisher_verification_tests!(sync_helper, super::SyncHelper);
rstreams_tck::publisher_verification_tests!(async_helper, super::AsyncHelper);
