//! The JetStream sink: a [`Subscriber`] that publishes each item and requests the next only as
//! PubAcks come back, so the broker's pace (and, through the stream's limits, its consumers')
//! reaches the producer.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, ReentrantMutex};
use rstreams_protocol::{Error, Rule, Subscriber, Subscription};

use crate::connection::{Connection, Inner};
use crate::error::NatsError;

/// One message to publish: payload, optional headers, optional message id, optional subject
/// (default: the sink's).
#[derive(Clone, Debug, Default)]
pub struct Publish {
    subject: Option<String>,
    payload: Bytes,
    headers: Option<HeaderMap>,
    msg_id: Option<String>,
}

impl Publish {
    /// A message with this payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Publish {
            payload: payload.into(),
            ..Default::default()
        }
    }
    /// Publishes to this subject instead of the sink's.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .get_or_insert_with(HeaderMap::new)
            .insert(name, value);
        self
    }
    /// A message id (`Nats-Msg-Id`): the stream stores a message with an id it has seen
    /// within its duplicate window only once, so retries (by the sink's retry policy, or a
    /// restarted producer re-sending) do not duplicate it.
    pub fn msg_id(mut self, id: impl Into<String>) -> Self {
        self.msg_id = Some(id.into());
        self
    }
}

impl From<Bytes> for Publish {
    fn from(b: Bytes) -> Self {
        Publish::new(b)
    }
}
impl From<Vec<u8>> for Publish {
    fn from(b: Vec<u8>) -> Self {
        Publish::new(b)
    }
}
impl From<String> for Publish {
    fn from(s: String) -> Self {
        Publish::new(s)
    }
}
impl From<&'static str> for Publish {
    fn from(s: &'static str) -> Self {
        Publish::new(s)
    }
}

/// How often and how patiently a publish is retried before the sink fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Pause before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// Upper bound of the pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms doubling to 2 s.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// One attempt: the first failure fails the sink.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..Default::default()
        }
    }
}

/// How a sink ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkReport {
    /// Messages acknowledged by the stream (duplicates included).
    pub acked: u64,
    /// Of those, how many the stream reported as duplicates (same message id within the
    /// duplicate window; stored once).
    pub duplicates: u64,
}

/// Resolves when the sink is done: `Ok` after `on_complete` once every PubAck is in; `Err`
/// after a publish failed every retry (the upstream is cancelled) or the upstream failed
/// (after the publishes in flight settled).
#[derive(Clone)]
pub struct SinkHandle {
    state: Arc<SinkState>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkHandle")
            .field("done", &self.state.inner.lock().result.is_some())
            .finish()
    }
}

impl SinkHandle {
    /// Waits at most `timeout`; `None` if the sink is not done by then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<SinkReport, Error>> {
        let mut g = self.state.inner.lock();
        let deadline = std::time::Instant::now() + timeout;
        while g.result.is_none() {
            if self.state.done.wait_until(&mut g, deadline).timed_out() {
                break;
            }
        }
        g.result.clone()
    }

    /// Waits until the sink is done.
    pub fn wait(&self) -> Result<SinkReport, Error> {
        let mut g = self.state.inner.lock();
        while g.result.is_none() {
            self.state.done.wait(&mut g);
        }
        g.result.clone().expect("checked above")
    }

    /// Publishes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.state.inner.lock().acked
    }

    /// Publishes awaiting their PubAck now (never more than the window).
    pub fn in_flight(&self) -> usize {
        self.state.inner.lock().in_flight
    }

    /// Stops the sink from outside (what `dispose` is to a Reactor subscriber): cancels its
    /// upstream subscription, so nothing more is requested, and drops items that were already
    /// on their way (rule 2.8). Publishes in flight still settle; the handle then resolves
    /// with an error saying the sink was cancelled ([`acked`](Self::acked) tells how many
    /// made it). No effect once the upstream ended or the sink is done. Before the sink is
    /// subscribed, the subscription it later receives is cancelled at once.
    pub fn cancel(&self) {
        let _calls = self.state.calls.lock();
        let mut g = self.state.inner.lock();
        if g.upstream_end.is_some() || g.result.is_some() {
            return;
        }
        let up = g.upstream.take();
        g.upstream_end = Some(Some(Error::msg(
            "JetStreamSink cancelled through its SinkHandle before its upstream completed",
        )));
        self.state.settle(&mut g);
        drop(g);
        if let Some(up) = up {
            up.cancel();
        }
    }
}

struct SinkInner {
    upstream: Option<Arc<dyn Subscription>>,
    in_flight: usize,
    max_in_flight: usize,
    acked: u64,
    duplicates: u64,
    /// The upstream's terminal signal: `Some(None)` complete, `Some(Some(e))` failed (or
    /// cancelled through the handle, with the error the handle resolves to).
    upstream_end: Option<Option<Error>>,
    result: Option<Result<SinkReport, Error>>,
}

struct SinkState {
    inner: Mutex<SinkInner>,
    done: Condvar,
    /// Serialises calls on the upstream subscription with the terminal signals, so no
    /// `request` or `cancel` can follow `on_complete`/`on_error` (2.3, 2.4). Reentrant: a
    /// synchronous upstream may complete from inside our `request`.
    calls: ReentrantMutex<()>,
}

impl SinkState {
    fn resolve(&self, g: &mut SinkInner, result: Result<SinkReport, Error>) {
        if g.result.is_none() {
            g.result = Some(result);
            self.done.notify_all();
        }
    }

    /// Resolves once the upstream ended and nothing is in flight.
    fn settle(&self, g: &mut SinkInner) {
        if g.in_flight == 0
            && let Some(end) = &g.upstream_end
        {
            let r = match end {
                None => Ok(SinkReport {
                    acked: g.acked,
                    duplicates: g.duplicates,
                }),
                Some(e) => Err(e.clone()),
            };
            self.resolve(g, r);
        }
    }
}

/// Settings of a [`JetStreamSink`].
#[derive(Clone, Debug)]
pub struct SinkConfig {
    subject: String,
    window: usize,
    retry: RetryPolicy,
}

impl SinkConfig {
    /// Publishes to `subject` (which a stream must capture), with a window of 256 and the
    /// default [`RetryPolicy`].
    pub fn new(subject: impl Into<String>) -> Self {
        SinkConfig {
            subject: subject.into(),
            window: 256,
            retry: RetryPolicy::default(),
        }
    }
    /// How many publishes may await their PubAck at once: the sink's demand upstream
    /// (at least 1).
    pub fn window(mut self, n: usize) -> Self {
        self.window = n.max(1);
        self
    }
    /// The retry policy for a failed publish.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: policy.attempts.max(1),
            ..policy
        };
        self
    }
}

/// A [`Subscriber`] that publishes every item to JetStream. It requests `window` items, then one
/// more per PubAck: at most `window` publishes are ever unacknowledged, so a broker that slows
/// down slows the producer. Items are published concurrently within the window (the stream
/// may store them out of order when a retry happens; give them message ids where order or
/// duplicates matter).
///
/// ```no_run
/// use rstreams::prelude::*;
/// use rstreams_nats::{Connection, JetStreamSink, SinkConfig};
///
/// let conn = Connection::connect("nats://127.0.0.1:4222")?;
/// let (sink, done) = JetStreamSink::new(&conn, SinkConfig::new("orders.new").window(64));
/// range(0, 1000).map(|i| format!("order {i}")).subscribe(sink);
/// let report = done.wait()?;
/// assert_eq!(report.acked, 1000);
/// # Ok::<(), rstreams_nats::Error>(())
/// ```
pub struct JetStreamSink<T> {
    config: Arc<SinkConfig>,
    state: Arc<SinkState>,
    subscribed: bool,
    queue: tokio::sync::mpsc::UnboundedSender<Publish>,
    handle: tokio::runtime::Handle,
    _items: std::marker::PhantomData<fn(T)>,
}

impl<T> fmt::Debug for JetStreamSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStreamSink")
            .field("subject", &self.config.subject)
            .finish()
    }
}

impl<T: Into<Publish>> JetStreamSink<T> {
    /// A sink and the handle that reports its end.
    pub fn new(conn: &Connection, config: SinkConfig) -> (Self, SinkHandle) {
        let state = Arc::new(SinkState {
            inner: Mutex::new(SinkInner {
                upstream: None,
                in_flight: 0,
                max_in_flight: config.window,
                acked: 0,
                duplicates: 0,
                upstream_end: None,
                result: None,
            }),
            done: Condvar::new(),
            calls: ReentrantMutex::new(()),
        });
        // Unbounded by type, bounded by the window: on_next refuses an item beyond it.
        let (queue, rx) = tokio::sync::mpsc::unbounded_channel();
        conn.inner.runtime.handle().spawn(publisher(
            Arc::clone(&conn.inner),
            Arc::new(config.clone()),
            Arc::clone(&state),
            rx,
        ));
        (
            JetStreamSink {
                queue,
                handle: conn.inner.runtime.handle().clone(),
                config: Arc::new(config),
                state: Arc::clone(&state),
                subscribed: false,
                _items: std::marker::PhantomData,
            },
            SinkHandle { state },
        )
    }
}

impl<T: Into<Publish>> Subscriber<T> for JetStreamSink<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        // 2.5: a second subscription is cancelled; so is one arriving after the sink is done
        // or cancelled (checked and stored under one lock, so a concurrent
        // `SinkHandle::cancel` either sees the upstream and cancels it, or is seen here).
        if self.subscribed {
            subscription.cancel();
            return;
        }
        let up: Arc<dyn Subscription> = Arc::from(subscription);
        let window = {
            let mut g = self.state.inner.lock();
            if g.result.is_some() || g.upstream_end.is_some() {
                None
            } else {
                g.upstream = Some(Arc::clone(&up));
                Some(g.max_in_flight)
            }
        };
        let Some(window) = window else {
            up.cancel();
            return;
        };
        self.subscribed = true;
        // The first request goes from the connector thread too, like every later one: the sink
        // never calls its upstream from inside a callback (2.2), so a synchronous upstream never
        // runs its production inside our on_subscribe.
        let state = Arc::clone(&self.state);
        self.handle.spawn(async move {
            let _calls = state.calls.lock();
            let live = {
                let g = state.inner.lock();
                g.upstream_end.is_none() && g.result.is_none() && g.upstream.is_some()
            };
            if live {
                up.request(window as u64);
            }
        });
    }

    fn on_next(&mut self, item: T) {
        let publish: Publish = item.into();
        {
            let mut g = self.state.inner.lock();
            if g.result.is_some() || g.upstream_end.is_some() {
                // Failed or cancelled already: an item that was on its way when the upstream
                // was cancelled is dropped (2.8).
                return;
            }
            if g.in_flight >= g.max_in_flight {
                // The upstream sent more than requested (1.1): fail rather than grow.
                let e = Error::violation(
                    Rule::R1_1,
                    "JetStreamSink received more items than it requested",
                );
                let up = g.upstream.take();
                self.state.resolve(&mut g, Err(e));
                drop(g);
                if let Some(up) = up {
                    up.cancel();
                }
                return;
            }
            g.in_flight += 1;
        }
        // In order to the publisher task (which publishes in arrival order); at most `window`
        // items are ever queued or awaiting their ack, checked above.
        if self.queue.send(publish).is_err() {
            tracing::warn!("rstreams-nats: sink publisher task gone (connector shut down)");
        }
    }

    fn on_error(&mut self, error: Error) {
        let _calls = self.state.calls.lock();
        let mut g = self.state.inner.lock();
        g.upstream = None;
        g.upstream_end.get_or_insert(Some(error));
        self.state.settle(&mut g);
    }

    fn on_complete(&mut self) {
        let _calls = self.state.calls.lock();
        let mut g = self.state.inner.lock();
        g.upstream = None;
        g.upstream_end.get_or_insert(None);
        self.state.settle(&mut g);
    }
}

impl<T> Drop for JetStreamSink<T> {
    /// Dropped while still subscribed (the upstream let go of it without a terminal signal):
    /// cancel the subscription (2.6) and fail the handle, so that nobody waits forever.
    fn drop(&mut self) {
        let _calls = self.state.calls.lock();
        let mut g = self.state.inner.lock();
        let Some(up) = g.upstream.take() else { return };
        if g.upstream_end.is_none() {
            self.state.resolve(
                &mut g,
                Err(Error::msg(
                    "JetStreamSink dropped before its upstream completed (cancelled)",
                )),
            );
            drop(g);
            up.cancel();
        }
    }
}

/// Publishes queued items in arrival order; each PubAck is awaited (and a failed publish
/// retried) in a task of its own, so up to `window` acks are outstanding at once.
async fn publisher(
    conn: Arc<Inner>,
    config: Arc<SinkConfig>,
    state: Arc<SinkState>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Publish>,
) {
    while let Some(p) = queue.recv().await {
        let subject = p.subject.clone().unwrap_or_else(|| config.subject.clone());
        let mut headers = p.headers.clone().unwrap_or_default();
        if let Some(id) = &p.msg_id {
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        let first = conn
            .js
            .publish_with_headers(subject, headers, p.payload.clone())
            .await;
        let (conn, config, state) = (Arc::clone(&conn), Arc::clone(&config), Arc::clone(&state));
        tokio::spawn(async move {
            let outcome = publish_with_retry(&conn, &config, p, Some(first)).await;
            finish(&state, outcome);
        });
    }
}

/// One publish settled: count it and request the next item, or fail the sink.
fn finish(state: &SinkState, outcome: Result<bool, NatsError>) {
    let _calls = state.calls.lock();
    let mut g = state.inner.lock();
    g.in_flight -= 1;
    match outcome {
        Ok(duplicate) => {
            g.acked += 1;
            g.duplicates += duplicate as u64;
            let more = if g.upstream_end.is_none() && g.result.is_none() {
                g.upstream.clone()
            } else {
                None
            };
            state.settle(&mut g);
            drop(g);
            if let Some(up) = more {
                up.request(1);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "rstreams-nats: sink failed");
            let up = g.upstream.take();
            state.resolve(&mut g, Err(Error::new(e)));
            drop(g);
            if let Some(up) = up {
                up.cancel();
            }
        }
    }
}

type FirstAttempt = Result<
    async_nats::jetstream::context::PublishAckFuture,
    async_nats::jetstream::context::PublishError,
>;

/// Awaits the first attempt's PubAck, retrying per the policy; `Ok(duplicate)` once the
/// stream acked it.
async fn publish_with_retry(
    conn: &Inner,
    config: &SinkConfig,
    p: Publish,
    mut first: Option<FirstAttempt>,
) -> Result<bool, NatsError> {
    let subject = p.subject.clone().unwrap_or_else(|| config.subject.clone());
    let mut headers = p.headers.unwrap_or_default();
    if let Some(id) = &p.msg_id {
        headers.insert("Nats-Msg-Id", id.as_str());
    }
    let policy = config.retry;
    let mut pause = policy.backoff;
    let mut last = String::new();
    for attempt in 1..=policy.attempts {
        if attempt > 1 {
            tracing::info!(%subject, attempt, cause = %last, "rstreams-nats: retrying a publish");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(policy.max_backoff);
        }
        let sent = match first.take() {
            Some(sent) => sent,
            None => {
                conn.js
                    .publish_with_headers(subject.clone(), headers.clone(), p.payload.clone())
                    .await
            }
        };
        match sent {
            Ok(ack) => match tokio::time::timeout(conn.request_timeout(), ack).await {
                Ok(Ok(ack)) => return Ok(ack.duplicate),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no PubAck within the request timeout".into(),
            },
            Err(e) => last = e.to_string(),
        }
    }
    Err(NatsError::Publish {
        subject,
        attempts: policy.attempts,
        cause: last,
    })
}
