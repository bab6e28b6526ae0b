//! The protocol checker catches each violation it claims to, naming the rule, and stays silent
//! on correct publishers and subscribers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::bounded;
use proptest::prelude::*;
use rstreams_protocol::reference::{IterPublisher, RangePublisher};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};
use rstreams_tck::checker::{CheckedSubscriber, CheckerReport, checked};
use rstreams_tck::subscriber::reference::{AsyncSubscriber, SyncSubscriber};

/// A subscription that does nothing (what the broken publishers hand out).
struct Inert;
impl Subscription for Inert {
    fn request(&self, _: u64) {}
    fn cancel(&self) {}
}

/// Requests `n` in `on_subscribe` and counts what it gets.
struct Asks {
    n: u64,
    got: Arc<AtomicU64>,
}
impl Asks {
    fn new(n: u64) -> Self {
        Asks {
            n,
            got: Arc::new(AtomicU64::new(0)),
        }
    }
}
impl Subscriber<u64> for Asks {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.n > 0 {
            s.request(self.n);
        }
    }
    fn on_next(&mut self, _: u64) {
        self.got.fetch_add(1, Ordering::Relaxed);
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

/// A broken publisher: runs `script` against the subscriber it is given.
struct Scripted<F>(F);
impl<F: Fn(&mut dyn Subscriber<u64>) + Send + Sync> Publisher for Scripted<F> {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, mut s: S) {
        (self.0)(&mut s);
    }
}

fn rules_of<F: Fn(&mut dyn Subscriber<u64>) + Send + Sync>(script: F, demand: u64) -> Vec<Rule> {
    let publisher = checked(Scripted(script));
    publisher.subscribe(Asks::new(demand));
    publisher.report().rules()
}

#[test]
fn on_next_beyond_demand_is_rule_1_1() {
    let report = {
        let p = checked(Scripted(|s: &mut dyn Subscriber<u64>| {
            s.on_subscribe(Box::new(Inert));
            for i in 0..3 {
                s.on_next(i);
            }
        }));
        p.subscribe(Asks::new(1));
        p.report()
    };
    let v = report.violations();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|v| v.rule == Rule::R1_1), "{v:?}");
    assert!(v[0].message.contains("on_next #2"), "{}", v[0].message);
}

#[test]
fn signal_before_on_subscribe_is_rule_1_9() {
    let rules = rules_of(
        |s| {
            s.on_next(0);
            s.on_subscribe(Box::new(Inert));
        },
        1,
    );
    // No demand existed yet either, so 1.1 is reported alongside.
    assert_eq!(rules, vec![Rule::R1_9, Rule::R1_1]);
    let rules = rules_of(
        |s| {
            s.on_complete();
        },
        1,
    );
    assert_eq!(rules, vec![Rule::R1_9]);
}

#[test]
fn second_on_subscribe_is_rule_2_12() {
    let rules = rules_of(
        |s| {
            s.on_subscribe(Box::new(Inert));
            s.on_subscribe(Box::new(Inert));
        },
        1,
    );
    assert_eq!(rules, vec![Rule::R2_12]);
}

#[test]
fn signal_after_terminal_is_rule_1_7() {
    let rules = rules_of(
        |s| {
            s.on_subscribe(Box::new(Inert));
            s.on_complete();
            s.on_next(1);
        },
        5,
    );
    assert_eq!(rules, vec![Rule::R1_7]);
    let rules = rules_of(
        |s| {
            s.on_subscribe(Box::new(Inert));
            s.on_error(Error::msg("first"));
            s.on_complete();
        },
        5,
    );
    assert_eq!(rules, vec![Rule::R1_7]);
}

/// A subscriber whose clones share state: blocks in `on_next` until released, so that a second
/// signal to it (through a clone) overlaps the first.
#[derive(Clone)]
struct Gate {
    entered: crossbeam_channel::Sender<()>,
    release: crossbeam_channel::Receiver<()>,
    first: Arc<AtomicBool>,
}
impl Subscriber<u64> for Gate {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(10);
    }
    fn on_next(&mut self, _: u64) {
        if !self.first.swap(true, Ordering::SeqCst) {
            let _ = self.entered.send(());
            let _ = self.release.recv_timeout(Duration::from_secs(5));
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn overlapping_signals_are_rule_1_3() {
    let (entered_tx, entered_rx) = bounded(1);
    let (release_tx, release_rx) = bounded(1);
    let gate = Gate {
        entered: entered_tx,
        release: release_rx,
        first: Arc::new(AtomicBool::new(false)),
    };
    // A broken multicast publisher that treats clones of one subscriber as separate targets and
    // signals them from two threads at once.
    let mut a = CheckedSubscriber::new(gate);
    let report = a.report();
    a.on_subscribe(Box::new(Inert));
    let mut b = a.clone();
    let first = std::thread::spawn(move || a.on_next(1));
    entered_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    b.on_next(2);
    release_tx.send(()).unwrap();
    first.join().unwrap();
    assert_eq!(report.rules(), vec![Rule::R1_3]);
}

#[test]
fn request_zero_is_rule_3_9() {
    let publisher = checked(RangePublisher::new(0, 10));
    publisher.subscribe(Asks::new(0));
    assert!(publisher.report().is_clean(), "asking for nothing is fine");
    struct Zero;
    impl Subscriber<u64> for Zero {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            s.request(0);
        }
        fn on_next(&mut self, _: u64) {}
        fn on_error(&mut self, e: Error) {
            assert_eq!(e.rule(), Some(Rule::R3_9));
        }
        fn on_complete(&mut self) {}
    }
    publisher.subscribe(Zero);
    assert_eq!(publisher.report().rules(), vec![Rule::R3_9]);
}

/// Calls the subscription from inside a terminal signal.
struct CallsInTerminal {
    sub: Option<Box<dyn Subscription>>,
    cancel: bool,
}
impl Subscriber<u64> for CallsInTerminal {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(2);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {}
    fn on_error(&mut self, _: Error) {
        if let Some(s) = &self.sub {
            s.cancel();
        }
    }
    fn on_complete(&mut self) {
        if let Some(s) = &self.sub {
            if self.cancel {
                s.cancel();
            } else {
                s.request(1);
            }
        }
    }
}

#[test]
fn calls_from_terminal_signals_are_rule_2_3() {
    for cancel in [false, true] {
        let publisher = checked(RangePublisher::new(0, 2));
        publisher.subscribe(CallsInTerminal { sub: None, cancel });
        let v = publisher.report().violations();
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].rule, Rule::R2_3);
        assert!(
            v[0].message.contains("inside on_complete"),
            "{}",
            v[0].message
        );
    }
    // on_error: a publisher that fails right away.
    let publisher = checked(Scripted(|s: &mut dyn Subscriber<u64>| {
        s.on_subscribe(Box::new(Inert));
        s.on_error(Error::msg("boom"));
    }));
    publisher.subscribe(CallsInTerminal {
        sub: None,
        cancel: true,
    });
    assert_eq!(publisher.report().rules(), vec![Rule::R2_3]);
}

#[test]
fn request_after_terminal_from_another_thread_is_not_2_3() {
    // Only synchronous calls from inside the callback are 2.3; this one is merely late.
    struct Late(Option<Arc<dyn Subscription>>);
    impl Subscriber<u64> for Late {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            s.request(5);
            self.0 = Some(Arc::from(s));
        }
        fn on_next(&mut self, _: u64) {}
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {
            if let Some(s) = self.0.take() {
                std::thread::spawn(move || s.request(1)).join().unwrap();
            }
        }
    }
    let publisher = checked(RangePublisher::new(0, 5));
    publisher.subscribe(Late(None));
    publisher.report().assert_clean();
}

#[test]
fn panicking_mode_fails_at_the_violation() {
    let mut s = CheckedSubscriber::with_report(Asks::new(0), CheckerReport::panicking());
    let report = s.report();
    s.on_subscribe(Box::new(Inert));
    let err = catch_unwind(AssertUnwindSafe(|| s.on_next(1))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("rule 1.1"), "{msg}");
    assert_eq!(report.rules(), vec![Rule::R1_1]);
}

#[test]
fn assert_clean_lists_violations() {
    let report = CheckerReport::new();
    report.record(Rule::R1_7, "x");
    let err = catch_unwind(AssertUnwindSafe(|| report.assert_clean())).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("1 protocol violation") && msg.contains("rule 1.7"),
        "{msg}"
    );
}

#[test]
fn correct_publishers_and_subscribers_are_clean() {
    let report = CheckerReport::new();
    let range =
        rstreams_tck::checker::checked_with_report(RangePublisher::new(0, 1000), report.clone());
    let sum = Arc::new(AtomicU64::new(0));
    let s2 = Arc::clone(&sum);
    range.subscribe(SyncSubscriber::new(7, move |x: u64| {
        s2.fetch_add(x, Ordering::Relaxed);
        true
    }));
    assert_eq!(sum.load(Ordering::Relaxed), 999 * 1000 / 2);

    let iter = rstreams_tck::checker::checked_with_report(
        IterPublisher::new(vec![1u64, 2, 3]),
        report.clone(),
    );
    let (tx, rx) = bounded(8);
    iter.subscribe(AsyncSubscriber::new(2, move |x: u64| tx.send(x).is_ok()));
    let got: Vec<u64> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    assert_eq!(got, vec![1, 2, 3]);
    // Stopping early cancels: still clean.
    range.subscribe(SyncSubscriber::new(3, |x: u64| x < 10));
    report.assert_clean();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any batch size and stopping point over a correct publisher: never a violation, and the
    /// count delivered is exactly what the subscriber asked to see.
    #[test]
    fn correct_streams_never_trip_the_checker(len in 0u64..300, batch in 1u64..40, stop in 1u64..400) {
        let publisher = checked(RangePublisher::new(0, len));
        let seen = Arc::new(AtomicU64::new(0));
        let s = Arc::clone(&seen);
        publisher.subscribe(SyncSubscriber::new(batch, move |_x: u64| {
            s.fetch_add(1, Ordering::Relaxed) + 1 < stop
        }));
        prop_assert!(publisher.report().is_clean(), "{:?}", publisher.report().violations());
        prop_assert_eq!(seen.load(Ordering::Relaxed), len.min(stop));
    }
}
