//! The connection: one async-nats client on one tokio runtime thread owned by the connector.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use async_nats::jetstream;
use rstreams_protocol::Error;
use tokio::runtime::Handle;

use crate::error::NatsError;

/// How to reach the NATS server, built before [`connect`](ConnectOptions::connect).
///
/// ```no_run
/// use std::time::Duration;
/// use rstreams_nats::ConnectOptions;
///
/// let conn = ConnectOptions::new("nats://127.0.0.1:4222")
///     .connect_timeout(Duration::from_secs(2))
///     .reconnect_budget(Duration::from_secs(30))
///     .name("orders-worker")
///     .connect()?;
/// # Ok::<(), rstreams_nats::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    url: String,
    connect_timeout: Duration,
    request_timeout: Duration,
    reconnect_budget: Duration,
    name: Option<String>,
    credentials_file: Option<PathBuf>,
    user_password: Option<(String, String)>,
    token: Option<String>,
    require_tls: bool,
    root_certificates: Vec<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
}

impl ConnectOptions {
    /// Options for the server(s) at `url` (`nats://host:port`; several separated by commas).
    /// Defaults: connect timeout 5 s, request timeout 5 s, reconnect budget 30 s, no auth, TLS
    /// only if the server asks for it.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            reconnect_budget: Duration::from_secs(30),
            name: None,
            credentials_file: None,
            user_password: None,
            token: None,
            require_tls: false,
            root_certificates: Vec::new(),
            client_certificate: None,
        }
    }

    /// How long [`connect`](Self::connect) waits for the first connection before it fails.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long JetStream API requests (stream/consumer lookups) and PubAcks are awaited.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a source or sink keeps retrying while the connection is down before it fails
    /// its subscriber with [`NatsError::ConnectionLost`]. The client reconnects by itself
    /// meanwhile (with a back-off capped at one second).
    pub fn reconnect_budget(mut self, budget: Duration) -> Self {
        self.reconnect_budget = budget;
        self
    }

    /// The client name the server shows in its monitoring.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Authenticates with a `.creds` file (JWT and NKey seed), as issued by `nsc`.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials_file = Some(path.into());
        self
    }

    /// Authenticates with a user name and password.
    pub fn user_and_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.user_password = Some((user.into(), password.into()));
        self
    }

    /// Authenticates with a token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Refuses to connect without TLS.
    pub fn require_tls(mut self, required: bool) -> Self {
        self.require_tls = required;
        self
    }

    /// Trusts the CA certificates in this PEM file (in addition to the system's).
    pub fn add_root_certificates(mut self, pem: impl Into<PathBuf>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// Presents this client certificate and key (PEM files) for mutual TLS.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self
    }

    /// Starts the connector's runtime thread and connects. Fails with
    /// [`NatsError::Connect`] (naming the URL) when no server answers within the connect
    /// timeout. May be called from any thread, including one inside another async runtime.
    pub fn connect(self) -> Result<Connection, Error> {
        let runtime = Runtime::start().map_err(|e| {
            Error::new(NatsError::Connect {
                url: self.url.clone(),
                cause: format!("cannot start the connector thread: {e}"),
            })
        })?;
        let url = self.url.clone();
        let timeout = self.connect_timeout;
        let options = self.clone();
        let connected = runtime.run(async move {
            let mut o = async_nats::ConnectOptions::new()
                .connection_timeout(options.connect_timeout)
                .request_timeout(Some(options.request_timeout))
                .max_reconnects(None)
                .reconnect_delay_callback(|attempts| {
                    Duration::from_millis((50 * attempts as u64).min(1000))
                })
                .event_callback(|event| async move { trace_event(event) });
            if let Some(name) = &options.name {
                o = o.name(name);
            }
            if let Some(path) = &options.credentials_file {
                o = o
                    .credentials_file(path)
                    .await
                    .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
            }
            if let Some((u, p)) = &options.user_password {
                o = o.user_and_password(u.clone(), p.clone());
            }
            if let Some(t) = &options.token {
                o = o.token(t.clone());
            }
            if options.require_tls {
                o = o.require_tls(true);
            }
            for pem in &options.root_certificates {
                o = o.add_root_certificates(pem.clone());
            }
            if let Some((c, k)) = &options.client_certificate {
                o = o.add_client_certificate(c.clone(), k.clone());
            }
            match tokio::time::timeout(options.connect_timeout, o.connect(options.url.as_str()))
                .await
            {
                // The JetStream context spawns its acker task: build it on the runtime.
                Ok(Ok(client)) => Ok((client.clone(), jetstream::new(client))),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "no server answered within the connect timeout ({:?})",
                    options.connect_timeout
                )),
            }
        });
        let (client, js) = match connected {
            Some(Ok(pair)) => pair,
            Some(Err(cause)) => return Err(Error::new(NatsError::Connect { url, cause })),
            None => {
                return Err(Error::new(NatsError::Connect {
                    url,
                    cause: format!("no answer within the connect timeout ({timeout:?})"),
                }));
            }
        };
        tracing::info!(url = %self.url, "rstreams-nats: connected");
        Ok(Connection {
            inner: Arc::new(Inner {
                runtime,
                client,
                js,
                options: self,
            }),
        })
    }
}

fn trace_event(event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => tracing::info!("rstreams-nats: (re)connected"),
        async_nats::Event::Disconnected => {
            tracing::warn!("rstreams-nats: disconnected; reconnecting")
        }
        async_nats::Event::SlowConsumer(sid) => {
            tracing::warn!(
                sid,
                "rstreams-nats: client-side slow consumer (messages dropped)"
            )
        }
        other => tracing::info!(event = %other, "rstreams-nats: connection event"),
    }
}

/// The runtime thread: a current-thread tokio runtime driven by one named thread until the
/// last [`Connection`] clone (and every source and sink made from it) is gone.
pub(crate) struct Runtime {
    handle: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Runtime {
    fn start() -> std::io::Result<Runtime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("rstreams-nats-blocking")
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("rstreams-nats".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Runtime {
            handle,
            stop: Some(stop),
        })
    }

    /// Runs `f` on the runtime and waits for it on the calling thread (any thread: the wait
    /// is a plain channel, not a nested `block_on`). `None` if the runtime stopped first.
    pub(crate) fn run<F>(&self, f: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().ok()
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) struct Inner {
    pub(crate) runtime: Runtime,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) options: ConnectOptions,
}

impl Inner {
    pub(crate) fn reconnect_budget(&self) -> Duration {
        self.options.reconnect_budget
    }
    pub(crate) fn request_timeout(&self) -> Duration {
        self.options.request_timeout
    }
    pub(crate) fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// A connection to a NATS server, shared by every source and sink made from it. Cheap to
/// clone. The connector's runtime thread stops when the last clone and the last source, sink
/// and subscription using it are dropped.
#[derive(Clone)]
pub struct Connection {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.inner.options.url)
            .field("connected", &self.inner.is_connected())
            .finish()
    }
}

impl Connection {
    /// Connects with default [`ConnectOptions`].
    pub fn connect(url: impl Into<String>) -> Result<Connection, Error> {
        ConnectOptions::new(url).connect()
    }

    /// Runs a future on the connector's runtime and waits for its output on the calling
    /// thread: the escape hatch for what this crate does not wrap (stream administration,
    /// key-value buckets...), using [`client`](Self::client) or [`jetstream`](Self::jetstream).
    ///
    /// Do not call it from inside a source's or sink's callbacks that run on the connector
    /// thread (none of this crate's callbacks do).
    pub fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner
            .runtime
            .run(f)
            .expect("the connector runtime outlives every Connection clone")
    }

    /// The underlying async-nats client.
    pub fn client(&self) -> async_nats::Client {
        self.inner.client.clone()
    }

    /// The JetStream context of this connection.
    pub fn jetstream(&self) -> jetstream::Context {
        self.inner.js.clone()
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// Creates the stream if it does not exist (or returns the existing one's config
    /// unchanged): a convenience for examples and tests.
    pub fn ensure_stream(&self, config: jetstream::stream::Config) -> Result<(), Error> {
        let js = self.jetstream();
        let name = config.name.clone();
        self.block_on(async move { js.get_or_create_stream(config).await.map(|_| ()) })
            .map_err(|e| Error::new(NatsError::Setup(format!("stream {name}: {e}"))))
    }

    /// The server's view of a consumer: delivered-but-unacknowledged, pending and redelivered
    /// counts. Fails with [`NatsError::ConsumerNotFound`] when there is no such consumer.
    pub fn consumer_stats(&self, stream: &str, consumer: &str) -> Result<ConsumerStats, Error> {
        let js = self.jetstream();
        let (s, c) = (stream.to_owned(), consumer.to_owned());
        let got = self.block_on(async move {
            let stream = js.get_stream(&s).await.map_err(|_| 0)?;
            let mut consumer: jetstream::consumer::PullConsumer =
                stream.get_consumer(&c).await.map_err(|_| 1)?;
            let info = consumer.info().await.map_err(|_| 1)?;
            Ok::<_, u8>(ConsumerStats {
                num_ack_pending: info.num_ack_pending as u64,
                num_pending: info.num_pending,
                num_redelivered: info.num_redelivered as u64,
                delivered_stream_sequence: info.delivered.stream_sequence,
                ack_floor_stream_sequence: info.ack_floor.stream_sequence,
            })
        });
        got.map_err(|which| {
            Error::new(if which == 0 {
                NatsError::StreamNotFound {
                    stream: stream.to_owned(),
                }
            } else {
                NatsError::ConsumerNotFound {
                    stream: stream.to_owned(),
                    consumer: consumer.to_owned(),
                }
            })
        })
    }

    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.runtime.handle().spawn(f);
    }
}

/// A consumer's counters as the server reports them ([`Connection::consumer_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Messages delivered to clients and not acknowledged yet.
    pub num_ack_pending: u64,
    /// Messages in the stream this consumer has not delivered yet.
    pub num_pending: u64,
    /// Messages delivered more than once (distinct messages, not attempts).
    pub num_redelivered: u64,
    /// The last stream sequence delivered.
    pub delivered_stream_sequence: u64,
    /// Every message up to this stream sequence is acknowledged.
    pub ack_floor_stream_sequence: u64,
}
