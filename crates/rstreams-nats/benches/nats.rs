//! End-to-end throughput through a real nats-server (JetStream, file storage on a temporary
//! directory): producer → stream → consumer, every message acknowledged, at 16 B and 1 KiB.
//!
//! `rstreams`: an rstreams `range` into a [`JetStreamSink`] (window 256) and a
//! [`JetStreamSource`] (fetches of up to 256, ack after `on_next`) into a counting subscriber
//! that keeps 256 requested. `async_nats_direct`: the same work with the async-nats client
//! alone on the same connector thread: publishes with up to 256 PubAcks outstanding, and a pull
//! consumer fetching batches of 256 and acking each message. The ratio of the two is the figure.
//!
//! Run: `cargo bench -p rstreams-nats --bench nats -- --warm-up-time 1 --measurement-time 3`
//! (needs `RSTREAMS_NATS_SERVER` or a `nats-server` on the PATH; `./scripts/test` installs one
//! into `.tools/`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use rstreams::prelude::*;
use rstreams_nats::async_nats::jetstream::{self, stream::Config as StreamConfig};
use rstreams_nats::{
    ConnectOptions, Connection, JetStreamSink, JetStreamSource, JsMessage, Publish, SinkConfig,
    SourceConfig,
};

const MESSAGES: u64 = 5_000;
const BATCH: usize = 256;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn fresh_stream(conn: &Connection) -> (String, String) {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (name, subject) = (format!("BENCH{id}"), format!("bench{id}.x"));
    conn.ensure_stream(StreamConfig {
        name: name.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .unwrap();
    (name, subject)
}

fn drop_stream(conn: &Connection, name: String) {
    let js = conn.jetstream();
    conn.block_on(async move {
        let _ = js.delete_stream(name).await;
    });
}

/// Counts items, keeping `BATCH` requested (re-requesting half a batch at a time).
struct Count {
    sub: Option<Box<dyn Subscription>>,
    seen: u64,
    done: crossbeam_channel::Sender<()>,
}

impl Subscriber<JsMessage> for Count {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(BATCH as u64);
        self.sub = Some(s);
    }
    fn on_next(&mut self, _: JsMessage) {
        self.seen += 1;
        if self.seen == MESSAGES {
            if let Some(s) = self.sub.take() {
                s.cancel();
            }
            let _ = self.done.send(());
        } else if self.seen.is_multiple_of(BATCH as u64 / 2)
            && let Some(s) = &self.sub
        {
            s.request(BATCH as u64 / 2);
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("bench source failed: {e}");
    }
    fn on_complete(&mut self) {}
}

fn run_rstreams(conn: &Connection, name: &str, subject: &str, payload: &bytes::Bytes) {
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    JetStreamSource::new(conn, SourceConfig::ephemeral(name).max_batch(BATCH)).subscribe(Count {
        sub: None,
        seen: 0,
        done: done_tx,
    });
    let (sink, published) = JetStreamSink::new(conn, SinkConfig::new(subject).window(BATCH));
    let payload = payload.clone();
    rstreams::range(0, MESSAGES)
        .map(move |_| Publish::new(payload.clone()))
        .subscribe(sink);
    published
        .wait_timeout(Duration::from_secs(60))
        .expect("sink done")
        .unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("all consumed");
}

fn run_direct(conn: &Connection, name: &str, subject: &str, payload: &bytes::Bytes) {
    let js = conn.jetstream();
    let (name, subject, payload) = (name.to_owned(), subject.to_owned(), payload.clone());
    conn.block_on(async move {
        let stream = js.get_stream(&name).await.unwrap();
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await
            .unwrap();
        let producer = async {
            let mut window = VecDeque::with_capacity(BATCH);
            for _ in 0..MESSAGES {
                if window.len() == BATCH {
                    let ack: jetstream::context::PublishAckFuture = window.pop_front().unwrap();
                    ack.await.unwrap();
                }
                window.push_back(js.publish(subject.clone(), payload.clone()).await.unwrap());
            }
            for ack in window {
                ack.await.unwrap();
            }
        };
        let consumer = async {
            let mut seen = 0;
            while seen < MESSAGES {
                let mut batch = consumer
                    .batch()
                    // Never more than what is left: a fetch for more would wait out its expiry.
                    .max_messages(BATCH.min((MESSAGES - seen) as usize))
                    .expires(Duration::from_secs(2))
                    .messages()
                    .await
                    .unwrap();
                while let Some(m) = batch.next().await {
                    m.unwrap().ack().await.unwrap();
                    seen += 1;
                }
            }
        };
        futures_util::future::join(producer, consumer).await;
    });
}

fn bench(c: &mut Criterion) {
    let server = common::NatsServer::start().expect("a nats-server for the benchmark");
    let conn = ConnectOptions::new(server.url()).connect().unwrap();
    for size in [16usize, 1024] {
        let payload = bytes::Bytes::from(vec![b'x'; size]);
        let mut group = c.benchmark_group(format!("nats_e2e/{size}B"));
        group.throughput(Throughput::Elements(MESSAGES));
        group.sample_size(10);
        type Run = fn(&Connection, &str, &str, &bytes::Bytes);
        let runs: [(&str, Run); 2] = [
            ("async_nats_direct", run_direct),
            ("rstreams", run_rstreams),
        ];
        for (label, run) in runs {
            let conn = conn.clone();
            let payload = payload.clone();
            group.bench_function(label, move |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (name, subject) = fresh_stream(&conn);
                        let start = Instant::now();
                        run(&conn, &name, &subject, &payload);
                        total += start.elapsed();
                        drop_stream(&conn, name);
                    }
                    total
                })
            });
        }
        group.finish();
    }
    drop(Arc::new(server));
}

criterion_group!(benches, bench);
criterion_main!(benches);
