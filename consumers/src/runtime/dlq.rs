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
const OWN: [&str; 5] = [
    headers::DLQ_REASON,
    headers::DLQ_ERROR,
    headers::ATTEMPTS,
    headers::DLQ_AT,
    headers::DLQ_TRUNCATED,
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

/// The most of a dead letter's value kept when the whole one is too large to store.
const KEPT_VALUE: usize = 16 * 1024;
/// The most of the error text a dead letter carries, so headers stay small.
const MAX_ERROR: usize = 2 * 1024;

/// Publishes `message` to `topic` as a dead letter and waits for the acknowledgement, retrying
/// with backoff. Returns false only if `cancel` fired first (shutdown): then the source offset
/// must not be committed, and the event is read again after restart.
///
/// A dead letter larger than the producer or broker takes (a value near `message.max.bytes`
/// plus the headers added here) is still stored, so its partition moves on: with the first
/// 16 KiB of its value and `orderbus.dlq.truncated` = the original size, or, if even that is
/// refused, with no value. The source headers point at the original while retention keeps it.
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
    let error = cut(&reason.error, MAX_ERROR);
    let extra = [
        (headers::DLQ_REASON, reason.code.as_bytes()),
        (headers::DLQ_ERROR, error.as_bytes()),
        (headers::ATTEMPTS, attempts.as_bytes()),
        (headers::DLQ_AT, at.as_bytes()),
    ];
    let value = message.payload().unwrap_or_default();
    let size = value.len().to_string();
    let mut shown = Copy {
        payload: value,
        extra: extra.to_vec(),
    };
    for kept in [value.len(), KEPT_VALUE, 0] {
        if kept < value.len() {
            shown.payload = &value[..kept.min(value.len())];
            shown.extra = extra.to_vec();
            shown.extra.push((headers::DLQ_TRUNCATED, size.as_bytes()));
            tracing::warn!(%topic, size = value.len(), kept, "dead letter too large to store whole; storing it truncated");
        }
        match forward(producer, topic, message, &OWN, &shown, cancel).await {
            Forwarded::Stored => return true,
            Forwarded::Cancelled => return false,
            Forwarded::TooLarge => {}
        }
    }
    // Even with no value the broker refuses it (its own headers are too large): keeping the
    // partition moving matters more than this one copy, whose source coordinates are logged.
    let source = Source::of(message);
    tracing::error!(%topic, source.topic = %source.topic, source.partition, source.offset, "dead letter refused as too large even without its value; skipped");
    true
}

/// The first `max` bytes of `text`, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What a forwarded copy carries beyond the original's key and headers.
#[derive(Debug, Clone)]
pub(crate) struct Copy<'a> {
    /// Its value: the original's, or part of it.
    pub(crate) payload: &'a [u8],
    /// Headers added (or replacing the original's of the same name).
    pub(crate) extra: Vec<(&'a str, &'a [u8])>,
}

/// How forwarding a copy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// The broker acknowledged it.
    Stored,
    /// Larger than the producer or broker takes; sending it again would fail the same way.
    TooLarge,
    /// Shutdown came first.
    Cancelled,
}

/// Publishes a copy of `message` (key and headers, `copy`'s value) to `topic` with the source
/// headers (see [`Source`]) and `copy.extra`, replacing any existing headers named in
/// `replace`. Retries until the broker acknowledges it, except for a copy that is too large.
pub(crate) async fn forward(
    producer: &EventProducer,
    topic: &str,
    message: &OwnedMessage,
    replace: &[&str],
    copy: &Copy<'_>,
    cancel: &CancellationToken,
) -> Forwarded {
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
                .filter(|h| !copy.extra.iter().any(|(k, _)| *k == h.key))
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    hdrs.extend([
        (headers::SOURCE_TOPIC, source.topic.as_bytes()),
        (headers::SOURCE_PARTITION, partition.as_bytes()),
        (headers::SOURCE_OFFSET, offset.as_bytes()),
    ]);
    hdrs.extend_from_slice(&copy.extra);
    let id = events::decode(message.payload().unwrap_or_default())
        .map(|e| e.event_id)
        .unwrap_or_default();
    let mut wait = Duration::from_millis(100);
    loop {
        let record = RawRecord {
            topic,
            key: message.key().unwrap_or_default(),
            payload: copy.payload,
            headers: hdrs.clone(),
            partition: None,
            timestamp_ms: None,
        };
        let sent = async { producer.enqueue_raw(record, id).await?.await };
        let outcome = tokio::select! {
            r = sent => r,
            () = cancel.cancelled() => return Forwarded::Cancelled,
        };
        match outcome {
            Ok(_) => return Forwarded::Stored,
            Err(e) if e.is_too_large() => return Forwarded::TooLarge,
            Err(e) => {
                tracing::warn!(%topic, error = %e, "copy not stored yet; retrying");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = cancel.cancelled() => return Forwarded::Cancelled,
                }
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
