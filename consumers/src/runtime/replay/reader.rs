//! The blocking broker side of replays and redrives: partitions and watermarks, ListOffsets by
//! time, single-message reads for the time search, committed offsets of a group, and the range
//! reader that streams `[from, to)` of each partition and stops there. Nothing here commits:
//! clients use `assign`, never `subscribe`, under a group id of their own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use producers::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::runtime::replay::time_search::{Stamp, TimestampReader};

/// A reading client that is never part of a group: its group id is unique and it never commits.
pub(crate) fn client(kafka: &KafkaConfig) -> Result<BaseConsumer> {
    let mut c: ClientConfig = kafka.client_config();
    c.set(
        "group.id",
        format!("orderbus-reader-{}", uuid::Uuid::new_v4().simple()),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .set("enable.partition.eof", "true")
    .set("auto.offset.reset", "error")
    // Reads here want what is already there (one message for a probe, a range that ends
    // below the high watermark), so a fetch should not wait for more data to arrive.
    .set("fetch.wait.max.ms", "10");
    Ok(c.create()?)
}

/// The partition ids of `topic`, or `UnknownTopic`.
pub(crate) fn partitions(c: &BaseConsumer, topic: &str, timeout: Duration) -> Result<Vec<i32>> {
    let metadata = c.fetch_metadata(Some(topic), timeout)?;
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// `(low, high)` watermarks of one partition.
pub(crate) fn watermarks(
    c: &BaseConsumer,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64)> {
    Ok(c.fetch_watermarks(topic, partition, timeout)?)
}

/// ListOffsets by timestamp for `partitions`; `None` where the broker answered -1 (or nothing).
pub(crate) fn offsets_for_time(
    c: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    t_ms: i64,
    timeout: Duration,
) -> Result<HashMap<i32, Option<i64>>> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, Offset::Offset(t_ms))?;
    }
    let answered = c.offsets_for_times(tpl, timeout)?;
    Ok(answered
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) if e.error().is_ok() => (e.partition(), Some(o)),
            _ => (e.partition(), None),
        })
        .collect())
}

/// Offsets `group` has committed on `topic`'s partitions (OffsetFetch; does not join it).
pub(crate) fn committed(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<HashMap<i32, i64>> {
    let mut c: ClientConfig = kafka.client_config();
    c.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = c.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(topic, *p);
    }
    let got = consumer.committed_offsets(tpl, timeout)?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Reads single messages of one partition for the time search, never past `high`.
pub(crate) struct Probe<'a> {
    pub(crate) client: &'a BaseConsumer,
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) high: i64,
    pub(crate) timeout: Duration,
}

impl TimestampReader for Probe<'_> {
    fn read_timestamp(&mut self, offset: i64) -> Result<Option<Stamp>> {
        if offset >= self.high {
            return Ok(None);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(self.topic, self.partition, Offset::Offset(offset))?;
        // A new assignment drops whatever was fetched for the previous position.
        self.client.assign(&tpl)?;
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match self.client.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) if m.partition() == self.partition && m.offset() >= offset => {
                    if m.offset() >= self.high {
                        return Ok(None);
                    }
                    let timestamp_ms = m.timestamp().to_millis().ok_or_else(|| Error::Bound {
                        which: "from",
                        value: format!("{}[{}]@{}", self.topic, self.partition, m.offset()),
                        problem: "the message has no timestamp; use offsets".into(),
                    })?;
                    return Ok(Some(Stamp {
                        offset: m.offset(),
                        timestamp_ms,
                    }));
                }
                Some(Ok(_)) => {}
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
            }
        }
        Err(Error::Timeout {
            topic: self.topic.to_owned(),
            partition: self.partition,
            at: offset,
            end: self.high,
        })
    }
}

/// Streams `[from, to)` of each listed partition of `topic` into `out`, in offset order per
/// partition, and returns when every partition reached its end (or `stop` fired, or the
/// receiver went away). `idle` bounds how long no message may arrive before it gives up.
pub(crate) fn read_ranges(
    kafka: &KafkaConfig,
    topic: &str,
    ranges: &[(i32, i64, i64)],
    out: &mpsc::Sender<OwnedMessage>,
    stop: &CancellationToken,
    idle: Duration,
) -> Result<()> {
    let consumer = client(kafka)?;
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut at: HashMap<i32, i64> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for &(p, from, to) in ranges {
        if to > from {
            ends.insert(p, to);
            at.insert(p, from);
            tpl.add_partition_offset(topic, p, Offset::Offset(from))?;
        }
    }
    if ends.is_empty() {
        return Ok(());
    }
    consumer.assign(&tpl)?;
    let mut last_progress = Instant::now();
    while !ends.is_empty() && !stop.is_cancelled() {
        if last_progress.elapsed() > idle {
            let (&partition, &end) = ends.iter().next().unwrap_or((&0, &0));
            return Err(Error::Timeout {
                topic: topic.to_owned(),
                partition,
                at: at.get(&partition).copied().unwrap_or_default(),
                end,
            });
        }
        let finished = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                // At the high watermark: everything below `to` (fixed at or below an earlier
                // high watermark) has been read, even if trailing offsets were gaps.
                ends.contains_key(&p).then_some(p)
            }
            Some(Err(e)) => {
                tracing::warn!(%topic, error = %e, "replay read error");
                continue;
            }
            Some(Ok(m)) => {
                let p = m.partition();
                let Some(&end) = ends.get(&p) else { continue };
                last_progress = Instant::now();
                let offset = m.offset();
                if offset < end {
                    at.insert(p, offset + 1);
                    if out.blocking_send(m.detach()).is_err() {
                        return Ok(());
                    }
                }
                (offset + 1 >= end).then_some(p)
            }
        };
        if let Some(p) = finished {
            ends.remove(&p);
            let mut done = TopicPartitionList::new();
            done.add_partition(topic, p);
            consumer.pause(&done)?;
        }
    }
    Ok(())
}
