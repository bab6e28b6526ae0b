//! Soak test (not run in CI): random pipelines, cancels and pool shutdowns for a while, then the
//! figures a long-running service cares about — did every stream end exactly once, and was
//! everything freed?
//!
//! ```text
//! cargo run --release -p rstreams --example soak -- --seconds 300 [--seed 7] [--streams 64]
//! ```
//!
//! Every `epoch` builds a fresh 2-worker pool, starts `--streams` random pipelines on it (sources,
//! then a random chain of map/filter/take, timeout, delay, retry, multicast/share, flat_map,
//! publish_on and on_backpressure_*), cancels some of them midway from the subscriber, and ends
//! the epoch in one of three ways: wait for every stream then shut down gracefully; shut down
//! gracefully while streams run; or `shutdown_now` while streams run. Each stream must then end
//! exactly once (a terminal signal, or the subscriber's own cancel), within a bounded wait.
//!
//! Printed at the end (the process exits non-zero if a stream was lost or ended twice, or a
//! tracked value leaked):
//! * streams run, terminal signals delivered, streams cancelled by their subscriber, streams that
//!   never ended (`missing`), streams that ended twice;
//! * leaks: tracked values (each pipeline's source and subscriber hold a drop token) still
//!   alive, live timer entries left in the pools at the end of each epoch, RSS drift between the
//!   end of the warm-up and the end of the run (`/proc/self/status`);
//! * shutdown calls that did not return within their bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::multicast::SlowConsumer;
use rstreams::overflow::OverflowPolicy;
use rstreams::prelude::*;
use rstreams::protocol::BoxPublisher;

/// How long an epoch waits for its streams to end (and a shutdown call to return).
const BOUND: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Stats {
    started: AtomicU64,
    terminals: AtomicU64,
    errors: AtomicU64,
    cancelled: AtomicU64,
    twice: AtomicU64,
    /// Tracked values alive: +1 made, -1 dropped.
    live: AtomicUsize,
}

impl Stats {
    fn ended(&self) -> u64 {
        self.terminals.load(Ordering::SeqCst) + self.cancelled.load(Ordering::SeqCst)
    }
}

/// A drop-counted value held by a pipeline's source closure and by its subscriber.
struct Token(Arc<Stats>);

impl Token {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.live.fetch_add(1, Ordering::SeqCst);
        Token(Arc::clone(stats))
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// xorshift64*: enough randomness for choosing pipelines, reproducible from `--seed`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Counts its signals; requests in batches from `on_next` (the replenishing pattern) and may
/// cancel after a few items.
struct Probe {
    stats: Arc<Stats>,
    _token: Token,
    sub: Option<Box<dyn Subscription>>,
    batch: u64,
    left: u64,
    cancel_after: Option<u64>,
    seen: u64,
    done: bool,
    /// Shared with the epoch's list, to name the streams that never ended.
    ended: Arc<std::sync::atomic::AtomicBool>,
}

impl Probe {
    fn end(&mut self) {
        if self.done {
            self.stats.twice.fetch_add(1, Ordering::SeqCst);
            return;
        }
        self.done = true;
        self.ended.store(true, Ordering::SeqCst);
        self.stats.terminals.fetch_add(1, Ordering::SeqCst);
        self.sub = None;
    }
}

impl Subscriber<u64> for Probe {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.left = self.batch;
        s.request(self.batch);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        self.seen += 1;
        if Some(self.seen) == self.cancel_after
            && let Some(s) = self.sub.take()
        {
            s.cancel();
            self.done = true;
            self.ended.store(true, Ordering::SeqCst);
            self.stats.cancelled.fetch_add(1, Ordering::SeqCst);
            return;
        }
        self.left -= 1;
        if self.left == 0
            && let Some(s) = &self.sub
        {
            self.left = self.batch;
            s.request(self.batch);
        }
    }
    fn on_error(&mut self, _: rstreams::Error) {
        self.stats.errors.fetch_add(1, Ordering::SeqCst);
        self.end();
    }
    fn on_complete(&mut self) {
        self.end();
    }
}

fn source(rng: &mut Rng, stats: &Arc<Stats>, desc: &mut String) -> BoxPublisher<u64> {
    let n = rng.below(2_000);
    let token = Arc::new(Token::new(stats));
    let kind = rng.below(5);
    desc.push_str(["range", "from_iter", "concat_map", "failing", "never"][kind as usize]);
    match kind {
        0 => rstreams::range(0, n)
            .map(move |x| {
                let _keep = &token;
                x
            })
            .boxed(),
        1 => rstreams::from_iter((0..n).collect::<Vec<_>>())
            .map(move |x| {
                let _keep = &token;
                x
            })
            .boxed(),
        2 => rstreams::range(0, n)
            .map(move |x| {
                let _keep = &token;
                x
            })
            .concat_map(|x| rstreams::range(x, 3), 4)
            .boxed(),
        3 => {
            // Fails halfway: something for `retry` to do.
            let fail_at = n / 2;
            rstreams::range(0, n)
                .map(move |x| {
                    let _keep = &token;
                    x
                })
                .flat_map_with(
                    move |x| {
                        if x == fail_at {
                            rstreams::error(rstreams::Error::msg("soak: planned failure")).boxed()
                        } else {
                            rstreams::just(x).boxed()
                        }
                    },
                    4,
                    8,
                )
                .boxed()
        }
        _ => rstreams::never::<u64>()
            .map(move |x| {
                let _keep = &token;
                x
            })
            .boxed(),
    }
}

fn pipeline(
    rng: &mut Rng,
    stats: &Arc<Stats>,
    pool: &Arc<ThreadPool>,
    desc: &mut String,
) -> BoxPublisher<u64> {
    let sched = || -> Arc<dyn Scheduler> { pool.clone() };
    let mut p = source(rng, stats, desc);
    // `never` streams get a timeout, so that every stream ends.
    let mut has_timeout = false;
    for _ in 0..rng.below(5) {
        let op = rng.below(11);
        desc.push('.');
        desc.push_str(
            [
                "map",
                "filter",
                "take",
                "timeout",
                "delay",
                "retry",
                "retry_backoff",
                "publish_on",
                "share",
                "on_backpressure_buffer",
                "flat_map",
            ][op as usize],
        );
        p = match op {
            0 => p.map(|x| x.wrapping_mul(3)).boxed(),
            1 => p.filter(|x| x % 3 != 0).boxed(),
            2 => p.take(rng.below(500) + 1).boxed(),
            3 => {
                has_timeout = true;
                p.timeout(Duration::from_millis(20 + rng.below(200)), sched())
                    .boxed()
            }
            4 => p
                .delay(Duration::from_micros(rng.below(500)), sched())
                .boxed(),
            5 => p.retry(rng.below(3)).boxed(),
            6 => p
                .retry_backoff(
                    2,
                    Duration::from_millis(1),
                    Duration::from_millis(5),
                    sched(),
                )
                .boxed(),
            7 => p
                .publish_on_with(sched(), 1 + rng.below(32) as usize)
                .boxed(),
            8 => p.share(1 + rng.below(64) as usize).boxed(),
            9 => p
                .on_backpressure_buffer(1 + rng.below(64) as usize, OverflowPolicy::DropOldest)
                .boxed(),
            _ => p
                .flat_map_with(|x| rstreams::range(x, 2), 1 + rng.below(4) as usize, 4)
                .boxed(),
        };
    }
    if !has_timeout {
        desc.push_str(".timeout");
        p = p.timeout(Duration::from_millis(500), sched()).boxed();
    }
    // A multicast in front of the probe now and then (its own hub per stream).
    if rng.chance(10) {
        desc.push_str(".multicast");
        let hub = p.multicast(16, SlowConsumer::Hold);
        return hub.boxed();
    }
    p
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// Runs `f` on a helper thread and waits at most `bound` for it; `false` if it did not return.
fn bounded(bound: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(bound).is_ok()
}

fn wait_ended(stats: &Stats, started: u64, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while stats.ended() < started {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let seconds = arg("--seconds", 60);
    let seed = arg("--seed", 0x5eed);
    let per_epoch = arg("--streams", 64);
    let mut rng = Rng(seed | 1);
    let stats = Arc::new(Stats::default());
    let run_for = Duration::from_secs(seconds);
    let began = Instant::now();
    let warm_up = run_for / 10;
    let mut rss_after_warm_up = None;
    let rss_start = rss_kib();
    let (mut epochs, mut hung_shutdowns, mut timer_entries_left) = (0u64, 0u64, 0usize);
    let (mut graceful, mut immediate, mut drained) = (0u64, 0u64, 0u64);

    while began.elapsed() < run_for {
        epochs += 1;
        let pool = Arc::new(
            ThreadPool::builder()
                .workers(2)
                .thread_name_prefix("soak")
                .build()
                .expect("pool"),
        );
        let mut streams = Vec::new();
        for _ in 0..per_epoch {
            let mut desc = String::new();
            let p = pipeline(&mut rng, &stats, &pool, &mut desc);
            let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
            streams.push((desc, Arc::clone(&ended)));
            let probe = Probe {
                stats: Arc::clone(&stats),
                _token: Token::new(&stats),
                sub: None,
                batch: 1 + rng.below(32),
                left: 0,
                cancel_after: rng.chance(15).then(|| 1 + rng.below(50)),
                seen: 0,
                done: false,
                ended,
            };
            stats.started.fetch_add(1, Ordering::SeqCst);
            p.subscribe(probe);
        }
        let started = stats.started.load(Ordering::SeqCst);
        let ending = rng.below(10);
        let ending_name = match ending {
            0..=5 => "drain+shutdown",
            6..=7 => "shutdown mid-flight",
            _ => "shutdown_now mid-flight",
        };
        let pool_for_shutdown = Arc::clone(&pool);
        let returned = match ending {
            // Mostly: let the streams end, then check the timer heap and shut down.
            0..=5 => {
                drained += 1;
                wait_ended(&stats, started, BOUND);
                timer_entries_left += pool.pending_timers();
                bounded(BOUND, move || pool_for_shutdown.shutdown())
            }
            6..=7 => {
                graceful += 1;
                std::thread::sleep(Duration::from_millis(rng.below(20)));
                bounded(BOUND, move || pool_for_shutdown.shutdown())
            }
            _ => {
                immediate += 1;
                std::thread::sleep(Duration::from_millis(rng.below(20)));
                bounded(BOUND, move || {
                    pool_for_shutdown.shutdown_now();
                })
            }
        };
        if !returned {
            hung_shutdowns += 1;
        }
        if !wait_ended(&stats, started, BOUND) {
            for (desc, ended) in &streams {
                if !ended.load(Ordering::SeqCst) {
                    eprintln!("epoch {epochs} ({ending_name}): stream never ended: {desc}");
                }
            }
        }
        drop(pool);
        if rss_after_warm_up.is_none() && began.elapsed() >= warm_up {
            rss_after_warm_up = rss_kib();
        }
    }
    // Streams still running keep their tokens: give them the bound once more, then count.
    wait_ended(&stats, stats.started.load(Ordering::SeqCst), BOUND);
    std::thread::sleep(Duration::from_millis(100));

    let started = stats.started.load(Ordering::SeqCst);
    let terminals = stats.terminals.load(Ordering::SeqCst);
    let cancelled = stats.cancelled.load(Ordering::SeqCst);
    let twice = stats.twice.load(Ordering::SeqCst);
    let missing = started.saturating_sub(terminals + cancelled);
    let live = stats.live.load(Ordering::SeqCst);
    let rss_end = rss_kib();
    let drift = match (rss_after_warm_up, rss_end) {
        (Some(a), Some(b)) => format!("{:+} KiB", b as i64 - a as i64),
        _ => "n/a".to_owned(),
    };
    println!("soak: {seconds} s, seed {seed}, {epochs} epochs of {per_epoch} streams");
    println!(
        "  epochs ended by: drain+shutdown {drained}, shutdown mid-flight {graceful}, shutdown_now mid-flight {immediate}"
    );
    println!("  streams run:                 {started}");
    println!(
        "  terminal signals delivered:  {terminals} ({} errors)",
        stats.errors.load(Ordering::SeqCst)
    );
    println!("  cancelled by subscriber:     {cancelled}");
    println!(
        "  terminal + cancelled:        {} (must equal streams run)",
        terminals + cancelled
    );
    println!("  missing (never ended):       {missing}");
    println!("  ended twice:                 {twice}");
    println!("  tracked values leaked:       {live}");
    println!("  timer entries left live after drained epochs: {timer_entries_left}");
    println!("  shutdown calls not returning within {BOUND:?}: {hung_shutdowns}");
    println!(
        "  RSS: start {} KiB, after warm-up {} KiB, end {} KiB, drift after warm-up {drift}",
        rss_start.unwrap_or(0),
        rss_after_warm_up.unwrap_or(0),
        rss_end.unwrap_or(0)
    );
    println!("  load average at the end: {}", load_average());
    if missing > 0 || twice > 0 || live > 0 {
        std::process::exit(1);
    }
}
