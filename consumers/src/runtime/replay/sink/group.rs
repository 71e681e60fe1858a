//! A replay into a new consumer group: the worker runs over the range through the same
//! pipeline as a live group (decode, dead letters, per-key order, in-process retries), with the
//! retry topic off and nothing committed, so the live group's offsets and state stay untouched.

use std::sync::Arc;
use std::time::Duration;

use producers::{EventProducer, KafkaConfig};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Feed, ReplayReport, ReplayRun, create_like};
use crate::error::{Error, Result};
use crate::runtime::config::{GroupConfig, dead_letter_topic, retry_topic};
use crate::runtime::deps::Deps;
use crate::runtime::handler::Handler;
use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;
use crate::runtime::pipeline::Pipeline;
use crate::runtime::replay::plan::Plan;
use crate::runtime::replay::reader;
use crate::runtime::retry::Parking;

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
    create_like(
        kafka,
        plan,
        &dlq_topic,
        producer.topics().replication_factor,
    )
    .await?;
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
    let finished = Arc::clone(&run.progress);
    let pipeline = Pipeline::start(deps, &run.stop, &mut tasks, move || finished.add(1));
    let client = Arc::new(ClientState::default());
    let mut feed = Feed::start(kafka, plan, &run);
    while let Some(message) = feed.next().await {
        if !pipeline.take(message, &client).await {
            break;
        }
    }
    let stopped = run.stop.is_cancelled();
    drop(pipeline);
    drain_tasks(&mut tasks, drain, &cancel).await;
    let read = feed.finish().await?;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Ok(ReplayReport {
        read,
        handled: load(&stats.handled),
        dead_lettered: load(&stats.dead_lettered),
        stopped,
        ..ReplayReport::default()
    })
}

/// Waits for running events; past the drain deadline, running handlers are told to give up.
async fn drain_tasks(tasks: &mut JoinSet<()>, drain: Duration, cancel: &CancellationToken) {
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
    }
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
