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

/// Issue 16, session 5: with `run_on`, each rail asks a synchronous upstream for its own runs,
/// so every item is produced on the worker that then processes it (what it owns is allocated
/// and freed on one thread). The broken twin is the session-4 design (commit d545c98), where
/// the join's replenishing request produced items on one worker for the rails of both: there
/// 3-4% of the items (under load; more on a quiet machine) were processed on another thread.
#[test]
fn a_synchronous_upstream_produces_each_item_on_the_worker_that_processes_it() {
    fn tid() -> std::thread::ThreadId {
        std::thread::current().id()
    }
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(2)
            .thread_name_prefix("par-local")
            .build()
            .unwrap(),
    );
    let n = 100_000u64;
    let (local, count) = rstreams::range(0, n)
        .map(|i| (tid(), i))
        .par_map_on(pool, |(made_on, i)| (made_on == tid(), i))
        .fold((0u64, 0u64), |(l, c), (same, _)| {
            (l + u64::from(same), c + 1)
        })
        .blocking_first()
        .unwrap()
        .unwrap();
    assert_eq!(count, n);
    // All of them but a rare straggler (a window of 512 was seen once in ~100 runs under heavy load); the
    // session-4 design processed 3-4% elsewhere under the same load, far more on a quiet one.
    assert!(
        local * 100 >= n * 99,
        "{} of {n} items processed on another thread than the one that made them",
        n - local
    );
}
