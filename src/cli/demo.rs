//! `orderbus demo`: the whole write path on an embedded broker (rdkafka's in-process
//! MockCluster), so it runs anywhere with no set-up. It creates the topics, publishes realistic
//! order and payment flows through the typed producers, reads everything back and shows where
//! each event landed and that every order's events kept their order.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use events::{Envelope, EventType, Stream, samples::Generator};
use producers::admin::TopicSpec;
use producers::config::SecurityProtocol;
use producers::{EventProducer, KafkaConfig, OrderProducer, PaymentProducer, PendingDelivery};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Orders to simulate (each is 3-6 events).
    #[arg(long, default_value_t = 500)]
    orders: u64,
    /// Partitions per topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Seed for the generated orders.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// Settings for clients of the embedded broker: the user's tuning, none of their security.
pub fn embedded_kafka(base: &KafkaConfig, bootstrap: String) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: bootstrap,
        security_protocol: SecurityProtocol::Plaintext,
        sasl: None,
        tls: None,
        ..base.clone()
    }
}

/// MockCluster does not serve the admin API's CreateTopics; it has its own call for that.
pub fn create_embedded_topics<C: rdkafka::ClientContext>(
    cluster: &MockCluster<'_, C>,
    specs: &[TopicSpec],
) -> anyhow::Result<()> {
    for spec in specs {
        cluster
            .create_topic(&spec.name, spec.partitions, spec.replication_factor)
            .with_context(|| format!("cannot create {} on the embedded broker", spec.name))?;
    }
    Ok(())
}

pub async fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let cluster = MockCluster::new(3).context("cannot start the embedded broker")?;
    let kafka = embedded_kafka(&config.kafka, cluster.bootstrap_servers());
    println!(
        "embedded broker: rdkafka MockCluster, 3 brokers at {}",
        kafka.bootstrap_servers
    );

    let topics = config.topics.clone();
    let specs: Vec<TopicSpec> = [&topics.order_events, &topics.payment_events]
        .into_iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions: args.partitions,
            replication_factor: 1,
        })
        .collect();
    create_embedded_topics(&cluster, &specs)?;
    for spec in &specs {
        println!(
            "topic {} ({} partitions) created",
            spec.name, spec.partitions
        );
    }

    let shared = EventProducer::new(&kafka, &config.producer, &topics)?;
    let orders = OrderProducer::new(shared.clone());
    let payments = PaymentProducer::new(shared.clone());
    let mut generator = Generator::new(args.seed, shared.name());
    let started = Instant::now();
    let mut sent: Vec<(Envelope, PendingDelivery)> = Vec::new();
    for n in 0..args.orders {
        for event in generator.order_flow(n) {
            let pending = match event.event_type().stream() {
                Stream::Order => orders.enqueue_envelope(&event, None).await?,
                Stream::Payment => payments.enqueue_envelope(&event, None).await?,
            };
            sent.push((event, pending));
        }
    }
    let total = sent.len();
    let mut landed: HashMap<uuid::Uuid, (String, i32, i64)> = HashMap::with_capacity(total);
    let mut published: Vec<Envelope> = Vec::with_capacity(total);
    for (event, pending) in sent {
        let d = pending.await?;
        landed.insert(event.event_id, (d.topic, d.partition, d.offset));
        published.push(event);
    }
    let elapsed = started.elapsed();
    println!(
        "\npublished {total} events for {} orders in {:.2?} ({:.0} events/s)",
        args.orders,
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );

    let read = consumers::snapshot::read_all(
        &kafka,
        &[topics.order_events.clone(), topics.payment_events.clone()],
        Duration::from_secs(30),
    )
    .await?;
    println!("read back {} messages", read.len());

    let mut by_partition: BTreeMap<(String, i32), u64> = BTreeMap::new();
    let mut by_type: BTreeMap<EventType, u64> = BTreeMap::new();
    // Per (topic, order): the partition and the event IDs in offset order.
    let mut per_order: HashMap<(String, String), (i32, Vec<uuid::Uuid>)> = HashMap::new();
    for m in &read {
        let event = events::decode(m.payload().unwrap_or_default()).with_context(|| {
            format!(
                "{}[{}]@{} does not decode",
                m.topic(),
                m.partition(),
                m.offset()
            )
        })?;
        *by_partition
            .entry((m.topic().to_owned(), m.partition()))
            .or_default() += 1;
        *by_type.entry(event.event_type()).or_default() += 1;
        let entry = per_order
            .entry((m.topic().to_owned(), event.order_id.clone()))
            .or_insert((m.partition(), Vec::new()));
        if entry.0 != m.partition() {
            bail!(
                "order {} has events on two partitions of {}",
                event.order_id,
                m.topic()
            );
        }
        entry.1.push(event.event_id);
    }

    println!("\n{:<16} {:>9} {:>7}", "topic", "partition", "events");
    for ((topic, partition), count) in &by_partition {
        println!("{topic:<16} {partition:>9} {count:>7}");
    }
    println!("\n{:<20} {:>7}", "event type", "events");
    for (t, count) in &by_type {
        println!("{:<20} {count:>7}", t.as_str());
    }

    if let Some(first) = published.first() {
        let journey: Vec<&Envelope> = published
            .iter()
            .filter(|e| e.order_id == first.order_id)
            .collect();
        println!("\njourney of {}:", first.order_id);
        for e in journey {
            if let Some((topic, partition, offset)) = landed.get(&e.event_id) {
                println!(
                    "  {:<20} -> {topic}[{partition}]@{offset}",
                    e.event_type().as_str()
                );
            }
        }
    }

    // Publish order per (topic, order) must equal offset order.
    let mut expected: HashMap<(String, String), Vec<uuid::Uuid>> = HashMap::new();
    for e in &published {
        let topic = shared.topic_for(e.event_type()).to_owned();
        expected
            .entry((topic, e.order_id.clone()))
            .or_default()
            .push(e.event_id);
    }
    let mismatched = expected
        .iter()
        .filter(|(k, ids)| per_order.get(*k).map(|(_, got)| got) != Some(*ids))
        .count();
    if read.len() != total || mismatched > 0 {
        bail!(
            "read back {} of {total} events; {mismatched} orders out of order",
            read.len()
        );
    }
    println!(
        "\nper-order ordering: OK: {} orders, each order's events on one partition per topic, in publish order",
        args.orders
    );
    Ok(ExitCode::SUCCESS)
}
