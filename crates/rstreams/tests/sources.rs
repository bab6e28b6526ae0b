//! Sources: demand-driven, cold, and clear about misuse.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::{DropCounter, recorder};

#[test]
fn nothing_is_produced_before_it_is_requested() {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let p = rstreams::generate(
        || 0u64,
        move |n, sink| {
            c.fetch_add(1, Ordering::SeqCst);
            *n += 1;
            sink.next(*n);
        },
    );
    let (r, probe) = recorder(0);
    p.subscribe(r);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    probe.request(3);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one call per unit of demand"
    );
    assert_eq!(probe.items(), vec![1, 2, 3]);
    probe.request(2);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[test]
fn generate_can_complete_and_fail_and_rejects_misuse() {
    let p = rstreams::generate(
        || 0u32,
        |n, sink| {
            *n += 1;
            if *n == 3 {
                sink.error(rstreams::Error::msg("third"));
            } else {
                sink.next(*n);
            }
        },
    );
    let (r, probe) = recorder(10);
    p.subscribe(r);
    assert_eq!(probe.items(), vec![1, 2]);
    assert!(probe.error().unwrap().to_string().starts_with("third"));

    let silent = rstreams::generate(|| (), |_, _: &mut rstreams::source::GenerateSink<u8>| {});
    let e = silent.blocking_first().unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R1_1));
    assert!(e.to_string().contains("signalled nothing"), "{e}");

    let twice = rstreams::generate(
        || (),
        |_, sink| {
            sink.next(1);
            sink.next(2);
        },
    );
    let e = twice.blocking_first().unwrap_err();
    assert!(e.to_string().contains("more than once"), "{e}");

    let panicking = rstreams::generate(|| -> u8 { panic!("no state") }, |_, sink| sink.next(1));
    let e = panicking.blocking_first().unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R1_4));
    assert_eq!(e.kind(), ErrorKind::Panic);
}

#[test]
fn from_iter_is_cold_and_completes_eagerly() {
    let p = rstreams::from_iter(vec![1, 2, 3]);
    let (r, probe) = recorder(3);
    p.subscribe(r);
    assert_eq!(probe.items(), vec![1, 2, 3]);
    assert!(probe.completed(), "no extra request needed to see the end");
    assert_eq!(p.to_vec().blocking_first().unwrap(), Some(vec![1, 2, 3]));
}

#[test]
fn from_iter_once_second_subscriber_gets_an_error_naming_rule_1_11() {
    let p = rstreams::from_iter_once(vec![String::from("a")]);
    assert_eq!(p.blocking_first().unwrap(), Some("a".to_owned()));
    let (r, probe) = recorder(1);
    p.subscribe(r);
    let e = probe.error().expect("second subscriber is refused");
    assert_eq!(e.rule(), Some(Rule::R1_11));
    assert!(e.to_string().contains("already consumed"), "{e}");
    assert!(e.stage().unwrap().file().ends_with("sources.rs"));
}

#[test]
fn range_overflow_is_an_error_not_a_panic() {
    let e = rstreams::range(u64::MAX, 2).blocking_first().unwrap_err();
    assert!(e.to_string().contains("overflows"), "{e}");
    assert_eq!(
        rstreams::range(u64::MAX - 1, 1).blocking_last().unwrap(),
        Some(u64::MAX - 1)
    );
}

#[test]
fn just_empty_error_never() {
    assert_eq!(
        rstreams::just(5).to_vec().blocking_first().unwrap(),
        Some(vec![5])
    );
    // empty and error terminate without any request (rules 2.9, 2.10).
    let (r, probe) = recorder::<u8>(0);
    rstreams::empty().subscribe(r);
    assert!(probe.completed());
    let (r, probe) = recorder::<u8>(0);
    rstreams::error(rstreams::Error::msg("e")).subscribe(r);
    assert!(probe.error().is_some());
    // never: nothing until cancelled; cancel drops the subscriber (rule 3.13).
    let drops = DropCounter::default();
    struct Holder(#[allow(dead_code)] support::Token, support::Recorder<u8>);
    impl Subscriber<u8> for Holder {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            self.1.on_subscribe(s)
        }
        fn on_next(&mut self, i: u8) {
            self.1.on_next(i)
        }
        fn on_error(&mut self, e: rstreams::Error) {
            self.1.on_error(e)
        }
        fn on_complete(&mut self) {
            self.1.on_complete()
        }
    }
    let (r, probe) = recorder::<u8>(10);
    rstreams::never().subscribe(Holder(drops.token(), r));
    assert!(!probe.terminated());
    assert_eq!(drops.drops(), 0);
    probe.cancel();
    assert_eq!(drops.drops(), 1);
}

#[test]
fn defer_runs_per_subscriber_and_catches_a_panic() {
    let n = Arc::new(AtomicU64::new(0));
    let m = n.clone();
    let p = rstreams::defer(move || rstreams::just(m.fetch_add(1, Ordering::SeqCst)));
    assert_eq!(p.blocking_first().unwrap(), Some(0));
    assert_eq!(p.blocking_first().unwrap(), Some(1));
    let bad = rstreams::defer(|| -> rstreams::source::Just<u8> { panic!("factory") });
    let e = bad.blocking_first().unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R1_4));
    assert_eq!(e.panic_message(), Some("factory"));
}
