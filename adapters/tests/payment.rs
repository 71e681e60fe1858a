//! Stripe specifics against a local server speaking its API shape: PaymentIntent create/confirm,
//! capture and refund requests, idempotency keys (same on retry, different per event and
//! operation), declines, `Stripe-Should-Retry`, and that the key never shows. What Stripe does
//! like every HTTP provider (retries, `Retry-After`, permanent refusals, timeouts) is in the
//! contract suite (`tests/contract`).

#![allow(clippy::unwrap_used)]

use adapters::payment::{
    Capture, Operation, PaymentConfig, PaymentGateway, Refund, ResilientPayments, idempotency_key,
};
use adapters::{Error, FailureKind};
use serde_json::json;
use testkit::providers::{self, STRIPE_KEY, charge, usd};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn stripe(server: &MockServer) -> ResilientPayments {
    PaymentConfig::Stripe(providers::stripe(&server.uri()))
        .build()
        .unwrap()
}

fn intent(status: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "pi_1", "object": "payment_intent", "amount": 1999, "currency": "usd", "status": status
    }))
}

fn keys(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| testkit::http::header(r, "idempotency-key"))
        .collect()
}

#[tokio::test]
async fn charge_creates_and_confirms_a_payment_intent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(intent("requires_capture"))
        .mount(&server)
        .await;
    let result = stripe(&server).charge(&charge(1)).await.unwrap();
    assert_eq!(
        (result.id.as_str(), result.status.as_str()),
        ("pi_1", "requires_capture")
    );
    assert_eq!(result.amount_minor, Some(1999));
    let requests = server.received_requests().await.unwrap();
    let r = &requests[0];
    assert_eq!(
        testkit::http::header(r, "authorization"),
        format!("Bearer {STRIPE_KEY}")
    );
    assert_eq!(testkit::http::header(r, "stripe-version"), "2024-06-20");
    assert_eq!(
        testkit::http::header(r, "idempotency-key"),
        idempotency_key("ord_42", Uuid::from_u128(1), Operation::Charge)
    );
    let form = testkit::http::form(&r.body);
    assert_eq!(form["amount"], "1999");
    assert_eq!(form["currency"], "usd");
    assert_eq!(form["payment_method"], "pm_card_visa");
    assert_eq!(form["confirm"], "true");
    assert_eq!(form["capture_method"], "manual");
    assert_eq!(form["metadata[order_id]"], "ord_42");
}

#[tokio::test]
async fn retries_reuse_the_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1").set_body_json(
            json!({"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"type": "api_error", "message": "Something went wrong"}}),
        ))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(intent("requires_capture"))
        .with_priority(3)
        .mount(&server)
        .await;
    let gateway = stripe(&server);
    gateway.charge(&charge(1)).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    let keys = keys(&requests);
    assert!(
        keys.iter().all(|k| k == &keys[0] && !k.is_empty()),
        "{keys:?}"
    );
    let stats = gateway.resilience().stats();
    assert_eq!((stats.retries, stats.retry_after_waits), (2, 1));
}

#[tokio::test]
async fn keys_differ_per_event_and_operation() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/capture"))
        .respond_with(intent("succeeded"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "re_1", "object": "refund", "amount": 500, "status": "succeeded"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(intent("requires_capture"))
        .mount(&server)
        .await;
    let gateway = stripe(&server);
    gateway.charge(&charge(1)).await.unwrap();
    gateway.charge(&charge(2)).await.unwrap();
    let captured = gateway
        .capture(&Capture {
            order_id: "ord_42".into(),
            event_id: Uuid::from_u128(3),
            payment_id: "pi_1".into(),
            amount: None,
        })
        .await
        .unwrap();
    assert_eq!(captured.status, "succeeded");
    let refunded = gateway
        .refund(&Refund {
            order_id: "ord_42".into(),
            event_id: Uuid::from_u128(3),
            payment_id: "pi_1".into(),
            amount: Some(usd(500)),
        })
        .await
        .unwrap();
    assert_eq!(refunded.id, "re_1");
    let requests = server.received_requests().await.unwrap();
    let keys = keys(&requests);
    assert_eq!(keys.len(), 4);
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{keys:?}");
    let refund_form = testkit::http::form(&requests[3].body);
    assert_eq!(refund_form["payment_intent"], "pi_1");
    assert_eq!(refund_form["amount"], "500");
}

#[tokio::test]
async fn card_error_is_a_permanent_decline_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {
            "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds."
        }})))
        .mount(&server)
        .await;
    let gateway = stripe(&server);
    let err = gateway.charge(&charge(1)).await.unwrap_err();
    let failure = err.failure().unwrap();
    assert_eq!(failure.kind, FailureKind::Declined);
    assert_eq!(failure.code.as_deref(), Some("card_declined"));
    assert_eq!(failure.decline_code.as_deref(), Some("insufficient_funds"));
    assert!(matches!(err, Error::Permanent { .. }));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    // Declines do not count against Stripe's health.
    let metrics = gateway.resilience().breaker().metrics();
    assert_eq!((metrics.accepted, metrics.failed), (1, 0));
}

/// Stripe marks some 4xx as worth retrying (a 409 while another request holds the idempotency
/// key, for instance): they are retried, with the same key.
#[tokio::test]
async fn should_retry_header_makes_a_4xx_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(409)
                .insert_header("Stripe-Should-Retry", "true")
                .set_body_json(json!({"error": {
                    "type": "idempotency_error", "code": "lock_timeout",
                    "message": "This object cannot be accessed right now."
                }})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(intent("requires_capture"))
        .with_priority(2)
        .mount(&server)
        .await;
    let gateway = stripe(&server);
    assert_eq!(gateway.charge(&charge(1)).await.unwrap().id, "pi_1");
    let keys = keys(&server.received_requests().await.unwrap());
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn api_key_never_shows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {
            "type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****3cr3t"
        }})))
        .mount(&server)
        .await;
    let gateway = stripe(&server);
    let err = gateway.charge(&charge(1)).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::Unauthorized);
    let cfg = providers::stripe("http://x");
    let shown = format!(
        "{err} {err:?} {gateway:?} {cfg:?} {}",
        serde_json::to_string(&cfg).unwrap()
    );
    assert!(!shown.contains(STRIPE_KEY), "{shown}");
}
