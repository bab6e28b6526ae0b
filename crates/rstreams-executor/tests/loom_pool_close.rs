//! Loom model of closing the pool while a submitter is blocked on a full queue (issue 14.5, the
//! `close` order). The pool has two `Sleep`s: `sleep` carries the CLOSED bit that submitters
//! check; `space` is where submitters wait for room. A blocked submitter loops "closed? give up;
//! else wait on `space` until closed (or room)". Here nothing ever makes room (the workers are
//! busy, and `shutdown_now` drains without publishing `space`), so only the close can release it.
//!
//! `close` must set CLOSED before it wakes `space`: woken first, the submitter would re-check,
//! see "not closed" and wait again, and the later CLOSED bit wakes nobody on `space`. Loom
//! reports that as a deadlock (the broken twin below).
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test loom_pool_close`
#![cfg(rstreams_loom)]

use loom::thread;
use rstreams_executor::__loom::Sleep;
// std `Arc`: a loom `Arc` asserts in its destructor, turning the twin's deadlock into an abort.
use std::sync::Arc;

fn check_close(sleep_first: bool) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let sleep = Arc::new(Sleep::new());
        let space = Arc::new(Sleep::new());
        // The blocked submitter of `PoolInner::submit` (queue full for good).
        let submitter = {
            let (sleep, space) = (Arc::clone(&sleep), Arc::clone(&space));
            thread::spawn(move || {
                while !sleep.is_closed() {
                    space.sleep(|| sleep.is_closed());
                }
            })
        };
        // `PoolInner::close`, in the fixed order or the old one.
        if sleep_first {
            sleep.close();
            space.close();
        } else {
            space.close();
            sleep.close();
        }
        submitter.join().unwrap();
    });
}

#[test]
fn close_releases_a_submitter_blocked_on_a_full_queue() {
    check_close(true);
}

/// The broken twin: the order `close` had before (wake `space`, then set CLOSED).
#[test]
#[should_panic]
fn waking_space_before_closing_can_strand_the_submitter() {
    check_close(false);
}
