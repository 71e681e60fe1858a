//! The producers against Apache Kafka (the broker scripts/test.sh starts, or KAFKA_BOOTSTRAP_SERVERS):
//! what is published is what a plain consumer reads, every order stays on one partition in
//! order, and failures come back as errors instead of hanging or vanishing.

use std::collections::HashMap;
use std::time::Duration;

use events::{Envelope, EventType, Money, TraceParent, headers, samples::Generator};
use producers::{
    Error, EventProducer, OrderProducer, PaymentProducer, ProducerConfig, TopicsConfig,
};
use rdkafka::message::Message;

fn producer(topics: &TopicsConfig) -> EventProducer {
    EventProducer::new(&testkit::kafka(), &ProducerConfig::default(), topics).expect("producer")
}

#[tokio::test(flavor = "multi_thread")]
async fn published_events_keep_key_headers_and_payload() {
    let topics = testkit::topics::fresh_topics(3).await;
    let shared = producer(&topics);
    let (orders, payments) = (
        OrderProducer::new(shared.clone()),
        PaymentProducer::new(shared.clone()),
    );
    let mut generator = Generator::new(1, "it");
    let mut sent: HashMap<uuid::Uuid, (Envelope, producers::Delivery)> = HashMap::new();
    for (n, t) in EventType::ALL.iter().enumerate() {
        let event = generator.one(*t, n as u64);
        let delivery = match t.stream() {
            events::Stream::Order => orders.publish_envelope(&event).await,
            events::Stream::Payment => payments.publish_envelope(&event).await,
        }
        .expect("delivered");
        assert_eq!(delivery.event_id, event.event_id);
        assert_eq!(delivery.topic, topics.topic_for(*t));
        sent.insert(event.event_id, (event, delivery));
    }
    let mut read = testkit::reader::read(&topics.order_events, 4);
    read.extend(testkit::reader::read(&topics.payment_events, 4));
    for m in &read {
        let decoded = events::decode(m.payload().expect("payload")).expect("decodes");
        let (original, delivery) = &sent[&decoded.event_id];
        assert_eq!(&decoded, original, "payload round-trips");
        assert_eq!(
            m.key(),
            Some(original.order_id.as_bytes()),
            "key is the order ID"
        );
        assert_eq!(
            (m.partition(), m.offset()),
            (delivery.partition, delivery.offset)
        );
        assert_eq!(
            testkit::reader::header(m, headers::EVENT_TYPE),
            Some(original.event_type().as_str())
        );
        assert_eq!(
            testkit::reader::header(m, headers::SCHEMA_VERSION),
            Some("1")
        );
        assert_eq!(
            testkit::reader::header(m, headers::CONTENT_TYPE),
            Some("application/json")
        );
        let trace = testkit::reader::header(m, headers::TRACEPARENT).expect("traceparent");
        trace.parse::<TraceParent>().expect("valid W3C traceparent");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_stays_on_one_partition_in_publish_order() {
    let partitions = 8;
    let topics = testkit::topics::fresh_topics(partitions).await;
    let shared = producer(&topics);
    let mut generator = Generator::new(99, "it");
    let mut published: Vec<Envelope> = Vec::new();
    let mut pending = Vec::new();
    for n in 0..3_000 {
        for event in generator.order_flow(n) {
            pending.push(shared.enqueue(&event, None).await.expect("enqueued"));
            published.push(event);
        }
    }
    for p in pending {
        p.await.expect("delivered");
    }
    let stats = shared.stats();
    assert_eq!(stats.delivered as usize, published.len());
    assert_eq!(stats.failed, 0);

    for topic in [&topics.order_events, &topics.payment_events] {
        let expected: Vec<&Envelope> = published
            .iter()
            .filter(|e| topics.topic_for(e.event_type()) == topic.as_str())
            .collect();
        let read = testkit::reader::read(topic, expected.len());
        let mut landed: HashMap<String, (i32, Vec<uuid::Uuid>)> = HashMap::new();
        for (partition, messages) in testkit::reader::by_partition(&read) {
            for m in messages {
                let event = events::decode(m.payload().expect("payload")).expect("decodes");
                let entry = landed
                    .entry(event.order_id.clone())
                    .or_insert((partition, Vec::new()));
                assert_eq!(
                    entry.0, partition,
                    "order {} split across partitions",
                    event.order_id
                );
                entry.1.push(event.event_id);
            }
        }
        let mut want: HashMap<&str, Vec<uuid::Uuid>> = HashMap::new();
        for e in &expected {
            want.entry(e.order_id.as_str())
                .or_default()
                .push(e.event_id);
        }
        assert!(
            want.len() >= 2_700,
            "orders checked in {topic}: {}",
            want.len()
        );
        for (order, ids) in &want {
            let (partition, got) = &landed[*order];
            assert_eq!(got, ids, "order {order}: offset order equals publish order");
            assert_eq!(
                *partition,
                testkit::partitioner::java_partition(order.as_bytes(), partitions),
                "order {order} is where the Java client would put it"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_broker_gives_an_error_within_the_delivery_timeout() {
    // A port nothing listens on: bind, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let kafka = producers::KafkaConfig {
        bootstrap_servers: format!("127.0.0.1:{port}"),
        ..testkit::kafka()
    };
    let config = ProducerConfig {
        message_timeout_ms: 1_500,
        ..ProducerConfig::default()
    };
    let topics = TopicsConfig::default();
    let shared = EventProducer::new(&kafka, &config, &topics).expect("producer");
    let event = Generator::new(1, "it").one(EventType::OrderCreated, 1);
    // The guard only keeps a regression from hanging the suite; the assertion is on the error.
    let outcome = tokio::time::timeout(Duration::from_secs(60), shared.publish(&event))
        .await
        .expect("publish returned instead of hanging");
    match outcome {
        Err(Error::Delivery {
            event_id, source, ..
        }) => {
            assert_eq!(event_id, event.event_id);
            assert!(source.to_string().contains("timed out"), "{source}");
        }
        other => panic!("expected a delivery error, got {other:?}"),
    }

    // Fire-and-forget failures are counted and kept, never only logged.
    for n in 0..5 {
        let e = Generator::new(2, "it").one(EventType::OrderPaid, n);
        drop(shared.enqueue(&e, None).await.expect("enqueued"));
    }
    let flushed = shared.flush(Duration::from_secs(30)).await;
    assert!(flushed.is_ok(), "{flushed:?}");
    assert_eq!(shared.stats().failed, 6);
    let failures = shared.take_failures();
    assert_eq!(
        failures.len(),
        5,
        "the awaited failure was already returned"
    );
    assert!(failures.iter().all(|f| f.key.starts_with("ord_")));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_or_misrouted_events_are_refused_before_sending() {
    let topics = testkit::topics::fresh_topics(1).await;
    let shared = producer(&topics);
    let orders = OrderProducer::new(shared.clone());
    let mut event = Generator::new(1, "it").one(EventType::OrderPaid, 1);
    if let events::EventData::OrderPaid(p) = &mut event.data {
        p.amount = Money::new(-5, p.amount.currency);
    }
    match orders.publish_envelope(&event).await {
        Err(Error::Invalid(e)) => assert_eq!(e.path(), Some("data.amount.amount_minor")),
        other => panic!("expected a schema refusal, got {other:?}"),
    }
    let payment = Generator::new(1, "it").one(EventType::PaymentCaptured, 1);
    assert!(matches!(
        orders.publish_envelope(&payment).await,
        Err(Error::WrongStream { .. })
    ));
    assert_eq!(shared.stats().enqueued, 0, "nothing reached the broker");
    // The topic stays empty: a good event is the first and only message.
    let good = Generator::new(1, "it").one(EventType::OrderShipped, 1);
    orders.publish_envelope(&good).await.expect("good event");
    let read = testkit::reader::read(&topics.order_events, 1);
    assert_eq!(read[0].key(), Some(good.order_id.as_bytes()));
}
