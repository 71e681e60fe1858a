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
    occurred_at: Rfc3339,
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
            occurred_at: Rfc3339(self.occurred_at),
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

/// RFC 3339 form of a time. UTC times with 4-digit years (every event orderbus makes) are
/// written straight into a stack buffer, because the general formatter allocates and this runs
/// once per published event; other offsets go through `time`'s formatter.
struct Rfc3339(OffsetDateTime);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let t = self.0;
        if !t.offset().is_utc() || !(0..=9999).contains(&t.year()) {
            let text = t
                .format(&time::format_description::well_known::Rfc3339)
                .map_err(serde::ser::Error::custom)?;
            return s.serialize_str(&text);
        }
        let mut buf = [0u8; 30];
        let mut put = |at: usize, value: u32, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, t.year().unsigned_abs(), 4);
        put(5, u32::from(u8::from(t.month())), 2);
        put(8, u32::from(t.day()), 2);
        put(11, u32::from(t.hour()), 2);
        put(14, u32::from(t.minute()), 2);
        put(17, u32::from(t.second()), 2);
        put(20, t.nanosecond(), 9);
        for (at, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            buf[at] = c;
        }
        // Drop trailing zeros of the fraction, and the dot when nothing is left of it.
        let mut end = 29;
        while end > 20 && buf[end - 1] == b'0' {
            end -= 1;
        }
        if end == 20 {
            end = 19;
        }
        buf[end] = b'Z';
        // Every byte written above is ASCII.
        let text = std::str::from_utf8(&buf[..=end]).map_err(serde::ser::Error::custom)?;
        s.serialize_str(text)
    }
}

/// Now in UTC, truncated to microseconds so values survive a round trip through most databases.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fast(t: OffsetDateTime) -> String {
        serde_json::to_string(&Rfc3339(t)).expect("serializes")
    }

    #[test]
    fn fast_rfc3339_matches_the_library_and_parses_back() {
        for t in [
            datetime!(2026-11-22 03:25:28.123456 UTC),
            datetime!(2026-01-02 00:00:00 UTC),
            datetime!(0999-12-31 23:59:59.000000001 UTC),
            datetime!(2026-06-30 12:00:00.5 UTC),
            datetime!(2026-06-30 12:00:00.5 +02:00),
        ] {
            let text = fast(t);
            let inner: String = serde_json::from_str(&text).expect("a JSON string");
            let back =
                OffsetDateTime::parse(&inner, &time::format_description::well_known::Rfc3339)
                    .expect("parses");
            assert_eq!(back, t, "{inner}");
        }
        assert_eq!(
            fast(datetime!(2026-01-02 03:04:05.25 UTC)),
            "\"2026-01-02T03:04:05.25Z\""
        );
        assert_eq!(
            fast(datetime!(2026-01-02 03:04:05 UTC)),
            "\"2026-01-02T03:04:05Z\""
        );
    }
}
