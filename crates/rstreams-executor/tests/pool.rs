//! Thread pool behaviour: ordering, shutdown, panics, bounded queue, timers, stats.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::{DropCounter, gate};
use rstreams_executor::{
    FullPolicy, RejectReason, Scheduler, SchedulerExt, SerialLane, ThreadPool,
};

fn pool(workers: usize) -> ThreadPool {
    ThreadPool::builder().workers(workers).build().unwrap()
}

/// 4 submitters x 10^5 tasks spread over 2 lanes: per-lane, per-submitter order exact, nothing
/// lost, and no two tasks of a lane ever overlap (atomic in-flight flag).
#[test]
fn lane_ordering_under_contention() {
    const SUBMITTERS: usize = 4;
    const PER_SUBMITTER: usize = 100_000;
    const LANES: usize = 2;

    struct LaneCheck {
        lane: SerialLane,
        in_flight: AtomicBool,
        overlaps: AtomicUsize,
        // Per submitter: the next sequence number expected on this lane.
        next: Mutex<Vec<usize>>,
        out_of_order: AtomicUsize,
        ran: AtomicUsize,
    }

    let pool = pool(2);
    let checks: Arc<Vec<LaneCheck>> = Arc::new(
        (0..LANES)
            .map(|_| LaneCheck {
                lane: pool.lane(),
                in_flight: AtomicBool::new(false),
                overlaps: AtomicUsize::new(0),
                next: Mutex::new(vec![0; SUBMITTERS]),
                out_of_order: AtomicUsize::new(0),
                ran: AtomicUsize::new(0),
            })
            .collect(),
    );
    let start = Arc::new(Barrier::new(SUBMITTERS));
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let checks = Arc::clone(&checks);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_SUBMITTER {
                    let lane_index = i % LANES;
                    // Sequence number of this submitter's task on this lane.
                    let seq = i / LANES;
                    let checks2 = Arc::clone(&checks);
                    checks[lane_index]
                        .lane
                        .spawn(move || {
                            let c = &checks2[lane_index];
                            if c.in_flight.swap(true, Ordering::SeqCst) {
                                c.overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                            {
                                let mut next = c.next.lock().unwrap();
                                if next[s] != seq {
                                    c.out_of_order.fetch_add(1, Ordering::SeqCst);
                                }
                                next[s] = seq + 1;
                            }
                            c.ran.fetch_add(1, Ordering::SeqCst);
                            c.in_flight.store(false, Ordering::SeqCst);
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    pool.shutdown();
    for c in checks.iter() {
        assert_eq!(
            c.overlaps.load(Ordering::SeqCst),
            0,
            "lane tasks overlapped"
        );
        assert_eq!(
            c.out_of_order.load(Ordering::SeqCst),
            0,
            "lane order broken"
        );
        assert_eq!(
            c.ran.load(Ordering::SeqCst),
            SUBMITTERS * PER_SUBMITTER / LANES
        );
        assert_eq!(c.lane.stats().pending, 0);
        assert_eq!(c.lane.stats().completed, SUBMITTERS * PER_SUBMITTER / LANES);
    }
    assert_eq!(pool.stats().completed, SUBMITTERS * PER_SUBMITTER);
}

#[test]
fn graceful_shutdown_runs_everything_queued_and_rejects_new_work() {
    const N: usize = 500;
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .queue_capacity(N + 1)
            .build()
            .unwrap(),
    );
    let (open, wait) = gate();
    pool.spawn(move || wait.wait()).unwrap(); // holds the only worker
    let drops = DropCounter::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let lane = pool.lane();
    for i in 0..N {
        let payload = drops.payload();
        let ran = Arc::clone(&ran);
        let task = move || {
            let _keep = payload;
            ran.fetch_add(1, Ordering::SeqCst);
        };
        if i % 2 == 0 {
            pool.spawn(task).unwrap();
        } else {
            lane.spawn(task).unwrap();
        }
    }
    let closer = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.shutdown())
    };
    while !pool.is_shutdown() {
        thread::yield_now(); // polling a flag, not sleeping for a guess
    }
    let err = pool.spawn(|| ()).unwrap_err();
    assert_eq!(err.reason(), RejectReason::Shutdown);
    let lane_err = lane.spawn(|| ()).unwrap_err();
    assert_eq!(lane_err.reason(), RejectReason::Shutdown);
    err.into_task()(); // the task is ours again
    open.open();
    closer.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), N);
    assert_eq!(drops.get(), N);
    assert!(pool.await_termination(Duration::ZERO));
    let stats = pool.stats();
    assert_eq!(stats.completed, N + 1);
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.rejected, 1);
}

#[test]
fn shutdown_now_drops_everything_queued_and_counts_it() {
    const N: usize = 300;
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .queue_capacity(N + 1)
            .build()
            .unwrap(),
    );
    let open = hold_the_worker(&pool); // the worker is inside the gate task
    let drops = DropCounter::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let lane = pool.lane();
    for i in 0..N {
        let payload = drops.payload();
        let ran = Arc::clone(&ran);
        let task = move || {
            let _keep = payload;
            ran.fetch_add(1, Ordering::SeqCst);
        };
        if i % 3 == 0 {
            lane.spawn(task).unwrap();
        } else {
            pool.spawn(task).unwrap();
        }
    }
    let stopper = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.shutdown_now())
    };
    while !pool.is_shutdown() {
        thread::yield_now();
    }
    open.open();
    let dropped = stopper.join().unwrap();
    assert_eq!(dropped, N);
    assert_eq!(drops.get(), N, "every dropped task was dropped, not leaked");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(pool.await_termination(Duration::ZERO));
}

#[test]
fn drop_is_a_graceful_shutdown() {
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let pool = ThreadPool::builder()
            .workers(2)
            .queue_capacity(2000)
            .build()
            .unwrap();
        for _ in 0..1000 {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
}

#[test]
fn panics_are_isolated_counted_and_reported() {
    let hook_calls = Arc::new(Mutex::new(Vec::new()));
    let hooked = Arc::clone(&hook_calls);
    let pool = ThreadPool::builder()
        .workers(2)
        .thread_name_prefix("panicky")
        .panic_handler(move |p| {
            hooked
                .lock()
                .unwrap()
                .push((p.message().map(str::to_owned), p.executor().to_owned()));
        })
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let lane = pool.lane();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        pool.spawn(move || {
            if i % 2 == 0 {
                panic!("boom {i}");
            }
        })
        .unwrap();
        let order = Arc::clone(&order);
        lane.spawn(move || {
            order.lock().unwrap().push(i);
            if i == 3 {
                panic!("lane boom");
            }
        })
        .unwrap();
        let ran = Arc::clone(&ran);
        pool.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.shutdown();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        10,
        "workers survived the panics"
    );
    assert_eq!(*order.lock().unwrap(), (0..10).collect::<Vec<_>>());
    let stats = pool.stats();
    assert_eq!(stats.panicked, 6);
    assert_eq!(stats.completed, 24);
    assert_eq!(lane.stats().panicked, 1);
    assert_eq!(lane.stats().completed, 9);
    let calls = hook_calls.lock().unwrap();
    assert_eq!(calls.len(), 6);
    assert!(calls.iter().all(|(_, exec)| exec == "panicky"));
    assert!(calls.iter().any(|(m, _)| m.as_deref() == Some("lane boom")));
    assert!(calls.iter().any(|(m, _)| m.as_deref() == Some("boom 4")));
}

#[test]
fn full_queue_rejects_under_reject_policy() {
    let pool = ThreadPool::builder()
        .workers(1)
        .queue_capacity(2)
        .full_policy(FullPolicy::Reject)
        .build()
        .unwrap();
    let open = hold_the_worker(&pool);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let ran = Arc::clone(&ran);
        pool.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let ran3 = Arc::clone(&ran);
    let err = pool
        .spawn(move || {
            ran3.fetch_add(100, Ordering::SeqCst);
        })
        .unwrap_err();
    assert_eq!(err.reason(), RejectReason::QueueFull);
    assert_eq!(pool.stats().queued, 2);
    assert_eq!(pool.stats().rejected, 1);
    open.open();
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    err.into_task()();
    assert_eq!(ran.load(Ordering::SeqCst), 102);
}

#[test]
fn full_queue_blocks_the_submitter_until_space_frees() {
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .queue_capacity(2)
            .build()
            .unwrap(),
    );
    let open = hold_the_worker(&pool);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let ran = Arc::clone(&ran);
        pool.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let returned = Arc::new(AtomicBool::new(false));
    let blocked = {
        let (pool, ran, returned) = (Arc::clone(&pool), Arc::clone(&ran), Arc::clone(&returned));
        thread::spawn(move || {
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            returned.store(true, Ordering::SeqCst);
        })
    };
    // The queue is full and its only consumer is held by the gate, so the third submission
    // cannot have completed yet, however the threads are scheduled.
    assert!(!returned.load(Ordering::SeqCst));
    assert_eq!(pool.stats().queued, 2);
    open.open();
    blocked.join().unwrap();
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(pool.stats().rejected, 0);
}

#[test]
fn a_worker_submitting_into_its_own_full_queue_does_not_deadlock() {
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    let (p, r) = (Arc::clone(&pool), Arc::clone(&ran));
    pool.spawn(move || {
        for _ in 0..5 {
            let r = Arc::clone(&r);
            p.spawn(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        done_tx.send(()).unwrap();
    })
    .unwrap();
    done_rx.recv().unwrap();
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 5);
}

#[test]
fn timers_fire_and_cancel_on_the_pool() {
    let pool = pool(2);
    let (tx, rx) = mpsc::channel();
    let t = tx.clone();
    pool.spawn_after(Duration::from_millis(2), move || t.send("once").unwrap())
        .unwrap();
    assert_eq!(rx.recv().unwrap(), "once");

    // Cancelled before it is due: never runs, and its payload is dropped at shutdown.
    let drops = DropCounter::default();
    let payload = drops.payload();
    let t = tx.clone();
    let handle = pool
        .spawn_after(Duration::from_secs(3600), move || {
            let _keep = payload;
            t.send("cancelled").unwrap();
        })
        .unwrap();
    assert!(handle.cancel());
    assert!(!handle.cancel());

    // Fixed rate: three runs, then the task cancels itself via its own handle.
    let count = Arc::new(AtomicUsize::new(0));
    let handle_slot: Arc<Mutex<Option<rstreams_executor::TimerHandle>>> = Arc::default();
    let (c, hs, t) = (Arc::clone(&count), Arc::clone(&handle_slot), tx.clone());
    let handle = pool
        .execute_at_fixed_rate(
            Duration::ZERO,
            Duration::from_millis(1),
            Arc::new(move || {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                t.send("tick").unwrap();
                if n == 3
                    && let Some(h) = hs.lock().unwrap().as_ref()
                {
                    h.cancel();
                }
            }),
        )
        .unwrap();
    *handle_slot.lock().unwrap() = Some(handle.clone());
    for _ in 0..3 {
        assert_eq!(rx.recv().unwrap(), "tick");
    }
    handle.cancel();
    pool.shutdown();
    drop(tx);
    let rest: Vec<_> = rx.iter().collect();
    assert!(
        rest.iter().all(|m| *m == "tick"),
        "cancelled timer ran: {rest:?}"
    );
    assert_eq!(drops.get(), 1);
    assert_eq!(pool.pending_timers(), 0);
}

#[test]
fn zero_period_and_post_shutdown_timers_are_rejected() {
    let pool = pool(1);
    let err = pool
        .execute_at_fixed_rate(Duration::ZERO, Duration::ZERO, Arc::new(|| ()))
        .unwrap_err();
    assert_eq!(err.reason(), RejectReason::ZeroPeriod);
    pool.shutdown();
    let err = pool
        .execute_after(Duration::ZERO, Box::new(|| ()))
        .unwrap_err();
    assert_eq!(err.reason(), RejectReason::Shutdown);
}

#[test]
fn workers_are_named_and_counted() {
    let pool = ThreadPool::builder()
        .workers(3)
        .stack_size(256 * 1024)
        .build()
        .unwrap();
    assert_eq!(pool.workers(), 3);
    let (tx, rx) = mpsc::channel();
    pool.spawn(move || {
        tx.send(thread::current().name().map(str::to_owned))
            .unwrap()
    })
    .unwrap();
    let name = rx.recv().unwrap().unwrap();
    assert!(name.starts_with("rstreams-worker-"), "{name}");
    assert!(!pool.await_termination(Duration::ZERO));
    pool.shutdown();
    assert!(pool.await_termination(Duration::ZERO));
}

#[test]
fn invalid_configuration_is_an_error() {
    assert!(ThreadPool::builder().workers(0).build().is_err());
    assert!(ThreadPool::builder().queue_capacity(0).build().is_err());
}

#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    let pool = Arc::new(pool(2));
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pool);
    pool.spawn(move || {
        p.shutdown();
        tx.send(()).unwrap();
    })
    .unwrap();
    rx.recv().unwrap();
    pool.shutdown();
    assert!(pool.is_shutdown());
}

#[test]
fn dyn_scheduler_is_usable() {
    let pool: Arc<dyn Scheduler> = Arc::new(pool(2));
    let (tx, rx) = mpsc::channel();
    pool.spawn(move || tx.send(7).unwrap()).unwrap();
    assert_eq!(rx.recv().unwrap(), 7);
    let lane = pool.lane();
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let tx = tx.clone();
        lane.spawn(move || tx.send(i).unwrap()).unwrap();
    }
    drop(tx);
    assert_eq!(rx.iter().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
}

#[test]
fn a_submitter_blocked_on_a_full_queue_is_released_by_shutdown() {
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(1)
            .queue_capacity(1)
            .build()
            .unwrap(),
    );
    let open = hold_the_worker(&pool);
    let drops = DropCounter::default();
    let p = drops.payload();
    pool.spawn(move || drop(p)).unwrap(); // the queue is now full
    let blocked = {
        let (pool, p) = (Arc::clone(&pool), drops.payload());
        thread::spawn(move || pool.spawn(move || drop(p)).map_err(|e| e.reason()))
    };
    let closer = {
        let pool = Arc::clone(&pool);
        thread::spawn(move || pool.shutdown())
    };
    // Whether it was already parked or arrives after the close, the submission is refused.
    assert_eq!(blocked.join().unwrap(), Err(RejectReason::Shutdown));
    open.open();
    closer.join().unwrap();
    assert_eq!(drops.get(), 2); // the queued task ran, the refused one was handed back and dropped
    assert_eq!(pool.stats().completed, 2);
}

/// Submitters racing a graceful shutdown: every submission is either refused (task handed back)
/// or run; none is stranded or run twice. Lanes included.
#[test]
fn submissions_racing_shutdown_are_refused_or_run() {
    for round in 0..20 {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(2)
                .queue_capacity(64)
                .build()
                .unwrap(),
        );
        let ran = Arc::new(AtomicUsize::new(0));
        let (warm_tx, warm_rx) = mpsc::channel();
        let submitters: Vec<_> = (0..3)
            .map(|s| {
                let (pool, ran, warm_tx) = (Arc::clone(&pool), Arc::clone(&ran), warm_tx.clone());
                thread::spawn(move || {
                    let lane = pool.lane();
                    let mut accepted = 0usize;
                    for i in 0.. {
                        let ran = Arc::clone(&ran);
                        let task = move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        };
                        let result = if (i + s + round) % 3 == 0 {
                            lane.spawn(task)
                        } else {
                            pool.spawn(task)
                        };
                        match result {
                            Ok(()) => accepted += 1,
                            Err(e) => {
                                assert_eq!(e.reason(), RejectReason::Shutdown);
                                break;
                            }
                        }
                        if i == 200 {
                            warm_tx.send(()).unwrap();
                        }
                    }
                    accepted
                })
            })
            .collect();
        for _ in 0..3 {
            warm_rx.recv().unwrap(); // every submitter is in full flight
        }
        pool.shutdown();
        let accepted: usize = submitters.into_iter().map(|s| s.join().unwrap()).sum();
        assert_eq!(ran.load(Ordering::SeqCst), accepted, "round {round}");
    }
}

/// Submits `n` tasks that count into `ran` to a `Reject` pool; returns how many were accepted
/// (every refusal must be `QueueFull`).
fn spawn_counting(pool: &ThreadPool, ran: &Arc<AtomicUsize>, n: usize) -> usize {
    let mut accepted = 0;
    for _ in 0..n {
        let ran = Arc::clone(ran);
        match pool.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
        }) {
            Ok(()) => accepted += 1,
            Err(e) => assert_eq!(e.reason(), RejectReason::QueueFull),
        }
    }
    accepted
}

/// The bound holds across refills: after a full queue drains, the next fill admits exactly
/// `capacity` again (the earlier credit-based admission could hold a stale credit or deficit;
/// the array queue of session 5 has none, and this keeps it that way).
#[test]
fn admission_bound_holds_across_credit_refills() {
    let pool = ThreadPool::builder()
        .workers(1)
        .queue_capacity(3)
        .full_policy(FullPolicy::Reject)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    for round in 1..=3 {
        let open = hold_the_worker(&pool);
        let accepted = spawn_counting(&pool, &ran, 5);
        assert_eq!(
            accepted, 3,
            "round {round}: exactly the capacity is admitted"
        );
        open.open();
        // Wait (bounded) until the worker has run this round's tasks and the queue is empty.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.stats().queued != 0 || ran.load(Ordering::SeqCst) != 3 * round {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round} never drained"
            );
            thread::yield_now();
        }
    }
    pool.shutdown();
}

/// No lost wake-ups (issue 14.5): many threads submit bursts with pauses between them, so the
/// workers keep going to sleep and being woken by whichever submitter comes next, through a
/// small queue (submitters block on it) and through lanes. Every task runs; every wait is
/// bounded, so a lost wake-up shows as a failure, not a hang.
#[test]
fn submissions_from_many_threads_all_run() {
    const THREADS: usize = 6;
    const BURSTS: usize = 200;
    const PER_BURST: usize = 25;
    let pool = Arc::new(
        ThreadPool::builder()
            .workers(2)
            .queue_capacity(8)
            .build()
            .unwrap(),
    );
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let submitters: Vec<_> = (0..THREADS)
        .map(|t| {
            let (pool, done_tx) = (Arc::clone(&pool), done_tx.clone());
            thread::spawn(move || {
                let lane = pool.lane();
                for burst in 0..BURSTS {
                    for i in 0..PER_BURST {
                        let done_tx = done_tx.clone();
                        let task = move || done_tx.send(()).unwrap();
                        if (t + burst + i) % 4 == 0 {
                            lane.spawn(task).unwrap();
                        } else {
                            pool.spawn(task).unwrap();
                        }
                    }
                    // Let the workers run dry and park now and then.
                    if burst % 8 == t % 8 {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    drop(done_tx);
    for submitter in submitters {
        submitter.join().unwrap();
    }
    for n in 0..THREADS * BURSTS * PER_BURST {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("task {n} never ran (lost wake-up?): {e}"));
    }
    assert_eq!(pool.stats().queued, 0);
    pool.shutdown();
}

/// A worker stuck in a long task (its deque may still hold jobs of its batch): the other worker
/// must still run everything submitted meanwhile (stealing), and work submitted while it idles.
#[test]
fn a_long_task_does_not_hold_up_the_other_worker() {
    let pool = pool(2);
    let (open, wait) = gate();
    let (started_tx, started_rx) = mpsc::channel();
    // A batch whose first job blocks: the rest may sit in the blocked worker's deque until the
    // other worker steals them.
    pool.spawn(move || {
        started_tx.send(()).unwrap();
        wait.wait();
    })
    .unwrap();
    let (done_tx, done_rx) = mpsc::channel::<usize>();
    for i in 0..100 {
        let done_tx = done_tx.clone();
        pool.spawn(move || done_tx.send(i).unwrap()).unwrap();
    }
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the long task starts");
    for _ in 0..100 {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the free worker runs the rest while the long task blocks");
    }
    // Idle now (with the long task still running); then more work arrives and is run.
    thread::sleep(Duration::from_millis(5));
    for i in 0..10 {
        let done_tx = done_tx.clone();
        pool.spawn(move || done_tx.send(i).unwrap()).unwrap();
    }
    for _ in 0..10 {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("work submitted while a worker is blocked runs");
    }
    open.open();
    pool.shutdown();
}

/// An owned pool handed over through `IntoScheduler` is shut down when its last holder drops. If
/// that drop happens on one of its own workers, joining the other workers from there deadlocks
/// as soon as one of them waits for the dropping task: here worker B waits (bounded, 30 s) for
/// task A to finish, and A drops the last handle. The drop must detach (close, not join), so A
/// finishes at once; a drop that joins would hold A until B's wait times out.
#[test]
fn dropping_an_owned_pool_on_its_own_worker_detaches_instead_of_joining() {
    use rstreams_executor::IntoScheduler;
    let sched = pool(2).into_scheduler();
    let (b_started_tx, b_started_rx) = mpsc::channel::<()>();
    let (a_done_tx, a_done_rx) = mpsc::channel::<()>();
    let (b_done_tx, b_done_rx) = mpsc::channel::<bool>();
    // B occupies one worker until A has finished (or 30 s pass).
    sched
        .spawn(move || {
            b_started_tx.send(()).unwrap();
            let a_finished = a_done_rx.recv_timeout(Duration::from_secs(30)).is_ok();
            b_done_tx.send(a_finished).unwrap();
        })
        .unwrap();
    b_started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("B starts");
    let (last_tx, last_rx) = mpsc::channel::<()>();
    let (a_returned_tx, a_returned_rx) = mpsc::channel::<()>();
    let handle = Arc::clone(&sched);
    // A runs on the other worker and drops the last handle once the test has dropped its own.
    sched
        .spawn(move || {
            last_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            drop(handle); // the last `Arc`: `ThreadPool::drop` runs on this worker
            a_returned_tx.send(()).unwrap();
            let _ = a_done_tx.send(());
        })
        .unwrap();
    drop(sched);
    last_tx.send(()).unwrap();
    a_returned_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("dropping the pool on its own worker returned (detached, not joined)");
    assert_eq!(
        b_done_rx.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "B saw A finish"
    );
}

/// The searching protocol (issue 14.5) in the real pool: a job that blocks until the *next*
/// submitted job has run holds its worker, so the next job must reach the other worker, whether
/// the submitter woke it or skipped the wake because a worker was searching (then the searcher
/// that took the first job must wake it). Many rounds, from idle each time (workers searching or
/// parked), every wait bounded: a stranded job shows as a failure. `tests/loom_pool_search.rs`
/// is the exhaustive version.
#[test]
fn a_job_waiting_for_the_next_one_never_strands_it() {
    let pool = pool(2);
    for round in 0..300 {
        let (next_ran_tx, next_ran_rx) = mpsc::channel::<()>();
        let (first_done_tx, first_done_rx) = mpsc::channel::<bool>();
        pool.spawn(move || {
            let ok = next_ran_rx.recv_timeout(Duration::from_secs(10)).is_ok();
            first_done_tx.send(ok).unwrap();
        })
        .unwrap();
        pool.spawn(move || next_ran_tx.send(()).unwrap()).unwrap();
        assert_eq!(
            first_done_rx.recv_timeout(Duration::from_secs(20)),
            Ok(true),
            "round {round}: the second job never ran while the first held its worker"
        );
        if round % 3 == 0 {
            // Let both workers run dry (search, then maybe park) before the next round.
            thread::yield_now();
        }
    }
    pool.shutdown();
}

/// The bound is exact under concurrent submitters (issue 14.5, session 5): with the only worker
/// held, four threads racing to submit under `FullPolicy::Reject` get exactly `capacity`
/// admissions between them, and every admitted task runs once the worker is released.
#[test]
fn concurrent_submitters_never_overshoot_the_bound() {
    const CAPACITY: usize = 4;
    for _ in 0..50 {
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(1)
                .queue_capacity(CAPACITY)
                .full_policy(FullPolicy::Reject)
                .build()
                .unwrap(),
        );
        let open = hold_the_worker(&pool);
        let ran = Arc::new(AtomicUsize::new(0));
        let submitters: Vec<_> = (0..4)
            .map(|_| {
                let (pool, ran) = (Arc::clone(&pool), Arc::clone(&ran));
                thread::spawn(move || spawn_counting(&pool, &ran, 3))
            })
            .collect();
        let accepted: usize = submitters.into_iter().map(|s| s.join().unwrap()).sum();
        assert_eq!(accepted, CAPACITY, "exactly the capacity is admitted");
        open.open();
        pool.shutdown();
        assert_eq!(ran.load(Ordering::SeqCst), CAPACITY);
    }
}

/// Submits a task that holds a worker until the returned gate opens, and waits (bounded) until
/// that worker is inside it, so nothing pops the queue meanwhile.
fn hold_the_worker(pool: &ThreadPool) -> common::GateOpener {
    let (open, wait) = gate();
    let (started_tx, started_rx) = mpsc::channel();
    pool.spawn(move || {
        started_tx.send(()).unwrap();
        wait.wait();
    })
    .unwrap();
    started_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the holding task runs");
    open
}
