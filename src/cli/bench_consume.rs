//! `orderbus bench consume`: pre-produces N events, then reads them with a bare rdkafka consumer
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
use rdkafka::mocking::MockCluster;
use tokio::sync::{Mutex, watch};

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
}

/// Counts handled events and, at a fixed rate, publish-to-handled latency.
struct Sink {
    handled: AtomicU64,
    done: watch::Sender<u64>,
    latency_us: std::sync::Mutex<Histogram<u64>>,
}

impl Sink {
    fn new() -> anyhow::Result<(Arc<Self>, watch::Receiver<u64>)> {
        let (done, rx) = watch::channel(0);
        let sink = Sink {
            handled: AtomicU64::new(0),
            done,
            latency_us: std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
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

    async fn wait(&self, rx: &mut watch::Receiver<u64>, n: u64) {
        while self.handled.load(Ordering::Relaxed) < n {
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
        }
    }
}

struct NoOp(Arc<Sink>);

impl Handler for NoOp {
    fn name(&self) -> &str {
        "no-op"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        self.0
            .record((event.occurred_at.unix_timestamp_nanos() / 1_000) as i64);
        Ok(())
    }
}

pub async fn run(config: &Config, args: ConsumeArgs) -> anyhow::Result<()> {
    let cluster = if args.embedded {
        Some(MockCluster::new(1).context("cannot start the embedded broker")?)
    } else {
        None
    };
    let kafka = match &cluster {
        Some(c) => super::demo::embedded_kafka(&config.kafka, c.bootstrap_servers()),
        None => config.kafka.clone(),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let topic_for = |variant: &str| format!("bench-consume-{}-{variant}", &id[..8]);
    let make = |name: String| async {
        let spec = TopicSpec {
            name: name.clone(),
            partitions: args.partitions,
            replication_factor: 1,
        };
        match &cluster {
            Some(c) => super::demo::create_embedded_topics(c, &[spec]),
            None => create_topics(&kafka, &[spec], Duration::from_secs(30))
                .await
                .map(|_| ())
                .map_err(Into::into),
        }?;
        anyhow::Ok(name)
    };
    println!(
        "broker {}; {} events, {} partitions, orderbus processors={} (ordering per order on)",
        kafka.bootstrap_servers, args.events, args.partitions, args.processors
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
                let started = consume(variant, &kafka, config, &topic, &args, &sink, rx).await?;
                report(variant, &sink, started.elapsed(), false);
            }
        }
        Some(rate) => {
            for variant in variants(&args) {
                let topic = make(topic_for(variant)).await?;
                reset_peak_rss();
                let (sink, rx) = Sink::new()?;
                let consumer = {
                    let (kafka, config, topic, sink) = (
                        kafka.clone(),
                        config.clone(),
                        topic.clone(),
                        Arc::clone(&sink),
                    );
                    let args = ConsumeArgs {
                        rate: Some(rate),
                        ..args.clone_args()
                    };
                    tokio::spawn(async move {
                        consume(variant, &kafka, &config, &topic, &args, &sink, rx).await
                    })
                };
                // Let the consumer join and be assigned before the clock starts.
                tokio::time::sleep(Duration::from_secs(8)).await;
                produce(&kafka, config, &topic, args.events, Some(rate)).await?;
                let started = consumer.await??;
                report(variant, &sink, started.elapsed(), true);
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
        }
    }
}

fn variants(args: &ConsumeArgs) -> Vec<&'static str> {
    ["bare", "orderbus"]
        .into_iter()
        .filter(|v| args.only.as_deref().is_none_or(|o| o == *v))
        .collect()
}

fn report(variant: &str, sink: &Sink, elapsed: Duration, latency: bool) {
    let n = sink.handled.load(Ordering::Relaxed);
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

/// Publishes `n` realistic events to `topic`, as fast as possible or at `rate`/s, each stamped
/// with `occurred_at` = the moment it is sent.
async fn produce(
    kafka: &KafkaConfig,
    config: &Config,
    topic: &str,
    n: u64,
    rate: Option<u64>,
) -> anyhow::Result<()> {
    let topics = TopicsConfig {
        order_events: topic.to_owned(),
        payment_events: format!("{topic}-unused"),
        ..config.topics.clone()
    };
    let producer = EventProducer::new(kafka, &config.producer, &topics)?;
    let mut generator = Generator::new(9, "bench");
    let start = Instant::now();
    let mut sent = 0u64;
    let mut order = 0u64;
    while sent < n {
        for mut event in generator.order_flow(order) {
            if sent == n {
                break;
            }
            if let Some(r) = rate {
                tokio::time::sleep_until(
                    (start + Duration::from_secs_f64(sent as f64 / r as f64)).into(),
                )
                .await;
            }
            // Only order events, so one topic holds the whole stream.
            if event.event_type().stream() != events::Stream::Order {
                continue;
            }
            event.occurred_at = events::now_micros();
            drop(producer.enqueue(&event, None).await?);
            sent += 1;
        }
        order += 1;
    }
    producer.flush(Duration::from_secs(120)).await?;
    anyhow::ensure!(
        producer.stats().failed == 0,
        "{} events were not delivered",
        producer.stats().failed
    );
    Ok(())
}

/// Consumes `args.events` from `topic`; returns when the first one arrived.
async fn consume(
    variant: &str,
    kafka: &KafkaConfig,
    config: &Config,
    topic: &str,
    args: &ConsumeArgs,
    sink: &Arc<Sink>,
    mut rx: watch::Receiver<u64>,
) -> anyhow::Result<Instant> {
    let group = format!("bench-{variant}-{}", uuid::Uuid::new_v4().simple());
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    if variant == "bare" {
        let mut c: ClientConfig = kafka.client_config();
        c.set("group.id", &group)
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
            consumer.subscribe(&[&topic])?;
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
            topics: vec![topic.to_owned()],
            processors: args.processors,
            // High enough that the run never pauses fetching: on Tansu 0.6.0 a resume fetches
            // mid-batch, which that broker answers with nothing (see tests/common).
            max_in_flight: 10_000,
            session_timeout_ms: 6_000,
            ..GroupConfig::default()
        };
        let producer = EventProducer::new(kafka, &config.producer, &config.topics)?;
        let runtime = ConsumerGroup::new(
            &group,
            group_config,
            kafka.clone(),
            &config.topics,
            NoOp(Arc::clone(sink)),
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
    }
    let started = first.lock().await.unwrap_or_else(Instant::now);
    Ok(started)
}

/// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS, so each phase reports its own
/// peak (Linux `clear_refs`, value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
