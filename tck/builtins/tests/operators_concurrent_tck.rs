//! The TCK over the concurrency operators and the multicast processor, plus a property test of
//! random request/cancel schedules through `flat_map` (synchronous and pool-hopping inners)
//! under the protocol checker.
//!
//! Property cases: `RSTREAMS_PROPTEST_CASES` (default 64 for CI; run by hand with 10000).

mod common;

use common::{Order, drive, failed};
use proptest::prelude::*;
use rstreams::PublisherExt;
use rstreams::multicast::{Multicast, SlowConsumer};
use rstreams_protocol::{BoxPublisher, Error, Publisher};
use rstreams_tck::processor::IdentityProcessorVerification;
use rstreams_tck::publisher::PublisherVerification;

struct FlatMapV;
impl PublisherVerification for FlatMapV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        rstreams::range(0, n)
            .flat_map_with(rstreams::just, 4, 8)
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.flat_map_with(rstreams::just, 4, 8)))
    }
}

struct ConcatMapV;
impl PublisherVerification for ConcatMapV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // Inners of two items (and one of one when n is odd).
        let pairs = n / 2 + n % 2;
        rstreams::range(0, pairs)
            .concat_map(
                move |i| rstreams::range(i * 2, if i * 2 + 1 < n { 2 } else { 1 }),
                4,
            )
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.concat_map(rstreams::just, 4)))
    }
}

struct MergeV;
impl PublisherVerification for MergeV {
    type Item = u64;
    type Pub = rstreams::flat::Merge<rstreams::source::Range>;
    fn create_publisher(&self, n: u64) -> Self::Pub {
        let half = n / 2;
        rstreams::merge(
            vec![rstreams::range(0, half), rstreams::range(half, n - half)],
            8,
        )
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.merge_with(rstreams::range(0, 3), 8)))
    }
}

struct ZipV;
impl PublisherVerification for ZipV {
    type Item = (u64, u64);
    type Pub = rstreams::flat::Zip<rstreams::source::Range, rstreams::source::Range>;
    fn create_publisher(&self, n: u64) -> Self::Pub {
        rstreams::range(0, n).zip(rstreams::range(0, u64::MAX), 8)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<(u64, u64)>> {
        Some(failed(|p| p.zip(rstreams::range(0, 3), 8)))
    }
}

struct MulticastV;
impl IdentityProcessorVerification for MulticastV {
    type Item = u64;
    type Input = Multicast<u64>;
    type Output = Multicast<u64>;
    fn create_identity_processor(&self, buffer: usize) -> (Multicast<u64>, Multicast<u64>) {
        let m = Multicast::with_policy(buffer, SlowConsumer::Hold);
        (m.clone(), m)
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn create_helper_publisher(&self, n: u64) -> BoxPublisher<u64> {
        rstreams_tck::helpers::SyncHelperPublisher::new(n, |i| i).boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        let m = Multicast::<u64>::new(4);
        rstreams::error::<u64>(Error::msg("upstream failed")).subscribe(m.clone());
        Some(m.boxed())
    }
}

rstreams_tck::publisher_verification_tests!(flat_map, super::FlatMapV);
rstreams_tck::publisher_verification_tests!(concat_map, super::ConcatMapV);
rstreams_tck::publisher_verification_tests!(merge, super::MergeV);
rstreams_tck::publisher_verification_tests!(zip, super::ZipV);
rstreams_tck::identity_processor_verification_tests!(multicast, super::MulticastV);

// ---------------------------------------------------------------------------------------------
// Random request/cancel schedules through flat_map, under the protocol checker.

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(), ..ProptestConfig::default() })]

    #[test]
    fn flat_map_schedules_never_break_the_protocol(
        outer in 0u64..12,
        inner in 0u64..30,
        concurrency in 1usize..5,
        prefetch in 1usize..9,
        hop in any::<bool>(),
        ops in prop::collection::vec(common::op(), 1..12),
    ) {
        let (p, want) = common::flat_ranges(false, outer, inner, concurrency, prefetch, hop);
        drive(p, 0, &ops, &want, Order::Any)?;
    }
}
