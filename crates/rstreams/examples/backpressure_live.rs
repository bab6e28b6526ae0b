//! Backpressure, live: a producer thread pushes into a bounded `emitter`, `publish_on(pool)`
//! hops to a pool, `flat_map` expands each item into a small inner stream (at most 4 inners at
//! once, 8 items of prefetch each), and a deliberately slow sink consumes. Once a second it
//! prints throughput, the producer's outstanding demand, and how many source items are in
//! flight between producer and sink (bounded by emitter capacity + prefetch + flat_map's
//! concurrency, however long it runs).
//!
//! `cargo run -p rstreams --release --example backpressure_live -- [seconds]` (default 5).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rstreams::executor::{Scheduler, ThreadPool};
use rstreams::prelude::*;

const EMITTER_CAPACITY: usize = 64;
const PREFETCH: usize = 256;
const INNERS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let pool: Arc<dyn Scheduler> = Arc::new(ThreadPool::builder().workers(2).build()?);

    let sent = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let asked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let (tx, rx) = rstreams::emitter::<u64>(EMITTER_CAPACITY);
    let producer_tx = tx.clone();
    let (s, st) = (Arc::clone(&sent), Arc::clone(&stop));
    let producer = std::thread::spawn(move || {
        let mut i = 0u64;
        // As fast as it can: `send` blocks whenever the pipeline has no room.
        while !st.load(Ordering::Relaxed) {
            if producer_tx.send(i).is_err() {
                break;
            }
            s.fetch_add(1, Ordering::Relaxed);
            i += 1;
        }
    });

    let a = Arc::clone(&asked);
    let d = Arc::clone(&delivered);
    let done = rx
        .do_on_request(move |n| {
            a.fetch_add(n.min(1 << 40), Ordering::Relaxed);
        })
        .publish_on_with(Arc::clone(&pool), PREFETCH)
        // Each source item becomes 2 items; an inner stream is "in flight" until drained.
        .flat_map_with(|x| rstreams::range(x * 2, 2), INNERS, 8)
        .subscribe_with(
            move |y: u64| {
                // A slow consumer: about 20 µs per item.
                let until = Instant::now() + Duration::from_micros(20);
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                // Count a source item as delivered once its second item arrives.
                if y % 2 == 1 {
                    d.fetch_add(1, Ordering::Relaxed);
                }
            },
            |e| eprintln!("stream failed: {e}"),
            || println!("stream completed"),
        );

    println!(
        "emitter capacity {EMITTER_CAPACITY}, publish_on prefetch {PREFETCH}, {INNERS} inners: \
         at most {} source items in flight",
        EMITTER_CAPACITY + PREFETCH + INNERS + 1
    );
    println!(
        "{:>4} {:>12} {:>10} {:>16} {:>10}",
        "s", "src items/s", "delivered", "demand at source", "in flight"
    );
    let mut last = 0;
    let mut max_in_flight = 0;
    for t in 1..=seconds {
        std::thread::sleep(Duration::from_secs(1));
        let del = delivered.load(Ordering::Relaxed);
        let in_flight = sent.load(Ordering::Relaxed).saturating_sub(del);
        max_in_flight = max_in_flight.max(in_flight);
        println!(
            "{t:>4} {:>12} {del:>10} {:>16} {in_flight:>10}",
            del - last,
            tx.requested(),
        );
        last = del;
    }
    stop.store(true, Ordering::Relaxed);
    done.cancel();
    drop(tx);
    producer.join().expect("producer thread");
    println!(
        "upstream asked for {} items in total; max in flight seen {max_in_flight}",
        asked.load(Ordering::Relaxed)
    );
    Ok(())
}
