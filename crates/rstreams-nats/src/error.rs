//! What can go wrong between this process and the broker, as one error type. It reaches
//! subscribers wrapped in [`rstreams_protocol::Error`]; get it back with
//! `error.downcast_ref::<NatsError>()`.

use std::fmt;
use std::time::Duration;

/// A connector failure. Every variant names what it is about (URL, stream, consumer, subject,
/// sequence), so the log line alone says where to look.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatsError {
    /// No connection could be made within the connect timeout.
    Connect {
        /// The server URL tried.
        url: String,
        /// Why.
        cause: String,
    },
    /// The named stream does not exist.
    StreamNotFound {
        /// The stream's name.
        stream: String,
    },
    /// The named consumer does not exist on the stream (and the source was told to bind to an
    /// existing one).
    ConsumerNotFound {
        /// The stream's name.
        stream: String,
        /// The consumer's name.
        consumer: String,
    },
    /// A payload could not be decoded (with [`DecodeFailure::Fail`](crate::DecodeFailure::Fail)).
    /// The message is left unacknowledged, so the server redelivers it after its ack wait.
    Decode {
        /// The message's subject.
        subject: String,
        /// Its stream sequence.
        sequence: u64,
        /// The decoder's error.
        cause: String,
    },
    /// The connection stayed down longer than the reconnect budget.
    ConnectionLost {
        /// The budget that ran out.
        budget: Duration,
        /// What was being done.
        during: String,
    },
    /// A publish was not acknowledged after every attempt of the retry policy.
    Publish {
        /// The subject published to.
        subject: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
    /// Stream or consumer set-up failed for another reason.
    Setup(String),
}

impl fmt::Display for NatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsError::Connect { url, cause } => {
                write!(f, "cannot connect to NATS at {url}: {cause}")
            }
            NatsError::StreamNotFound { stream } => {
                write!(f, "JetStream stream `{stream}` not found")
            }
            NatsError::ConsumerNotFound { stream, consumer } => {
                write!(
                    f,
                    "JetStream consumer `{consumer}` not found on stream `{stream}`"
                )
            }
            NatsError::Decode {
                subject,
                sequence,
                cause,
            } => write!(
                f,
                "cannot decode the message on subject `{subject}` at stream sequence {sequence}: \
                 {cause}"
            ),
            NatsError::ConnectionLost { budget, during } => write!(
                f,
                "NATS connection lost for longer than the reconnect budget ({budget:?}) while \
                 {during}"
            ),
            NatsError::Publish {
                subject,
                attempts,
                cause,
            } => write!(
                f,
                "publish to `{subject}` not acknowledged after {attempts} attempt(s): {cause}"
            ),
            NatsError::Setup(what) => write!(f, "JetStream set-up failed: {what}"),
        }
    }
}

impl std::error::Error for NatsError {}
