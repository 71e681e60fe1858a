//! The topics a group owns, `<group>.dlq` and (with retry rounds) `<group>.retry`, made when
//! missing with the configured replication factor and the source topics' partition count, so
//! that under the range assignor a key's retry partition belongs to the member that owns its
//! source partition (which block-key needs).

use std::time::Duration;

use producers::KafkaConfig;
use producers::admin::{TopicSpec, ensure_topics, partition_counts};

use crate::error::Result;
use crate::runtime::config::{dead_letter_topic, retry_topic};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A group's own topics.
#[derive(Debug, Clone)]
pub(crate) struct OwnTopics {
    /// `<group>.dlq`.
    pub(crate) dlq: String,
    /// `<group>.retry`; read back only when `retrying`.
    pub(crate) retry: String,
    /// The group has retry rounds, so reads its retry topic.
    pub(crate) retrying: bool,
}

/// What [`prepare`] needs to know about the group.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    pub(crate) kafka: &'a KafkaConfig,
    pub(crate) group: &'a str,
    pub(crate) sources: &'a [String],
    pub(crate) retrying: bool,
    /// Partitions when no source topic exists yet (`topics.partitions`).
    pub(crate) partitions: i32,
    /// `topics.replication_factor`.
    pub(crate) replication: i32,
}

/// Makes sure the group's own topics exist.
pub(crate) async fn prepare(layout: &Layout<'_>) -> Result<OwnTopics> {
    let own = OwnTopics {
        dlq: dead_letter_topic(layout.group),
        retry: retry_topic(layout.group),
        retrying: layout.retrying,
    };
    let mut names = vec![own.dlq.clone()];
    if own.retrying {
        names.push(own.retry.clone());
    }
    let partitions = co_partitions(layout, &own).await?;
    let specs: Vec<TopicSpec> = names
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions,
            replication_factor: layout.replication,
        })
        .collect();
    ensure_topics(layout.kafka, &specs, TIMEOUT).await?;
    Ok(own)
}

/// The partition count for the group's own topics: the source topics' (so that, with the
/// range assignor, a key's retry partition belongs to the member owning its source partition),
/// or the configured count if none exists yet. Says so when that cannot hold.
async fn co_partitions(layout: &Layout<'_>, own: &OwnTopics) -> Result<i32> {
    let counts = partition_counts(layout.kafka, layout.sources, TIMEOUT).await?;
    let known: Vec<usize> = counts.iter().flatten().copied().collect();
    let Some(&most) = known.iter().max() else {
        return Ok(layout.partitions);
    };
    let group = layout.group;
    if own.retrying && known.iter().any(|&c| c != most) {
        tracing::warn!(%group, topics = ?layout.sources, counts = ?counts, "source topics differ in partition count: with block-key, a key's parked events may be read by another member than its live ones");
    }
    if own.retrying
        && let Some(Some(existing)) =
            partition_counts(layout.kafka, std::slice::from_ref(&own.retry), TIMEOUT)
                .await?
                .first()
        && *existing != most
    {
        tracing::warn!(%group, topic = %own.retry, partitions = existing, source_partitions = most, "the retry topic's partition count differs from the source topics'");
    }
    Ok(i32::try_from(most).unwrap_or(layout.partitions))
}
