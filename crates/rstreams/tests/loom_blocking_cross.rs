//! Loom model of `blocking_iter`'s cross-thread half (`sink/local.rs`, "The cross-thread half"):
//! the thread hop's SPSC ring, the "signal only if parked" token the iterator parks on, and the
//! fast path into the iterator's own buffer, together.
//!
//! * `no_lost_wakeup`: a subscriber on another thread pushes two items and the end while the
//!   iterator takes them, parking whenever it finds nothing. Every interleaving must deliver
//!   both items in order and the end, and never leave the iterator parked with work waiting
//!   (loom reports a deadlock). The broken twin (`BROKEN = true`: the token without its
//!   fences, the store-buffer pattern) must be caught: the iterator sleeps with an item in the
//!   ring.
//! * `fast_path_keeps_order`: an item delivered synchronously inside the iterator's call (fast
//!   path), then one from another thread (ring), then one inside the call again (back on the
//!   fast path only once the ring is drained), then the end from another thread: they come
//!   out in order.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams --profile loom --test loom_blocking_cross`
#![cfg(rstreams_loom)]

use loom::thread;
use rstreams::sink::__loom::{LocalBuf, channel};

fn no_lost_wakeup<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let local = LocalBuf::<false>::new();
        let (mut tx, mut rx) = channel::<BROKEN>(4);
        let producer = thread::spawn(move || {
            let other = LocalBuf::<false>::new(); // not the iterator's: no fast path here
            assert!(tx.send(&other, 1));
            assert!(tx.send(&other, 2));
            tx.close();
        });
        assert_eq!(rx.next(&local), Some(1));
        assert_eq!(rx.next(&local), Some(2));
        assert_eq!(rx.next(&local), None);
        producer.join().unwrap();
    });
}

#[test]
fn no_lost_wakeup_ok() {
    no_lost_wakeup::<false>();
}

#[test]
#[should_panic(expected = "deadlock")]
fn broken_token_without_fences_is_caught() {
    no_lost_wakeup::<true>();
}

#[test]
fn fast_path_keeps_order() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let local = LocalBuf::<false>::new();
        let (mut tx, mut rx) = channel::<false>(4);
        // The iterator's `subscribe`: a synchronous upstream delivers 1 inside it.
        let mut ok = false;
        local.call(|| ok = tx.send(&local, 1));
        assert!(ok);
        // Then the upstream moves to another thread and delivers 2 through the ring.
        let t = thread::spawn(move || {
            let other = LocalBuf::<false>::new();
            assert!(tx.send(&other, 2));
            tx
        });
        assert_eq!(rx.next(&local), Some(1));
        assert_eq!(rx.next(&local), Some(2));
        let mut tx = t.join().unwrap();
        // The iterator's `request` (it publishes first): 3 arrives inside it, on this thread.
        rx.publish();
        local.call(|| ok = tx.send(&local, 3));
        assert!(ok);
        let t = thread::spawn(move || {
            let other = LocalBuf::<false>::new();
            assert!(tx.send(&other, 4));
            tx.close();
        });
        assert_eq!(rx.next(&local), Some(3));
        assert_eq!(rx.next(&local), Some(4));
        assert_eq!(rx.next(&local), None);
        t.join().unwrap();
    });
}
