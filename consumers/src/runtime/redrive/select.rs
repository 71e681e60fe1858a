//! Which dead letters a redrive publishes: those matching the reason filter, not redriven
//! before, stored whole, and whose source partition still exists; the rest are counted in the
//! report.

use std::collections::{BTreeMap, BTreeSet};

use events::headers;
use producers::KafkaConfig;
use rdkafka::message::OwnedMessage;

use super::list::{DeadLetter, header};
use super::{RedriveReport, TIMEOUT};
use crate::error::{Error, Result};
use crate::runtime::replay::reader;

/// The dead letters to publish, in topic order; counts every one in `report`.
pub(super) async fn select(
    kafka: &KafkaConfig,
    messages: Vec<OwnedMessage>,
    reason: Option<&str>,
    redriven: &BTreeSet<String>,
    report: &mut RedriveReport,
) -> Result<Vec<DeadLetter>> {
    let mut todo = Vec::new();
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for m in messages {
        report.total += 1;
        let d = DeadLetter::of(m);
        if reason.is_some_and(|r| r != d.reason) {
            continue;
        }
        report.matched += 1;
        if redriven.contains(&d.at) {
            report.already += 1;
            continue;
        }
        if header(&d.message, headers::DLQ_TRUNCATED).is_some() {
            report.truncated += 1;
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
    Ok(todo)
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
