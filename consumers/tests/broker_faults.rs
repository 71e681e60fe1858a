//! A broker dies under load, on a 3-broker KRaft cluster (replication factor 3,
//! `min.insync.replicas=2`): while 100k events are published with `acks=all` and idempotence and
//! a group consumes them, the leader of the busiest partition is SIGKILLed and restarted 10 s
//! later. The topics must hold every event exactly once (no gap, no duplicate `event_id`, each
//! order's events in publish order), and the group must handle every event at least once with
//! per-order order kept.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use consumers::runtime::GroupConfig;
use events::{Envelope, samples::Generator};
use producers::{EventProducer, ProducerConfig};
use rdkafka::message::Message;
use testkit::group::{OrderLog, spawn_group};
use testkit::kafka::Cluster;
use testkit::ordering::{assert_order_kept, per_key};
use testkit::reader::{high_watermarks_on, read_to_end};

const EVENTS: usize = 100_000;
/// Events per second while publishing: slow enough that the outage falls mid-stream.
const RATE: usize = 5_000;

fn events() -> Vec<Envelope> {
    let mut generator = Generator::new(77, "it-faults");
    let mut out = Vec::with_capacity(EVENTS + 8);
    let mut n = 0;
    while out.len() < EVENTS {
        out.extend(generator.order_flow(n));
        n += 1;
    }
    out.truncate(EVENTS);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_leader_loses_and_duplicates_nothing() {
    let mut cluster = Cluster::three().start();
    let kafka = testkit::kafka::kafka_at(&cluster.bootstrap());
    let topics = testkit::topics::fresh_topics_on(&kafka, 6, 3).await;
    let producer =
        EventProducer::new(&kafka, &ProducerConfig::default(), &topics).expect("producer");
    let published = events();

    let (log, mut handled) = OrderLog::new();
    let group = testkit::unique("it-faults");
    let config = GroupConfig {
        consumers: 2,
        processors: 16,
        commit_interval_ms: 200,
        ..GroupConfig::default()
    };
    let member = spawn_group(
        &group,
        config,
        kafka.clone(),
        &topics,
        log.clone(),
        &producer,
    );

    // Publish at a steady rate in the background; every delivery is awaited at the end.
    let publishing = {
        let (producer, events) = (producer.clone(), published.clone());
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(events.len());
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for chunk in events.chunks(RATE / 10) {
                tick.tick().await;
                for e in chunk {
                    pending.push(producer.enqueue(e, None).await.expect("enqueued"));
                }
            }
            let mut failed = Vec::new();
            for p in pending {
                if let Err(e) = p.await {
                    failed.push(e.to_string());
                }
            }
            failed
        })
    };

    // A fifth in, kill the leader of the partition holding the most events so far.
    testkit::wait_until("a fifth of the events published", || {
        high_watermarks_on(&cluster.bootstrap(), &topics.order_events)
            .values()
            .sum::<i64>()
            >= (EVENTS / 5) as i64
    })
    .await;
    let busiest = high_watermarks_on(&cluster.bootstrap(), &topics.order_events)
        .into_iter()
        .max_by_key(|(_, high)| *high)
        .map(|(p, _)| p)
        .expect("partitions");
    let leader = cluster.leader_of(&topics.order_events, busiest);
    assert!(leader > 0, "partition {busiest} has a leader");
    cluster.kill(leader);
    // The outage the scenario asks for, not a wait for a condition.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let restarted = tokio::task::spawn_blocking(move || {
        cluster.restart(leader);
        cluster
    });
    let cluster = restarted.await.expect("restart");

    let failed = publishing.await.expect("publisher");
    assert!(
        failed.is_empty(),
        "{} deliveries failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    producer
        .flush(Duration::from_secs(30))
        .await
        .expect("flush");
    let stats = producer.stats();
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.delivered, EVENTS as u64);

    // The log: every event exactly once, each order's events in publish order.
    let mut in_log: HashMap<(String, String), Vec<uuid::Uuid>> = HashMap::new();
    let mut ids = HashSet::new();
    for topic in [&topics.order_events, &topics.payment_events] {
        let mut messages = read_to_end(&cluster.bootstrap(), topic);
        messages.sort_by_key(|m| (m.partition(), m.offset()));
        for m in &messages {
            let e = events::decode(m.payload().expect("payload")).expect("decodes");
            assert!(ids.insert(e.event_id), "{} twice in {topic}", e.event_id);
            in_log
                .entry((topic.clone(), e.order_id.clone()))
                .or_default()
                .push(e.event_id);
        }
    }
    assert_eq!(ids.len(), EVENTS, "every event in the log");
    let expected = per_key(&published, |e| {
        (
            topics.topic_for(e.event_type()).to_owned(),
            e.order_id.clone(),
        )
    });
    for (key, want) in &expected {
        assert_eq!(in_log.get(key), Some(want), "{key:?} in the log");
    }

    // The group: every event at least once, each order's events first handled in order.
    testkit::wait_for(&mut handled, EVENTS).await;
    member.stop().await;
    let repeats = assert_order_kept(&expected, &log.handled());
    assert_eq!(log.handlings(), EVENTS + repeats);
    println!("{EVENTS} events through a killed leader: {repeats} handled again");
}
