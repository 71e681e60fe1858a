//! Reading dead letters: the whole `<group>.dlq` up to the end it has when the call starts,
//! each message with its dead-letter headers parsed ([`DeadLetter`]), and [`list`]'s count by
//! reason with samples.

use std::collections::BTreeMap;
use std::time::Duration;

use events::headers;
use producers::KafkaConfig;
use rdkafka::message::{Headers, Message, OwnedMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::config::dead_letter_topic;
use crate::runtime::dlq::Source;
use crate::runtime::redrive::ledger::{Ledger, ledger_topic};
use crate::runtime::replay::reader;

const TIMEOUT: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(120);

/// One dead letter, as `dlq list` shows it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// `dlqtopic/partition/offset`.
    pub at: String,
    /// `orderbus.dlq.reason`.
    pub reason: String,
    /// `orderbus.dlq.error`.
    pub error: String,
    /// Where the event was first read.
    pub source: Option<Source>,
    /// `orderbus.attempts`.
    pub attempts: Option<u32>,
    /// `orderbus.dlq.at`.
    pub dead_lettered_at: Option<String>,
    /// The event's id and type, when its value decodes.
    pub event_id: Option<uuid::Uuid>,
    /// Event type (`event_type` header, or the decoded value's).
    pub event_type: Option<String>,
    /// The message itself.
    pub message: OwnedMessage,
}

pub(crate) fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}

impl DeadLetter {
    pub(crate) fn of(message: OwnedMessage) -> Self {
        let decoded = events::decode(message.payload().unwrap_or_default()).ok();
        let source = header(&message, headers::SOURCE_TOPIC).and_then(|topic| {
            Some(Source {
                topic: topic.to_owned(),
                partition: header(&message, headers::SOURCE_PARTITION)?.parse().ok()?,
                offset: header(&message, headers::SOURCE_OFFSET)?.parse().ok()?,
            })
        });
        DeadLetter {
            at: format!(
                "{}/{}/{}",
                message.topic(),
                message.partition(),
                message.offset()
            ),
            reason: header(&message, headers::DLQ_REASON)
                .unwrap_or("unknown")
                .to_owned(),
            error: header(&message, headers::DLQ_ERROR)
                .unwrap_or_default()
                .to_owned(),
            source,
            attempts: header(&message, headers::ATTEMPTS).and_then(|a| a.parse().ok()),
            dead_lettered_at: header(&message, headers::DLQ_AT).map(str::to_owned),
            event_id: decoded.as_ref().map(|e| e.event_id),
            event_type: header(&message, headers::EVENT_TYPE)
                .map(str::to_owned)
                .or_else(|| decoded.map(|e| e.event_type().as_str().to_owned())),
            message,
        }
    }
}

/// Reads `topic` whole, up to the high watermarks it has now; `None` when it does not exist.
pub(crate) async fn read_topic(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<Option<Vec<OwnedMessage>>> {
    let (k, t) = (kafka.clone(), topic.to_owned());
    let ranges = tokio::task::spawn_blocking(move || -> Result<Option<Vec<(i32, i64, i64)>>> {
        let c = reader::client(&k)?;
        let ids = match reader::partitions(&c, &t, TIMEOUT) {
            Ok(ids) => ids,
            Err(Error::UnknownTopic(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for p in ids {
            let (low, high) = reader::watermarks(&c, &t, p, TIMEOUT)?;
            out.push((p, low, high));
        }
        Ok(Some(out))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    let Some(ranges) = ranges else {
        return Ok(None);
    };
    read_ranges(kafka, topic, ranges).await.map(Some)
}

pub(crate) async fn read_ranges(
    kafka: &KafkaConfig,
    topic: &str,
    ranges: Vec<(i32, i64, i64)>,
) -> Result<Vec<OwnedMessage>> {
    let (tx, mut rx) = mpsc::channel(1024);
    let (k, t) = (kafka.clone(), topic.to_owned());
    let reading = tokio::task::spawn_blocking(move || {
        reader::read_ranges(&k, &t, &ranges, &tx, &CancellationToken::new(), IDLE)
    });
    let mut out = Vec::new();
    while let Some(m) = rx.recv().await {
        out.push(m);
    }
    reading.await.map_err(|e| Error::Task(e.to_string()))??;
    Ok(out)
}

/// Dead letters of one reason.
#[derive(Debug, Clone, Default)]
pub struct ReasonSummary {
    /// How many.
    pub count: u64,
    /// The first few.
    pub samples: Vec<DeadLetter>,
}

/// `<group>.dlq` at a glance.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Dead letters in the topic.
    pub total: u64,
    /// Of them, already redriven (per the ledger).
    pub redriven: u64,
    /// Per reason code.
    pub by_reason: BTreeMap<String, ReasonSummary>,
}

/// Counts `group`'s dead letters by reason, with up to `samples` examples each.
pub async fn list(kafka: &KafkaConfig, group: &str, samples: usize) -> Result<Listing> {
    let topic = dead_letter_topic(group);
    let messages = read_topic(kafka, &topic)
        .await?
        .ok_or_else(|| Error::UnknownTopic(topic.clone()))?;
    let ledger = read_ledger(kafka, group).await?;
    let mut listing = Listing::default();
    for m in messages {
        let d = DeadLetter::of(m);
        listing.total += 1;
        if ledger.redriven.contains(&d.at) {
            listing.redriven += 1;
        }
        let entry = listing.by_reason.entry(d.reason.clone()).or_default();
        entry.count += 1;
        if entry.samples.len() < samples {
            entry.samples.push(d);
        }
    }
    Ok(listing)
}

pub(crate) async fn read_ledger(kafka: &KafkaConfig, group: &str) -> Result<Ledger> {
    let values = read_topic(kafka, &ledger_topic(group))
        .await?
        .unwrap_or_default();
    Ok(Ledger::from_values(
        values.iter().map(|m| m.payload().unwrap_or_default()),
    ))
}
