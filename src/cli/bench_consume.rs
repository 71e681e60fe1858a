//! `orderbus bench consume`: pre-produces N events (order and payment events, on a topic and its
//! `-payments` twin), then reads them with a bare rdkafka consumer
//! and with the orderbus runtime (no-op handler, ordering on), each in its own group; prints
//! events/s and peak RSS of each phase. With `--rate`, instead publishes at that rate while each
//! variant consumes and prints publish-to-handled latency percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use consumers::runtime::{ConsumerGroup, Context, GroupConfig, Handler, HandlerError};
use events::{Envelope, samples::Generator};
use hdrhistogram::Histogram;
use producers::admin::{TopicSpec, create_topics};
use producers::{EventProducer, KafkaConfig, TopicsConfig};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use tokio::sync::{Mutex, watch};
use workers::{AnyWorker, WorkerKind};

use crate::cli::embedded::Embedded;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Events to consume.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Use the in-process MockCluster (its stored messages then count in RSS).
    #[arg(long)]
    embedded: bool,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Processors of the orderbus group.
    #[arg(long, default_value_t = 16)]
    processors: usize,
    /// Publish at this rate while consuming and report latency instead of throughput.
    #[arg(long)]
    rate: Option<u64>,
    /// Only fill a new topic with `--events` events and print its name.
    #[arg(long, conflicts_with_all = ["rate", "topic"])]
    produce_only: bool,
    /// Consume this existing topic (from `--produce-only`) instead of producing first, so the
    /// process's peak RSS is the consumer's alone.
    #[arg(long, conflicts_with = "rate")]
    topic: Option<String>,
    /// Only this variant (`bare` or `orderbus`); default both.
    #[arg(long)]
    only: Option<String>,
    /// Run this worker (`analytics`, `cache-warming`, ...) in the orderbus variant instead of
    /// the no-op handler, against the stores `[workers]` (or DATABASE_URL / REDIS_URL) names.
    /// Analytics works in a schema of its own and cache keys get their own prefix and a short
    /// TTL, so a run leaves no lasting data behind.
    #[arg(long)]
    worker: Option<WorkerKind>,
}

/// Counts handled events and, at a fixed rate, publish-to-handled latency.
struct Sink {
    handled: AtomicU64,
    done: watch::Sender<u64>,
    latency_us: std::sync::Mutex<Histogram<u64>>,
    /// Handled when measuring started (after the warm-up), and when that was.
    measured_from: std::sync::Mutex<(u64, Option<Instant>)>,
}

impl Sink {
    fn new() -> anyhow::Result<(Arc<Self>, watch::Receiver<u64>)> {
        let (done, rx) = watch::channel(0);
        let sink = Sink {
            handled: AtomicU64::new(0),
            done,
            latency_us: std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
            measured_from: std::sync::Mutex::new((0, None)),
        };
        Ok((Arc::new(sink), rx))
    }

    fn record(&self, published_us: i64) {
        let now = events::now_micros().unix_timestamp_nanos() / 1_000;
        if let Ok(mut h) = self.latency_us.lock() {
            h.saturating_record(u64::try_from(now as i64 - published_us).unwrap_or(0));
        }
        let n = self.handled.fetch_add(1, Ordering::Relaxed) + 1;
        // Waking the waiter on every event would cost more than the handler; every 1024 is enough.
        if n.is_multiple_of(1024) {
            self.done.send_replace(n);
        }
    }

    /// Forgets the warm-up: latency and throughput count from here.
    fn start_measuring(&self) {
        if let Ok(mut h) = self.latency_us.lock() {
            h.reset();
        }
        if let Ok(mut from) = self.measured_from.lock() {
            *from = (self.handled.load(Ordering::Relaxed), Some(Instant::now()));
        }
    }

    async fn wait(&self, rx: &mut watch::Receiver<u64>, n: u64) {
        while self.handled.load(Ordering::Relaxed) < n {
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        }
    }
}

/// The benchmark's handler: records each event in the sink after `worker` (if any) took it.
struct Measured {
    sink: Arc<Sink>,
    worker: Option<AnyWorker>,
}

impl Handler for Measured {
    fn name(&self) -> &str {
        self.worker.as_ref().map_or("no-op", Handler::name)
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        if let Some(w) = &self.worker {
            w.handle(event, ctx).await?;
        }
        self.sink
            .record((event.occurred_at.unix_timestamp_nanos() / 1_000) as i64);
        Ok(())
    }
}

/// The worker to measure, built so that its data stays apart and goes away.
async fn bench_worker(
    config: &Config,
    name: WorkerKind,
    id: &str,
    producer: &EventProducer,
) -> anyhow::Result<AnyWorker> {
    let mut workers = config.workers.clone().with_env_defaults();
    workers.analytics.schema = Some(format!("bench_{id}"));
    workers.notification.schema = Some(format!("bench_{id}"));
    workers.cache_warming.key_prefix = format!("bench:{id}:order:");
    workers.cache_warming.ttl_secs = 600;
    let worker = workers
        .build(name, Some(producer))
        .await
        .with_context(|| format!("starting worker `{name}`"))?;
    Ok(worker)
}

pub async fn run(config: &Config, args: ConsumeArgs) -> anyhow::Result<()> {
    let cluster = if args.embedded {
        Some(Embedded::start(1, &config.kafka)?)
    } else {
        None
    };
    let kafka = cluster
        .as_ref()
        .map_or_else(|| config.kafka.clone(), |e| e.kafka().clone());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topic_for = |variant: &str| format!("bench-consume-{}-{variant}", &id[..8]);
    let make = |name: String| async {
        let specs: Vec<TopicSpec> = [name.clone(), payments_of(&name)]
            .into_iter()
            .map(|name| TopicSpec {
                name,
                partitions: args.partitions,
                replication_factor: 1,
            })
            .collect();
        match &cluster {
            Some(c) => c.create_topics(&specs),
            None => create_topics(&kafka, &specs, Duration::from_secs(30))
                .await
                .map(|_| ())
                .map_err(Into::into),
        }?;
        anyhow::Ok(name)
    };
    println!(
        "broker {}; {} events, {} partitions, orderbus processors={} (ordering per order on), worker {}",
        kafka.bootstrap_servers,
        args.events,
        args.partitions,
        args.processors,
        args.worker.map_or("none (no-op)", WorkerKind::as_str)
    );
    println!(
        "{:<9} {:>10} {:>12} {:>9} {:>9} {:>10}",
        "variant", "events", "events/s", "p50 ms", "p99 ms", "peak RSS"
    );
    match args.rate {
        None => {
            let topic = match &args.topic {
                Some(t) => t.clone(),
                None => {
                    let topic = make(topic_for("shared")).await?;
                    produce(&kafka, config, &topic, args.events, None).await?;
                    topic
                }
            };
            if args.produce_only {
                println!("filled {topic}");
                return Ok(());
            }
            for variant in variants(&args) {
                reset_peak_rss();
                let (sink, rx) = Sink::new()?;
                let group = group_for(variant, cluster.as_ref(), args.partitions)?;
                let started =
                    consume(variant, &group, &kafka, config, &topic, &args, &sink, rx).await?;
                report(variant, &sink, 0, started.elapsed(), false);
            }
        }
        Some(rate) => {
            for variant in variants(&args) {
                let topic = make(topic_for(variant)).await?;
                reset_peak_rss();
                let (sink, rx) = Sink::new()?;
                let group = group_for(variant, cluster.as_ref(), args.partitions)?;
                let consumer = {
                    let (kafka, config, topic, sink) = (
                        kafka.clone(),
                        config.clone(),
                        topic.clone(),
                        Arc::clone(&sink),
                    );
                    let args = ConsumeArgs {
                        rate: Some(rate),
                        events: args.events + warmup(rate),
                        ..args.clone_args()
                    };
                    tokio::spawn(async move {
                        consume(variant, &group, &kafka, &config, &topic, &args, &sink, rx).await
                    })
                };
                produce(&kafka, config, &topic, args.events, Some((rate, &sink))).await?;
                consumer.await??;
                let (from, at) = sink.measured_from.lock().map(|g| *g).unwrap_or((0, None));
                let elapsed = at.map_or(Duration::ZERO, |t| t.elapsed());
                report(variant, &sink, from, elapsed, true);
            }
        }
    }
    Ok(())
}

impl ConsumeArgs {
    fn clone_args(&self) -> Self {
        Self {
            events: self.events,
            embedded: self.embedded,
            partitions: self.partitions,
            processors: self.processors,
            rate: self.rate,
            produce_only: self.produce_only,
            topic: self.topic.clone(),
            only: self.only.clone(),
            worker: self.worker,
        }
    }
}

fn variants(args: &ConsumeArgs) -> Vec<&'static str> {
    ["bare", "orderbus"]
        .into_iter()
        .filter(|v| args.only.as_deref().is_none_or(|o| o == *v))
        .collect()
}

/// Events sent (and handled) before measuring at a fixed rate: one second's worth, at least
/// 1,000. The producer's first batches wait for its idempotence id and metadata, the consumers'
/// first fetches for their assignment; neither is the steady latency.
fn warmup(rate: u64) -> u64 {
    rate.max(1_000)
}

fn report(variant: &str, sink: &Sink, from: u64, elapsed: Duration, latency: bool) {
    let n = sink.handled.load(Ordering::Relaxed) - from;
    let (p50, p99) = match (latency, sink.latency_us.lock()) {
        (true, Ok(h)) => (
            format!("{:.2}", h.value_at_quantile(0.5) as f64 / 1000.0),
            format!("{:.2}", h.value_at_quantile(0.99) as f64 / 1000.0),
        ),
        _ => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "{variant:<9} {n:>10} {:>12.0} {p50:>9} {p99:>9} {:>7} MiB",
        n as f64 / elapsed.as_secs_f64(),
        super::bench::peak_rss_kib().unwrap_or(0) / 1024
    );
}

/// The payment-events topic that goes with a benchmark's (order-events) topic.
fn payments_of(topic: &str) -> String {
    format!("{topic}-payments")
}

/// Publishes `n` realistic events to `topic`, as fast as possible or at a rate, each stamped
/// with `occurred_at` = the moment it is sent. At a rate, a warm-up (see [`warmup`]) goes first
/// and the sink starts measuring once it has all been handled.
async fn produce(
    kafka: &KafkaConfig,
    config: &Config,
    topic: &str,
    n: u64,
    rate: Option<(u64, &Sink)>,
) -> anyhow::Result<()> {
    // Both streams, so workers see the realistic mix of event types.
    let topics = TopicsConfig {
        order_events: topic.to_owned(),
        payment_events: payments_of(topic),
        ..config.topics.clone()
    };
    let producer = EventProducer::new(kafka, &config.producer, &topics)?;
    let mut events = EventSource {
        generator: Generator::new(9, "bench"),
        order: 0,
        flow: Vec::new(),
    };
    if let Some((r, sink)) = rate {
        let w = warmup(r);
        send(&producer, &mut events, w, Some(r)).await?;
        while sink.handled.load(Ordering::Relaxed) < w {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        sink.start_measuring();
    }
    send(&producer, &mut events, n, rate.map(|(r, _)| r)).await?;
    producer.flush(Duration::from_secs(120)).await?;
    anyhow::ensure!(
        producer.stats().failed == 0,
        "{} events were not delivered",
        producer.stats().failed
    );
    Ok(())
}

/// Realistic order flows, one event at a time.
struct EventSource {
    generator: Generator,
    order: u64,
    flow: Vec<Envelope>,
}

impl EventSource {
    fn next(&mut self) -> Envelope {
        while self.flow.is_empty() {
            self.flow = self.generator.order_flow(self.order);
            self.flow.reverse();
            self.order += 1;
        }
        self.flow
            .pop()
            .unwrap_or_else(|| unreachable!("refilled above"))
    }
}

async fn send(
    producer: &EventProducer,
    events: &mut EventSource,
    n: u64,
    rate: Option<u64>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    for sent in 0..n {
        if let Some(r) = rate {
            tokio::time::sleep_until(
                (start + Duration::from_secs_f64(sent as f64 / r as f64)).into(),
            )
            .await;
        }
        let mut event = events.next();
        event.occurred_at = events::now_micros();
        drop(producer.enqueue(&event, None).await?);
    }
    Ok(())
}

/// Consumes `args.events` from `topic`; returns when the first one arrived.
/// A fresh group name for `variant`. On the embedded broker its dead-letter and retry topics are
/// made here: MockCluster serves no CreateTopics, and orderbus never lets a metadata request
/// create a topic.
fn group_for(variant: &str, cluster: Option<&Embedded>, partitions: i32) -> anyhow::Result<String> {
    let group = format!("bench-{variant}-{}", uuid::Uuid::new_v4().simple());
    if let Some(c) = cluster {
        let specs: Vec<TopicSpec> = [
            consumers::runtime::dead_letter_topic(&group),
            consumers::runtime::retry_topic(&group),
        ]
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions,
            replication_factor: 1,
        })
        .collect();
        c.create_topics(&specs)?;
    }
    Ok(group)
}

#[allow(clippy::too_many_arguments)]
async fn consume(
    variant: &str,
    group: &str,
    kafka: &KafkaConfig,
    config: &Config,
    topic: &str,
    args: &ConsumeArgs,
    sink: &Arc<Sink>,
    mut rx: watch::Receiver<u64>,
) -> anyhow::Result<Instant> {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    if variant == "bare" {
        let mut c: ClientConfig = kafka.client_config();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000");
        let (sink, first, topic, n) = (
            Arc::clone(sink),
            Arc::clone(&first),
            topic.to_owned(),
            args.events,
        );
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let consumer: BaseConsumer = c.create()?;
            consumer.subscribe(&[&topic, &payments_of(&topic)])?;
            while sink.handled.load(Ordering::Relaxed) < n {
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    let m = m?;
                    first.blocking_lock().get_or_insert_with(Instant::now);
                    sink.record(m.timestamp().to_millis().unwrap_or(0) * 1_000);
                }
            }
            Ok(())
        })
        .await??;
    } else {
        let group_config = GroupConfig {
            topics: vec![topic.to_owned(), payments_of(topic)],
            processors: args.processors,
            // Enough held events that the handler-free runtime is never the one waiting.
            max_in_flight: 10_000,
            session_timeout_ms: 6_000,
            ..GroupConfig::default()
        };
        let producer = EventProducer::new(kafka, &config.producer, &config.topics)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let id = &id[..12];
        let worker = match args.worker {
            Some(name) => Some(bench_worker(config, name, id, &producer).await?),
            None => None,
        };
        let analytics = match &worker {
            Some(AnyWorker::Analytics(a)) => Some(a.pool().clone()),
            Some(AnyWorker::Notification(n)) => Some(n.dedup().pool().clone()),
            _ => None,
        };
        let runtime = ConsumerGroup::new(
            group,
            group_config,
            kafka.clone(),
            &config.topics,
            Measured {
                sink: Arc::clone(sink),
                worker,
            },
            producer,
        )?;
        let stats = runtime.stats();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(runtime.run(async move {
            let _ = stop_rx.await;
        }));
        let watcher = {
            let (stats, first) = (Arc::clone(&stats), Arc::clone(&first));
            tokio::spawn(async move {
                while stats.received.load(Ordering::Relaxed) == 0 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                first.lock().await.get_or_insert_with(Instant::now);
            })
        };
        sink.wait(&mut rx, args.events).await;
        let _ = stop_tx.send(());
        run.await??;
        watcher.await?;
        if let Some(pool) = analytics {
            workers::support::postgres::drop_schema(&pool, &format!("bench_{id}")).await?;
        }
    }
    let started = first.lock().await.unwrap_or_else(Instant::now);
    Ok(started)
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so each phase reports its own
/// peak (Linux `clear_refs`, value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
