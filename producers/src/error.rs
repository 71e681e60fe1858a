//! The one error type of the producers crate.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use uuid::Uuid;

/// What can go wrong configuring, publishing or administering topics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config key has a bad value; `key` is its dotted path in `orderbus.toml`.
    #[error("config `{key}`: {problem}")]
    Config {
        /// Dotted key, e.g. `producer.acks`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The event breaks its schema and was refused before anything was sent.
    #[error("event refused before sending: {0}")]
    Invalid(#[from] events::Error),
    /// A typed producer was handed an event of the other stream.
    #[error("{event_type} belongs to the {expected} stream; use the matching producer")]
    WrongStream {
        /// The event's type.
        event_type: events::EventType,
        /// The stream it belongs to.
        expected: &'static str,
    },
    /// The local queue stayed full for the whole wait.
    #[error("producer queue stayed full for {0:?}; the broker is not keeping up or is down")]
    QueueFull(Duration),
    /// The broker did not acknowledge the event.
    #[error("delivery of event {event_id} to {topic} failed: {source}")]
    Delivery {
        /// The event.
        event_id: Uuid,
        /// Where it was going.
        topic: String,
        /// librdkafka's reason (timeout, authorization, ...).
        source: KafkaError,
    },
    /// The producer shut down before reporting a delivery.
    #[error("producer shut down before the delivery of {0} was reported")]
    Canceled(Uuid),
    /// `flush` ended with events still undelivered.
    #[error("flush timed out with {0} events still in flight")]
    FlushTimeout(u64),
    /// A topic could not be created or inspected.
    #[error("topic `{topic}`: {problem}")]
    Topic {
        /// Topic name.
        topic: String,
        /// What went wrong.
        problem: String,
    },
    /// The cluster did not answer at start (address, credentials or TLS).
    #[error("cannot connect to Kafka at {servers}: {reason}")]
    Connect {
        /// `kafka.bootstrap_servers`.
        servers: String,
        /// What librdkafka reported.
        reason: String,
    },
    /// Any other client error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

impl Error {
    pub(crate) fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Whether trying again later may succeed (broker trouble), as opposed to a bad event or
    /// bad config that will fail the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::QueueFull(_)
                | Error::Delivery { .. }
                | Error::FlushTimeout(_)
                | Error::Connect { .. }
                | Error::Kafka(_)
        )
    }

    /// Whether the message is larger than the producer or the broker takes
    /// (`message.max.bytes`): sending it again as it is will fail the same way.
    pub fn is_too_large(&self) -> bool {
        let code = match self {
            Error::Delivery { source, .. } | Error::Kafka(source) => source.rdkafka_error_code(),
            _ => None,
        };
        code == Some(RDKafkaErrorCode::MessageSizeTooLarge)
    }
}

/// `Result` with the producers crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
