//! Dead letters carry the worker's reason code: a real consumer group on the broker
//! (`KAFKA_BOOTSTRAP_SERVERS`) runs the notification worker (dedup in the real PostgreSQL) against
//! a Twilio that calls the number invalid, and the payment worker against a Stripe that refuses
//! our key; each event lands on the group's dead-letter topic with `orderbus.dlq.reason`
//! `invalid_phone` and `provider_auth`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use adapters::payment::PaymentConfig;
use adapters::sms::SmsConfig;
use consumers::runtime::{GroupConfig, Handler, dead_letter_topic};
use events::samples::Generator;
use events::{Envelope, EventData, EventType, PaymentMethod, headers};
use producers::{EventProducer, PaymentProducer, ProducerConfig};
use serde_json::json;
use testkit::group::spawn_group;
use testkit::stores::Schema;
use testkit::wait::wait_until;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use workers::notification::{Channel, NotificationConfig, NotificationWorker, Senders, codes};
use workers::payment::{PaymentWorker, PaymentWorkerConfig};

/// A provider answering every request with `status` and `body`.
async fn provider(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// An `order.created` paid by card, its customer reachable at `phone`.
fn order(seed: u64, phone: &str) -> Envelope {
    let mut e = Generator::new(seed, "dead-letter-test").one(EventType::OrderCreated, seed);
    if let EventData::OrderCreated(o) = &mut e.data {
        o.customer.phone = Some(phone.into());
        o.payment_method = PaymentMethod::Card;
    }
    e
}

/// Publishes `event` to fresh topics, runs `handler` in a fresh group until it dead-letters
/// one event, and answers that dead letter's reason code.
async fn dead_letter_reason<H: Handler>(
    handler: impl FnOnce(&EventProducer) -> H,
    event: &Envelope,
) -> String {
    let topics = testkit::topics::fresh_topics(1).await;
    let producer =
        EventProducer::new(&testkit::kafka(), &ProducerConfig::default(), &topics).unwrap();
    producer.publish(event).await.unwrap();
    let group = testkit::unique("it-dead-letters");
    let config = GroupConfig {
        session_timeout_ms: 6_000,
        ..GroupConfig::default()
    };
    let handler = handler(&producer);
    let member = spawn_group(
        &group,
        config,
        testkit::kafka(),
        &topics,
        handler,
        &producer,
    );
    let stats = Arc::clone(&member.stats);
    wait_until("the event was dead-lettered", || {
        stats.dead_lettered.load(Ordering::SeqCst) > 0
    })
    .await;
    member.stop().await;
    let dlq = dead_letter_topic(&group);
    let letters = tokio::task::spawn_blocking(move || testkit::reader::read(&dlq, 1))
        .await
        .unwrap();
    testkit::reader::header(&letters[0], headers::DLQ_REASON)
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_to_an_invalid_number_is_dead_lettered_as_invalid_phone() {
    let twilio = provider(
        400,
        json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}),
    )
    .await;
    let schema = Schema::fresh().await;
    let config = NotificationConfig {
        channels: vec![Channel::Sms],
        schema: Some(schema.name.clone()),
        ..NotificationConfig::default()
    };
    let senders = Senders {
        sms: Some(
            SmsConfig::Twilio(testkit::providers::twilio(&twilio.uri()))
                .build()
                .unwrap(),
        ),
        email: None,
    };
    let worker = NotificationWorker::connect(&schema.url, config, senders)
        .await
        .unwrap();
    let reason = dead_letter_reason(|_| worker, &order(1, "+14155550999")).await;
    assert_eq!(reason, codes::INVALID_PHONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_with_a_refused_key_is_dead_lettered_as_provider_auth() {
    let stripe = provider(
        401,
        json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
    )
    .await;
    let gateway = PaymentConfig::Stripe(testkit::providers::stripe(&stripe.uri()))
        .build()
        .unwrap();
    let worker = |producer: &EventProducer| {
        let producer = PaymentProducer::new(producer.clone());
        PaymentWorker::new(gateway, producer, PaymentWorkerConfig::default()).unwrap()
    };
    let reason = dead_letter_reason(worker, &order(2, "+14155550100")).await;
    assert_eq!(reason, workers::payment::codes::PROVIDER_AUTH);
}
