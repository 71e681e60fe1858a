//! Replay (`consumers::runtime::replay`) against the broker: a time range handles exactly the
//! events published in it (even when ListOffsets-by-time lies), offsets copy exactly their range
//! to another topic, the end is fixed at the start, and live groups' offsets never move.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use consumers::runtime::replay::{self, Bound, Plan, Progress, ReplayGroup, ReplayRun};
use consumers::runtime::{ConsumerGroup, Context, GroupConfig, Handler, HandlerError};
use events::{Envelope, headers, samples::Generator};
use producers::{EventProducer, TopicsConfig};
use rdkafka::message::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Records the events it handles and whether they came as a replay.
#[derive(Clone, Default)]
struct Recorder {
    handled: Arc<Mutex<Vec<(Uuid, bool)>>>,
}

impl Handler for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, event: &Envelope, ctx: &Context) -> Result<(), HandlerError> {
        self.handled
            .lock()
            .expect("lock")
            .push((event.event_id, ctx.replay));
        Ok(())
    }
}

impl Recorder {
    fn ids(&self) -> Vec<Uuid> {
        self.handled
            .lock()
            .expect("lock")
            .iter()
            .map(|h| h.0)
            .collect()
    }
}

/// A stand-in for the broker's ListOffsets-by-time answer.
type Lie = fn(i32, Option<i64>) -> Option<i64>;

/// Publishes `orders` order flows (only order-stream events, so all land in one topic) and
/// waits for every acknowledgement.
async fn publish(
    producer: &EventProducer,
    generator: &mut Generator,
    first: u64,
    orders: u64,
) -> Vec<Envelope> {
    let mut out = Vec::new();
    for n in first..first + orders {
        for e in generator.order_flow(n) {
            if e.event_type().stream() == events::Stream::Order {
                producer.publish(&e).await.expect("published");
                out.push(e);
            }
        }
    }
    out
}

fn run(rate: Option<u32>) -> ReplayRun {
    ReplayRun {
        rate,
        progress: Arc::new(Progress::default()),
        stop: CancellationToken::new(),
    }
}

fn group_config() -> GroupConfig {
    GroupConfig {
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        retry_delays_ms: Vec::new(),
        ..GroupConfig::default()
    }
}

fn ids(events: &[Envelope]) -> BTreeSet<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

async fn setup(partitions: i32) -> (TopicsConfig, EventProducer) {
    let topics = testkit::topics::fresh_topics(partitions).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    (topics, producer)
}

/// Runs a live group over everything until `n` events are handled, stops it cleanly.
async fn live_group(topics: &TopicsConfig, producer: &EventProducer, group: &str, n: usize) {
    let recorder = Recorder::default();
    let config = GroupConfig {
        topics: vec![topics.order_events.clone()],
        ..group_config()
    };
    let runtime = ConsumerGroup::new(
        group,
        config,
        testkit::kafka(),
        topics,
        recorder.clone(),
        producer.clone(),
    )
    .expect("group");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(runtime.run(async move {
        let _ = stopped.await;
    }));
    testkit::wait_until("the live group handled everything", || {
        recorder.ids().len() >= n
    })
    .await;
    assert_eq!(
        recorder.ids().len(),
        n,
        "live group handled each event once"
    );
    stop.send(()).expect("running");
    run.await.expect("task").expect("clean stop");
}

async fn replay_to_group(
    plan: &Plan,
    group: &str,
    reserved: &[String],
    producer: &EventProducer,
) -> (consumers::Result<replay::ReplayReport>, Recorder) {
    let recorder = Recorder::default();
    let report = replay::to_group(
        &testkit::kafka(),
        plan,
        ReplayGroup {
            name: group,
            reserved,
            config: group_config(),
            handler: recorder.clone(),
            producer: producer.clone(),
        },
        run(None),
    )
    .await;
    (report, recorder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_range_replays_exactly_its_events_and_live_offsets_stay() {
    let (topics, producer) = setup(3).await;
    let topic = topics.order_events.clone();
    let mut generator = Generator::new(31, "it");
    let before = publish(&producer, &mut generator, 0, 8).await;
    let t1 = testkit::clock::boundary();
    let middle = publish(&producer, &mut generator, 100, 8).await;
    let t2 = testkit::clock::boundary();
    let after = publish(&producer, &mut generator, 200, 8).await;

    let live = testkit::unique("it-live");
    live_group(
        &topics,
        &producer,
        &live,
        before.len() + middle.len() + after.len(),
    )
    .await;
    let committed_before = committed(&live, &topic);
    assert!(!committed_before.is_empty());

    let plan = replay::plan(
        &testkit::kafka(),
        &topic,
        &Bound::Time(t1),
        &Bound::Time(t2),
    )
    .await
    .expect("plan");
    for r in &plan.ranges {
        // What the broker did with ListOffsets by time, for the record.
        eprintln!(
            "partition {}: [{}, {}) {:?}",
            r.partition, r.from, r.to, r.notes
        );
    }
    assert_eq!(plan.total(), middle.len() as u64, "{plan:?}");

    let group = testkit::unique("it-replay");
    let (report, recorder) =
        replay_to_group(&plan, &group, std::slice::from_ref(&live), &producer).await;
    let report = report.expect("replayed");
    assert_eq!(
        recorder.ids().iter().copied().collect::<BTreeSet<_>>(),
        ids(&middle)
    );
    assert_eq!(recorder.ids().len(), middle.len(), "each event once");
    assert!(
        recorder.handled.lock().expect("lock").iter().all(|h| h.1),
        "handlers see the replay flag"
    );
    assert_eq!(
        (report.read, report.handled, report.dead_lettered),
        (middle.len() as u64, middle.len() as u64, 0)
    );

    // The live group's offsets did not move, and the replay group committed nothing.
    assert_eq!(committed(&live, &topic), committed_before);
    assert!(committed(&group, &topic).is_empty());

    // A group with commits on the topic (a live group), or a configured one, is refused.
    let configured = testkit::unique("it-configured");
    for (name, reserved) in [
        (live.clone(), Vec::new()),
        (configured.clone(), vec![configured.clone()]),
    ] {
        let (refused, r) = replay_to_group(&plan, &name, &reserved, &producer).await;
        let text = refused.expect_err("refused").to_string();
        assert!(text.starts_with("refused:"), "{text}");
        assert!(r.ids().is_empty());
    }
}

/// Committed offsets of `group` on `topic`, by partition.
fn committed(group: &str, topic: &str) -> HashMap<i32, i64> {
    testkit::reader::committed(group, &[topic])
        .into_iter()
        .map(|((_, p), o)| (p, o))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_list_offsets_answers_from_the_real_broker_are_caught() {
    let (topics, producer) = setup(2).await;
    let topic = topics.order_events.clone();
    let mut generator = Generator::new(32, "it");
    let before = publish(&producer, &mut generator, 0, 10).await;
    let t1 = testkit::clock::boundary();
    let middle = publish(&producer, &mut generator, 100, 10).await;
    let t2 = testkit::clock::boundary();
    let after = publish(&producer, &mut generator, 200, 10).await;
    let kafka = testkit::kafka();
    let honest = replay::plan(&kafka, &topic, &Bound::Time(t1), &Bound::Time(t2))
        .await
        .expect("plan");
    assert_eq!(honest.total(), middle.len() as u64);
    let lies: [Lie; 4] = [
        |_, _| None,             // -1
        |_, _| Some(0),          // the start: too early
        |_, a| a.map(|a| a + 1), // one past the boundary
        |_, _| Some(1_000_000),  // past the end
    ];
    for lie in lies {
        let plan = replay::plan_with_broker_answers(
            &kafka,
            &topic,
            &Bound::Time(t1),
            &Bound::Time(t2),
            lie,
        )
        .await
        .expect("plan");
        let bounds: Vec<(i64, i64)> = plan.ranges.iter().map(|r| (r.from, r.to)).collect();
        let want: Vec<(i64, i64)> = honest.ranges.iter().map(|r| (r.from, r.to)).collect();
        assert_eq!(bounds, want, "{plan:?}");
        assert!(
            plan.ranges
                .iter()
                .any(|r| r.notes.iter().any(|n| n.contains("by searching"))),
            "{plan:?}"
        );
    }
    // The search agrees with the messages' own timestamps: read the range and check them.
    let messages = testkit::reader::read(&topic, before.len() + middle.len() + after.len());
    for r in &honest.ranges {
        for m in messages.iter().filter(|m| m.partition() == r.partition) {
            let ts = m.timestamp().to_millis().expect("timestamp");
            let inside = m.offset() >= r.from && m.offset() < r.to;
            assert_eq!(
                inside,
                ts >= t1 && ts < t2,
                "partition {} offset {} ts {ts}",
                r.partition,
                m.offset()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offsets_copy_exactly_their_range_to_a_topic_and_the_end_is_fixed_at_start() {
    let (topics, producer) = setup(3).await;
    let topic = topics.order_events.clone();
    let mut generator = Generator::new(33, "it");
    let published = publish(&producer, &mut generator, 0, 20).await;
    let source = testkit::reader::read(&topic, published.len());
    let kafka = testkit::kafka();
    // From offset 2 on every partition to "now".
    let plan = replay::plan(&kafka, &topic, &Bound::Offset(2), &Bound::Now)
        .await
        .expect("plan");
    // Published after the start: must not be copied.
    let late = publish(&producer, &mut generator, 500, 3).await;
    let target = testkit::unique("it-copy");
    let report = replay::to_topic(&kafka, &plan, (&target, producer.clone()), run(Some(2_000)))
        .await
        .expect("copied");
    assert!(report.created_target, "the missing target was created");
    let want: Vec<_> = source.iter().filter(|m| m.offset() >= 2).collect();
    assert_eq!(report.copied, want.len() as u64);
    let copies = testkit::reader::read(&target, want.len());
    let mut expected: BTreeSet<String> = want
        .iter()
        .map(|m| format!("{}/{}/{}", topic, m.partition(), m.offset()))
        .collect();
    for c in &copies {
        let from = testkit::reader::header(c, headers::REPLAYED_FROM)
            .expect("replayed-from header")
            .to_owned();
        assert!(
            expected.remove(&from),
            "{from} copied twice or outside the range"
        );
        let original = want
            .iter()
            .find(|m| format!("{}/{}/{}", topic, m.partition(), m.offset()) == from)
            .expect("original");
        assert_eq!(c.key(), original.key());
        assert_eq!(c.payload(), original.payload());
        assert_eq!(
            c.partition(),
            original.partition(),
            "keyed the same: same partition"
        );
        assert_eq!(
            testkit::reader::header(c, headers::EVENT_TYPE),
            testkit::reader::header(original, headers::EVENT_TYPE)
        );
    }
    assert!(expected.is_empty());
    let late_ids = ids(&late);
    assert!(copies.iter().all(|c| {
        !late_ids.contains(
            &events::decode(c.payload().expect("payload"))
                .expect("event")
                .event_id,
        )
    }));

    // Per-partition offsets, clamped: partition 1 from 1 to past its end.
    let plan = replay::plan(
        &kafka,
        &topic,
        &Bound::parse_from("1:1").expect("bound"),
        &Bound::parse_to("1:9999").expect("bound"),
    )
    .await
    .expect("plan");
    assert_eq!(plan.ranges.len(), 1);
    assert_eq!(plan.ranges[0].from, 1);
    assert!(
        plan.ranges[0]
            .notes
            .iter()
            .any(|n| n.contains("past the high watermark")),
        "{plan:?}"
    );
}
