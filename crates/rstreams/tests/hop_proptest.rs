//! Property: random request/cancel schedules through `publish_on` (and `subscribe_on` +
//! `publish_on`) on a deterministic executor never violate the protocol, as judged by the TCK's
//! protocol checker (`rstreams_tck::checker`) wrapped around a strict recording subscriber:
//! items arrive in order, never beyond demand, nothing after cancel, and the stream completes
//! exactly when everything was requested.
//!
//! Cases: `RSTREAMS_PROPTEST_CASES` (default 256 for CI; run 10^4 or more by hand).

mod support;

use std::sync::Arc;

use proptest::prelude::*;
use rstreams::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_through_publish_on_break_no_rule(
        len in 0u64..200,
        prefetch in 1usize..40,
        two_hops in any::<bool>(),
        ops in proptest::collection::vec(support::op(40), 1..40),
    ) {
        let (run, checked) = support::schedule::<u64>();
        let sched = run.scheduler();
        if two_hops {
            rstreams::range(0, len)
                .subscribe_on(Arc::clone(&sched))
                .publish_on_with(sched, prefetch)
                .subscribe(checked);
        } else {
            rstreams::range(0, len).publish_on_with(sched, prefetch).subscribe(checked);
        }
        let out = run.play(&ops)?;
        prop_assert_eq!(&out.items, &(0..out.items.len() as u64).collect::<Vec<_>>());
        out.check_len(len as usize)?;
    }
}
