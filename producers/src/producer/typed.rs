//! The typed faces over the shared producer: [`OrderProducer`] takes only order payloads and
//! [`PaymentProducer`] only payment payloads, so an event cannot go to the other stream's topic.

use events::{Envelope, OrderPayload, PaymentPayload, Stream, TraceParent};

use super::EventProducer;
use super::delivery::{Delivery, PendingDelivery};
use crate::error::{Error, Result};

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
