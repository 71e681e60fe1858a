//! `[topics]`: the two event topics (orders, payments), their partitions and replication, and
//! which topic an event type goes to.

use serde::{Deserialize, Serialize};

use super::check::check_topic_name;
use crate::error::{Error, Result};

/// Topic names and how `orderbus topics create` makes them (`[topics]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Topic of `order.*` events.
    pub order_events: String,
    /// Topic of `payment.*` events.
    pub payment_events: String,
    /// Partitions for new topics.
    pub partitions: i32,
    /// Replicas for new topics.
    pub replication_factor: i32,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            order_events: "order-events".into(),
            payment_events: "payment-events".into(),
            partitions: 12,
            replication_factor: 1,
        }
    }
}

impl TopicsConfig {
    /// Checks every key; the error names the first that is wrong.
    pub fn validate(&self) -> Result<()> {
        check_topic_name("topics.order_events", &self.order_events)?;
        check_topic_name("topics.payment_events", &self.payment_events)?;
        if self.order_events == self.payment_events {
            return Err(Error::config(
                "topics.payment_events",
                "must differ from topics.order_events",
            ));
        }
        if !(1..=10_000).contains(&self.partitions) {
            return Err(Error::config(
                "topics.partitions",
                "must be between 1 and 10000",
            ));
        }
        if !(1..=32).contains(&self.replication_factor) {
            return Err(Error::config(
                "topics.replication_factor",
                "must be between 1 and 32",
            ));
        }
        Ok(())
    }

    /// The topic an event type is published to.
    pub fn topic_for(&self, event_type: events::EventType) -> &str {
        match event_type.stream() {
            events::Stream::Order => &self.order_events,
            events::Stream::Payment => &self.payment_events,
        }
    }
}
