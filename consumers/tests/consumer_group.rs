//! The consumer-group runtime against Apache Kafka: per-order ordering with many processors,
//! and commits that match what was handled.

mod support;

use testkit::group::spawn_group;
use testkit::ordering::assert_order_kept;
use testkit::wait_for;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use events::{Envelope, samples::Generator};
use producers::EventProducer;

use support::{Recorder, group_config, per_order};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_keep_their_order_across_sixteen_processors_and_commits_match() {
    let topics = testkit::topics::fresh_topics(8).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(21, "it");
    let mut published: Vec<Envelope> = Vec::new();
    let mut pending = Vec::new();
    for n in 0..1_500 {
        for e in generator.order_flow(n) {
            pending.push(producer.enqueue(&e, None).await.expect("enqueue"));
            published.push(e);
        }
    }
    for p in pending {
        p.await.expect("delivered");
    }

    let (recorder, mut finished) = Recorder::new(500, Box::new(|_, _| Ok(())));
    let (seen, peak) = (Arc::clone(&recorder.seen), Arc::clone(&recorder.peak));
    let handled_offsets = Arc::clone(&recorder.offsets);
    let group = testkit::unique("it-group-order");
    let member = spawn_group(
        &group,
        group_config(),
        testkit::kafka(),
        &topics,
        recorder,
        &producer,
    );
    let stats = Arc::clone(&member.stats);
    wait_for(&mut finished, published.len()).await;
    member.stop().await;

    // At least once: every order's events first handled in publish order (a redelivery may
    // handle some again; with one member and no faults there should be none, but the test
    // does not depend on it).
    let seen = seen.lock().expect("lock");
    let expected = per_order(&topics, &published);
    assert_eq!(seen.len(), expected.len());
    let repeats = assert_order_kept(&expected, &seen);
    assert!(
        peak.load(Ordering::SeqCst) > 1,
        "different orders ran in parallel"
    );
    assert_eq!(
        stats.handled.load(Ordering::SeqCst) as usize,
        published.len() + repeats
    );
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0);
    // After a clean stop every partition's commit is exactly one past its last handled event:
    // not behind (work would be redone) and never ahead (work would be lost).
    let committed =
        testkit::reader::committed(&group, &[&topics.order_events, &topics.payment_events]);
    let handled = handled_offsets.lock().expect("lock");
    assert_eq!(
        committed.len(),
        handled.len(),
        "every partition with events has a commit"
    );
    for (partition, last) in handled.iter() {
        assert_eq!(committed.get(partition), Some(&(last + 1)), "{partition:?}");
    }
}
