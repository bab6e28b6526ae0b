//! The TCK over `flat_map_sequential` and `switch_map`, plus property tests of random
//! request/cancel schedules through both under the protocol checker, against a reference model
//! (the concatenation of the inner ranges, in outer order: `flat_map_sequential` must keep it
//! whatever the threads do; `switch_map` over synchronous inners sees each inner whole).
//!
//! Property cases: `RSTREAMS_PROPTEST_CASES` (default 64 for CI; run by hand with 10000).

mod common;

use common::{Order, drive, failed, pool};
use proptest::prelude::*;
use rstreams::PublisherExt;
use rstreams_protocol::{BoxPublisher, Publisher};
use rstreams_tck::publisher::PublisherVerification;

struct SequentialV;
impl PublisherVerification for SequentialV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // Inners of two items (one of one when n is odd), hopping onto the pool.
        rstreams::range(0, n.div_ceil(2))
            .flat_map_sequential(
                move |x| rstreams::range(x * 2, (n - x * 2).min(2)).publish_on_with(pool(), 2),
                3,
                2,
            )
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.flat_map_sequential(rstreams::just, 4, 8)))
    }
}

struct SwitchV;
impl PublisherVerification for SwitchV {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, n: u64) -> BoxPublisher<u64> {
        // One outer item, so that all n inner items count whatever the demand's timing (a
        // synchronous outer of many items would switch away every inner but the last).
        rstreams::just(0u64)
            .switch_map(move |_| rstreams::range(0, n))
            .boxed()
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some(failed(|p| p.switch_map(rstreams::just)))
    }
}

rstreams_tck::publisher_verification_tests!(flat_map_sequential, super::SequentialV);
rstreams_tck::publisher_verification_tests!(switch_map, super::SwitchV);

// ---------------------------------------------------------------------------------------------
// Random request/cancel schedules under the protocol checker, against the reference model.

proptest! {
    #![proptest_config(ProptestConfig { cases: common::cases(), ..ProptestConfig::default() })]

    #[test]
    fn flat_map_sequential_matches_the_model_under_random_schedules(
        outer in 0u64..12,
        inner in 0u64..30,
        concurrency in 1usize..5,
        prefetch in 1usize..9,
        hop in any::<bool>(),
        ops in prop::collection::vec(common::op(), 1..12),
    ) {
        let (p, want) = common::flat_ranges(true, outer, inner, concurrency, prefetch, hop);
        drive(p, 0, &ops, &want, Order::Kept)?;
    }

    #[test]
    fn switch_map_matches_the_model_under_random_schedules(
        outer in 0u64..12,
        inner in 0u64..30,
        initial in 0u64..60,
        ops in prop::collection::vec(common::op(), 1..12),
    ) {
        // The synchronous outer emits all its items while being subscribed; the demand
        // requested in on_subscribe (`initial`) is all the inners can use meanwhile: each gets
        // what is left of it, and every inner but the last is switched away then. The last one
        // delivers everything after later requests.
        let p = rstreams::range(0, outer)
            .switch_map(move |x| rstreams::range(x * 100, inner))
            .boxed();
        let mut want = Vec::new();
        let mut left = initial;
        for x in 0..outer {
            let k = if x + 1 == outer { inner } else { left.min(inner) };
            left -= left.min(k);
            want.extend(x * 100..x * 100 + k);
        }
        drive(p, initial, &ops, &want, Order::Kept)?;
    }
}
