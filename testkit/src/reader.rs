//! Plain rdkafka readers (no orderbus code) that check what landed: a topic read from the start
//! up to an expected count or to the end it has now, headers, messages per partition, a group's
//! committed offsets and a partition's watermarks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::kafka::{bootstrap, plain_client};
use crate::names::unique;

/// How long to keep polling for messages that should already be there, so a failure reports
/// what arrived instead of hanging; nothing is asserted about time.
const GIVE_UP: Duration = Duration::from_secs(120);

/// Reads `topic` on the shared broker from the start until `expected` messages arrived; fails
/// with what it got if they do not all arrive, or if one more follows.
pub fn read(topic: &str, expected: usize) -> Vec<OwnedMessage> {
    read_on(&bootstrap(), topic, expected)
}

/// [`read`] against the brokers at `bootstrap`.
pub fn read_on(bootstrap: &str, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let consumer = assigned_from_start(bootstrap, topic);
    let mut out = Vec::with_capacity(expected);
    let give_up = Instant::now() + GIVE_UP;
    while out.len() < expected && Instant::now() < give_up {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(m.expect("message").detach());
        }
    }
    assert_eq!(out.len(), expected, "messages in {topic}");
    // Anything beyond the expected count would be a duplicate or a stray send.
    let extra = consumer.poll(Duration::from_millis(500));
    assert!(extra.is_none(), "unexpected extra message in {topic}");
    out
}

/// Every message `topic` holds now: read from the start up to the high watermarks taken when
/// called. For tests that check a log for gaps and duplicates rather than expect a count.
pub fn read_to_end(bootstrap: &str, topic: &str) -> Vec<OwnedMessage> {
    let ends = high_watermarks_on(bootstrap, topic);
    let consumer = assigned_from_start(bootstrap, topic);
    let mut left: HashMap<i32, i64> = ends.into_iter().filter(|(_, hi)| *hi > 0).collect();
    let mut out = Vec::new();
    let give_up = Instant::now() + GIVE_UP;
    while !left.is_empty() {
        assert!(
            Instant::now() < give_up,
            "{topic}: partitions {left:?} not read to their end"
        );
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("message").detach();
        if let Some(&hi) = left.get(&m.partition())
            && m.offset() + 1 >= hi
        {
            left.remove(&m.partition());
        }
        out.push(m);
    }
    out
}

fn assigned_from_start(bootstrap: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = plain_client(bootstrap)
        .set("group.id", unique("it-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in partitions_on(bootstrap, topic) {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    consumer
}

/// The partition numbers of `topic`.
pub fn partitions_on(bootstrap: &str, topic: &str) -> Vec<i32> {
    let consumer: BaseConsumer = plain_client(bootstrap).create().expect("client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect()
}

/// A header's value as text.
pub fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}

/// Messages grouped per partition in offset order.
pub fn by_partition(messages: &[OwnedMessage]) -> HashMap<i32, Vec<&OwnedMessage>> {
    let mut map: HashMap<i32, Vec<&OwnedMessage>> = HashMap::new();
    for m in messages {
        map.entry(m.partition()).or_default().push(m);
    }
    for v in map.values_mut() {
        v.sort_by_key(|m| m.offset());
    }
    map
}

/// The committed offset of every partition of `topics` for `group` on the shared broker
/// (OffsetFetch, without joining the group). Partitions without a commit are left out.
pub fn committed(group: &str, topics: &[&str]) -> HashMap<(String, i32), i64> {
    committed_on(&bootstrap(), group, topics)
}

/// [`committed`] against the brokers at `bootstrap`.
pub fn committed_on(bootstrap: &str, group: &str, topics: &[&str]) -> HashMap<(String, i32), i64> {
    let consumer: BaseConsumer = plain_client(bootstrap)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        for p in partitions_on(bootstrap, topic) {
            tpl.add_partition(topic, p);
        }
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed")
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect()
}

/// The high watermark of every partition of `topic` on the shared broker.
pub fn high_watermarks(topic: &str) -> HashMap<i32, i64> {
    high_watermarks_on(&bootstrap(), topic)
}

/// [`high_watermarks`] against the brokers at `bootstrap`. A partition whose leader is moving
/// (a broker just restarted) is asked again until it answers.
pub fn high_watermarks_on(bootstrap: &str, topic: &str) -> HashMap<i32, i64> {
    let consumer: BaseConsumer = plain_client(bootstrap).create().expect("client");
    partitions_on(bootstrap, topic)
        .into_iter()
        .map(|p| {
            let give_up = Instant::now() + GIVE_UP;
            loop {
                match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                    Ok((_, hi)) => return (p, hi),
                    Err(e) => {
                        assert!(Instant::now() < give_up, "{topic}[{p}] watermarks: {e}");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        })
        .collect()
}
