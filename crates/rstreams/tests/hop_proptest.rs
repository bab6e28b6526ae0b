//! Property: random request/cancel schedules through `publish_on` (and `subscribe_on` +
//! `publish_on`) on a deterministic executor never violate the protocol, as judged by the TCK's
//! protocol checker (`rstreams_tck::checker`) wrapped around a strict recording subscriber:
//! items arrive in order, never beyond demand, nothing after cancel, and the stream completes
//! exactly when everything was requested.
//!
//! Cases: `RSTREAMS_PROPTEST_CASES` (default 256 for CI; run 10^4 or more by hand).

mod common_flow;

use std::sync::Arc;

use common_flow::{Sig, recorder};
use proptest::prelude::*;
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::prelude::*;
use rstreams_tck::checker::CheckedSubscriber;

#[derive(Debug, Clone)]
enum Op {
    Request(u64),
    Run,
    Step,
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..40).prop_map(Op::Request),
        1 => Just(Op::Request(u64::MAX)),
        3 => Just(Op::Run),
        3 => Just(Op::Step),
        1 => Just(Op::Cancel),
    ]
}

fn cases() -> u32 {
    std::env::var("RSTREAMS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_through_publish_on_break_no_rule(
        len in 0u64..200,
        prefetch in 1usize..40,
        two_hops in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..40),
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
        let mut requested = 0u64;
        let mut cancelled = false;
        let mut items = Vec::new();
        let mut ended = None;
        let mut collect = |probe: &common_flow::Probe<u64>, cancelled: bool| {
            for sig in probe.drain_ready() {
                prop_assert!(ended.is_none(), "signal after terminal");
                match sig {
                    Sig::Next(x) => {
                        prop_assert!(!cancelled, "item after cancel settled");
                        items.push(x);
                    }
                    Sig::Complete => ended = Some(true),
                    Sig::Error(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Request(n) => {
                    if !cancelled {
                        requested = requested.saturating_add(n);
                        probe.request(n);
                    }
                }
                Op::Run => { exec.run_until_idle(); }
                Op::Step => { exec.step(); }
                Op::Cancel => {
                    probe.cancel();
                    exec.run_until_idle();
                    collect(&probe, false)?;
                    cancelled = true;
                }
            }
            collect(&probe, cancelled)?;
        }
        exec.run_until_idle();
        collect(&probe, cancelled)?;
        report.assert_clean();
        probe.assert_clean();
        prop_assert_eq!(&items, &(0..items.len() as u64).collect::<Vec<_>>());
        prop_assert!(items.len() as u64 <= requested);
        if !cancelled {
            let expect = requested.min(len);
            prop_assert_eq!(items.len() as u64, expect);
            prop_assert_eq!(ended.is_some(), requested >= len);
        }
    }
}
