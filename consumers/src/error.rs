//! The one error type of the consumers crate.

use rdkafka::error::KafkaError;

/// What can go wrong reading topics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration, naming the key.
    #[error(transparent)]
    Config(#[from] producers::Error),
    /// A client error.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A topic the caller named does not exist.
    #[error("topic `{0}` does not exist")]
    UnknownTopic(String),
    /// The range was not read in time.
    #[error("timed out reading {topic}[{partition}] at offset {at} of {end}")]
    Timeout {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset reached.
        at: i64,
        /// Offset wanted.
        end: i64,
    },
    /// The blocking reader task died.
    #[error("reader task failed: {0}")]
    Task(String),
    /// The metrics registry could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// A replay bound that cannot be parsed or resolved.
    #[error("bad --{which} `{value}`: {problem}")]
    Bound {
        /// `from` or `to`.
        which: &'static str,
        /// What was given.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// A replay or redrive that must not run as asked (it would touch a live group, ...).
    #[error("refused: {0}")]
    Refused(String),
    /// A copy (replay, redrive, ledger record) was not acknowledged by the broker.
    #[error("publishing to {topic} failed: {error}")]
    Publish {
        /// Destination topic.
        topic: String,
        /// The producer's reason.
        error: String,
    },
}

/// `Result` with the consumers crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
