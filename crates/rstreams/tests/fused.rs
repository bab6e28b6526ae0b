//! Synchronous fusion (issue 14 item 4): `range`/`from_iter` followed by `map`/`filter`/
//! `filter_map`/`take`, subscribed or iterated through the concrete types, run as one fused source.
//! Each test checks that the fused path gives the same signals as the stage-by-stage path
//! (reached here through a generic `P: Publisher` function) and keeps the rules: demand (1.1),
//! cancel from `on_next` (1.8, 3.7), a panicking closure (2.13 with the stage's location).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstreams::Rule;
use rstreams::prelude::*;
use rstreams::source::SyncSource;
use support::{Probe, recorder};

const WAIT: Duration = Duration::from_secs(10);

/// The stage-by-stage path: generic code cannot see the inherent fused methods.
fn subscribe_generic<P: Publisher, S: Subscriber<P::Item> + Send + 'static>(p: &P, s: S) {
    p.subscribe(s);
}

fn assert_sync_source<P: SyncSource>(_: &P) {}

fn drained<T: Clone>(probe: &Probe<T>) -> Vec<T> {
    assert!(probe.wait_terminal(WAIT), "stream did not end");
    probe.items()
}

#[test]
fn fused_and_stage_by_stage_paths_deliver_the_same_items() {
    let chain = rstreams::range(0, 1000)
        .map(|x| x * 3)
        .filter(|x| x % 4 != 1)
        .filter_map(|x| (x % 7 != 0).then_some(x + 1));
    assert_sync_source(&chain);
    let (fused, fused_probe) = recorder(u64::MAX);
    chain.subscribe(fused); // inherent: fused
    let (staged, staged_probe) = recorder(u64::MAX);
    subscribe_generic(&chain, staged);
    let expected: Vec<u64> = (0..1000)
        .map(|x| x * 3)
        .filter(|x| x % 4 != 1)
        .filter_map(|x| (x % 7 != 0).then_some(x + 1))
        .collect();
    assert_eq!(drained(&fused_probe), expected);
    assert!(fused_probe.completed());
    assert_eq!(drained(&staged_probe), expected);
    let iterated: Vec<u64> = chain.blocking_iter_with(16).map(Result::unwrap).collect();
    assert_eq!(iterated, expected);
}

#[test]
fn fused_filter_respects_small_demand() {
    let (rec, probe) = recorder(0);
    rstreams::range(0, 10).filter(|x| x % 2 == 0).subscribe(rec);
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 2]); // the recorder asserts 1.1 on every item
    probe.request(2);
    assert_eq!(probe.items(), vec![0, 2, 4, 6]);
    assert!(!probe.terminated());
    probe.request(1);
    assert_eq!(probe.items(), vec![0, 2, 4, 6, 8]);
    // 9 is still in the range (it would be dropped): as on the stage-by-stage path, the end is
    // found with the next demand.
    probe.request(1);
    assert!(probe.completed());
    assert_eq!(probe.count(), 5);
}

#[test]
fn cancel_from_on_next_stops_an_endless_fused_chain() {
    struct CancelAfter {
        left: usize,
        sub: Option<Box<dyn Subscription>>,
        seen: Arc<AtomicUsize>,
    }
    impl Subscriber<u64> for CancelAfter {
        fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
            s.request(u64::MAX);
            self.sub = Some(s);
        }
        fn on_next(&mut self, _: u64) {
            self.seen.fetch_add(1, Ordering::SeqCst);
            self.left -= 1;
            if self.left == 0 {
                self.sub.as_ref().unwrap().cancel();
            }
        }
        fn on_error(&mut self, e: rstreams::Error) {
            panic!("unexpected error {e}");
        }
        fn on_complete(&mut self) {
            panic!("unexpected completion");
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    rstreams::range(0, u64::MAX)
        .map(|x| x + 1)
        .filter(|x| x % 3 != 0)
        .subscribe(CancelAfter {
            left: 5,
            sub: None,
            seen: Arc::clone(&seen),
        });
    // Returned at all (an endless range), and nothing after the cancel.
    assert_eq!(seen.load(Ordering::SeqCst), 5);
}

#[test]
fn a_panicking_closure_ends_the_fused_stream_with_2_13_at_its_stage() {
    let evens = rstreams::range(0, 100).filter(|x| x % 2 == 0);
    let map_site = line!() + 1;
    let chain = evens.map(|x| if x == 10 { panic!("map broke") } else { x });
    let (rec, probe) = recorder(u64::MAX);
    chain.subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), vec![0, 2, 4, 6, 8]);
    let e = probe.error().expect("on_error");
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert_eq!(e.panic_message(), Some("map broke"));
    assert_eq!(e.stage().map(|l| l.line()), Some(map_site), "{e}");

    // The same through the fused iterator: the items, then the error, then the end.
    let got: Vec<_> = chain.blocking_iter_with(4).collect();
    assert_eq!(got.len(), 6);
    let e = got[5].as_ref().unwrap_err();
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert_eq!(e.stage().map(|l| l.line()), Some(map_site), "{e}");

    let filter_site = line!() + 1;
    let chain = rstreams::range(0, 100).filter(|x| {
        if *x == 3 {
            panic!("filter broke")
        } else {
            true
        }
    });
    let (rec, probe) = recorder(u64::MAX);
    chain.subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.items(), vec![0, 1, 2]);
    let e = probe.error().expect("on_error");
    assert_eq!(e.rule(), Some(Rule::R2_13), "{e}");
    assert_eq!(e.stage().map(|l| l.line()), Some(filter_site), "{e}");
}

#[test]
fn an_overflowing_range_is_rejected_on_the_fused_paths_too() {
    let chain = rstreams::range(u64::MAX, 2).map(|x| x + 1);
    let (rec, probe) = recorder(u64::MAX);
    chain.subscribe(rec);
    assert!(probe.wait_terminal(WAIT));
    assert!(probe.error().unwrap().to_string().contains("overflows"));
    let got: Vec<_> = chain.blocking_iter_with(8).collect();
    assert_eq!(got.len(), 1);
    assert!(got[0].is_err());
}

#[test]
fn the_fused_iterator_pulls_lazily_and_frees_the_source_on_drop() {
    #[derive(Clone)]
    struct Counted {
        next: u64,
        pulled: Arc<AtomicUsize>,
        drops: Arc<AtomicUsize>,
    }
    impl Iterator for Counted {
        type Item = u64;
        fn next(&mut self) -> Option<u64> {
            self.pulled.fetch_add(1, Ordering::SeqCst);
            self.next += 1;
            Some(self.next)
        }
    }
    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }
    let pulled = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let p = rstreams::from_iter(Counted {
        next: 0,
        pulled: Arc::clone(&pulled),
        drops: Arc::clone(&drops),
    })
    .map(|x| x * 2);
    let mut it = p.blocking_iter_with(8);
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "nothing pulled before next()"
    );
    assert_eq!(it.next().unwrap().unwrap(), 2);
    // One batch of `prefetch` items (plus the iterator's one-item look-ahead).
    assert!(pulled.load(Ordering::SeqCst) <= 9, "{pulled:?}");
    drop(it);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the run's clone is freed on drop"
    );
}

#[test]
fn fused_take_completes_an_endless_chain_after_n_items() {
    let chain = rstreams::range(0, u64::MAX).map(|x| x * 10).take(4);
    assert_sync_source(&chain);
    let (rec, probe) = recorder(0);
    chain.subscribe(rec);
    probe.request(3);
    assert_eq!(probe.items(), vec![0, 10, 20]);
    assert!(!probe.terminated());
    probe.request(100);
    assert_eq!(probe.items(), vec![0, 10, 20, 30]);
    assert!(probe.completed(), "completes right after the n-th item");
    let got: Vec<u64> = chain.blocking_iter_with(3).map(Result::unwrap).collect();
    assert_eq!(got, vec![0, 10, 20, 30]);
    let none: Vec<_> = rstreams::range(0, 5)
        .take(0)
        .blocking_iter_with(3)
        .collect();
    assert!(none.is_empty());
}
