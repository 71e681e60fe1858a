//! The write side of orderbus: typed producers over one shared Kafka producer, their config,
//! and topic administration.
//!
//! - [`producer`]: [`EventProducer`] (shared, validated, keyed, with headers), [`OrderProducer`],
//!   [`PaymentProducer`], deliveries and failure accounting.
//! - [`config`]: `[kafka]`, `[producer]`, `[topics]` settings, validated with located errors.
//! - [`admin`]: idempotent topic creation.
//! - [`connect`]: the check a command makes at start that the cluster answers.
//! - [`secret`]: config values that never print.
//! - [`error`]: the crate's one error type.

pub mod admin;
pub mod config;
pub mod connect;
pub mod error;
pub mod producer;
/// Re-exported from `events`, where every crate that reads credentials can share it.
pub use events::secret;

pub use config::{KafkaConfig, ProducerConfig, TopicsConfig};
pub use error::{Error, Result};
pub use producer::{
    Delivery, DeliveryFailure, EventProducer, OrderProducer, PaymentProducer, PendingDelivery,
    ProducerStats, RawRecord,
};
pub use secret::Secret;
