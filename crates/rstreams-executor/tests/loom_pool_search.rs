//! Loom model of the pool's *searching* protocol (issue 14.5): a submitter skips the wake while a
//! worker searches (awake, idle, looking for work); the last searcher to find work wakes a sleeper
//! if work remains (`Sleep::found_work`); a searcher that gives up stops searching in the same
//! step as it registers to sleep, before the fence (`Sleep::sleep_searching`).
//!
//! Two workers run the pool's loop (`worker_main`, one look per round: a legal run of the real
//! spin), main submits two jobs (push, then `publish`, each). Job 1 blocks until
//! job 2 has run, so whoever takes job 1 holds its worker: job 2 must reach the *other* worker,
//! whichever way the wake-ups race. If it does not (a skipped wake nobody makes up for), both
//! workers wait forever, which loom reports as a deadlock. The worker that completes the second
//! job closes the `Sleep` so the other one exits.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test loom_pool_search`
#![cfg(rstreams_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;
use rstreams_executor::__loom::{Sleep, UnboundedQueue};
// std `Arc`: a loom `Arc` asserts in its destructor, turning the twin's deadlock into an abort.
use std::sync::Arc;

const WORKERS: usize = 2;

struct Shared {
    queue: UnboundedQueue<u32>,
    sleep: Sleep,
    /// Set by job 2; job 1 waits for it.
    flag: Mutex<bool>,
    flag_cv: Condvar,
    ran: AtomicUsize,
}

fn run_job(shared: &Shared, job: u32) {
    if job == 1 {
        let mut set = shared.flag.lock().unwrap();
        while !*set {
            set = shared.flag_cv.wait(set).unwrap();
        }
    } else {
        *shared.flag.lock().unwrap() = true;
        shared.flag_cv.notify_all();
    }
    if shared.ran.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
        shared.sleep.close(); // everything ran: let the other worker exit
    }
}

fn worker(shared: &Shared, wake_after_finding: bool) {
    let mut searching = false;
    loop {
        if !searching {
            searching = shared.sleep.try_search(WORKERS);
        }
        if let Some(job) = shared.queue.pop() {
            if searching {
                searching = false;
                if wake_after_finding {
                    shared.sleep.found_work(|| !shared.queue.is_empty());
                } else {
                    // BUG (broken twin): stop searching without looking for work left behind.
                    shared.sleep.found_work(|| false);
                }
            }
            run_job(shared, job);
            continue;
        }
        if shared.sleep.is_closed() && shared.queue.is_empty() {
            return;
        }
        shared.sleep.sleep_searching(searching, || {
            !shared.queue.is_empty() || shared.sleep.is_closed()
        });
        searching = true;
    }
}

fn check_search(wake_after_finding: bool) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let shared = Arc::new(Shared {
            queue: UnboundedQueue::new(),
            sleep: Sleep::searching(),
            flag: Mutex::new(false),
            flag_cv: Condvar::new(),
            ran: AtomicUsize::new(0),
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || worker(&shared, wake_after_finding))
            })
            .collect();
        // The submitter: push, then `publish` (`true`, closed, only once both jobs ran).
        for job in [1, 2] {
            shared.queue.push(job);
            let _ = shared.sleep.publish();
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(shared.ran.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_skipped_wake_is_made_up_by_the_last_searcher() {
    check_search(true);
}

/// The broken twin: the last searcher stops searching without checking for work it leaves
/// behind, so a wake the submitter skipped on its account is never made: job 2 waits in the
/// queue while job 1 blocks its worker and the other worker sleeps.
#[test]
#[should_panic]
fn a_searcher_that_leaves_work_behind_strands_it() {
    check_search(false);
}
