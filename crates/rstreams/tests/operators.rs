//! Operator semantics, request accounting, cancellation and errors.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rstreams::prelude::*;
use rstreams::{ErrorKind, Rule};
use support::{DropCounter, Requests, recorder};

#[test]
fn map_passes_demand_through_unchanged() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 100)
        .do_on_request(reqs.hook())
        .map(|x| x + 1)
        .subscribe(r);
    probe.request(3);
    probe.request(u64::MAX);
    assert_eq!(reqs.get(), vec![3, u64::MAX]);
    assert_eq!(probe.count(), 100);
    assert!(probe.completed());
}

#[test]
fn take_caps_the_upstream_request_and_cancels_after_n() {
    let reqs = Requests::default();
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let (r, probe) = recorder(0);
    rstreams::range(0, 1000)
        .do_on_request(reqs.hook())
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .take(5)
        .subscribe(r);
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 1]);
    assert!(!cancelled.load(Ordering::SeqCst));
    probe.request(u64::MAX); // capped: only the 3 still allowed go upstream
    assert_eq!(reqs.get(), vec![2, 3]);
    assert_eq!(probe.items(), vec![0, 1, 2, 3, 4]);
    assert!(probe.completed());
    assert!(cancelled.load(Ordering::SeqCst));
    probe.request(10); // after completion: nothing more upstream
    assert_eq!(reqs.get(), vec![2, 3]);
}

#[test]
fn take_zero_completes_without_requesting() {
    let reqs = Requests::default();
    let (r, probe) = recorder(5);
    rstreams::range(0, 10)
        .do_on_request(reqs.hook())
        .take(0)
        .subscribe(r);
    assert!(probe.completed());
    assert_eq!(probe.count(), 0);
    assert_eq!(reqs.total(), 0);
}

#[test]
fn filter_replenishes_dropped_demand_in_one_request() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    // Keep multiples of 10: 9 of every 10 items are dropped.
    rstreams::range(0, 1_000)
        .do_on_request(reqs.hook())
        .filter(|x| x % 10 == 0)
        .subscribe(r);
    probe.request(5);
    assert_eq!(probe.items(), vec![0, 10, 20, 30, 40]);
    let seen = reqs.get();
    // First the downstream's 5; then, each time everything asked for has arrived, one request
    // for the downstream demand still unmet (so it shrinks as matches arrive), never one request
    // per dropped item, and in total exactly the 41 items needed for 5 matches.
    assert_eq!(seen[0], 5);
    assert!(seen.windows(2).all(|w| w[1] <= w[0]), "{seen:?}");
    assert!(
        seen.len() < 36,
        "fewer requests than the 36 dropped items: {seen:?}"
    );
    assert_eq!(reqs.total(), 41, "{seen:?}");
}

#[test]
fn filter_forwards_unbounded_demand_once() {
    let reqs = Requests::default();
    let v = rstreams::range(0, 10_000)
        .do_on_request(reqs.hook())
        .filter(|x| x % 2 == 0)
        .blocking_last()
        .unwrap();
    assert_eq!(v, Some(9998));
    assert_eq!(reqs.get(), vec![u64::MAX]);
}

#[test]
fn skip_and_skip_while_replenish_in_batches() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 100)
        .do_on_request(reqs.hook())
        .skip(10)
        .subscribe(r);
    probe.request(3);
    assert_eq!(probe.items(), vec![10, 11, 12]);
    assert_eq!(reqs.total(), 13);
    // 10 dropped items cost 4 replenishing requests, not 10.
    assert_eq!(reqs.get(), vec![3, 3, 3, 3, 1]);

    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 100)
        .do_on_request(reqs.hook())
        .skip_while(|x| *x < 20)
        .subscribe(r);
    probe.request(2);
    assert_eq!(probe.items(), vec![20, 21]);
    assert_eq!(reqs.total(), 22);
}

#[test]
fn buffer_requests_n_times_the_batches() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 10)
        .do_on_request(reqs.hook())
        .buffer(4)
        .subscribe(r);
    probe.request(1);
    assert_eq!(probe.items(), vec![vec![0, 1, 2, 3]]);
    probe.request(5);
    assert_eq!(reqs.get(), vec![4, 20]);
    assert_eq!(
        probe.items(),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    assert!(probe.completed());
    // u64::MAX batches stays unbounded.
    let reqs = Requests::default();
    rstreams::range(0, 3)
        .do_on_request(reqs.hook())
        .buffer(7)
        .for_each(|_| {})
        .unwrap();
    assert_eq!(reqs.get(), vec![u64::MAX]);
}

#[test]
fn buffer_zero_is_a_clear_error() {
    let e = rstreams::range(0, 3)
        .buffer(0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("buffer(0)"), "{e}");
    assert!(e.stage().unwrap().file().ends_with("operators.rs"));
}

#[test]
fn limit_rate_follows_high_then_low_under_unbounded_demand() {
    let reqs = Requests::default();
    rstreams::range(0, 1000)
        .do_on_request(reqs.hook())
        .limit_rate(100, 25)
        .for_each(|_| {})
        .unwrap();
    let seen = reqs.get();
    assert_eq!(seen[0], 100);
    assert!(seen[1..].iter().all(|n| *n == 25), "{seen:?}");
    assert!(reqs.total() >= 1000);
    // low >= high: the 75% rule.
    let reqs = Requests::default();
    rstreams::range(0, 100)
        .do_on_request(reqs.hook())
        .limit_rate(8, 8)
        .for_each(|_| {})
        .unwrap();
    assert_eq!(reqs.get()[..3], [8, 6, 6]);
    // low == 0: replenish the whole batch once everything arrived.
    let reqs = Requests::default();
    rstreams::range(0, 20)
        .do_on_request(reqs.hook())
        .limit_rate(8, 0)
        .for_each(|_| {})
        .unwrap();
    assert_eq!(reqs.get()[..3], [8, 8, 8]);
}

#[test]
fn limit_rate_never_requests_beyond_downstream_demand() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(0, 1000)
        .do_on_request(reqs.hook())
        .limit_rate(100, 50)
        .subscribe(r);
    probe.request(10);
    assert_eq!(reqs.get(), vec![10]);
    assert_eq!(probe.count(), 10);
    probe.request(300);
    assert_eq!(probe.count(), 310);
    assert_eq!(reqs.total(), 310);
    assert!(reqs.get().iter().all(|n| *n <= 100), "{:?}", reqs.get());
}

#[test]
fn limit_rate_zero_is_a_clear_error() {
    let e = rstreams::range(0, 3)
        .limit_rate(0, 0)
        .blocking_first()
        .unwrap_err();
    assert!(e.to_string().contains("limit_rate(0"), "{e}");
}

#[test]
fn take_while_cancels_upstream_at_first_false() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let v = rstreams::range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .take_while(|x| *x < 4)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![0, 1, 2, 3]));
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn scan_emits_each_accumulation_per_subscription() {
    let p = rstreams::range(1, 4).scan(String::new(), |acc, x| format!("{acc}{x}"));
    let expect = Some(vec![
        "1".to_owned(),
        "12".into(),
        "123".into(),
        "1234".into(),
    ]);
    assert_eq!(p.clone().to_vec().blocking_first().unwrap(), expect);
    // A second subscription starts from the seed again.
    assert_eq!(p.to_vec().blocking_first().unwrap(), expect);
}

#[test]
fn reduce_and_collect_wait_for_downstream_demand() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::range(1, 4)
        .do_on_request(reqs.hook())
        .reduce(|a, b| a + b)
        .subscribe(r);
    assert!(
        reqs.get().is_empty(),
        "nothing requested before downstream asks"
    );
    probe.request(1);
    assert_eq!(reqs.get(), vec![u64::MAX]);
    assert_eq!(probe.items(), vec![10]);
    assert!(probe.completed());

    // An empty upstream completes before any request: collect holds the empty Vec until asked.
    let (r, probe) = recorder(0);
    rstreams::empty::<u8>().to_vec().subscribe(r);
    assert_eq!(probe.count(), 0);
    assert!(!probe.terminated());
    probe.request(1);
    assert_eq!(probe.items(), vec![Vec::<u8>::new()]);
    assert!(probe.completed());

    // reduce of nothing completes without an item.
    assert_eq!(
        rstreams::empty::<u8>()
            .reduce(|a, _| a)
            .blocking_first()
            .unwrap(),
        None
    );
}

#[test]
fn concat_carries_demand_over_and_stops_on_error() {
    let reqs = Requests::default();
    let (r, probe) = recorder(0);
    rstreams::concat([
        rstreams::range(0, 3).boxed(),
        rstreams::range(10, 3).do_on_request(reqs.hook()).boxed(),
    ])
    .subscribe(r);
    probe.request(5);
    assert_eq!(probe.items(), vec![0, 1, 2, 10, 11]);
    assert_eq!(
        reqs.get(),
        vec![2],
        "the second gets only what is still wanted"
    );
    probe.request(1);
    assert!(probe.completed());

    let v = rstreams::concat([
        rstreams::just(1).boxed(),
        rstreams::error(rstreams::Error::msg("stop")).boxed(),
        rstreams::just(3).boxed(),
    ])
    .to_vec()
    .blocking_first();
    assert!(v.unwrap_err().to_string().contains("stop"));
}

#[test]
fn concat_of_many_synchronous_publishers_uses_constant_stack() {
    let parts: Vec<_> = (0..100_000).map(|i| rstreams::just(i as u64)).collect();
    let sum = rstreams::concat(parts)
        .reduce(|a, b| a + b)
        .blocking_first();
    assert_eq!(sum.unwrap(), Some((0..100_000u64).sum()));
}

#[test]
fn concat_cancel_stops_and_never_subscribes_the_rest() {
    let subscribed = Arc::new(AtomicUsize::new(0));
    let s = subscribed.clone();
    let second = rstreams::defer(move || {
        s.fetch_add(1, Ordering::SeqCst);
        rstreams::range(0, 3)
    });
    let (r, probe) = recorder(2);
    rstreams::concat([rstreams::range(0, 5).boxed(), second.boxed()]).subscribe(r);
    probe.cancel();
    probe.request(10);
    assert_eq!(probe.count(), 2);
    assert_eq!(subscribed.load(Ordering::SeqCst), 0);
}

#[test]
fn on_error_resume_requests_only_what_is_left_from_the_fallback() {
    let reqs = Requests::default();
    let r2 = reqs.clone();
    let (r, probe) = recorder(0);
    rstreams::concat([
        rstreams::range(0, 2).boxed(),
        rstreams::error(rstreams::Error::msg("boom")).boxed(),
    ])
    .on_error_resume(move |e| {
        assert!(e.to_string().contains("boom"));
        rstreams::range(100, 10).do_on_request(r2.hook())
    })
    .subscribe(r);
    probe.request(5);
    assert_eq!(probe.items(), vec![0, 1, 100, 101, 102]);
    assert_eq!(reqs.get(), vec![3]);
}

#[test]
fn on_error_map_and_taps_observe_errors_and_completion() {
    let completes = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let (c, e) = (completes.clone(), errors.clone());
    rstreams::range(0, 3)
        .do_on_complete(move || {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .for_each(|_| {})
        .unwrap();
    let err = rstreams::error::<u8>(rstreams::Error::msg("a"))
        .do_on_error(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .on_error_map(|e| rstreams::Error::msg(format!("wrapped {e}")))
        .blocking_first()
        .unwrap_err();
    assert!(err.to_string().starts_with("wrapped a"), "{err}");
    assert_eq!(completes.load(Ordering::SeqCst), 1);
    assert_eq!(errors.load(Ordering::SeqCst), 1);
}

#[test]
fn cancel_propagates_upstream_and_drops_resources() {
    let drops = DropCounter::default();
    let d = drops.clone();
    // The generate state holds a token: it is dropped when the subscription ends.
    let source = rstreams::generate(
        move || (d.token(), 0u64),
        |(_, n), sink| {
            *n += 1;
            sink.next(*n);
        },
    );
    let (r, probe) = recorder(3);
    source
        .map(|x| x * 2)
        .filter(|x| x % 4 == 0)
        .take(100)
        .scan(0, |a, x| a + x)
        .subscribe(r);
    assert_eq!(probe.count(), 3);
    assert_eq!(drops.drops(), 0);
    probe.cancel();
    assert_eq!(
        drops.drops(),
        1,
        "cancel reached the source and dropped its state"
    );
    probe.request(5);
    assert_eq!(probe.count(), 3, "nothing after cancel");
}

#[test]
fn closure_panic_cancels_upstream_and_names_rule_and_stage() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = cancelled.clone();
    let line = line!() + 4;
    let err = rstreams::range(0, 10)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .map(|x| x + 1)
        .map(|x| if x == 3 { panic!("bad item {x}") } else { x })
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R2_13));
    assert_eq!(err.kind(), ErrorKind::Panic);
    assert_eq!(err.panic_message(), Some("bad item 3"));
    let stage = err.stage().expect("stage recorded");
    assert!(stage.file().ends_with("tests/operators.rs"), "{stage}");
    assert_eq!(stage.line(), line, "{err}");
    assert!(
        err.to_string().contains(&format!("operators.rs:{line}")),
        "{err}"
    );
    assert!(cancelled.load(Ordering::SeqCst));
}

#[test]
fn every_closure_operator_catches_panics() {
    fn check<P: Publisher + PublisherExt>(p: P)
    where
        P::Item: Send + std::fmt::Debug + 'static,
    {
        let e = p.blocking_last().unwrap_err();
        assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
        assert!(e.stage().unwrap().file().ends_with("operators.rs"), "{e}");
    }
    let boom = |x: &u64| -> bool { if *x == 2 { panic!("boom") } else { true } };
    check(rstreams::range(0, 5).filter(boom));
    check(rstreams::range(0, 5).filter_map(|x| if x == 2 { panic!("boom") } else { Some(x) }));
    check(rstreams::range(0, 5).take_while(boom));
    check(rstreams::range(0, 5).skip_while(boom));
    check(rstreams::range(0, 5).scan(0, |a, x| if x == 2 { panic!("boom") } else { a + x }));
    check(rstreams::range(0, 5).reduce(|a, x| if x == 2 { panic!("boom") } else { a + x }));
    check(rstreams::range(0, 5).do_on_next(move |x| {
        boom(x);
    }));
    check(rstreams::range(0, 5).do_on_complete(|| panic!("boom")));
    check(
        rstreams::error::<u64>(rstreams::Error::msg("x"))
            .on_error_resume(|_| -> rstreams::source::Just<u64> { panic!("boom") }),
    );
    check(rstreams::error::<u64>(rstreams::Error::msg("x")).on_error_map(|_| panic!("boom")));
}

#[test]
fn upstream_errors_pass_through_every_operator() {
    fn check<P: Publisher + PublisherExt>(p: P)
    where
        P::Item: Send + std::fmt::Debug + 'static,
    {
        let e = p.blocking_last().unwrap_err();
        assert!(e.to_string().starts_with("upstream"), "{e}");
    }
    let up = || {
        rstreams::concat([
            rstreams::range(0, 3).boxed(),
            rstreams::error(rstreams::Error::msg("upstream")).boxed(),
        ])
    };
    check(up().map(|x| x));
    check(up().filter(|_| true));
    check(up().filter_map(Some));
    check(up().take(10));
    check(up().take_while(|_| true));
    check(up().skip(1));
    check(up().skip_while(|_| false));
    check(up().scan(0, |a, x| a + x));
    check(up().reduce(|a, b| a + b));
    check(up().to_vec());
    check(up().buffer(2));
    check(up().limit_rate(2, 1));
    check(up().do_on_next(|_| {}));
}

#[test]
fn request_zero_through_operators_reports_rule_3_9() {
    fn check<P: Publisher>(p: P)
    where
        P::Item: Send + 'static,
    {
        let (r, probe) = recorder(0);
        p.subscribe(r);
        probe.request(0);
        let e = probe.error().expect("rule 3.9 error");
        assert_eq!(e.rule(), Some(Rule::R3_9), "{e}");
    }
    check(rstreams::range(0, 5).map(|x| x));
    check(rstreams::range(0, 5).filter(|_| true));
    check(rstreams::range(0, 5).take(3));
    check(rstreams::range(0, 5).buffer(2));
    check(rstreams::range(0, 5).limit_rate(2, 1));
    check(rstreams::range(0, 5).to_vec());
    check(rstreams::concat([rstreams::range(0, 5)]));
    check(rstreams::range(0, 5).do_on_request(|_| {}));
    // on_error_resume must not "recover" from the downstream's own request(0).
    check(rstreams::range(0, 5).on_error_resume(|_| rstreams::range(0, 5)));
}

#[test]
fn take_does_not_complete_after_the_downstream_cancelled() {
    // Rule 1.8: a subscriber that cancels (here inside on_subscribe, or inside the on_next that
    // reaches the cap) gets no terminal signal generated by take itself.
    struct CancelAt {
        at: usize,
        seen: Arc<AtomicUsize>,
        terminals: Arc<AtomicUsize>,
        sub: Option<Box<dyn Subscription>>,
    }
    impl Subscriber<u64> for CancelAt {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            if self.at == 0 {
                s.cancel();
            } else {
                s.request(10);
            }
            self.sub = Some(s);
        }
        fn on_next(&mut self, _: u64) {
            if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.at {
                self.sub.as_ref().unwrap().cancel();
            }
        }
        fn on_error(&mut self, _: rstreams::Error) {
            self.terminals.fetch_add(1, Ordering::SeqCst);
        }
        fn on_complete(&mut self) {
            self.terminals.fetch_add(1, Ordering::SeqCst);
        }
    }
    for (n, at) in [(0, 0), (3, 3)] {
        let seen = Arc::new(AtomicUsize::new(0));
        let terminals = Arc::new(AtomicUsize::new(0));
        rstreams::range(0, 100).take(n).subscribe(CancelAt {
            at,
            seen: seen.clone(),
            terminals: terminals.clone(),
            sub: None,
        });
        assert_eq!(seen.load(Ordering::SeqCst), at);
        assert_eq!(
            terminals.load(Ordering::SeqCst),
            0,
            "take({n}) completed after cancel"
        );
    }
}
