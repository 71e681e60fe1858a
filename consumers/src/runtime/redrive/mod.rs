//! Dead letters after the fact: [`list`] reads a group's `<group>.dlq` up to the end it has
//! when the call starts and counts them by reason with samples; [`redrive`] re-publishes them
//! (optionally one reason only) to the partition of the source topic they came from, with
//! `orderbus.redriven.at` and `orderbus.redriven.from = dlqtopic/partition/offset`, each once:
//! see [`ledger`] for how "once" survives crashes.
//!
//! A redriven event that fails again becomes a new dead letter (with the `redriven.from` header
//! of its earlier trip), which can itself be redriven: "once" is per dead letter.
//!
//! - `list`: reading dead letters and the ledger; `select`: which ones a redrive publishes;
//!   `batch`: one batch's intent, copies and confirmation, and settling an interrupted one.

mod batch;
pub mod ledger;
mod list;
mod select;

use std::collections::BTreeMap;
use std::time::Duration;

use producers::admin::{TopicSpec, ensure_topics};
use producers::{EventProducer, KafkaConfig};

use crate::error::{Error, Result};
use crate::runtime::config::dead_letter_topic;
use ledger::{Record, State, ledger_topic};
pub use list::{DeadLetter, Listing, ReasonSummary, list};
use list::{read_ledger, read_topic};

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
    /// Stored without their whole value (`orderbus.dlq.truncated`: too large for the broker):
    /// not redriven, since the copy is not the event; their source headers point at the original.
    pub truncated: u64,
    /// Interrupted batches of an earlier run settled now, and how many of their dead letters
    /// were found already published.
    pub settled_batches: u64,
    /// Dead letters of settled batches found published.
    pub settled_found: u64,
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
    // An earlier run that stopped mid-batch: find what it published before choosing anew.
    for pending in std::mem::take(&mut ledger.pending) {
        let found = batch::settle(kafka, &pending).await?;
        report.settled_batches += 1;
        report.settled_found += found.len() as u64;
        if !dry_run {
            let done = Record {
                batch: pending.batch.clone(),
                state: State::Done,
                items: found.iter().cloned().collect(),
                marks: Vec::new(),
            };
            batch::write_record(producer, &ledger_name, group, &done).await?;
        }
        ledger.redriven.extend(found);
    }
    let messages = read_topic(kafka, &dlq)
        .await?
        .ok_or_else(|| Error::UnknownTopic(dlq.clone()))?;
    let todo = select::select(kafka, messages, reason, &ledger.redriven, &mut report).await?;
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
        batch::publish(kafka, producer, &ledger_name, group, chunk).await?;
    }
    Ok(report)
}
