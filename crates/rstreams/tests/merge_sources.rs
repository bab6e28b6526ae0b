//! merge: n sources, fairness, completion, errors, cancellation.

mod support;

use std::sync::atomic::Ordering;

use rstreams::prelude::*;
use support::*;

#[test]
fn merges_n_sources_and_completes_after_all() {
    let sources: Vec<_> = (0..5).map(|k| rstreams::range(k * 100, 50)).collect();
    let mut v = rstreams::merge(sources, 8)
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    v.sort();
    let want: Vec<u64> = (0..5).flat_map(|k| k * 100..k * 100 + 50).collect();
    assert_eq!(v, want);
    let v = rstreams::merge(Vec::<rstreams::source::Range>::new(), 8)
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v, Some(vec![]));
}

#[test]
fn sources_take_turns() {
    let (sub, probe) = recorder(0);
    let sources: Vec<_> = (0..3u64)
        .map(|k| rstreams::range(0, u64::MAX).map(move |_| k))
        .collect();
    rstreams::merge(sources, 16).subscribe(sub);
    // Runs of at most one prefetch (16) from each source in turn: 96 items split evenly.
    probe.request(96);
    assert!(probe.wait_items(96, WAIT));
    let items = probe.items();
    for k in 0..3 {
        assert_eq!(items.iter().filter(|&&x| x == k).count(), 32, "{items:?}");
    }
    let longest = items.chunk_by(|a, b| a == b).map(<[u64]>::len).max();
    assert!(
        longest <= Some(16),
        "a run longer than the prefetch: {items:?}"
    );
    probe.cancel();
    probe.assert_clean();
}

#[test]
fn cancel_reaches_every_source() {
    let a = counted(u64::MAX, |i| i);
    let b = counted(u64::MAX, |i| i);
    let (sub, probe) = recorder(5);
    a.clone().merge_with(b.clone(), 4).subscribe(sub);
    assert!(probe.wait_items(5, WAIT));
    assert_eq!(a.counters.alive() + b.counters.alive(), 2);
    probe.cancel();
    assert_eq!(a.counters.alive() + b.counters.alive(), 0);
    assert!(a.counters.produced.load(Ordering::SeqCst) <= 5 + 4);
}

#[test]
fn the_first_error_wins_and_cancels_the_others() {
    let a = counted(u64::MAX, |i| i);
    let (sub, probe) = recorder(0);
    a.clone()
        .merge_with(rstreams::error::<u64>(Error::msg("b failed")), 4)
        .subscribe(sub);
    assert!(probe.wait_terminal(WAIT));
    assert_eq!(probe.error().unwrap().to_string(), "b failed");
    assert_eq!(a.counters.alive(), 0);
}
