//! Executor benchmarks, each beside its baseline in the same criterion group.
//!
//! * `executor/tasks_1e6`: 10^6 empty tasks submitted from one thread and run to completion on
//!   2 workers, through
//!   - `baseline_channel_pool`: the minimal pool (one bounded crossbeam-channel, N threads doing
//!     blocking `recv`, a per-worker completion counter);
//!   - `stealing_prototype`: the same minimal pool built the other way, per-worker crossbeam-deque
//!     deques fed from an injector, with batch stealing. Baseline vs prototype is the
//!     work-distribution experiment that chose the executor's design;
//!   - `thread_pool`: `rstreams_executor::ThreadPool` (one bounded MPMC array queue popped by
//!     every worker, with its shutdown gate, sleep protocol, counters and panic isolation).
//! * `executor/lane_1e6`: 10^6 empty tasks through one `SerialLane` of the pool, beside the pool
//!   and the baseline running the same 10^6 tasks directly.
//!
//! Run: `cargo bench -p rstreams-benches --bench executor -- --warm-up-time 1 --measurement-time 3`
//!
//! * `POOL_SWITCHES=1`: no criterion; 5 rounds of 10^6 empty tasks through the baseline and
//!   through `ThreadPool`, interleaved, printing each variant's median time per task and its
//!   context switches per 10^6 tasks (voluntary = parks, involuntary = preemptions), summed over
//!   the process's threads from `/proc/self/task/*/status` (Linux only).
//! * `POOL_VARIANT=baseline|thread_pool`: no criterion; 12 rounds of 10^6 empty tasks through that
//!   variant alone (nothing else built), printing the median ns/task, so `perf stat` of the
//!   process counts one variant's futex calls and context switches.
//! * `POOL_SUBMIT_COST=1`: no criterion; the submitting thread's own cost per task, nothing
//!   consuming: 10^5 submissions into a queue of capacity 10^5 whose single worker is held by a
//!   latch task (so the workers neither pop nor park while the clock runs), for a crossbeam
//!   `bounded` channel `send` and for `ThreadPool::execute`; min and median of 21 rounds.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Condvar, Mutex};
use rstreams_benches::switches;
use rstreams_executor::{Scheduler, Task, ThreadPool};

const TASKS: usize = 1_000_000;
const WORKERS: usize = 2;
const CAPACITY: usize = 1024;

fn empty_task() -> Task {
    Box::new(|| {
        black_box(());
    })
}

/// Spins (yielding) until `done()`; the submitting thread is otherwise idle.
fn wait_until(done: impl Fn() -> bool) {
    let backoff = Backoff::new();
    while !done() {
        backoff.snooze();
    }
}

// ---------------------------------------------------------------------------------------------
// Baseline: one bounded crossbeam channel + N threads.

struct BaselinePool {
    tx: Option<crossbeam_channel::Sender<Task>>,
    completed: Arc<Vec<CachePadded<AtomicUsize>>>,
    threads: Vec<JoinHandle<()>>,
}

impl BaselinePool {
    fn new(workers: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<Task>(CAPACITY);
        let completed: Arc<Vec<CachePadded<AtomicUsize>>> = Arc::new(
            (0..workers)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        );
        let threads = (0..workers)
            .map(|i| {
                let rx = rx.clone();
                let completed = Arc::clone(&completed);
                thread::spawn(move || {
                    while let Ok(task) = rx.recv() {
                        task();
                        let c = &completed[i];
                        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Self {
            tx: Some(tx),
            completed,
            threads,
        }
    }

    fn execute(&self, task: Task) {
        self.tx.as_ref().unwrap().send(task).unwrap();
    }

    fn completed(&self) -> usize {
        self.completed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl Drop for BaselinePool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prototype: per-worker deques with stealing (crossbeam-deque), injector for external submits.

struct StealShared {
    injector: Injector<Task>,
    stealers: Vec<Stealer<Task>>,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    stop: AtomicBool,
    completed: Vec<CachePadded<AtomicUsize>>,
}

struct StealingPool {
    shared: Arc<StealShared>,
    threads: Vec<JoinHandle<()>>,
}

impl StealingPool {
    fn new(workers: usize) -> Self {
        let locals: Vec<Worker<Task>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let shared = Arc::new(StealShared {
            injector: Injector::new(),
            stealers: locals.iter().map(Worker::stealer).collect(),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
            completed: (0..workers)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
        });
        let threads = locals
            .into_iter()
            .enumerate()
            .map(|(i, local)| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || steal_worker(&shared, &local, i))
            })
            .collect();
        Self { shared, threads }
    }

    fn execute(&self, task: Task) {
        // Same bound as the others: wait while the injector holds CAPACITY tasks.
        if self.shared.injector.len() >= CAPACITY {
            let backoff = Backoff::new();
            while self.shared.injector.len() >= CAPACITY {
                backoff.snooze();
            }
        }
        self.shared.injector.push(task);
        // Same lost-wakeup protocol as the executor: RMW after the push, lock only if sleeping.
        if self.shared.sleepers.fetch_add(0, Ordering::AcqRel) != 0 {
            let _g = self.shared.lock.lock();
            self.shared.cv.notify_one();
        }
    }

    fn completed(&self) -> usize {
        self.shared
            .completed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }
}

fn find_task(shared: &StealShared, local: &Worker<Task>) -> Option<Task> {
    local.pop().or_else(|| {
        std::iter::repeat_with(|| {
            shared
                .injector
                .steal_batch_and_pop(local)
                .or_else(|| shared.stealers.iter().map(Stealer::steal).collect())
        })
        .find(|s| !s.is_retry())
        .and_then(Steal::success)
    })
}

fn steal_worker(shared: &StealShared, local: &Worker<Task>, index: usize) {
    loop {
        let backoff = Backoff::new();
        let task = loop {
            if let Some(task) = find_task(shared, local) {
                break Some(task);
            }
            if backoff.is_completed() {
                break None;
            }
            backoff.snooze();
        };
        match task {
            Some(task) => {
                task();
                let c = &shared.completed[index];
                c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let mut guard = shared.lock.lock();
                shared.sleepers.fetch_add(1, Ordering::AcqRel);
                if shared.injector.is_empty() && !shared.stop.load(Ordering::Acquire) {
                    shared.cv.wait(&mut guard);
                }
                shared.sleepers.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

impl Drop for StealingPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _g = self.shared.lock.lock();
            self.shared.cv.notify_all();
        }
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn run_batches(iters: u64, mut batch: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        batch();
    }
    start.elapsed()
}

fn tasks(c: &mut Criterion) {
    let mut group = c.benchmark_group("executor/tasks_1e6");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TASKS as u64));

    group.bench_function("baseline_channel_pool", |b| {
        let pool = BaselinePool::new(WORKERS);
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = pool.completed() + TASKS;
                for _ in 0..TASKS {
                    pool.execute(empty_task());
                }
                wait_until(|| pool.completed() >= target);
            })
        });
    });

    group.bench_function("stealing_prototype", |b| {
        let pool = StealingPool::new(WORKERS);
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = pool.completed() + TASKS;
                for _ in 0..TASKS {
                    pool.execute(empty_task());
                }
                wait_until(|| pool.completed() >= target);
            })
        });
    });

    group.bench_function("thread_pool", |b| {
        let pool = ThreadPool::builder()
            .workers(WORKERS)
            .queue_capacity(CAPACITY)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = pool.stats().completed + TASKS;
                for _ in 0..TASKS {
                    pool.execute(empty_task()).unwrap();
                }
                wait_until(|| pool.stats().completed >= target);
            })
        });
    });
    group.finish();
}

fn lanes(c: &mut Criterion) {
    let mut group = c.benchmark_group("executor/lane_1e6");
    group.sample_size(10);
    group.throughput(Throughput::Elements(TASKS as u64));

    group.bench_function("baseline_channel_pool", |b| {
        let pool = BaselinePool::new(WORKERS);
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = pool.completed() + TASKS;
                for _ in 0..TASKS {
                    pool.execute(empty_task());
                }
                wait_until(|| pool.completed() >= target);
            })
        });
    });

    group.bench_function("thread_pool", |b| {
        let pool = ThreadPool::builder()
            .workers(WORKERS)
            .queue_capacity(CAPACITY)
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = pool.stats().completed + TASKS;
                for _ in 0..TASKS {
                    pool.execute(empty_task()).unwrap();
                }
                wait_until(|| pool.stats().completed >= target);
            })
        });
    });

    group.bench_function("one_lane", |b| {
        let pool = ThreadPool::builder()
            .workers(WORKERS)
            .queue_capacity(CAPACITY)
            .build()
            .unwrap();
        let lane = pool.lane();
        b.iter_custom(|iters| {
            run_batches(iters, || {
                let target = lane.stats().completed + TASKS;
                for _ in 0..TASKS {
                    lane.execute(empty_task()).unwrap();
                }
                wait_until(|| lane.stats().completed >= target);
            })
        });
    });
    group.finish();
}

/// One round of 10^6 tasks: (ns per task, voluntary and involuntary switches per 10^6 tasks).
fn measured_round(submit: &dyn Fn(), completed: &dyn Fn() -> usize) -> (f64, u64, u64) {
    let target = completed() + TASKS;
    let (v0, i0) = switches();
    let start = Instant::now();
    for _ in 0..TASKS {
        submit();
    }
    wait_until(|| completed() >= target);
    let elapsed = start.elapsed();
    let (v1, i1) = switches();
    (elapsed.as_nanos() as f64 / TASKS as f64, v1 - v0, i1 - i0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn print_switches() {
    const ROUNDS: usize = 5;
    let baseline = BaselinePool::new(WORKERS);
    let pool = ThreadPool::builder()
        .workers(WORKERS)
        .queue_capacity(CAPACITY)
        .build()
        .unwrap();
    let base_submit = || baseline.execute(empty_task());
    let base_done = || baseline.completed();
    let pool_submit = || pool.execute(empty_task()).unwrap();
    let pool_done = || pool.stats().completed;
    // Warm-up round each, not counted.
    measured_round(&base_submit, &base_done);
    measured_round(&pool_submit, &pool_done);
    let mut rows: [(Vec<f64>, u64, u64); 2] = [(Vec::new(), 0, 0), (Vec::new(), 0, 0)];
    for _ in 0..ROUNDS {
        for (row, (submit, done)) in rows.iter_mut().zip([
            (&base_submit as &dyn Fn(), &base_done as &dyn Fn() -> usize),
            (&pool_submit, &pool_done),
        ]) {
            let (ns, vol, invol) = measured_round(submit, done);
            row.0.push(ns);
            row.1 += vol;
            row.2 += invol;
        }
    }
    println!(
        "variant | ns/task (median of {ROUNDS}) | voluntary / involuntary switches per 10^6 tasks"
    );
    for (name, (ns, vol, invol)) in ["baseline_channel_pool", "thread_pool"].iter().zip(rows) {
        println!(
            "{name} | {:.1} | {} / {}",
            median(ns),
            vol / ROUNDS as u64,
            invol / ROUNDS as u64
        );
    }
}

/// One variant alone (see the module docs).
fn run_variant(name: &str) {
    const ROUNDS: usize = 12;
    let mut ns = Vec::with_capacity(ROUNDS);
    match name {
        "baseline" => {
            let pool = BaselinePool::new(WORKERS);
            for _ in 0..ROUNDS {
                let submit = || pool.execute(empty_task());
                ns.push(measured_round(&submit, &|| pool.completed()).0);
            }
        }
        "thread_pool" => {
            let pool = ThreadPool::builder()
                .workers(WORKERS)
                .queue_capacity(CAPACITY)
                .build()
                .unwrap();
            for _ in 0..ROUNDS {
                let submit = || pool.execute(empty_task()).unwrap();
                ns.push(measured_round(&submit, &|| pool.stats().completed).0);
            }
        }
        other => panic!("POOL_VARIANT must be baseline or thread_pool, not {other}"),
    }
    println!("{name} | {:.1} ns/task (median of {ROUNDS})", median(ns));
}

/// The submitting thread alone (see the module docs): min and median ns per submission.
fn print_submit_cost() {
    const N: usize = 100_000;
    const ROUNDS: usize = 21;
    let mut channel = Vec::new();
    let mut pool_ns = Vec::new();
    for _ in 0..ROUNDS {
        let (tx, rx) = crossbeam_channel::bounded::<Task>(N);
        let start = Instant::now();
        for _ in 0..N {
            tx.send(empty_task()).unwrap();
        }
        channel.push(start.elapsed().as_nanos() as f64 / N as f64);
        drop(rx);

        let pool = ThreadPool::builder()
            .workers(1)
            .queue_capacity(N)
            .build()
            .unwrap();
        let (held_tx, held_rx) = crossbeam_channel::bounded::<()>(0);
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
        pool.spawn(move || {
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        })
        .unwrap();
        held_rx.recv().unwrap(); // the worker is inside the latch task: nothing pops
        let start = Instant::now();
        for _ in 0..N {
            pool.execute(empty_task()).unwrap();
        }
        pool_ns.push(start.elapsed().as_nanos() as f64 / N as f64);
        go_tx.send(()).unwrap();
        pool.shutdown();
    }
    let min = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
    println!("variant | min ns/submission | median ns/submission ({ROUNDS} rounds of {N})");
    println!(
        "channel send | {:.1} | {:.1}",
        min(&channel),
        median(channel.clone())
    );
    println!(
        "ThreadPool::execute | {:.1} | {:.1}",
        min(&pool_ns),
        median(pool_ns.clone())
    );
}

criterion_group!(benches, tasks, lanes);

fn main() {
    if std::env::var_os("POOL_SWITCHES").is_some() {
        print_switches();
        return;
    }
    if let Ok(name) = std::env::var("POOL_VARIANT") {
        run_variant(&name);
        return;
    }
    if std::env::var_os("POOL_SUBMIT_COST").is_some() {
        print_submit_cost();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
