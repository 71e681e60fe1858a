//! Where replayed events go. [`to_group`] runs a worker over the range in a new group through
//! the runtime's own machinery (per-key ordering, in-process retries, dead letters to
//! `<group>.dlq`; no retry topic), with handlers seeing `ctx.replay == true`. [`to_topic`]
//! copies each message (key, value, headers, plus `orderbus.replayed.from`) to another topic,
//! keyed the same, and waits for every acknowledgement.
//!
//! - `group`: into a new consumer group (the name checked, nothing committed).
//! - `topic`: into another topic (created like the source when missing).

mod group;
mod topic;

use std::sync::Arc;
use std::time::Duration;

use producers::KafkaConfig;
use producers::admin::{TopicSpec, ensure_topics};
use rdkafka::message::OwnedMessage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::replay::pace::{Pacer, Progress};
use crate::runtime::replay::plan::Plan;
use crate::runtime::replay::reader;

pub use group::{ReplayGroup, to_group};
pub use topic::to_topic;

/// How long the range reader waits without any message before giving up.
const IDLE: Duration = Duration::from_secs(120);

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages read from the range.
    pub read: u64,
    /// Events handled successfully (`to_group`).
    pub handled: u64,
    /// Events dead-lettered to `<group>.dlq` (`to_group`).
    pub dead_lettered: u64,
    /// Messages copied and acknowledged (`to_topic`).
    pub copied: u64,
    /// True when `to_topic` had to create the target topic.
    pub created_target: bool,
    /// True when it stopped early (`stop` fired).
    pub stopped: bool,
}

/// Where a replay into a group runs and what it reports to.
#[derive(Debug, Clone)]
pub struct ReplayRun {
    /// At most this many events per second.
    pub rate: Option<u32>,
    /// Progress counters, readable while it runs.
    pub progress: Arc<Progress>,
    /// Stops reading; running events finish within the drain deadline.
    pub stop: CancellationToken,
}

/// The range's messages as they are read, paced, until the range ends or `stop` fires.
struct Feed {
    rx: mpsc::Receiver<OwnedMessage>,
    reading: tokio::task::JoinHandle<Result<()>>,
    pacer: Pacer,
    stop: CancellationToken,
    read: u64,
}

impl Feed {
    fn start(kafka: &KafkaConfig, plan: &Plan, run: &ReplayRun) -> Self {
        run.progress
            .total
            .store(plan.total(), std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(1024);
        let (kafka, topic, ranges, stop) = (
            kafka.clone(),
            plan.topic.clone(),
            plan.triples(),
            run.stop.clone(),
        );
        let reading = tokio::task::spawn_blocking(move || {
            reader::read_ranges(&kafka, &topic, &ranges, &tx, &stop, IDLE)
        });
        Feed {
            rx,
            reading,
            pacer: Pacer::new(run.rate),
            stop: run.stop.clone(),
            read: 0,
        }
    }

    async fn next(&mut self) -> Option<OwnedMessage> {
        let message = tokio::select! {
            m = self.rx.recv() => m,
            () = self.stop.cancelled() => None,
        }?;
        self.pacer.wait().await;
        self.read += 1;
        Some(message)
    }

    /// Stops reading and returns how many messages were read, or the reader's error.
    async fn finish(self) -> Result<u64> {
        drop(self.rx);
        self.reading
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        Ok(self.read)
    }
}

/// Creates `name` with as many partitions as the replayed topic has in the plan.
async fn create_like(kafka: &KafkaConfig, plan: &Plan, name: &str, replicas: i32) -> Result<()> {
    ensure_topics(
        kafka,
        &[TopicSpec {
            name: name.to_owned(),
            partitions: i32::try_from(plan.ranges.len()).unwrap_or(1).max(1),
            replication_factor: replicas,
        }],
        Duration::from_secs(30),
    )
    .await?;
    Ok(())
}
