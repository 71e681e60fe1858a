//! What the benchmarks send, where, and how fast: realistic order flows from the sample
//! generator, pre-encoded for the publish benchmark (so every variant sends the same bytes), or
//! published to a topic and its `-payments` twin for the consume benchmarks to read.

use std::time::{Duration, Instant};

use events::{Envelope, TraceParent, headers, samples::Generator};
use producers::{EventProducer, KafkaConfig, TopicsConfig};

use super::stats::Sink;
use crate::config::Config;

/// One event encoded once, before timing: the bytes and headers the bare producer and
/// `ob-raw` send.
pub struct Sample {
    pub stream: events::Stream,
    pub key: String,
    pub payload: Vec<u8>,
    pub event_type: &'static str,
    pub version: String,
    pub trace: String,
}

impl Sample {
    /// The headers orderbus's producer puts on the event, so the bare producer pays for them too.
    pub fn headers(&self) -> [(&'static str, &[u8]); 4] {
        [
            (headers::EVENT_TYPE, self.event_type.as_bytes()),
            (headers::SCHEMA_VERSION, self.version.as_bytes()),
            (headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON.as_bytes()),
            (headers::TRACEPARENT, self.trace.as_bytes()),
        ]
    }

    pub fn topic<'a>(&self, topics: &'a TopicsConfig) -> &'a str {
        match self.stream {
            events::Stream::Order => &topics.order_events,
            events::Stream::Payment => &topics.payment_events,
        }
    }
}

/// Where one variant of the publish benchmark sends, with the configured producer settings, and
/// at which rate (`None`: as fast as it can).
pub struct Target<'a> {
    pub kafka: &'a KafkaConfig,
    pub config: &'a Config,
    pub topics: TopicsConfig,
    pub rate: Option<u64>,
}

impl Target<'_> {
    pub fn orderbus_producer(&self) -> producers::Result<EventProducer> {
        EventProducer::new(self.kafka, &self.config.producer, &self.topics)
    }
}

/// `n` events of complete order flows (the last one cut short), each also as a [`Sample`].
pub fn samples(config: &Config, n: usize) -> anyhow::Result<(Vec<Envelope>, Vec<Sample>)> {
    let mut generator = Generator::new(7, config.producer.name.clone());
    let mut events: Vec<Envelope> = Vec::with_capacity(n);
    let mut order = 0;
    while events.len() < n {
        events.extend(generator.order_flow(order));
        order += 1;
    }
    events.truncate(n);
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
    Ok((events, samples))
}

/// Waits until event `i` is due at `rate` per second.
pub async fn pace(start: Instant, i: usize, rate: Option<u64>) {
    if let Some(rate) = rate.filter(|r| *r > 0) {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
    }
}

/// The payment-events topic that goes with a benchmark's (order-events) topic.
pub fn payments_of(topic: &str) -> String {
    format!("{topic}-payments")
}

/// Events sent (and handled) before measuring at a fixed rate: one second's worth, at least
/// 1,000. The producer's first batches wait for its idempotence id and metadata, the consumers'
/// first fetches for their assignment; neither is the steady latency.
pub fn warmup(rate: u64) -> u64 {
    rate.max(1_000)
}

/// Publishes `n` realistic events to `topic`, as fast as possible or at a rate, each stamped
/// with `occurred_at` = the moment it is sent. At a rate, a warm-up (see [`warmup`]) goes first
/// and the sink starts measuring once it has all been handled.
pub async fn produce(
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
        while sink.handled.load(std::sync::atomic::Ordering::Relaxed) < w {
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
