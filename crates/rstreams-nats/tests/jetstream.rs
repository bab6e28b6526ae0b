//! The connector against a real nats-server (started by the fixture in `common`): exact counts
//! end to end, the errors that must not be hangs, and the fault tests (server restart, consumer
//! dropped, slow consumer, work queue).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use rstreams::overflow::OverflowPolicy;
use rstreams::prelude::*;
use rstreams_nats::async_nats::jetstream::stream::{Config as StreamConfig, RetentionPolicy};
use rstreams_nats::{
    AckMode, ConnectOptions, Connection, CoreMessage, CoreSubject, DecodeFailure, JetStreamSink,
    JetStreamSource, JsMessage, NatsError, Publish, RetryPolicy, SinkConfig, SourceConfig,
};

const WAIT: Duration = Duration::from_secs(20);

enum Event<T> {
    Next(T),
    Error(Error),
    Complete,
}

/// Records signals into a channel; requests `batch` at start and again each time `batch` items
/// were processed, taking `work` per item (the slow consumer).
struct Recorder<T> {
    tx: Sender<Event<T>>,
    batch: u64,
    work: Duration,
    seen: u64,
    sub: Option<Box<dyn Subscription>>,
    /// Cancel after this many items (the consumer dropped mid-stream).
    cancel_after: Option<u64>,
    /// Shared with the test: the demand outstanding right now (requested - received).
    outstanding: Arc<AtomicU64>,
}

fn recorder<T>(batch: u64) -> (Recorder<T>, Receiver<Event<T>>) {
    let (tx, rx) = unbounded();
    (
        Recorder {
            tx,
            batch,
            work: Duration::ZERO,
            seen: 0,
            sub: None,
            cancel_after: None,
            outstanding: Arc::new(AtomicU64::new(0)),
        },
        rx,
    )
}

impl<T> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        self.outstanding.fetch_add(self.batch, Ordering::SeqCst);
        s.request(self.batch);
        self.sub = Some(s);
    }
    fn on_next(&mut self, item: T) {
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        if !self.work.is_zero() {
            std::thread::sleep(self.work); // simulated processing time, not synchronisation
        }
        let _ = self.tx.send(Event::Next(item));
        self.seen += 1;
        if Some(self.seen) == self.cancel_after {
            if let Some(s) = self.sub.take() {
                s.cancel();
            }
            return;
        }
        if self.seen.is_multiple_of(self.batch)
            && let Some(s) = &self.sub
        {
            self.outstanding.fetch_add(self.batch, Ordering::SeqCst);
            s.request(self.batch);
        }
    }
    fn on_error(&mut self, e: Error) {
        let _ = self.tx.send(Event::Error(e));
    }
    fn on_complete(&mut self) {
        let _ = self.tx.send(Event::Complete);
    }
}

fn connect(server: &common::NatsServer) -> Connection {
    ConnectOptions::new(server.url())
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(2))
        .reconnect_budget(Duration::from_secs(15))
        .connect()
        .expect("connects to the fixture's server")
}

fn stream(conn: &Connection, name: &str, subjects: &str) {
    conn.ensure_stream(StreamConfig {
        name: name.into(),
        subjects: vec![subjects.into()],
        ..Default::default()
    })
    .unwrap();
}

/// Publishes `ids` as decimal payloads through the sink (the code under test), with message ids.
fn produce(conn: &Connection, subject: &str, ids: std::ops::Range<u64>) {
    let n = ids.end - ids.start;
    let (sink, done) = JetStreamSink::new(conn, SinkConfig::new(subject).window(32));
    rstreams::range(ids.start, n)
        .map(|i| Publish::new(i.to_string()).msg_id(format!("id-{i}")))
        .subscribe(sink);
    let report = done.wait_timeout(WAIT).expect("sink done in time").unwrap();
    assert_eq!(report.acked, n);
}

fn decode(b: &bytes::Bytes) -> Result<u64, String> {
    std::str::from_utf8(b)
        .map_err(|e| e.to_string())?
        .parse::<u64>()
        .map_err(|e| e.to_string())
}

fn next<T>(rx: &Receiver<Event<T>>) -> Event<T> {
    rx.recv_timeout(WAIT).expect("a signal within the wait")
}

#[test]
fn end_to_end_exact_counts() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "E2E", "e2e.>");
    produce(&conn, "e2e.items", 0..1000);
    // Publishing the same ids again stores nothing new (message-id de-duplication).
    let (sink, done) = JetStreamSink::new(&conn, SinkConfig::new("e2e.items").window(8));
    rstreams::range(0, 10)
        .map(|i| Publish::new(i.to_string()).msg_id(format!("id-{i}")))
        .subscribe(sink);
    let report = done.wait_timeout(WAIT).unwrap().unwrap();
    assert_eq!((report.acked, report.duplicates), (10, 10));

    let source = JetStreamSource::new(&conn, SourceConfig::ephemeral("E2E").until_caught_up(true))
        .decode(decode);
    let (rec, rx) = recorder::<JsMessage<u64>>(64);
    source.subscribe(rec);
    let mut got = Vec::new();
    loop {
        match next(&rx) {
            Event::Next(m) => {
                assert_eq!(m.subject(), "e2e.items");
                assert_eq!(m.delivery_count(), 1);
                got.push(*m.payload());
            }
            Event::Complete => break,
            Event::Error(e) => panic!("unexpected error: {e}"),
        }
    }
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        (got.len(), sorted.len()),
        (1000, 1000),
        "every item exactly once"
    );
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
}

#[test]
fn sink_cancelled_through_its_handle_stops_the_producer() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "CANCEL", "cancel.>");
    const WINDOW: u64 = 8;
    let produced = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&produced);
    let (sink, done) = JetStreamSink::new(
        &conn,
        SinkConfig::new("cancel.items").window(WINDOW as usize),
    );
    rstreams::range(0, 1_000_000)
        .map(move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            i.to_string()
        })
        .subscribe(sink);
    let deadline = Instant::now() + WAIT;
    while done.acked() < 50 {
        assert!(
            Instant::now() < deadline,
            "the sink acked 50 publishes in time"
        );
        std::thread::sleep(Duration::from_millis(1)); // a bounded poll, not a synchronisation
    }
    done.cancel();
    let err = done
        .wait_timeout(WAIT)
        .expect("the handle resolves once the publishes in flight settled")
        .expect_err("a cancelled sink is not a completed one");
    assert!(err.to_string().contains("cancelled"), "{err}");
    // Everything the sink took was published and acked before the handle resolved; the
    // sink asked for nothing after the cancel, so the upstream produced at most the window
    // beyond what was acked.
    let acked = done.acked();
    let produced = produced.load(Ordering::SeqCst);
    assert!(
        produced <= acked + WINDOW,
        "produced {produced}, acked {acked}: the sink kept requesting after cancel"
    );
    let js = conn.jetstream();
    let stored = conn.block_on(async move {
        js.get_stream("CANCEL")
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .messages
    });
    assert_eq!(
        stored, acked,
        "the stream holds exactly what the sink acked"
    );
    // A cancel after the end changes nothing.
    done.cancel();
    assert_eq!(done.acked(), acked);
}

/// An upstream subscription that records every request, flagging those made after the test
/// marked the subscription ended (the sink saw its terminal signal).
#[derive(Default)]
struct Upstream {
    requested: AtomicU64,
    ended: AtomicBool,
    late: AtomicU64,
    cancels: AtomicU64,
}

struct UpstreamSub(Arc<Upstream>);

impl Subscription for UpstreamSub {
    fn request(&self, n: u64) {
        if self.0.ended.load(Ordering::SeqCst) {
            self.0.late.fetch_add(1, Ordering::SeqCst);
        }
        self.0.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.0.cancels.fetch_add(1, Ordering::SeqCst);
    }
}

/// PubAcks that land after `on_complete` must not turn into requests (rules 2.3, 2.4): the
/// TCK's rule 2.4 test lets acks settle before it completes, so this drives the sink by hand
/// with every publish still unacknowledged when `on_complete` arrives.
#[test]
fn sink_requests_nothing_after_on_complete_while_acks_land() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "LATE", "late.>");
    const WINDOW: u64 = 8;
    let up = Arc::new(Upstream::default());
    let (mut sink, done) =
        JetStreamSink::new(&conn, SinkConfig::new("late.items").window(WINDOW as usize));
    Subscriber::<String>::on_subscribe(&mut sink, Box::new(UpstreamSub(Arc::clone(&up))));
    let deadline = Instant::now() + WAIT;
    while up.requested.load(Ordering::SeqCst) < WINDOW {
        assert!(
            Instant::now() < deadline,
            "the sink requested its window in time"
        );
        std::thread::sleep(Duration::from_millis(1)); // a bounded poll, not a synchronisation
    }
    for i in 0..WINDOW {
        sink.on_next(i.to_string());
    }
    sink.on_complete();
    up.ended.store(true, Ordering::SeqCst);
    let report = done.wait_timeout(WAIT).expect("done in time").unwrap();
    assert_eq!(report.acked, WINDOW);
    assert_eq!(
        up.late.load(Ordering::SeqCst),
        0,
        "requests after on_complete"
    );
    assert_eq!(
        up.cancels.load(Ordering::SeqCst),
        0,
        "cancel after on_complete"
    );
}

#[test]
fn no_server_is_an_error_within_the_connect_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = ConnectOptions::new(format!("nats://127.0.0.1:{port}"))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .expect_err("nothing listens there");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let nats = err.downcast_ref::<NatsError>().expect("a NatsError");
    assert!(
        matches!(nats, NatsError::Connect { url, .. } if url.contains(&port.to_string())),
        "{nats}"
    );
}

#[test]
fn missing_stream_and_consumer_are_named() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    let (rec, rx) = recorder::<JsMessage>(4);
    JetStreamSource::new(&conn, SourceConfig::ephemeral("NO_SUCH_STREAM")).subscribe(rec);
    match next(&rx) {
        Event::Error(e) => assert_eq!(
            e.downcast_ref::<NatsError>(),
            Some(&NatsError::StreamNotFound {
                stream: "NO_SUCH_STREAM".into()
            })
        ),
        _ => panic!("expected on_error"),
    }
    stream(&conn, "HAS", "has.>");
    let (rec, rx) = recorder::<JsMessage>(4);
    JetStreamSource::new(&conn, SourceConfig::bind("HAS", "nobody")).subscribe(rec);
    match next(&rx) {
        Event::Error(e) => {
            assert_eq!(
                e.downcast_ref::<NatsError>(),
                Some(&NatsError::ConsumerNotFound {
                    stream: "HAS".into(),
                    consumer: "nobody".into()
                })
            );
            assert!(e.to_string().contains("nobody"), "{e}");
        }
        _ => panic!("expected on_error"),
    }
}

#[test]
fn decode_failure_names_subject_and_sequence_or_is_skipped() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "DEC", "dec.>");
    let (sink, done) = JetStreamSink::new(&conn, SinkConfig::new("dec.x"));
    rstreams::from_iter(vec!["1", "2", "oops", "4"]).subscribe(sink);
    done.wait_timeout(WAIT).unwrap().unwrap();

    let fail = JetStreamSource::new(&conn, SourceConfig::ephemeral("DEC").until_caught_up(true))
        .decode(decode);
    let (rec, rx) = recorder(16);
    fail.subscribe(rec);
    let mut got = vec![];
    let err = loop {
        match next(&rx) {
            Event::Next(m) => got.push(*m.payload()),
            Event::Error(e) => break e,
            Event::Complete => panic!("should fail"),
        }
    };
    assert_eq!(got, vec![1, 2]);
    match err.downcast_ref::<NatsError>() {
        Some(NatsError::Decode {
            subject, sequence, ..
        }) => {
            assert_eq!((subject.as_str(), *sequence), ("dec.x", 3));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }

    let skip = JetStreamSource::new(
        &conn,
        SourceConfig::ephemeral("DEC")
            .until_caught_up(true)
            .on_decode_failure(DecodeFailure::Skip),
    )
    .decode(decode);
    let (rec, rx) = recorder(16);
    skip.subscribe(rec);
    let mut got = vec![];
    loop {
        match next(&rx) {
            Event::Next(m) => got.push(*m.payload()),
            Event::Complete => break,
            Event::Error(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, vec![1, 2, 4]);
}

/// The server-side count of delivered-but-unacknowledged messages never exceeds the demand
/// (4), plus the prefetch (0), plus the one item whose `on_next` is running (its ack follows).
#[test]
fn slow_consumer_keeps_unacked_within_demand_plus_prefetch() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "SLOW", "slow.>");
    produce(&conn, "slow.x", 0..300);
    let demand = 4;
    let source = JetStreamSource::new(&conn, SourceConfig::durable("SLOW", "slow").prefetch(0));
    let (mut rec, rx) = recorder::<JsMessage>(demand);
    rec.work = Duration::from_millis(3);
    source.subscribe(rec);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (conn, stop) = (conn.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut max, mut samples) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                if let Ok(s) = conn.consumer_stats("SLOW", "slow") {
                    max = max.max(s.num_ack_pending);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(5)); // sampling period
            }
            (max, samples)
        })
    };
    for _ in 0..150 {
        assert!(matches!(next(&rx), Event::Next(_)));
    }
    stop.store(true, Ordering::SeqCst);
    let (max, samples) = sampler.join().unwrap();
    eprintln!(
        "slow consumer: demand {demand}, prefetch 0, max num_ack_pending {max} over {samples} samples"
    );
    assert!(samples >= 10, "too few samples: {samples}");
    assert!(
        max <= demand + 1,
        "num_ack_pending reached {max} with demand {demand}"
    );
    // Nothing was fetched ahead: the server still holds the rest. The subscriber keeps going
    // while the stats are read, so count what it received by then (counted after the read, so
    // never less than what the server had delivered to it).
    let stats = conn.consumer_stats("SLOW", "slow").unwrap();
    let received = 150 + rx.try_iter().count() as u64;
    assert!(
        stats.num_pending >= 300u64.saturating_sub(received + demand + 1),
        "received {received}: {stats:?}"
    );
}

#[test]
fn consumer_dropped_mid_stream_gets_its_messages_redelivered_to_the_next() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "RED", "red.>");
    produce(&conn, "red.x", 0..40);
    let cfg = SourceConfig::durable("RED", "shared")
        .ack_wait(Duration::from_millis(800))
        .fetch_expiry(Duration::from_millis(300));
    // The first subscriber acks by hand and never does; it cancels after 10 items.
    let first = JetStreamSource::new(&conn, cfg.clone().ack(AckMode::Manual)).decode(decode);
    let (mut rec, rx) = recorder::<JsMessage<u64>>(16);
    rec.cancel_after = Some(10);
    first.subscribe(rec);
    let mut unacked = BTreeSet::new();
    for _ in 0..10 {
        match next(&rx) {
            Event::Next(m) => {
                unacked.insert(*m.payload());
            } // its AckHandle is dropped unresolved
            _ => panic!("expected items"),
        }
    }
    // The next subscriber (acking after on_next) gets everything, the 10 as redeliveries.
    let second = JetStreamSource::new(&conn, cfg).decode(decode);
    let (rec, rx) = recorder::<JsMessage<u64>>(16);
    second.subscribe(rec);
    let mut seen = BTreeSet::new();
    let mut redelivered = BTreeSet::new();
    while seen.len() < 40 {
        match next(&rx) {
            Event::Next(m) => {
                if m.is_redelivered() {
                    redelivered.insert(*m.payload());
                }
                seen.insert(*m.payload());
            }
            _ => panic!("expected items"),
        }
    }
    assert_eq!(seen, (0..40).collect());
    assert!(
        unacked.is_subset(&redelivered),
        "{unacked:?} not all redelivered: {redelivered:?}"
    );
    eprintln!(
        "consumer dropped: {} unacked, {} redelivered to the next",
        unacked.len(),
        redelivered.len()
    );
}

#[test]
fn two_work_queue_consumers_share_the_load_without_double_processing() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    conn.ensure_stream(StreamConfig {
        name: "WQ".into(),
        subjects: vec!["wq.>".into()],
        retention: RetentionPolicy::WorkQueue,
        ..Default::default()
    })
    .unwrap();
    produce(&conn, "wq.jobs", 0..400);
    let conns = [connect(&server), connect(&server)];
    let mut rxs = Vec::new();
    for c in &conns {
        let src = JetStreamSource::new(c, SourceConfig::durable("WQ", "workers").max_batch(8))
            .decode(decode);
        let (mut rec, rx) = recorder::<JsMessage<u64>>(8);
        rec.work = Duration::from_micros(200);
        src.subscribe(rec);
        rxs.push(rx);
    }
    let mut by: [Vec<u64>; 2] = [vec![], vec![]];
    let deadline = Instant::now() + WAIT;
    while by[0].len() + by[1].len() < 400 && Instant::now() < deadline {
        for (i, rx) in rxs.iter().enumerate() {
            while let Ok(Event::Next(m)) = rx.recv_timeout(Duration::from_millis(5)) {
                assert_eq!(
                    m.delivery_count(),
                    1,
                    "nothing redelivered when all is acked"
                );
                by[i].push(*m.payload());
            }
        }
    }
    let a: BTreeSet<u64> = by[0].iter().copied().collect();
    let b: BTreeSet<u64> = by[1].iter().copied().collect();
    assert_eq!(a.len() + b.len(), 400, "each job once");
    assert!(a.is_disjoint(&b), "a job processed by both");
    assert_eq!(a.union(&b).count(), 400);
    assert!(
        !a.is_empty() && !b.is_empty(),
        "load shared: {} / {}",
        a.len(),
        b.len()
    );
    eprintln!("work queue: {} / {}", a.len(), b.len());
}

/// Producer → sink → stream → source → consumer, at-least-once, while the server is killed and
/// restarted: every id arrives (duplicates counted, none lost).
#[test]
fn server_killed_and_restarted_mid_stream_loses_nothing() {
    let Some(mut server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "FT", "ft.>");
    let total = 600u64;
    // The producer: a slow-ish stream of ids through the sink, retried across the outage.
    let (sink, done) = JetStreamSink::new(
        &conn,
        SinkConfig::new("ft.x").window(16).retry(RetryPolicy {
            attempts: 60,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
        }),
    );
    let (tx, hot) = rstreams::emitter::<Publish>(64);
    hot.subscribe(sink);
    let producer = std::thread::spawn(move || {
        for i in 0..total {
            if tx
                .send(Publish::new(i.to_string()).msg_id(format!("ft-{i}")))
                .is_err()
            {
                return;
            }
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(20)); // pacing, so the outage hits mid-stream
            }
        }
    });
    let source = JetStreamSource::new(
        &conn,
        SourceConfig::durable("FT", "ft")
            .ack_wait(Duration::from_secs(2))
            .fetch_expiry(Duration::from_millis(300)),
    )
    .decode(decode);
    let (rec, rx) = recorder::<JsMessage<u64>>(32);
    source.subscribe(rec);
    let mut counts: HashMap<u64, u32> = HashMap::new();
    let mut restarted = false;
    let deadline = Instant::now() + Duration::from_secs(40);
    while (counts.len() as u64) < total {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} ids arrived",
            counts.len()
        );
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Next(m)) => *counts.entry(*m.payload()).or_default() += 1,
            Ok(Event::Error(e)) => panic!("source failed: {e}"),
            Ok(Event::Complete) => panic!("unexpected completion"),
            Err(_) => {}
        }
        if !restarted && counts.len() >= 150 {
            server.kill();
            std::thread::sleep(Duration::from_millis(300)); // the outage
            server.restart();
            restarted = true;
        }
    }
    producer.join().unwrap();
    assert!(restarted);
    let report = done
        .wait_timeout(WAIT)
        .expect("sink done")
        .expect("sink succeeded");
    assert_eq!(report.acked, total);
    let duplicates: u32 = counts.values().map(|c| c - 1).sum();
    assert!((0..total).all(|i| counts.contains_key(&i)), "lost ids");
    eprintln!(
        "restart: {total} ids, lost 0, delivered twice or more: {duplicates}, sink duplicates: {}",
        report.duplicates
    );
}

/// Requests only when the test says so.
struct Idle {
    tx: Sender<CoreMessage>,
    slot: Arc<parking_lot::Mutex<Option<Box<dyn Subscription>>>>,
}
impl Subscriber<CoreMessage> for Idle {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        *self.slot.lock() = Some(s);
    }
    fn on_next(&mut self, m: CoreMessage) {
        let _ = self.tx.send(m);
    }
    fn on_error(&mut self, e: Error) {
        panic!("{e}");
    }
    fn on_complete(&mut self) {}
}

#[test]
fn core_subject_overflow_policy_counts_every_drop() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    let subject = CoreSubject::new(&conn, "core.ticks", 10, OverflowPolicy::DropNewest).unwrap();
    let dropped = subject.drop_counter();
    let (tx, rx) = unbounded();
    let slot = Arc::new(parking_lot::Mutex::new(None));
    subject.subscribe(Idle {
        tx,
        slot: Arc::clone(&slot),
    });
    let client = conn.client();
    let total = 5000u64;
    conn.block_on(async move {
        client.flush().await.unwrap();
        for i in 0..total {
            client
                .publish("core.ticks", i.to_string().into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    // The subscriber has requested nothing: beyond what the policy (10) and the delivery hop
    // hold, every message is dropped and counted.
    let deadline = Instant::now() + WAIT;
    while dropped.get() == 0 {
        assert!(Instant::now() < deadline, "nothing dropped");
        std::thread::sleep(Duration::from_millis(5)); // polling a counter, bounded
    }
    slot.lock().as_ref().expect("subscribed").request(u64::MAX);
    let mut received = 0u64;
    while received + dropped.get() < total {
        rx.recv_timeout(WAIT)
            .expect("every message is received or counted as dropped");
        received += 1;
    }
    assert_eq!(received + dropped.get(), total);
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "no extra message"
    );
    eprintln!(
        "core subject: {} of {total} dropped by DropNewest(10), {received} delivered",
        dropped.get()
    );
}

#[test]
fn connection_lost_beyond_the_budget_is_an_error() {
    let Some(mut server) = common::server() else {
        return;
    };
    let conn = ConnectOptions::new(server.url())
        .request_timeout(Duration::from_millis(500))
        .reconnect_budget(Duration::from_millis(800))
        .connect()
        .unwrap();
    stream(&conn, "LOST", "lost.>");
    let source = JetStreamSource::new(
        &conn,
        SourceConfig::durable("LOST", "lost").fetch_expiry(Duration::from_millis(200)),
    );
    let (rec, rx) = recorder::<JsMessage>(4);
    source.subscribe(rec);
    // Once the source has set up its consumer, take the server away for good.
    wait_for_consumer(&conn, "LOST", "lost");
    server.kill();
    match next(&rx) {
        Event::Error(e) => match e.downcast_ref::<NatsError>() {
            Some(NatsError::ConnectionLost { budget, .. }) => {
                assert_eq!(*budget, Duration::from_millis(800))
            }
            other => panic!("expected ConnectionLost, got {other:?}"),
        },
        _ => panic!("expected on_error"),
    }
}

#[test]
fn deleted_consumer_is_an_error_not_a_hang() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "GONE", "gone.>");
    let source = JetStreamSource::new(
        &conn,
        SourceConfig::durable("GONE", "gone").fetch_expiry(Duration::from_millis(200)),
    );
    let (rec, rx) = recorder::<JsMessage>(4);
    source.subscribe(rec);
    wait_for_consumer(&conn, "GONE", "gone");
    let js = conn.jetstream();
    conn.block_on(async move {
        js.delete_consumer_from_stream("gone", "GONE")
            .await
            .map(|_| ())
    })
    .unwrap();
    match next(&rx) {
        Event::Error(e) => assert!(e.to_string().contains("GONE"), "{e}"),
        _ => panic!("expected on_error"),
    }
}

/// The source creates its consumer asynchronously: poll (bounded) until the server has it.
fn wait_for_consumer(conn: &Connection, stream: &str, consumer: &str) {
    let deadline = Instant::now() + WAIT;
    while conn.consumer_stats(stream, consumer).is_err() {
        assert!(
            Instant::now() < deadline,
            "consumer {consumer} never appeared"
        );
        std::thread::sleep(Duration::from_millis(10)); // polling the server, bounded
    }
}

/// Demand not met before a fetch expires carries over to the next fetch, and nothing beyond
/// the demand is ever fetched.
#[test]
fn unmet_demand_carries_over_expired_fetches_and_is_never_exceeded() {
    let Some(server) = common::server() else {
        return;
    };
    let conn = connect(&server);
    stream(&conn, "CARRY", "carry.>");
    let source = JetStreamSource::new(
        &conn,
        SourceConfig::durable("CARRY", "carry").fetch_expiry(Duration::from_millis(100)),
    )
    .decode(decode);
    // Requests 10 once (batch 10, never re-requested before 10 arrive).
    let (rec, rx) = recorder::<JsMessage<u64>>(10);
    source.subscribe(rec);
    produce(&conn, "carry.x", 0..3);
    for i in 0..3 {
        assert!(matches!(next(&rx), Event::Next(m) if *m.payload() == i));
    }
    // Several fetches expire while the stream is empty (this sleep lets time pass, it does not
    // synchronise anything).
    std::thread::sleep(Duration::from_millis(400));
    produce(&conn, "carry.x", 3..7);
    for i in 3..7 {
        assert!(matches!(next(&rx), Event::Next(m) if *m.payload() == i));
    }
    // 3 of the 10 requested are still outstanding; publish 5: exactly 3 more arrive...
    produce(&conn, "carry.x", 7..12);
    for i in 7..10 {
        assert!(matches!(next(&rx), Event::Next(m) if *m.payload() == i));
    }
    // ...then the recorder requests 10 again (batch done) and the remaining 2 arrive.
    for i in 10..12 {
        assert!(matches!(next(&rx), Event::Next(m) if *m.payload() == i));
    }
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    let stats = conn.consumer_stats("CARRY", "carry").unwrap();
    assert_eq!(stats.num_pending, 0, "{stats:?}");
}
