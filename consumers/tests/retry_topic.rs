//! The retry topic against Apache Kafka: an event whose in-process retries are spent is
//! parked on `<group>.retry` and comes back after its delay without holding up other keys;
//! after the last round it is dead-lettered with the coordinates of its real source; under
//! `block-key` later events of its key wait behind it, under `skip` they run on.
//!
//! Handlers here decide from what has already been handled, not from the clock: the failing
//! event keeps failing until the events it must not block (or must not overtake) are done, so a
//! runtime that blocked them would stall the test instead of passing it by luck.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use consumers::runtime::{
    Context, GroupConfig, Handler, HandlerError, RetryMode, dead_letter_topic, retry_topic,
};
use events::{Envelope, headers, samples::Generator};
use producers::{EventProducer, TopicsConfig};
use rdkafka::message::Message;
use testkit::group::spawn_group;
use testkit::wait_for;
use tokio::sync::watch;
use uuid::Uuid;

type Decide = dyn Fn(&Envelope, &Context, &Log) -> Result<(), HandlerError> + Send + Sync;

/// What the handler saw, in the order it saw it.
#[derive(Default)]
struct Log {
    /// Successful handlings: (order, event).
    handled: Vec<(String, Uuid)>,
    /// Every attempt: (event, attempt number).
    attempts: Vec<(Uuid, u32)>,
}

impl Log {
    fn done(&self, id: Uuid) -> bool {
        self.handled.iter().any(|(_, h)| *h == id)
    }

    fn order(&self, order: &str) -> Vec<Uuid> {
        self.handled
            .iter()
            .filter(|(o, _)| o == order)
            .map(|(_, id)| *id)
            .collect()
    }
}

#[derive(Clone)]
struct Scripted {
    log: Arc<Mutex<Log>>,
    decide: Arc<Decide>,
    /// Distinct events handled successfully.
    handled: Arc<watch::Sender<usize>>,
}

impl Scripted {
    fn new(decide: Box<Decide>) -> (Self, watch::Receiver<usize>) {
        let (tx, rx) = watch::channel(0);
        let s = Scripted {
            log: Arc::default(),
            decide: Arc::from(decide),
            handled: Arc::new(tx),
        };
        (s, rx)
    }
}

impl Handler for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        let mut log = self.log.lock().expect("lock");
        log.attempts.push((event.event_id, ctx.attempt));
        let decision = (self.decide)(event, ctx, &log);
        if decision.is_ok() && !log.done(event.event_id) {
            log.handled.push((event.order_id.clone(), event.event_id));
            self.handled.send_modify(|n| *n += 1);
        }
        decision
    }
}

fn config(mode: RetryMode, delays_ms: Vec<u64>) -> GroupConfig {
    GroupConfig {
        consumers: 2,
        processors: 8,
        session_timeout_ms: 6_000,
        commit_interval_ms: 200,
        max_attempts: 2,
        retry_initial_ms: 5,
        retry_max_ms: 20,
        retry_delays_ms: delays_ms,
        retry_mode: mode,
        ..GroupConfig::default()
    }
}

/// Fresh topics and `orders` order flows on the order topic only (one partition per key, so a
/// key's events have one order), published with the producer's default batching.
async fn publish_orders(orders: u64) -> (TopicsConfig, EventProducer, Vec<Envelope>) {
    let topics = testkit::topics::fresh_topics(3).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(4242, "it");
    let events: Vec<Envelope> = (0..orders)
        .flat_map(|n| generator.order_flow(n))
        .filter(|e| topics.topic_for(e.event_type()) == topics.order_events)
        .collect();
    for e in &events {
        producer.publish(e).await.expect("published");
    }
    (topics, producer, events)
}

fn ids_of(events: &[Envelope], order: &str) -> Vec<Uuid> {
    events
        .iter()
        .filter(|e| e.order_id == order)
        .map(|e| e.event_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parked_event_comes_back_and_succeeds_without_blocking_other_keys() {
    let (topics, producer, events) = publish_orders(40).await;
    let slow = events[0].order_id.clone();
    let slow_ids = ids_of(&events, &slow);
    assert!(slow_ids.len() >= 2, "the slow order needs a follower");
    let first = slow_ids[0];
    let others: HashSet<Uuid> = events
        .iter()
        .filter(|e| e.order_id != slow)
        .map(|e| e.event_id)
        .collect();
    let need = others.clone();
    let (handler, mut handled) = Scripted::new(Box::new(move |e, ctx, log| {
        // Fails through its in-process attempts, then until every other order is done: if
        // the parked event held up other keys this would never succeed.
        let others_done = need.iter().all(|id| log.done(*id));
        if e.event_id == first && (ctx.attempt <= 2 || !others_done) {
            return Err(HandlerError::retryable("provider 503"));
        }
        Ok(())
    }));
    let log = Arc::clone(&handler.log);
    let group = testkit::unique("it-retry-heal");
    let member = spawn_group(
        &group,
        config(RetryMode::BlockKey, vec![200; 20]),
        testkit::kafka(),
        &topics,
        handler,
        &producer,
    );
    let stats = Arc::clone(&member.stats);
    wait_for(&mut handled, events.len()).await;
    member.stop().await;

    let log = log.lock().expect("lock");
    assert_eq!(
        log.order(&slow),
        slow_ids,
        "block-key kept the order's order"
    );
    let first_success = log.handled.iter().position(|(_, id)| *id == first);
    let last_other = log.handled.iter().rposition(|(_, id)| others.contains(id));
    assert!(
        last_other < first_success,
        "other orders finished while the first event waited"
    );
    let attempts: Vec<u32> = log
        .attempts
        .iter()
        .filter(|(id, _)| *id == first)
        .map(|(_, a)| *a)
        .collect();
    assert!(
        attempts.windows(2).all(|w| w[1] == w[0] + 1),
        "attempt numbers carry over across rounds: {attempts:?}"
    );
    assert!(attempts.len() >= 3, "it came back from the retry topic");
    // The event parked at least once, and each follower of its order once per block.
    assert!(stats.parked.load(Ordering::SeqCst) >= slow_ids.len() as u64);
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 0);
    // Every parking the group counted is one message on the retry topic, and no more.
    let parked = testkit::reader::read(
        &retry_topic(&group),
        stats.parked.load(Ordering::SeqCst) as usize,
    );
    assert!(
        parked
            .iter()
            .any(|m| testkit::reader::header(m, headers::RETRY_KIND) == Some("failed")),
        "the failing event was parked as failed"
    );
    assert!(
        parked
            .iter()
            .all(|m| m.key().map(<[u8]>::to_vec) == Some(slow.as_bytes().to_vec())),
        "only the slow order was parked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spent_rounds_dead_letter_with_the_real_source_and_followers_run_after() {
    let (topics, producer, events) = publish_orders(20).await;
    let doomed = events[0].order_id.clone();
    let doomed_ids = ids_of(&events, &doomed);
    let first = doomed_ids[0];
    let (handler, mut handled) = Scripted::new(Box::new(move |e, _, _| {
        if e.event_id == first {
            return Err(HandlerError::retryable("provider 503"));
        }
        Ok(())
    }));
    let log = Arc::clone(&handler.log);
    let group = testkit::unique("it-retry-doomed");
    let member = spawn_group(
        &group,
        config(RetryMode::BlockKey, vec![50, 50]),
        testkit::kafka(),
        &topics,
        handler,
        &producer,
    );
    let stats = Arc::clone(&member.stats);
    wait_for(&mut handled, events.len() - 1).await;
    let dlq = testkit::reader::read(&dead_letter_topic(&group), 1);
    member.stop().await;

    let m = &dlq[0];
    assert_eq!(m.key(), Some(doomed.as_bytes()));
    assert_eq!(
        testkit::reader::header(m, headers::DLQ_REASON),
        Some("retries_exhausted")
    );
    // Two in-process attempts in each of three rounds: the first read and two retry rounds.
    assert_eq!(testkit::reader::header(m, headers::ATTEMPTS), Some("6"));
    assert_eq!(
        testkit::reader::header(m, headers::SOURCE_TOPIC),
        Some(topics.order_events.as_str()),
        "the source is the order topic, not the retry topic"
    );
    let original = testkit::reader::read(&topics.order_events, events.len())
        .into_iter()
        .find(|o| o.key() == Some(doomed.as_bytes()))
        .expect("original");
    assert_eq!(
        testkit::reader::header(m, headers::SOURCE_OFFSET),
        Some(original.offset().to_string().as_str())
    );
    let log = log.lock().expect("lock");
    assert_eq!(
        log.order(&doomed),
        doomed_ids[1..].to_vec(),
        "its followers ran after it was dead-lettered, in order"
    );
    let attempts: Vec<u32> = log
        .attempts
        .iter()
        .filter(|(id, _)| *id == first)
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(stats.dead_lettered.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skip_lets_later_events_of_the_key_run_on() {
    let (topics, producer, events) = publish_orders(10).await;
    let order = events[0].order_id.clone();
    let ids = ids_of(&events, &order);
    let (first, rest) = (ids[0], ids[1..].to_vec());
    let need = rest.clone();
    let (handler, mut handled) = Scripted::new(Box::new(move |e, _, log| {
        // Fails until the key's later events are done: only `skip` lets them past.
        if e.event_id == first && !need.iter().all(|id| log.done(*id)) {
            return Err(HandlerError::retryable("provider 503"));
        }
        Ok(())
    }));
    let log = Arc::clone(&handler.log);
    let group = testkit::unique("it-retry-skip");
    // The configured count is not what the topics have: the retry topic must follow the
    // topics, or a key's parked and live events could belong to different members.
    let configured = TopicsConfig {
        partitions: 1,
        ..topics.clone()
    };
    let member = spawn_group(
        &group,
        config(RetryMode::Skip, vec![100; 20]),
        testkit::kafka(),
        &configured,
        handler,
        &producer,
    );
    wait_for(&mut handled, events.len()).await;
    member.stop().await;
    let counts = producers::admin::partition_counts(
        &testkit::kafka(),
        &[retry_topic(&group), topics.order_events.clone()],
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("metadata");
    assert_eq!(counts, vec![Some(3), Some(3)]);

    let mut expected = rest;
    expected.push(first);
    assert_eq!(log.lock().expect("lock").order(&order), expected);
}
