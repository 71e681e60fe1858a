//! One redrive batch, so that "once" survives a crash: an intent in the ledger (its dead letters
//! and each target partition's high watermark before), the copies, then the confirmation. A
//! batch left pending is settled by the next run, which scans the targets from the recorded
//! watermarks for the copies' `orderbus.redriven.from` markers.

use std::collections::BTreeSet;

use events::headers;
use producers::{EventProducer, KafkaConfig, PendingDelivery, RawRecord};
use rdkafka::message::{Headers, Message};

use super::TIMEOUT;
use super::ledger::{Mark, Record, State};
use super::list::{DeadLetter, header, read_ranges};
use crate::error::{Error, Result};
use crate::runtime::replay::reader;

/// Headers a redriven copy does not carry over: the dead letter's own, the retry topic's and an
/// earlier redrive's.
fn carried(key: &str) -> bool {
    !(key.starts_with("orderbus.dlq.")
        || key.starts_with("orderbus.source.")
        || key.starts_with("orderbus.retry.")
        || key.starts_with("orderbus.redriven.")
        || key == headers::ATTEMPTS)
}

/// Intent, copies, confirmation. An error leaves the intent pending for the next run to settle.
pub(super) async fn publish(
    kafka: &KafkaConfig,
    producer: &EventProducer,
    ledger_name: &str,
    group: &str,
    chunk: &[DeadLetter],
) -> Result<()> {
    let batch = uuid::Uuid::now_v7().to_string();
    let items: Vec<String> = chunk.iter().map(|d| d.at.clone()).collect();
    let intent = Record {
        batch: batch.clone(),
        state: State::Pending,
        items: items.clone(),
        marks: marks(kafka, chunk).await?,
    };
    write_record(producer, ledger_name, group, &intent).await?;
    let now = events::now_micros()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut pending = Vec::with_capacity(chunk.len());
    for d in chunk {
        if let Some(copy) = copy(producer, d, &now).await? {
            pending.push(copy);
        }
    }
    for (topic, p) in pending {
        p.await.map_err(|e| Error::Publish {
            topic,
            error: e.to_string(),
        })?;
    }
    let done = Record {
        batch,
        state: State::Done,
        items,
        marks: Vec::new(),
    };
    write_record(producer, ledger_name, group, &done).await
}

/// Each target partition's high watermark before the batch: where settling starts to look.
async fn marks(kafka: &KafkaConfig, chunk: &[DeadLetter]) -> Result<Vec<Mark>> {
    let targets: BTreeSet<(String, i32)> = chunk
        .iter()
        .filter_map(|d| d.source.as_ref())
        .map(|s| (s.topic.clone(), s.partition))
        .collect();
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<Mark>> {
        let c = reader::client(&k)?;
        targets
            .into_iter()
            .map(|(topic, partition)| {
                let (_, high) = reader::watermarks(&c, &topic, partition, TIMEOUT)?;
                Ok(Mark {
                    topic,
                    partition,
                    from: high,
                })
            })
            .collect()
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

/// Sends the dead letter's copy to its source partition, marked as redriven (`now`) from where
/// it was; `None` for one without a source.
async fn copy(
    producer: &EventProducer,
    d: &DeadLetter,
    now: &str,
) -> Result<Option<(String, PendingDelivery)>> {
    let Some(source) = &d.source else {
        return Ok(None);
    };
    let m = &d.message;
    let mut hdrs: Vec<(&str, &[u8])> = m
        .headers()
        .map(|h| {
            h.iter()
                .filter(|h| carried(h.key))
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    hdrs.push((headers::REDRIVEN_AT, now.as_bytes()));
    hdrs.push((headers::REDRIVEN_FROM, d.at.as_bytes()));
    let record = RawRecord {
        topic: &source.topic,
        key: m.key().unwrap_or_default(),
        payload: m.payload().unwrap_or_default(),
        headers: hdrs,
        partition: Some(source.partition),
        timestamp_ms: None,
    };
    let pending = producer
        .enqueue_raw(record, d.event_id.unwrap_or_default())
        .await
        .map_err(|e| Error::Publish {
            topic: source.topic.clone(),
            error: e.to_string(),
        })?;
    Ok(Some((source.topic.clone(), pending)))
}

pub(super) async fn write_record(
    producer: &EventProducer,
    ledger_name: &str,
    group: &str,
    record: &Record,
) -> Result<()> {
    let value = serde_json::to_vec(record).map_err(|e| Error::Task(e.to_string()))?;
    let failed = |e: producers::Error| Error::Publish {
        topic: ledger_name.to_owned(),
        error: e.to_string(),
    };
    producer
        .enqueue_raw(
            RawRecord {
                topic: ledger_name,
                key: group.as_bytes(),
                payload: &value,
                headers: vec![(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON.as_bytes())],
                partition: Some(0),
                timestamp_ms: None,
            },
            uuid::Uuid::nil(),
        )
        .await
        .map_err(failed)?
        .await
        .map_err(failed)?;
    Ok(())
}

/// Which dead letters of an interrupted batch reached their source partitions: scans each
/// from the watermark recorded before the batch for `orderbus.redriven.from` markers.
pub(super) async fn settle(kafka: &KafkaConfig, pending: &Record) -> Result<BTreeSet<String>> {
    let items: BTreeSet<&str> = pending.items.iter().map(String::as_str).collect();
    let mut found = BTreeSet::new();
    for mark in &pending.marks {
        let (k, t, p) = (kafka.clone(), mark.topic.clone(), mark.partition);
        let (_, high) = tokio::task::spawn_blocking(move || {
            let c = reader::client(&k)?;
            reader::watermarks(&c, &t, p, TIMEOUT)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let messages =
            read_ranges(kafka, &mark.topic, vec![(mark.partition, mark.from, high)]).await?;
        for m in &messages {
            if let Some(from) = header(m, headers::REDRIVEN_FROM)
                && items.contains(from)
            {
                found.insert(from.to_owned());
            }
        }
    }
    Ok(found)
}
