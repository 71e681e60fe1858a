//! What becomes of a sent event: the delivery callback librdkafka calls on its polling thread,
//! the [`PendingDelivery`] a caller awaits, the counters and latency histogram, and the failures
//! nobody awaited, kept (bounded) for [`EventProducer::take_failures`](super::EventProducer::take_failures).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use hdrhistogram::Histogram;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use tokio::sync::oneshot;
use uuid::Uuid;

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

pub(super) struct Shared {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    unclaimed: Mutex<VecDeque<DeliveryFailure>>,
    /// Enqueue-to-acknowledgement time of delivered messages, in microseconds. Only the
    /// polling thread records, so the lock is uncontended.
    latency_us: Mutex<Histogram<u64>>,
}

impl Shared {
    pub(super) fn new() -> Result<Self> {
        Ok(Shared {
            enqueued: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unclaimed: Mutex::new(VecDeque::new()),
            // 1 µs to 1 hour at 3 significant digits.
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .map_err(|e| Error::config("producer", e.to_string()))?,
            ),
        })
    }

    /// librdkafka took a message.
    pub(super) fn enqueued(&self) {
        self.enqueued.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> ProducerStats {
        ProducerStats {
            enqueued: self.enqueued.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    pub(super) fn latency_us(&self) -> Histogram<u64> {
        self.latency_us
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    pub(super) fn take_failures(&self) -> Vec<DeliveryFailure> {
        self.unclaimed
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }
}

/// Per-message state handed to librdkafka and back to the delivery callback.
pub(super) struct Pending {
    tx: oneshot::Sender<Result<Delivery>>,
    event_id: Uuid,
    enqueued_at: Instant,
}

pub(super) struct DeliveryContext {
    shared: Arc<Shared>,
}

impl Pending {
    /// The state for one message of event `event_id`, and the caller's end of its answer.
    pub(super) fn new(event_id: Uuid) -> (Box<Pending>, PendingDelivery) {
        let (tx, rx) = oneshot::channel();
        let pending = Box::new(Pending {
            tx,
            event_id,
            enqueued_at: Instant::now(),
        });
        (pending, PendingDelivery { rx, event_id })
    }
}

impl DeliveryContext {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        DeliveryContext { shared }
    }
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
