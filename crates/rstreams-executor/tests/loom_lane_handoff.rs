//! Loom model of the serial-lane hand-off (`LaneCore`): the work-in-progress counter protocol.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams-executor --profile loom --test 'loom_*'`
#![cfg(rstreams_loom)]

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
// std `Arc` for sharing (see loom_queue_handoff.rs): the joins order everything it carries.
use loom::thread;
use rstreams_executor::__loom::{LaneCore, UnboundedQueue};
use std::sync::Arc;

/// A lane task in the model: (submitter, sequence number).
type Item = (usize, usize);

/// The minimal lane protocol both the real core and the broken twin implement.
trait Lane: Send + Sync + 'static {
    fn push(&self, item: Item) -> bool;
    fn drain(&self, budget: usize, run: &mut dyn FnMut(Item)) -> bool;
}

impl Lane for LaneCore<Item> {
    fn push(&self, item: Item) -> bool {
        LaneCore::push(self, item)
    }
    fn drain(&self, budget: usize, run: &mut dyn FnMut(Item)) -> bool {
        LaneCore::drain(self, budget, run)
    }
}

/// The checks a run of the model makes: no overlap, per-submitter order, nothing lost.
struct Observer {
    in_flight: AtomicBool,
    log: Mutex<Vec<Item>>,
}

impl Observer {
    fn run(&self, item: Item) {
        assert!(
            !self.in_flight.swap(true, Ordering::SeqCst),
            "two lane tasks overlapped"
        );
        self.log.lock().unwrap().push(item);
        self.in_flight.store(false, Ordering::SeqCst);
    }
}

/// The executor of the model: a queue of "drain this lane" jobs that any thread may run.
struct Model<L: Lane> {
    lane: L,
    jobs: UnboundedQueue<()>,
    observer: Observer,
}

impl<L: Lane> Model<L> {
    fn submit(&self, item: Item) {
        if self.lane.push(item) {
            self.jobs.push(());
        }
    }

    /// Runs drain jobs until none is queued. Budget 1 forces the re-scheduling path.
    fn work(&self) {
        while self.jobs.pop().is_some() {
            if self.lane.drain(1, &mut |item| self.observer.run(item)) {
                self.jobs.push(());
            }
        }
    }
}

fn check_lane<L: Lane>(lane: impl Fn() -> L + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(move || {
        let model = Arc::new(Model {
            lane: lane(),
            jobs: UnboundedQueue::new(),
            observer: Observer {
                in_flight: AtomicBool::new(false),
                log: Mutex::new(Vec::new()),
            },
        });
        // Two submitter threads that also act as workers, like pool workers submitting to lanes.
        let a = {
            let m = Arc::clone(&model);
            thread::spawn(move || {
                m.submit((0, 0));
                m.submit((0, 1));
                m.work();
            })
        };
        let b = {
            let m = Arc::clone(&model);
            thread::spawn(move || {
                m.submit((1, 0));
                m.work();
            })
        };
        a.join().unwrap();
        b.join().unwrap();
        // Whatever is still scheduled (a drain that was re-queued after both workers looked).
        model.work();
        let log = model.observer.log.lock().unwrap().clone();
        assert_eq!(log.len(), 3, "a lane task was lost: {log:?}");
        let zeros: Vec<_> = log
            .iter()
            .filter(|(s, _)| *s == 0)
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(zeros, [0, 1], "submission order broken: {log:?}");
    });
}

#[test]
fn lane_handoff_is_ordered_serial_and_lossless() {
    check_lane(LaneCore::<Item>::new);
}

/// The broken twin: the drain gives up the token by *loading* `wip` and then *storing* 0 when it
/// thinks it ran everything. A submitter that increments between the load and the store sees a
/// non-zero count (so it does not schedule a drain) and its task is then stranded.
struct BrokenLane {
    wip: AtomicUsize,
    queue: UnboundedQueue<Item>,
}

impl Lane for BrokenLane {
    fn push(&self, item: Item) -> bool {
        self.queue.push(item);
        self.wip.fetch_add(1, Ordering::AcqRel) == 0
    }

    fn drain(&self, budget: usize, run: &mut dyn FnMut(Item)) -> bool {
        let mut done = 0;
        loop {
            let owed = self.wip.load(Ordering::Acquire);
            if owed == done {
                // BUG: check-then-act; should be fetch_sub(done) and re-check the result.
                self.wip.store(0, Ordering::Release);
                return false;
            }
            if done == budget {
                self.wip.fetch_sub(done, Ordering::AcqRel);
                return true;
            }
            run(self.queue.pop().expect("counted item present"));
            done += 1;
        }
    }
}

#[test]
#[should_panic]
fn broken_lane_handoff_loses_a_task() {
    check_lane(|| BrokenLane {
        wip: AtomicUsize::new(0),
        queue: UnboundedQueue::new(),
    });
}
