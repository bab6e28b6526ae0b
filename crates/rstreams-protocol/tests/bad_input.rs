//! Bad input gets a defined outcome naming the rule, and loses nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Log, Recorder};
use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::reference::{IterPublisher, RangePublisher};
use rstreams_protocol::{Error, ErrorKind, Publisher, Rule, Subscriber, Subscription};

#[test]
fn request_zero_signals_rule_3_9_and_nothing_after() {
    let log = Log::new();
    RangePublisher::new(0, 10).subscribe(Recorder::new(&log, 0));
    let s = log.subscription();
    s.request(0);
    let errors = log.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].rule(), Some(Rule::R3_9));
    assert_eq!(errors[0].kind(), ErrorKind::Violation);
    assert!(errors[0].to_string().contains("rule 3.9"), "{}", errors[0]);
    // The stage is where the publisher was built: this file.
    assert_eq!(errors[0].stage().map(|l| l.file()), Some(file!()));
    // Nothing after the error, even when asked.
    s.request(5);
    s.cancel();
    assert!(log.items().is_empty());
    assert_eq!(log.after_terminal(), 0);
    assert!(
        log.is_dropped(),
        "rule 1.6/3.13: subscriber released after on_error"
    );
}

#[test]
fn request_zero_after_items_still_errors_once() {
    let log = Log::new();
    RangePublisher::new(0, 10).subscribe(Recorder::new(&log, 2));
    let s = log.subscription();
    s.request(0);
    s.request(0);
    assert_eq!(log.items(), vec![0, 1]);
    assert_eq!(log.errors().len(), 1);
}

#[test]
fn request_and_cancel_after_cancel_are_no_ops() {
    let log = Log::new();
    RangePublisher::new(0, 10).subscribe(Recorder::new(&log, 1));
    let s = log.subscription();
    s.cancel();
    assert!(
        log.is_dropped(),
        "rule 3.13: cancel releases the subscriber"
    );
    s.request(5); // 3.6
    s.cancel(); // 3.7
    s.request(0); // 3.6 wins over 3.9: the subscription is cancelled
    assert_eq!(log.items(), vec![0]);
    assert!(log.errors().is_empty());
    assert_eq!(log.completed(), 0);
}

#[test]
fn request_and_cancel_after_completion_are_no_ops() {
    let log = Log::new();
    RangePublisher::new(0, 2).subscribe(Recorder::new(&log, 2));
    assert_eq!(log.completed(), 1, "eager completion after the last item");
    let s = log.subscription();
    s.request(1);
    s.request(0);
    s.cancel();
    assert_eq!(log.items(), vec![0, 1]);
    assert_eq!(log.after_terminal(), 0);
    assert!(log.is_dropped());
}

#[test]
fn demand_past_u64_max_saturates_to_unbounded() {
    let log = Log::new();
    RangePublisher::new(0, 1000).subscribe(Recorder::new(&log, u64::MAX - 1));
    log.subscription().request(u64::MAX - 1);
    assert_eq!(log.items().len(), 1000);
    assert_eq!(log.completed(), 1);
}

#[test]
fn empty_stream_completes_without_demand() {
    let log = Log::new();
    RangePublisher::new(0, 0).subscribe(Recorder::new(&log, 0));
    assert_eq!(log.completed(), 1);
    let log = Log::new();
    IterPublisher::new(Vec::<u64>::new()).subscribe(Recorder::new(&log, 0));
    assert_eq!(log.completed(), 1);
}

static HOOKED: AtomicUsize = AtomicUsize::new(0);
static HOOK_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn panicking_on_next_cancels_and_does_not_escape_request() {
    let _g = HOOK_LOCK.lock().unwrap();
    HOOKED.store(0, Ordering::SeqCst);
    rstreams_protocol::set_undeliverable_hook(|e| {
        assert_eq!(e.rule(), Some(Rule::R2_13));
        assert_eq!(e.panic_message(), Some("on_next exploded"));
        HOOKED.fetch_add(1, Ordering::SeqCst);
    });
    let log = Log::new();
    let rec = Recorder::new(&log, 0).with_hook(|item, _| {
        if item == 2 {
            panic!("on_next exploded");
        }
    });
    RangePublisher::new(0, 10).subscribe(rec);
    // The panic happens inside this request and must not escape it (3.16).
    log.subscription().request(5);
    assert_eq!(log.items(), vec![0, 1, 2]);
    assert!(
        log.is_dropped(),
        "2.13: the subscription counts as cancelled; subscriber dropped"
    );
    assert_eq!(
        HOOKED.load(Ordering::SeqCst),
        1,
        "reported through the hook"
    );
    log.subscription().request(5);
    assert_eq!(log.items().len(), 3, "nothing after the panic");
    rstreams_protocol::clear_undeliverable_hook();
}

struct PanickingSubscribe;
impl Subscriber<u64> for PanickingSubscribe {
    fn on_subscribe(&mut self, _: Box<dyn Subscription>) {
        panic!("on_subscribe exploded");
    }
    fn on_next(&mut self, _: u64) {
        unreachable!()
    }
    fn on_error(&mut self, _: Error) {
        unreachable!()
    }
    fn on_complete(&mut self) {
        unreachable!()
    }
}

#[test]
fn panicking_on_subscribe_does_not_escape_subscribe() {
    let _g = HOOK_LOCK.lock().unwrap();
    HOOKED.store(0, Ordering::SeqCst);
    rstreams_protocol::set_undeliverable_hook(|e| {
        assert_eq!(e.panic_message(), Some("on_subscribe exploded"));
        HOOKED.fetch_add(1, Ordering::SeqCst);
    });
    RangePublisher::new(0, 0).subscribe(PanickingSubscribe); // 1.9: returns normally
    assert_eq!(HOOKED.load(Ordering::SeqCst), 1);
    rstreams_protocol::clear_undeliverable_hook();
}

struct Exploding(u64);
impl Source for Exploding {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        self.0 += 1;
        if self.0 == 3 {
            panic!("source exploded");
        }
        Step::Next(self.0)
    }
}
struct ExplodingPublisher;
impl Publisher for ExplodingPublisher {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, s: S) {
        pull::serve(Exploding(0), s);
    }
}

#[test]
fn panicking_source_becomes_on_error_rule_1_4() {
    let log = Log::new();
    ExplodingPublisher.subscribe(Recorder::new(&log, 10));
    assert_eq!(log.items(), vec![1, 2]);
    let errors = log.errors();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].is_panic());
    assert_eq!(errors[0].rule(), Some(Rule::R1_4));
    assert_eq!(errors[0].panic_message(), Some("source exploded"));
    assert!(log.is_dropped());
}

struct LyingSource;
impl Source for LyingSource {
    type Item = u64;
    fn pull(&mut self) -> Step<u64> {
        Step::Next(7)
    }
    fn is_exhausted(&mut self) -> bool {
        true
    }
}
struct LyingPublisher;
impl Publisher for LyingPublisher {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, s: S) {
        pull::serve(LyingSource, s);
    }
}

#[test]
fn source_that_emits_after_claiming_exhaustion_is_reported_not_delivered() {
    let log = Log::new();
    LyingPublisher.subscribe(Recorder::new(&log, 1));
    assert_eq!(log.items(), vec![7], "never more than requested (1.1)");
    assert_eq!(log.errors()[0].rule(), Some(Rule::R1_1));
}

/// A source fed from another thread: `Pending` and `wake`.
#[test]
fn pending_source_is_woken_by_its_handle() {
    use std::sync::Mutex;
    let queue: Arc<Mutex<(Vec<u64>, bool)>> = Arc::default();
    struct Fed(Arc<Mutex<(Vec<u64>, bool)>>);
    impl Source for Fed {
        type Item = u64;
        fn pull(&mut self) -> Step<u64> {
            let mut q = self.0.lock().unwrap();
            if q.0.is_empty() {
                if q.1 { Step::Complete } else { Step::Pending }
            } else {
                Step::Next(q.0.remove(0))
            }
        }
        fn is_exhausted(&mut self) -> bool {
            let q = self.0.lock().unwrap();
            q.0.is_empty() && q.1
        }
    }
    let log = Log::new();
    let q2 = Arc::clone(&queue);
    let handle = pull::serve_with(move |_h| Fed(q2), Recorder::new(&log, 10));
    assert!(log.items().is_empty());
    assert_eq!(handle.requested(), 10);
    let producer = std::thread::spawn({
        let queue = Arc::clone(&queue);
        let handle = handle.clone();
        move || {
            for i in 0..5 {
                queue.lock().unwrap().0.push(i);
                handle.wake();
            }
            queue.lock().unwrap().1 = true;
            handle.wake();
        }
    });
    producer.join().unwrap();
    assert_eq!(log.items(), vec![0, 1, 2, 3, 4]);
    assert_eq!(log.completed(), 1);
    assert!(handle.is_cancelled(), "ended streams report cancelled");
    handle.wake(); // no-op once gone
}
