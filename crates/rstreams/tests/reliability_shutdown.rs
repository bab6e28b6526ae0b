//! Reliability of the thread hop under pool shutdown and hot pipelines (issue 17, items 2 and 3).
//!
//! * 17.2: `shutdown_now` drops queued lane tasks, including a hop's drain; every in-flight
//!   stream must still get exactly one terminal signal and be freed.
//! * 17.3: a subscriber that requests from inside `on_next` must not let one drain keep its
//!   worker forever: 100 such pipelines on 2 workers all progress, and both kinds of shutdown
//!   return.
//!
//! Every wait is bounded (`recv_timeout`): a hang shows as a failure, never a timed assertion
//! about speed.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

/// Generous: only a hang (or a worker monopolised for good) reaches it.
const WAIT: Duration = Duration::from_secs(10);
const PIPELINES: usize = 100;

#[derive(Debug)]
enum Event {
    First(usize),
    Terminal(usize),
    Dropped(usize),
}

/// The replenishing consumer: requests 1 up front and 1 more from inside every `on_next`.
/// Reports its first item, each terminal signal, and its own drop.
struct Hot {
    id: usize,
    sub: Option<Box<dyn Subscription>>,
    seen: u64,
    terminals: usize,
    events: Sender<Event>,
}

impl Subscriber<u64> for Hot {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(1);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        if self.seen == 0 {
            let _ = self.events.send(Event::First(self.id));
        }
        self.seen += 1;
        if let Some(s) = &self.sub {
            s.request(1);
        }
    }
    fn on_error(&mut self, _: rstreams::Error) {
        self.terminals += 1;
        let _ = self.events.send(Event::Terminal(self.id));
    }
    fn on_complete(&mut self) {
        self.terminals += 1;
        let _ = self.events.send(Event::Terminal(self.id));
    }
}

impl Drop for Hot {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Dropped(self.id));
    }
}

fn two_workers() -> (Arc<ThreadPool>, Arc<dyn Scheduler>) {
    let pool = Arc::new(ThreadPool::builder().workers(2).build().expect("pool"));
    let scheduler: Arc<dyn Scheduler> = pool.clone();
    (pool, scheduler)
}

fn start(scheduler: &Arc<dyn Scheduler>, subscribe_on: bool) -> Receiver<Event> {
    let (tx, rx) = unbounded();
    for id in 0..PIPELINES {
        let hot = Hot {
            id,
            sub: None,
            seen: 0,
            terminals: 0,
            events: tx.clone(),
        };
        let source = rstreams::range(0, u64::MAX / 2);
        if subscribe_on {
            source
                .subscribe_on(Arc::clone(scheduler))
                .publish_on_with(Arc::clone(scheduler), 16)
                .subscribe(hot);
        } else {
            source
                .publish_on_with(Arc::clone(scheduler), 16)
                .subscribe(hot);
        }
    }
    rx
}

/// Waits until every pipeline has delivered its first item: the 17.3 fairness property (with
/// one drain per worker running forever, only a couple of pipelines ever start).
fn every_pipeline_progresses(rx: &Receiver<Event>) {
    let mut started = [false; PIPELINES];
    let mut count = 0;
    while count < PIPELINES {
        match rx.recv_timeout(WAIT) {
            Ok(Event::First(id)) => {
                if !std::mem::replace(&mut started[id], true) {
                    count += 1;
                }
            }
            Ok(other) => panic!("unexpected before shutdown: {other:?}"),
            Err(_) => panic!("only {count} of {PIPELINES} pipelines received an item (starved)"),
        }
    }
}

/// Runs `shut` on its own thread and fails if it does not return.
fn shuts_down(pool: Arc<ThreadPool>, shut: fn(&ThreadPool)) {
    let (done_tx, done_rx) = unbounded();
    std::thread::spawn(move || {
        shut(&pool);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(WAIT)
        .expect("pool shutdown returned (a drain gave its worker back)");
}

/// Every pipeline gets exactly one terminal signal and its subscriber is dropped (freed).
fn every_stream_ends_once_and_is_freed(rx: &Receiver<Event>) {
    let mut terminals = [0usize; PIPELINES];
    let mut dropped = [false; PIPELINES];
    let mut freed = 0;
    while freed < PIPELINES {
        match rx.recv_timeout(WAIT) {
            Ok(Event::First(_)) => {}
            Ok(Event::Terminal(id)) => terminals[id] += 1,
            Ok(Event::Dropped(id)) => {
                assert!(!dropped[id], "pipeline {id} dropped twice");
                dropped[id] = true;
                freed += 1;
            }
            Err(_) => {
                let stranded = dropped.iter().filter(|d| !**d).count();
                panic!("{stranded} of {PIPELINES} subscribers were never freed (stranded)");
            }
        }
    }
    let wrong: Vec<(usize, usize)> = terminals
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "(pipeline, terminal signals) not exactly one: {wrong:?}"
    );
}

/// Starts 100 hot pipelines, checks they all progress, shuts the pool down with `shut` and
/// checks that every stream ends exactly once and is freed.
fn scenario(subscribe_on: bool, shut: fn(&ThreadPool)) {
    let (pool, scheduler) = two_workers();
    let rx = start(&scheduler, subscribe_on);
    drop(scheduler);
    every_pipeline_progresses(&rx);
    shuts_down(pool, shut);
    every_stream_ends_once_and_is_freed(&rx);
}

fn now(pool: &ThreadPool) {
    pool.shutdown_now();
}

#[test]
fn hot_pipelines_all_progress_and_graceful_shutdown_ends_them() {
    scenario(false, ThreadPool::shutdown);
}

#[test]
fn hot_pipelines_all_progress_and_shutdown_now_ends_them() {
    scenario(false, now);
}

#[test]
fn shutdown_now_ends_every_subscribe_on_publish_on_pipeline() {
    scenario(true, now);
}

#[test]
fn graceful_shutdown_ends_every_subscribe_on_publish_on_pipeline() {
    scenario(true, ThreadPool::shutdown);
}

/// Streams whose drain is queued (not running) when `shutdown_now` drops it: a slow consumer
/// on a pool whose two workers are held by blockers, so every drain sits in the queue.
#[test]
fn shutdown_now_with_queued_drains_ends_every_stream() {
    let (pool, scheduler) = two_workers();
    // Hold both workers so the hops' first drains stay queued.
    let (release_tx, release_rx) = unbounded::<()>();
    let (held_tx, held_rx) = unbounded::<()>();
    for _ in 0..2 {
        let release = release_rx.clone();
        let held = held_tx.clone();
        pool.spawn(move || {
            let _ = held.send(());
            let _ = release.recv_timeout(WAIT);
        })
        .expect("pool accepts");
    }
    for _ in 0..2 {
        held_rx.recv_timeout(WAIT).expect("blocker started");
    }
    let rx = start(&scheduler, false);
    drop(scheduler);
    let (done_tx, done_rx) = unbounded();
    let p = Arc::clone(&pool);
    std::thread::spawn(move || {
        let dropped = p.shutdown_now();
        let _ = done_tx.send(dropped);
    });
    // Let the blockers finish once shutdown_now has closed the pool (it then joins them).
    let deadline = std::time::Instant::now() + WAIT;
    while !pool.is_shutdown() {
        assert!(
            std::time::Instant::now() < deadline,
            "shutdown_now never closed the pool"
        );
        std::thread::yield_now();
    }
    drop(release_tx);
    done_rx.recv_timeout(WAIT).expect("shutdown_now returned");
    drop(pool);
    every_stream_ends_once_and_is_freed(&rx);
}
