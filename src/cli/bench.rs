//! `orderbus bench publish`: sends N realistic events through orderbus's producer and the same
//! bytes through a bare rdkafka producer, alternating rounds in one process against one broker,
//! and prints events/s, delivery latency percentiles and peak RSS for each.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::{Envelope, TraceParent, headers, samples::Generator};
use hdrhistogram::Histogram;
use producers::admin::{TopicSpec, create_topics};
use producers::{EventProducer, KafkaConfig, TopicsConfig};
use rdkafka::ClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::cli::embedded::Embedded;
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Publish throughput and delivery latency, orderbus vs a bare rdkafka producer.
    Publish(PublishArgs),
    /// Consume throughput, peak RSS and publish-to-handled latency, orderbus vs a bare consumer.
    Consume(super::bench_consume::ConsumeArgs),
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Events per round and variant.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Rounds; each runs bare then orderbus.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Use the in-process MockCluster instead of the configured broker.
    #[arg(long)]
    embedded: bool,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Send at this many events/s instead of as fast as possible (for latency at a fixed load).
    #[arg(long)]
    rate: Option<u64>,
    /// Also run orderbus's producer on the pre-encoded bytes (`enqueue_raw`), which separates
    /// the producer's own overhead from the cost of encoding and validating.
    #[arg(long)]
    raw: bool,
}

struct Sample {
    stream: events::Stream,
    key: String,
    payload: Vec<u8>,
    event_type: &'static str,
    version: String,
    trace: String,
}

#[derive(Debug)]
struct Outcome {
    seconds: f64,
    delivered: u64,
    failed: u64,
    latency_us: Histogram<u64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }
}

pub async fn run(config: &Config, cmd: Command) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        Command::Publish(args) => args,
        Command::Consume(args) => {
            super::bench_consume::run(config, args).await?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let embedded = if args.embedded {
        Some(Embedded::start(1, &config.kafka)?)
    } else {
        None
    };
    let kafka = embedded
        .as_ref()
        .map_or_else(|| config.kafka.clone(), |e| e.kafka().clone());
    let mut generator = Generator::new(7, config.producer.name.clone());
    let mut events: Vec<Envelope> = Vec::with_capacity(args.events);
    let mut n = 0;
    while events.len() < args.events {
        events.extend(generator.order_flow(n));
        n += 1;
    }
    events.truncate(args.events);
    let samples: Vec<Sample> = events
        .iter()
        .map(|e| {
            Ok(Sample {
                stream: e.event_type().stream(),
                key: e.order_id.clone(),
                payload: e.encode()?,
                event_type: e.event_type().as_str(),
                version: e.schema_version().to_string(),
                trace: TraceParent::new_root().header_value(),
            })
        })
        .collect::<Result<_, events::Error>>()?;
    let bytes: usize = samples.iter().map(|s| s.payload.len()).sum();
    println!(
        "broker {}; {} events per run (avg {} bytes), {} rounds, {}",
        kafka.bootstrap_servers,
        args.events,
        bytes / samples.len().max(1),
        args.rounds,
        args.rate
            .map_or("unpaced".to_owned(), |r| format!("paced at {r}/s"))
    );
    println!(
        "{:<6} {:<9} {:>10} {:>12} {:>9} {:>9} {:>9} {:>7}",
        "round", "variant", "events", "events/s", "p50 ms", "p99 ms", "max ms", "failed"
    );
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (mut bare_total, mut ours_total, mut raw_total) =
        ((0u64, 0f64), (0u64, 0f64), (0u64, 0f64));
    for round in 1..=args.rounds {
        // Each variant gets its own order and payment topics, routed the same way.
        let topics_for = |variant: &str| TopicsConfig {
            order_events: format!("bench-{variant}-{}-{round}-orders", &run_id[..8]),
            payment_events: format!("bench-{variant}-{}-{round}-payments", &run_id[..8]),
            ..config.topics.clone()
        };
        let (bare_topics, ours_topics) = (topics_for("bare"), topics_for("orderbus"));
        let raw_topics = topics_for("raw");
        let specs: Vec<TopicSpec> = [&bare_topics, &ours_topics, &raw_topics]
            .into_iter()
            .flat_map(|t| [t.order_events.clone(), t.payment_events.clone()])
            .map(|name| TopicSpec {
                name,
                partitions: args.partitions,
                replication_factor: 1,
            })
            .collect();
        match &embedded {
            Some(embedded) => embedded.create_topics(&specs)?,
            None => {
                create_topics(&kafka, &specs, Duration::from_secs(30)).await?;
            }
        }
        let bare = run_bare(&kafka, config, &bare_topics, &samples, args.rate).await?;
        print_row(round, "bare", &bare);
        let ours = run_orderbus(&kafka, config, &ours_topics, &events, args.rate).await?;
        print_row(round, "orderbus", &ours);
        if args.raw {
            let raw = run_raw(&kafka, config, &raw_topics, &samples, args.rate).await?;
            print_row(round, "ob-raw", &raw);
            raw_total = (raw_total.0 + raw.delivered, raw_total.1 + raw.seconds);
        }
        bare_total = (bare_total.0 + bare.delivered, bare_total.1 + bare.seconds);
        ours_total = (ours_total.0 + ours.delivered, ours_total.1 + ours.seconds);
    }
    let bare_rate = bare_total.0 as f64 / bare_total.1;
    let ours_rate = ours_total.0 as f64 / ours_total.1;
    println!(
        "\nall rounds: bare {bare_rate:.0} events/s, orderbus {ours_rate:.0} events/s, ratio {:.2}x",
        ours_rate / bare_rate
    );
    if args.raw {
        let raw_rate = raw_total.0 as f64 / raw_total.1;
        println!(
            "ob-raw (orderbus producer, pre-encoded bytes) {raw_rate:.0} events/s, ratio {:.2}x",
            raw_rate / bare_rate
        );
    }
    println!("peak RSS: {} MiB", peak_rss_kib().unwrap_or(0) / 1024);
    Ok(ExitCode::SUCCESS)
}

fn print_row(round: usize, variant: &str, o: &Outcome) {
    let ms = |q: f64| o.latency_us.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{round:<6} {variant:<9} {:>10} {:>12.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
        o.delivered,
        o.rate(),
        ms(0.5),
        ms(0.99),
        o.latency_us.max() as f64 / 1000.0,
        o.failed
    );
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// Waits until event `i` is due at `rate` per second.
async fn pace(start: Instant, i: usize, rate: Option<u64>) {
    if let Some(rate) = rate.filter(|r| *r > 0) {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
}

/// Delivery accounting for the bare producer, the minimum any real producer does.
#[derive(Clone)]
struct BareContext(Arc<BareStats>);

struct BareStats {
    latency: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for BareContext {}

impl ProducerContext for BareContext {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut h) = self.0.latency.lock() {
                    let _ = h.record(sent.elapsed().as_micros() as u64);
                }
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn run_bare(
    kafka: &KafkaConfig,
    config: &Config,
    topics: &TopicsConfig,
    samples: &[Sample],
    rate: Option<u64>,
) -> anyhow::Result<Outcome> {
    let mut client = kafka.client_config();
    config.producer.apply(&mut client);
    let stats = Arc::new(BareStats {
        latency: Mutex::new(histogram()?),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let producer: ThreadedProducer<BareContext> =
        ThreadedProducer::from_config_and_context(&client, BareContext(Arc::clone(&stats)))?;
    // Warm-up, untimed: metadata, leaders and the idempotent producer ID for both topics.
    for topic in [&topics.order_events, &topics.payment_events] {
        producer
            .send(
                BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
                    .key("warm-up")
                    .payload("{}"),
            )
            .map_err(|(e, _)| e)?;
    }
    let flusher = producer.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(60))).await??;
    stats.delivered.store(0, Ordering::Relaxed);
    stats.failed.store(0, Ordering::Relaxed);
    if let Ok(mut h) = stats.latency.lock() {
        h.reset();
    }
    let start = Instant::now();
    for (i, s) in samples.iter().enumerate() {
        pace(start, i, rate).await;
        let headers = OwnedHeaders::new_with_capacity(4)
            .insert(Header {
                key: headers::EVENT_TYPE,
                value: Some(s.event_type),
            })
            .insert(Header {
                key: headers::SCHEMA_VERSION,
                value: Some(&s.version),
            })
            .insert(Header {
                key: headers::CONTENT_TYPE,
                value: Some(headers::CONTENT_TYPE_JSON),
            })
            .insert(Header {
                key: headers::TRACEPARENT,
                value: Some(&s.trace),
            });
        let topic = match s.stream {
            events::Stream::Order => &topics.order_events,
            events::Stream::Payment => &topics.payment_events,
        };
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
            .key(&s.key)
            .payload(&s.payload)
            .headers(headers);
        // The same full-queue back-off as EventProducer::enqueue_raw, so neither side gains.
        let mut wait = Duration::from_micros(200);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(20));
                    record = back;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    let flusher = producer.clone();
    tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(120))).await??;
    let seconds = start.elapsed().as_secs_f64();
    let latency = stats
        .latency
        .lock()
        .map(|h| h.clone())
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    Ok(Outcome {
        seconds,
        delivered: stats.delivered.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        latency_us: latency,
    })
}

async fn run_orderbus(
    kafka: &KafkaConfig,
    config: &Config,
    topics: &TopicsConfig,
    events: &[Envelope],
    rate: Option<u64>,
) -> anyhow::Result<Outcome> {
    let producer = EventProducer::new(kafka, &config.producer, topics)?;
    // Warm-up, untimed, as for the bare producer: one event per topic, awaited.
    let order = events
        .iter()
        .find(|e| e.event_type().stream() == events::Stream::Order);
    let payment = events
        .iter()
        .find(|e| e.event_type().stream() == events::Stream::Payment);
    for e in order.into_iter().chain(payment) {
        producer.publish(e).await?;
    }
    timed(&producer, events.len(), rate, async |i| {
        // The high-throughput path: no await per event; every outcome is counted by the
        // producer and failures are kept, so dropping the pending delivery loses nothing.
        drop(producer.enqueue(&events[i], None).await?);
        Ok(())
    })
    .await
}

async fn run_raw(
    kafka: &KafkaConfig,
    config: &Config,
    topics: &TopicsConfig,
    samples: &[Sample],
    rate: Option<u64>,
) -> anyhow::Result<Outcome> {
    let producer = EventProducer::new(kafka, &config.producer, topics)?;
    fn raw<'a>(topics: &'a TopicsConfig, s: &'a Sample) -> producers::RawRecord<'a> {
        producers::RawRecord {
            topic: topics.topic_for(match s.stream {
                events::Stream::Order => events::EventType::OrderCreated,
                events::Stream::Payment => events::EventType::PaymentCaptured,
            }),
            key: s.key.as_bytes(),
            payload: &s.payload,
            headers: vec![
                (headers::EVENT_TYPE, s.event_type.as_bytes()),
                (headers::SCHEMA_VERSION, s.version.as_bytes()),
                (headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON.as_bytes()),
                (headers::TRACEPARENT, s.trace.as_bytes()),
            ],
            partition: None,
            timestamp_ms: None,
        }
    }
    let record = |s| raw(topics, s);
    for s in [events::Stream::Order, events::Stream::Payment] {
        if let Some(sample) = samples.iter().find(|x| x.stream == s) {
            producer
                .enqueue_raw(record(sample), uuid::Uuid::nil())
                .await?
                .await?;
        }
    }
    timed(&producer, samples.len(), rate, async |i| {
        drop(
            producer
                .enqueue_raw(record(&samples[i]), uuid::Uuid::nil())
                .await?,
        );
        Ok(())
    })
    .await
}

/// Sends `n` messages with `send`, then flushes; counts and latency exclude what the producer
/// did before (the warm-up).
async fn timed(
    producer: &EventProducer,
    n: usize,
    rate: Option<u64>,
    mut send: impl AsyncFnMut(usize) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let before = producer.stats();
    let latency_before = producer.delivery_latency_us();
    let start = Instant::now();
    for i in 0..n {
        pace(start, i, rate).await;
        send(i).await?;
    }
    producer.flush(Duration::from_secs(120)).await?;
    let seconds = start.elapsed().as_secs_f64();
    let stats = producer.stats();
    let mut latency_us = producer.delivery_latency_us();
    latency_us.subtract(&latency_before)?;
    Ok(Outcome {
        seconds,
        delivered: stats.delivered - before.delivered,
        failed: stats.failed - before.failed,
        latency_us,
    })
}

/// Peak resident set size of this process (VmHWM), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
