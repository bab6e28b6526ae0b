//! The JetStream source: a [`Publisher`] over a pull consumer whose fetches are shaped by the
//! subscriber's demand.
//!
//! How it works: the subscription is served by the pull kit ([`rstreams_protocol::pull`]), which
//! owns the demand, the serial drain and the protocol rules. A driver task on the connector
//! thread watches this subscription's outstanding demand and, whenever it exceeds what is
//! already buffered or being fetched, sends one fetch (pull request) for at most
//! `demand + prefetch - buffered`, capped by `max_batch`. Messages land in a buffer that never
//! holds more than that, and are handed to `on_next` on a blocking-pool thread (never on the
//! connector thread, so a slow subscriber cannot stall the connection). A fetch that expires
//! half-filled simply ends: the unmet demand is still outstanding and the next fetch asks again
//! (carry-over).

use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use rstreams_protocol::pull::{self, PullHandle, Source as _, Step};
use rstreams_protocol::{Demand, Error, Publisher, Subscriber, Subscription};
use tokio::sync::Notify;

use crate::connection::{Connection, Inner};
use crate::error::NatsError;

/// When the source acknowledges a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckMode {
    /// Acknowledge right after `on_next` returns (at-least-once: a crash or a panic in
    /// `on_next` leaves the message unacknowledged and the server redelivers it).
    AfterOnNext,
    /// The subscriber acknowledges: each item carries an [`AckHandle`]
    /// ([`JsMessage::take_ack`]) to `ack`, `nak` (with an optional delay) or `term`. A handle
    /// dropped unresolved leaves the message to be redelivered after the ack wait.
    Manual,
    /// No acknowledgements (the consumer is created with `AckPolicy::None`; at-most-once).
    /// Only for consumers this source creates.
    None,
}

/// What to do with a payload the decoder rejects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeFailure {
    /// Fail the stream with [`NatsError::Decode`] naming subject and sequence; the message is
    /// not acknowledged (the server redelivers it after the ack wait).
    Fail,
    /// Terminate the message (`term`: never redelivered), log a warning, and go on; the skipped
    /// message does not use up demand.
    Skip,
}

#[derive(Clone, Debug)]
enum ConsumerChoice {
    /// Bind to an existing durable consumer; error if missing.
    Bind(String),
    /// Bind to the durable consumer, creating it (with the source's settings) if missing.
    Durable(String),
    /// A fresh ephemeral consumer per subscription, deleted when the subscription ends.
    Ephemeral,
}

/// Which consumer a [`JetStreamSource`] reads and how.
#[derive(Clone, Debug)]
pub struct SourceConfig {
    stream: String,
    consumer: ConsumerChoice,
    filter_subject: Option<String>,
    ack: AckMode,
    max_batch: usize,
    prefetch: u64,
    fetch_expiry: Duration,
    ack_wait: Option<Duration>,
    max_ack_pending: Option<i64>,
    until_caught_up: bool,
    decode_failure: DecodeFailure,
}

impl SourceConfig {
    fn new(stream: impl Into<String>, consumer: ConsumerChoice) -> Self {
        SourceConfig {
            stream: stream.into(),
            consumer,
            filter_subject: None,
            ack: AckMode::AfterOnNext,
            max_batch: 256,
            prefetch: 0,
            fetch_expiry: Duration::from_secs(2),
            ack_wait: None,
            max_ack_pending: None,
            until_caught_up: false,
            decode_failure: DecodeFailure::Fail,
        }
    }

    /// Binds to the durable consumer `name` on `stream`, which must exist (else
    /// [`NatsError::ConsumerNotFound`]).
    pub fn bind(stream: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(stream, ConsumerChoice::Bind(name.into()))
    }

    /// Binds to the durable consumer `name` on `stream`, creating it with this config's filter,
    /// ack wait and max ack pending if it does not exist. Several subscriptions (in one process
    /// or many) sharing one durable consumer share its messages: a work queue.
    pub fn durable(stream: impl Into<String>, name: impl Into<String>) -> Self {
        Self::new(stream, ConsumerChoice::Durable(name.into()))
    }

    /// A new ephemeral consumer for each subscription (every subscription sees the whole
    /// stream), deleted when the subscription ends.
    pub fn ephemeral(stream: impl Into<String>) -> Self {
        Self::new(stream, ConsumerChoice::Ephemeral)
    }

    /// Only messages whose subject matches (wildcards allowed); for consumers this source
    /// creates.
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.filter_subject = Some(subject.into());
        self
    }

    /// When messages are acknowledged; default [`AckMode::AfterOnNext`].
    pub fn ack(mut self, mode: AckMode) -> Self {
        self.ack = mode;
        self
    }

    /// The most messages one fetch asks for (default 256); at least 1.
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// How many messages beyond the outstanding demand the source may fetch ahead (default 0:
    /// the server hands this subscription at most as many messages as were requested and not
    /// yet delivered). A prefetch hides one round trip when the subscriber requests in small
    /// steps, at the price of that many more messages held here unacknowledged.
    pub fn prefetch(mut self, n: u64) -> Self {
        self.prefetch = n;
        self
    }

    /// How long one fetch waits on the server for messages before it expires (default 2 s).
    /// An expired fetch loses nothing: the demand it did not meet is asked for again.
    pub fn fetch_expiry(mut self, expiry: Duration) -> Self {
        self.fetch_expiry = expiry.max(Duration::from_millis(10));
        self
    }

    /// The ack wait of a consumer this source creates: how long the server waits for an ack
    /// before it redelivers (server default 30 s).
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = Some(wait);
        self
    }

    /// The server-side cap on delivered-but-unacknowledged messages for a consumer this source
    /// creates (server default 1000).
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = Some(n);
        self
    }

    /// Completes the stream once every message that was pending for the consumer when the
    /// subscription started has been delivered (a bounded read, like replaying a stream to its
    /// current end). Default: never complete; wait for new messages.
    pub fn until_caught_up(mut self, yes: bool) -> Self {
        self.until_caught_up = yes;
        self
    }

    /// What a decode failure does (default [`DecodeFailure::Fail`]).
    pub fn on_decode_failure(mut self, policy: DecodeFailure) -> Self {
        self.decode_failure = policy;
        self
    }
}

/// Decodes a payload; the error text is carried into [`NatsError::Decode`].
pub type Decoder<T> = Arc<dyn Fn(&Bytes) -> Result<T, String> + Send + Sync>;

/// One message from the stream: the decoded payload and where it came from.
pub struct JsMessage<T = Bytes> {
    value: T,
    subject: String,
    headers: Option<HeaderMap>,
    stream_sequence: u64,
    consumer_sequence: u64,
    delivery_count: u64,
    ack: Option<AckHandle>,
}

impl<T> JsMessage<T> {
    /// The decoded payload.
    pub fn payload(&self) -> &T {
        &self.value
    }
    /// The decoded payload, by value.
    pub fn into_payload(self) -> T {
        self.value
    }
    /// The subject the message was published to.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// Its headers, if it had any.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_ref()
    }
    /// Its sequence number in the stream (stable across redeliveries).
    pub fn stream_sequence(&self) -> u64 {
        self.stream_sequence
    }
    /// The consumer's delivery sequence (grows with every delivery, redeliveries included).
    pub fn consumer_sequence(&self) -> u64 {
        self.consumer_sequence
    }
    /// How many times the server has delivered it (1 the first time).
    pub fn delivery_count(&self) -> u64 {
        self.delivery_count
    }
    /// Whether this is a redelivery.
    pub fn is_redelivered(&self) -> bool {
        self.delivery_count > 1
    }
    /// The ack handle ([`AckMode::Manual`] only; `None` otherwise or once taken).
    pub fn take_ack(&mut self) -> Option<AckHandle> {
        self.ack.take()
    }
}

impl<T: fmt::Debug> fmt::Debug for JsMessage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsMessage")
            .field("subject", &self.subject)
            .field("stream_sequence", &self.stream_sequence)
            .field("delivery_count", &self.delivery_count)
            .field("payload", &self.value)
            .finish()
    }
}

/// Equal when subject, stream sequence and payload are equal (what identifies a message;
/// delivery counts and ack handles differ between deliveries of the same message).
impl<T: PartialEq> PartialEq for JsMessage<T> {
    fn eq(&self, other: &Self) -> bool {
        self.stream_sequence == other.stream_sequence
            && self.subject == other.subject
            && self.value == other.value
    }
}

/// Acknowledges one message, once. Each call sends the acknowledgement from the connector
/// thread and returns at once; a failure to send is logged (the server then redelivers).
pub struct AckHandle {
    message: jetstream::Message,
    conn: Arc<Inner>,
}

impl fmt::Debug for AckHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AckHandle(..)")
    }
}

impl AckHandle {
    fn send(self, kind: AckKind) {
        let AckHandle { message, conn } = self;
        conn.runtime.handle().spawn(async move {
            if let Err(e) = message.ack_with(kind).await {
                tracing::warn!(error = %e, subject = %message.subject, "rstreams-nats: ack not sent; the server will redeliver");
            }
        });
    }
    /// Processed: never deliver again.
    pub fn ack(self) {
        self.send(AckKind::Ack)
    }
    /// Not processed: redeliver now (or after `delay`).
    pub fn nak(self, delay: Option<Duration>) {
        self.send(AckKind::Nak(delay))
    }
    /// Still working: restart the ack-wait timer.
    pub fn in_progress(&self) {
        let message = self.message.clone();
        self.conn.runtime.handle().spawn(async move {
            let _ = message.ack_with(AckKind::Progress).await;
        });
    }
    /// Never deliver again, and do not count it as processed (a poison message).
    pub fn term(self) {
        self.send(AckKind::Term)
    }
}

/// A [`Publisher`] of [`JsMessage`]s from a JetStream pull consumer. Each subscription fetches
/// only what its subscriber requested (plus the configured prefetch).
///
/// ```no_run
/// use rstreams::prelude::*;
/// use rstreams_nats::{Connection, JetStreamSource, SourceConfig};
///
/// let conn = Connection::connect("nats://127.0.0.1:4222")?;
/// let source = JetStreamSource::new(&conn, SourceConfig::durable("ORDERS", "billing"));
/// let it = source.blocking_iter_with(64); // requests 64 at a time
/// for msg in it.take(10) {
///     let msg = msg?;
///     println!("{} #{}: {:?}", msg.subject(), msg.stream_sequence(), msg.payload());
/// } // each acknowledged once the iterator has taken it
/// # Ok::<(), rstreams_nats::Error>(())
/// ```
pub struct JetStreamSource<T = Bytes> {
    conn: Connection,
    config: Arc<SourceConfig>,
    decoder: Decoder<T>,
    loc: &'static Location<'static>,
}

impl JetStreamSource<Bytes> {
    /// A source of raw payloads.
    #[track_caller]
    pub fn new(conn: &Connection, config: SourceConfig) -> Self {
        JetStreamSource {
            conn: conn.clone(),
            config: Arc::new(config),
            decoder: Arc::new(|b: &Bytes| Ok(b.clone())),
            loc: Location::caller(),
        }
    }

    /// The same source with payloads decoded by `decode`; failures go by the config's
    /// [`DecodeFailure`] policy.
    pub fn decode<U, E: fmt::Display>(
        self,
        decode: impl Fn(&Bytes) -> Result<U, E> + Send + Sync + 'static,
    ) -> JetStreamSource<U> {
        JetStreamSource {
            conn: self.conn,
            config: self.config,
            decoder: Arc::new(move |b: &Bytes| decode(b).map_err(|e| e.to_string())),
            loc: self.loc,
        }
    }
}

impl<T: Send + 'static> Publisher for JetStreamSource<T> {
    type Item = JsMessage<T>;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<JsMessage<T>> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                end: None,
            }),
            demand: Demand::new(),
            notify: Notify::new(),
            cancelled: AtomicBool::new(false),
            wake_scheduled: Arc::new(AtomicBool::new(false)),
            handle: OnceLock::new(),
            conn: Arc::clone(&self.conn.inner),
        });
        let wrapped = AckingSubscriber {
            inner: subscriber,
            shared: Arc::clone(&shared),
            ack_after: self.config.ack == AckMode::AfterOnNext,
        };
        let kit_shared = Arc::clone(&shared);
        pull::serve_with(
            move |handle| {
                let _ = kit_shared.handle.set(handle);
                KitSource { shared: kit_shared }.at(self.loc)
            },
            wrapped,
        );
        let driver = Driver {
            shared,
            config: Arc::clone(&self.config),
            decoder: Arc::clone(&self.decoder),
        };
        self.conn.spawn(driver.run());
    }
}

struct Queue<T> {
    items: VecDeque<JsMessage<T>>,
    /// Set by the driver when the stream ends; delivered after the buffered items.
    end: Option<Step<JsMessage<T>>>,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// The subscriber's outstanding demand as this source counts it: added on `request`,
    /// taken when an item leaves the buffer (the kit's own count lags until its pass ends).
    demand: Demand,
    /// Wakes the driver: more demand, or cancel.
    notify: Notify,
    cancelled: AtomicBool,
    wake_scheduled: Arc<AtomicBool>,
    handle: OnceLock<PullHandle>,
    conn: Arc<Inner>,
}

impl<T: Send + 'static> Shared<T> {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Has the kit drain the buffer, on a blocking-pool thread (the subscriber's `on_next`
    /// must not run on the connector thread). One hand-off in flight at a time.
    fn wake(&self) {
        if self.wake_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let flag = Arc::clone(&self.wake_scheduled);
        let handle = self.handle.get().cloned();
        self.conn.runtime.handle().spawn_blocking(move || {
            // Cleared before the drain, so items pushed during the drain schedule another.
            flag.store(false, Ordering::SeqCst);
            if let Some(h) = handle {
                h.wake();
            }
        });
    }

    fn end(&self, step: Step<JsMessage<T>>) {
        self.queue.lock().end.get_or_insert(step);
        self.wake();
    }
}

/// The kit's view: the buffer.
struct KitSource<T: Send + 'static> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> pull::Source for KitSource<T> {
    type Item = JsMessage<T>;

    fn stage_name(&self) -> &'static str {
        "jetstream_source"
    }
    fn pull(&mut self) -> Step<JsMessage<T>> {
        let mut q = self.shared.queue.lock();
        if let Some(item) = q.items.pop_front() {
            self.shared.demand.produced(1);
            return Step::Next(item);
        }
        match q.end.take() {
            Some(end) => end,
            None => Step::Pending,
        }
    }
    fn is_exhausted(&mut self) -> bool {
        let q = self.shared.queue.lock();
        q.items.is_empty() && q.end.is_some()
    }
}

impl<T: Send + 'static> Drop for KitSource<T> {
    // The kit drops its source on cancel and after a terminal signal: stop fetching.
    fn drop(&mut self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        self.shared.notify.notify_one();
    }
}

/// Wraps the user's subscriber: counts demand for the driver and acks after `on_next`.
struct AckingSubscriber<T: Send + 'static, S> {
    inner: S,
    shared: Arc<Shared<T>>,
    ack_after: bool,
}

struct CountingSubscription<T: Send + 'static> {
    kit: Box<dyn Subscription>,
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Subscription for CountingSubscription<T> {
    fn request(&self, n: u64) {
        if n > 0 && !self.shared.is_cancelled() {
            self.shared.demand.add(n);
        }
        self.kit.request(n);
        self.shared.notify.notify_one();
    }
    fn cancel(&self) {
        self.kit.cancel();
        self.shared.cancelled.store(true, Ordering::SeqCst);
        self.shared.notify.notify_one();
    }
}

impl<T: Send + 'static, S: Subscriber<JsMessage<T>>> Subscriber<JsMessage<T>>
    for AckingSubscriber<T, S>
{
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        self.inner.on_subscribe(Box::new(CountingSubscription {
            kit: subscription,
            shared: Arc::clone(&self.shared),
        }));
    }
    fn on_next(&mut self, mut item: JsMessage<T>) {
        if self.ack_after {
            let ack = item.ack.take();
            self.inner.on_next(item);
            if let Some(ack) = ack {
                ack.ack();
            }
        } else {
            self.inner.on_next(item);
        }
    }
    fn on_error(&mut self, error: Error) {
        self.inner.on_error(error)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

struct Driver<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    config: Arc<SourceConfig>,
    decoder: Decoder<T>,
}

#[derive(PartialEq, Eq)]
enum Accepted {
    Buffered,
    /// Skipped by the decode-failure policy; used no demand.
    Skipped,
    /// The stream failed; stop fetching (the buffered items are still delivered first).
    Failed,
}

enum Setup {
    Ready(Box<PullConsumer>, Option<String>),
    Failed(NatsError),
}

impl<T: Send + 'static> Driver<T> {
    async fn setup(&self) -> Setup {
        let conn = &self.shared.conn;
        let cfg = &self.config;
        let stream = match conn.js.get_stream(&cfg.stream).await {
            Ok(s) => s,
            Err(e) => {
                return Setup::Failed(match e.kind() {
                    async_nats::jetstream::context::GetStreamErrorKind::JetStream(j)
                        if j.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND =>
                    {
                        NatsError::StreamNotFound {
                            stream: cfg.stream.clone(),
                        }
                    }
                    _ => NatsError::Setup(format!("looking up stream `{}`: {e}", cfg.stream)),
                });
            }
        };
        let mut consumer_config = jetstream::consumer::pull::Config {
            ack_policy: if cfg.ack == AckMode::None {
                jetstream::consumer::AckPolicy::None
            } else {
                jetstream::consumer::AckPolicy::Explicit
            },
            filter_subject: cfg.filter_subject.clone().unwrap_or_default(),
            ack_wait: cfg.ack_wait.unwrap_or_default(),
            max_ack_pending: cfg.max_ack_pending.unwrap_or_default(),
            ..Default::default()
        };
        // `get_consumer` returns a boxed error whose concrete type varies by client version;
        // the server's text for error code 10014 is what stays stable.
        let not_found = |e: &async_nats::Error| {
            e.downcast_ref::<async_nats::jetstream::stream::ConsumerError>()
                .is_some_and(|e| matches!(e.kind(), async_nats::jetstream::stream::ConsumerErrorKind::JetStream(j)
                    if j.error_code() == async_nats::jetstream::ErrorCode::CONSUMER_NOT_FOUND))
                || e.to_string().contains("consumer not found")
        };
        match &cfg.consumer {
            ConsumerChoice::Bind(name) => match stream
                .get_consumer::<jetstream::consumer::pull::Config>(name)
                .await
            {
                Ok(c) => Setup::Ready(Box::new(c), None),
                Err(e) if not_found(&e) => Setup::Failed(NatsError::ConsumerNotFound {
                    stream: cfg.stream.clone(),
                    consumer: name.clone(),
                }),
                Err(e) => Setup::Failed(NatsError::Setup(format!(
                    "consumer `{name}` on stream `{}`: {e}",
                    cfg.stream
                ))),
            },
            ConsumerChoice::Durable(name) => {
                consumer_config.durable_name = Some(name.clone());
                match stream.get_or_create_consumer(name, consumer_config).await {
                    Ok(c) => Setup::Ready(Box::new(c), None),
                    Err(e) => Setup::Failed(NatsError::Setup(format!(
                        "consumer `{name}` on stream `{}`: {e}",
                        cfg.stream
                    ))),
                }
            }
            ConsumerChoice::Ephemeral => {
                consumer_config.inactive_threshold = Duration::from_secs(60);
                match stream.create_consumer(consumer_config).await {
                    Ok(mut c) => {
                        let name = c.info().await.ok().map(|i| i.name.clone());
                        Setup::Ready(Box::new(c), name)
                    }
                    Err(e) => Setup::Failed(NatsError::Setup(format!(
                        "ephemeral consumer on stream `{}`: {e}",
                        cfg.stream
                    ))),
                }
            }
        }
    }

    async fn run(self) {
        let (mut consumer, ephemeral) = match self.setup().await {
            Setup::Ready(c, e) => (c, e),
            Setup::Failed(e) => {
                tracing::warn!(error = %e, "rstreams-nats: source set-up failed");
                self.shared.end(Step::Error(Error::new(e)));
                return;
            }
        };
        // A bounded read: how many messages are left to deliver before completing.
        let mut remaining: Option<u64> = None;
        if self.config.until_caught_up {
            match consumer.info().await {
                Ok(info) => remaining = Some(info.num_pending + info.num_ack_pending as u64),
                Err(e) => {
                    self.shared
                        .end(Step::Error(Error::new(NatsError::Setup(format!(
                            "consumer info: {e}"
                        )))));
                    return;
                }
            }
            if remaining == Some(0) {
                self.shared.end(Step::Complete);
            }
        }
        self.fetch_loop(&consumer, &mut remaining).await;
        // Cancelled: messages fetched but never handed to the subscriber go back at once.
        // (After a terminal signal the buffer is still being delivered; leave it alone.)
        if self.shared.is_cancelled() {
            let left: Vec<_> = self.shared.queue.lock().items.drain(..).collect();
            for mut m in left {
                if let Some(ack) = m.ack.take() {
                    ack.nak(None);
                }
            }
        }
        if let Some(name) = ephemeral {
            let stream = self.config.stream.clone();
            if let Ok(s) = self.shared.conn.js.get_stream(&stream).await {
                let _ = s.delete_consumer(&name).await;
            }
        }
    }

    async fn fetch_loop(&self, consumer: &PullConsumer, remaining: &mut Option<u64>) {
        let sh = &self.shared;
        let cfg = &self.config;
        let budget = sh.conn.reconnect_budget();
        let mut down_since: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            if sh.is_cancelled() || remaining == &Some(0) {
                return;
            }
            let buffered = sh.queue.lock().items.len() as u64;
            let outstanding = sh.demand.get();
            let mut want = outstanding
                .saturating_add(cfg.prefetch)
                .saturating_sub(buffered)
                .min(cfg.max_batch as u64);
            if let Some(r) = remaining {
                want = want.min(*r);
            }
            if want == 0 {
                sh.notify.notified().await;
                continue;
            }
            let during = || format!("fetching from stream `{}`", cfg.stream);
            let fetch = tokio::time::timeout(
                sh.conn.request_timeout(),
                consumer
                    .batch()
                    .max_messages(want as usize)
                    .expires(cfg.fetch_expiry)
                    .messages(),
            )
            .await;
            let mut batch = match fetch {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "rstreams-nats: fetch failed; retrying");
                    if self.trouble(&mut down_since, budget, during)
                        || self.failing(&mut failures, e.to_string())
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(_) => {
                    if self.trouble(&mut down_since, budget, during) {
                        return;
                    }
                    continue;
                }
            };
            // The server ends a pull request at its expiry; this deadline only guards against
            // a request lost with a dropped connection.
            let deadline = tokio::time::sleep(cfg.fetch_expiry + Duration::from_secs(1));
            tokio::pin!(deadline);
            let mut got_any = false;
            let mut errored = false;
            loop {
                tokio::select! {
                    next = batch.next() => match next {
                        None => break,
                        Some(Ok(m)) => {
                            got_any = true;
                            failures = 0;
                            down_since = None;
                            let accepted = self.accept(m);
                            if accepted == Accepted::Failed {
                                return;
                            }
                            // A skipped message was consumed too: it counts toward the end.
                            {
                                if let Some(r) = remaining.as_mut() {
                                    *r -= 1;
                                    if *r == 0 {
                                        sh.end(Step::Complete);
                                        return;
                                    }
                                }
                            }
                        }
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "rstreams-nats: fetch ended with an error");
                            if self.failing(&mut failures, e.to_string()) {
                                return;
                            }
                            errored = true;
                            break;
                        }
                    },
                    _ = &mut deadline => break,
                    _ = sh.notify.notified() => {
                        if sh.is_cancelled() {
                            return;
                        }
                    }
                }
                if sh.is_cancelled() {
                    return;
                }
            }
            if !got_any && self.trouble(&mut down_since, budget, during) {
                return;
            }
            if !got_any && (errored || !sh.conn.is_connected()) {
                // Do not spin on a failing or dead connection.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Fetches failing while the connection is up (the consumer was deleted, the stream is
    /// gone...): a few in a row may be a server restarting; more fail the stream, not hang it.
    fn failing(&self, failures: &mut u32, cause: String) -> bool {
        if !self.shared.conn.is_connected() {
            return false; // the reconnect budget governs this case
        }
        if cause.contains("MaxAckPending") || cause.contains("Max Ack Pending") {
            // The server's cap on unacknowledged messages (held by manual ackers): back off
            // and ask again; not a failure.
            return false;
        }
        *failures += 1;
        if *failures < 10 {
            return false;
        }
        tracing::warn!(%cause, "rstreams-nats: fetches keep failing; failing the stream");
        self.shared
            .end(Step::Error(Error::new(NatsError::Setup(format!(
                "fetching from stream `{}` failed {} times in a row: {cause}",
                self.config.stream, failures
            )))));
        true
    }

    /// Connection trouble: keep trying within the budget, then fail the stream. `true`: give up.
    fn trouble(
        &self,
        down_since: &mut Option<Instant>,
        budget: Duration,
        during: impl FnOnce() -> String,
    ) -> bool {
        let sh = &self.shared;
        if sh.conn.is_connected() {
            *down_since = None;
            return false;
        }
        let since = *down_since.get_or_insert_with(Instant::now);
        if since.elapsed() > budget {
            tracing::warn!(
                ?budget,
                "rstreams-nats: connection lost beyond the reconnect budget"
            );
            sh.end(Step::Error(Error::new(NatsError::ConnectionLost {
                budget,
                during: during(),
            })));
            return true;
        }
        false
    }

    /// Decodes and buffers one message.
    fn accept(&self, m: jetstream::Message) -> Accepted {
        let (stream_sequence, consumer_sequence, delivered) = match m.info() {
            Ok(i) => (
                i.stream_sequence,
                i.consumer_sequence,
                i.delivered.max(1) as u64,
            ),
            Err(_) => (0, 0, 1),
        };
        if delivered > 1 {
            tracing::debug!(subject = %m.subject, stream_sequence, delivered, "rstreams-nats: redelivery");
        }
        let subject = m.subject.to_string();
        match (self.decoder)(&m.payload) {
            Ok(value) => {
                let headers = m.headers.clone();
                let ack = (self.config.ack != AckMode::None).then(|| AckHandle {
                    message: m,
                    conn: Arc::clone(&self.shared.conn),
                });
                let item = JsMessage {
                    value,
                    subject,
                    headers,
                    stream_sequence,
                    consumer_sequence,
                    delivery_count: delivered,
                    ack,
                };
                self.shared.queue.lock().items.push_back(item);
                self.shared.wake();
                Accepted::Buffered
            }
            Err(cause) => match self.config.decode_failure {
                DecodeFailure::Skip => {
                    tracing::warn!(%subject, stream_sequence, %cause, "rstreams-nats: skipping a message that does not decode");
                    if self.config.ack != AckMode::None {
                        AckHandle {
                            message: m,
                            conn: Arc::clone(&self.shared.conn),
                        }
                        .term();
                    }
                    Accepted::Skipped
                }
                DecodeFailure::Fail => {
                    self.shared.end(Step::Error(Error::new(NatsError::Decode {
                        subject,
                        sequence: stream_sequence,
                        cause,
                    })));
                    // Not acknowledged: the server redelivers it after the ack wait.
                    Accepted::Failed
                }
            },
        }
    }
}

impl<T> std::fmt::Debug for JetStreamSource<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSource").finish_non_exhaustive()
    }
}
