//! Dead letters: an event that will never succeed goes to the group's dead-letter topic with its
//! original key, value and headers, plus headers saying why (`orderbus.dlq.reason` code and
//! `orderbus.dlq.error` text), where it came from (topic, partition, offset), how often it was
//! tried and when. An event that came back from the retry topic keeps the coordinates of the topic
//! it was first read from. Publishing is retried until the broker acknowledges it, because the source
//! offset may only be committed once the dead letter is safe.

use std::time::Duration;

use events::headers;
use producers::{EventProducer, RawRecord};
use rdkafka::message::{Headers, Message, OwnedMessage};
use tokio_util::sync::CancellationToken;

/// Why an event is dead-lettered.
#[derive(Debug, Clone)]
pub struct Reason {
    /// Stable code: `not_json`, `missing_field`, ..., `handler_permanent`, `retries_exhausted`,
    /// `handler_panic`.
    pub code: String,
    /// Text for people.
    pub error: String,
    /// Handling attempts made (0 when it could not be decoded).
    pub attempts: u32,
}

/// Headers this module adds; copies of them on the original are replaced, not duplicated.
const OWN: [&str; 4] = [
    headers::DLQ_REASON,
    headers::DLQ_ERROR,
    headers::ATTEMPTS,
    headers::DLQ_AT,
];

/// Where an event was first read: its own coordinates, or for an event coming back from the
/// retry topic, the `orderbus.source.*` headers it carries, so dead letters and redrives point
/// at the topic the event really belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl Source {
    /// The source of `message`.
    pub fn of(message: &OwnedMessage) -> Self {
        let header = |name: &str| header_str(message, name).map(str::to_owned);
        let carried = header(headers::SOURCE_TOPIC).and_then(|topic| {
            Some(Source {
                topic,
                partition: header(headers::SOURCE_PARTITION)?.parse().ok()?,
                offset: header(headers::SOURCE_OFFSET)?.parse().ok()?,
            })
        });
        carried.unwrap_or_else(|| Source {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
        })
    }
}

/// The value of `message`'s header `name` as text, if present and UTF-8.
pub(crate) fn header_str<'a>(message: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)?
        .value
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// Publishes `message` to `topic` as a dead letter and waits for the acknowledgement, retrying
/// with backoff. Returns false only if `cancel` fired first (shutdown): then the source offset
/// must not be committed, and the event is read again after restart.
pub async fn dead_letter(
    producer: &EventProducer,
    topic: &str,
    message: &OwnedMessage,
    reason: &Reason,
    cancel: &CancellationToken,
) -> bool {
    let attempts = reason.attempts.to_string();
    let at = events::now_micros()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let extra = [
        (headers::DLQ_REASON, reason.code.as_bytes()),
        (headers::DLQ_ERROR, reason.error.as_bytes()),
        (headers::ATTEMPTS, attempts.as_bytes()),
        (headers::DLQ_AT, at.as_bytes()),
    ];
    forward(producer, topic, message, &OWN, &extra, cancel).await
}

/// Publishes a copy of `message` (key, value, headers) to `topic` with the source headers
/// (see [`Source`]) and `extra` headers, replacing any existing headers named in `replace`.
/// Retries until the broker acknowledges it; false only if `cancel` fired first.
pub(crate) async fn forward(
    producer: &EventProducer,
    topic: &str,
    message: &OwnedMessage,
    replace: &[&str],
    extra: &[(&str, &[u8])],
    cancel: &CancellationToken,
) -> bool {
    let source = Source::of(message);
    let partition = source.partition.to_string();
    let offset = source.offset.to_string();
    let sourced = [
        headers::SOURCE_TOPIC,
        headers::SOURCE_PARTITION,
        headers::SOURCE_OFFSET,
    ];
    let mut hdrs: Vec<(&str, &[u8])> = message
        .headers()
        .map(|h| {
            h.iter()
                .filter(|h| !replace.contains(&h.key) && !sourced.contains(&h.key))
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    hdrs.extend([
        (headers::SOURCE_TOPIC, source.topic.as_bytes()),
        (headers::SOURCE_PARTITION, partition.as_bytes()),
        (headers::SOURCE_OFFSET, offset.as_bytes()),
    ]);
    hdrs.extend_from_slice(extra);
    let id = events::decode(message.payload().unwrap_or_default())
        .map(|e| e.event_id)
        .unwrap_or_default();
    let mut wait = Duration::from_millis(100);
    loop {
        let record = RawRecord {
            topic,
            key: message.key().unwrap_or_default(),
            payload: message.payload().unwrap_or_default(),
            headers: hdrs.clone(),
            partition: None,
            timestamp_ms: None,
        };
        let sent = async { producer.enqueue_raw(record, id).await?.await };
        let outcome = tokio::select! {
            r = sent => r,
            () = cancel.cancelled() => return false,
        };
        match outcome {
            Ok(_) => return true,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "copy not stored yet; retrying");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => return false,
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
