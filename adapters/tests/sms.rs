//! Twilio and Aliyun against local servers speaking their API shapes: success, 429/Retry-After,
//! 5xx, permanent 4xx (exactly one request), timeouts, request shape and signing, and that
//! credentials never show.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use adapters::resilience::Resilience;
use adapters::sms::{
    AliyunConfig, AliyunSms, ResilientSms, Sms, SmsConfig, SmsSender, SmsTemplate, TwilioConfig,
    TwilioSms,
};
use adapters::{Error, FailureKind};
use base64::Engine;
use events::Secret;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "tw-token-s3cr3t";
const ALI_SECRET: &str = "ali-secret-s3cr3t";
const TWILIO_PATH: &str = "/2010-04-01/Accounts/AC123/Messages.json";

fn sms() -> Sms {
    Sms {
        to: "+14155550100".into(),
        body: "Your order ord_42 has shipped".into(),
        template: None,
        reference: "evt-1".into(),
    }
}

fn twilio_config(base: &str) -> TwilioConfig {
    TwilioConfig {
        account_sid: "AC123".into(),
        auth_token: Secret::new(TOKEN),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        base_url: base.into(),
        resilience: testkit::resilience::quick(),
    }
}

fn twilio(server: &MockServer) -> ResilientSms {
    SmsConfig::Twilio(twilio_config(&server.uri()))
        .build()
        .unwrap()
}

fn accepted() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"}))
}

async fn count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn twilio_sends_a_form_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TWILIO_PATH))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let receipt = twilio(&server).send(&sms()).await.unwrap();
    assert_eq!(receipt.id, "SM1");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("AC123:{TOKEN}"));
    assert_eq!(
        testkit::http::header(&requests[0], "authorization"),
        format!("Basic {auth}")
    );
    let form = testkit::http::form(&requests[0].body);
    assert_eq!(form["To"], "+14155550100");
    assert_eq!(form["From"], "+15005550006");
    assert_eq!(form["Body"], "Your order ord_42 has shipped");
}

#[tokio::test]
async fn twilio_429_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    let sender = twilio(&server);
    assert_eq!(sender.send(&sms()).await.unwrap().id, "SM1");
    assert_eq!(count(&server).await, 2);
    let stats = sender.resilience().stats();
    assert_eq!(stats.retries, 1);
    assert_eq!(
        stats.retry_after_waits, 1,
        "the wait was the provider's Retry-After"
    );
}

#[tokio::test]
async fn twilio_retry_after_past_the_deadline_is_not_slept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let err = twilio(&server).send(&sms()).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 1, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn twilio_5xx_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(accepted())
        .mount(&server)
        .await;
    assert_eq!(twilio(&server).send(&sms()).await.unwrap().id, "SM1");
    assert_eq!(count(&server).await, 2);
}

#[tokio::test]
async fn twilio_invalid_number_is_permanent_and_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211,
            "message": "The 'To' number +1415 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400
        })))
        .mount(&server)
        .await;
    let sender = twilio(&server);
    let err = sender.send(&sms()).await.unwrap_err();
    let failure = err.failure().unwrap();
    assert_eq!(failure.kind, FailureKind::InvalidRecipient);
    assert_eq!(failure.code.as_deref(), Some("21211"));
    assert!(!err.is_retryable());
    assert_eq!(count(&server).await, 1);
    // A bad number says nothing about Twilio's health.
    let breaker = sender.resilience().breaker().metrics();
    assert_eq!((breaker.accepted, breaker.failed), (1, 0));
}

#[tokio::test]
async fn twilio_slow_answer_is_a_retryable_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(accepted().set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let direct = TwilioSms::new(&twilio_config(&server.uri()), Duration::from_millis(200)).unwrap();
    let err = direct.send(&sms()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::Timeout, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn twilio_token_never_shows() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
        .mount(&server)
        .await;
    let sender = twilio(&server);
    let err = sender.send(&sms()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::Unauthorized);
    let shown = format!(
        "{err} {err:?} {sender:?} {:?} {}",
        twilio_config("http://x"),
        serde_json::to_string(&twilio_config("http://x")).unwrap()
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("***"));
    // A connection error's message carries no URL and no credentials either.
    let dead =
        TwilioSms::new(&twilio_config("http://127.0.0.1:9"), Duration::from_secs(1)).unwrap();
    let err = dead.send(&sms()).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

fn aliyun_config(base: &str) -> AliyunConfig {
    AliyunConfig {
        access_key_id: "LTAI-test".into(),
        access_key_secret: Secret::new(ALI_SECRET),
        sign_name: "OrderBus".into(),
        template_code: Some("SMS_100".into()),
        body_param: "content".into(),
        region_id: "cn-hangzhou".into(),
        base_url: base.into(),
        resilience: testkit::resilience::quick(),
    }
}

fn aliyun(server: &MockServer) -> ResilientSms {
    let cfg = aliyun_config(&server.uri());
    let inner = Arc::new(AliyunSms::new(&cfg, Duration::from_millis(300)).unwrap());
    ResilientSms::new(
        inner,
        Arc::new(Resilience::new("aliyun", &cfg.resilience).unwrap()),
    )
}

fn aliyun_answer(code: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Code": code, "Message": if code == "OK" { "OK" } else { "refused" },
        "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "BizId": "900619746936498440^0"
    }))
}

/// Recomputes the signature from the parameters the server received.
fn verify_signature(query: &[(String, String)]) {
    const POP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, POP).to_string();
    let mut params: Vec<_> = query.iter().filter(|(k, _)| k != "Signature").collect();
    params.sort();
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{ALI_SECRET}&").as_bytes()).unwrap();
    mac.update(format!("GET&%2F&{}", enc(&canonical)).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let got = &query.iter().find(|(k, _)| k == "Signature").unwrap().1;
    assert_eq!(got, &expected);
}

#[tokio::test]
async fn aliyun_sends_a_signed_sendsms_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/"))
        .respond_with(aliyun_answer("OK"))
        .mount(&server)
        .await;
    let mut message = sms();
    message.template = Some(SmsTemplate {
        code: "SMS_71390007".into(),
        params: [("order".to_owned(), "ord_42".to_owned())].into(),
    });
    let receipt = aliyun(&server).send(&message).await.unwrap();
    assert_eq!(receipt.id, "900619746936498440^0");
    let requests = server.received_requests().await.unwrap();
    let query: Vec<(String, String)> = requests[0].url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("Action"), Some("SendSms"));
    assert_eq!(get("Version"), Some("2017-05-25"));
    assert_eq!(get("Format"), Some("JSON"));
    assert_eq!(get("SignatureMethod"), Some("HMAC-SHA1"));
    assert_eq!(get("SignatureVersion"), Some("1.0"));
    assert_eq!(get("AccessKeyId"), Some("LTAI-test"));
    assert_eq!(get("PhoneNumbers"), Some("+14155550100"));
    assert_eq!(get("SignName"), Some("OrderBus"));
    assert_eq!(get("TemplateCode"), Some("SMS_71390007"));
    assert_eq!(get("TemplateParam"), Some(r#"{"order":"ord_42"}"#));
    assert_eq!(get("OutId"), Some("evt-1"));
    assert!(get("Timestamp").unwrap().ends_with('Z'));
    verify_signature(&query);
    assert!(!requests[0].url.as_str().contains(ALI_SECRET));
}

#[tokio::test]
async fn aliyun_illegal_number_is_permanent_and_sent_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("isv.MOBILE_NUMBER_ILLEGAL"))
        .mount(&server)
        .await;
    let err = aliyun(&server).send(&sms()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::InvalidRecipient);
    assert!(!err.is_retryable());
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn aliyun_flow_control_and_5xx_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("isv.BUSINESS_LIMIT_CONTROL"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"Code": "isp.SYSTEM_ERROR"})))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("OK"))
        .with_priority(3)
        .mount(&server)
        .await;
    let sender = aliyun(&server);
    sender.send(&sms()).await.unwrap();
    assert_eq!(count(&server).await, 3);
    assert_eq!(sender.resilience().stats().retries, 2);
}

#[tokio::test]
async fn aliyun_429_with_retry_after_then_success() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"Code": "Throttling.User", "Message": "Request was denied due to user flow control."})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("OK"))
        .mount(&server)
        .await;
    let sender = aliyun(&server);
    sender.send(&sms()).await.unwrap();
    assert_eq!(count(&server).await, 2);
    assert_eq!(sender.resilience().stats().retry_after_waits, 1);
}

#[tokio::test]
async fn aliyun_timeout_is_retryable_and_secret_never_shows() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(aliyun_answer("OK").set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let direct = AliyunSms::new(&aliyun_config(&server.uri()), Duration::from_millis(200)).unwrap();
    let err = direct.send(&sms()).await.unwrap_err();
    assert_eq!(err.failure().unwrap().kind, FailureKind::Timeout);
    assert!(err.is_retryable());
    let shown = format!("{err} {err:?} {direct:?} {:?}", aliyun_config("http://x"));
    assert!(!shown.contains(ALI_SECRET), "{shown}");
    // The signed URL is not part of the error either.
    assert!(!shown.contains("Signature="), "{shown}");
}
