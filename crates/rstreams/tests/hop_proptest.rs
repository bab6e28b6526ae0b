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
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use rstreams_tck::checker::CheckedSubscriber;
use support::recorder;

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_through_publish_on_break_no_rule(
        len in 0u64..200,
        prefetch in 1usize..40,
        two_hops in any::<bool>(),
        ops in proptest::collection::vec(support::op(40), 1..40),
    ) {
        let exec = ManualExecutor::new();
        let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
        let (rec, probe) = recorder::<u64>(0);
        let checked = CheckedSubscriber::new(rec);
        let report = checked.report();
        if two_hops {
            rstreams::range(0, len)
                .subscribe_on(Arc::clone(&sched))
                .publish_on_with(sched, prefetch)
                .subscribe(checked);
        } else {
            rstreams::range(0, len).publish_on_with(sched, prefetch).subscribe(checked);
        }
        exec.run_until_idle();
        let out = support::drive(&exec, &probe, &ops)?;
        report.assert_clean();
        prop_assert_eq!(&out.items, &(0..out.items.len() as u64).collect::<Vec<_>>());
        out.check_len(len as usize)?;
    }
}
