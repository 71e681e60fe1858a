//! `orderbus dlq list|redrive` against Apache Kafka: dead letters made by a real group run
//! are counted by reason, redriven to their source partitions with audit headers exactly once
//! (a second run and a run after an interrupted batch publish nothing twice), and `--dry-run`
//! publishes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use consumers::runtime::redrive::ledger::{Mark, Record, State, ledger_topic};
use consumers::runtime::{
    ConsumerGroup, Context, GroupConfig, Handler, HandlerError, dead_letter_topic,
};
use events::{Envelope, headers, samples::Generator};
use producers::{EventProducer, RawRecord, TopicsConfig};
use rdkafka::message::{Headers, Message, OwnedMessage};

/// Fails every event of `ord_perm_*` for good and keeps `ord_flaky_*` failing retryably.
struct Picky;

impl Handler for Picky {
    fn name(&self) -> &str {
        "picky"
    }

    async fn handle(&self, event: &Envelope, _: &Context) -> Result<(), HandlerError> {
        if event.order_id.starts_with("ord_perm_") {
            Err(HandlerError::permanent("rejected by a business rule"))
        } else if event.order_id.starts_with("ord_flaky_") {
            Err(HandlerError::retryable("provider down"))
        } else {
            Ok(())
        }
    }
}

fn orderbus(topics: &TopicsConfig) -> Command {
    let mut cmd = testkit::orderbus!();
    testkit::cli::with_topics(&mut cmd, topics);
    cmd
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

fn coordinates(m: &OwnedMessage) -> String {
    format!("{}/{}/{}", m.topic(), m.partition(), m.offset())
}

/// Order-stream events of `n` order flows, renamed to `prefix{n}` order ids.
fn events_of(generator: &mut Generator, prefix: &str, ns: std::ops::Range<u64>) -> Vec<Envelope> {
    let mut out = Vec::new();
    for n in ns {
        for mut e in generator.order_flow(n) {
            if e.event_type().stream() == events::Stream::Order {
                e.order_id = format!("{prefix}{n}");
                out.push(e);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_by_reason_and_redriven_once() {
    let topics = testkit::topics::fresh_topics(3).await;
    let topic = topics.order_events.clone();
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    let mut generator = Generator::new(41, "it");
    let good = events_of(&mut generator, "ord_ok_", 0..6);
    let perm = events_of(&mut generator, "ord_perm_", 10..13);
    let flaky = events_of(&mut generator, "ord_flaky_", 20..22);
    for e in good.iter().chain(&perm).chain(&flaky) {
        producer.publish(e).await.expect("published");
    }
    let broken = br#"{"event_type":"order.created","order_id":"ord_bad"}"#;
    producer
        .enqueue_raw(
            RawRecord {
                topic: &topic,
                key: b"ord_bad",
                payload: broken,
                headers: Vec::new(),
                partition: None,
                timestamp_ms: None,
            },
            uuid::Uuid::nil(),
        )
        .await
        .expect("enqueue")
        .await
        .expect("delivered");
    let published = good.len() + perm.len() + flaky.len() + 1;

    // A real group run makes the dead letters.
    let group = testkit::unique("it-dlq");
    let config = GroupConfig {
        topics: vec![topic.clone()],
        session_timeout_ms: 6_000,
        max_attempts: 2,
        retry_initial_ms: 5,
        retry_max_ms: 10,
        retry_delays_ms: Vec::new(),
        ..GroupConfig::default()
    };
    let runtime = ConsumerGroup::new(
        &group,
        config,
        testkit::kafka(),
        &topics,
        Picky,
        producer.clone(),
    )
    .expect("group");
    let stats = runtime.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let member = tokio::spawn(runtime.run(async move {
        let _ = stopped.await;
    }));
    let dead = perm.len() + flaky.len() + 1;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
    while (stats.handled.load(Ordering::SeqCst) as usize) < good.len()
        || (stats.dead_lettered.load(Ordering::SeqCst) as usize) < dead
    {
        assert!(tokio::time::Instant::now() < give_up, "group stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).expect("running");
    member.await.expect("task").expect("clean stop");
    let dlq = testkit::reader::read(&dead_letter_topic(&group), dead);
    let reason_of = |m: &OwnedMessage| {
        testkit::reader::header(m, headers::DLQ_REASON)
            .expect("reason")
            .to_owned()
    };
    let perm_letters: BTreeSet<String> = dlq
        .iter()
        .filter(|m| reason_of(m) == "handler_permanent")
        .map(coordinates)
        .collect();
    assert_eq!(perm_letters.len(), perm.len());

    // list: counts by reason.
    let listed = run(orderbus(&topics).args(["dlq", "list", "--group", &group]));
    assert!(
        listed.contains(&format!("{} dead letters (0 already redriven)", dead)),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("handler_permanent: {}", perm.len())),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("retries_exhausted: {}", flaky.len())),
        "{listed}"
    );
    assert!(listed.contains("missing_field: 1"), "{listed}");
    assert!(
        perm.iter()
            .any(|e| listed.contains(&e.event_id.to_string())),
        "samples name events: {listed}"
    );

    // Dry run: says what it would do, publishes nothing.
    let dry = run(orderbus(&topics).args([
        "dlq",
        "redrive",
        "--group",
        &group,
        "--reason",
        "handler_permanent",
        "--dry-run",
    ]));
    assert!(
        dry.contains(&format!("would redrive {}", perm.len())),
        "{dry}"
    );
    testkit::reader::read(&topic, published);

    // Redrive one reason: exactly those, with audit headers, to their source partitions.
    let out = run(orderbus(&topics).args([
        "dlq",
        "redrive",
        "--group",
        &group,
        "--reason",
        "handler_permanent",
    ]));
    assert!(out.contains(&format!("redriven {}", perm.len())), "{out}");
    let after = testkit::reader::read(&topic, published + perm.len());
    let copies: Vec<&OwnedMessage> = after
        .iter()
        .filter(|m| testkit::reader::header(m, headers::REDRIVEN_FROM).is_some())
        .collect();
    let from: BTreeSet<String> = copies
        .iter()
        .map(|m| {
            testkit::reader::header(m, headers::REDRIVEN_FROM)
                .expect("from")
                .to_owned()
        })
        .collect();
    assert_eq!(from, perm_letters);
    for c in &copies {
        let letter = dlq
            .iter()
            .find(|d| {
                Some(coordinates(d).as_str()) == testkit::reader::header(c, headers::REDRIVEN_FROM)
            })
            .expect("its dead letter");
        assert_eq!(c.payload(), letter.payload());
        assert_eq!(c.key(), letter.key());
        let source_partition: i32 = testkit::reader::header(letter, headers::SOURCE_PARTITION)
            .expect("p")
            .parse()
            .expect("int");
        assert_eq!(c.partition(), source_partition);
        assert!(testkit::reader::header(c, headers::REDRIVEN_AT).is_some());
        assert_eq!(
            testkit::reader::header(c, headers::EVENT_TYPE),
            testkit::reader::header(letter, headers::EVENT_TYPE)
        );
        let names: Vec<&str> = c
            .headers()
            .expect("headers")
            .iter()
            .map(|h| h.key)
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.starts_with("orderbus.dlq.") && !n.starts_with("orderbus.source.")),
            "{names:?}"
        );
    }

    // Again: nothing more.
    let again = run(orderbus(&topics).args([
        "dlq",
        "redrive",
        "--group",
        &group,
        "--reason",
        "handler_permanent",
    ]));
    assert!(again.contains("redriven 0"), "{again}");
    assert!(
        again.contains(&format!("{} already redriven", perm.len())),
        "{again}"
    );
    testkit::reader::read(&topic, published + perm.len());

    // A run that died between publishing and confirming: its intent is in the ledger and one
    // of its copies reached the topic. The next run must not publish that one again.
    let flaky_letters: Vec<&OwnedMessage> = dlq
        .iter()
        .filter(|m| reason_of(m) == "retries_exhausted")
        .collect();
    let ledger = ledger_topic(&group);
    let mut marks = BTreeMap::new();
    for l in &flaky_letters {
        let p: i32 = testkit::reader::header(l, headers::SOURCE_PARTITION)
            .expect("p")
            .parse()
            .expect("int");
        let high = testkit::reader::high_watermarks(&topic)[&p];
        marks.insert(
            p,
            Mark {
                topic: topic.clone(),
                partition: p,
                from: high,
            },
        );
    }
    let intent = Record {
        batch: "crashed".into(),
        state: State::Pending,
        items: flaky_letters.iter().map(|m| coordinates(m)).collect(),
        marks: marks.into_values().collect(),
    };
    let value = serde_json::to_vec(&intent).expect("json");
    send(&producer, &ledger, b"x", &value, Vec::new(), Some(0)).await;
    let escaped = flaky_letters[0];
    let escaped_from = coordinates(escaped);
    let p: i32 = testkit::reader::header(escaped, headers::SOURCE_PARTITION)
        .expect("p")
        .parse()
        .expect("int");
    send(
        &producer,
        &topic,
        escaped.key().expect("key"),
        escaped.payload().expect("value"),
        vec![(headers::REDRIVEN_FROM, escaped_from.as_bytes())],
        Some(p),
    )
    .await;

    let out = run(orderbus(&topics).args(["dlq", "redrive", "--group", &group]));
    assert!(out.contains("settled 1 interrupted batch(es) of an earlier run: 1 dead letter(s) found already published"), "{out}");
    // The rest: the other flaky letters and the undecodable one.
    assert!(
        out.contains(&format!("redriven {}", flaky.len() - 1 + 1)),
        "{out}"
    );
    let all = testkit::reader::read(&topic, published + perm.len() + flaky.len() + 1);
    let mut per_letter: BTreeMap<String, usize> = BTreeMap::new();
    for m in &all {
        if let Some(f) = testkit::reader::header(m, headers::REDRIVEN_FROM) {
            *per_letter.entry(f.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(per_letter.len(), dead, "every dead letter redriven");
    assert!(
        per_letter.values().all(|n| *n == 1),
        "each once: {per_letter:?}"
    );
    let listed = run(orderbus(&topics).args(["dlq", "list", "--group", &group]));
    assert!(
        listed.contains(&format!("{dead} dead letters ({dead} already redriven)")),
        "{listed}"
    );
}

async fn send(
    producer: &EventProducer,
    topic: &str,
    key: &[u8],
    value: &[u8],
    headers: Vec<(&str, &[u8])>,
    partition: Option<i32>,
) {
    producer
        .enqueue_raw(
            RawRecord {
                topic,
                key,
                payload: value,
                headers,
                partition,
                timestamp_ms: None,
            },
            uuid::Uuid::nil(),
        )
        .await
        .expect("enqueue")
        .await
        .expect("delivered");
}
