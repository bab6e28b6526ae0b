//! The TCK over the connector, against a real nats-server: PublisherVerification over the
//! JetStream source (each publisher a fresh ephemeral consumer on a stream prefilled with
//! exactly `n` messages, completing once caught up) and both subscriber suites (blackbox and
//! whitebox) over the JetStream sink. One server per suite; every test of the suite must pass
//! (skips only where the verification declares a limit).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use rstreams_nats::async_nats::jetstream::stream::Config as StreamConfig;
use rstreams_nats::{
    ConnectOptions, Connection, JetStreamSink, JetStreamSource, JsMessage, SinkConfig, SinkHandle,
    SourceConfig,
};
use rstreams_protocol::{BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::outcome::{Outcome, Settings, SuiteReport};
use rstreams_tck::publisher::PublisherVerification;
use rstreams_tck::subscriber::blackbox::{self, SubscriberBlackboxVerification};
use rstreams_tck::subscriber::whitebox::{self, SubscriberWhiteboxVerification};
use rstreams_tck::subscriber::{SubscriberPuppet, WhiteboxProbe};

/// Messages prefilled for the "endless" publisher (`u64::MAX`): it never completes, and the
/// tests that ask for an endless stream request fewer than this.
const ENDLESS_PREFILL: u64 = 512;

fn connect(server: &common::NatsServer) -> Connection {
    ConnectOptions::new(server.url())
        .request_timeout(Duration::from_secs(2))
        .connect()
        .expect("connects to the fixture's server")
}

fn decode(b: &bytes::Bytes) -> Result<u64, String> {
    std::str::from_utf8(b)
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())
}

struct SourceVerification {
    conn: Connection,
    next: AtomicU64,
}

impl SourceVerification {
    /// A fresh stream holding `0..n`, published with the client directly (the sink is tested
    /// on its own below).
    fn prefilled(&self, n: u64) -> String {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("TCK{id}");
        let subject = format!("tck{id}.items");
        self.conn
            .ensure_stream(StreamConfig {
                name: name.clone(),
                subjects: vec![subject.clone()],
                ..Default::default()
            })
            .unwrap();
        let js = self.conn.jetstream();
        self.conn.block_on(async move {
            // In chunks: the context caps PubAcks in flight (5000 by default), and a publish
            // waits for room.
            let mut acks = Vec::with_capacity(1000);
            for i in 0..n {
                acks.push(
                    js.publish(subject.clone(), i.to_string().into())
                        .await
                        .unwrap(),
                );
                if acks.len() == 1000 || i + 1 == n {
                    for a in acks.drain(..) {
                        a.await.unwrap();
                    }
                }
            }
        });
        name
    }
}

impl PublisherVerification for SourceVerification {
    type Item = JsMessage<u64>;
    type Pub = JetStreamSource<u64>;

    fn create_publisher(&self, elements: u64) -> Self::Pub {
        let endless = elements == u64::MAX;
        let stream = self.prefilled(if endless { ENDLESS_PREFILL } else { elements });
        JetStreamSource::new(
            &self.conn,
            SourceConfig::ephemeral(stream).until_caught_up(!endless),
        )
        .decode(decode)
    }

    fn create_failed_publisher(&self) -> Option<BoxPublisher<Self::Item>> {
        // A stream that does not exist: on_subscribe, then on_error naming it.
        Some(
            JetStreamSource::new(&self.conn, SourceConfig::ephemeral("NO_SUCH_STREAM"))
                .decode(decode)
                .boxed(),
        )
    }

    fn max_elements_from_publisher(&self) -> u64 {
        // Prefilling is a real publish per element; enough for every test but the 2^31 one.
        8192
    }
}

fn assert_all_pass(report: &SuiteReport) {
    let (passed, failed, skipped) = report.counts();
    for (name, rule, outcome) in &report.results {
        match outcome {
            Outcome::Failed { .. } => eprintln!("FAILED {name} ({rule:?}): {outcome:?}"),
            Outcome::Skipped { reason } => eprintln!("skipped {name}: {reason}"),
            _ => {}
        }
    }
    eprintln!(
        "{} / {}: {passed} passed, {failed} failed, {skipped} skipped",
        report.implementation, report.suite
    );
    assert!(report.failed().is_empty(), "failed: {:?}", report.failed());
}

#[test]
fn publisher_verification_over_the_jetstream_source() {
    let Some(server) = common::server() else {
        return;
    };
    let v = SourceVerification {
        conn: connect(&server),
        next: AtomicU64::new(0),
    };
    let report = rstreams_tck::publisher::run("JetStreamSource", &v, &Settings::from_env());
    assert_all_pass(&report);
}

struct SinkVerification {
    conn: Connection,
}

impl SubscriberBlackboxVerification for SinkVerification {
    type Item = String;
    type Subscriber = JetStreamSink<String>;
    fn create_subscriber(&self) -> Self::Subscriber {
        JetStreamSink::new(&self.conn, SinkConfig::new("sink.items").window(8)).0
    }
    fn create_element(&self, i: u64) -> String {
        i.to_string()
    }
    fn processes_asynchronously(&self) -> bool {
        // Publishes are handed to the connector thread; requests come from PubAcks there.
        true
    }
}

#[test]
fn subscriber_blackbox_verification_over_the_jetstream_sink() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    conn.ensure_stream(StreamConfig {
        name: "SINK".into(),
        subjects: vec!["sink.>".into()],
        ..Default::default()
    })
    .unwrap();
    let report = blackbox::run(
        "JetStreamSink",
        &SinkVerification { conn },
        &Settings::from_env(),
    );
    assert_all_pass(&report);
}

/// The whitebox puppet of a sink. The sink's demand is its own: it requests its window on
/// subscribe and one more per PubAck, so it always has `window - in flight` requested. Every
/// `trigger_request(n)` the suite makes is for items it then sends a few at a time, within
/// that window, so the sink has already asked for them; the suite's `expect_request` checks
/// that it really did. Cancelling is what a user does through the [`SinkHandle`].
struct SinkPuppet(SinkHandle);

impl SubscriberPuppet for SinkPuppet {
    fn trigger_request(&self, _n: u64) {}
    fn signal_cancel(&self) {
        self.0.cancel();
    }
}

/// The real sink, instrumented: the terminal signals are registered once the sink has taken
/// them (so the probe never says "terminal" while the sink may still request), and items are
/// registered where they really end up: as the broker delivers them on the sink's subject, to
/// a core subscription on the connector's thread (so rule 2.2's hand-off is checked too).
struct ProbedSink {
    sink: JetStreamSink<String>,
    handle: SinkHandle,
    probe: WhiteboxProbe<String>,
}

impl Subscriber<String> for ProbedSink {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        self.sink.on_subscribe(subscription);
        self.probe
            .register_on_subscribe(SinkPuppet(self.handle.clone()));
    }
    fn on_next(&mut self, item: String) {
        self.sink.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.sink.on_error(error.clone());
        self.probe.register_on_error(error);
    }
    fn on_complete(&mut self) {
        self.sink.on_complete();
        self.probe.register_on_complete();
    }
}

struct SinkWhitebox {
    conn: Connection,
    next: AtomicU64,
}

impl SubscriberWhiteboxVerification for SinkWhitebox {
    type Item = String;

    fn create_subscriber(
        &self,
        probe: WhiteboxProbe<String>,
    ) -> Box<dyn Subscriber<String> + Send> {
        // A subject of its own per sink (captured by the WBOX stream), watched before the sink
        // can publish: the subscription is flushed to the server first.
        let subject = format!("wbox.{}", self.next.fetch_add(1, Ordering::Relaxed));
        let client = self.conn.client();
        let watcher = probe.clone();
        let watched = subject.clone();
        self.conn.block_on(async move {
            let mut sub = client.subscribe(watched).await.unwrap();
            client.flush().await.unwrap();
            tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    match String::from_utf8(m.payload.to_vec()) {
                        Ok(item) => watcher.register_on_next(item),
                        Err(e) => panic!("the sink published a payload that is not the item: {e}"),
                    }
                }
            });
        });
        let (sink, handle) = JetStreamSink::new(&self.conn, SinkConfig::new(subject).window(8));
        Box::new(ProbedSink {
            sink,
            handle,
            probe,
        })
    }

    fn create_element(&self, i: u64) -> String {
        i.to_string()
    }

    fn processes_asynchronously(&self) -> bool {
        // Items are registered as the broker delivers them, on the connector's thread.
        true
    }
}

#[test]
fn subscriber_whitebox_verification_over_the_jetstream_sink() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    conn.ensure_stream(StreamConfig {
        name: "WBOX".into(),
        subjects: vec!["wbox.>".into()],
        ..Default::default()
    })
    .unwrap();
    let report = whitebox::run(
        "JetStreamSink",
        &SinkWhitebox {
            conn,
            next: AtomicU64::new(0),
        },
        &Settings::from_env(),
    );
    assert_all_pass(&report);
}
