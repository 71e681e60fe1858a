//! The envelope every event travels in, the eight event types, and encoding to JSON.
//!
//! Wire form (`schemas/*.v1.json`): `event_id` (UUIDv7), `event_type`, `schema_version`,
//! `occurred_at` (RFC 3339), `order_id` (also the Kafka key), `producer`, `data`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::payload::{
    OrderCancelled, OrderCreated, OrderPaid, OrderShipped, PaymentAuthorized, PaymentCaptured,
    PaymentFailed, PaymentRefunded,
};
use crate::validate::{Checked, Path, Validate, fail, identifier, text};

/// Which topic family an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `order.*` events, topic `order-events` by default.
    Order,
    /// `payment.*` events, topic `payment-events` by default.
    Payment,
}

/// The eight event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// `order.created`
    OrderCreated,
    /// `order.paid`
    OrderPaid,
    /// `order.shipped`
    OrderShipped,
    /// `order.cancelled`
    OrderCancelled,
    /// `payment.authorized`
    PaymentAuthorized,
    /// `payment.captured`
    PaymentCaptured,
    /// `payment.failed`
    PaymentFailed,
    /// `payment.refunded`
    PaymentRefunded,
}

impl EventType {
    /// Every event type, in contract order.
    pub const ALL: [EventType; 8] = [
        EventType::OrderCreated,
        EventType::OrderPaid,
        EventType::OrderShipped,
        EventType::OrderCancelled,
        EventType::PaymentAuthorized,
        EventType::PaymentCaptured,
        EventType::PaymentFailed,
        EventType::PaymentRefunded,
    ];

    /// The wire name, e.g. `order.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderPaid => "order.paid",
            EventType::OrderShipped => "order.shipped",
            EventType::OrderCancelled => "order.cancelled",
            EventType::PaymentAuthorized => "payment.authorized",
            EventType::PaymentCaptured => "payment.captured",
            EventType::PaymentFailed => "payment.failed",
            EventType::PaymentRefunded => "payment.refunded",
        }
    }

    /// Topic family.
    pub const fn stream(self) -> Stream {
        match self {
            EventType::OrderCreated
            | EventType::OrderPaid
            | EventType::OrderShipped
            | EventType::OrderCancelled => Stream::Order,
            _ => Stream::Payment,
        }
    }

    /// Schema versions this build reads. Writing always uses the last one.
    pub const fn supported_versions(self) -> &'static [u16] {
        &[1]
    }

    /// The version this build writes.
    pub const fn current_version(self) -> u16 {
        1
    }

    /// [`current_version`](Self::current_version) as the `schema_version` header value.
    pub const fn current_version_str(self) -> &'static str {
        "1"
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownEventType(s.to_owned()))
    }
}

/// The typed `data` of an event; the variant decides `event_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// `order.created`
    OrderCreated(OrderCreated),
    /// `order.paid`
    OrderPaid(OrderPaid),
    /// `order.shipped`
    OrderShipped(OrderShipped),
    /// `order.cancelled`
    OrderCancelled(OrderCancelled),
    /// `payment.authorized`
    PaymentAuthorized(PaymentAuthorized),
    /// `payment.captured`
    PaymentCaptured(PaymentCaptured),
    /// `payment.failed`
    PaymentFailed(PaymentFailed),
    /// `payment.refunded`
    PaymentRefunded(PaymentRefunded),
}

/// A payload type with a fixed event type; lets producers take typed events.
pub trait Payload: Into<EventData> + Validate {
    /// The event type this payload is sent as.
    const EVENT_TYPE: EventType;
}

/// Marker for payloads of the order stream (`OrderProducer` takes only these).
pub trait OrderPayload: Payload {}

/// Marker for payloads of the payment stream (`PaymentProducer` takes only these).
pub trait PaymentPayload: Payload {}

macro_rules! payloads {
    ($($variant:ident => $marker:ident),* $(,)?) => {
        $(
            impl From<$variant> for EventData {
                fn from(p: $variant) -> Self {
                    EventData::$variant(p)
                }
            }
            impl Payload for $variant {
                const EVENT_TYPE: EventType = EventType::$variant;
            }
            impl $marker for $variant {}
        )*

        impl EventData {
            /// The event type of this payload.
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventData::$variant(_) => EventType::$variant,)*
                }
            }
        }

        impl Validate for EventData {
            fn validate_at(&self, at: Path<'_>) -> Checked {
                match self {
                    $(EventData::$variant(p) => p.validate_at(at),)*
                }
            }
        }
    };
}

payloads! {
    OrderCreated => OrderPayload,
    OrderPaid => OrderPayload,
    OrderShipped => OrderPayload,
    OrderCancelled => OrderPayload,
    PaymentAuthorized => PaymentPayload,
    PaymentCaptured => PaymentPayload,
    PaymentFailed => PaymentPayload,
    PaymentRefunded => PaymentPayload,
}

/// One event: the envelope fields plus its typed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// UUIDv7: unique, and sorts by creation time.
    pub event_id: Uuid,
    /// When the fact happened (not when it was sent).
    pub occurred_at: OffsetDateTime,
    /// The order this event is about; also the Kafka message key.
    pub order_id: String,
    /// Name of the service or tool that produced it.
    pub producer: String,
    /// The typed payload.
    pub data: EventData,
}

#[derive(Serialize)]
struct Wire<'a> {
    event_id: &'a Uuid,
    event_type: &'static str,
    schema_version: u16,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    order_id: &'a str,
    producer: &'a str,
    data: &'a EventData,
}

impl Envelope {
    /// A new event happening now, with a fresh UUIDv7.
    pub fn new(
        order_id: impl Into<String>,
        producer: impl Into<String>,
        data: impl Into<EventData>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            occurred_at: now_micros(),
            order_id: order_id.into(),
            producer: producer.into(),
            data: data.into(),
        }
    }

    /// The event type, from the payload.
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The schema version this event is written in.
    pub fn schema_version(&self) -> u16 {
        self.event_type().current_version()
    }

    /// Checks the whole event against its schema's rules.
    pub fn validate(&self) -> Result<()> {
        let root = Path::Root;
        if self.event_id.get_version_num() != 7
            || self.event_id.get_variant() != uuid::Variant::RFC4122
        {
            return fail(root.field("event_id"), "must be a UUIDv7");
        }
        identifier(root.field("order_id"), &self.order_id)?;
        text(root.field("producer"), &self.producer, 1, 100)?;
        self.data.validate_at(root.field("data"))
    }

    /// Validates, then encodes to the JSON wire form. An invalid event is refused, never sent.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        self.encode_unchecked()
    }

    /// Encodes without validating the content: for tests and tools that must produce broken
    /// events. Fails only when `occurred_at` has no RFC 3339 form.
    pub fn encode_unchecked(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        let wire = Wire {
            event_id: &self.event_id,
            event_type: self.event_type().as_str(),
            schema_version: self.schema_version(),
            occurred_at: self.occurred_at,
            order_id: &self.order_id,
            producer: &self.producer,
            data: &self.data,
        };
        // Strings, numbers and structs always serialize; the one fallible part is the RFC 3339
        // form of `occurred_at` (an offset with seconds, a year past 9999).
        serde_json::to_writer(&mut out, &wire).map_err(|e| Error::InvalidField {
            path: "occurred_at".into(),
            reason: e.to_string(),
        })?;
        Ok(out)
    }
}

/// Now in UTC, truncated to microseconds so values survive a round trip through most databases.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}
