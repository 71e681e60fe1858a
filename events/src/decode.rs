//! Decoding bytes into an [`Envelope`] without ever panicking, with errors that say exactly what
//! is wrong and where: not UTF-8, not JSON, missing, unknown or mistyped field (with its dotted
//! path), unknown `event_type`, unsupported `schema_version`, or a value outside the contract.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::envelope::{Envelope, EventData, EventType};
use crate::error::{Error, Result};
use crate::strict::Strict;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    event_id: Uuid,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    schema_version: u64,
    #[serde(with = "time::serde::rfc3339")]
    occurred_at: OffsetDateTime,
    order_id: String,
    producer: String,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Decodes and validates one event from its wire bytes.
pub fn decode(bytes: &[u8]) -> Result<Envelope> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    decode_str(text)
}

/// Decodes and validates one event from JSON text.
pub fn decode_str(text: &str) -> Result<Envelope> {
    let raw: RawEnvelope<'_> = parse(text, "")?;
    let event_type: EventType = raw.event_type.parse()?;
    let version = raw.schema_version;
    if !event_type
        .supported_versions()
        .iter()
        .any(|v| u64::from(*v) == version)
    {
        return Err(Error::UnsupportedSchemaVersion {
            event_type: event_type.as_str().to_owned(),
            version,
            supported: event_type
                .supported_versions()
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let data = decode_data(event_type, raw.data.get())?;
    let envelope = Envelope {
        event_id: raw.event_id,
        occurred_at: raw.occurred_at,
        order_id: raw.order_id,
        producer: raw.producer,
        data,
    };
    envelope.validate()?;
    Ok(envelope)
}

fn decode_data(event_type: EventType, json: &str) -> Result<EventData> {
    const AT: &str = "data";
    Ok(match event_type {
        EventType::OrderCreated => EventData::OrderCreated(parse(json, AT)?),
        EventType::OrderPaid => EventData::OrderPaid(parse(json, AT)?),
        EventType::OrderShipped => EventData::OrderShipped(parse(json, AT)?),
        EventType::OrderCancelled => EventData::OrderCancelled(parse(json, AT)?),
        EventType::PaymentAuthorized => EventData::PaymentAuthorized(parse(json, AT)?),
        EventType::PaymentCaptured => EventData::PaymentCaptured(parse(json, AT)?),
        EventType::PaymentFailed => EventData::PaymentFailed(parse(json, AT)?),
        EventType::PaymentRefunded => EventData::PaymentRefunded(parse(json, AT)?),
    })
}

/// Parses `json` as `T`, turning serde's message into a typed error with the full dotted path
/// (`prefix` is where `json` sits in the whole event).
fn parse<'de, T: Deserialize<'de>>(json: &'de str, prefix: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        classify(path, e.into_inner(), prefix)
    })?;
    // Trailing garbage after the document is a syntax error, reported as not JSON.
    de.end().map_err(|e| classify(String::new(), e, prefix))?;
    Ok(value)
}

fn join(prefix: &str, path: &str) -> String {
    let path = if path == "." { "" } else { path };
    match (prefix.is_empty(), path.is_empty()) {
        (true, true) => "(root)".to_owned(),
        (true, false) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}.{path}"),
    }
}

fn classify(path: String, e: serde_json::Error, prefix: &str) -> Error {
    use serde_json::error::Category;
    if matches!(
        e.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return Error::NotJson {
            reason: strip_position(&e),
            line: e.line(),
            column: e.column(),
        };
    }
    let message = strip_position(&e);
    // A missing field is reported at its parent, so name the field itself; an unknown field's
    // path already ends in its own name.
    if let Some(name) = backticked(&message, "missing field `") {
        return Error::MissingField {
            path: join(prefix, &join_field(&path, name)),
        };
    }
    if backticked(&message, "unknown field `").is_some() {
        return Error::UnknownField {
            path: join(prefix, &path),
        };
    }
    Error::InvalidField {
        path: join(prefix, &path),
        reason: message,
    }
}

fn join_field(parent: &str, name: &str) -> String {
    if parent.is_empty() || parent == "." {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn backticked<'m>(message: &'m str, lead: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(lead)?;
    rest.split_once('`').map(|(name, _)| name)
}

/// serde_json appends " at line L column C"; the typed error keeps those apart.
fn strip_position(e: &serde_json::Error) -> String {
    let full = e.to_string();
    match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

/// Decodes a JSON value of a type the caller names (used for `--data` on the CLI).
pub fn parse_data<T: DeserializeOwned>(json: &str) -> Result<T> {
    parse(json, "data")
}

/// Builds an envelope from publish input: a full envelope, or a partial one where `event_id`,
/// `occurred_at`, `schema_version` and `producer` may be left out and are filled in (a fresh
/// UUIDv7, now, the current version, `default_producer`). Everything present is checked exactly
/// as [`decode`] checks it.
pub fn decode_publish_input(text: &str, default_producer: &str) -> Result<Envelope> {
    let mut value: serde_json::Map<String, serde_json::Value> = parse(text, "")?;
    let event_type = match value.get("event_type") {
        Some(serde_json::Value::String(s)) => Some(s.parse::<EventType>()?),
        _ => None,
    };
    value
        .entry("event_id")
        .or_insert_with(|| Uuid::now_v7().to_string().into());
    if !value.contains_key("occurred_at") {
        let now = crate::envelope::now_micros()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::InvalidField {
                path: "occurred_at".into(),
                reason: e.to_string(),
            })?;
        value.insert("occurred_at".into(), now.into());
    }
    value
        .entry("producer")
        .or_insert_with(|| default_producer.into());
    if let Some(t) = event_type {
        value
            .entry("schema_version")
            .or_insert_with(|| t.current_version().into());
    }
    let filled = serde_json::Value::Object(value).to_string();
    decode_str(&filled)
}
