//! [`ConsumerGroup`]: `consumers` Kafka clients in one group, each on its own thread, feeding
//! one key-ordered scheduler with `processors` workers. Per event: decode (undecodable →
//! dead letter), run the handler with in-process retries (exponential backoff with jitter),
//! park it on the group's retry topic when those are spent (read back by the same group and
//! held in a delay queue until due), and dead-letter permanent failures, spent retry rounds
//! and panics. Offsets are committed only up to
//! the lowest unfinished event of each partition: periodically, on revoke (after letting the
//! revoked partitions' running events finish, within the drain deadline) and at shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::Envelope;
use producers::admin::{TopicSpec, ensure_topics, partition_counts};
use producers::{EventProducer, KafkaConfig, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::config::{GroupConfig, OffsetReset, dead_letter_topic, retry_topic};
use crate::runtime::dlq::Reason;
use crate::runtime::handler::Handler;
use crate::runtime::metrics::GroupStats;
use crate::runtime::offsets::OffsetTracker;
use crate::runtime::retry::{DelayQueue, Parked, Parking};
use crate::runtime::scheduler::Scheduler;
use crate::runtime::worker::{Deps, Work, dead_letter_counted, process};

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

/// What one Kafka client shares with the workers and its rebalance callback.
#[derive(Debug, Default)]
pub(crate) struct ClientState {
    tracker: Mutex<OffsetTracker>,
    /// Events of this client held in the delay queue: in flight, but nothing to wait for
    /// when draining.
    pub(crate) delayed: AtomicUsize,
}

impl ClientState {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut OffsetTracker) -> R) -> R {
        // A poisoned lock means a panic while holding it; the tracker's data is still sound.
        let mut guard = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

struct GroupContext {
    state: Arc<ClientState>,
    stats: Arc<GroupStats>,
    parking: Arc<Parking>,
    drain: Duration,
    group: String,
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
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
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
        // Let running events of the revoked partitions finish so their offsets can be
        // committed now; the new owner then starts after them instead of redoing them.
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
        if commit.count() > 0
            && let Err(e) = consumer.commit(&commit, CommitMode::Sync)
        {
            tracing::warn!(group = %self.group, error = %e, "commit on revoke failed; the new owner re-reads from the previous commit");
        }
        let numbers: Vec<i32> = revoked.iter().map(|(_, p)| *p).collect();
        self.parking.revoke(&numbers);
        self.stats.forget_lag(&revoked);
        tracing::info!(group = %self.group, partitions = revoked.len(), "partitions revoked");
    }
}

impl<H: Handler> ConsumerGroup<H> {
    /// A group named `name` reading `config.topics` (or the order and payment topics),
    /// dead-lettering through `producer`.
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
            stats: Arc::new(GroupStats::default()),
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
    /// the drain deadline, commits and leaves the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let dlq_topic = dead_letter_topic(&self.name);
        let retry_topic = retry_topic(&self.name);
        let retrying = !self.config.retry_delays_ms.is_empty();
        let mut own = vec![dlq_topic.clone()];
        if retrying {
            own.push(retry_topic.clone());
        }
        let partitions = self.co_partitions(&retry_topic, retrying).await?;
        let specs: Vec<TopicSpec> = own
            .into_iter()
            .map(|name| TopicSpec {
                name,
                partitions,
                replication_factor: self.replication,
            })
            .collect();
        ensure_topics(&self.kafka, &specs, Duration::from_secs(30)).await?;
        let mut subscribe = self.topics.clone();
        if retrying {
            subscribe.push(retry_topic.clone());
        }
        let parking = Arc::new(Parking::default());

        let stop = CancellationToken::new();
        let cancel = CancellationToken::new();
        let deps = Arc::new(Deps {
            group: self.name.clone(),
            handler: Arc::clone(&self.handler),
            producer: self.producer.clone(),
            dlq_topic,
            retry_topic: retry_topic.clone(),
            parking: Arc::clone(&parking),
            replay: self.replay,
            config: self.config.clone(),
            cancel: cancel.clone(),
            stats: Arc::clone(&self.stats),
        });
        let mut tasks = JoinSet::new();
        let worker_deps = Arc::clone(&deps);
        let scheduler = Arc::new(Scheduler::start(
            self.config.processors,
            self.config.max_in_flight,
            move |work: Work| {
                let deps = Arc::clone(&worker_deps);
                async move { process(work, &deps).await }
            },
            &mut tasks,
        ));
        let release_to = Arc::clone(&scheduler);
        let delay = Arc::new(DelayQueue::start(
            move |work: Work| {
                let scheduler = Arc::clone(&release_to);
                async move {
                    work.client.delayed.fetch_sub(1, Ordering::Relaxed);
                    let key = work.event.order_id.clone();
                    let _ = scheduler.submit(key, work).await;
                }
            },
            stop.clone(),
            &mut tasks,
        ));
        let held = Arc::clone(&delay);
        self.stats.add_gauge(
            "orderbus_retry_waiting",
            "Events read back from the retry topic and waiting for their due time.",
            move || held.held(),
        );
        let blocked = Arc::clone(&parking);
        self.stats.add_gauge(
            "orderbus_retry_blocked_keys",
            "Keys with events parked on the retry topic.",
            move || blocked.blocked_keys(),
        );

        let mut clients = Vec::with_capacity(self.config.consumers);
        for i in 0..self.config.consumers {
            let state = Arc::new(ClientState::default());
            let probe = Arc::clone(&state);
            self.stats
                .add_in_flight_probe(move || probe.with(|t| t.in_flight()));
            let consumer = self.client(i, Arc::clone(&state), Arc::clone(&parking))?;
            let looped = Loop {
                scheduler: Arc::clone(&scheduler),
                delay: Arc::clone(&delay),
                deps: Arc::clone(&deps),
                stop: stop.clone(),
                runtime: tokio::runtime::Handle::current(),
                topics: subscribe.clone(),
            };
            clients.push(tokio::task::spawn_blocking(move || {
                looped.run(&consumer, &state)
            }));
        }
        drop(scheduler);
        drop(delay);

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
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The partition count for the group's own topics: the source topics' (so that, with the
    /// range assignor, a key's retry partition belongs to the member owning its source
    /// partition, which block-key needs), or the configured count if none exists yet. Says so
    /// when that cannot hold.
    async fn co_partitions(&self, retry_topic: &str, retrying: bool) -> Result<i32> {
        let timeout = Duration::from_secs(30);
        let counts = partition_counts(&self.kafka, &self.topics, timeout).await?;
        let known: Vec<usize> = counts.iter().flatten().copied().collect();
        let Some(&most) = known.iter().max() else {
            return Ok(self.partitions);
        };
        if retrying && known.iter().any(|&c| c != most) {
            tracing::warn!(group = %self.name, topics = ?self.topics, counts = ?counts, "source topics differ in partition count: with block-key, a key's parked events may be read by another member than its live ones");
        }
        if retrying
            && let Some(Some(existing)) =
                partition_counts(&self.kafka, &[retry_topic.to_owned()], timeout)
                    .await?
                    .first()
            && *existing != most
        {
            tracing::warn!(group = %self.name, topic = %retry_topic, partitions = existing, source_partitions = most, "the retry topic's partition count differs from the source topics'");
        }
        Ok(i32::try_from(most).unwrap_or(self.partitions))
    }

    fn client(
        &self,
        index: usize,
        state: Arc<ClientState>,
        parking: Arc<Parking>,
    ) -> Result<BaseConsumer<GroupContext>> {
        let mut c = self.kafka.client_config();
        // Range assignment keeps a key's source and retry partitions with one member (see
        // `co_partitions`); an explicit choice in `kafka.properties` stands.
        if c.get("partition.assignment.strategy").is_none() {
            c.set("partition.assignment.strategy", "range");
        }
        c.set("group.id", &self.name)
            .set(
                "client.id",
                format!("{}-{}-{index}", self.kafka.client_id, self.name),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match self.config.offset_reset {
                    OffsetReset::Earliest => "earliest",
                    OffsetReset::Latest => "latest",
                },
            )
            .set(
                "session.timeout.ms",
                self.config.session_timeout_ms.to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.config.max_poll_interval_ms.to_string(),
            )
            .set("fetch.max.bytes", self.config.fetch_max_bytes.to_string())
            .set(
                "statistics.interval.ms",
                self.config.commit_interval_ms.max(1_000).to_string(),
            )
            .set(
                "queued.max.messages.kbytes",
                self.config.queued_max_kbytes.to_string(),
            );
        let context = GroupContext {
            state,
            stats: Arc::clone(&self.stats),
            parking,
            drain: self.config.drain_timeout(),
            group: self.name.clone(),
        };
        Ok(c.create_with_context(context)?)
    }
}

/// What one client's poll thread needs.
struct Loop<H> {
    scheduler: Arc<Scheduler<String, Work>>,
    delay: Arc<DelayQueue<Work>>,
    deps: Arc<Deps<H>>,
    stop: CancellationToken,
    runtime: tokio::runtime::Handle,
    topics: Vec<String>,
}

impl<H: Handler> Loop<H> {
    fn run(self, consumer: &BaseConsumer<GroupContext>, state: &Arc<ClientState>) -> Result<()> {
        let deps = &self.deps;
        let config = &deps.config;
        let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        let interval = Duration::from_millis(config.commit_interval_ms);
        let mut last_commit = Instant::now();
        let mut retry_paused = false;
        while !self.stop.is_cancelled() {
            if last_commit.elapsed() >= interval {
                commit(consumer, state, CommitMode::Async, &deps.group);
                last_commit = Instant::now();
            }
            // Parked events wait in memory; past the in-flight limit stop reading more of them
            // (other topics flow on).
            let held = self.delay.held();
            if !retry_paused && held >= config.max_in_flight {
                retry_paused = set_paused(consumer, &deps.retry_topic, true)?;
            } else if retry_paused && held <= config.max_in_flight / 2 {
                retry_paused = !set_paused(consumer, &deps.retry_topic, false)?;
            }
            let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = match polled {
                Ok(m) => m.detach(),
                Err(e) => {
                    tracing::warn!(group = %deps.group, error = %e, "consumer error");
                    continue;
                }
            };
            if !self.take(state, message)? {
                break;
            }
        }
        // Shutdown: no more fetching; let running events finish, then commit what is done.
        // Events waiting in the delay queue stay uncommitted and are read again next time.
        let deadline = Instant::now() + config.drain_timeout();
        while Instant::now() < deadline
            && state.with(|t| t.in_flight()) > state.delayed.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        commit(consumer, state, CommitMode::Sync, &deps.group);
        consumer.unsubscribe();
        Ok(())
    }

    /// Routes one message; false when the scheduler has shut down.
    fn take(
        &self,
        state: &Arc<ClientState>,
        message: rdkafka::message::OwnedMessage,
    ) -> Result<bool> {
        let deps = &self.deps;
        let generation =
            state.with(|t| t.received(message.topic(), message.partition(), message.offset()));
        let decoded = events::decode(message.payload().unwrap_or_default());
        deps.stats
            .record_received(decoded.as_ref().ok().map(Envelope::event_type));
        let event = match decoded {
            Ok(event) => event,
            Err(e) => {
                // Undecodable: dead-letter it without holding up anything else.
                let (deps, state) = (Arc::clone(deps), Arc::clone(state));
                self.runtime.spawn(async move {
                    let reason = Reason {
                        code: e.reason_code().to_owned(),
                        error: e.to_string(),
                        attempts: 0,
                    };
                    if dead_letter_counted(&deps, &message, &reason, None).await {
                        state.with(|t| {
                            t.done(
                                message.topic(),
                                message.partition(),
                                message.offset(),
                                generation,
                            )
                        });
                    }
                });
                return Ok(true);
            }
        };
        let parked = (message.topic() == deps.retry_topic).then(|| Parked::of(&message));
        let key = event.order_id.clone();
        let offset = message.offset();
        let work = Work {
            event,
            message,
            client: Arc::clone(state),
            generation,
            parked,
        };
        if let Some(p) = parked {
            deps.parking.read(&key, work.message.partition(), &p);
            state.delayed.fetch_add(1, Ordering::Relaxed);
            if !self.delay.push(p.not_before_ms, offset, work) {
                state.delayed.fetch_sub(1, Ordering::Relaxed);
                return Ok(false);
            }
            return Ok(true);
        }
        if let Err(work) = self.scheduler.try_submit(key, work) {
            // At the in-flight limit: wait for room without polling. librdkafka stops fetching
            // on its own once its prefetch queue is full (`queued_max_kbytes`). Pausing would
            // purge that queue and make the resume fetch again from this offset, once per event
            // while a slow worker keeps the group at the limit: that cost cache-warming three
            // quarters of its throughput. Shutdown drops the event uncommitted; it is read again
            // next run.
            let key = work.event.order_id.clone();
            let submitted = self.runtime.block_on(async {
                tokio::select! {
                    submitted = self.scheduler.submit(key, work) => submitted.is_ok(),
                    () = self.stop.cancelled() => false,
                }
            });
            if !submitted {
                return Ok(false);
            }
        }
        Ok(true)
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

fn commit(
    consumer: &BaseConsumer<GroupContext>,
    state: &ClientState,
    mode: CommitMode,
    group: &str,
) {
    let points = state.with(OffsetTracker::take_commits);
    if points.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (topic, partition, at) in &points {
        if list
            .add_partition_offset(topic, *partition, Offset::Offset(*at))
            .is_err()
        {
            return;
        }
    }
    if let Err(e) = consumer.commit(&list, mode) {
        tracing::warn!(%group, error = %e, "offset commit failed; retried at the next interval");
    }
}
