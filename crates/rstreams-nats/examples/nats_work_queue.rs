//! Scale-out over NATS JetStream: one producer process, N worker processes sharing a durable
//! consumer, and a slow worker throttling the producer through the broker.
//!
//! ```text
//! nats-server -js -sd /tmp/nats-store &                    # a JetStream server
//! cargo run -p rstreams-nats --example nats_work_queue -- worker --delay-ms 20 &
//! cargo run -p rstreams-nats --example nats_work_queue -- worker --delay-ms 20 &
//! cargo run -p rstreams-nats --example nats_work_queue -- producer --jobs 500
//! ```
//!
//! The stream `JOBS` is a work queue holding at most `--capacity` (default 50) jobs and refusing
//! more (`DiscardPolicy::New`). The producer's sink keeps a window of 16 publishes awaiting
//! their PubAck and retries refused ones, so once the queue is full the producer runs exactly as
//! fast as the workers acknowledge jobs: `request(n)` reaches across three processes. Workers
//! fetch only what they asked for (demand 4) and acknowledge after processing, so a worker
//! killed mid-job loses nothing: its unacknowledged jobs go to the others after the ack wait.
//!
//! Options: `--url nats://127.0.0.1:4222` (or `NATS_URL`), `--jobs N`, `--delay-ms N`,
//! `--capacity N`.

use std::time::{Duration, Instant};

use rstreams::prelude::*;
use rstreams_nats::async_nats::jetstream::stream::{
    Config as StreamConfig, DiscardPolicy, RetentionPolicy,
};
use rstreams_nats::{
    AckMode, ConnectOptions, Connection, JetStreamSink, JetStreamSource, Publish, RetryPolicy,
    SinkConfig, SourceConfig,
};

struct Args {
    role: String,
    url: String,
    jobs: u64,
    delay: Duration,
    capacity: i64,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let role = it
        .next()
        .ok_or("usage: nats_work_queue producer|worker [options]")?;
    let mut a = Args {
        role,
        url: std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        jobs: 500,
        delay: Duration::from_millis(20),
        capacity: 50,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => a.url = value.clone(),
            "--jobs" => a.jobs = num()?,
            "--delay-ms" => a.delay = Duration::from_millis(num()?),
            "--capacity" => a.capacity = num()? as i64,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

fn ensure_jobs_stream(conn: &Connection, capacity: i64) -> Result<(), rstreams_nats::Error> {
    conn.ensure_stream(StreamConfig {
        name: "JOBS".into(),
        subjects: vec!["jobs.>".into()],
        retention: RetentionPolicy::WorkQueue,
        max_messages: capacity,
        discard: DiscardPolicy::New,
        ..Default::default()
    })
}

fn producer(conn: &Connection, a: &Args) -> Result<(), rstreams_nats::Error> {
    // Refused publishes (queue full) are retried with a capped back-off for as long as it takes:
    // that retry loop, inside a window of 16, is what throttles the producer.
    let (sink, done) = JetStreamSink::new(
        conn,
        SinkConfig::new("jobs.new").window(16).retry(RetryPolicy {
            attempts: u32::MAX,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        }),
    );
    let (tx, jobs) = rstreams::emitter::<Publish>(16);
    jobs.subscribe(sink);
    let start = Instant::now();
    let (mut last, mut sent_at_last) = (Instant::now(), 0u64);
    for i in 0..a.jobs {
        // Blocks while the sink has no demand: the broker's pace, felt here.
        tx.send(Publish::new(format!("job {i}")).msg_id(format!("job-{i}")))
            .map_err(|_| rstreams_nats::Error::msg("the sink stopped"))?;
        if last.elapsed() >= Duration::from_secs(1) || i + 1 == a.jobs {
            let rate = (i + 1 - sent_at_last) as f64 / last.elapsed().as_secs_f64();
            println!(
                "producer: {:>5} jobs sent, {rate:>7.1} jobs/s just now",
                i + 1
            );
            (last, sent_at_last) = (Instant::now(), i + 1);
        }
    }
    drop(tx); // completes the stream
    let report = done.wait()?;
    println!(
        "producer: done, {} jobs acknowledged by the stream in {:.1?}",
        report.acked,
        start.elapsed()
    );
    Ok(())
}

fn worker(conn: &Connection, a: &Args) -> Result<(), rstreams_nats::Error> {
    let source = JetStreamSource::new(
        conn,
        // Manual acks: the iterator hands jobs over before they are processed, so the job is
        // acknowledged below, after the work, not when it enters the iterator.
        SourceConfig::durable("JOBS", "workers")
            .ack(AckMode::Manual)
            .ack_wait(Duration::from_secs(10)),
    );
    let id = std::process::id();
    let start = Instant::now();
    // Demand 4: this worker never holds more than 4 unacknowledged jobs.
    for (n, job) in source.blocking_iter_with(4).enumerate() {
        let mut job = job?;
        std::thread::sleep(a.delay); // the work
        if let Some(ack) = job.take_ack() {
            ack.ack();
        }
        if n % 25 == 0 {
            println!(
                "worker {id}: {:>5} jobs done ({:.1} jobs/s), last: {} (seq {}, delivery {})",
                n + 1,
                (n + 1) as f64 / start.elapsed().as_secs_f64(),
                String::from_utf8_lossy(job.payload()),
                job.stream_sequence(),
                job.delivery_count()
            );
        }
    }
    Ok(())
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let run = || -> Result<(), rstreams_nats::Error> {
        let conn = ConnectOptions::new(a.url.clone())
            .name(format!("nats_work_queue {}", a.role))
            .connect()?;
        ensure_jobs_stream(&conn, a.capacity)?;
        match a.role.as_str() {
            "producer" => producer(&conn, &a),
            "worker" => worker(&conn, &a),
            other => Err(rstreams_nats::Error::msg(format!(
                "unknown role `{other}` (producer|worker)"
            ))),
        }
    };
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
