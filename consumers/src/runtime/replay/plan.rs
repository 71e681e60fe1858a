//! A replay's plan: each partition's `[from, to)` resolved once, at the start, from the bounds
//! and the watermarks read then, so events published after the start are never part of it.
//! Reads a few messages when a bound is a time; commits, creates and publishes nothing.

use std::collections::HashMap;
use std::time::Duration;

use producers::KafkaConfig;
use rdkafka::consumer::BaseConsumer;

use super::bounds::{self, Bound};
use super::reader;
use super::time_search::{self, TimeResolution};
use crate::error::{Error, Result};

/// One partition's resolved range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// Partition.
    pub partition: i32,
    /// First offset replayed.
    pub from: i64,
    /// One past the last offset replayed (the range is empty when `to <= from`).
    pub to: i64,
    /// The partition's watermarks when the plan was made.
    pub low: i64,
    /// High watermark when the plan was made.
    pub high: i64,
    /// What happened resolving it (clamped offsets, a broker answer that failed its check).
    pub notes: Vec<String>,
}

impl PartitionRange {
    /// Offsets in the range (an upper bound on events where offsets have gaps).
    pub fn count(&self) -> u64 {
        u64::try_from(self.to - self.from).unwrap_or(0)
    }
}

/// A replay's fixed ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The topic replayed.
    pub topic: String,
    /// Per partition, in partition order.
    pub ranges: Vec<PartitionRange>,
}

impl Plan {
    /// Offsets over all partitions.
    pub fn total(&self) -> u64 {
        self.ranges.iter().map(PartitionRange::count).sum()
    }

    pub(crate) fn triples(&self) -> Vec<(i32, i64, i64)> {
        self.ranges
            .iter()
            .map(|r| (r.partition, r.from, r.to))
            .collect()
    }
}

/// Resolves `from` and `to` on every partition of `topic`. Reads a few messages when a bound is
/// a time; commits, creates and publishes nothing.
pub async fn plan(kafka: &KafkaConfig, topic: &str, from: &Bound, to: &Bound) -> Result<Plan> {
    plan_with_broker_answers(kafka, topic, from, to, |_, answer| answer).await
}

/// [`plan`], with the broker's ListOffsets-by-time answers passed through `answers`
/// (partition, answer; `None` is -1) before they are checked: lets tests make a real broker
/// lie, to prove a wrong answer is caught.
pub async fn plan_with_broker_answers(
    kafka: &KafkaConfig,
    topic: &str,
    from: &Bound,
    to: &Bound,
    answers: fn(i32, Option<i64>) -> Option<i64>,
) -> Result<Plan> {
    kafka.validate()?;
    let (kafka, topic, from, to) = (kafka.clone(), topic.to_owned(), from.clone(), to.clone());
    tokio::task::spawn_blocking(move || plan_blocking(&kafka, &topic, &from, &to, answers))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

const TIMEOUT: Duration = Duration::from_secs(30);

fn plan_blocking(
    kafka: &KafkaConfig,
    topic: &str,
    from: &Bound,
    to: &Bound,
    answers: fn(i32, Option<i64>) -> Option<i64>,
) -> Result<Plan> {
    let client = reader::client(kafka)?;
    let all = reader::partitions(&client, topic, TIMEOUT)?;
    let chosen = chosen_partitions(topic, &all, from, to)?;
    let mut ranges = Vec::with_capacity(chosen.len());
    for p in chosen {
        let (low, high) = reader::watermarks(&client, topic, p, TIMEOUT)?;
        ranges.push(PartitionRange {
            partition: p,
            from: low,
            to: high,
            low,
            high,
            notes: Vec::new(),
        });
    }
    let resolver = Resolver {
        client: &client,
        topic,
        answers,
    };
    for (which, bound) in [("from", from), ("to", to)] {
        resolver.resolve(which, bound, &mut ranges)?;
    }
    for r in &mut ranges {
        if r.to < r.from {
            r.notes.push(format!(
                "--to ({}) is before --from ({}): nothing to replay",
                r.to, r.from
            ));
            r.to = r.from;
        }
    }
    Ok(Plan {
        topic: topic.to_owned(),
        ranges,
    })
}

/// The partitions replayed: those both per-partition lists name, else all of the topic's.
fn chosen_partitions(topic: &str, all: &[i32], from: &Bound, to: &Bound) -> Result<Vec<i32>> {
    let chosen: Vec<i32> = match (from, to) {
        (Bound::Offsets(a), Bound::Offsets(b)) => {
            if a.keys().ne(b.keys()) {
                return Err(Error::Bound {
                    which: "to",
                    value: format!("{:?}", b.keys().collect::<Vec<_>>()),
                    problem: "--from and --to lists must name the same partitions".into(),
                });
            }
            a.keys().copied().collect()
        }
        (Bound::Offsets(m), _) | (_, Bound::Offsets(m)) => m.keys().copied().collect(),
        _ => all.to_vec(),
    };
    if let Some(p) = chosen.iter().find(|p| !all.contains(p)) {
        return Err(Error::Bound {
            which: if matches!(from, Bound::Offsets(_)) {
                "from"
            } else {
                "to"
            },
            value: p.to_string(),
            problem: format!("{topic} has partitions {all:?}"),
        });
    }
    Ok(chosen)
}

/// Turns one bound into an offset on every range, with a note where it was clamped or where
/// the broker's answer for a time failed its check.
struct Resolver<'a> {
    client: &'a BaseConsumer,
    topic: &'a str,
    answers: fn(i32, Option<i64>) -> Option<i64>,
}

impl Resolver<'_> {
    fn resolve(&self, which: &str, bound: &Bound, ranges: &mut [PartitionRange]) -> Result<()> {
        // One ListOffsets request for all partitions, not one per partition.
        let told = if let Bound::Time(t) = bound {
            let ids: Vec<i32> = ranges.iter().map(|r| r.partition).collect();
            reader::offsets_for_time(self.client, self.topic, &ids, *t, TIMEOUT)?
        } else {
            HashMap::new()
        };
        for r in ranges {
            let (offset, note) = match bound {
                Bound::Earliest => (r.low, None),
                Bound::Now => (r.high, None),
                Bound::Offset(o) => bounds::clamp(*o, r.low, r.high),
                Bound::Offsets(m) => bounds::clamp(m[&r.partition], r.low, r.high),
                Bound::Time(t) => {
                    let answered = told.get(&r.partition).copied().flatten();
                    self.time(which, r, *t, answered)?
                }
            };
            if which == "from" {
                r.from = offset;
            } else {
                r.to = offset;
            }
            r.notes.extend(note);
        }
        Ok(())
    }

    fn time(
        &self,
        which: &str,
        r: &PartitionRange,
        t: i64,
        answered: Option<i64>,
    ) -> Result<(i64, Option<String>)> {
        let mut probe = reader::Probe {
            client: self.client,
            topic: self.topic,
            partition: r.partition,
            high: r.high,
            timeout: TIMEOUT,
        };
        let broker = (self.answers)(r.partition, answered);
        let (o, how) = time_search::offset_for_time(&mut probe, r.low, r.high, t, broker)?;
        Ok(match how {
            TimeResolution::Broker => (o, None),
            TimeResolution::Searched(why) => {
                (o, Some(format!("--{which}: {why}; found {o} by searching")))
            }
        })
    }
}
