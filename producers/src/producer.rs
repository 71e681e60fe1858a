//! One shared Kafka producer ([`EventProducer`]) and its typed faces, [`OrderProducer`] and
//! [`PaymentProducer`]. Every event is validated, keyed by order ID, and carries the contract
//! headers. Two ways to send:
//!
//! - `publish(..).await` waits for the broker's acknowledgement and returns partition and offset;
//! - `enqueue(..).await` returns as soon as librdkafka has the event (waiting only while its queue
//!   is full) with a [`PendingDelivery`] to await later or drop. Every delivery failure is counted
//!   in [`ProducerStats`], and one whose `PendingDelivery` was dropped is kept for
//!   [`EventProducer::take_failures`], so none is only logged.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use events::{Envelope, EventType, OrderPayload, PaymentPayload, Stream, TraceParent, headers};
use hdrhistogram::Histogram;
use rdkafka::client::ClientContext;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::config::{KafkaConfig, ProducerConfig, TopicsConfig};
use crate::error::{Error, Result};

/// Where the broker stored an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event.
    pub event_id: Uuid,
    /// Topic written to.
    pub topic: String,
    /// Partition written to.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
}

/// A delivery that failed and whose [`PendingDelivery`] nobody was awaiting.
#[derive(Debug, Clone)]
pub struct DeliveryFailure {
    /// The event (nil for raw records).
    pub event_id: Uuid,
    /// Message key (the order ID for events).
    pub key: String,
    /// Topic it was going to.
    pub topic: String,
    /// librdkafka's reason.
    pub error: KafkaError,
}

/// Counters since the producer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducerStats {
    /// Handed to librdkafka.
    pub enqueued: u64,
    /// Acknowledged by the broker.
    pub delivered: u64,
    /// Failed for good (after librdkafka's own retries).
    pub failed: u64,
}

impl ProducerStats {
    /// Enqueued but not yet reported either way.
    pub fn in_flight(&self) -> u64 {
        self.enqueued.saturating_sub(self.delivered + self.failed)
    }
}

/// Unclaimed failures kept for `take_failures`; beyond this only the count grows, so a long
/// outage cannot exhaust memory.
const MAX_KEPT_FAILURES: usize = 10_000;

struct Shared {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    unclaimed: Mutex<VecDeque<DeliveryFailure>>,
    /// Enqueue-to-acknowledgement time of delivered messages, in microseconds. Only the
    /// polling thread records, so the lock is uncontended.
    latency_us: Mutex<Histogram<u64>>,
}

/// Per-message state handed to librdkafka and back to the delivery callback.
struct Pending {
    tx: oneshot::Sender<Result<Delivery>>,
    event_id: Uuid,
    enqueued_at: Instant,
}

struct DeliveryContext {
    shared: Arc<Shared>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Pending>;

    fn delivery(&self, result: &DeliveryResult<'_>, pending: Box<Pending>) {
        let Pending {
            tx,
            event_id,
            enqueued_at,
        } = *pending;
        match result {
            Ok(m) => {
                self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut h) = self.shared.latency_us.lock() {
                    h.saturating_record(enqueued_at.elapsed().as_micros() as u64);
                }
                // Build the answer only for a caller still waiting for it.
                if !tx.is_closed() {
                    let _ = tx.send(Ok(Delivery {
                        event_id,
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset: m.offset(),
                    }));
                }
            }
            Err((e, m)) => {
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                let failure = DeliveryFailure {
                    event_id,
                    key: m
                        .key()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .unwrap_or_default(),
                    topic: m.topic().to_owned(),
                    error: e.clone(),
                };
                let to_caller = Error::Delivery {
                    event_id,
                    topic: failure.topic.clone(),
                    source: e.clone(),
                };
                // The caller dropped its PendingDelivery: keep the failure so it is not lost.
                if tx.send(Err(to_caller)).is_err() {
                    tracing::warn!(
                        topic = %failure.topic, key = %failure.key, error = %failure.error,
                        "delivery failed and nobody awaited it; kept for take_failures"
                    );
                    if let Ok(mut q) = self.shared.unclaimed.lock() {
                        if q.len() == MAX_KEPT_FAILURES {
                            q.pop_front();
                        }
                        q.push_back(failure);
                    }
                }
            }
        }
    }
}

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
        let shared = Arc::new(Shared {
            enqueued: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unclaimed: Mutex::new(VecDeque::new()),
            // 1 µs to 1 hour at 3 significant digits.
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .map_err(|e| Error::config("producer", e.to_string()))?,
            ),
        });
        let context = DeliveryContext {
            shared: Arc::clone(&shared),
        };
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
        let (tx, rx) = oneshot::channel();
        let pending = Box::new(Pending {
            tx,
            event_id: id,
            enqueued_at: Instant::now(),
        });
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
                    self.shared.enqueued.fetch_add(1, Ordering::Relaxed);
                    return Ok(PendingDelivery { rx, event_id: id });
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
        ProducerStats {
            enqueued: self.shared.enqueued.load(Ordering::Relaxed),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    /// Enqueue-to-acknowledgement latency of delivered messages so far, in microseconds.
    pub fn delivery_latency_us(&self) -> Histogram<u64> {
        self.shared
            .latency_us
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Failures whose `PendingDelivery` was dropped unawaited, oldest first (at most the last
    /// 10,000; `stats().failed` counts them all).
    pub fn take_failures(&self) -> Vec<DeliveryFailure> {
        self.shared
            .unclaimed
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }
}

/// The broker's answer for one enqueued event. Await it, or drop it and rely on
/// [`EventProducer::stats`] and [`EventProducer::take_failures`].
#[derive(Debug)]
#[must_use = "await the delivery, or drop it knowingly and check take_failures"]
pub struct PendingDelivery {
    rx: oneshot::Receiver<Result<Delivery>>,
    event_id: Uuid,
}

impl PendingDelivery {
    /// The event this delivery is for.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }
}

impl Future for PendingDelivery {
    type Output = Result<Delivery>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.event_id;
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Canceled(id))))
    }
}

/// Publishes `order.*` events to the order topic.
#[derive(Debug, Clone)]
pub struct OrderProducer {
    inner: EventProducer,
}

/// Publishes `payment.*` events to the payment topic.
#[derive(Debug, Clone)]
pub struct PaymentProducer {
    inner: EventProducer,
}

macro_rules! typed_producer {
    ($ty:ident, $marker:ident, $stream:expr) => {
        impl $ty {
            /// A typed face over the shared producer.
            pub fn new(inner: EventProducer) -> Self {
                Self { inner }
            }

            /// Builds the event (fresh UUIDv7, now), sends it keyed by `order_id` and waits for
            /// the acknowledgement.
            pub async fn publish<P: $marker>(
                &self,
                order_id: impl Into<String>,
                payload: P,
            ) -> Result<Delivery> {
                let event = Envelope::new(order_id, self.inner.name(), payload);
                self.inner.publish(&event).await
            }

            /// Sends a ready envelope of this stream and waits for the acknowledgement.
            pub async fn publish_envelope(&self, event: &Envelope) -> Result<Delivery> {
                self.enqueue_envelope(event, None).await?.await
            }

            /// Sends without waiting for the acknowledgement.
            pub async fn enqueue<P: $marker>(
                &self,
                order_id: impl Into<String>,
                payload: P,
                trace: Option<TraceParent>,
            ) -> Result<PendingDelivery> {
                let event = Envelope::new(order_id, self.inner.name(), payload);
                self.inner.enqueue(&event, trace).await
            }

            /// Sends a ready envelope of this stream without waiting for the acknowledgement.
            pub async fn enqueue_envelope(
                &self,
                event: &Envelope,
                trace: Option<TraceParent>,
            ) -> Result<PendingDelivery> {
                if event.event_type().stream() != $stream {
                    return Err(Error::WrongStream {
                        event_type: event.event_type(),
                        expected: match event.event_type().stream() {
                            Stream::Order => "order",
                            Stream::Payment => "payment",
                        },
                    });
                }
                self.inner.enqueue(event, trace).await
            }

            /// The shared producer underneath (stats, flush, failures).
            pub fn shared(&self) -> &EventProducer {
                &self.inner
            }
        }
    };
}

typed_producer!(OrderProducer, OrderPayload, Stream::Order);
typed_producer!(PaymentProducer, PaymentPayload, Stream::Payment);
