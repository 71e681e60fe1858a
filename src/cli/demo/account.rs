//! Whether a demo group accounted for every event, counted by event: each valid event it was
//! given is among the ids its handler handled ([`Tally`]) or in its dead-letter topic, and each
//! malformed one the demo published on purpose is in its dead-letter topic. Checked after the
//! groups stopped and before the summary; the demo exits 1 naming what is missing otherwise.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use consumers::runtime::{GroupStats, dead_letter_topic};
use events::headers;
use producers::KafkaConfig;
use rdkafka::message::{Headers, Message, OwnedMessage};
use serde::Deserialize;
use uuid::Uuid;

use super::tally::Tally;

/// Where a message was published: topic, partition, offset.
pub type Source = (String, i32, i64);

/// How long reading a topic to its end may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many missing ids an error names.
const NAMED: usize = 5;

/// One group's run.
#[derive(Debug)]
pub struct GroupRun {
    /// The worker's name.
    pub name: String,
    /// Each member's counters (two members with `--rebalance-after`).
    pub stats: Vec<Arc<GroupStats>>,
    /// What its handler did.
    pub tally: Arc<Tally>,
    /// What it was given.
    pub expected: Arc<Expected>,
}

impl GroupRun {
    /// Reads the dead letters of `group` (the run's group, stopped) and compares.
    pub async fn account(self, kafka: &KafkaConfig, group: &str) -> anyhow::Result<Accounted> {
        let letters = Letters::read(kafka, group).await?;
        let shortfall = Shortfall::of(&self.expected, &self.tally, &letters);
        Ok(Accounted {
            run: self,
            letters,
            shortfall,
        })
    }
}

/// A stopped group's run, its dead letters and what it did not account for.
#[derive(Debug)]
pub struct Accounted {
    pub run: GroupRun,
    pub letters: Letters,
    pub shortfall: Shortfall,
}

/// What one group must account for.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Valid events, each to be handled or dead-lettered at least once.
    pub ids: HashSet<Uuid>,
    /// Malformed events, each to be dead-lettered.
    pub malformed: Vec<Source>,
}

impl Expected {
    /// Events in all.
    pub fn events(&self) -> u64 {
        (self.ids.len() + self.malformed.len()) as u64
    }
}

/// A group's dead letters, each event once however often it was dead-lettered (a redelivered
/// malformed event is dead-lettered again).
#[derive(Debug, Default)]
pub struct Letters {
    /// The ids of the dead-lettered events that have one.
    ids: HashSet<Uuid>,
    /// Where each dead-lettered event was read from.
    sources: HashSet<Source>,
    /// Events by `orderbus.dlq.reason`.
    pub reasons: BTreeMap<String, u64>,
}

impl Letters {
    /// Reads `group`'s dead-letter topic to its end, without joining a group.
    pub async fn read(kafka: &KafkaConfig, group: &str) -> anyhow::Result<Letters> {
        let topic = dead_letter_topic(group);
        let letters = consumers::snapshot::read_all(kafka, &[topic], READ_TIMEOUT).await?;
        let mut out = Letters::default();
        for m in &letters {
            out.add(m);
        }
        Ok(out)
    }

    /// Dead-lettered events.
    pub fn events(&self) -> u64 {
        self.reasons.values().sum()
    }

    fn add(&mut self, letter: &OwnedMessage) {
        let header = |name: &str| {
            letter
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let partition = header(headers::SOURCE_PARTITION).and_then(|v| v.parse().ok());
        let offset = header(headers::SOURCE_OFFSET).and_then(|v| v.parse().ok());
        let source = header(headers::SOURCE_TOPIC)
            .zip(partition)
            .zip(offset)
            .map(|((topic, partition), offset)| (topic, partition, offset));
        let id = letter.payload().and_then(event_id_of);
        // An event is new when neither its id nor its source was dead-lettered before.
        let new_id = id.is_some_and(|id| self.ids.insert(id));
        let new_source = source.clone().is_some_and(|s| self.sources.insert(s));
        if new_id || (id.is_none() && new_source) {
            let reason = header(headers::DLQ_REASON).unwrap_or_else(|| "?".into());
            *self.reasons.entry(reason).or_default() += 1;
        }
    }
}

/// What a group did not account for.
#[derive(Debug, Default, PartialEq)]
pub struct Shortfall {
    /// Valid events neither handled nor dead-lettered.
    pub missing: Vec<Uuid>,
    /// Malformed events not dead-lettered.
    pub malformed: Vec<Source>,
}

impl Shortfall {
    /// Compares what a group did with what it was given.
    pub fn of(expected: &Expected, tally: &Tally, letters: &Letters) -> Self {
        let mut missing = tally.unhandled(&expected.ids);
        missing.retain(|id| !letters.ids.contains(id));
        missing.sort();
        let malformed = expected
            .malformed
            .iter()
            .filter(|s| !letters.sources.contains(*s))
            .cloned()
            .collect();
        Shortfall { missing, malformed }
    }

    /// What is missing, in words, for `group`.
    pub fn describe(&self, group: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.missing.is_empty() {
            let named: Vec<String> = self
                .missing
                .iter()
                .take(NAMED)
                .map(Uuid::to_string)
                .collect();
            lines.push(format!(
                "group {group} neither handled nor dead-lettered {} events, e.g. {}",
                self.missing.len(),
                named.join(", ")
            ));
        }
        for (topic, partition, offset) in &self.malformed {
            lines.push(format!(
                "group {group} did not dead-letter the malformed event at {topic}/{partition}@{offset}"
            ));
        }
        lines
    }
}

/// The event ids on `topic` (those whose message has one), and its messages in all.
pub async fn ids_on(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<(HashSet<Uuid>, u64)> {
    let messages = consumers::snapshot::read_all(kafka, &[topic.to_owned()], READ_TIMEOUT).await?;
    let ids = messages
        .iter()
        .filter_map(|m| m.payload().and_then(event_id_of))
        .collect();
    Ok((ids, messages.len() as u64))
}

/// The `event_id` of an encoded event, if the payload has one (a malformed or truncated one
/// may not).
fn event_id_of(payload: &[u8]) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct Id {
        event_id: Uuid,
    }
    serde_json::from_slice::<Id>(payload)
        .ok()
        .map(|i| i.event_id)
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders};

    use super::*;

    fn letter(source: &Source, payload: &[u8], reason: &str) -> OwnedMessage {
        let (topic, partition, offset) = source;
        let (partition, offset) = (partition.to_string(), offset.to_string());
        let mut h = OwnedHeaders::new();
        for (key, value) in [
            (headers::SOURCE_TOPIC, topic.as_str()),
            (headers::SOURCE_PARTITION, &partition),
            (headers::SOURCE_OFFSET, &offset),
            (headers::DLQ_REASON, reason),
        ] {
            h = h.insert(Header {
                key,
                value: Some(value),
            });
        }
        let (payload, topic) = (Some(payload.to_vec()), "x.dlq".to_owned());
        OwnedMessage::new(payload, None, topic, Timestamp::NotAvailable, 0, 0, Some(h))
    }

    #[test]
    fn the_group_is_done_only_when_every_event_is_handled_or_dead_lettered() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let broken: Source = ("order-events".into(), 1, 7);
        let expected = Expected {
            ids: ids.iter().copied().collect(),
            malformed: vec![broken.clone()],
        };
        let (tally, mut letters) = (Tally::default(), Letters::default());
        // Redeliveries: as many handler calls as events, but only two distinct events.
        for id in [ids[0], ids[1], ids[0], ids[1], ids[0]] {
            tally.record(id, true);
        }
        let short = Shortfall::of(&expected, &tally, &letters);
        assert_eq!(short.missing.len(), 2);
        assert_eq!(short.malformed, vec![broken.clone()]);
        assert_eq!(short.describe("g").len(), 2);
        // The third handled, the fourth (and the malformed one, twice) dead-lettered.
        tally.record(ids[2], true);
        let payload = format!(r#"{{"event_id":"{}"}}"#, ids[3]);
        letters.add(&letter(
            &("order-events".into(), 0, 3),
            payload.as_bytes(),
            "p",
        ));
        letters.add(&letter(&broken, b"not JSON", "not_json"));
        letters.add(&letter(&broken, b"not JSON", "not_json"));
        let none = Shortfall::of(&expected, &tally, &letters);
        assert_eq!(none, Shortfall::default());
        assert!(none.describe("g").is_empty());
        assert_eq!(letters.events(), 2);
        assert_eq!(letters.reasons.get("not_json"), Some(&1));
    }
}
