//! [`ConsumerGroup`]: `consumers` Kafka clients in one group, each polling on a thread of its
//! own ([`poll`](super::poll)), feeding one [`Pipeline`] of `processors` workers. Offsets are
//! committed only up to the lowest unfinished event of each partition: periodically, on revoke
//! and at shutdown. This file wires the parts together and owns the run's lifetime.

use std::future::Future;
use std::sync::Arc;

use producers::{EventProducer, KafkaConfig, TopicsConfig};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::client::{GroupContext, client_config};
use crate::runtime::commit::CommitWatch;
use crate::runtime::config::GroupConfig;
use crate::runtime::deps::Deps;
use crate::runtime::handler::Handler;
use crate::runtime::metrics::GroupStats;
use crate::runtime::partition_state::ClientState;
use crate::runtime::pipeline::Pipeline;
use crate::runtime::poll::PollLoop;
use crate::runtime::retry::Parking;
use crate::runtime::topics::{Layout, OwnTopics, prepare};

/// A consumer group ready to run.
pub struct ConsumerGroup<H: Handler> {
    name: String,
    config: GroupConfig,
    kafka: KafkaConfig,
    topics: Vec<String>,
    partitions: i32,
    /// Replicas of every topic the group creates (`topics.replication_factor`).
    replication: i32,
    handler: Arc<H>,
    producer: EventProducer,
    stats: Arc<GroupStats>,
    replay: bool,
}

impl<H: Handler> std::fmt::Debug for ConsumerGroup<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("name", &self.name)
            .field("topics", &self.topics)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> ConsumerGroup<H> {
    /// A group named `name` reading `config.topics` (or the order and payment topics),
    /// dead-lettering and parking through `producer`.
    pub fn new(
        name: &str,
        config: GroupConfig,
        kafka: KafkaConfig,
        topics: &TopicsConfig,
        handler: H,
        producer: EventProducer,
    ) -> Result<Self> {
        producers::config::check_topic_name("group", name)?;
        config.validate(&format!("groups.{name}"))?;
        kafka.validate()?;
        let read = if config.topics.is_empty() {
            vec![topics.order_events.clone(), topics.payment_events.clone()]
        } else {
            config.topics.clone()
        };
        Ok(Self {
            name: name.to_owned(),
            config,
            kafka,
            topics: read,
            partitions: topics.partitions,
            replication: topics.replication_factor,
            handler: Arc::new(handler),
            producer,
            stats: Arc::new(GroupStats::new(name)),
            replay: false,
        })
    }

    /// Marks the group as a replay: handlers see `ctx.replay == true`.
    pub fn replaying(mut self) -> Self {
        self.replay = true;
        self
    }

    /// Live counters, readable while the group runs.
    pub fn stats(&self) -> Arc<GroupStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` completes, then stops fetching, lets running events finish within
    /// the drain deadline, commits, leaves the group and flushes the group's producer (dead
    /// letters and parked events written during the drain reach the broker).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let own = prepare(&Layout {
            kafka: &self.kafka,
            group: &self.name,
            sources: &self.topics,
            retrying: !self.config.retry_delays_ms.is_empty(),
            partitions: self.partitions,
            replication: self.replication,
        })
        .await?;
        let stop = CancellationToken::new();
        let cancel = CancellationToken::new();
        let parking = Arc::new(Parking::default());
        let mut tasks = JoinSet::new();
        let pipeline = Arc::new(Pipeline::start(
            self.deps(&own, &parking, &cancel),
            &stop,
            &mut tasks,
            || {},
        ));
        let (waiting, blocked) = (Arc::clone(pipeline.delay_queue()), Arc::clone(&parking));
        self.stats
            .set_retry_probes(move || waiting.held(), move || blocked.blocked_keys());
        let commits = Arc::new(CommitWatch::default());
        let mut clients = Vec::with_capacity(self.config.consumers);
        for i in 0..self.config.consumers {
            let state = Arc::new(ClientState::default());
            let probe = Arc::clone(&state);
            self.stats
                .add_in_flight_probe(move || probe.with(|t| t.in_flight()));
            let consumer = self.client(i, &state, &parking, &commits)?;
            let looped = self.poll_loop(&own, &pipeline, &commits, &stop);
            clients.push(tokio::task::spawn_blocking(move || {
                looped.run(&consumer, &state)
            }));
        }
        drop(pipeline);

        shutdown.await;
        tracing::info!(group = %self.name, "stopping: draining in-flight events");
        stop.cancel();
        let mut first_error = None;
        for client in clients {
            match client.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(Error::Task(e.to_string()));
                }
            }
        }
        // Whatever still runs past the drain deadline is told to stop; its offset stays
        // uncommitted, so it is read again after restart.
        cancel.cancel();
        while tasks.join_next().await.is_some() {}
        let flushed = self.producer.flush(self.config.drain_timeout()).await;
        match (first_error, flushed) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e.into()),
            (None, Ok(())) => Ok(()),
        }
    }

    fn deps(
        &self,
        own: &OwnTopics,
        parking: &Arc<Parking>,
        cancel: &CancellationToken,
    ) -> Arc<Deps<H>> {
        Arc::new(Deps {
            group: self.name.clone(),
            handler: Arc::clone(&self.handler),
            producer: self.producer.clone(),
            dlq_topic: own.dlq.clone(),
            retry_topic: own.retry.clone(),
            parking: Arc::clone(parking),
            replay: self.replay,
            config: self.config.clone(),
            cancel: cancel.clone(),
            stats: Arc::clone(&self.stats),
        })
    }

    fn poll_loop(
        &self,
        own: &OwnTopics,
        pipeline: &Arc<Pipeline<H>>,
        commits: &Arc<CommitWatch>,
        stop: &CancellationToken,
    ) -> PollLoop<H> {
        let mut topics = self.topics.clone();
        if own.retrying {
            topics.push(own.retry.clone());
        }
        PollLoop {
            group: self.name.clone(),
            config: self.config.clone(),
            pipeline: Arc::clone(pipeline),
            stats: Arc::clone(&self.stats),
            commits: Arc::clone(commits),
            stop: stop.clone(),
            runtime: tokio::runtime::Handle::current(),
            topics,
            retry_topic: own.retrying.then(|| own.retry.clone()),
        }
    }

    fn client(
        &self,
        index: usize,
        state: &Arc<ClientState>,
        parking: &Arc<Parking>,
        commits: &Arc<CommitWatch>,
    ) -> Result<rdkafka::consumer::BaseConsumer<GroupContext>> {
        let context = GroupContext {
            state: Arc::clone(state),
            stats: Arc::clone(&self.stats),
            parking: Arc::clone(parking),
            commits: Arc::clone(commits),
            drain: self.config.drain_timeout(),
            group: self.name.clone(),
        };
        let config = client_config(&self.kafka, &self.name, &self.config, index);
        Ok(config.create_with_context(context)?)
    }
}
