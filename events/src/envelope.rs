//! The envelope every event travels in, and its encoding to JSON.
//!
//! Wire form (`schemas/*.v1.json`): `event_id` (UUIDv7), `event_type`, `schema_version`,
//! `occurred_at` (RFC 3339), `order_id` (also the Kafka key), `producer`, `data`.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::validate::{Path, Validate, fail, identifier, text};

// The types the table in `catalog` declares, also reachable here where they used to live.
pub use crate::catalog::{EventData, EventType, OrderPayload, Payload, PaymentPayload, Stream};

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
