//! Reads every message in a set of topics from the start up to the high watermark each
//! partition had when the call began, without joining a consumer group or committing anything.
//! New messages arriving meanwhile are not included, so the call always ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use producers::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::error::{Error, Result};

/// Reads `topics` up to their current end; messages come back per partition in offset order.
pub async fn read_all(
    kafka: &KafkaConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<OwnedMessage>> {
    kafka.validate()?;
    let mut config: ClientConfig = kafka.client_config();
    config
        .set("group.id", "orderbus-snapshot")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    let topics = topics.to_vec();
    tokio::task::spawn_blocking(move || read_blocking(&config, &topics, timeout))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

fn read_blocking(
    config: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<OwnedMessage>> {
    let consumer: BaseConsumer = config.create()?;
    let deadline = Instant::now() + timeout;
    let mut ends: HashMap<(String, i32), i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| Error::UnknownTopic(topic.clone()))?;
        for p in t.partitions() {
            let (low, high) = consumer.fetch_watermarks(topic, p.id(), timeout)?;
            if high > low {
                ends.insert((topic.clone(), p.id()), high);
                assignment.add_partition_offset(topic, p.id(), Offset::Offset(low))?;
            }
        }
    }
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    consumer.assign(&assignment)?;
    let mut out = Vec::new();
    let mut position: HashMap<(String, i32), i64> = HashMap::new();
    while position.len() < ends.len() || position.iter().any(|(k, at)| *at < ends[k]) {
        if Instant::now() >= deadline {
            let ((topic, partition), end) = ends
                .iter()
                .find(|(k, end)| position.get(*k).copied().unwrap_or(0) < **end)
                .map(|(k, e)| (k.clone(), *e))
                .unwrap_or_default();
            let at = position
                .get(&(topic.clone(), partition))
                .copied()
                .unwrap_or(0);
            return Err(Error::Timeout {
                topic,
                partition,
                at,
                end,
            });
        }
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = polled?;
        let key = (m.topic().to_owned(), m.partition());
        let Some(end) = ends.get(&key) else { continue };
        if m.offset() < *end {
            out.push(m.detach());
        }
        position.insert(key, m.offset() + 1);
    }
    Ok(out)
}
