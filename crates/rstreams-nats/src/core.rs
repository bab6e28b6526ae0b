//! Core NATS subjects: no persistence and no flow control, so the subject is a *hot* source. It
//! becomes a [`Publisher`] only through an overflow policy from the operator crate
//! ([`rstreams::overflow`]), chosen by the user, with a counter of what it dropped.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use rstreams::PublisherExt;
use rstreams::executor::{DedicatedThread, IntoScheduler};
use rstreams::hop::PublishOn;
use rstreams::overflow::{DropCounter, OnBackpressure, OverflowPolicy};
use rstreams_protocol::{Demand, Error, Publisher, Subscriber, Subscription};
use tokio::sync::Notify;

use crate::connection::{Connection, Inner};
use crate::error::NatsError;

/// A message received on a core NATS subject.
#[derive(Clone, PartialEq)]
pub struct CoreMessage {
    /// The subject it was published to.
    pub subject: String,
    /// Its reply subject, for request/reply.
    pub reply: Option<String>,
    /// The payload.
    pub payload: Bytes,
    /// Its headers.
    pub headers: Option<HeaderMap>,
}

impl fmt::Debug for CoreMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoreMessage")
            .field("subject", &self.subject)
            .field("payload", &self.payload)
            .finish()
    }
}

/// A core NATS subject as a [`Publisher`], behind an explicit overflow policy: when the
/// subscriber is slower than the subject, the policy (not a hidden buffer) decides what is
/// kept, and [`drop_counter`](Self::drop_counter) counts what was dropped.
///
/// Messages are taken off the connection at once, pass through the policy stage, and are
/// delivered to the subscriber on a separate thread (`deliver_on`; by default a dedicated
/// thread per publisher), so a slow subscriber never stalls the connection.
///
/// ```no_run
/// use rstreams::overflow::OverflowPolicy;
/// use rstreams::prelude::*;
/// use rstreams_nats::{Connection, CoreSubject};
///
/// let conn = Connection::connect("nats://127.0.0.1:4222")?;
/// // Keep the newest 100 readings beyond demand; drop older ones when the consumer lags.
/// let ticks = CoreSubject::new(&conn, "sensors.>", 100, OverflowPolicy::DropOldest)?;
/// let dropped = ticks.drop_counter();
/// let it = ticks.blocking_iter_with(16);
/// # drop(it);
/// println!("dropped so far: {}", dropped.get());
/// # Ok::<(), rstreams_nats::Error>(())
/// ```
pub struct CoreSubject {
    inner: PublishOn<OnBackpressure<RawSubject>>,
    dropped: DropCounter,
}

impl fmt::Debug for CoreSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoreSubject(..)")
    }
}

impl CoreSubject {
    /// Subscribes to `subject` (wildcards allowed) with a buffer of `capacity` messages beyond
    /// the subscriber's demand, overflowing per `policy`; delivers on a dedicated thread.
    #[track_caller]
    pub fn new(
        conn: &Connection,
        subject: impl Into<String>,
        capacity: usize,
        policy: OverflowPolicy,
    ) -> Result<Self, Error> {
        let thread = DedicatedThread::new("rstreams-nats-core").map_err(|e| {
            Error::new(NatsError::Setup(format!(
                "cannot start the delivery thread: {e}"
            )))
        })?;
        Ok(Self::deliver_on(conn, subject, capacity, policy, thread))
    }

    /// [`new`](Self::new), delivering on `scheduler` instead.
    #[track_caller]
    pub fn deliver_on(
        conn: &Connection,
        subject: impl Into<String>,
        capacity: usize,
        policy: OverflowPolicy,
        scheduler: impl IntoScheduler,
    ) -> Self {
        let raw = RawSubject {
            conn: Arc::clone(&conn.inner),
            subject: subject.into(),
            loc: Location::caller(),
        };
        let policy_stage = raw.on_backpressure_buffer(capacity, policy);
        let dropped = policy_stage.drop_counter();
        CoreSubject {
            inner: policy_stage.publish_on_with(scheduler, rstreams::hop::DEFAULT_PREFETCH),
            dropped,
        }
    }

    /// Messages the policy dropped so far, over every subscription.
    pub fn drop_counter(&self) -> DropCounter {
        self.dropped.clone()
    }
}

impl Publisher for CoreSubject {
    type Item = CoreMessage;
    fn subscribe<S: Subscriber<CoreMessage> + Send + 'static>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
}

/// The hot subject itself; only ever subscribed by the policy stage (which requests
/// unbounded demand), so it can push every message as it arrives.
struct RawSubject {
    conn: Arc<Inner>,
    subject: String,
    loc: &'static Location<'static>,
}

struct RawShared {
    demand: Demand,
    cancelled: AtomicBool,
    notify: Notify,
}

struct RawSubscription(Arc<RawShared>);

impl Subscription for RawSubscription {
    fn request(&self, n: u64) {
        self.0.demand.request(n);
        self.0.notify.notify_one();
    }
    fn cancel(&self) {
        self.0.demand.cancel();
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_one();
    }
}

impl Publisher for RawSubject {
    type Item = CoreMessage;
    fn subscribe<S: Subscriber<CoreMessage> + Send + 'static>(&self, mut subscriber: S) {
        let shared = Arc::new(RawShared {
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            notify: Notify::new(),
        });
        subscriber.on_subscribe(Box::new(RawSubscription(Arc::clone(&shared))));
        let client = self.conn.client.clone();
        let subject = self.subject.clone();
        let loc = self.loc;
        self.conn.runtime.handle().spawn(async move {
            let mut sub = match client.subscribe(subject.clone()).await {
                Ok(s) => s,
                Err(e) => {
                    if !shared.cancelled.load(Ordering::SeqCst) {
                        subscriber.on_error(
                            Error::new(NatsError::Setup(format!("subscribe to `{subject}`: {e}")))
                                .at_stage(loc),
                        );
                    }
                    return;
                }
            };
            loop {
                if shared.cancelled.load(Ordering::SeqCst) {
                    break;
                }
                if shared.demand.has_invalid_request() {
                    subscriber.on_error(
                        Error::violation(rstreams_protocol::Rule::R3_9, "request(0)").at_stage(loc),
                    );
                    break;
                }
                tokio::select! {
                    m = sub.next() => match m {
                        Some(m) => {
                            // The policy stage asked for unbounded demand; anything else would
                            // be a bug there, so an item without demand is dropped and logged
                            // rather than sent (1.1).
                            if shared.demand.get() == 0 {
                                tracing::warn!(%subject, "rstreams-nats: core message without demand dropped");
                                continue;
                            }
                            shared.demand.produced(1);
                            subscriber.on_next(CoreMessage {
                                subject: m.subject.to_string(),
                                reply: m.reply.map(|r| r.to_string()),
                                payload: m.payload,
                                headers: m.headers,
                            });
                        }
                        None => {
                            if !shared.cancelled.load(Ordering::SeqCst) {
                                subscriber.on_error(Error::new(NatsError::ConnectionLost {
                                    budget: std::time::Duration::ZERO,
                                    during: format!("receiving on core subject `{subject}` (connection closed)"),
                                }).at_stage(loc));
                            }
                            break;
                        }
                    },
                    _ = shared.notify.notified() => {}
                }
            }
            let _ = sub.unsubscribe().await;
        });
    }
}
