//! Dead letters against Apache Kafka: poison, permanent, panicking and exhausted events go to
//! the dead-letter topic with their reasons while the rest flows on, and in-process retries
//! keep a key's order.

mod support;

use testkit::group::spawn_group;
use testkit::wait_for;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use consumers::runtime::{HandlerError, dead_letter_topic};
use events::{Envelope, headers, samples::Generator};
use producers::{EventProducer, RawRecord};
use rdkafka::message::Message;

use support::{Recorder, group_config};

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
async fn a_malformed_event_too_large_to_dead_letter_whole_is_stored_truncated_and_its_partition_moves_on()
 {
    let topics = testkit::topics::fresh_topics(1).await;
    let producer = EventProducer::new(
        &testkit::kafka(),
        &producers::ProducerConfig::default(),
        &topics,
    )
    .expect("producer");
    // Just under the producer's message.max.bytes (1,000,000) as sent; over it once the
    // dead-letter headers (source, reason, error, time: a few hundred bytes) are added.
    let huge = vec![b'x'; 999_800];
    producer
        .enqueue_raw(
            RawRecord {
                topic: &topics.order_events,
                key: b"ord_huge",
                payload: &huge,
                headers: Vec::new(),
                partition: Some(0),
                timestamp_ms: None,
            },
            uuid::Uuid::nil(),
        )
        .await
        .expect("enqueued")
        .await
        .expect("the original fits");
    let mut generator = Generator::new(9, "it");
    let behind: Vec<Envelope> = generator
        .order_flow(1)
        .into_iter()
        .filter(|e| e.event_type().stream() == events::Stream::Order)
        .collect();
    for e in &behind {
        producer.publish(e).await.expect("published");
    }
    let (log, mut handled) = testkit::group::OrderLog::new();
    let group = testkit::unique("it-group-huge");
    let member = spawn_group(
        &group,
        group_config(),
        testkit::kafka(),
        &topics,
        log.clone(),
        &producer,
    );
    // The events behind it in its one partition are handled: it did not wedge the partition.
    wait_for(&mut handled, behind.len()).await;
    let dlq = testkit::reader::read(&dead_letter_topic(&group), 1);
    member.stop().await;
    let m = &dlq[0];
    assert_eq!(m.key(), Some(&b"ord_huge"[..]));
    assert_eq!(
        testkit::reader::header(m, headers::DLQ_REASON),
        Some("not_json")
    );
    assert_eq!(
        testkit::reader::header(m, headers::DLQ_TRUNCATED),
        Some("999800"),
        "says it is truncated and how large the original was"
    );
    let kept = m.payload().expect("part of the value kept");
    assert!(kept.len() < huge.len() && huge.starts_with(kept));
    assert_eq!(
        testkit::reader::header(m, headers::SOURCE_OFFSET),
        Some("0")
    );
    let committed = testkit::reader::committed(&group, &[&topics.order_events]);
    assert_eq!(
        committed.get(&(topics.order_events.clone(), 0)),
        Some(&(1 + behind.len() as i64)),
        "committed past the huge event and everything behind it"
    );
}
