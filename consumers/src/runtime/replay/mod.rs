//! Replay for backfill: read one topic's range `[from, to)` per partition again, fixed when the
//! replay starts, without joining or committing for any group, and either run a worker over it
//! in a new group ([`to_group`]) or copy it to another topic ([`to_topic`]).
//!
//! - [`bounds`]: `--from`/`--to` parsing and the time-to-offset search (pure, unit-tested).
//! - `reader`: the broker side (watermarks, ListOffsets, single reads, the range reader).
//! - [`sink`]: where replayed events go: a worker through the runtime's machinery, or a topic.
//!
//! [`plan`] resolves the bounds once: the high watermark read there is the end of `now`, so
//! events published after the start are never part of the replay.

pub mod bounds;
pub(crate) mod reader;
pub mod sink;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use producers::KafkaConfig;
use tokio::time::Instant;

use crate::error::{Error, Result};
pub use bounds::{Bound, TimeResolution};
pub use sink::{ReplayGroup, ReplayReport, ReplayRun, to_group, to_topic};

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
        _ => all.clone(),
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
    for (which, bound) in [("from", from), ("to", to)] {
        let told = match bound {
            Bound::Time(t) => {
                let ids: Vec<i32> = ranges.iter().map(|r| r.partition).collect();
                Some((
                    *t,
                    reader::offsets_for_time(&client, topic, &ids, *t, TIMEOUT)?,
                ))
            }
            _ => None,
        };
        for r in &mut ranges {
            let (offset, note) = match bound {
                Bound::Earliest => (r.low, None),
                Bound::Now => (r.high, None),
                Bound::Offset(o) => bounds::clamp(*o, r.low, r.high),
                Bound::Offsets(m) => bounds::clamp(m[&r.partition], r.low, r.high),
                Bound::Time(_) => {
                    let (t, answered) = told
                        .as_ref()
                        .ok_or_else(|| Error::Task("no answers".into()))?;
                    let mut probe = reader::Probe {
                        client: &client,
                        topic,
                        partition: r.partition,
                        high: r.high,
                        timeout: TIMEOUT,
                    };
                    let broker =
                        answers(r.partition, answered.get(&r.partition).copied().flatten());
                    let (o, how) = bounds::offset_for_time(&mut probe, r.low, r.high, *t, broker)?;
                    match how {
                        TimeResolution::Broker => (o, None),
                        TimeResolution::Searched(why) => {
                            (o, Some(format!("--{which}: {why}; found {o} by searching")))
                        }
                    }
                }
            };
            if which == "from" {
                r.from = offset;
            } else {
                r.to = offset;
            }
            r.notes.extend(note);
        }
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

/// Live progress for a bar: `done` of `total` events.
#[derive(Debug, Default)]
pub struct Progress {
    /// Events in the plan (offsets; an upper bound where offsets have gaps).
    pub total: AtomicU64,
    /// Events finished (handled, dead-lettered, or copied and acknowledged).
    pub done: AtomicU64,
}

impl Progress {
    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

/// Paces events to at most `rate` per second (no bursts beyond one second's backlog).
#[derive(Debug)]
pub(crate) struct Pacer {
    period: Option<Duration>,
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: Option<u32>) -> Self {
        Pacer {
            period: rate.filter(|r| *r > 0).map(|r| Duration::from_secs(1) / r),
            next: Instant::now(),
        }
    }

    pub(crate) async fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        // After a stall, do not catch up faster than the rate allows.
        if self.next + Duration::from_secs(1) < now {
            self.next = now;
        }
        tokio::time::sleep_until(self.next).await;
        self.next += period;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_holds_the_rate() {
        let mut pacer = Pacer::new(Some(50));
        let start = Instant::now();
        for _ in 0..100 {
            pacer.wait().await;
        }
        // 100 events at 50/s: the 100th may go at 99 periods = 1.98 s.
        assert_eq!(start.elapsed(), Duration::from_millis(1980));
        let mut free = Pacer::new(None);
        let start = Instant::now();
        free.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
