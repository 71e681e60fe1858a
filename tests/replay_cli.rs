//! `orderbus replay` as users run it, against the broker: a time range through a new group
//! with the `log` worker, `--dry-run` touching nothing, a configured group refused.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use events::{Envelope, samples::Generator};
use producers::{EventProducer, TopicsConfig};

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

/// Committed offsets of `group` on `topic`, by partition.
fn committed(group: &str, topic: &str) -> HashMap<i32, i64> {
    testkit::reader::committed(group, &[topic])
        .into_iter()
        .map(|((_, p), o)| (p, o))
        .collect()
}

fn orderbus(topics: &TopicsConfig) -> Command {
    let mut cmd = testkit::orderbus!();
    testkit::cli::with_topics(&mut cmd, topics);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_replays_a_time_range_and_dry_run_touches_nothing() {
    let (topics, producer) = setup(2).await;
    let topic = topics.order_events.clone();
    let mut generator = Generator::new(34, "it");
    publish(&producer, &mut generator, 0, 5).await;
    let t1 = testkit::clock::boundary();
    let middle = publish(&producer, &mut generator, 100, 5).await;
    let t2 = testkit::clock::boundary();
    publish(&producer, &mut generator, 200, 5).await;
    let group = testkit::unique("it-cli-replay");
    let target = testkit::unique("it-cli-copy");

    // Dry run: prints the plan, creates, publishes and commits nothing.
    let out = orderbus(&topics)
        .args([
            "replay",
            "--topic",
            &topic,
            "--from",
            &testkit::clock::rfc3339(t1),
            "--to",
            &testkit::clock::rfc3339(t2),
            "--to-topic",
            &target,
            "--dry-run",
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("total {}", middle.len())),
        "{stdout}"
    );
    let exists = |t: &str| {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", testkit::bootstrap())
            .create()
            .expect("client");
        let md = c
            .fetch_metadata(Some(t), Duration::from_secs(10))
            .expect("metadata");
        md.topics()
            .iter()
            .any(|x| x.name() == t && x.error().is_none() && !x.partitions().is_empty())
    };
    assert!(!exists(&target), "dry run created the target");

    // For real, into a new group with the log worker.
    let out = orderbus(&topics)
        .args([
            "replay",
            "--topic",
            &topic,
            "--from",
            &testkit::clock::rfc3339(t1),
            "--to",
            &testkit::clock::rfc3339(t2),
            "--group",
            &group,
            "--worker",
            "log",
        ])
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("handled {}", middle.len())),
        "{stdout}"
    );
    for e in &middle {
        assert!(
            stderr.contains(&e.event_id.to_string()),
            "{} not handled",
            e.event_id
        );
    }
    assert!(
        committed(&group, &topic).is_empty(),
        "the replay committed nothing"
    );

    // A configured group is refused with exit 2.
    let out = orderbus(&topics)
        .env("ORDERBUS_GROUPS__AUDIT__WORKER", "log")
        .args([
            "replay", "--topic", &topic, "--from", "earliest", "--to", "now", "--group", "audit",
            "--worker", "log",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("configured consumer group"));

    // Lists naming different partitions, and a partition the topic lacks: bad arguments, exit 2.
    for (from, to) in [("0:0,1:0", "0:5"), ("9:0", "now")] {
        let out = orderbus(&topics)
            .args([
                "replay",
                "--topic",
                &topic,
                "--from",
                from,
                "--to",
                to,
                "--dry-run",
                "--to-topic",
                "unused",
            ])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from} {to}: {stderr}");
        assert!(stderr.contains("bad --"), "{stderr}");
    }
}
