//! Each HTTP provider for the contract: how it is built and called, and its API's answers
//! (bodies as the providers document them).

use std::sync::Arc;

use adapters::FailureKind;
use adapters::Result;
use adapters::email::{EmailConfig, EmailSender};
use adapters::metrics::Kind;
use adapters::payment::{PaymentConfig, PaymentGateway};
use adapters::resilient::Resilient;
use adapters::sms::{SmsConfig, SmsSender};
use serde_json::json;
use testkit::providers;
use wiremock::ResponseTemplate;

use crate::{Provider, Refused};

fn answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// Twilio Programmable Messaging: `{code, message, more_info, status}` errors.
pub struct Twilio;

impl Provider for Twilio {
    type Adapter = Arc<dyn SmsSender>;
    const METHOD: &'static str = "POST";
    const ID: &'static str = "SM1";
    const KIND: Kind = Kind::Sms;

    fn build(base: &str) -> Resilient<Self::Adapter> {
        SmsConfig::Twilio(providers::twilio(base)).build().unwrap()
    }

    async fn call(client: &Resilient<Self::Adapter>) -> Result<String> {
        client.send(&providers::sms()).await.map(|r| r.id)
    }

    async fn call_bare(adapter: &Self::Adapter) -> Result<String> {
        adapter.send(&providers::sms()).await.map(|r| r.id)
    }

    fn accepted() -> ResponseTemplate {
        answer(201, json!({"sid": Self::ID, "status": "queued"}))
    }

    fn server_error() -> ResponseTemplate {
        answer(
            503,
            json!({"code": 20503, "message": "Service Unavailable", "status": 503}),
        )
    }

    fn rate_limited() -> ResponseTemplate {
        answer(
            429,
            json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
        )
    }

    fn refused() -> Refused {
        Refused {
            answer: answer(
                400,
                json!({
                    "code": 21211,
                    "message": "The 'To' number +1415 is not a valid phone number.",
                    "more_info": "https://www.twilio.com/docs/errors/21211",
                    "status": 400
                }),
            ),
            kind: FailureKind::InvalidRecipient,
            code: Some("21211"),
            message: "is not a valid phone number",
        }
    }

    fn bad_credentials() -> ResponseTemplate {
        answer(
            401,
            json!({"code": 20003, "message": "Authenticate", "status": 401}),
        )
    }
}

/// Aliyun SendSms: every answer is `{Code, Message, RequestId, BizId}`, business errors with
/// HTTP 200.
pub struct Aliyun;

fn aliyun(status: u16, code: &str, message: &str) -> ResponseTemplate {
    answer(
        status,
        json!({
            "Code": code, "Message": message,
            "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "BizId": Aliyun::ID
        }),
    )
}

impl Provider for Aliyun {
    type Adapter = Arc<dyn SmsSender>;
    const METHOD: &'static str = "GET";
    const ID: &'static str = "900619746936498440^0";
    const KIND: Kind = Kind::Sms;

    fn build(base: &str) -> Resilient<Self::Adapter> {
        SmsConfig::Aliyun(providers::aliyun(base)).build().unwrap()
    }

    async fn call(client: &Resilient<Self::Adapter>) -> Result<String> {
        client.send(&providers::sms()).await.map(|r| r.id)
    }

    async fn call_bare(adapter: &Self::Adapter) -> Result<String> {
        adapter.send(&providers::sms()).await.map(|r| r.id)
    }

    fn accepted() -> ResponseTemplate {
        aliyun(200, "OK", "OK")
    }

    fn server_error() -> ResponseTemplate {
        aliyun(500, "isp.SYSTEM_ERROR", "System error")
    }

    fn rate_limited() -> ResponseTemplate {
        aliyun(
            429,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )
    }

    fn refused() -> Refused {
        Refused {
            answer: aliyun(200, "isv.MOBILE_NUMBER_ILLEGAL", "Illegal mobile number"),
            kind: FailureKind::InvalidRecipient,
            code: Some("isv.MOBILE_NUMBER_ILLEGAL"),
            message: "Illegal mobile number",
        }
    }

    fn bad_credentials() -> ResponseTemplate {
        // Alibaba Cloud answers an unknown AccessKey with 404, not 401: the code decides.
        aliyun(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    }
}

/// SendGrid v3 Mail Send: `202` with `X-Message-Id`; `{errors: [{message, field, help}]}`.
pub struct Sendgrid;

fn sendgrid_errors(status: u16, field: Option<&str>, message: &str) -> ResponseTemplate {
    answer(
        status,
        json!({"errors": [{"message": message, "field": field, "help": null}]}),
    )
}

impl Provider for Sendgrid {
    type Adapter = Arc<dyn EmailSender>;
    const METHOD: &'static str = "POST";
    const ID: &'static str = "msg-1";
    const KIND: Kind = Kind::Email;

    fn build(base: &str) -> Resilient<Self::Adapter> {
        EmailConfig::Sendgrid(providers::sendgrid(base))
            .build()
            .unwrap()
    }

    async fn call(client: &Resilient<Self::Adapter>) -> Result<String> {
        client.send(&providers::email()).await.map(|r| r.id)
    }

    async fn call_bare(adapter: &Self::Adapter) -> Result<String> {
        adapter.send(&providers::email()).await.map(|r| r.id)
    }

    fn accepted() -> ResponseTemplate {
        ResponseTemplate::new(202).insert_header("X-Message-Id", Self::ID)
    }

    fn server_error() -> ResponseTemplate {
        sendgrid_errors(500, None, "Internal server error")
    }

    fn rate_limited() -> ResponseTemplate {
        sendgrid_errors(429, None, "too many requests")
    }

    fn refused() -> Refused {
        Refused {
            answer: sendgrid_errors(
                400,
                Some("personalizations.0.to.0.email"),
                "Does not contain a valid address.",
            ),
            kind: FailureKind::InvalidRecipient,
            code: None,
            message: "Does not contain a valid address",
        }
    }

    fn bad_credentials() -> ResponseTemplate {
        sendgrid_errors(
            401,
            None,
            "The provided authorization grant is invalid, expired, or revoked",
        )
    }
}

/// Stripe PaymentIntents: the object on success; `{error: {type, code, message}}`.
pub struct Stripe;

fn stripe_error(status: u16, error: serde_json::Value) -> ResponseTemplate {
    answer(status, json!({ "error": error }))
}

impl Provider for Stripe {
    type Adapter = Arc<dyn PaymentGateway>;
    const METHOD: &'static str = "POST";
    const ID: &'static str = "pi_1";
    const KIND: Kind = Kind::Payment;

    fn build(base: &str) -> Resilient<Self::Adapter> {
        PaymentConfig::Stripe(providers::stripe(base))
            .build()
            .unwrap()
    }

    async fn call(client: &Resilient<Self::Adapter>) -> Result<String> {
        client.charge(&providers::charge(1)).await.map(|r| r.id)
    }

    async fn call_bare(adapter: &Self::Adapter) -> Result<String> {
        adapter.charge(&providers::charge(1)).await.map(|r| r.id)
    }

    fn accepted() -> ResponseTemplate {
        answer(
            200,
            json!({
                "id": Self::ID, "object": "payment_intent", "amount": 1999, "currency": "usd",
                "status": "requires_capture"
            }),
        )
    }

    fn server_error() -> ResponseTemplate {
        stripe_error(
            500,
            json!({"type": "api_error", "message": "Something went wrong"}),
        )
    }

    fn rate_limited() -> ResponseTemplate {
        stripe_error(
            429,
            json!({"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}),
        )
    }

    fn refused() -> Refused {
        Refused {
            answer: stripe_error(
                400,
                json!({
                    "type": "invalid_request_error", "code": "parameter_missing",
                    "message": "Missing required param: payment_method."
                }),
            ),
            kind: FailureKind::Rejected,
            code: Some("parameter_missing"),
            message: "Missing required param",
        }
    }

    fn bad_credentials() -> ResponseTemplate {
        stripe_error(
            401,
            json!({
                "type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****3cr3t"
            }),
        )
    }
}
