//! Where replayed events go. [`to_group`] runs a worker over the range in a new group through
//! the runtime's own machinery (per-key ordering, in-process retries, dead letters to
//! `<group>.dlq`; no retry topic), with handlers seeing `ctx.replay == true`. [`to_topic`]
//! copies each message (key, value, headers, plus `orderbus.replayed.from`) to another topic,
//! keyed the same, and waits for every acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use events::headers;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use producers::admin::{TopicSpec, ensure_topics};
use producers::{EventProducer, KafkaConfig, RawRecord};
use rdkafka::message::{Headers, Message, OwnedMessage};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::config::{GroupConfig, dead_letter_topic, retry_topic};
use crate::runtime::deps::Deps;
use crate::runtime::handler::Handler;
use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;
use crate::runtime::pipeline::Pipeline;
use crate::runtime::replay::{Pacer, Plan, Progress, reader};
use crate::runtime::retry::Parking;

/// How long the range reader waits without any message before giving up.
const IDLE: Duration = Duration::from_secs(120);
/// Copies awaiting their acknowledgement at once in [`to_topic`].
const WINDOW: usize = 10_000;

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

/// Refuses a replay group that is configured (`reserved`) or has committed offsets on the topic.
async fn check_group(
    kafka: &KafkaConfig,
    plan: &Plan,
    group: &str,
    reserved: &[String],
) -> Result<()> {
    producers::config::check_topic_name("group", group)?;
    if reserved.iter().any(|g| g == group) {
        return Err(Error::Refused(format!(
            "`{group}` is a configured consumer group; replay into a new group name so the live group's offsets and state stay untouched"
        )));
    }
    let (kafka, topic, g) = (kafka.clone(), plan.topic.clone(), group.to_owned());
    let ids: Vec<i32> = plan.ranges.iter().map(|r| r.partition).collect();
    let found = tokio::task::spawn_blocking(move || {
        reader::committed(&kafka, &g, &topic, &ids, Duration::from_secs(30))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    if !found.is_empty() {
        return Err(Error::Refused(format!(
            "group `{group}` has committed offsets on {} (partitions {:?}): it is a live group; pick a new group name for the replay",
            plan.topic,
            found.keys().collect::<std::collections::BTreeSet<_>>()
        )));
    }
    Ok(())
}

fn spawn_reader(
    kafka: &KafkaConfig,
    plan: &Plan,
    stop: &CancellationToken,
) -> (
    mpsc::Receiver<OwnedMessage>,
    tokio::task::JoinHandle<Result<()>>,
) {
    let (tx, rx) = mpsc::channel(1024);
    let (kafka, topic, ranges, stop) = (
        kafka.clone(),
        plan.topic.clone(),
        plan.triples(),
        stop.clone(),
    );
    let handle = tokio::task::spawn_blocking(move || {
        reader::read_ranges(&kafka, &topic, &ranges, &tx, &stop, IDLE)
    });
    (rx, handle)
}

async fn join_reader(handle: tokio::task::JoinHandle<Result<()>>) -> Result<()> {
    handle.await.map_err(|e| Error::Task(e.to_string()))?
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

/// The new group a replay runs a worker in.
#[derive(Debug)]
pub struct ReplayGroup<'a, H> {
    /// A new group name: configured groups (`reserved`) and groups with commits on the topic
    /// are refused.
    pub name: &'a str,
    /// The configured groups' names.
    pub reserved: &'a [String],
    /// Processors, in-flight bound and in-process retries; the retry topic is turned off, so
    /// spent retries are dead-lettered to `<group>.dlq`.
    pub config: GroupConfig,
    /// The worker.
    pub handler: H,
    /// Dead letters (and a payment worker's outcomes) go out through it.
    pub producer: EventProducer,
}

/// Runs the worker over the plan in a new group. Nothing is committed. Returns when the whole
/// range is handled, or after `run.stop` fires and running events finish. Events take the same
/// pipeline as in a consumer group.
pub async fn to_group<H: Handler>(
    kafka: &KafkaConfig,
    plan: &Plan,
    group: ReplayGroup<'_, H>,
    run: ReplayRun,
) -> Result<ReplayReport> {
    let ReplayGroup {
        name: group,
        reserved,
        mut config,
        handler,
        producer,
    } = group;
    check_group(kafka, plan, group, reserved).await?;
    config.retry_delays_ms.clear();
    config.validate(&format!("replay `{group}`"))?;
    let dlq_topic = dead_letter_topic(group);
    ensure_topics(
        kafka,
        &[TopicSpec {
            name: dlq_topic.clone(),
            partitions: i32::try_from(plan.ranges.len()).unwrap_or(1).max(1),
            replication_factor: producer.topics().replication_factor,
        }],
        Duration::from_secs(30),
    )
    .await?;
    let ReplayRun {
        rate,
        progress,
        stop,
    } = run;
    progress
        .total
        .store(plan.total(), std::sync::atomic::Ordering::Relaxed);
    let stats = Arc::new(GroupStats::new(group));
    let cancel = CancellationToken::new();
    let drain = config.drain_timeout();
    let deps = Arc::new(Deps {
        group: group.to_owned(),
        handler: Arc::new(handler),
        producer,
        dlq_topic,
        retry_topic: retry_topic(group),
        parking: Arc::new(Parking::default()),
        replay: true,
        config,
        cancel: cancel.clone(),
        stats: Arc::clone(&stats),
    });
    let mut tasks = JoinSet::new();
    let finished = Arc::clone(&progress);
    let pipeline = Pipeline::start(deps, &stop, &mut tasks, move || finished.add(1));
    let client = Arc::new(ClientState::default());
    let (mut rx, reading) = spawn_reader(kafka, plan, &stop);
    let mut pacer = Pacer::new(rate);
    let mut read = 0;
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            () = stop.cancelled() => None,
        };
        let Some(message) = message else { break };
        pacer.wait().await;
        read += 1;
        if !pipeline.take(message, &client).await {
            break;
        }
    }
    let stopped = stop.is_cancelled();
    drop(rx);
    drop(pipeline);
    // Past the drain deadline after a stop, running handlers are told to give up.
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
    }
    join_reader(reading).await?;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(ReplayReport {
        read,
        handled: load(&stats.handled),
        dead_lettered: load(&stats.dead_lettered),
        stopped,
        ..ReplayReport::default()
    })
}

/// Copies the plan's messages to `target` (created like the source when missing), each with
/// `orderbus.replayed.from = topic/partition/offset`, keyed as before, at most `rate` per
/// second, and waits until the broker acknowledged every copy.
pub async fn to_topic(
    kafka: &KafkaConfig,
    plan: &Plan,
    (target, producer): (&str, EventProducer),
    run: ReplayRun,
) -> Result<ReplayReport> {
    let ReplayRun {
        rate,
        progress,
        stop,
    } = run;
    producers::config::check_topic_name("to-topic", target)?;
    if target == plan.topic {
        return Err(Error::Refused(format!(
            "--to-topic {target} is the replayed topic itself"
        )));
    }
    let created_target = {
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
            ensure_topics(
                kafka,
                &[TopicSpec {
                    name: target.to_owned(),
                    partitions: i32::try_from(plan.ranges.len()).unwrap_or(1).max(1),
                    replication_factor: producer.topics().replication_factor,
                }],
                Duration::from_secs(30),
            )
            .await?;
        }
        !exists
    };
    progress
        .total
        .store(plan.total(), std::sync::atomic::Ordering::Relaxed);
    let (mut rx, reading) = spawn_reader(kafka, plan, &stop);
    let mut pacer = Pacer::new(rate);
    let mut pending = FuturesUnordered::new();
    let (mut read, mut copied) = (0, 0);
    let failed = |e: producers::Error| Error::Publish {
        topic: target.to_owned(),
        error: e.to_string(),
    };
    loop {
        let message = tokio::select! {
            m = rx.recv() => m,
            () = stop.cancelled() => None,
        };
        let Some(message) = message else { break };
        pacer.wait().await;
        read += 1;
        let from = format!(
            "{}/{}/{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
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
        let id = events::decode(message.payload().unwrap_or_default())
            .map(|e| e.event_id)
            .unwrap_or_default();
        let record = RawRecord {
            topic: target,
            key: message.key().unwrap_or_default(),
            payload: message.payload().unwrap_or_default(),
            headers: hdrs,
            partition: None,
            timestamp_ms: None,
        };
        pending.push(producer.enqueue_raw(record, id).await.map_err(failed)?);
        while pending.len() >= WINDOW {
            if let Some(r) = pending.next().await {
                r.map_err(failed)?;
                copied += 1;
                progress.add(1);
            }
        }
    }
    drop(rx);
    while let Some(r) = pending.next().await {
        r.map_err(failed)?;
        copied += 1;
        progress.add(1);
    }
    join_reader(reading).await?;
    Ok(ReplayReport {
        read,
        copied,
        created_target,
        stopped: stop.is_cancelled(),
        ..ReplayReport::default()
    })
}
