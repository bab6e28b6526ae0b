//! Default forms (issue 13.6/16.3) and `IntoScheduler` arguments: each short form behaves as
//! its explicit form with the documented constants.

use std::sync::Arc;
use std::time::Duration;

use rstreams::executor::{ManualExecutor, Scheduler, ThreadPool, default_pool};
use rstreams::prelude::*;

fn pool() -> Arc<ThreadPool> {
    Arc::new(ThreadPool::builder().workers(2).build().unwrap())
}

#[test]
fn short_forms_give_the_same_items() {
    let v = rstreams::range(0, 1000)
        .publish_on(pool())
        .to_vec()
        .blocking_first();
    assert_eq!(v.unwrap(), Some((0..1000).collect::<Vec<_>>()));

    let mut v = rstreams::range(0, 300)
        .flat_map(|x| rstreams::range(x * 10, 3))
        .to_vec()
        .blocking_first()
        .unwrap()
        .unwrap();
    v.sort_unstable();
    let mut want: Vec<u64> = (0..300).flat_map(|x| x * 10..x * 10 + 3).collect();
    want.sort_unstable();
    assert_eq!(v, want);

    let it: Result<Vec<u64>, _> = rstreams::range(0, 600).boxed().blocking_iter().collect();
    assert_eq!(it.unwrap(), (0..600).collect::<Vec<_>>());

    let v = rstreams::range(0, 500)
        .par_map(|x| x + 1)
        .to_vec()
        .blocking_first();
    assert_eq!(v.unwrap(), Some((1..=500).collect::<Vec<_>>()));

    let v = rstreams::range(0, 50)
        .parallel()
        .run_on_default()
        .map(|x| x * 3)
        .ordered()
        .to_vec()
        .blocking_first();
    assert_eq!(v.unwrap(), Some((0..50).map(|x| x * 3).collect::<Vec<_>>()));
}

#[test]
fn the_default_flat_map_asks_each_inner_for_32() {
    let asked = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let a = Arc::clone(&asked);
    let v = rstreams::range(0, 1)
        .flat_map(move |_| {
            let a = Arc::clone(&a);
            rstreams::range(0, 100).do_on_request(move |n| a.lock().push(n))
        })
        .to_vec()
        .blocking_first()
        .unwrap();
    assert_eq!(v.map(|v| v.len()), Some(100));
    assert_eq!(asked.lock().first(), Some(&32));
}

#[test]
fn schedulers_are_taken_as_the_user_holds_them() {
    let p = pool();
    let by_ref = rstreams::range(0, 3)
        .subscribe_on(&p)
        .to_vec()
        .blocking_first();
    let dynamic: Arc<dyn Scheduler> = p.clone();
    let by_dyn = rstreams::range(0, 3)
        .publish_on(&dynamic)
        .to_vec()
        .blocking_first();
    let owned = ThreadPool::builder().workers(1).build().unwrap();
    let by_value = rstreams::range(0, 3)
        .publish_on(owned)
        .to_vec()
        .blocking_first();
    let shared = rstreams::range(0, 3)
        .publish_on(default_pool())
        .to_vec()
        .blocking_first();
    for v in [by_ref, by_dyn, by_value, shared] {
        assert_eq!(v.unwrap(), Some(vec![0, 1, 2]));
    }

    // A manual executor by reference: the operator and the test drive the same clock.
    let exec = ManualExecutor::new();
    let mut it = rstreams::never::<u8>()
        .timeout(Duration::from_secs(1), &exec)
        .blocking_iter();
    exec.advance(Duration::from_secs(1));
    assert!(it.next().unwrap().is_err());
}
