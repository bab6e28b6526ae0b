//! Issue 16, session 4: with `run_on`, rails share one queue of items instead of being dealt
//! items round-robin, so a rail whose worker is stuck holds up only the item it is working on.
//! Under round-robin dealing, the items already dealt to the stuck rail waited behind it (the
//! broken twin this test catches: it fails on the earlier design, commit 45546e3).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rstreams::executor::ThreadPool;
use rstreams::prelude::*;

#[test]
fn a_stuck_rail_holds_up_only_its_own_item() {
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(2)
            .thread_name_prefix("par-share")
            .build()
            .unwrap(),
    );
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&timed_out);
    let items = rstreams::range(0, 100)
        .parallel_with(2, 4)
        .run_on(pool)
        .map(move |x| {
            if x == 0 {
                // Item 0 keeps its rail's worker until every other item has come out (bounded:
                // a hang shows as the flag).
                let got = released
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
                flag.store(got.is_err(), Ordering::SeqCst);
            }
            x
        })
        .sequential();
    let mut seen = Vec::new();
    for item in items.blocking_iter() {
        let x = item.unwrap();
        seen.push(x);
        if seen.len() == 99 {
            assert!(
                !seen.contains(&0),
                "item 0 cannot come out before it is released"
            );
            release.send(()).unwrap();
        }
    }
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "the other 99 items did not get past the stuck rail"
    );
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<u64>>());
}
