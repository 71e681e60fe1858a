//! Topics made for one test through the admin API (auto-creation is off on the test brokers,
//! and production should not rely on it), and what the cluster's metadata says of a topic.

use std::time::Duration;

use producers::admin::{TopicSpec, create_topics};
use producers::{KafkaConfig, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::kafka::{kafka, plain_client};
use crate::names::unique;

/// Fresh order and payment topics on the shared broker, `partitions` partitions each.
pub async fn fresh_topics(partitions: i32) -> TopicsConfig {
    fresh_topics_on(&kafka(), partitions, 1).await
}

/// Fresh order and payment topics on the brokers of `kafka`.
pub async fn fresh_topics_on(
    kafka: &KafkaConfig,
    partitions: i32,
    replication_factor: i32,
) -> TopicsConfig {
    let topics = TopicsConfig {
        order_events: unique("it-orders"),
        payment_events: unique("it-payments"),
        partitions,
        replication_factor,
    };
    create_on(
        kafka,
        &[&topics.order_events, &topics.payment_events],
        partitions,
        replication_factor,
    )
    .await;
    topics
}

/// Creates `names` on the shared broker with `partitions` partitions.
pub async fn create(names: &[&str], partitions: i32) {
    create_on(&kafka(), names, partitions, 1).await;
}

/// Creates `names` on the brokers of `kafka`.
pub async fn create_on(kafka: &KafkaConfig, names: &[&str], partitions: i32, replication: i32) {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|n| TopicSpec {
            name: (*n).to_owned(),
            partitions,
            replication_factor: replication,
        })
        .collect();
    create_topics(kafka, &specs, Duration::from_secs(30))
        .await
        .expect("create topics");
}

/// One partition as the cluster's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition number.
    pub id: i32,
    /// Leader's broker id (-1 for none).
    pub leader: i32,
    /// Brokers holding a replica.
    pub replicas: Vec<i32>,
    /// Replicas in sync.
    pub isr: Vec<i32>,
}

/// The partitions of `topic` at `bootstrap`, or `None` when the cluster does not have it.
pub fn describe(bootstrap: &str, topic: &str) -> Option<Vec<PartitionInfo>> {
    let consumer: BaseConsumer = plain_client(bootstrap).create().expect("client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return None;
    }
    let mut parts: Vec<PartitionInfo> = t
        .partitions()
        .iter()
        .map(|p| PartitionInfo {
            id: p.id(),
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            isr: p.isr().to_vec(),
        })
        .collect();
    parts.sort_by_key(|p| p.id);
    Some(parts)
}
