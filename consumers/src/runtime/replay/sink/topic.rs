//! A replay into another topic: each message copied with its key, value and headers plus
//! `orderbus.replayed.from = topic/partition/offset`, a bounded window of copies awaiting their
//! acknowledgement, and the count of copies the broker acknowledged.

use std::time::Duration;

use events::headers;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use producers::{EventProducer, KafkaConfig, PendingDelivery, RawRecord};
use rdkafka::message::{Headers, Message, OwnedMessage};

use super::{Feed, ReplayReport, ReplayRun, create_like};
use crate::error::{Error, Result};
use crate::runtime::replay::pace::Progress;
use crate::runtime::replay::plan::Plan;
use crate::runtime::replay::reader;

/// Copies awaiting their acknowledgement at once.
const WINDOW: usize = 10_000;

/// Copies the plan's messages to `target` (created like the source when missing), each with
/// `orderbus.replayed.from = topic/partition/offset`, keyed as before, at most `rate` per
/// second, and waits until the broker acknowledged every copy.
pub async fn to_topic(
    kafka: &KafkaConfig,
    plan: &Plan,
    (target, producer): (&str, EventProducer),
    run: ReplayRun,
) -> Result<ReplayReport> {
    producers::config::check_topic_name("to-topic", target)?;
    if target == plan.topic {
        return Err(Error::Refused(format!(
            "--to-topic {target} is the replayed topic itself"
        )));
    }
    let created_target = ensure_target(kafka, plan, target, &producer).await?;
    let mut feed = Feed::start(kafka, plan, &run);
    let mut acks = Acks {
        pending: FuturesUnordered::new(),
        copied: 0,
        progress: &run.progress,
        target,
    };
    while let Some(message) = feed.next().await {
        let from = format!(
            "{}/{}/{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
        let id = events::decode(message.payload().unwrap_or_default())
            .map(|e| e.event_id)
            .unwrap_or_default();
        let record = RawRecord {
            topic: target,
            key: message.key().unwrap_or_default(),
            payload: message.payload().unwrap_or_default(),
            headers: copied_headers(&message, &from),
            partition: None,
            timestamp_ms: None,
        };
        let pending = producer.enqueue_raw(record, id).await;
        acks.pending.push(pending.map_err(|e| acks.failed(e))?);
        acks.settle_to(WINDOW - 1).await?;
    }
    let read = feed.finish().await?;
    acks.settle_to(0).await?;
    Ok(ReplayReport {
        read,
        copied: acks.copied,
        created_target,
        stopped: run.stop.is_cancelled(),
        ..ReplayReport::default()
    })
}

/// Creates the target like the source when it does not exist; true when it did that.
async fn ensure_target(
    kafka: &KafkaConfig,
    plan: &Plan,
    target: &str,
    producer: &EventProducer,
) -> Result<bool> {
    let (k, t) = (kafka.clone(), target.to_owned());
    let exists = tokio::task::spawn_blocking(move || {
        let c = reader::client(&k)?;
        match reader::partitions(&c, &t, Duration::from_secs(30)) {
            Ok(_) => Ok(true),
            Err(Error::UnknownTopic(_)) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    if !exists {
        tracing::info!(topic = %target, partitions = plan.ranges.len(), "creating the replay target topic");
        create_like(kafka, plan, target, producer.topics().replication_factor).await?;
    }
    Ok(!exists)
}

/// The copy's headers: the original's, with `orderbus.replayed.from` set to where it came from
/// (replacing the one a replayed message already carried).
fn copied_headers<'a>(message: &'a OwnedMessage, from: &'a str) -> Vec<(&'a str, &'a [u8])> {
    let mut hdrs: Vec<(&str, &[u8])> = message
        .headers()
        .map(|h| {
            h.iter()
                .filter(|h| h.key != headers::REPLAYED_FROM)
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    hdrs.push((headers::REPLAYED_FROM, from.as_bytes()));
    hdrs
}

/// Copies sent and not yet acknowledged.
struct Acks<'a> {
    pending: FuturesUnordered<PendingDelivery>,
    copied: u64,
    progress: &'a Progress,
    target: &'a str,
}

impl Acks<'_> {
    fn failed(&self, e: producers::Error) -> Error {
        Error::Publish {
            topic: self.target.to_owned(),
            error: e.to_string(),
        }
    }

    /// Awaits acknowledgements until at most `left` copies are pending.
    async fn settle_to(&mut self, left: usize) -> Result<()> {
        while self.pending.len() > left {
            let Some(r) = self.pending.next().await else {
                break;
            };
            r.map_err(|e| self.failed(e))?;
            self.copied += 1;
            self.progress.add(1);
        }
        Ok(())
    }
}
