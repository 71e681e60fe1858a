//! `orderbus dlq redrive` SIGKILLed mid-batch again and again on Apache Kafka, then run to the
//! end: every dead letter reaches its source partition exactly once. The kill comes as soon as
//! the source topic has grown in that run, so it lands between the ledger's intent and its
//! confirmation, the window a crash could duplicate in.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use consumers::runtime::dead_letter_topic;
use events::headers;
use producers::{EventProducer, RawRecord};

const DEAD_LETTERS: usize = 120;

/// Writes `DEAD_LETTERS` dead letters pointing at `source`'s partitions, as a group would.
async fn dead_letters(producer: &EventProducer, dlq: &str, source: &str, partitions: i32) {
    for n in 0..DEAD_LETTERS {
        let partition = (n as i32) % partitions;
        let (p, offset, key) = (partition.to_string(), n.to_string(), format!("ord_{n}"));
        let value = format!("{{\"n\":{n}}}");
        let record = RawRecord {
            topic: dlq,
            key: key.as_bytes(),
            payload: value.as_bytes(),
            headers: vec![
                (headers::DLQ_REASON, b"handler_permanent".as_slice()),
                (headers::DLQ_ERROR, b"rejected".as_slice()),
                (headers::SOURCE_TOPIC, source.as_bytes()),
                (headers::SOURCE_PARTITION, p.as_bytes()),
                (headers::SOURCE_OFFSET, offset.as_bytes()),
            ],
            partition: Some(0),
            timestamp_ms: None,
        };
        producer
            .enqueue_raw(record, uuid::Uuid::nil())
            .await
            .expect("enqueued")
            .await
            .expect("delivered");
    }
}

fn source_size(source: &str) -> i64 {
    testkit::reader::high_watermarks(source).values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_killed_mid_batch_again_and_again_publishes_each_dead_letter_once() {
    let topics = testkit::topics::fresh_topics(3).await;
    let source = topics.order_events.clone();
    let group = testkit::unique("it-redrive-kill");
    let dlq = dead_letter_topic(&group);
    testkit::topics::create(&[&dlq], 1).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    dead_letters(&producer, &dlq, &source, 3).await;

    let redrive = || {
        let mut cmd = testkit::orderbus!();
        testkit::cli::with_topics(&mut cmd, &topics);
        cmd.args(["dlq", "redrive", "--group", &group, "--batch", "7"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut kills = 0;
    for _ in 0..8 {
        let before = source_size(&source);
        if before == DEAD_LETTERS as i64 {
            break;
        }
        let mut child = redrive().spawn().expect("spawn");
        // Killed as soon as it has copied something in this run: mid-batch, or just after.
        let mut exited = None;
        testkit::wait::wait_until_blocking(
            "the redrive copied something or exited",
            Duration::from_secs(120),
            || {
                exited = child.try_wait().expect("wait");
                exited.is_some() || source_size(&source) > before
            },
        );
        if exited.is_none() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            kills += 1;
        }
    }
    let done = redrive().status().expect("run");
    assert!(done.success(), "the last redrive completes");
    assert!(kills >= 3, "only {kills} runs were killed mid-redrive");

    let copies = testkit::reader::read_to_end(&testkit::bootstrap(), &source);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &copies {
        let from = testkit::reader::header(m, headers::REDRIVEN_FROM).expect("a redriven copy");
        *seen.entry(from.to_owned()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "redriven more than once: {twice:?}");
    assert_eq!(seen.len(), DEAD_LETTERS, "every dead letter was redriven");
}
