//! Committing finished offsets: the periodic commit (asynchronous; its result comes back through
//! the client's commit callback), the synchronous commit of partitions being revoked and at
//! shutdown, and [`CommitWatch`], which counts every result and logs a failing burst once when
//! it starts and once when commits succeed again, instead of once per failed commit.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;

/// Commits of one client: counted, and failures logged once per burst.
#[derive(Debug, Default)]
pub(crate) struct CommitWatch {
    /// Failures since the last success.
    failing: AtomicU64,
}

impl CommitWatch {
    /// Records one commit's result (from the commit callback or a synchronous commit).
    pub(crate) fn observe(&self, group: &str, stats: &GroupStats, result: &KafkaResult<()>) {
        match result {
            Ok(()) => {
                stats.record_commit(true);
                let failed = self.failing.swap(0, Ordering::Relaxed);
                if failed > 0 {
                    tracing::info!(%group, failed, "offset commits succeed again");
                }
            }
            Err(e) => {
                stats.record_commit(false);
                if self.failing.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(%group, error = %e, "offset commit failed; the offsets stay where the last commit left them and are committed again at the next interval");
                }
            }
        }
    }
}

/// The commit points of `state` that moved, as a list to commit; none when nothing moved.
pub(crate) fn moved(state: &ClientState) -> Option<TopicPartitionList> {
    let points = state.with(|t| t.take_commits());
    if points.is_empty() {
        return None;
    }
    let mut list = TopicPartitionList::new();
    for (topic, partition, at) in &points {
        list.add_partition_offset(topic, *partition, Offset::Offset(*at))
            .ok()?;
    }
    Some(list)
}

/// Commits what moved: asynchronously (the periodic commit, observed in the callback) or
/// synchronously (shutdown; observed here).
pub(crate) fn commit<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    state: &ClientState,
    mode: CommitMode,
    watch: &CommitWatch,
    group: &str,
    stats: &GroupStats,
) {
    let Some(list) = moved(state) else {
        return;
    };
    let sync = matches!(mode, CommitMode::Sync);
    let result = consumer.commit(&list, mode);
    // An async commit's result arrives in the commit callback; only a failure to even send it
    // shows here.
    if sync || result.is_err() {
        watch.observe(group, stats, &result);
    }
}
