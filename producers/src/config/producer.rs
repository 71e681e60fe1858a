//! `[producer]`: acknowledgements, idempotence, batching, compression and delivery timeouts of
//! the event producer, checked and applied to its librdkafka configuration.

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How many replicas must acknowledge a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acks {
    /// Every in-sync replica (`acks=all`); required for idempotence.
    All,
    /// The partition leader only.
    Leader,
    /// Nobody: fire and forget.
    None,
}

/// Payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Uncompressed.
    None,
    /// gzip
    Gzip,
    /// snappy
    Snappy,
    /// lz4
    Lz4,
    /// zstd
    Zstd,
}

impl Compression {
    fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Producer settings (`[producer]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// Written into every event's `producer` field.
    pub name: String,
    /// Acknowledgements to wait for; `all` unless idempotence is off.
    pub acks: Acks,
    /// Exactly-once per partition on retries (needs `acks = "all"`).
    pub enable_idempotence: bool,
    /// How long to wait to fill a batch (librdkafka `linger.ms`).
    pub linger_ms: u32,
    /// Largest batch in bytes (`batch.size`).
    pub batch_size: u32,
    /// Largest batch in messages (`batch.num.messages`).
    pub batch_num_messages: u32,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    pub compression: Compression,
    /// Delivery timeout: a publish fails after this long without an acknowledgement.
    pub message_timeout_ms: u32,
    /// Local queue bound in messages; a full queue makes `publish` wait, not buffer more.
    pub queue_max_messages: u32,
    /// How long `publish` waits for room in a full queue before failing.
    pub queue_full_timeout_ms: u32,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            name: "orderbus".into(),
            acks: Acks::All,
            enable_idempotence: true,
            linger_ms: 5,
            batch_size: 1_000_000,
            batch_num_messages: 10_000,
            compression: Compression::Lz4,
            message_timeout_ms: 30_000,
            queue_max_messages: 100_000,
            queue_full_timeout_ms: 10_000,
        }
    }
}

impl ProducerConfig {
    /// Checks every key; the error names the first that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.chars().count() > 100 {
            return Err(Error::config("producer.name", "must be 1-100 characters"));
        }
        if self.enable_idempotence && self.acks != Acks::All {
            return Err(Error::config(
                "producer.acks",
                "must be \"all\" while producer.enable_idempotence is true",
            ));
        }
        if self.linger_ms > 900_000 {
            return Err(Error::config(
                "producer.linger_ms",
                "must be at most 900000",
            ));
        }
        if !(1..=1_000_000).contains(&self.batch_num_messages) {
            return Err(Error::config(
                "producer.batch_num_messages",
                "must be between 1 and 1000000",
            ));
        }
        if !(1..=2_147_483_647).contains(&self.batch_size) {
            return Err(Error::config("producer.batch_size", "must be at least 1"));
        }
        if self.message_timeout_ms <= self.linger_ms {
            return Err(Error::config(
                "producer.message_timeout_ms",
                "must be greater than producer.linger_ms",
            ));
        }
        if !(1..=10_000_000).contains(&self.queue_max_messages) {
            return Err(Error::config(
                "producer.queue_max_messages",
                "must be between 1 and 10000000",
            ));
        }
        Ok(())
    }

    /// Adds the producer properties to a client config.
    pub fn apply(&self, c: &mut ClientConfig) {
        c.set(
            "acks",
            match self.acks {
                Acks::All => "all",
                Acks::Leader => "1",
                Acks::None => "0",
            },
        )
        .set("enable.idempotence", self.enable_idempotence.to_string())
        .set("linger.ms", self.linger_ms.to_string())
        .set("batch.size", self.batch_size.to_string())
        .set("batch.num.messages", self.batch_num_messages.to_string())
        .set("compression.type", self.compression.as_str())
        .set("message.timeout.ms", self.message_timeout_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            self.queue_max_messages.to_string(),
        )
        // The Java client's placement, so every language puts an order on the same partition.
        .set("partitioner", "murmur2_random");
    }
}
