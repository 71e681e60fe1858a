//! Dead letters after the fact: [`list`] reads a group's `<group>.dlq` up to the end it has
//! when the call starts and counts them by reason with samples; [`redrive`] re-publishes them
//! (optionally one reason only) to the partition of the source topic they came from, with
//! `orderbus.redriven.at` and `orderbus.redriven.from = dlqtopic/partition/offset`, each once:
//! see [`ledger`] for how "once" survives crashes.
//!
//! A redriven event that fails again becomes a new dead letter (with the `redriven.from` header
//! of its earlier trip), which can itself be redriven: "once" is per dead letter.

pub mod ledger;
mod list;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use events::headers;
use producers::admin::{TopicSpec, ensure_topics};
use producers::{EventProducer, KafkaConfig, RawRecord};
use rdkafka::message::{Headers, Message};

use crate::error::{Error, Result};
use crate::runtime::config::dead_letter_topic;
use crate::runtime::replay::reader;
use ledger::{Mark, Record, State, ledger_topic};
pub use list::{DeadLetter, Listing, ReasonSummary, list};
use list::{header, read_ledger, read_ranges, read_topic};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a redrive did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Dead letters in the topic.
    pub total: u64,
    /// Matching the reason filter (all when none).
    pub matched: u64,
    /// Of those, redriven before (skipped).
    pub already: u64,
    /// Published now (dry run: would be), per source topic.
    pub redriven: BTreeMap<String, u64>,
    /// Without usable source headers, or whose source partition no longer exists (skipped).
    pub no_source: u64,
    /// Interrupted batches of an earlier run settled now, and how many of their dead letters
    /// were found already published.
    pub settled_batches: u64,
    /// Dead letters of settled batches found published.
    pub settled_found: u64,
}

/// Headers a redriven copy does not carry over: the dead letter's own, the retry topic's and an
/// earlier redrive's.
fn carried(key: &str) -> bool {
    !(key.starts_with("orderbus.dlq.")
        || key.starts_with("orderbus.source.")
        || key.starts_with("orderbus.retry.")
        || key.starts_with("orderbus.redriven.")
        || key == headers::ATTEMPTS)
}

/// Re-publishes `group`'s dead letters (only `reason` when given) to their source partitions,
/// each once. `dry_run` reports what it would do and writes nothing. `batch` bounds the dead
/// letters per ledger intent.
pub async fn redrive(
    kafka: &KafkaConfig,
    group: &str,
    producer: &EventProducer,
    reason: Option<&str>,
    dry_run: bool,
    batch: usize,
) -> Result<RedriveReport> {
    let dlq = dead_letter_topic(group);
    let ledger_name = ledger_topic(group);
    let mut ledger = read_ledger(kafka, group).await?;
    let mut report = RedriveReport::default();
    for pending in std::mem::take(&mut ledger.pending) {
        let found = settle(kafka, &pending).await?;
        report.settled_batches += 1;
        report.settled_found += found.len() as u64;
        if !dry_run {
            write_record(
                producer,
                &ledger_name,
                group,
                &Record {
                    batch: pending.batch.clone(),
                    state: State::Done,
                    items: found.iter().cloned().collect(),
                    marks: Vec::new(),
                },
            )
            .await?;
        }
        ledger.redriven.extend(found);
    }
    let messages = read_topic(kafka, &dlq)
        .await?
        .ok_or_else(|| Error::UnknownTopic(dlq.clone()))?;
    let mut todo = Vec::new();
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for m in messages {
        report.total += 1;
        let d = DeadLetter::of(m);
        if reason.is_some_and(|r| r != d.reason) {
            continue;
        }
        report.matched += 1;
        if ledger.redriven.contains(&d.at) {
            report.already += 1;
            continue;
        }
        let Some(source) = &d.source else {
            report.no_source += 1;
            continue;
        };
        if !partitions.contains_key(&source.topic) {
            let ids = topic_partitions(kafka, &source.topic).await?;
            partitions.insert(source.topic.clone(), ids);
        }
        if !partitions[&source.topic].contains(&source.partition) {
            report.no_source += 1;
            continue;
        }
        *report.redriven.entry(source.topic.clone()).or_default() += 1;
        todo.push(d);
    }
    if dry_run || todo.is_empty() {
        return Ok(report);
    }
    ensure_topics(
        kafka,
        &[TopicSpec {
            name: ledger_name.clone(),
            partitions: 1,
            replication_factor: producer.topics().replication_factor,
        }],
        TIMEOUT,
    )
    .await?;
    for chunk in todo.chunks(batch.max(1)) {
        publish_batch(kafka, producer, &ledger_name, group, chunk).await?;
    }
    Ok(report)
}

async fn topic_partitions(kafka: &KafkaConfig, topic: &str) -> Result<BTreeSet<i32>> {
    let (k, t) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let c = reader::client(&k)?;
        match reader::partitions(&c, &t, TIMEOUT) {
            Ok(ids) => Ok(ids.into_iter().collect()),
            Err(Error::UnknownTopic(_)) => Ok(BTreeSet::new()),
            Err(e) => Err(e),
        }
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

/// Intent, copies, confirmation. An error leaves the intent pending for the next run to settle.
async fn publish_batch(
    kafka: &KafkaConfig,
    producer: &EventProducer,
    ledger_name: &str,
    group: &str,
    chunk: &[DeadLetter],
) -> Result<()> {
    let mut targets: BTreeSet<(String, i32)> = BTreeSet::new();
    for d in chunk {
        if let Some(s) = &d.source {
            targets.insert((s.topic.clone(), s.partition));
        }
    }
    let (k, list) = (kafka.clone(), targets.clone());
    let marks = tokio::task::spawn_blocking(move || -> Result<Vec<Mark>> {
        let c = reader::client(&k)?;
        list.into_iter()
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
    .map_err(|e| Error::Task(e.to_string()))??;
    let batch = uuid::Uuid::now_v7().to_string();
    let items: Vec<String> = chunk.iter().map(|d| d.at.clone()).collect();
    write_record(
        producer,
        ledger_name,
        group,
        &Record {
            batch: batch.clone(),
            state: State::Pending,
            items: items.clone(),
            marks,
        },
    )
    .await?;
    let now = events::now_micros()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut pending = Vec::with_capacity(chunk.len());
    for d in chunk {
        let Some(source) = &d.source else { continue };
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
        let failed = |e: producers::Error| Error::Publish {
            topic: source.topic.clone(),
            error: e.to_string(),
        };
        pending.push((
            source.topic.clone(),
            producer
                .enqueue_raw(record, d.event_id.unwrap_or_default())
                .await
                .map_err(failed)?,
        ));
    }
    for (topic, p) in pending {
        p.await.map_err(|e| Error::Publish {
            topic,
            error: e.to_string(),
        })?;
    }
    write_record(
        producer,
        ledger_name,
        group,
        &Record {
            batch,
            state: State::Done,
            items,
            marks: Vec::new(),
        },
    )
    .await
}

async fn write_record(
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
async fn settle(kafka: &KafkaConfig, pending: &Record) -> Result<BTreeSet<String>> {
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
