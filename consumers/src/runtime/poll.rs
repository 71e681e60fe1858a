//! One client's poll loop, on a thread of its own: subscribe, poll, hand each message to the
//! pipeline, commit what finished every `commit_interval_ms`, and at shutdown let running events
//! finish (within the drain deadline), commit and leave the group. At the in-flight limit it
//! waits for room instead of polling (see [`PollLoop::wait_for_room`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::runtime::client::GroupContext;
use crate::runtime::commit::{CommitWatch, commit};
use crate::runtime::config::GroupConfig;
use crate::runtime::handler::Handler;
use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;
use crate::runtime::pipeline::{Offer, Pipeline};
use crate::runtime::process::Work;

/// What one client's poll thread needs.
pub(crate) struct PollLoop<H> {
    pub(crate) group: String,
    pub(crate) config: GroupConfig,
    pub(crate) pipeline: Arc<Pipeline<H>>,
    pub(crate) stats: Arc<GroupStats>,
    pub(crate) commits: Arc<CommitWatch>,
    pub(crate) stop: CancellationToken,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) topics: Vec<String>,
    /// `<group>.retry` when the group reads it back.
    pub(crate) retry_topic: Option<String>,
}

impl<H: Handler> PollLoop<H> {
    /// Runs until `stop`, then drains and commits.
    pub(crate) fn run(
        self,
        consumer: &BaseConsumer<GroupContext>,
        state: &Arc<ClientState>,
    ) -> Result<()> {
        let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        let mut last_commit = Instant::now();
        let mut retry_paused = false;
        while !self.stop.is_cancelled() {
            if last_commit.elapsed() >= interval {
                self.commit(consumer, state, CommitMode::Async);
                last_commit = Instant::now();
            }
            retry_paused = self.pace_retry_topic(consumer, retry_paused)?;
            let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = match polled {
                Ok(m) => m.detach(),
                Err(e) => {
                    tracing::warn!(group = %self.group, error = %e, "consumer error");
                    continue;
                }
            };
            let taken = match self.pipeline.offer(message, state) {
                Offer::Taken => true,
                Offer::Full(work) => self.wait_for_room(work),
                Offer::Closed => false,
            };
            if !taken {
                break;
            }
        }
        self.drain(state);
        self.commit(consumer, state, CommitMode::Sync);
        consumer.unsubscribe();
        Ok(())
    }

    fn commit(&self, consumer: &BaseConsumer<GroupContext>, state: &ClientState, mode: CommitMode) {
        commit(
            consumer,
            state,
            mode,
            &self.commits,
            &self.group,
            &self.stats,
        );
    }

    /// At the in-flight limit: waits for room without polling. librdkafka stops fetching on its
    /// own once its prefetch queue is full (`queued_max_kbytes`). Pausing would purge that
    /// queue and make the resume fetch again from this offset, once per event while a slow
    /// worker keeps the group at the limit: that cost cache-warming three quarters of its
    /// throughput. A stop ends the wait; the event stays uncommitted and is read again.
    fn wait_for_room(&self, work: Work) -> bool {
        self.runtime.block_on(async {
            tokio::select! {
                submitted = self.pipeline.submit(work) => submitted,
                () = self.stop.cancelled() => false,
            }
        })
    }

    /// Parked events wait in memory; past the in-flight limit stop reading more of them (other
    /// topics flow on), and read on once half of them are out. Returns whether it is paused.
    fn pace_retry_topic(
        &self,
        consumer: &BaseConsumer<GroupContext>,
        paused: bool,
    ) -> Result<bool> {
        let Some(topic) = &self.retry_topic else {
            return Ok(false);
        };
        let held = self.pipeline.delayed();
        let limit = self.config.max_in_flight;
        if !paused && held >= limit {
            return set_paused(consumer, topic, true);
        }
        if paused && held <= limit / 2 {
            return Ok(!set_paused(consumer, topic, false)?);
        }
        Ok(paused)
    }

    /// Shutdown: no more fetching; let running events finish, then commit what is done.
    /// Events waiting in the delay queue stay uncommitted and are read again next time.
    fn drain(&self, state: &ClientState) {
        let deadline = Instant::now() + self.config.drain_timeout();
        while Instant::now() < deadline
            && state.with(|t| t.in_flight()) > state.delayed.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Pauses or resumes this client's partitions of `topic`; true when it did.
fn set_paused(consumer: &BaseConsumer<GroupContext>, topic: &str, pause: bool) -> Result<bool> {
    let mut list = TopicPartitionList::new();
    for e in consumer.assignment()?.elements() {
        if e.topic() == topic {
            list.add_partition(topic, e.partition());
        }
    }
    if list.count() == 0 {
        return Ok(false);
    }
    if pause {
        consumer.pause(&list)?;
    } else {
        consumer.resume(&list)?;
    }
    Ok(true)
}
