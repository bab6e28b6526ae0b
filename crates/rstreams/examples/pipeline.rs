//! A sensor thread feeds an emitter; operators clean and average the readings; the main thread
//! consumes them through a bounded blocking iterator. The sensor is slowed by the emitter's
//! capacity, never buffered without bound.
//!
//! Run with `cargo run -p rstreams --example pipeline`.

use rstreams::prelude::*;

#[derive(Clone, Copy, Debug)]
struct Reading {
    #[allow(dead_code)] // shown in the Debug output only
    sensor: u32,
    millivolts: i64,
}

fn main() -> Result<(), rstreams::Error> {
    let (tx, readings) = rstreams::emitter::<Reading>(32);

    let sensor = std::thread::spawn(move || {
        for i in 0..10_000i64 {
            // Every 97th sample is a glitch (-1 mV) that the pipeline filters out.
            let millivolts = if i % 97 == 0 { -1 } else { 1_000 + i % 50 };
            if tx
                .send(Reading {
                    sensor: 7,
                    millivolts,
                })
                .is_err()
            {
                break; // the consumer went away: stop sampling
            }
        }
        // Dropping `tx` completes the stream.
    });

    let averages = readings
        .filter(|r| r.millivolts >= 0)
        .map(|r| r.millivolts as f64 / 1_000.0)
        .buffer(10)
        .map(|w| w.iter().sum::<f64>() / w.len() as f64);

    let mut count = 0;
    for avg in averages.blocking_iter_with(16) {
        let avg = avg?;
        assert!((1.0..1.05).contains(&avg), "average {avg} out of range");
        count += 1;
    }
    sensor.join().expect("sensor thread panicked");
    println!("{count} averages of 10 valid readings each");
    Ok(())
}
