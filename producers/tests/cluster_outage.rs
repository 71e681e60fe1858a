//! Every broker of a 3-broker cluster down for longer than `message.timeout.ms`, while a
//! connected producer goes on publishing: each event published during the outage comes back as
//! a failure (awaited) or is counted and kept (not awaited), nothing is reported as delivered
//! that the cluster does not hold once it is back, and the producer works again afterwards.

use std::collections::HashSet;
use std::time::Duration;

use events::{EventType, samples::Generator};
use producers::{EventProducer, ProducerConfig};
use rdkafka::message::Message;
use testkit::kafka::Cluster;
use testkit::reader::read_to_end;

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_cluster_fails_every_publish_and_reports_nothing_it_did_not_store() {
    let mut cluster = Cluster::three().start();
    let kafka = testkit::kafka::kafka_at(&cluster.bootstrap());
    let topics = testkit::topics::fresh_topics_on(&kafka, 3, 3).await;
    let config = ProducerConfig {
        message_timeout_ms: 4_000,
        ..ProducerConfig::default()
    };
    let producer = EventProducer::new(&kafka, &config, &topics).expect("producer");
    let mut generator = Generator::new(5, "it-outage");
    let mut delivered = HashSet::new();
    for n in 0..200 {
        let e = generator.one(EventType::OrderPaid, n);
        producer
            .publish(&e)
            .await
            .expect("delivered while the cluster is up");
        delivered.insert(e.event_id);
    }

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.kill_all();
        cluster
    })
    .await
    .expect("kill");
    // Awaited: each fails within the delivery timeout instead of hanging.
    let mut awaited = Vec::new();
    for n in 200..300 {
        let e = generator.one(EventType::OrderPaid, n);
        awaited.push((
            e.event_id,
            producer.enqueue(&e, None).await.expect("enqueued"),
        ));
    }
    // Not awaited: counted and kept.
    let mut dropped = HashSet::new();
    for n in 300..400 {
        let e = generator.one(EventType::OrderShipped, n);
        dropped.insert(e.event_id);
        drop(producer.enqueue(&e, None).await.expect("enqueued"));
    }
    for (id, pending) in awaited {
        // The guard only keeps a regression from hanging the suite.
        let outcome = tokio::time::timeout(Duration::from_secs(60), pending)
            .await
            .expect("settled instead of hanging");
        match outcome {
            Err(producers::Error::Delivery { event_id, .. }) => assert_eq!(event_id, id),
            other => panic!("{id}: expected a delivery failure, got {other:?}"),
        }
    }
    producer
        .flush(Duration::from_secs(60))
        .await
        .expect("flush");
    let stats = producer.stats();
    assert_eq!(stats.delivered, 200, "{stats:?}");
    assert_eq!(stats.failed, 200, "{stats:?}");
    let kept: HashSet<_> = producer
        .take_failures()
        .into_iter()
        .map(|f| f.event_id)
        .collect();
    assert_eq!(kept, dropped, "every failure nobody awaited is kept");

    // Back up: the log holds exactly what was reported delivered.
    let mut cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        let ids = cluster.ids();
        cluster.restart_all(&ids);
        cluster
    })
    .await
    .expect("restart");
    let mut stored = HashSet::new();
    for topic in [&topics.order_events, &topics.payment_events] {
        for m in read_to_end(&cluster.bootstrap(), topic) {
            let e = events::decode(m.payload().expect("payload")).expect("event");
            assert!(stored.insert(e.event_id), "{} stored twice", e.event_id);
        }
    }
    assert_eq!(
        stored, delivered,
        "the cluster holds exactly what was reported delivered"
    );

    // And the same producer delivers again.
    let after = generator.one(EventType::OrderPaid, 1_000);
    producer
        .publish(&after)
        .await
        .expect("delivered after the outage");
    cluster.kill_all();
}
