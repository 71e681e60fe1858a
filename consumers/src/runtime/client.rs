//! One Kafka client of a group: its librdkafka settings and its context, which librdkafka calls
//! back on statistics (consumer lag per partition), commit results, and rebalances (on revoke,
//! the revoked partitions' running events may finish and their offsets are committed before the
//! partitions move on).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use producers::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::{ClientConfig, ClientContext, Offset, Statistics, TopicPartitionList};

use crate::runtime::commit::CommitWatch;
use crate::runtime::config::{GroupConfig, OffsetReset};
use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;
use crate::runtime::retry::Parking;

/// What librdkafka's callbacks of one client need.
pub(crate) struct GroupContext {
    pub(crate) state: Arc<ClientState>,
    pub(crate) stats: Arc<GroupStats>,
    pub(crate) parking: Arc<Parking>,
    pub(crate) commits: Arc<CommitWatch>,
    pub(crate) drain: Duration,
    pub(crate) group: String,
}

/// librdkafka settings of client `index` of group `name`.
pub(crate) fn client_config(
    kafka: &KafkaConfig,
    name: &str,
    config: &GroupConfig,
    index: usize,
) -> ClientConfig {
    let mut c = kafka.client_config();
    // Range assignment keeps a key's source and retry partitions with one member (see
    // `topics::co_partitions`); an explicit choice in `kafka.properties` stands.
    if c.get("partition.assignment.strategy").is_none() {
        c.set("partition.assignment.strategy", "range");
    }
    let reset = match config.offset_reset {
        OffsetReset::Earliest => "earliest",
        OffsetReset::Latest => "latest",
    };
    c.set("group.id", name)
        .set("client.id", format!("{}-{name}-{index}", kafka.client_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", reset)
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set(
            "max.poll.interval.ms",
            config.max_poll_interval_ms.to_string(),
        )
        .set("fetch.max.bytes", config.fetch_max_bytes.to_string())
        .set(
            "statistics.interval.ms",
            config.commit_interval_ms.max(1_000).to_string(),
        )
        .set(
            "queued.max.messages.kbytes",
            config.queued_max_kbytes.to_string(),
        );
    c
}

impl ClientContext for GroupContext {
    /// Consumer lag per partition from librdkafka's statistics: the high watermark it saw in
    /// its last fetch response costs no extra request, unlike ListOffsets.
    fn stats(&self, statistics: Statistics) {
        let points = self.state.with(|t| t.commit_points());
        let mut lags = Vec::new();
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                if partition < 0 || !p.desired || p.hi_offset < 0 {
                    continue;
                }
                // Where the group stands: our commit point, or before any event is done the
                // offset committed earlier.
                let at = points
                    .iter()
                    .find(|(pt, pp, _)| pt == topic && *pp == partition)
                    .map_or(p.committed_offset, |(_, _, at)| *at);
                if at >= 0 {
                    lags.push(((topic.clone(), partition), (p.hi_offset - at).max(0)));
                }
            }
        }
        self.stats.set_lag(lags);
        self.stats.refresh();
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.stats
                .assigned
                .fetch_add(list.count() as u64, Ordering::Relaxed);
            tracing::info!(group = %self.group, partitions = list.count(), "partitions assigned");
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.revoke(consumer, list);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _: &TopicPartitionList) {
        self.commits.observe(&self.group, &self.stats, &result);
    }
}

impl GroupContext {
    /// Lets the revoked partitions' running events finish (within the drain deadline) and
    /// commits them, so the new owner starts after them instead of redoing them.
    fn revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) {
        let _ = self
            .stats
            .assigned
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(list.count() as u64))
            });
        let revoked: Vec<(String, i32)> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let deadline = Instant::now() + self.drain;
        while Instant::now() < deadline
            && self.state.with(|t| t.in_flight_of(&revoked))
                > self.state.delayed.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut commit = TopicPartitionList::new();
        for (topic, partition) in &revoked {
            if let Some(at) = self.state.with(|t| t.revoke(topic, *partition))
                && commit
                    .add_partition_offset(topic, *partition, Offset::Offset(at))
                    .is_err()
            {
                tracing::warn!(group = %self.group, %topic, partition, "cannot list offset for commit");
            }
        }
        if commit.count() > 0 {
            let result = consumer.commit(&commit, CommitMode::Sync);
            self.commits.observe(&self.group, &self.stats, &result);
        }
        let numbers: Vec<i32> = revoked.iter().map(|(_, p)| *p).collect();
        self.parking.revoke(&numbers);
        self.stats.forget_lag(&revoked);
        tracing::info!(group = %self.group, partitions = revoked.len(), "partitions revoked");
    }
}
