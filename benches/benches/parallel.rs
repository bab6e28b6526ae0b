//! Issue 16: the log-triage app (synthetic lines, parse on both cores in source order,
//! per-service error counts and latency percentiles over windows of 10^4 lines) written with
//! rstreams rails and, as the same-run baseline, with std threads and crossbeam bounded
//! channels the way a user would write it by hand. Both results are checked against the
//! sequential computation once before timing. Read the ratio from one run.
//!
//! `cargo bench -p rstreams-benches --bench parallel -- --warm-up-time 1 --measurement-time 3`

#[path = "../../crates/rstreams/examples/log_triage/domain.rs"]
mod domain;

use std::collections::BTreeMap;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use domain::{Record, WINDOW, WindowStats, line, parse, window_stats};
use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

/// Lines per run: a tenth of the example's 2·10^6, so a criterion run takes seconds.
const LINES: u64 = 200_000;

// ---- rstreams ----
fn rstreams_triage(pool: &Arc<dyn Scheduler>, lines: u64) -> Vec<WindowStats> {
    let windows = rstreams::range(0, lines)
        .map(line)
        .par_map_on(Arc::clone(pool), |l| parse(&l))
        .filter_map(|r| r)
        .buffer(WINDOW)
        .map(|w| window_stats(&w));
    windows
        .blocking_iter_with(4)
        .collect::<Result<_, _>>()
        .unwrap()
}
// ---- end rstreams ----

// ---- channels ----
fn channels_triage(lines: u64) -> Vec<WindowStats> {
    let (line_tx, line_rx) = crossbeam_channel::bounded::<(u64, String)>(1024);
    let (rec_tx, rec_rx) = crossbeam_channel::bounded::<(u64, Option<Record>)>(1024);
    let (win_tx, win_rx) = crossbeam_channel::bounded::<WindowStats>(4);
    let producer = std::thread::spawn(move || {
        for i in 0..lines {
            line_tx.send((i, line(i))).unwrap();
        }
    });
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (rx, tx) = (line_rx.clone(), rec_tx.clone());
            std::thread::spawn(move || {
                for (i, l) in rx {
                    tx.send((i, parse(&l))).unwrap();
                }
            })
        })
        .collect();
    drop(rec_tx);
    let collector = std::thread::spawn(move || {
        // Put the records back in source order (bounded by the channels' capacity), window them.
        let (mut pending, mut next, mut window) =
            (BTreeMap::new(), 0u64, Vec::with_capacity(WINDOW));
        for (i, r) in rec_rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&next) {
                next += 1;
                window.extend(r);
                if window.len() == WINDOW {
                    win_tx.send(window_stats(&window)).unwrap();
                    window.clear();
                }
            }
        }
        if !window.is_empty() {
            win_tx.send(window_stats(&window)).unwrap();
        }
    });
    let out: Vec<WindowStats> = win_rx.iter().collect();
    producer.join().unwrap();
    workers.into_iter().for_each(|w| w.join().unwrap());
    collector.join().unwrap();
    out
}
// ---- end channels ----

/// Diagnostic (`LOG_TRIAGE_ONLY=locality`): the rstreams app with each line tagged with the
/// thread that made it; returns how many lines were parsed on that same thread. A line freed
/// on another thread than the one that allocated it takes the allocator's lock shared with
/// that thread (glibc: the other thread's arena), which is where a quiet run loses its cores.
fn rstreams_locality(pool: &Arc<dyn Scheduler>, lines: u64) -> u64 {
    fn tid() -> std::thread::ThreadId {
        std::thread::current().id()
    }
    rstreams::range(0, lines)
        .map(|i| (tid(), line(i)))
        .par_map_on(Arc::clone(pool), |(t, l)| {
            (u64::from(t == tid()), parse(&l))
        })
        .reduce(|a, b| (a.0 + b.0, a.1))
        .blocking_first()
        .unwrap()
        .map_or(0, |(same, _)| same)
}

/// `LOG_TRIAGE_ONLY=rstreams|channels|sequential [LOG_TRIAGE_ITERS=n]`: run one variant `n` times (default
/// 20) and skip criterion, so `perf stat` can count each variant's CPU time and instructions
/// alone.
fn only(pool: &Arc<dyn Scheduler>) -> bool {
    let Ok(which) = std::env::var("LOG_TRIAGE_ONLY") else {
        return false;
    };
    let iters: u32 = std::env::var("LOG_TRIAGE_ITERS").map_or(20, |n| n.parse().unwrap());
    for _ in 0..iters {
        let out = match which.as_str() {
            "rstreams" => rstreams_triage(pool, LINES),
            "channels" => channels_triage(LINES),
            "sequential" => domain::sequential(LINES),
            "locality" => {
                let same = rstreams_locality(pool, LINES);
                eprintln!("lines parsed on the thread that made them: {same} of {LINES}");
                Vec::new()
            }
            other => panic!("LOG_TRIAGE_ONLY: rstreams, channels or sequential, not {other}"),
        };
        std::hint::black_box(out);
    }
    print_thread_cpu();
    true
}

/// Prints each live thread's CPU time (user + system, from `/proc`): with the threads of one
/// variant, the busiest one bounds its wall time on an idle machine, whatever the load now.
fn print_thread_cpu() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    let tick = 100.0; // USER_HZ on Linux
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised name: state is 3rd, utime 14th, stime 15th.
        let (name, rest) = stat.split_once(") ").unwrap_or(("", ""));
        let f: Vec<&str> = rest.split(' ').collect();
        let cpu = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
        let name = name.split_once('(').map_or("", |(_, n)| n);
        eprintln!("thread {name:<20} cpu {:8.0} ms", cpu / tick * 1000.0);
    }
}

fn log_triage(c: &mut Criterion) {
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build().unwrap());
    if only(&pool) {
        return;
    }
    let reference = domain::sequential(LINES);
    assert_eq!(rstreams_triage(&pool, LINES), reference);
    assert_eq!(channels_triage(LINES), reference);

    let mut g = c.benchmark_group("log_triage_200k");
    g.throughput(Throughput::Elements(LINES));
    g.sample_size(10);
    g.bench_function("rstreams_par_map", |b| {
        b.iter(|| rstreams_triage(&pool, LINES));
    });
    g.bench_function("baseline_threads_crossbeam", |b| {
        b.iter(|| channels_triage(LINES));
    });
    g.finish();
}

criterion_group!(benches, log_triage);
criterion_main!(benches);
