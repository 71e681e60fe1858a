//! The payment worker against a local server speaking Stripe's API shape (wiremock) and a real
//! Kafka broker (`KAFKA_BOOTSTRAP_SERVERS`; scripts/test.sh starts Apache Kafka) for what it
//! publishes: an accepted charge publishes `payment.authorized`, a declined card
//! `payment.failed` without tripping the breaker, every charge of one order event carries the
//! same Stripe idempotency key (so a redelivery never charges twice) and republishes the same
//! event, and while the breaker is open nothing is called and nothing is lost (every failure
//! saying why in its reason code).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use adapters::payment::{CaptureMethod, PaymentConfig, StripeConfig};
use consumers::runtime::{Context, Handler, HandlerError};
use events::samples::Generator;
use events::{Envelope, EventData, EventType, PaymentMethod, Secret};
use producers::{EventProducer, KafkaConfig, PaymentProducer, ProducerConfig, TopicsConfig};
use rdkafka::message::Message;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use workers::payment::{PaymentWorker, PaymentWorkerConfig, codes};

fn kafka() -> KafkaConfig {
    testkit::kafka()
}

/// Fresh topics, and the payment worker's producer on them.
async fn producer() -> (PaymentProducer, TopicsConfig) {
    let topics = testkit::topics::fresh_topics(2).await;
    let config = ProducerConfig {
        name: "payment-worker".into(),
        ..ProducerConfig::default()
    };
    let inner = EventProducer::new(&kafka(), &config, &topics).unwrap();
    (PaymentProducer::new(inner), topics)
}

/// Everything published so far to the payment topic, decoded.
async fn published(topics: &TopicsConfig) -> Vec<Envelope> {
    let messages = consumers::snapshot::read_all(
        &kafka(),
        std::slice::from_ref(&topics.payment_events),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    messages
        .iter()
        .map(|m| events::decode(m.payload().unwrap()).unwrap())
        .collect()
}

async fn worker(stripe: &MockServer, force_pass_ms: u64) -> (PaymentWorker, TopicsConfig) {
    let gateway = PaymentConfig::Stripe(StripeConfig {
        api_key: Secret::new("sk_test_key"),
        capture_method: CaptureMethod::Manual,
        api_version: None,
        base_url: stripe.uri(),
        resilience: testkit::resilience::for_workers(force_pass_ms),
    })
    .build()
    .unwrap();
    let (producer, topics) = producer().await;
    let config = PaymentWorkerConfig {
        breaker_wait_ms: 0,
        ..PaymentWorkerConfig::default()
    };
    (
        PaymentWorker::new(gateway, producer, config).unwrap(),
        topics,
    )
}

fn ctx() -> Context {
    testkit::handler::ctx("payment-test")
}

fn order(n: u64, method: PaymentMethod) -> Envelope {
    let mut e = Generator::new(n, "payment-test").one(EventType::OrderCreated, n);
    if let EventData::OrderCreated(o) = &mut e.data {
        o.payment_method = method;
    }
    e
}

async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

fn key(r: &wiremock::Request) -> String {
    r.headers["idempotency-key"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_order_is_charged_under_one_key_and_publishes_one_event() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "pi_3Mtw", "object": "payment_intent", "status": "requires_capture"
        })))
        .mount(&stripe)
        .await;
    let (w, topics) = worker(&stripe, 1_000).await;
    let first = order(1, PaymentMethod::Card);
    let second = order(2, PaymentMethod::Wallet);
    // Delivered, redelivered, and twice more at the same time.
    w.handle(&first, &ctx()).await.unwrap();
    w.handle(&first, &ctx()).await.unwrap();
    let (c1, c2) = (ctx(), ctx());
    let (a, b) = tokio::join!(w.handle(&first, &c1), w.handle(&first, &c2));
    a.unwrap();
    b.unwrap();
    w.handle(&second, &ctx()).await.unwrap();
    // Not for the gateway: a bank transfer, and events other than order.created.
    w.handle(&order(3, PaymentMethod::BankTransfer), &ctx())
        .await
        .unwrap();
    let mut g = Generator::new(4, "payment-test");
    for t in [
        EventType::OrderPaid,
        EventType::PaymentFailed,
        EventType::OrderShipped,
    ] {
        w.handle(&g.one(t, 4), &ctx()).await.unwrap();
    }

    let reqs = requests(&stripe).await;
    assert_eq!(
        reqs.len(),
        5,
        "four charges of the first order, one of the second"
    );
    let key_of = |e: &Envelope| format!("orderbus:charge:{}:{}", e.order_id, e.event_id);
    for r in &reqs[..4] {
        assert_eq!(
            key(r),
            key_of(&first),
            "one key for every delivery of one event"
        );
        let f = testkit::http::form(&r.body);
        assert_eq!(f["metadata[order_id]"], first.order_id);
        assert_eq!(f["payment_method"], "pm_card_visa");
        let EventData::OrderCreated(o) = &first.data else {
            unreachable!()
        };
        assert_eq!(f["amount"], o.total.amount_minor.to_string());
    }
    assert_eq!(key(&reqs[4]), key_of(&second));

    let out = published(&topics).await;
    assert_eq!(out.len(), 5, "one publish per handled charge");
    let first_out: Vec<_> = out
        .iter()
        .filter(|e| e.order_id == first.order_id)
        .collect();
    assert_eq!(first_out.len(), 4);
    assert!(
        first_out
            .iter()
            .all(|e| e.event_id == first_out[0].event_id),
        "the same event each time"
    );
    assert_ne!(first_out[0].event_id, first.event_id);
    for e in &out {
        let EventData::PaymentAuthorized(p) = &e.data else {
            panic!("{:?}", e.event_type())
        };
        assert_eq!(
            (p.payment_id.as_str(), p.provider.as_str()),
            ("pi_3Mtw", "stripe")
        );
        assert_eq!(e.producer, "payment-worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_publishes_payment_failed_and_does_not_trip_the_breaker() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {
            "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."
        }})))
        .mount(&stripe)
        .await;
    let (w, topics) = worker(&stripe, 1_000).await;
    let orders: Vec<Envelope> = (10..40).map(|n| order(n, PaymentMethod::Card)).collect();
    for o in &orders {
        w.handle(o, &ctx())
            .await
            .expect("a decline is an answer, not a failure");
    }
    assert_eq!(
        requests(&stripe).await.len(),
        orders.len(),
        "a decline is not retried"
    );
    let breaker = w.gateway().resilience().breaker().metrics();
    assert_eq!((breaker.failed, breaker.accepted), (0, 30), "{breaker:?}");
    assert!(w.gateway().resilience().would_allow());

    let out = published(&topics).await;
    assert_eq!(out.len(), orders.len());
    for e in &out {
        let EventData::PaymentFailed(f) = &e.data else {
            panic!("{:?}", e.event_type())
        };
        let source = orders.iter().find(|o| o.order_id == e.order_id).unwrap();
        let EventData::OrderCreated(o) = &source.data else {
            unreachable!()
        };
        assert_eq!(f.failure_code, "insufficient_funds");
        assert_eq!(f.failure_message, "Your card has insufficient funds.");
        assert_eq!((&f.customer, f.amount), (&o.customer, o.total));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_breaker_is_open_nothing_is_called_and_every_event_is_handed_back_retryably() {
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&stripe)
        .await;
    // No probe within the test: once open, the breaker stays open.
    let (w, topics) = worker(&stripe, 600_000).await;
    let orders: Vec<Envelope> = (50..90).map(|n| order(n, PaymentMethod::Card)).collect();
    let mut opened_after = None;
    for (i, o) in orders.iter().enumerate() {
        let err = w.handle(o, &ctx()).await.expect_err("the gateway is down");
        assert!(matches!(err, HandlerError::Retryable(_)), "{err}");
        let code = &err.failure().code;
        assert!(
            [codes::PROVIDER_UNAVAILABLE, codes::BREAKER_OPEN].contains(&code.as_ref()),
            "{code}"
        );
        if opened_after.is_none() && !w.gateway().resilience().would_allow() {
            opened_after = Some((i, requests(&stripe).await.len()));
        }
    }
    let (i, calls) = opened_after.expect("the breaker opened");
    let last = w.handle(&orders[0], &ctx()).await.unwrap_err();
    assert_eq!(last.failure().code, codes::BREAKER_OPEN, "{last}");
    assert!(i < orders.len() - 10, "opened after {i} orders");
    assert_eq!(requests(&stripe).await.len(), calls, "no call while open");
    assert!(
        published(&topics).await.is_empty(),
        "nothing published, nothing decided"
    );
}
