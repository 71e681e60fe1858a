//! Every topic orderbus creates takes the configured replication factor (`topics.
//! replication_factor`), checked on a 3-broker cluster with the cluster's own description of
//! each topic: a group's retry and dead-letter topics, a replay's target topic and dead-letter
//! topic, and the redrive ledger. With one replica, losing one broker would lose parked events
//! and dead letters.

use std::sync::Arc;

use consumers::runtime::redrive::{ledger::ledger_topic, redrive};
use consumers::runtime::replay::{self, Bound, Progress, ReplayGroup, ReplayRun};
use consumers::runtime::{
    Context, GroupConfig, Handler, HandlerError, dead_letter_topic, retry_topic,
};
use events::{Envelope, EventType, samples::Generator};
use producers::{EventProducer, ProducerConfig};
use testkit::group::spawn_group;
use testkit::kafka::Cluster;
use tokio_util::sync::CancellationToken;

/// Refuses cancelled orders for good, so the group has dead letters to redrive.
#[derive(Clone)]
struct RefuseCancelled(Arc<tokio::sync::watch::Sender<usize>>);

impl Handler for RefuseCancelled {
    fn name(&self) -> &str {
        "refuse-cancelled"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        self.0.send_modify(|n| *n += 1);
        if event.event_type() == EventType::OrderCancelled {
            return Err(HandlerError::permanent("cancelled orders are refused here"));
        }
        Ok(())
    }
}

fn run() -> ReplayRun {
    ReplayRun {
        rate: None,
        progress: Arc::new(Progress::default()),
        stop: CancellationToken::new(),
    }
}

fn assert_replicas(bootstrap: &str, topic: &str, want: usize) {
    let partitions = testkit::topics::describe(bootstrap, topic)
        .unwrap_or_else(|| panic!("{topic} was not created"));
    for p in &partitions {
        assert_eq!(p.replicas.len(), want, "{topic}[{}]: {p:?}", p.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_topic_orderbus_creates_has_the_configured_replicas() {
    let cluster = Cluster::three().start();
    let bootstrap = cluster.bootstrap();
    let kafka = testkit::kafka::kafka_at(&bootstrap);
    let topics = testkit::topics::fresh_topics_on(&kafka, 3, 3).await;
    let producer =
        EventProducer::new(&kafka, &ProducerConfig::default(), &topics).expect("producer");
    let mut generator = Generator::new(3, "it-replicas");
    let events: Vec<Envelope> = (0..40).flat_map(|n| generator.order_flow(n)).collect();
    for e in &events {
        producer.publish(e).await.expect("published");
    }

    // A group: its retry and dead-letter topics.
    let group = testkit::unique("it-replicas");
    let (seen, mut calls) = tokio::sync::watch::channel(0);
    let member = spawn_group(
        &group,
        GroupConfig::default(),
        kafka.clone(),
        &topics,
        RefuseCancelled(Arc::new(seen)),
        &producer,
    );
    testkit::wait_for(&mut calls, events.len()).await;
    member.stop().await;
    assert_replicas(&bootstrap, &retry_topic(&group), 3);
    assert_replicas(&bootstrap, &dead_letter_topic(&group), 3);

    // A replay into a new topic, and into a new group (its own dead-letter topic).
    let plan = replay::plan(&kafka, &topics.order_events, &Bound::Earliest, &Bound::Now)
        .await
        .expect("plan");
    let target = testkit::unique("it-replicas-copy");
    replay::to_topic(&kafka, &plan, (&target, producer.clone()), run())
        .await
        .expect("copied");
    assert_replicas(&bootstrap, &target, 3);
    let replay_group = testkit::unique("it-replicas-replay");
    let (seen, _) = tokio::sync::watch::channel(0);
    replay::to_group(
        &kafka,
        &plan,
        ReplayGroup {
            name: &replay_group,
            reserved: &[],
            config: GroupConfig::default(),
            handler: RefuseCancelled(Arc::new(seen)),
            producer: producer.clone(),
        },
        run(),
    )
    .await
    .expect("replayed");
    assert_replicas(&bootstrap, &dead_letter_topic(&replay_group), 3);

    // A redrive of the group's dead letters: its ledger.
    let report = redrive(&kafka, &group, &producer, None, false, 500)
        .await
        .expect("redrive");
    assert!(
        report.redriven.values().sum::<u64>() > 0,
        "there were dead letters to redrive: {report:?}"
    );
    assert_replicas(&bootstrap, &ledger_topic(&group), 3);
}
