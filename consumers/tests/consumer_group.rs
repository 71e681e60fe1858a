//! The consumer-group runtime against Apache Kafka: per-order ordering with many
//! processors, commits that match what was handled, dead letters with their reasons while the
//! rest flows on, in-process retries that keep a key's order.

use testkit::group::{spawn_group, wait_assigned};
use testkit::ordering::{assert_order_kept, per_key};
use testkit::wait_for;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumers::runtime::{Context, GroupConfig, Handler, HandlerError, dead_letter_topic};
use events::{Envelope, headers, samples::Generator};
use producers::{EventProducer, RawRecord};
use rdkafka::message::Message;
use tokio::sync::watch;

type Seen = Arc<Mutex<HashMap<(String, String), Vec<uuid::Uuid>>>>;
type Decide = dyn Fn(&Envelope, &Context) -> Result<(), HandlerError> + Send + Sync;

/// Records what it handled, per (topic, order), and counts finished events. Clones share
/// their records, so several group members can report into one.
#[derive(Clone)]
struct Recorder {
    seen: Seen,
    /// Highest handled offset per (topic, partition).
    offsets: Arc<Mutex<HashMap<(String, i32), i64>>>,
    attempts: Arc<Mutex<HashMap<uuid::Uuid, u32>>>,
    /// Distinct events finished (handled, or failed for good): duplicates do not count.
    finished: Arc<watch::Sender<usize>>,
    finished_ids: Arc<Mutex<std::collections::HashSet<uuid::Uuid>>>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    max_delay_us: u64,
    decide: Arc<Decide>,
}

impl Recorder {
    fn new(max_delay_us: u64, decide: Box<Decide>) -> (Self, watch::Receiver<usize>) {
        let (finished, rx) = watch::channel(0);
        let r = Recorder {
            seen: Arc::default(),
            offsets: Arc::default(),
            attempts: Arc::default(),
            finished: Arc::new(finished),
            finished_ids: Arc::default(),
            running: Arc::default(),
            peak: Arc::default(),
            max_delay_us,
            decide: Arc::from(decide),
        };
        (r, rx)
    }
}

impl Handler for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if self.max_delay_us > 0 {
            let d = rand::random_range(0..self.max_delay_us);
            tokio::time::sleep(Duration::from_micros(d)).await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        *self
            .attempts
            .lock()
            .expect("lock")
            .entry(event.event_id)
            .or_default() = ctx.attempt;
        let decision = (self.decide)(event, ctx);
        if decision.is_ok() {
            let mut offsets = self.offsets.lock().expect("lock");
            let top = offsets
                .entry((ctx.topic.clone(), ctx.partition))
                .or_insert(ctx.offset);
            *top = (*top).max(ctx.offset);
            drop(offsets);
            self.seen
                .lock()
                .expect("lock")
                .entry((ctx.topic.clone(), event.order_id.clone()))
                .or_default()
                .push(event.event_id);
        }
        if (!matches!(decision, Err(HandlerError::Retryable(_))) || ctx.attempt >= 3)
            && self
                .finished_ids
                .lock()
                .expect("lock")
                .insert(event.event_id)
        {
            self.finished.send_modify(|n| *n += 1);
        }
        decision
    }
}

fn group_config() -> GroupConfig {
    GroupConfig {
        consumers: 2,
        processors: 16,
        // Low enough that the clients wait at the in-flight limit many times during a test.
        max_in_flight: 64,
        session_timeout_ms: 6_000,
        commit_interval_ms: 200,
        max_attempts: 3,
        retry_initial_ms: 10,
        retry_max_ms: 50,
        // These tests cover in-process retries and dead letters; tests/retry_topic.rs covers
        // the retry topic.
        retry_delays_ms: Vec::new(),
        ..GroupConfig::default()
    }
}

/// Each (topic, order)'s event IDs in publish order: what a consumer must see per partition.
fn per_order<'a>(
    topics: &producers::TopicsConfig,
    events: impl IntoIterator<Item = &'a Envelope>,
) -> HashMap<(String, String), Vec<uuid::Uuid>> {
    per_key(events, |e| {
        (
            topics.topic_for(e.event_type()).to_owned(),
            e.order_id.clone(),
        )
    })
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_permanent_panicking_and_exhausted_events_are_dead_lettered_while_the_rest_flows() {
    let topics = testkit::topics::fresh_topics(3).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(8, "it");
    let mut good: Vec<Envelope> = (0..30).flat_map(|n| generator.order_flow(n)).collect();
    // Orders with special behaviour, two events each so key order can be checked.
    let mut special = Vec::new();
    for (name, n) in [
        ("ord_perm", 900),
        ("ord_flaky", 901),
        ("ord_never", 902),
        ("ord_panic", 903),
    ] {
        // Two events of the order stream, so they share a partition and have an order.
        let mut flow: Vec<Envelope> = generator
            .order_flow(n)
            .into_iter()
            .filter(|e| e.event_type().stream() == events::Stream::Order)
            .take(2)
            .collect();
        for e in &mut flow {
            e.order_id = name.to_owned();
        }
        special.extend(flow);
    }
    for e in good.iter().chain(&special) {
        producer.publish(e).await.expect("published");
    }
    // Undecodable messages, written raw, in the middle of a partition.
    let invalid = {
        let mut v: serde_json::Value =
            serde_json::from_slice(&good[0].encode().expect("valid")).expect("json");
        v["data"].as_object_mut().expect("data").remove("customer");
        v.to_string()
    };
    for (key, payload) in [
        ("ord_00000000", "not json at all".to_owned()),
        ("ord_00000001", invalid),
    ] {
        producer
            .enqueue_raw(
                RawRecord {
                    topic: &topics.order_events,
                    key: key.as_bytes(),
                    payload: payload.as_bytes(),
                    headers: vec![(headers::EVENT_TYPE, b"order.created")],
                    partition: None,
                    timestamp_ms: None,
                },
                uuid::Uuid::nil(),
            )
            .await
            .expect("enqueued")
            .await
            .expect("delivered");
    }
    let after = generator.order_flow(31);
    for e in &after {
        producer.publish(e).await.expect("published");
    }
    good.extend(after);

    let flaky_first = special
        .iter()
        .find(|e| e.order_id == "ord_flaky")
        .map(|e| e.event_id);
    let (recorder, mut finished) = Recorder::new(
        0,
        Box::new(move |e, ctx| match e.order_id.as_str() {
            "ord_perm" => Err(HandlerError::permanent("card number is not a number")),
            "ord_never" => Err(HandlerError::retryable("provider 503")),
            "ord_panic" => panic!("bug in handler"),
            "ord_flaky" if Some(e.event_id) == flaky_first && ctx.attempt < 3 => {
                Err(HandlerError::retryable("timeout"))
            }
            _ => Ok(()),
        }),
    );
    let (seen, attempts) = (Arc::clone(&recorder.seen), Arc::clone(&recorder.attempts));
    let group = testkit::unique("it-group-dlq");
    let member = spawn_group(
        &group,
        group_config(),
        testkit::kafka(),
        &topics,
        recorder,
        &producer,
    );
    let stats = Arc::clone(&member.stats);
    // Finished events: every good one, ord_flaky's two, and ord_perm's, ord_never's and
    // ord_panic's (each dead-lettered; the panicking ones never reach the recorder's counter).
    wait_for(&mut finished, good.len() + 2 + 2 + 2).await;
    // Dead letters: 2 undecodable, 2 permanent, 2 exhausted, 2 panics.
    let dlq = testkit::reader::read(&dead_letter_topic(&group), 8);
    member.stop().await;

    let mut reasons: HashMap<String, Vec<(String, u32)>> = HashMap::new();
    for m in &dlq {
        let key = String::from_utf8_lossy(m.key().expect("key kept")).into_owned();
        let reason = testkit::reader::header(m, headers::DLQ_REASON)
            .expect("reason")
            .to_owned();
        let attempts: u32 = testkit::reader::header(m, headers::ATTEMPTS)
            .expect("attempts")
            .parse()
            .expect("number");
        assert_eq!(
            testkit::reader::header(m, headers::SOURCE_TOPIC),
            Some(topics.order_events.as_str())
        );
        assert!(
            testkit::reader::header(m, headers::SOURCE_OFFSET)
                .is_some_and(|o| o.parse::<i64>().is_ok())
        );
        assert!(testkit::reader::header(m, headers::DLQ_ERROR).is_some_and(|e| !e.is_empty()));
        assert!(testkit::reader::header(m, headers::DLQ_AT).is_some());
        reasons.entry(key).or_default().push((reason, attempts));
    }
    assert_eq!(reasons["ord_00000000"], vec![("not_json".to_owned(), 0)]);
    assert_eq!(
        reasons["ord_00000001"],
        vec![("missing_field".to_owned(), 0)]
    );
    assert_eq!(
        reasons["ord_perm"],
        vec![("handler_permanent".to_owned(), 1); 2]
    );
    assert_eq!(
        reasons["ord_never"],
        vec![("retries_exhausted".to_owned(), 3); 2]
    );
    assert_eq!(
        reasons["ord_panic"],
        vec![("handler_panic".to_owned(), 1); 2]
    );
    // The rest flowed, in order; the flaky order's second event waited for its first.
    let seen = seen.lock().expect("lock");
    let flaky: Vec<uuid::Uuid> = special
        .iter()
        .filter(|e| e.order_id == "ord_flaky")
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        seen.get(&(topics.order_events.clone(), "ord_flaky".to_owned())),
        Some(&flaky),
        "block-key: the second event waited for the retried first one"
    );
    assert_eq!(
        attempts.lock().expect("lock")[&flaky[0]],
        3,
        "succeeded on the third attempt"
    );
    for e in &good {
        let topic = topics.topic_for(e.event_type()).to_owned();
        assert!(
            seen.get(&(topic, e.order_id.clone()))
                .is_some_and(|ids| ids.contains(&e.event_id)),
            "good event {} was not handled",
            e.event_id
        );
    }
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 8);
    assert_eq!(
        stats.retried.load(Ordering::SeqCst),
        2 + 2 * 2,
        "flaky twice, never 2x2"
    );
}

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
