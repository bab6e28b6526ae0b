//! `for_each_local`: the closure runs on the calling thread and may borrow locals.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rstreams::executor::ThreadPool;
use rstreams::prelude::*;

fn pool() -> Arc<ThreadPool> {
    Arc::new(ThreadPool::builder().workers(2).build().unwrap())
}

#[test]
fn sums_into_a_local_on_the_calling_thread() {
    let me = std::thread::current().id();
    let mut total = 0u64;
    let mut off_thread = 0;
    rstreams::range(0, 10_000)
        .publish_on(pool())
        .for_each_local(|x| {
            total += x;
            if std::thread::current().id() != me {
                off_thread += 1;
            }
        })
        .unwrap();
    assert_eq!(total, (0..10_000).sum::<u64>());
    assert_eq!(off_thread, 0);
}

#[test]
fn a_stream_error_is_returned_after_the_items_before_it() {
    let mut seen = Vec::new();
    let failing = rstreams::concat(vec![
        rstreams::range(0, 3).boxed(),
        rstreams::error(rstreams::Error::msg("boom")).boxed(),
    ]);
    let e = failing.for_each_local(|x| seen.push(x)).unwrap_err();
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(e.to_string(), "boom");
}

#[test]
fn a_panic_in_the_closure_cancels_upstream_and_names_rule_2_13() {
    let cancelled = Arc::new(AtomicBool::new(false));
    let c = Arc::clone(&cancelled);
    let mut seen = 0;
    let e = rstreams::range(0, u64::MAX)
        .do_on_cancel(move || c.store(true, Ordering::SeqCst))
        .publish_on(pool())
        .for_each_local(|x| {
            seen += 1;
            assert!(x < 5, "too big");
        })
        .unwrap_err();
    assert_eq!(seen, 6);
    let text = format!("{e:?} {e}");
    assert!(text.contains("2.13"), "{text}");
    assert!(text.contains("for_each_local.rs"), "{text}");
    // The cancel reached the source (on the pool's worker): bounded wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cancelled.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream never cancelled"
        );
        std::thread::yield_now();
    }
}
