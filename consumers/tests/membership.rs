//! Group membership: nothing lost while a member joins and leaves mid-stream (Apache Kafka), and
//! injected faults on join, fetch and commit plus a broker outage lose nothing (MockCluster,
//! which can fail single requests on demand).

mod support;

use testkit::group::{spawn_group, wait_assigned};
use testkit::ordering::assert_order_kept;
use testkit::wait_for;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use consumers::runtime::{GroupConfig, dead_letter_topic};
use events::{Envelope, samples::Generator};
use producers::EventProducer;

use support::{Recorder, group_config, per_order};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_while_a_second_member_joins_and_leaves_mid_stream() {
    let topics = testkit::topics::fresh_topics(6).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(77, "it");
    let thirds: Vec<Vec<Envelope>> = (0..3)
        .map(|t| {
            (t * 400..(t + 1) * 400)
                .flat_map(|n| generator.order_flow(n))
                .collect()
        })
        .collect();
    let publish = |events: Vec<Envelope>| {
        let producer = producer.clone();
        tokio::spawn(async move {
            for e in &events {
                producer.publish(e).await.expect("published");
            }
        })
    };
    let (recorder, mut finished) = Recorder::new(300, Box::new(|_, _| Ok(())));
    let seen = Arc::clone(&recorder.seen);
    let group = testkit::unique("it-group-rebalance");
    let config = GroupConfig {
        consumers: 1,
        ..group_config()
    };
    let start = |recorder: Recorder| {
        spawn_group(
            &group,
            config.clone(),
            testkit::kafka(),
            &topics,
            recorder,
            &producer,
        )
    };
    let total: usize = thirds.iter().map(Vec::len).sum();
    let a = start(recorder.clone());
    publish(thirds[0].clone()).await.expect("publisher");
    wait_for(&mut finished, thirds[0].len() / 2).await;
    // A second member joins while events arrive; the rest of the second third is published
    // once it has partitions, so it certainly gets some to handle, however fast the first is.
    let b = start(recorder.clone());
    let (during, after) = thirds[1].split_at(thirds[1].len() / 2);
    publish(during.to_vec()).await.expect("publisher");
    wait_assigned(&b).await;
    publish(after.to_vec()).await.expect("publisher");
    wait_for(&mut finished, thirds[0].len() + thirds[1].len()).await;
    // ... and leaves while the last third is being published.
    let stats_b = Arc::clone(&b.stats);
    let last = publish(thirds[2].clone());
    b.stop().await;
    last.await.expect("publisher");
    wait_for(&mut finished, total).await;
    let stats_a = Arc::clone(&a.stats);
    a.stop().await;

    // At least once: every event handled; per order, first handlings in publish order.
    let seen = seen.lock().expect("lock");
    for e in thirds.iter().flatten() {
        let topic = topics.topic_for(e.event_type()).to_owned();
        assert!(
            seen.get(&(topic, e.order_id.clone()))
                .is_some_and(|ids| ids.contains(&e.event_id)),
            "event {} lost",
            e.event_id
        );
    }
    let duplicates = assert_order_kept(&per_order(&topics, thirds.iter().flatten()), &seen);
    let (a, b) = (
        stats_a.handled.load(Ordering::SeqCst),
        stats_b.handled.load(Ordering::SeqCst),
    );
    assert!(
        b > 0,
        "the second member was given partitions and handled events"
    );
    assert!(a + b >= total as u64);
    println!("{total} events: first member {a}, second {b}, {duplicates} handled twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_on_join_fetch_and_commit_and_a_broker_outage_lose_nothing() {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

    let cluster = MockCluster::new(3).expect("mock cluster");
    let kafka = producers::KafkaConfig {
        bootstrap_servers: cluster.bootstrap_servers(),
        ..producers::KafkaConfig::default()
    };
    let group = testkit::unique("it-group-faults");
    let topics = producers::TopicsConfig {
        order_events: testkit::unique("mock-orders"),
        payment_events: testkit::unique("mock-payments"),
        partitions: 4,
        replication_factor: 3,
    };
    for t in [
        &topics.order_events,
        &topics.payment_events,
        &dead_letter_topic(&group),
    ] {
        cluster.create_topic(t, 4, 3).expect("topic");
    }
    let producer = EventProducer::new(&kafka, &producers::ProducerConfig::default(), &topics)
        .expect("producer");
    let mut generator = Generator::new(5, "it");
    let batches: Vec<Vec<Envelope>> = (0..2)
        .map(|b| {
            (b * 300..(b + 1) * 300)
                .flat_map(|n| generator.order_flow(n))
                .collect()
        })
        .collect();
    for e in &batches[0] {
        producer.publish(e).await.expect("published");
    }

    let (recorder, mut finished) = Recorder::new(200, Box::new(|_, _| Ok(())));
    let seen = Arc::clone(&recorder.seen);
    use RDKafkaRespErr::*;
    cluster.request_errors(
        RDKafkaApiKey::JoinGroup,
        &[
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        ],
    );
    let member = spawn_group(
        &group,
        group_config(),
        kafka.clone(),
        &topics,
        recorder,
        &producer,
    );
    wait_for(&mut finished, batches[0].len() / 3).await;

    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        ],
    );
    // The outage itself is the fault being injected: one broker gone for five seconds.
    cluster.broker_down(2).expect("down");
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.broker_up(2).expect("up");
    for e in &batches[1] {
        producer
            .publish(e)
            .await
            .expect("published after the outage");
    }
    let total = batches[0].len() + batches[1].len();
    wait_for(&mut finished, total).await;
    member.stop().await;

    let seen = seen.lock().expect("lock");
    assert_order_kept(&per_order(&topics, batches.iter().flatten()), &seen);
}
