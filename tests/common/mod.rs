//! Helpers shared by the integration tests: the broker from `KAFKA_BOOTSTRAP_SERVERS` (set by
//! scripts/test.sh, which starts Tansu when no broker is given), unique names, topic creation,
//! and a plain rdkafka reader that checks what landed.
#![allow(dead_code)]

pub mod group;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use producers::admin::{TopicSpec, create_topics};
use producers::{KafkaConfig, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// The broker under test.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| {
        panic!(
            "KAFKA_BOOTSTRAP_SERVERS is not set: run the suite with scripts/test.sh, which starts \
             a Tansu broker, or point it at a Kafka broker"
        )
    })
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn kafka() -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap(),
        client_id: unique("orderbus-test"),
        ..KafkaConfig::default()
    }
}

/// Producer settings for tests that consume in a group: one message per batch.
///
/// Tansu 0.6.0 answers a Fetch that starts inside a record batch with nothing, and its
/// ListOffsets(latest) counts batches rather than records. A consumer restarting from a committed
/// offset (or the replay reader resuming a paused partition) fetches mid-batch, so on Tansu those
/// records would be skipped; on Apache Kafka they are not. Single-record batches make every
/// offset a batch start, so the tests exercise orderbus and not that broker bug. Production code
/// is unaffected.
pub fn unbatched() -> producers::ProducerConfig {
    producers::ProducerConfig {
        batch_num_messages: 1,
        linger_ms: 0,
        ..producers::ProducerConfig::default()
    }
}

/// Fresh order and payment topics with `partitions` partitions each, created through the
/// admin API (Tansu does not auto-create topics, and production should not rely on it).
pub async fn fresh_topics(partitions: i32) -> TopicsConfig {
    let topics = TopicsConfig {
        order_events: unique("it-orders"),
        payment_events: unique("it-payments"),
        partitions,
        replication_factor: 1,
    };
    create(&[&topics.order_events, &topics.payment_events], partitions).await;
    topics
}

pub async fn create(names: &[&str], partitions: i32) {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|n| TopicSpec {
            name: (*n).to_owned(),
            partitions,
            replication_factor: 1,
        })
        .collect();
    create_topics(&kafka(), &specs, Duration::from_secs(30))
        .await
        .expect("create topics");
}

/// Reads `topic` from the start until `expected` messages arrived, with a plain rdkafka
/// consumer (no orderbus code). Panics with what it got if they do not all arrive.
pub fn read(topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("it-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::with_capacity(expected);
    // A bound on how long to keep polling for messages that should already be there, so a
    // failure reports what arrived instead of hanging; nothing is asserted about time.
    let give_up = Instant::now() + Duration::from_secs(120);
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

pub fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    use rdkafka::message::Headers;
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

/// Kafka's Java client partitioner (murmur2 of the key, positive, modulo partitions): what
/// librdkafka's `murmur2_random` must match for keyed messages.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let len = key.len() as u32;
    let mut h = SEED ^ len;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    ((h & 0x7fff_ffff) % partitions as u32) as i32
}
