//! The baselines: a bare rdkafka producer and a bare rdkafka consumer, doing the minimum any
//! real client does (count deliveries, time them; poll and count), measured in the same run as
//! orderbus so the ratio between them is what orderbus costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use producers::{KafkaConfig, TopicsConfig};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

use super::load::{Sample, Target, pace, payments_of};
use super::stats::{Outcome, Sink, histogram};

/// Delivery accounting for the bare producer, the minimum any real producer does.
#[derive(Clone)]
struct BareContext(Arc<BareStats>);

struct BareStats {
    latency: Mutex<Histogram<u64>>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl BareStats {
    /// Forgets the warm-up.
    fn reset(&self) {
        self.delivered.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
        if let Ok(mut h) = self.latency.lock() {
            h.reset();
        }
    }
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

type BareProducer = ThreadedProducer<BareContext>;

/// Sends `samples` through a bare producer with the same producer settings as orderbus's.
pub async fn publish(target: &Target<'_>, samples: &[Sample]) -> anyhow::Result<Outcome> {
    let mut client = target.kafka.client_config();
    target.config.producer.apply(&mut client);
    let stats = Arc::new(BareStats {
        latency: Mutex::new(histogram()?),
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let producer: BareProducer =
        ThreadedProducer::from_config_and_context(&client, BareContext(Arc::clone(&stats)))?;
    warm_up(&producer, &target.topics).await?;
    stats.reset();
    let start = Instant::now();
    for (i, s) in samples.iter().enumerate() {
        pace(start, i, target.rate).await;
        send(&producer, &target.topics, s).await?;
    }
    flush(&producer, Duration::from_secs(120)).await?;
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

/// Untimed: metadata, leaders and the idempotent producer ID for both topics.
async fn warm_up(producer: &BareProducer, topics: &TopicsConfig) -> anyhow::Result<()> {
    for topic in [&topics.order_events, &topics.payment_events] {
        producer
            .send(
                BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
                    .key("warm-up")
                    .payload("{}"),
            )
            .map_err(|(e, _)| e)?;
    }
    flush(producer, Duration::from_secs(60)).await
}

async fn flush(producer: &BareProducer, timeout: Duration) -> anyhow::Result<()> {
    let flusher = producer.clone();
    tokio::task::spawn_blocking(move || flusher.flush(timeout)).await??;
    Ok(())
}

async fn send(producer: &BareProducer, topics: &TopicsConfig, s: &Sample) -> anyhow::Result<()> {
    let headers =
        s.headers()
            .into_iter()
            .fold(OwnedHeaders::new_with_capacity(4), |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value),
                })
            });
    let mut record = BaseRecord::with_opaque_to(s.topic(topics), Box::new(Instant::now()))
        .key(&s.key)
        .payload(&s.payload)
        .headers(headers);
    // The same full-queue back-off as EventProducer::enqueue_raw, so neither side gains.
    let mut wait = Duration::from_micros(200);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(20));
                record = back;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Reads `n` events of `topic` and its payments twin in `group`, recording each in `sink`;
/// returns when the first one arrived.
pub async fn consume(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    n: u64,
    sink: &Arc<Sink>,
) -> anyhow::Result<Instant> {
    let mut c: ClientConfig = kafka.client_config();
    c.set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000");
    let (sink, topic) = (Arc::clone(sink), topic.to_owned());
    let first = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<Instant>> {
        let consumer: BaseConsumer = c.create()?;
        consumer.subscribe(&[&topic, &payments_of(&topic)])?;
        let mut first = None;
        while sink.handled.load(Ordering::Relaxed) < n {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m?;
                first.get_or_insert_with(Instant::now);
                sink.record(m.timestamp().to_millis().unwrap_or(0) * 1_000);
            }
        }
        Ok(first)
    })
    .await??;
    Ok(first.unwrap_or_else(Instant::now))
}
