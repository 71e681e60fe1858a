//! When a demo group is done, counted by event and not by handler calls (a rebalance makes a
//! group handle some events again, which handler counts would mistake for progress): every
//! partition the group reads has its commit at the end the partition had once everything was
//! published, and nothing it parked on its retry topic is still waiting. The runtime commits an
//! offset only when that event and every one before it were handled or dead-lettered, so the
//! commits say exactly how many events are finished for good.

use std::time::Duration;

use anyhow::Context as _;
use producers::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Where each partition a group reads ended once everything was published.
#[derive(Debug, Clone)]
pub struct Ends(Vec<(String, i32, i64)>);

impl Ends {
    /// The high watermark of every partition of `topics` now.
    pub async fn now(kafka: &KafkaConfig, topics: &[String]) -> anyhow::Result<Ends> {
        let (kafka, topics) = (kafka.clone(), topics.to_vec());
        tokio::task::spawn_blocking(move || {
            let client = client(&kafka, None)?;
            let mut ends = Vec::new();
            for topic in &topics {
                for (partition, high) in watermarks(&client, topic)? {
                    ends.push((topic.clone(), partition, high));
                }
            }
            Ok(Ends(ends))
        })
        .await?
    }

    /// Events in all.
    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .map(|(_, _, end)| u64::try_from(*end).unwrap_or(0))
            .sum()
    }
}

/// How far a group is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Events finished for good (handled or dead-lettered), by the group's commits.
    pub finished: u64,
    /// Events it parked on its retry topic that are not finished yet.
    pub parked: u64,
}

impl Progress {
    /// Every event finished and nothing left parked.
    pub fn settled(&self, ends: &Ends) -> bool {
        self.finished >= ends.total() && self.parked == 0
    }
}

/// Reads `group`'s commits on its source partitions and its retry topic.
pub async fn progress(
    kafka: &KafkaConfig,
    group: &str,
    ends: &Ends,
    retry_topic: &str,
) -> anyhow::Result<Progress> {
    let (kafka, group, ends, retry) = (
        kafka.clone(),
        group.to_owned(),
        ends.clone(),
        retry_topic.to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        let client = client(&kafka, Some(&group))?;
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, _) in &ends.0 {
            tpl.add_partition(topic, *partition);
        }
        let retry_ends = watermarks(&client, &retry).unwrap_or_default();
        for (partition, _) in &retry_ends {
            tpl.add_partition(&retry, *partition);
        }
        let committed = client
            .committed_offsets(tpl, TIMEOUT)
            .context("cannot read the group's commits")?;
        let at = |topic: &str, partition: i32| {
            committed
                .find_partition(topic, partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(0)
        };
        let finished = ends
            .0
            .iter()
            .map(|(t, p, end)| u64::try_from(at(t, *p).min(*end)).unwrap_or(0))
            .sum();
        let parked = retry_ends
            .iter()
            .map(|(p, high)| u64::try_from(high - at(&retry, *p)).unwrap_or(0))
            .sum();
        Ok(Progress { finished, parked })
    })
    .await?
}

fn client(kafka: &KafkaConfig, group: Option<&str>) -> anyhow::Result<BaseConsumer> {
    let mut config = kafka.client_config();
    config.set("allow.auto.create.topics", "false");
    if let Some(g) = group {
        config.set("group.id", g);
    }
    Ok(config.create()?)
}

fn watermarks(client: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    let metadata = client.fetch_metadata(Some(topic), TIMEOUT)?;
    let mut out = Vec::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            let (_, high) = client.fetch_watermarks(topic, p.id(), TIMEOUT)?;
            out.push((p.id(), high));
        }
    }
    Ok(out)
}
