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

/// The envelope as read in one pass. `data` is decoded straight into its type when
/// `event_type` and `schema_version` come before it (as orderbus writes them); otherwise it is
/// kept raw and decoded once the type is known.
struct RawEnvelope<'a> {
    event_id: Uuid,
    event_type: Cow<'a, str>,
    schema_version: u64,
    occurred_at: OffsetDateTime,
    order_id: String,
    producer: String,
    data: Data<'a>,
}

enum Data<'a> {
    Typed(EventData),
    Raw(&'a RawValue),
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
#[derive(Clone, Copy)]
enum Field {
    EventId,
    EventType,
    SchemaVersion,
    OccurredAt,
    OrderId,
    Producer,
    Data,
}

const FIELDS: &[&str] = &[
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "order_id",
    "producer",
    "data",
];

/// A string borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize)]
struct Rfc3339(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

/// Decodes `data` as the given type (the arm per type comes from the event table).
struct DataSeed(EventType);

impl<'de> serde::de::DeserializeSeed<'de> for DataSeed {
    type Value = EventData;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<EventData, D::Error> {
        EventData::deserialize_as(self.0, d)
    }
}

impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_struct("Envelope", FIELDS, EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> serde::de::Visitor<'de> for EnvelopeVisitor {
    type Value = RawEnvelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event envelope object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<RawEnvelope<'de>, A::Error> {
        use serde::de::Error as _;
        let (mut event_id, mut event_type, mut schema_version, mut occurred_at) =
            (None, None::<Cow<'de, str>>, None, None);
        let (mut order_id, mut producer, mut data) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            let name = FIELDS[field as usize];
            let seen = match field {
                Field::EventId => event_id.replace(map.next_value::<Uuid>()?).is_some(),
                Field::EventType => event_type
                    .replace(map.next_value::<CowStr<'de>>()?.0)
                    .is_some(),
                Field::SchemaVersion => schema_version.replace(map.next_value::<u64>()?).is_some(),
                Field::OccurredAt => occurred_at
                    .replace(map.next_value::<Rfc3339>()?.0)
                    .is_some(),
                Field::OrderId => order_id.replace(map.next_value::<String>()?).is_some(),
                Field::Producer => producer.replace(map.next_value::<String>()?).is_some(),
                Field::Data => {
                    let known = event_type
                        .as_deref()
                        .and_then(|t| t.parse::<EventType>().ok())
                        .filter(|t| {
                            schema_version.is_some_and(|v| {
                                t.supported_versions().iter().any(|s| u64::from(*s) == v)
                            })
                        });
                    let value = match known {
                        Some(t) => Data::Typed(map.next_value_seed(DataSeed(t))?),
                        None => Data::Raw(map.next_value::<&'de RawValue>()?),
                    };
                    data.replace(value).is_some()
                }
            };
            if seen {
                return Err(A::Error::duplicate_field(name));
            }
        }
        Ok(RawEnvelope {
            event_id: event_id.ok_or_else(|| A::Error::missing_field("event_id"))?,
            event_type: event_type.ok_or_else(|| A::Error::missing_field("event_type"))?,
            schema_version: schema_version
                .ok_or_else(|| A::Error::missing_field("schema_version"))?,
            occurred_at: occurred_at.ok_or_else(|| A::Error::missing_field("occurred_at"))?,
            order_id: order_id.ok_or_else(|| A::Error::missing_field("order_id"))?,
            producer: producer.ok_or_else(|| A::Error::missing_field("producer"))?,
            data: data.ok_or_else(|| A::Error::missing_field("data"))?,
        })
    }
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
    let data = match raw.data {
        Data::Typed(data) => data,
        Data::Raw(json) => decode_data(event_type, json.get())?,
    };
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
    let mut de = serde_json::Deserializer::from_str(json);
    let fast = serde::de::DeserializeSeed::deserialize(DataSeed(event_type), Strict(&mut de));
    match fast {
        Ok(data) => Ok(data),
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(json);
            let mut track = serde_path_to_error::Track::new();
            let tracked = serde_path_to_error::Deserializer::new(Strict(&mut de), &mut track);
            serde::de::DeserializeSeed::deserialize(DataSeed(event_type), tracked)
                .map_err(|e| classify(track.path().to_string(), e, "data"))
        }
    }
}

/// Parses `json` as `T`, turning serde's message into a typed error with the full dotted path
/// (`prefix` is where `json` sits in the whole event).
///
/// Path tracking allocates for every key, so the common case parses without it, and only a
/// failed parse is repeated with tracking to say where it failed.
fn parse<'de, T: Deserialize<'de>>(json: &'de str, prefix: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    if let Ok(value) = T::deserialize(Strict(&mut de))
        && de.end().is_ok()
    {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let value: T = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
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
