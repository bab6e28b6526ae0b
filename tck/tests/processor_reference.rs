//! The processor suite over the TCK's reference identity processor, fed by the synchronous and
//! by the asynchronous helper publisher.

use rstreams_protocol::{BoxPublisher, Publisher};
use rstreams_tck::helpers::{
    AsyncHelperPublisher, IdentityProcessor, ProcessorInput, SyncHelperPublisher,
};
use rstreams_tck::processor::IdentityProcessorVerification;

/// The reference processor; `async_helper` picks the helper publisher feeding it.
struct Reference {
    async_helper: bool,
}

impl IdentityProcessorVerification for Reference {
    type Item = u64;
    type Input = ProcessorInput<u64>;
    type Output = IdentityProcessor<u64>;

    fn create_identity_processor(&self, buffer: usize) -> (Self::Input, Self::Output) {
        let p = IdentityProcessor::new(buffer);
        (p.input(), p)
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
        if self.async_helper {
            AsyncHelperPublisher::new(elements, |i| i).boxed()
        } else {
            SyncHelperPublisher::new(elements, |i| i).boxed()
        }
    }
    fn max_supported_subscribers(&self) -> u64 {
        1
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        // A processor whose upstream failed before anyone subscribed downstream.
        let p = IdentityProcessor::new(4);
        rstreams_tck::helpers::FailedPublisher::<u64>::new("upstream failed").subscribe(p.input());
        Some(p.boxed())
    }
}

rstreams_tck::identity_processor_verification_tests!(
    identity_processor_sync_upstream,
    super::Reference {
        async_helper: false
    }
);
rstreams_tck::identity_processor_verification_tests!(
    identity_processor_async_upstream,
    super::Reference { async_helper: true }
);
