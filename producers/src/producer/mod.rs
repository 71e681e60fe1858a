//! One shared Kafka producer ([`EventProducer`]) and its typed faces, [`OrderProducer`] and
//! [`PaymentProducer`]. Every event is validated, keyed by order ID, and carries the contract
//! headers. Two ways to send:
//!
//! - `publish(..).await` waits for the broker's acknowledgement and returns partition and offset;
//! - `enqueue(..).await` returns as soon as librdkafka has the event (waiting only while its queue
//!   is full) with a [`PendingDelivery`] to await later or drop. Every delivery failure is counted
//!   in [`ProducerStats`], and one whose `PendingDelivery` was dropped is kept for
//!   [`EventProducer::take_failures`], so none is only logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{Envelope, EventType, TraceParent, headers};
use hdrhistogram::Histogram;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use uuid::Uuid;

use crate::config::{KafkaConfig, ProducerConfig, TopicsConfig};
use crate::error::{Error, Result};

mod delivery;
mod typed;

pub use delivery::{Delivery, DeliveryFailure, PendingDelivery, ProducerStats};
use delivery::{DeliveryContext, Pending, Shared};
pub use typed::{OrderProducer, PaymentProducer};

/// A message that is not an event: dead letters, retries, replays and raw benchmarks.
#[derive(Debug, Clone)]
pub struct RawRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Message key.
    pub key: &'a [u8],
    /// Message value.
    pub payload: &'a [u8],
    /// Headers as (name, value) pairs.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// Partition to write to; `None` lets the partitioner choose by key.
    pub partition: Option<i32>,
    /// Message timestamp in ms; `None` means now.
    pub timestamp_ms: Option<i64>,
}

/// The shared producer every typed producer and tool uses.
#[derive(Clone)]
pub struct EventProducer {
    producer: ThreadedProducer<DeliveryContext>,
    shared: Arc<Shared>,
    topics: Arc<TopicsConfig>,
    name: Arc<str>,
    queue_full_timeout: Duration,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("name", &self.name)
            .field("topics", &self.topics)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl EventProducer {
    /// Validates the config and connects (lazily: librdkafka connects on first use).
    pub fn new(
        kafka: &KafkaConfig,
        producer: &ProducerConfig,
        topics: &TopicsConfig,
    ) -> Result<Self> {
        kafka.validate()?;
        producer.validate()?;
        topics.validate()?;
        let mut config = kafka.client_config();
        producer.apply(&mut config);
        crate::config::check_with_librdkafka(&config, "producer")?;
        let shared = Arc::new(Shared::new()?);
        let context = DeliveryContext::new(Arc::clone(&shared));
        let producer_handle = ThreadedProducer::from_config_and_context(&config, context)?;
        Ok(Self {
            producer: producer_handle,
            shared,
            topics: Arc::new(topics.clone()),
            name: producer.name.as_str().into(),
            queue_full_timeout: Duration::from_millis(u64::from(producer.queue_full_timeout_ms)),
        })
    }

    /// The `producer` name written into events built by the typed producers.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Topic names in use.
    pub fn topics(&self) -> &TopicsConfig {
        &self.topics
    }

    /// The topic an event type goes to.
    pub fn topic_for(&self, event_type: EventType) -> &str {
        self.topics.topic_for(event_type)
    }

    /// Validates, sends and waits for the broker's acknowledgement.
    pub async fn publish(&self, event: &Envelope) -> Result<Delivery> {
        self.enqueue(event, None).await?.await
    }

    /// Validates and hands the event to librdkafka; waits only while its queue is full.
    /// `trace` continues a trace; `None` starts a new one.
    pub async fn enqueue(
        &self,
        event: &Envelope,
        trace: Option<TraceParent>,
    ) -> Result<PendingDelivery> {
        let payload = event.encode()?;
        let event_type = event.event_type();
        let trace = trace.unwrap_or_else(TraceParent::new_root).header_value();
        let record = RawRecord {
            topic: self.topic_for(event_type),
            key: event.order_id.as_bytes(),
            payload: &payload,
            headers: vec![
                (headers::EVENT_TYPE, event_type.as_str().as_bytes()),
                (
                    headers::SCHEMA_VERSION,
                    event_type.current_version_str().as_bytes(),
                ),
                (headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON.as_bytes()),
                (headers::TRACEPARENT, trace.as_bytes()),
            ],
            partition: None,
            // Publish time, not occurred_at: an old event backfilled today must not fall out of
            // time-based retention at once. occurred_at stays in the payload.
            timestamp_ms: None,
        };
        self.enqueue_raw(record, event.event_id).await
    }

    /// Sends a message that is not a fresh event (dead letters, retries, replays), exactly as
    /// given; `id` labels it in reports (use the event ID when there is one).
    pub async fn enqueue_raw(&self, record: RawRecord<'_>, id: Uuid) -> Result<PendingDelivery> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(*value),
            });
        }
        let (pending, delivery) = Pending::new(id);
        let mut base = BaseRecord::with_opaque_to(record.topic, pending)
            .key(record.key)
            .payload(record.payload)
            .headers(headers);
        if let Some(p) = record.partition {
            base = base.partition(p);
        }
        if let Some(ts) = record.timestamp_ms {
            base = base.timestamp(ts);
        }
        let deadline = Instant::now() + self.queue_full_timeout;
        let mut wait = Duration::from_micros(200);
        loop {
            match self.producer.send(base) {
                Ok(()) => {
                    self.shared.enqueued();
                    return Ok(delivery);
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if Instant::now() >= deadline {
                        return Err(Error::QueueFull(self.queue_full_timeout));
                    }
                    // The polling thread drains delivery reports meanwhile; back off gently.
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(20));
                    base = back;
                }
                Err((e, _)) => return Err(Error::Kafka(e)),
            }
        }
    }

    /// Waits until every enqueued event is reported, up to `timeout`.
    pub async fn flush(&self, timeout: Duration) -> Result<()> {
        let producer = self.producer.clone();
        let outcome = tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .map_err(|_| Error::Kafka(KafkaError::Canceled))?;
        match outcome {
            Ok(()) => Ok(()),
            Err(KafkaError::Flush(_)) => Err(Error::FlushTimeout(self.stats().in_flight())),
            Err(e) => Err(Error::Kafka(e)),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> ProducerStats {
        self.shared.stats()
    }

    /// Enqueue-to-acknowledgement latency of delivered messages so far, in microseconds.
    pub fn delivery_latency_us(&self) -> Histogram<u64> {
        self.shared.latency_us()
    }

    /// Failures whose `PendingDelivery` was dropped unawaited, oldest first (at most the last
    /// 10,000; `stats().failed` counts them all).
    pub fn take_failures(&self) -> Vec<DeliveryFailure> {
        self.shared.take_failures()
    }
}
