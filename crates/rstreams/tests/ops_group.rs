//! group_by, window and window_timeout (issue 15, item 4), including the hang case.

mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rstreams::Rule;
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::ops::GroupedPublisher;
use rstreams::prelude::*;
use support::{Manual, Tracker};
use support::{Probe, recorder};

/// Takes the groups the outer recorder received so far.
fn take_groups<K, T>(outer: &Probe<GroupedPublisher<K, T>>) -> Vec<GroupedPublisher<K, T>> {
    outer.take_items()
}

#[test]
fn the_hang_case_an_undrained_group_stalls_the_upstream_visibly_and_draining_it_resumes() {
    let up = Tracker::new();
    let (outer, outer_probe) = recorder(u64::MAX);
    up.wrap(rstreams::range(0, 100))
        .group_by(|x| x % 2, 4, 4)
        .subscribe(outer);
    let mut groups = take_groups(&outer_probe);
    assert_eq!(groups.len(), 2);
    let odd = groups.pop().unwrap();
    let even = groups.pop().unwrap();
    assert_eq!((*even.key(), *odd.key()), (0, 1));
    // The odd group is drained; the even group is subscribed but asks for nothing.
    let (odd_rec, odd_probe) = recorder(u64::MAX);
    odd.subscribe(odd_rec);
    let (even_rec, even_probe) = recorder(0);
    even.subscribe(even_rec);
    // The even group fills the whole budget and the upstream waits: a stall, not a hang in
    // silence — the culprit shows its buffer, and the upstream was asked for no more.
    assert_eq!(even.buffered(), 4, "the undrained group holds the budget");
    let received = odd_probe.count();
    assert!(received < 50, "the odd group is held back too");
    assert_eq!(
        up.requested(),
        4 + received as u64,
        "budget 4, refilled only by consumption"
    );
    assert!(!odd_probe.terminated());
    // Draining the even group resumes everything.
    even_probe.request(u64::MAX);
    assert_eq!(
        even_probe.items(),
        (0..100).filter(|x| x % 2 == 0).collect::<Vec<_>>()
    );
    assert_eq!(
        odd_probe.items(),
        (0..100).filter(|x| x % 2 == 1).collect::<Vec<_>>()
    );
    assert!(even_probe.completed() && odd_probe.completed() && outer_probe.completed());
    assert!(up.all_released());
}

#[test]
fn a_group_dropped_unsubscribed_is_released_and_the_flow_goes_on() {
    let (outer, outer_probe) = recorder(u64::MAX);
    rstreams::range(0, 40)
        .group_by(|x| x % 2, 4, 2)
        .subscribe(outer);
    let mut groups = take_groups(&outer_probe);
    let odd = groups.pop().unwrap();
    drop(groups); // the even group: nobody will ever subscribe
    let (odd_rec, odd_probe) = recorder(u64::MAX);
    odd.subscribe(odd_rec);
    // Later even items re-create the even group (it was cancelled); drop those too.
    loop {
        let more = take_groups(&outer_probe);
        if more.is_empty() {
            break;
        }
        drop(more);
    }
    assert_eq!(
        odd_probe.items(),
        (0..40).filter(|x| x % 2 == 1).collect::<Vec<_>>()
    );
    assert!(odd_probe.completed());
}

#[test]
fn a_cancelled_group_is_recreated_by_the_next_item_with_its_key() {
    let up = Manual::<&'static str>::new();
    let (outer, outer_probe) = recorder(u64::MAX);
    up.clone().group_by(|s| s.len(), 8, 8).subscribe(outer);
    up.next("a");
    let g = take_groups(&outer_probe).pop().unwrap();
    let (rec, probe) = recorder(u64::MAX);
    g.subscribe(rec);
    assert_eq!(probe.items(), vec!["a"]);
    probe.cancel();
    up.next("b");
    let again = take_groups(&outer_probe);
    assert_eq!(again.len(), 1, "a new group for key 1");
    assert_eq!(*again[0].key(), 1);
    assert_eq!(again[0].buffered(), 1);
}

#[test]
fn too_many_groups_is_a_clear_error() {
    let (outer, outer_probe) = recorder(u64::MAX);
    rstreams::range(0, 10)
        .group_by(|x| *x, 3, 16)
        .subscribe(outer);
    let e = outer_probe.error().unwrap();
    assert!(e.to_string().contains("max_groups (3)"), "{e}");
    let groups = take_groups(&outer_probe);
    assert_eq!(groups.len(), 3);
    let (rec, probe) = recorder(10);
    groups[0].subscribe(rec);
    assert!(probe.error().is_some(), "groups fail with the stream");
}

#[test]
fn a_panicking_key_fails_with_rule_2_13() {
    let up = Tracker::new();
    let (outer, outer_probe) = recorder(u64::MAX);
    up.wrap(rstreams::range(0, 10))
        .group_by(|x| if *x == 2 { panic!("bad key") } else { *x }, 8, 8)
        .subscribe(outer);
    let e = outer_probe.error().unwrap();
    assert_eq!(e.rule(), Some(Rule::R2_13));
    assert!(e.to_string().contains("ops_group.rs"), "{e}");
    assert_eq!(up.cancelled(), 1);
    assert!(up.all_released());
}

#[test]
fn outer_cancel_keeps_emitted_groups_and_releases_the_upstream_after_them() {
    let up = Tracker::new();
    let (outer, outer_probe) = recorder(1);
    up.wrap(rstreams::never::<u32>().start_with([1, 2]))
        .group_by(|x| *x, 8, 8)
        .subscribe(outer);
    let g = take_groups(&outer_probe).pop().unwrap();
    outer_probe.cancel();
    assert_eq!(
        up.cancelled(),
        0,
        "an emitted group still needs the upstream"
    );
    let (rec, probe) = recorder(5);
    g.subscribe(rec);
    assert_eq!(probe.items(), vec![1]);
    probe.cancel();
    assert_eq!(up.cancelled(), 1);
    assert!(up.all_released());
}

#[test]
fn a_group_accepts_one_subscriber() {
    let (outer, outer_probe) = recorder(u64::MAX);
    rstreams::range(0, 2).group_by(|_| 0, 1, 4).subscribe(outer);
    let g = take_groups(&outer_probe).pop().unwrap();
    g.subscribe(recorder::<u64>(5).0);
    let (rec, probe) = recorder::<u64>(5);
    g.subscribe(rec);
    assert!(
        probe
            .error()
            .unwrap()
            .to_string()
            .contains("one subscriber")
    );
}

#[test]
fn zero_sizes_are_clear_errors() {
    assert!(
        rstreams::range(0, 2)
            .group_by(|x| *x, 0, 4)
            .blocking_first()
            .is_err()
    );
    assert!(
        rstreams::range(0, 2)
            .group_by(|x| *x, 4, 0)
            .blocking_first()
            .is_err()
    );
    assert!(rstreams::range(0, 2).window(0).blocking_first().is_err());
}

#[test]
fn an_undrained_window_holds_at_most_n_and_dropped_windows_release() {
    let up = Tracker::new();
    let (outer, outer_probe) = recorder(u64::MAX);
    up.wrap(rstreams::range(0, 10)).window(3).subscribe(outer);
    let ws = take_groups(&outer_probe);
    assert_eq!(ws.len(), 1, "the first window holds the budget of 3");
    assert_eq!(ws[0].buffered(), 3);
    assert_eq!(up.requested(), 3);
    drop(ws); // never subscribed: released, the next window opens
    loop {
        let more = take_groups(&outer_probe);
        if more.is_empty() {
            break;
        }
    }
    assert!(outer_probe.completed());
    assert!(up.all_released());
}

#[test]
fn window_timeout_closes_on_time_or_size_and_cancels_its_timers() {
    let exec = ManualExecutor::new();
    let sched: Arc<dyn Scheduler> = Arc::new(exec.clone());
    let up = Manual::<u32>::new();
    let (outer, outer_probe) = recorder(u64::MAX);
    up.clone()
        .window_timeout(2, Duration::from_secs(1), sched)
        .subscribe(outer);
    up.next(1);
    let w0 = take_groups(&outer_probe).pop().unwrap();
    let (r0, p0) = recorder(u64::MAX);
    w0.subscribe(r0);
    exec.advance(Duration::from_secs(1));
    assert!(p0.completed(), "timed out");
    up.next(2);
    up.next(3);
    let w1 = take_groups(&outer_probe).pop().unwrap();
    let (r1, p1) = recorder(u64::MAX);
    w1.subscribe(r1);
    assert_eq!(p1.items(), vec![2, 3]);
    assert!(p1.completed(), "full");
    // The full window's timer is cancelled (the executor forgets it at its deadline); firing
    // late would change nothing anyway.
    exec.advance(Duration::from_secs(1));
    assert_eq!(exec.pending_timers(), 0);
    assert_eq!(p1.items(), vec![2, 3]);
    outer_probe.cancel();
    assert!(up.cancelled());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn window_matches_chunks(len in 0u64..40, n in 1usize..6) {
        let v = rstreams::range(0, len)
            .window(n)
            .concat_map(|w| w.to_vec(), 1)
            .to_vec()
            .blocking_first()
            .unwrap()
            .unwrap();
        let expected: Vec<Vec<u64>> = (0..len).collect::<Vec<_>>().chunks(n).map(|c| c.to_vec()).collect();
        prop_assert_eq!(v, expected);
    }

    #[test]
    fn group_by_matches_a_partition(items in proptest::collection::vec(0u32..20, 0..40), m in 1u32..4, prefetch in 1usize..6) {
        // Drain every group as soon as it appears: no stall, whatever the budget.
        let (outer, outer_probe) = recorder(u64::MAX);
        let probes = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let p2 = Arc::clone(&probes);
        rstreams::from_iter(items.clone())
            .group_by(move |x| x % m, 8, prefetch)
            .do_on_next(move |g| {
                let (rec, probe) = recorder(u64::MAX);
                g.subscribe(rec);
                p2.lock().push((*g.key(), probe));
            })
            .subscribe(outer);
        prop_assert!(outer_probe.completed());
        let mut got: Vec<(u32, Vec<u32>)> = probes.lock().iter().map(|(k, p)| (*k, p.items())).collect();
        got.sort();
        let mut expected: Vec<(u32, Vec<u32>)> = Vec::new();
        for x in &items {
            match expected.iter_mut().find(|(k, _)| *k == x % m) {
                Some((_, v)) => v.push(*x),
                None => expected.push((x % m, vec![*x])),
            }
        }
        expected.sort();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn groups_drained_on_several_threads_partition_the_stream() {
    use rstreams::executor::ThreadPool;
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    for _ in 0..10 {
        let mut v = rstreams::range(0, 2000)
            .subscribe_on(Arc::clone(&pool))
            .group_by(|x| x % 3, 3, 8)
            .flat_map_with(
                {
                    let pool = Arc::clone(&pool);
                    move |g| g.publish_on_with(Arc::clone(&pool), 4)
                },
                3,
                4,
            )
            .to_vec()
            .blocking_first()
            .unwrap()
            .unwrap();
        v.sort();
        assert_eq!(v, (0..2000).collect::<Vec<_>>());
    }
}
