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
}

/// `Result` with the consumers crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
